"""HL102: the repo's tokenizer produces ids that the model's embedding has no row for."""

from __future__ import annotations

from collections.abc import Iterator

from hublint.rules.model import BotAction, Category, Finding, Fix, Need, Rule, Severity
from hublint.rules.peft.keys import model_embedding_rows
from hublint.rules.snapshot import RepoSnapshot


class TokenizerExceedsEmbeddings(Rule):
    code = "HL102"
    name = "tokenizer-exceeds-embeddings"
    category = Category.TOKENIZER
    severity = Severity.ERROR
    bot_action = BotAction.DISCUSS
    needs = frozenset({Need.WEIGHTS, Need.TOKENIZER, Need.BASE})

    def skip_reason(self, snapshot: RepoSnapshot) -> str | None:
        return super().skip_reason(snapshot) or tokenizer_skip_reason(snapshot)

    def check(self, snapshot: RepoSnapshot) -> Iterator[Finding]:
        tokenizer = snapshot.tokenizer
        if tokenizer is None or tokenizer.same_as_base or tokenizer.max_id is None:
            return
        rows = model_embedding_rows(snapshot)
        if rows is None or tokenizer.max_id < rows:
            return
        beyond = sorted(i for i in tokenizer.added_tokens if i >= rows)
        yield self.finding(
            f"The repo's tokenizer has ids up to {tokenizer.max_id} but the model will have {rows} embedding rows:"
            f" {tokenizer.max_id - rows + 1} token id(s) index past the matrix (IndexError / CUDA device-side assert).",
            file=_tokenizer_file(tokenizer.files),
            details={
                "tokenizer_size": tokenizer.size,
                "embedding_rows": rows,
                "ids_beyond": len(beyond) or tokenizer.max_id - rows + 1,
                "first_token_beyond": tokenizer.added_tokens.get(beyond[0]) if beyond else None,
            },
            fix=Fix(
                "Train and save embeddings for the new tokens (trainable_token_indices, or modules_to_save with "
                "embed_tokens and lm_head after resize_token_embeddings), or push the tokenizer the adapter was "
                "trained with."
            ),
        )


def tokenizer_skip_reason(snapshot: RepoSnapshot) -> str | None:
    """Why the repo's tokenizer cannot be judged: no token id could be read from its files. A repo without a
    tokenizer passes: users load the base's, which fits the base (HL105 asks for one when the rows changed)."""
    tokenizer = snapshot.tokenizer
    if tokenizer is not None and tokenizer.files and tokenizer.max_id is None and not tokenizer.same_as_base:
        shown = f" ({tokenizer.errors[0]})" if tokenizer.errors else ""
        return f"no token id could be read from the repo's tokenizer files{shown}"
    return None


def _tokenizer_file(files: tuple[str, ...]) -> str | None:
    for name in ("tokenizer_config.json", "tokenizer.json", "added_tokens.json"):
        if name in files:
            return name
    return files[0] if files else None
