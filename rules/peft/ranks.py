"""LoRA ranks as configured (`r`, `rank_pattern`) and as saved (the rank axis of each factor tensor).

research/peft.md section 1: LoRA saves `lora_A.weight` `[r, in, ...]` and `lora_B.weight` `[out, r, ...]`
(`lora_embedding_A` `[r, num_embeddings]`, `lora_embedding_B` `[dim, r]`). AdaLoRA saves `.lora_A`, `.lora_B`
and `.lora_E` `[r, 1]` without `.weight`, already cut to the rank its `rank_pattern` masks keep.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hublint.rules.numbers import finite_number
from hublint.rules.peft.config import ADALORA, LORA, peft_type
from hublint.rules.peft.keys import LORA_KINDS, AdapterKey, adapter_keys, pattern_match
from hublint.rules.snapshot import RepoSnapshot, TensorHeader

# Which axis of each factor holds the rank.
RANK_AXIS: Mapping[str, int] = {"lora_A": 0, "lora_B": 1, "lora_embedding_A": 0, "lora_embedding_B": 1, "lora_E": 0}
_ADALORA_SUFFIXES = (".lora_A", ".lora_B", ".lora_E")


@dataclass(frozen=True)
class LoraFactor:
    """One saved low-rank factor: a LoRA `lora_A`/`lora_B` (or embedding) tensor, or AdaLoRA's A, B, E."""

    file: str
    tensor: TensorHeader
    key: AdapterKey

    @property
    def rank(self) -> int | None:
        """The size of the rank axis; None when the tensor has too few dimensions to have one."""
        axis = RANK_AXIS[self.key.kind]
        shape = self.tensor.shape
        return shape[axis] if len(shape) >= 2 else None

    @property
    def degenerate(self) -> bool:
        """1-D or zero-sized: what an ungathered DeepSpeed ZeRO-3 / FSDP shard looks like."""
        return len(self.tensor.shape) < 2 or 0 in self.tensor.shape


def lora_factors(snapshot: RepoSnapshot) -> list[LoraFactor]:
    """The factor tensors of a LoRA or AdaLoRA adapter (empty for other PEFT types)."""
    kind = peft_type(snapshot.config)
    if kind not in (LORA, ADALORA):
        return []
    factors = []
    for weights, tensor, key in adapter_keys(snapshot):
        factor_key = _adalora_key(key) if kind == ADALORA else key
        if factor_key.kind in RANK_AXIS:
            factors.append(LoraFactor(weights.path, tensor, factor_key))
    return factors


def _adalora_key(key: AdapterKey) -> AdapterKey:
    """AdaLoRA's `…q_proj.lora_A` parses as an unknown key; give it its module and factor kind."""
    if key.kind in LORA_KINDS:
        return key
    for suffix in _ADALORA_SUFFIXES:
        if key.kind == "other" and key.module.endswith(suffix):
            return AdapterKey(key.name, key.module[: -len(suffix)], suffix[1:], key.prefixed)
    return key


def configured_rank(config: Mapping[str, Any], module: str) -> int | None:
    """The rank PEFT builds for `module` when it loads the adapter."""
    if peft_type(config) == ADALORA:
        return _adalora_rank(config, module)
    rank = pattern_match(_mapping(config.get("rank_pattern")), module)
    rank = rank if rank is not None else config.get("r")  # UNDECIDED is no count: the rank stays unknown
    return rank if _is_count(rank) else None


def _adalora_rank(config: Mapping[str, Any], module: str) -> int | None:
    # AdaLoRA's rank_pattern maps "<module>.lora_E" to the boolean mask of the ranks it kept.
    mask = _mapping(config.get("rank_pattern")).get(f"{module}.lora_E")
    if isinstance(mask, list):
        return sum(1 for kept in mask if kept)
    init_r = config.get("init_r")
    return init_r if _is_count(init_r) else None


def max_configured_rank(config: Mapping[str, Any]) -> int | None:
    """max(r, rank_pattern values) of a LoRA config, the number vLLM checks against --max-lora-rank."""
    ranks = [config.get("r"), *_mapping(config.get("rank_pattern")).values()]
    counts = [rank for rank in ranks if _is_count(rank)]
    return max(counts) if counts else None


def scaling(alpha: float, rank: int, rslora: bool) -> float:
    """LoraLayer.update_layer: lora_alpha / sqrt(r) with rsLoRA, lora_alpha / r without."""
    return alpha / rank**0.5 if rslora else alpha / rank


@dataclass(frozen=True)
class Scale:
    """A factor PEFT multiplies a LoRA update by, and where it comes from."""

    value: float
    alpha: float
    rank: int
    rslora: bool
    pattern: str | None  # the rank_pattern / alpha_pattern key that sets it; None for `r` and `lora_alpha`

    @property
    def formula(self) -> str:
        """How PEFT computes it, with the numbers: "lora_alpha/r = 100/1"."""
        return (
            f"lora_alpha/√r = {self.alpha:g}/√{self.rank}"
            if self.rslora
            else f"lora_alpha/r = {self.alpha:g}/{self.rank}"
        )


def configured_scales(config: Mapping[str, Any]) -> list[Scale]:
    """Every scaling a LoRA config gives its layers: `r`/`lora_alpha`, and each rank_pattern / alpha_pattern key
    with its counterpart (the pattern's own value, else the default)."""
    rslora = config.get("use_rslora") is True
    rank, alpha = config.get("r"), config.get("lora_alpha")
    ranks, alphas = _mapping(config.get("rank_pattern")), _mapping(config.get("alpha_pattern"))
    combinations = [
        (None, rank, alpha),
        *((key, value, alphas.get(key, alpha)) for key, value in ranks.items()),
        *((key, ranks.get(key, rank), value) for key, value in alphas.items() if key not in ranks),
    ]
    return [
        Scale(scaling(a, r, rslora), a, r, rslora, key)
        for key, r, a in combinations
        if _is_count(r) and r > 0 and finite_number(a) is not None
    ]


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
