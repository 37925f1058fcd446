"""HL103: the tokenizer gained tokens but the adapter saves no embedding rows for them."""

from __future__ import annotations

from collections.abc import Iterator

from hublint.rules.model import Category, Finding, Fix, Need, Rule, Severity
from hublint.rules.peft.keys import trainable_token_indices, vocab_tensors
from hublint.rules.snapshot import RepoSnapshot
from hublint.rules.vocab.hl102_tokenizer_exceeds_embeddings import _tokenizer_file, tokenizer_skip_reason


class UntrainedNewTokens(Rule):
    code = "HL103"
    name = "untrained-new-tokens"
    category = Category.TOKENIZER
    severity = Severity.WARNING
    needs = frozenset({Need.CONFIG, Need.WEIGHTS, Need.TOKENIZER, Need.BASE})

    def skip_reason(self, snapshot: RepoSnapshot) -> str | None:
        return super().skip_reason(snapshot) or tokenizer_skip_reason(snapshot)

    def check(self, snapshot: RepoSnapshot) -> Iterator[Finding]:
        tokenizer = snapshot.tokenizer
        base = snapshot.require_base()
        if tokenizer is None or tokenizer.same_as_base or not tokenizer.added_tokens:
            return
        base_added = base.tokenizer_added_tokens
        first_new = max(base_added) + 1 if base_added else base.vocab_size
        if first_new is None:
            return
        new = {i: t for i, t in tokenizer.added_tokens.items() if i >= first_new and base_added.get(i) != t}
        if not new:
            return
        if any(v.role == "embed" for v in vocab_tensors(snapshot)):
            return  # the embedding (or a LoRA on it) is saved: the new rows were trained
        trained = {i for ids in trainable_token_indices(snapshot.config).values() for i in ids}
        untrained = sorted(set(new) - trained)
        if not untrained:
            return
        yield self.finding(
            f"The tokenizer adds {len(untrained)} token(s) the base model does not know (ids {untrained[0]}"
            f"..{untrained[-1]}) but the adapter saves no embedding rows for them: after a resize they are random.",
            file=_tokenizer_file(tokenizer.files),
            details={
                "new_tokens": len(untrained),
                "first_id": untrained[0],
                "examples": [new[i] for i in untrained[:5]],
            },
            fix=Fix(
                "Train the new rows and save them: trainable_token_indices (PEFT >= 0.15) with the new ids, or "
                "modules_to_save=['embed_tokens', 'lm_head']; or drop the unused tokens from the tokenizer."
            ),
        )
