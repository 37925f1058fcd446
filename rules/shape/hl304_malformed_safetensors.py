"""HL304: a safetensors file that safetensors itself refuses to open, judged from its header and size alone."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from hublint.rules.model import BotAction, Category, Finding, Fix, Need, Rule, Severity
from hublint.rules.snapshot import DTYPE_BITS, RepoSnapshot, TensorHeader, WeightsFile

# safetensors 0.8 also knows these dtypes (its "unknown variant" error lists them).
KNOWN_DTYPE_BITS: Mapping[str, int] = {**DTYPE_BITS, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8, "C64": 64}
_EXAMPLES = 5

Problem = dict[str, Any]


class MalformedSafetensors(Rule):
    code = "HL304"
    name = "malformed-safetensors"
    category = Category.INTEGRITY
    severity = Severity.ERROR
    bot_action = BotAction.DISCUSS
    needs = frozenset({Need.WEIGHTS})
    reads_tensors = False  # it judges the headers themselves, parsable or not

    def skip_reason(self, snapshot: RepoSnapshot) -> str | None:
        return None if snapshot.weights else "the adapter has no safetensors file"

    def check(self, snapshot: RepoSnapshot) -> Iterator[Finding]:
        for weights in snapshot.weights:
            if weights.format != "safetensors":
                continue  # torch.save files: HL306
            problems = _problems(weights)
            if problems:
                yield self._finding(weights, problems)

    def _finding(self, weights: WeightsFile, problems: list[Problem]) -> Finding:
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        return self.finding(
            f"{weights.path} is malformed: {problems[0]['message']}{more}. safetensors refuses to open it, so the"
            " adapter cannot load.",
            file=weights.path,
            details={"size": weights.size, "header_length": weights.header_length, "problems": problems},
            fix=Fix(
                "Save the adapter again with save_pretrained (safetensors is PEFT's default) and re-upload it; a"
                " file shorter than its header says is an interrupted upload."
            ),
        )


def _problems(weights: WeightsFile) -> list[Problem]:
    if weights.error:
        return [_problem("unreadable header", weights.error)]
    problems = _header_beyond_file(weights) + _malformed_entries(weights) + _tensor_problems(weights)
    return problems + _offset_problems(weights) + _size_problems(weights)


def _problem(kind: str, message: str, **numbers: Any) -> Problem:
    return {"problem": kind, "message": message, **numbers}


def _header_beyond_file(weights: WeightsFile) -> list[Problem]:
    start, size = weights.data_start, weights.size
    if start is None or size is None or start <= size:
        return []
    return [
        _problem(
            "header beyond file",
            f"the header claims {weights.header_length:,} bytes but the file has only {size:,}",
            header_end=start,
            size=size,
        )
    ]


def _malformed_entries(weights: WeightsFile) -> list[Problem]:
    if not weights.malformed:
        return []
    names = list(weights.malformed[:_EXAMPLES])
    return [_problem("malformed entries", f"{len(weights.malformed)} header entries are not tensors ({names})")]


def _tensor_problems(weights: WeightsFile) -> list[Problem]:
    problems = []
    for tensor in weights.tensors.values():
        bits = KNOWN_DTYPE_BITS.get(tensor.dtype)
        start, end = tensor.data_offsets
        if bits is None:
            problems.append(_problem("unknown dtype", f"{tensor.name} has the unknown dtype {tensor.dtype!r}"))
        elif end - start != (expected := (math.prod(tensor.shape) * bits + 7) // 8):
            problems.append(
                _problem(
                    "length mismatch",
                    f"{tensor.name} {tensor.dtype} {list(tensor.shape)} needs {expected:,} bytes, its offsets span"
                    f" {end - start:,}",
                    tensor=tensor.name,
                    expected=expected,
                    actual=end - start,
                )
            )
    return problems


def _offset_problems(weights: WeightsFile) -> list[Problem]:
    """safetensors sorts tensors by offset and requires them to tile the data section from 0 without gaps."""
    problems = []
    position = 0
    for tensor in sorted(weights.tensors.values(), key=lambda t: t.data_offsets):
        start, end = tensor.data_offsets
        if end < start:
            problems.append(_problem("reversed offsets", f"{tensor.name} ends at {end:,} before it starts"))
        elif start != position:
            kind = "gap" if start > position else "overlap"
            problems.append(
                _problem(
                    kind,
                    f"{tensor.name} starts at byte {start:,} of the data, where the previous tensor ended at"
                    f" {position:,} ({kind})",
                    tensor=tensor.name,
                    start=start,
                    expected_start=position,
                )
            )
        position = max(position, end)
    return problems


def _size_problems(weights: WeightsFile) -> list[Problem]:
    start, size = weights.data_start, weights.size
    if start is None or size is None or start > size:
        return []
    expected = start + _data_end(weights.tensors.values())
    if expected == size:
        return []
    if expected > size:
        message = f"the file is {expected - size:,} bytes shorter than its header says ({size:,} of {expected:,})"
        kind = "truncated"
    else:
        message = f"{size - expected:,} bytes follow the last tensor (the header accounts for {expected:,})"
        kind = "trailing bytes"
    return [_problem(kind, message, expected_size=expected, size=size)]


def _data_end(tensors: Iterable[TensorHeader]) -> int:
    return max((t.data_offsets[1] for t in tensors), default=0)
