"""The emulator's view of a repos directory.

Layout: ``<root>/<owner>/<name>/<files...>`` is a repo at its current revision. An optional
``<root>/<owner>/<name>/.hub.json`` holds Hub-side settings::

    {"gated": false | "auto" | "manual", "private": bool, "disabled": bool, "discussions_disabled": bool,
     "tags": [...], "library_name": "peft", "pipeline_tag": "...", "lastModified": "ISO", "createdAt": "ISO",
     "downloads": int, "likes": int, "allowed_users": ["name"]}

Files named ``.hub*`` and ``.git`` directories are not repo files; owners starting with "." (such as the
emulator's own ``.emulator`` state directory) are not repos. Everything is derived from disk on every call;
only content hashes are cached, keyed by (path, size, mtime_ns), so a test can write files and the next request
sees them.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import re
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import yaml

# Files at least this big are treated as Git LFS files, like the Hub does for weights.
LFS_THRESHOLD = 10 * 1024 * 1024
# LFS "sha256" of a big file hashes only its size, head and tail: the files are often huge and sparse.
LFS_HASHED_HEAD = 1024 * 1024
LFS_HASHED_TAIL = 64 * 1024
SETTINGS_FILE = ".hub.json"
SAFETENSORS_MAX_HEADER = 25_000_000
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# huggingface_hub's `repocard.REGEX_YAML_BLOCK`. The emulator does not import huggingface_hub: that would freeze its
# import-time settings (HF_ENDPOINT) before a demo or test has started the emulator and pointed them at it.
FRONT_MATTER = re.compile(r"^(\s*---(?:\r\n|\r|\n))([\S\s]*?)((?:\r\n|\r|\n)---[ \t]*(\r\n|\n|$))")

GatedMode = Literal[False, "auto", "manual"]


def isoformat_utc(moment: datetime) -> str:
    """The Hub's timestamp format: ``2024-02-19T11:06:12.000Z``."""
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _normalized_iso(value: str | None) -> str | None:
    """Settings may hold any ISO 8601 string; normalise it so listing can sort timestamps as strings."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return isoformat_utc(moment)


def git_blob_id(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


@dataclass(frozen=True)
class LfsInfo:
    sha256: str
    size: int
    pointer_size: int


@dataclass(frozen=True)
class RepoFile:
    path: str
    location: str  # OS path; a str because building Path objects dominated the time of a listing
    size: int
    mtime: float
    blob_id: str  # git blob id of the content, or of the LFS pointer for LFS files (as on the Hub)
    lfs: LfsInfo | None

    @property
    def etag(self) -> str:
        return self.lfs.sha256 if self.lfs else self.blob_id


@dataclass(frozen=True)
class TreeEntry:
    """A file (with its `RepoFile`) or a directory (`file` is None) in a tree listing."""

    path: str
    oid: str
    file: RepoFile | None = None


@dataclass(frozen=True)
class RepoSettings:
    gated: GatedMode = False
    private: bool = False
    disabled: bool = False
    discussions_disabled: bool = False
    tags: tuple[str, ...] = ()
    library_name: str | None = None
    pipeline_tag: str | None = None
    last_modified: str | None = None
    created_at: str | None = None
    downloads: int = 0
    likes: int = 0
    allowed_users: frozenset[str] = frozenset()

    @classmethod
    def load(cls, path: str) -> RepoSettings:
        try:
            with open(path, encoding="utf-8") as handle:
                raw: dict[str, Any] = json.load(handle)
        except FileNotFoundError:
            return cls()
        return cls(
            gated=raw.get("gated", False) or False,
            private=bool(raw.get("private", False)),
            disabled=bool(raw.get("disabled", False)),
            discussions_disabled=bool(raw.get("discussions_disabled", False)),
            tags=tuple(raw.get("tags", ())),
            library_name=raw.get("library_name"),
            pipeline_tag=raw.get("pipeline_tag"),
            last_modified=_normalized_iso(raw.get("lastModified")),
            created_at=_normalized_iso(raw.get("createdAt")),
            downloads=int(raw.get("downloads", 0)),
            likes=int(raw.get("likes", 0)),
            allowed_users=frozenset(raw.get("allowed_users", ())),
        )


@dataclass(frozen=True)
class Repo:
    repo_id: str
    files: tuple[RepoFile, ...]  # sorted by path
    sha: str
    settings: RepoSettings
    card_data: dict[str, Any] | None
    last_modified: str
    created_at: str
    _by_path: dict[str, RepoFile] = field(repr=False, compare=False)

    @property
    def owner(self) -> str:
        return self.repo_id.split("/", 1)[0]

    @property
    def object_id(self) -> str:
        """A stable 24-hex Mongo-style `_id`, like the Hub's."""
        return hashlib.sha1(self.repo_id.encode()).hexdigest()[:24]

    @property
    def is_peft(self) -> bool:
        return "adapter_config.json" in self._by_path

    @property
    def library_name(self) -> str | None:
        card_library = (self.card_data or {}).get("library_name")
        return self.settings.library_name or card_library or ("peft" if self.is_peft else None)

    @property
    def pipeline_tag(self) -> str | None:
        return self.settings.pipeline_tag or (self.card_data or {}).get("pipeline_tag")

    @functools.cached_property  # a listing filters every repo by tag on every page
    def tags(self) -> list[str]:
        """Settings tags, card tags, the library and, for adapters, the Hub's ``base_model:adapter:`` tag."""
        card = self.card_data or {}
        card_tags = card.get("tags") or []
        tags = [*self.settings.tags, *(card_tags if isinstance(card_tags, list) else [card_tags])]
        if self.library_name:
            tags.append(self.library_name)
        base_model = card.get("base_model")
        if self.is_peft and isinstance(base_model, str):
            tags.append(f"base_model:adapter:{base_model}")
        return list(dict.fromkeys(str(tag) for tag in tags))

    def file(self, path: str) -> RepoFile | None:
        return self._by_path.get(path)

    def is_member(self, user: str | None) -> bool:
        """The owner and the users listed in `allowed_users` may see private and gated content."""
        return user is not None and (user == self.owner or user in self.settings.allowed_users)

    def tree(self, directory: str, *, recursive: bool) -> list[TreeEntry] | None:
        """Entries under `directory` ("" for the root), or None if it is not a directory of this repo."""
        prefix = f"{directory}/" if directory else ""
        below = [f for f in self.files if f.path.startswith(prefix)]
        if directory and not below:
            return None
        entries: dict[str, TreeEntry] = {}
        for repo_file in below:
            parts = repo_file.path[len(prefix) :].split("/")
            depth = len(parts) if recursive else 1
            for level in range(1, min(depth, len(parts) - 1) + 1):
                sub = prefix + "/".join(parts[:level])
                entries.setdefault(sub, TreeEntry(sub, self._tree_id(sub)))
            if recursive or len(parts) == 1:
                entries[repo_file.path] = TreeEntry(repo_file.path, repo_file.blob_id, repo_file)
        return [entries[path] for path in sorted(entries)]

    def _tree_id(self, directory: str) -> str:
        listing = "".join(f"{f.path}\0{f.blob_id}\n" for f in self.files if f.path.startswith(f"{directory}/"))
        return hashlib.sha1(listing.encode()).hexdigest()


class RepoStore:
    """Scans the root directory; caches content hashes and parsed headers by file identity."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._hashes: dict[tuple[str, int, int], tuple[str, LfsInfo | None]] = {}
        self._cards: dict[str, dict[str, Any] | None] = {}
        self._parameters: dict[tuple[str, ...], dict[str, Any] | None] = {}

    def get(self, repo_id: str) -> Repo | None:
        owner, _, name = repo_id.partition("/")
        if not (NAME_PATTERN.match(owner) and NAME_PATTERN.match(name)):
            return None
        directory = os.path.join(self.root, owner, name)
        return self._load(repo_id, directory) if os.path.isdir(directory) else None

    def all(self) -> list[Repo]:
        return [
            self._load(f"{owner.name}/{repo.name}", repo.path)
            for owner in _subdirectories(str(self.root))
            for repo in _subdirectories(owner.path)
        ]

    def _load(self, repo_id: str, directory: str) -> Repo:
        files = tuple(sorted(self._scan(directory), key=lambda f: f.path))
        by_path = {f.path: f for f in files}
        settings = RepoSettings.load(os.path.join(directory, SETTINGS_FILE))
        listing = "".join(f"{f.path}\0{f.blob_id}\n" for f in files)
        mtimes = [f.mtime for f in files] or [os.stat(directory).st_mtime]
        return Repo(
            repo_id=repo_id,
            files=files,
            sha=hashlib.sha1(listing.encode()).hexdigest(),
            settings=settings,
            card_data=self._card_data(by_path.get("README.md")),
            last_modified=settings.last_modified or isoformat_utc(datetime.fromtimestamp(max(mtimes), timezone.utc)),
            created_at=settings.created_at or isoformat_utc(datetime.fromtimestamp(min(mtimes), timezone.utc)),
            _by_path=by_path,
        )

    def _scan(self, directory: str, prefix: str = "") -> Iterator[RepoFile]:
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.is_dir():
                    if entry.name != ".git":
                        yield from self._scan(entry.path, f"{prefix}{entry.name}/")
                elif entry.name != SETTINGS_FILE:  # emulator settings, never a repo file
                    stat = entry.stat()
                    blob_id, lfs = self._hash(entry.path, stat.st_size, stat.st_mtime_ns)
                    yield RepoFile(prefix + entry.name, entry.path, stat.st_size, stat.st_mtime, blob_id, lfs)

    def _hash(self, location: str, size: int, mtime_ns: int) -> tuple[str, LfsInfo | None]:
        key = (location, size, mtime_ns)
        cached = self._hashes.get(key)
        if cached is None:
            cached = self._hashes[key] = _content_hash(location, size)
        return cached

    def _card_data(self, readme: RepoFile | None) -> dict[str, Any] | None:
        if readme is None:
            return None
        if readme.blob_id not in self._cards:
            self._cards[readme.blob_id] = _parse_card(readme.location)
        return self._cards[readme.blob_id]

    def loose_file(self, path: str, location: str) -> RepoFile:
        """A file outside the repo's tree (a pull request's version of `path`), hashed like the repo's files."""
        stat = os.stat(location)
        blob_id, lfs = self._hash(location, stat.st_size, stat.st_mtime_ns)
        return RepoFile(path, location, stat.st_size, stat.st_mtime, blob_id, lfs)

    def safetensors_parameters(self, repo: Repo) -> dict[str, Any] | None:
        """The Hub's `safetensors` model property: parameter counts per dtype of the model weights."""
        weights = _model_weight_files(repo)
        if not weights:
            return None
        key = tuple(f.etag for f in weights)
        with self._lock:
            if key not in self._parameters:
                self._parameters[key] = _count_parameters(weights)
            return self._parameters[key]


def _subdirectories(directory: str) -> list[os.DirEntry[str]]:
    """Sub-directories with valid Hub names, sorted (skips the emulator's `.emulator` state)."""
    if not os.path.isdir(directory):
        return []
    with os.scandir(directory) as entries:
        found = [entry for entry in entries if entry.is_dir() and NAME_PATTERN.match(entry.name)]
    return sorted(found, key=lambda entry: entry.name)


def _content_hash(location: str, size: int) -> tuple[str, LfsInfo | None]:
    with open(location, "rb") as handle:
        if size < LFS_THRESHOLD:
            return git_blob_id(handle.read()), None
        head = handle.read(LFS_HASHED_HEAD)
        handle.seek(max(0, size - LFS_HASHED_TAIL))
        tail = handle.read(LFS_HASHED_TAIL)
    sha256 = hashlib.sha256(b"%d\0" % size + head + tail).hexdigest()
    pointer = lfs_pointer(sha256, size)
    return git_blob_id(pointer), LfsInfo(sha256=sha256, size=size, pointer_size=len(pointer))


def _parse_card(readme: str) -> dict[str, Any] | None:
    """README YAML front matter, made JSON-safe (YAML dates become strings); None if absent or malformed."""
    try:
        with open(readme, encoding="utf-8-sig") as handle:
            match = FRONT_MATTER.search(handle.read())
        data = yaml.safe_load(match.group(2)) if match else None
        safe = json.loads(json.dumps(data, default=str)) if isinstance(data, dict) else None
    except (ValueError, TypeError, RecursionError, yaml.YAMLError):
        return None
    return safe if isinstance(data, dict) and data else None


def _model_weight_files(repo: Repo) -> list[RepoFile]:
    """The checkpoint's safetensors files; none when its index is not a usable one (the repo is served as is)."""
    single = repo.file("model.safetensors")
    if single is not None:
        return [single]
    index = repo.file("model.safetensors.index.json")
    if index is None or index.lfs is not None:
        return []
    weight_map = _json_file(index.location).get("weight_map")
    names = set(weight_map.values()) if isinstance(weight_map, dict) else set()
    if not names or not all(isinstance(name, str) for name in names):
        return []
    shards = [repo.file(name) for name in sorted(names)]
    return [] if any(shard is None for shard in shards) else shards  # type: ignore[misc]


def _count_parameters(weights: list[RepoFile]) -> dict[str, Any] | None:
    """Parameters per dtype, as the Hub's `safetensors` property; None (left out) for any malformed header."""
    per_dtype: dict[str, int] = {}
    for weight in weights:
        for name, tensor in _read_safetensors_header(weight.location).items():
            if name == "__metadata__":
                continue
            shape = tensor.get("shape") if isinstance(tensor, dict) else None
            dtype = tensor.get("dtype") if isinstance(tensor, dict) else None
            if not (isinstance(dtype, str) and isinstance(shape, list)):
                return None
            if not all(isinstance(size, int) and not isinstance(size, bool) and size >= 0 for size in shape):
                return None
            per_dtype[dtype] = per_dtype.get(dtype, 0) + math.prod(shape)
    return {"parameters": per_dtype, "total": sum(per_dtype.values())} if per_dtype else None


def _read_safetensors_header(location: str) -> dict[str, Any]:
    """The header's JSON object; empty when the file has none that parses."""
    with open(location, "rb") as handle:
        prefix = handle.read(8)
        if len(prefix) < 8:
            return {}
        (length,) = struct.unpack("<Q", prefix)
        if length > SAFETENSORS_MAX_HEADER:
            return {}
        return _json_object(handle.read(length))


def _json_file(location: str) -> dict[str, Any]:
    with open(location, "rb") as handle:
        return _json_object(handle.read(SAFETENSORS_MAX_HEADER))


def _json_object(raw: bytes) -> dict[str, Any]:
    """A JSON object from untrusted bytes; empty for anything else (bad UTF-8 or JSON, too deep, not an object)."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}
