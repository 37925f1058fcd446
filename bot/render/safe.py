"""Output that no repo string can subvert: terminal-safe text and strict JSON.

Repo strings (tensor names, token strings, base ids, paths, server messages) reach what hublint prints. In a
terminal, ESC/OSC sequences set the title or clear the screen, a raw newline starts a line CI runners read as a
command (`::error::`), and bidi overrides make text read differently from what it is; a lone surrogate (a valid
JSON escape, `"\\ud800"`) cannot be encoded at all, so printing it would crash. JSON has no NaN or Infinity.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

# Unicode's explicit bidi embeddings, overrides and isolates (the "Trojan Source" characters).
BIDI_CONTROLS = "\u202a-\u202e\u2066-\u2069"
# C0 and C1 controls, line/paragraph separators, bidi controls and lone surrogates.
_UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f\u2028\u2029{BIDI_CONTROLS}\ud800-\udfff]")
_UNSAFE_KEEPING_LINES = re.compile(f"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029{BIDI_CONTROLS}\ud800-\udfff]")
_BIDI = re.compile(f"[{BIDI_CONTROLS}]")
# What JSON leaves raw with ensure_ascii=False but a terminal or viewer acts on, and what UTF-8 cannot hold.
_JSON_ESCAPED = re.compile(f"[\x7f-\x9f\u2028\u2029{BIDI_CONTROLS}\ud800-\udfff]")
NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}


def visible(text: str) -> str:
    """One line with every unsafe character shown as Python writes it (`\\x1b`, `\\n`) or as `<U+202E>`."""
    return _UNSAFE.sub(_show, text)


def visible_lines(text: str) -> str:
    """`visible`, but newlines stay newlines: for multi-line text hublint wrote itself (a discussion body)."""
    return _UNSAFE_KEEPING_LINES.sub(_show, text)


def _show(match: re.Match[str]) -> str:
    char = match.group(0)
    if _BIDI.fullmatch(char):
        return f"<U+{ord(char):04X}>"
    return repr(char)[1:-1]  # repr writes controls and surrogates as \x1b, \u2028, \ud800


def dumps(value: Any, *, indent: int | None = 2, sort_keys: bool = False) -> str:
    """Strict JSON (RFC 8259): NaN and infinities as the strings "NaN", "Infinity", "-Infinity"; C1 controls,
    bidi controls and lone surrogates as `\\uXXXX` escapes (lossless: they only occur inside strings), so the text
    always encodes as UTF-8 and shows inert. Non-JSON values (paths, sets) as their str()."""
    text = json.dumps(
        _finite(value), indent=indent, sort_keys=sort_keys, ensure_ascii=False, allow_nan=False, default=str
    )
    return _JSON_ESCAPED.sub(lambda match: f"\\u{ord(match.group(0)):04x}", text)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else NON_FINITE[value]
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value
