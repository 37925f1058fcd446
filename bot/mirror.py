"""Weights headers for a checkout that holds Git LFS pointers, read from the same files on the Hub.

actions/checkout leaves `.safetensors` files as ~130-byte pointers unless the workflow sets `lfs: true`, and
pulling them costs the repository owner LFS bandwidth. A model repo on GitHub usually mirrors a Hub repo, so
`--hub-repo OWNER/NAME` reads the few header bytes from there instead. A pointer is only replaced by a Hub file
that holds the same object, so the lint never describes weights other than the ones in the checkout.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from hublint.hub import HubClient, HubRepo
from hublint.local import LocalRepo
from hublint.rules.peft.ids import is_owned_hub_id
from hublint.rules.snapshot import RepoFile
from hublint.snapshots import UnreadableRepo

WEIGHTS_SUFFIXES = (".safetensors", ".bin")  # only headers are worth a Hub read; other pointers stay pointers


@dataclasses.dataclass(frozen=True)
class HubMirror:
    repo_id: str
    revision: str | None = None

    @classmethod
    def parse(cls, text: str) -> HubMirror:
        repo_id, _, revision = text.partition("@")
        if not (is_owned_hub_id(repo_id)):
            raise ValueError(f"--hub-repo {text!r} is not a Hub id (owner/name[@revision])")
        return cls(repo_id, revision or None)

    def fill(self, local: LocalRepo, client: HubClient) -> LocalRepo | MirroredRepo:
        """`local`, with its pointer weights read from the Hub; untouched (no request) when it has none."""
        pointers = [f for f in local.files.values() if f.lfs_pointer and f.path.endswith(WEIGHTS_SUFFIXES)]
        if not pointers:
            return local
        hub = client.open_repo(self.repo_id, self.revision)
        for pointer in pointers:
            _check_same_object(pointer, hub, self.repo_id)
        return MirroredRepo(local, hub, frozenset(p.path for p in pointers))


class MirroredRepo:
    """A checkout whose pointer files are read from the Hub; implements bot.snapshots.RepoReader."""

    source = "local"  # findings still point at the checkout's files, where annotations can show them
    revision = None
    reads_are_cheap = True

    def __init__(self, local: LocalRepo, hub: HubRepo, mirrored: frozenset[str]) -> None:
        self.local, self.hub, self.mirrored = local, hub, mirrored
        self.target = local.target
        self.files: Mapping[str, RepoFile] = {
            path: dataclasses.replace(file, lfs_pointer=False) if path in mirrored else file
            for path, file in local.files.items()
        }

    def read(self, path: str) -> bytes:
        return (self.hub if path in self.mirrored else self.local).read(path)

    def read_range(self, path: str, start: int, length: int) -> tuple[bytes, int | None]:
        return (self.hub if path in self.mirrored else self.local).read_range(path, start, length)

    def card(self) -> tuple[dict[str, Any] | None, str | None]:
        return self.local.card()


def _check_same_object(pointer: RepoFile, hub: HubRepo, repo_id: str) -> None:
    remote = hub.files.get(pointer.path)
    if remote is None:
        raise UnreadableRepo(
            f"{pointer.path} is a Git LFS pointer and {repo_id} has no such file: push it to the Hub,"
            " or check out with `lfs: true`"
        )
    # A Hub file kept in git (not LFS) has no sha256 to compare; its size is the best evidence left.
    same = remote.lfs_sha256 == pointer.lfs_sha256 if remote.lfs_sha256 else remote.size == pointer.size
    if not same:
        raise UnreadableRepo(
            f"{pointer.path} in {repo_id}@{hub.revision[:12]} is not the file this checkout points to"
            f" (LFS oid {(pointer.lfs_sha256 or '?')[:12]}): push this revision to the Hub, or check out with"
            " `lfs: true`"
        )
