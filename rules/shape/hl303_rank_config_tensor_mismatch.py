"""HL303: saved LoRA tensors have a rank other than the config's, or are 1-D / empty (ungathered ZeRO-3 / FSDP)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from hublint.rules.model import BotAction, Category, Finding, Fix, Need, Rule, Severity
from hublint.rules.peft.config import ADALORA, LORA
from hublint.rules.peft.ranks import LoraFactor, configured_rank, lora_factors
from hublint.rules.snapshot import RepoSnapshot

_EXAMPLES = 5


class RankConfigTensorMismatch(Rule):
    code = "HL303"
    name = "rank-config-tensor-mismatch"
    category = Category.SHAPE
    severity = Severity.ERROR
    bot_action = BotAction.DISCUSS
    needs = frozenset({Need.CONFIG, Need.WEIGHTS})
    peft_types = frozenset({LORA, ADALORA})  # rank-r factors: other methods skip with the reason

    def check(self, snapshot: RepoSnapshot) -> Iterator[Finding]:
        config = snapshot.config
        factors = lora_factors(snapshot)
        degenerate = [f for f in factors if f.degenerate and configured_rank(config, f.key.module) != 0]
        if degenerate:
            yield self._degenerate(degenerate)
        mismatched = [
            (factor, rank)
            for factor in factors
            if not factor.degenerate
            and (rank := configured_rank(config, factor.key.module)) is not None
            and not _fits(factor, rank, config)
        ]
        if mismatched:
            yield self._mismatched(mismatched)

    def _degenerate(self, degenerate: list[LoraFactor]) -> Finding:
        first = degenerate[0]
        return self.finding(
            f"{len(degenerate)} LoRA tensor(s) are 1-D or empty (e.g. {first.tensor.name} has shape"
            f" {list(first.tensor.shape)}): DeepSpeed ZeRO-3 / FSDP shards were not gathered before save_pretrained,"
            " so the checkpoint holds no usable weights and loading fails with `size mismatch`.",
            file=first.file,
            details={
                "tensors": len(degenerate),
                "examples": {f.tensor.name: list(f.tensor.shape) for f in degenerate[:_EXAMPLES]},
            },
            fix=Fix(
                "Save again with the full parameters gathered: inside deepspeed.zero.GatheredParameters(...,"
                " modifier_rank=None) for ZeRO-3, or FullyShardedDataParallel.summon_full_params(model) for FSDP"
                " (Trainer and Accelerate do this when saving through them)."
            ),
        )

    def _mismatched(self, mismatched: list[tuple[LoraFactor, int]]) -> Finding:
        factor, rank = mismatched[0]
        return self.finding(
            f"{len(mismatched)} LoRA tensor(s) have a rank other than the config's (e.g. {factor.tensor.name} has"
            f" rank {factor.rank}, the config {rank}): PEFT builds the layers from the config, so"
            " PeftModel.from_pretrained fails with `size mismatch`.",
            file=factor.file,
            details={
                "tensors": len(mismatched),
                "examples": [
                    {"tensor": f.tensor.name, "tensor_rank": f.rank, "configured_rank": r}
                    for f, r in mismatched[:_EXAMPLES]
                ],
            },
            fix=Fix(
                "Make r / rank_pattern in adapter_config.json match the saved tensors (the rank is dimension 0 of"
                " lora_A, dimension 1 of lora_B), or upload the config that was saved together with these weights."
            ),
        )


def _fits(factor: LoraFactor, rank: int, config: Mapping[str, Any]) -> bool:
    if factor.rank == rank:
        return True
    # target_parameters (PEFT >= 0.17) stacks one rank-r factor per expert along the rank axis.
    stacked = factor.rank is not None and rank > 0 and factor.rank % rank == 0
    return stacked and _targets_parameters(factor, config)


def _targets_parameters(factor: LoraFactor, config: Mapping[str, Any]) -> bool:
    parameters = config.get("target_parameters")
    if not isinstance(parameters, list):
        return False
    module = factor.key.module.removesuffix(".base_layer")
    return any(isinstance(p, str) and module.endswith(p.rsplit(".", 1)[0]) for p in parameters)
