"""HL203: a large LoRA rank trained with the classic alpha/r scaling, which shrinks the update as r grows."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from hublint.rules.model import Category, Finding, Fix, Need, Rule, Severity
from hublint.rules.numbers import finite_number
from hublint.rules.peft.config import LORA
from hublint.rules.peft.ranks import max_configured_rank, scaling
from hublint.rules.snapshot import ADAPTER_CONFIG, RepoSnapshot


class LargeRankWithoutRslora(Rule):
    code = "HL203"
    name = "large-rank-without-rslora"
    category = Category.RANK
    severity = Severity.INFO
    needs = frozenset({Need.CONFIG})
    options: ClassVar[Mapping[str, Any]] = {"min_rank": 64}
    peft_types = frozenset({LORA})  # rank-r factors: other methods skip with the reason

    def check(self, snapshot: RepoSnapshot) -> Iterator[Finding]:
        config = snapshot.config
        rank = max_configured_rank(config)
        alpha = finite_number(config.get("lora_alpha"))  # NaN, infinities and 10**400 are no scaling to compare
        if config.get("use_rslora") or not rank or rank < self.settings["min_rank"]:
            return
        if alpha is None:
            return
        classic, stabilized = scaling(alpha, rank, rslora=False), scaling(alpha, rank, rslora=True)
        yield self.finding(
            f"Rank {rank} with use_rslora false scales the update by lora_alpha/r = {config['lora_alpha']}/{rank} ="
            f" {classic:.4g}; rsLoRA's lora_alpha/√r would give {stabilized:.4g} ({rank**0.5:.3g}× larger)."
            " With alpha/r, large ranks learn slowly and barely beat small ones (arXiv:2312.03732).",
            file=ADAPTER_CONFIG,
            details={
                "rank": rank,
                "lora_alpha": config["lora_alpha"],
                "scaling": round(classic, 6),
                "rslora_scaling": round(stabilized, 6),
                "min_rank": self.settings["min_rank"],
            },
            fix=Fix(
                "For the next training run set use_rslora=True (PEFT >= 0.8) and re-tune lora_alpha, or use a"
                " smaller rank. Do not flip use_rslora on this trained adapter: it would rescale its update."
            ),
        )
