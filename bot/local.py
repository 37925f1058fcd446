"""Repositories on disk: an adapter directory (or a model checkout), Git LFS pointer files understood."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from hublint import parsing
from hublint.rules.numbers import parse_int
from hublint.rules.snapshot import RepoFile

LFS_POINTER_PREFIX = b"version https://git-lfs.github.com/spec/v1"
LFS_POINTER_MAX_BYTES = 1024  # git-lfs pointers are ~130 bytes; anything this small is worth a look


class LocalRepo:
    """A directory, read like a repository at its working-tree state; implements bot.snapshots.RepoReader."""

    source = "local"
    revision = None
    reads_are_cheap = True

    def __init__(self, root: Path, target: str | None = None) -> None:
        self.root = root
        self.target = target or str(root)
        self.files = {f.path: f for f in _scan(root)}

    def read(self, path: str) -> bytes:
        return (self.root / path).read_bytes()

    def read_range(self, path: str, start: int, length: int) -> tuple[bytes, int | None]:
        with (self.root / path).open("rb") as handle:
            handle.seek(start)
            return handle.read(length), (self.root / path).stat().st_size

    def card(self) -> tuple[dict[str, Any] | None, str | None]:
        readme = self.root / "README.md"
        if not readme.is_file():
            return None, None
        return parsing.front_matter(readme.read_text(encoding="utf-8", errors="replace"))


def _scan(root: Path) -> list[RepoFile]:
    files = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if relative.parts[0].startswith(".git") or not path.is_file():
            continue
        files.append(_repo_file(path, relative.as_posix()))
    return files


def _repo_file(path: Path, name: str) -> RepoFile:
    size = path.stat().st_size
    if size <= LFS_POINTER_MAX_BYTES:
        head = path.read_bytes()
        pointer = _lfs_pointer(head)
        if pointer is not None:
            oid, real_size = pointer
            return RepoFile(name, real_size, blob_id=oid, lfs_sha256=oid, lfs_pointer=True)
        return RepoFile(name, size, blob_id=_git_blob_id(head))
    return RepoFile(name, size)


def _lfs_pointer(content: bytes) -> tuple[str, int | None] | None:
    """(sha256, size) from a Git LFS pointer file, or None if this is a real file."""
    if not content.startswith(LFS_POINTER_PREFIX):
        return None
    fields = dict(line.split(" ", 1) for line in content.decode("utf-8", "replace").splitlines() if " " in line)
    oid = fields.get("oid", "").removeprefix("sha256:")
    return oid, parse_int(fields.get("size"))


def _git_blob_id(content: bytes) -> str:
    """The git blob sha1, the id the Hub reports for small files: equal ids mean equal files."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()
