"""HL201: the LoRA rank reaches min(in, out) of the layer it adapts, so the update is not low-rank at all."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from hublint.rules.model import Category, Finding, Fix, Need, Rule, Severity
from hublint.rules.peft.config import ADALORA, LORA, peft_type
from hublint.rules.peft.layers import is_quantized
from hublint.rules.peft.ranks import LoraFactor, configured_rank, lora_factors
from hublint.rules.snapshot import ADAPTER_CONFIG, RepoSnapshot


@dataclass(frozen=True)
class LayerRank:
    module: str
    rank: int
    layer_shape: tuple[int, ...]
    file: str

    @property
    def min_dim(self) -> int:
        # (out, in), (in, out) for Conv1D, (rows, dim) for embeddings, (out, in, kh, kw) for convolutions.
        return min(self.layer_shape[0], math.prod(self.layer_shape[1:]))


class RankExceedsLayerDim(Rule):
    code = "HL201"
    name = "rank-exceeds-layer-dim"
    category = Category.RANK
    severity = Severity.WARNING
    needs = frozenset({Need.CONFIG, Need.WEIGHTS, Need.BASE})
    peft_types = frozenset({LORA, ADALORA})  # rank-r factors: other methods skip with the reason
    reads_tensors = False  # without a readable header, the configured ranks are judged
    reads_base_shapes = True

    def check(self, snapshot: RepoSnapshot) -> Iterator[Finding]:
        layers = _layer_ranks(snapshot)
        full_rank = [layer for layer in layers if layer.rank >= layer.min_dim]
        if not full_rank:
            return
        example = full_rank[0]
        yield self.finding(
            f"Rank {example.rank} is at least min(in, out) = {example.min_dim} of {len(full_rank)} of the"
            f" {len(layers)} adapted layers (e.g. {example.module}, {_dims(example.layer_shape)}): the update is"
            " not low-rank, and its two factors hold more parameters than the layer itself.",
            file=example.file,
            details={
                "layers": len(full_rank),
                "adapted_layers": len(layers),
                "example_module": example.module,
                "rank": example.rank,
                "layer_shape": list(example.layer_shape),
                "min_dim": example.min_dim,
            },
            fix=Fix(
                f"Train with a rank well below {example.min_dim} (LoRA saves parameters only when r is much smaller"
                " than min(in, out)), or train those layers fully through modules_to_save."
            ),
        )


def _layer_ranks(snapshot: RepoSnapshot) -> list[LayerRank]:
    """Per adapted layer: the saved rank (the configured one when the weights have no readable header)."""
    base = snapshot.require_base()
    layers = base.layers
    trust_base = layers.known and not is_quantized(base)
    by_module: dict[str, dict[str, LoraFactor]] = {}
    for factor in lora_factors(snapshot):
        if not factor.degenerate:
            by_module.setdefault(factor.key.module, {})[factor.key.kind] = factor
    if by_module:
        return [
            layer
            for module, factors in sorted(by_module.items())
            if (layer := _saved_rank(module, factors, layers.weight_shape(module) if trust_base else None))
        ]
    targets = snapshot.config.get("target_modules")
    if not trust_base or peft_type(snapshot.config) != LORA or not _names(targets):
        return []
    return [
        LayerRank(module, rank, shape, ADAPTER_CONFIG)
        for module, shape in layers.modules_matching(targets)
        if len(shape) >= 2 and (rank := configured_rank(snapshot.config, module))
    ]


def _names(value: object) -> bool:
    """A list of module names (`[null]` and the like make PEFT fail: HL305 says so, this rule has nothing to add)."""
    return isinstance(value, list) and all(isinstance(name, str) for name in value)


def _saved_rank(module: str, factors: dict[str, LoraFactor], base_shape: tuple[int, ...] | None) -> LayerRank | None:
    down = factors.get("lora_A") or factors.get("lora_embedding_A")
    up = factors.get("lora_B") or factors.get("lora_embedding_B")
    if down is None or down.rank is None:
        return None
    shape = base_shape
    if (shape is None or len(shape) < 2) and up is not None:
        # No usable base weight (quantized or unknown): the factors' outer dims are the layer's (out, in...).
        shape = (up.tensor.shape[0], *down.tensor.shape[1:])
    if shape is None or len(shape) < 2:
        return None
    return LayerRank(module, down.rank, shape, down.file)


def _dims(shape: tuple[int, ...]) -> str:
    return " × ".join(str(d) for d in shape)
