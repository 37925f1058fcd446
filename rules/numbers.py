"""The one place that turns untrusted text into numbers (and byte counts into words: `human_bytes`).

Everything hublint reads is written by strangers: configs, safetensors headers, tokenizer files, LFS pointers and
HTTP headers. Python's own parsers are too generous for that: `str.isdigit()` is true for `²` and `٣` (which `int()`
then rejects or reads), `int()` raises past 4,300 digits, and `float()` accepts `nan`, `inf` and `1e400` (= inf).
These helpers accept ASCII decimal digits only, within a bounded length, and finite floats; anything else is None
(or, for JSON, a ValueError that readers already report as malformed input).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

# Far beyond any real shape, byte count, token id or timestamp (2**64 has 20 digits), far below Python's int limit.
MAX_DIGITS = 40
_INT = re.compile(r"[0-9]+", re.ASCII)
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)


def parse_int(text: str | bytes | None, *, max_digits: int = MAX_DIGITS) -> int | None:
    """A non-negative decimal integer (surrounding blanks allowed), or None."""
    text = _matching(text, _INT, max_digits)
    return int(text) if text is not None else None


def parse_float(text: str | bytes | None, *, max_length: int = 64) -> float | None:
    """A finite decimal float (no `nan`, `inf` or overflow to infinity), or None."""
    text = _matching(text, _FLOAT, max_length)
    value = float(text) if text is not None else math.nan
    return value if math.isfinite(value) else None


def _matching(text: str | bytes | None, pattern: re.Pattern[str], max_length: int) -> str | None:
    """The text without surrounding blanks if all of it is ASCII matching `pattern` within `max_length`, else None."""
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    if text is None:
        return None
    text = text.strip(" \t")
    return text if len(text) <= max_length and pattern.fullmatch(text) else None


def finite_number(value: object) -> float | None:
    """A JSON value as a finite float: ints and floats only (not bools), None for NaN, infinities and the rest."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        return None
    return number if math.isfinite(number) else None


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise ValueError(f"a number of {len(text)} digits")
    return int(text)


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


_DECODER = json.JSONDecoder(parse_int=_bounded_int)


def loads(data: str | bytes, *, allow_nan: bool = True) -> Any:
    """`json.loads` for untrusted documents: integers longer than MAX_DIGITS are a ValueError (json.JSONDecodeError's
    base), never Python's int-string limit deep inside. NaN and Infinity load as floats, as Python's json (and so
    PEFT) reads them, unless `allow_nan` is False (a strict reader such as safetensors' refuses them): callers that
    need numbers use `finite_number`."""
    return json.loads(data, parse_int=_bounded_int, parse_constant=None if allow_nan else _no_constant)


def raw_decode(text: str, index: int = 0) -> tuple[Any, int]:
    """`json.JSONDecoder().raw_decode` with `loads`' bounded integers: one value from `index`, and where it ends."""
    return _DECODER.raw_decode(text, index)


def human_bytes(size: int) -> str:
    """A byte count as people read it, in the Hub's decimal units: `1.6 MB`, `18.4 kB`, `512 bytes`."""
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if size >= scale:
            return f"{size / scale:,.1f} {unit}"
    return f"{size:,} bytes"
