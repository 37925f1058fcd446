"""One failing and one passing snapshot per rule code; tests/test_meta.py runs every pair.

Each entry is (fails, passes): zero-argument callables returning a RepoSnapshot. The per-family test files
go deeper; this table is the floor every rule must clear.
"""

from __future__ import annotations

from collections.abc import Callable

from hublint.rules.snapshot import RepoSnapshot
from tests.builders import PREFIX, added_tokens, lora_config, lora_tensors, snapshot, tokenizer

Case = tuple[Callable[[], RepoSnapshot], Callable[[], RepoSnapshot]]
EMBED = PREFIX + "model.embed_tokens.weight"
HEAD = PREFIX + "lm_head.weight"


def _resized(rows: int = 33004, head_rows: int | None = None, tok: bool = True) -> RepoSnapshot:
    tensors = {**lora_tensors(), EMBED: (rows, 4096), HEAD: (head_rows or rows, 4096)}
    return snapshot(
        lora_config(modules_to_save=["lm_head", "embed_tokens"]),
        tensors,
        tok=tokenizer(added_tokens(32000, rows - 32000)) if tok else None,
    )


def _token_delta(indices: list[int], rows: int) -> RepoSnapshot:
    tensors = {**lora_tensors(), PREFIX + "model.embed_tokens.token_adapter.trainable_tokens_delta": (rows, 4096)}
    return snapshot(lora_config(trainable_token_indices=indices), tensors)


CASES: dict[str, Case] = {
    "HL101": (_resized, lambda: _resized(32000)),
    "HL102": (lambda: snapshot(tok=tokenizer(added_tokens(32000, 4))), _resized),
    "HL103": (lambda: snapshot(tok=tokenizer(added_tokens(32000, 4))), _resized),
    "HL104": (lambda: _resized(33004, head_rows=33024), _resized),
    "HL105": (lambda: _resized(tok=False), _resized),
    "HL106": (lambda: _token_delta([5, 40000], 2), lambda: _token_delta([5, 6], 2)),
}


def _add_family_cases() -> None:
    """Each family's test module keeps its own (fails, passes) pairs next to its deeper tests."""
    from tests.rules import (
        test_hl2xx_rank,
        test_hl3xx_shape,
        test_hl4xx_provenance,
        test_hl5xx_serving,
        test_hl6xx_compat,
    )

    for family in (test_hl2xx_rank, test_hl3xx_shape, test_hl4xx_provenance, test_hl5xx_serving, test_hl6xx_compat):
        CASES.update(family.CASES)


_add_family_cases()
