"""What a Hub repository id may look like: huggingface_hub's `validate_repo_id`, the Hub's own limits.

`name` or `namespace/name`; each part 1-96 ASCII letters, digits, `-`, `_` or `.`, starting and ending with a
letter, digit or `_`; no `--` or `..` anywhere; not ending in `.git` (huggingface_hub/utils/_validators.py).
"""

from __future__ import annotations

import re

MAX_PART_LENGTH = 96
_PART = rf"[A-Za-z0-9_](?:[\w.-]{{0,{MAX_PART_LENGTH - 2}}}[A-Za-z0-9_])?"
_HUB_ID = re.compile(rf"(?:{_PART}/)?{_PART}", re.ASCII)


def is_hub_id(value: str) -> bool:
    """True if the Hub would accept `value` as a repository id (with or without an owner)."""
    return bool(_HUB_ID.fullmatch(value)) and "--" not in value and ".." not in value and not value.endswith(".git")


def is_owned_hub_id(value: str) -> bool:
    """True for `owner/name`: the only form a crawled or mirrored repository has."""
    return "/" in value and is_hub_id(value)
