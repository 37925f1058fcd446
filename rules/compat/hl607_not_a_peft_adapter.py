"""HL607: the adapter_config.json was written by another tool (MLX-LM, JAX exports), so it is not a PEFT adapter."""

from __future__ import annotations

from collections.abc import Iterator

from hublint.rules.model import Category, Finding, Fix, Need, Rule, Severity
from hublint.rules.peft.methods import foreign_format
from hublint.rules.snapshot import ADAPTER_CONFIG, RepoSnapshot


class NotAPeftAdapter(Rule):
    code = "HL607"
    name = "not-a-peft-adapter"
    category = Category.COMPAT
    severity = Severity.INFO
    needs = frozenset({Need.CONFIG})
    judges_foreign_configs = True  # every other rule skips these configs; this one says why

    def check(self, snapshot: RepoSnapshot) -> Iterator[Finding]:
        tool = foreign_format(snapshot.config)
        if tool is None:
            return
        yield self.finding(
            f"adapter_config.json was written by {tool}, not PEFT (no peft_type; keys"
            f" {', '.join(sorted(snapshot.config)[:4])}): PeftModel.from_pretrained cannot load it, so hublint does"
            " not lint it as a PEFT adapter.",
            file=ADAPTER_CONFIG,
            details={"tool": tool, "keys": sorted(snapshot.config)},
            fix=Fix(
                "Load it with the tool that wrote it (MLX-LM: `mlx_lm.generate --adapter-path`), or export a PEFT"
                " adapter (adapter_config.json with peft_type, adapter_model.safetensors) to use it with PEFT."
            ),
        )
