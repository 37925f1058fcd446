"""HL501: the adapter's rank is above what vLLM serves by default, or above anything vLLM can serve."""

from __future__ import annotations

from collections.abc import Iterator

from hublint.rules.model import Category, Finding, Fix, Need, Rule, Severity
from hublint.rules.peft.config import LORA
from hublint.rules.peft.ranks import max_configured_rank
from hublint.rules.serving.servers import SGLANG, VLLM, VLLM_DEFAULT_MAX_LORA_RANK, VLLM_MAX_LORA_RANKS
from hublint.rules.snapshot import ADAPTER_CONFIG, RepoSnapshot


class RankExceedsServingLimits(Rule):
    code = "HL501"
    name = "rank-exceeds-serving-limits"
    category = Category.SERVING
    severity = Severity.WARNING
    needs = frozenset({Need.CONFIG})
    peft_types = frozenset({LORA})  # rank-r factors: other methods skip with the reason

    def check(self, snapshot: RepoSnapshot) -> Iterator[Finding]:
        # vLLM checks max(r, *rank_pattern.values()) before it reads any weight (PEFTHelper.validate_legal).
        rank = max_configured_rank(snapshot.config)
        if rank is None or rank <= VLLM_DEFAULT_MAX_LORA_RANK:
            return
        flag = next((value for value in VLLM_MAX_LORA_RANKS if value >= rank), None)
        details = {
            "max_rank": rank,
            "vllm_version": VLLM.version,
            "vllm_default_max_lora_rank": VLLM_DEFAULT_MAX_LORA_RANK,
            "vllm_max_lora_rank_values": list(VLLM_MAX_LORA_RANKS),
            "vllm_max_lora_rank": flag,
            "sglang_version": SGLANG.version,
        }
        if flag is None:
            yield self.finding(
                f"Rank {rank} is above {VLLM_MAX_LORA_RANKS[-1]}, the largest --max-lora-rank {VLLM} accepts: vLLM"
                f" refuses the adapter (`LoRA rank {rank} is greater than max_lora_rank`); {SGLANG} needs"
                f" --max-lora-rank {rank} set at startup.",
                file=ADAPTER_CONFIG,
                details=details,
                fix=Fix(
                    f"Retrain with r <= {VLLM_MAX_LORA_RANKS[-1]}, or merge the adapter into the base"
                    " (merge_and_unload) and serve the merged model."
                ),
            )
            return
        yield self.finding(
            f"Rank {rank} is above vLLM's default --max-lora-rank {VLLM_DEFAULT_MAX_LORA_RANK}: {VLLM} serves it"
            f" only when started with --max-lora-rank {flag}, and {SGLANG} needs --max-lora-rank {rank} or more"
            " when the adapter is loaded after startup.",
            file=ADAPTER_CONFIG,
            details=details,
            fix=Fix(f"Start vLLM with --enable-lora --max-lora-rank {flag}; state that flag in the model card."),
            severity=Severity.INFO,
        )
