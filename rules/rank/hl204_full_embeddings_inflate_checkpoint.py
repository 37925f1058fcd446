"""HL204: whole embedding / lm_head matrices make up most of the adapter's bytes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from hublint.rules.model import Category, Finding, Fix, Need, Rule, Severity
from hublint.rules.numbers import human_bytes
from hublint.rules.peft.keys import VocabTensor, trainable_token_indices, vocab_tensors
from hublint.rules.snapshot import RepoSnapshot


class FullEmbeddingsInflateCheckpoint(Rule):
    code = "HL204"
    name = "full-embeddings-inflate-checkpoint"
    category = Category.RANK
    severity = Severity.WARNING
    # The base's rows and tying, when available, tell how many rows are new; the rule runs without them.
    needs = frozenset({Need.CONFIG, Need.WEIGHTS})
    options: ClassVar[Mapping[str, Any]] = {"min_share": 0.5}

    def check(self, snapshot: RepoSnapshot) -> Iterator[Finding]:
        full = [v for v in vocab_tensors(snapshot) if v.key.kind == "full" and v.tensor.nbytes]
        total = sum(tensor.nbytes or 0 for _, tensor in snapshot.tensors())
        full_bytes = sum(v.tensor.nbytes or 0 for v in full)
        if not full or full_bytes / total < self.settings["min_share"]:
            return
        largest = max(full, key=lambda v: v.tensor.nbytes or 0)
        row_bytes = (largest.tensor.nbytes or 0) // largest.rows
        new_rows = _new_rows(snapshot, full)
        # An adapter that already trains tokens already holds its deltas: only the matrices would go.
        deltas = 0 if trainable_token_indices(snapshot.config) else _delta_matrices(snapshot, full)
        projected = total - full_bytes + (new_rows or 0) * row_bytes * deltas
        shapes = ", ".join(sorted({f"{v.key.module} {_dims(v.tensor.shape)}" for v in full}))
        yield self.finding(
            f"Whole embedding matrices ({shapes}) are {full_bytes / total:.0%} of the adapter's {human_bytes(total)};"
            f" {_projection(snapshot, new_rows, projected)}",
            file=largest.file,
            details={
                "adapter_bytes": total,
                "embedding_bytes": full_bytes,
                "embedding_share": round(full_bytes / total, 4),
                "full_matrices": {v.tensor.name: list(v.tensor.shape) for v in full},
                "new_rows": new_rows,
                "projected_bytes": projected,
                "min_share": self.settings["min_share"],
            },
            fix=Fix(_fix(snapshot, new_rows)),
        )


def _new_rows(snapshot: RepoSnapshot, full: list[VocabTensor]) -> int | None:
    """Rows added on top of the base vocabulary; None when the base's rows are unknown."""
    added = [rows for v in full if (rows := v.added_rows(snapshot.base)) is not None]
    return max(0, *added) if added else None


def _delta_matrices(snapshot: RepoSnapshot, full: list[VocabTensor]) -> int:
    """Trainable tokens save one `[n, hidden]` delta per adapted matrix; a tied lm_head shares the embedding's."""
    base = snapshot.base
    if base is not None and base.available and base.tie_word_embeddings:
        return 1
    return len({v.role for v in full})


def _projection(snapshot: RepoSnapshot, new_rows: int | None, projected: int) -> str:
    if trainable_token_indices(snapshot.config):
        return (
            f"the trained rows are already in the trainable-tokens delta, so saved without the matrices it would be"
            f" about {human_bytes(projected)}."
        )
    if new_rows:
        return (
            f"with trainable_token_indices (PEFT >= 0.15) for the {new_rows:,} new rows it would be about"
            f" {human_bytes(projected)}, and every download and load would shrink accordingly."
        )
    return (
        f"without them the adapter is {human_bytes(projected)}; trainable_token_indices (PEFT >= 0.15) saves only the"
        " rows of the tokens you train."
    )


def _fix(snapshot: RepoSnapshot, new_rows: int | None) -> str:
    if trainable_token_indices(snapshot.config):
        return (
            "The adapter already trains tokens with trainable_token_indices: save it with"
            " save_pretrained(..., save_embedding_layers=False) so only the trained rows are stored, and tell users"
            " to resize the base's embeddings to the adapter's row count before loading."
        )
    rows = f"the {new_rows:,} new token ids" if new_rows else "the ids of the tokens that need training"
    return (
        f"Train with trainable_token_indices={{'embed_tokens': ids, 'lm_head': ids}} listing {rows} instead of"
        " modules_to_save=['embed_tokens', 'lm_head'] (one list suffices for tied embeddings), and save with"
        " save_embedding_layers=False."
    )


def _dims(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"
