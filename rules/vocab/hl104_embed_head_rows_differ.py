"""HL104: the saved input embedding and lm_head disagree on the number of rows."""

from __future__ import annotations

from collections.abc import Iterator

from hublint.rules.model import BotAction, Category, Finding, Need, Rule, Severity
from hublint.rules.peft.keys import vocab_tensors
from hublint.rules.snapshot import RepoSnapshot


class EmbedHeadRowsDiffer(Rule):
    code = "HL104"
    name = "embed-head-rows-differ"
    category = Category.VOCAB
    severity = Severity.ERROR
    bot_action = BotAction.DISCUSS
    needs = frozenset({Need.WEIGHTS})

    def check(self, snapshot: RepoSnapshot) -> Iterator[Finding]:
        full = [v for v in vocab_tensors(snapshot) if v.key.kind == "full"]
        embed = {v.rows for v in full if v.role == "embed"}
        head = {v.rows for v in full if v.role == "lm_head"}
        if not embed or not head or embed == head:
            return
        file = next(v.file for v in full if v.role == "lm_head")
        yield self.finding(
            f"The saved embed_tokens has {_rows(embed)} rows but the saved lm_head has {_rows(head)}: "
            "resize_token_embeddings sets both to one size, so one of them can never load.",
            file=file,
            details={"embed_rows": sorted(embed), "lm_head_rows": sorted(head)},
        )


def _rows(values: set[int]) -> str:
    return " / ".join(str(v) for v in sorted(values))
