"""HL301: LoRA factor dimensions don't fit the base layer they belong to: the adapter was trained on another base."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from hublint.rules.model import BotAction, Category, Finding, Fix, Need, Rule, Severity
from hublint.rules.peft.config import ADALORA, LORA
from hublint.rules.peft.keys import embedding_role
from hublint.rules.peft.layers import is_quantized
from hublint.rules.peft.ranks import LoraFactor, lora_factors
from hublint.rules.snapshot import RepoSnapshot

_EXAMPLES = 5


class AdapterBaseShapeMismatch(Rule):
    code = "HL301"
    name = "adapter-base-shape-mismatch"
    category = Category.SHAPE
    severity = Severity.ERROR
    bot_action = BotAction.DISCUSS
    needs = frozenset({Need.CONFIG, Need.WEIGHTS, Need.BASE})
    peft_types = frozenset({LORA, ADALORA})  # rank-r factors: other methods skip with the reason
    reads_base_shapes = True

    def skip_reason(self, snapshot: RepoSnapshot) -> str | None:
        reason = super().skip_reason(snapshot)
        base = snapshot.require_base() if reason is None else None
        if base is not None and is_quantized(base):
            return f"{base.model_id} is quantized: its headers hold packed weights, not the layers' dimensions"
        return reason

    def check(self, snapshot: RepoSnapshot) -> Iterator[Finding]:
        base = snapshot.require_base()
        layers = base.layers
        by_module: dict[str, list[LoraFactor]] = {}
        for factor in lora_factors(snapshot):
            if not factor.degenerate:  # degenerate tensors are HL303's
                by_module.setdefault(factor.key.module, []).append(factor)
        mismatches = [
            mismatch
            for module, factors in by_module.items()
            if (layer := layers.weight_shape(module)) is not None  # unknown modules are HL302's
            for mismatch in _module_mismatches(factors, layer, embedding_role(factors[0].key, base))
        ]
        if not mismatches:
            return
        modules = sorted({m["module"] for m in mismatches})
        first = mismatches[0]
        yield self.finding(
            f"LoRA tensors of {len(modules)} layer(s) don't fit the base model {base.model_id} (e.g."
            f" {first['tensor']} is {first['adapter_shape']} where the base layer {first['base_shape']} needs"
            f" {first['expected']}): the adapter was trained on another base, and loading fails with `size mismatch`.",
            file=first["file"],
            details={"layers": len(modules), "tensors": len(mismatches), "examples": mismatches[:_EXAMPLES]},
            fix=Fix(
                "Load the adapter onto the base it was trained on and set base_model_name_or_path (and README"
                " base_model) to that model's Hub id."
            ),
        )


def _module_mismatches(factors: list[LoraFactor], layer: tuple[int, ...], role: str | None) -> list[dict[str, Any]]:
    """The factors that fit neither orientation of a 2-D layer: nn.Linear stores (out, in), GPT-2's Conv1D
    (in, out). The `fan_in_fan_out` flag can't decide it, since PEFT overwrites it per layer type."""
    orientations = [layer] if len(layer) != 2 or role else [layer, (layer[1], layer[0])]
    candidates = [
        [_mismatch(f, orientation, e) for f in factors if (e := _expected(f, orientation, role)) is not None]
        for orientation in orientations
    ]
    return [] if not all(candidates) else candidates[0]


def _expected(factor: LoraFactor, layer: tuple[int, ...], role: str | None) -> list[Any] | None:
    """The shape the factor must have on this layer (`"r"` for the rank axis), or None if it fits.

    Linear (out, in): A [r, in], B [out, r]. Convolution (out, in, k...): A [r, in, k...], B [out, r, 1...].
    Embedding (rows, dim): lora_embedding_A [r, rows], lora_embedding_B [dim, r]. The vocabulary axes of the
    embedding and lm_head are not compared: a resized vocabulary is HL101's finding, not this one.
    """
    shape = factor.tensor.shape
    kind = factor.key.kind
    if kind == "lora_A":
        return None if shape[1:] == layer[1:] else ["r", *layer[1:]]
    if kind == "lora_B":
        return None if role == "lm_head" or shape[0] == layer[0] else [layer[0], "r", *[1] * (len(layer) - 2)]
    if kind == "lora_embedding_B":
        return None if shape[0] == layer[1] else [layer[1], "r"]
    return None  # lora_embedding_A's only other axis is the vocabulary; AdaLoRA's lora_E is [r, 1]


def _mismatch(factor: LoraFactor, layer: tuple[int, ...], expected: list[Any]) -> dict[str, Any]:
    return {
        "module": factor.key.module,
        "tensor": factor.tensor.name,
        "file": factor.file,
        "adapter_shape": list(factor.tensor.shape),
        "base_shape": list(layer),
        "expected": expected,
    }
