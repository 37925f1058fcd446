"""HL105: the embedding was resized but the repo ships no tokenizer to go with it."""

from __future__ import annotations

from collections.abc import Iterator

from hublint.rules.model import Category, Finding, Fix, Need, Rule, Severity
from hublint.rules.peftkeys import vocab_tensors
from hublint.rules.snapshot import RepoSnapshot


class ResizedVocabWithoutTokenizer(Rule):
    code = "HL105"
    name = "resized-vocab-without-tokenizer"
    category = Category.TOKENIZER
    severity = Severity.WARNING
    needs = frozenset({Need.WEIGHTS, Need.TOKENIZER, Need.BASE})

    def check(self, snapshot: RepoSnapshot) -> Iterator[Finding]:
        if snapshot.tokenizer is not None and snapshot.tokenizer.files:
            return
        base = snapshot.base
        assert base is not None
        base_rows = {"embed": base.embedding_rows, "lm_head": base.lm_head_rows}
        resized = [v for v in vocab_tensors(snapshot) if base_rows[v.role] and v.rows != base_rows[v.role]]
        if not resized:
            return
        yield self.finding(
            f"The adapter's embeddings have {resized[0].rows} rows (base: {base_rows[resized[0].role]}) but the repo"
            " ships no tokenizer: users cannot produce the ids of the tokens it was trained with.",
            file=resized[0].file,
            details={"adapter_rows": resized[0].rows, "base_rows": base_rows[resized[0].role]},
            fix=Fix("Push the tokenizer used in training: tokenizer.save_pretrained(...) then push_to_hub."),
        )
