"""HL304 on headers edited tensor by tensor: what tests/rules/cases/HL304.yml cannot say briefly."""

from __future__ import annotations

import dataclasses

from hublint.rules.snapshot import RepoSnapshot, TensorHeader
from tests.builders import lint, lora_tensors, snapshot, weights_file

WELL_FORMED = weights_file(lora_tensors(layers=1))  # 4 bf16 tensors of 32,768 elements: 65,536 bytes each


def malformed(**changes: object) -> RepoSnapshot:
    return snapshot(weights=[dataclasses.replace(WELL_FORMED, **changes)])


def moved(name_suffix: str, offsets: tuple[int, int], dtype: str = "BF16") -> dict[str, TensorHeader]:
    tensors = dict(WELL_FORMED.tensors)
    name = next(n for n in tensors if n.endswith(name_suffix))
    tensors[name] = TensorHeader(name, dtype, tensors[name].shape, offsets)
    return tensors


def problems(snap: RepoSnapshot) -> list[str]:
    [finding] = lint(snap, "HL304")
    return [p["problem"] for p in finding.details["problems"]]


def test_offsets_must_tile_the_data_section():
    # Moving the last tensor 2 bytes on leaves a gap and overruns the file.
    assert problems(malformed(tensors=moved("v_proj.lora_B.weight", (3 * 65536 + 2, 4 * 65536 + 2)))) == [
        "gap",
        "truncated",
    ]
    overlapping = moved("v_proj.lora_A.weight", (65536 + 8, 2 * 65536 + 8))
    assert problems(malformed(tensors=overlapping)) == ["overlap", "gap"]


def test_dtype_and_byte_length_must_agree():
    assert problems(malformed(tensors=moved("q_proj.lora_A.weight", (0, 65536), dtype="Q4"))) == ["unknown dtype"]
    kinds = problems(malformed(tensors=moved("q_proj.lora_A.weight", (0, 65536), dtype="F32")))
    assert kinds == ["length mismatch"]
