"""Minimal-diff edits of an adapter repo's small files, and the base-model id a metadata fix may write.

The edits change one value and nothing else: JSON keeps its key order, indentation and every other byte; README
front matter is edited as text (never re-dumped), so comments, quoting and key order survive. Each edit checks
itself by parsing the result: the document must equal the old one with only the edited key changed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from hublint.rules.peft.ids import is_hub_id
from hublint.rules.provenance.hl402_base_model_not_hub_id import judge

BASE_KEY = "base_model_name_or_path"
CARD_KEY = "base_model"
# huggingface_hub's `repocard.REGEX_YAML_BLOCK`: the front matter a Hub card parser reads.
_FRONT_MATTER = re.compile(r"^(\s*---(?:\r\n|\r|\n))([\S\s]*?)((?:\r\n|\r|\n)---[ \t]*(?:\r\n|\n|$))")
_JSON_KEY = re.compile(r'"base_model_name_or_path"\s*:\s*')
# A top-level `base_model:` entry with its continuation lines (a block list or a folded value).
_CARD_ENTRY = re.compile(r"^base_model[ \t]*:[^\n]*(?:\n(?:[ \t]+|-)[^\n]*)*", re.MULTILINE)
_LOCAL_TAIL = re.compile(r"([A-Za-z0-9][\w.-]*)[/\\]([A-Za-z0-9][\w.-]*)[/\\]*$")


class EditError(ValueError):
    """The file cannot be edited without touching more than the key (it does not parse, or the key is nested)."""


def set_config_base(text: str, model_id: str) -> str:
    """adapter_config.json with `base_model_name_or_path` set to `model_id`, every other byte as it was."""
    before = _json_object(text)
    for match in _JSON_KEY.finditer(text):
        try:
            _, end = json.JSONDecoder().raw_decode(text, match.end())
        except ValueError:
            continue
        edited = text[: match.end()] + json.dumps(model_id) + text[end:]
        if _only_changed(before, _json_object(edited), BASE_KEY, model_id):
            return edited
    if BASE_KEY in before:
        raise EditError(f"adapter_config.json: cannot find the top-level {BASE_KEY} in the text")
    return _insert_first_key(text, before, model_id)


def _insert_first_key(text: str, before: dict[str, Any], model_id: str) -> str:
    """Add the key as the object's first member, indented like the next line."""
    opening = text.index("{") + 1
    following = re.match(r"[ \t]*\r?\n([ \t]*)", text[opening:])
    entry = f'"{BASE_KEY}": {json.dumps(model_id)}'
    if following:
        newline = "\r\n" if text[opening:].lstrip(" \t").startswith("\r\n") else "\n"
        inserted = f"{newline}{following.group(1)}{entry}," if before else f"{newline}{following.group(1)}{entry}"
    else:
        inserted = f"{entry}, " if before else entry
    edited = text[:opening] + inserted + text[opening:]
    if not _only_changed(before, _json_object(edited), BASE_KEY, model_id):
        raise EditError("adapter_config.json: adding the key changed more than the key")
    return edited


def set_card_base(text: str | None, model_id: str) -> str:
    """README.md with `base_model: <id>` in its front matter; the rest of the file as it was."""
    line = f"{CARD_KEY}: {_yaml_scalar(model_id)}"
    if not text:
        return f"---\n{line}\n---\n"
    match = _FRONT_MATTER.search(text)
    if match is None:
        return f"---\n{line}\n---\n\n{text}"
    block = match.group(2)
    before = _yaml_mapping(block)
    entry = _CARD_ENTRY.search(block)
    edited_block = block[: entry.start()] + line + block[entry.end() :] if entry else f"{block.rstrip()}\n{line}"
    if not block.strip():
        edited_block = line
    if not _only_changed(before, _yaml_mapping(edited_block), CARD_KEY, model_id):
        raise EditError("README.md: the front matter's base_model cannot be set without touching other keys")
    return text[: match.start(2)] + edited_block + text[match.end(2) :]


def add_card_section(text: str | None, heading: str, section: str) -> str:
    """README.md with `section` appended under `heading` (replacing a section with that heading the bot added)."""
    text = text or ""
    marker = f"\n## {heading}\n"
    kept = text.split(marker, 1)[0].rstrip("\n")
    return f"{kept}\n{marker}\n{section.strip()}\n" if kept else f"## {heading}\n\n{section.strip()}\n"


def _only_changed(before: Mapping[str, Any], after: Mapping[str, Any] | None, key: str, value: str) -> bool:
    if after is None or after.get(key) != value:
        return False
    return {k: v for k, v in before.items() if k != key} == {k: v for k, v in after.items() if k != key}


def _json_object(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise EditError("adapter_config.json does not parse as JSON") from None
    if not isinstance(data, dict):
        raise EditError("adapter_config.json is not a JSON object")
    return data


def _yaml_mapping(block: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(block) if block.strip() else {}
    except (yaml.YAMLError, RecursionError, ValueError, OverflowError):  # as bot/parsing.py's front_matter
        raise EditError("README.md front matter does not parse as YAML") from None
    if not isinstance(data, dict):
        raise EditError("README.md front matter is not a mapping")
    return data


def _yaml_scalar(value: str) -> str:
    """The id as a plain YAML scalar when it reads back unchanged, else double-quoted."""
    try:
        plain = yaml.safe_load(f"k: {value}")
    except yaml.YAMLError:
        plain = None
    return value if isinstance(plain, dict) and plain.get("k") == value else json.dumps(value)


# --- Which Hub id a metadata fix may write ---


@dataclass(frozen=True)
class BaseCandidate:
    model_id: str
    source: str  # where the id comes from, for the PR description: "the Hub cache path", "the model card", ...


def base_candidates(config_value: object, card: Mapping[str, Any] | None) -> list[BaseCandidate]:
    """The Hub ids the repo itself names for its base, most specific first; each must still be verified."""
    found: list[BaseCandidate] = []
    verdict = judge(config_value)
    if verdict is not None and verdict.suggested_id and is_hub_id(verdict.suggested_id):
        found.append(BaseCandidate(verdict.suggested_id, "the Hub cache path in base_model_name_or_path"))
    elif verdict is not None and isinstance(config_value, str):
        tail = _LOCAL_TAIL.search(config_value.strip())
        if tail and is_hub_id(f"{tail[1]}/{tail[2]}"):
            found.append(BaseCandidate(f"{tail[1]}/{tail[2]}", "the end of the local path in base_model_name_or_path"))
    elif verdict is None and isinstance(config_value, str):
        found.append(BaseCandidate(config_value, "adapter_config.json"))
    card_value = (card or {}).get(CARD_KEY)
    card_value = card_value[0] if isinstance(card_value, list) and len(card_value) == 1 else card_value
    if isinstance(card_value, str) and is_hub_id(card_value):
        found.append(BaseCandidate(card_value, "the model card's base_model"))
    unique: dict[str, BaseCandidate] = {}
    for candidate in found:
        unique.setdefault(candidate.model_id, candidate)
    return list(unique.values())


def verified_base(candidates: list[BaseCandidate], fits: Callable[[str], bool]) -> tuple[BaseCandidate | None, str]:
    """The one candidate that exists and fits the adapter's tensors (`fits`), or None and why not.

    Two fitting candidates that differ (a base and its chat variant share every shape) are ambiguous: no fix.
    """
    if not candidates:
        return None, "the repo names no Hub id for its base (not in the config's path, nor in the model card)"
    fitting = [c for c in candidates if fits(c.model_id)]
    if not fitting:
        names = ", ".join(c.model_id for c in candidates)
        return None, f"no named base ({names}) exists with tensor shapes that fit the adapter"
    if len(fitting) > 1:
        names = " and ".join(c.model_id for c in fitting)
        return None, f"{names} both fit the adapter's tensors: which one it was trained on is not known"
    return fitting[0], f"named by {fitting[0].source}; it exists on the Hub and its tensor shapes fit the adapter"
