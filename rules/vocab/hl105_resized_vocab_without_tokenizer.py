"""HL105: the embedding was resized but the repo ships no tokenizer to go with it."""

from __future__ import annotations

from collections.abc import Iterator

from hublint.rules.model import Category, Finding, Fix, Need, Rule, Severity
from hublint.rules.peft.keys import resized_vocab_tensors
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
        base = snapshot.require_base()
        resized = resized_vocab_tensors(snapshot)
        if not resized:
            return
        first, base_rows = resized[0], base.vocab_rows(resized[0].role)
        yield self.finding(
            f"The adapter's embeddings have {first.rows} rows (base: {base_rows}) but the repo"
            " ships no tokenizer: users cannot produce the ids of the tokens it was trained with.",
            file=first.file,
            details={"adapter_rows": first.rows, "base_rows": base_rows},
            fix=Fix("Push the tokenizer used in training: tokenizer.save_pretrained(...) then push_to_hub."),
        )
