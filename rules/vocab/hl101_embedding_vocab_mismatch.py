"""HL101: saved embedding / lm_head rows differ from the base model's, so a plain load fails."""

from __future__ import annotations

from collections.abc import Iterator

from hublint.rules.model import BotAction, Category, Finding, Fix, Need, Rule, Severity
from hublint.rules.peft.keys import VocabTensor, resized_vocab_tensors, trainable_token_indices
from hublint.rules.recipes import load_recipe
from hublint.rules.snapshot import RepoSnapshot


class EmbeddingVocabMismatch(Rule):
    code = "HL101"
    name = "embedding-vocab-mismatch"
    category = Category.VOCAB
    severity = Severity.ERROR
    bot_action = BotAction.DISCUSS
    needs = frozenset({Need.CONFIG, Need.WEIGHTS, Need.BASE, Need.TOKENIZER})
    fixable = True

    def check(self, snapshot: RepoSnapshot) -> Iterator[Finding]:
        base = snapshot.require_base()
        mismatched = resized_vocab_tensors(snapshot)
        if not mismatched or snapshot.base_model_id is None:
            return
        adapter_rows = _target_rows(mismatched)
        base_row_count = base.vocab_rows(mismatched[0].role)
        tokenizer = snapshot.tokenizer if snapshot.tokenizer and snapshot.tokenizer.files else None
        tokenizer_size = tokenizer.size if tokenizer else None
        load_error = _load_error(snapshot, base_row_count)
        details = {
            "adapter_rows": adapter_rows,
            "base_rows": base_row_count,
            "tokenizer_size": tokenizer_size,
            "tensors": {v.tensor.name: list(v.tensor.shape) for v in mismatched},
            "load_error": load_error,  # what a plain load raises, for renderers that show it
        }
        summary = f"Resize the base model's embeddings to exactly {adapter_rows} rows before loading the adapter"
        if tokenizer_size is not None and tokenizer_size != adapter_rows:
            summary += (
                f" (not len(tokenizer) = {tokenizer_size}: training padded the matrix, so resizing to the"
                " tokenizer's length still fails)"
            )
        recipe = load_recipe(
            snapshot,
            snapshot.base_model_id,
            resize_embeddings_to=adapter_rows,
            tokenizer_size=tokenizer_size,
            tokenizer_from_adapter=tokenizer is not None,
        )
        yield self.finding(
            f"The adapter's embedding matrices have {adapter_rows} rows, the base model's {base_row_count}: "
            f"PeftModel.from_pretrained on a freshly loaded base fails with `{load_error}`.",
            file=mismatched[0].file,
            details=details,
            fix=Fix(summary + ".", recipe),
        )


def _load_error(snapshot: RepoSnapshot, base_rows: int | None) -> str:
    """What users see: trainable tokens past the base's rows fail while PEFT sets up, before any weight loads."""
    indices = [i for ids in trainable_token_indices(snapshot.config).values() for i in ids if isinstance(i, int)]
    beyond = sorted(i for i in indices if base_rows is not None and i >= base_rows)
    if beyond:
        return f"IndexError: index {beyond[0]} is out of bounds"
    return "size mismatch"


def _target_rows(mismatched: list[VocabTensor]) -> int:
    """The row count to resize to: the input embedding's, which resize_token_embeddings sets for both."""
    embed = [v.rows for v in mismatched if v.role == "embed"]
    return max(embed) if embed else max(v.rows for v in mismatched)
