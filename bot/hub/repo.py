"""`HubRepo`: one Hub repository pinned to one commit, read with range requests (a `RepoReader`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from huggingface_hub import ModelInfo, hf_hub_url

from hublint.errors import HubError
from hublint.hub.client import Fetched, HubClient, host
from hublint.rules.numbers import parse_int
from hublint.rules.snapshot import RepoFile
from hublint.snapshots import SMALL_FILE_LIMIT


class HubRepo:
    """One Hub repository pinned to one commit sha; implements hublint.snapshots.RepoReader."""

    source = "hub"
    reads_are_cheap = False

    def __init__(
        self,
        client: HubClient,
        repo_id: str,
        sha: str,
        files: dict[str, RepoFile],
        card: dict[str, Any] | None,
        target: str,
    ) -> None:
        self.client, self.repo_id, self.revision, self.files, self.target = client, repo_id, sha, files, target
        self._card = card

    @classmethod
    def from_model_info(cls, client: HubClient, repo_id: str, revision: str | None, data: dict[str, Any]) -> HubRepo:
        parsed = parse_model_info(data)
        if parsed is None:
            raise HubError(f"{host(client.endpoint)} answered {repo_id}'s model info with a malformed entry")
        info, files, card = parsed
        return cls(client, repo_id, str(info.sha), files, card, repo_id + (f"@{revision}" if revision else ""))

    def _url(self, path: str) -> str:
        return hf_hub_url(self.repo_id, path, revision=self.revision, endpoint=self.client.endpoint)

    def read(self, path: str) -> bytes:
        # A listing names files without their sizes: then read no more than any small file hublint reads whole.
        size = self.files[path].size
        limit = (size if size is not None else SMALL_FILE_LIMIT) + 1
        return self.client.get(self._url(path), what=f"{self.repo_id}/{path}", limit=limit).content

    def read_range(self, path: str, start: int, length: int) -> tuple[bytes, int | None]:
        response = self.client.get(
            self._url(path),
            what=f"{self.repo_id}/{path}",
            headers={"Range": f"bytes={start}-{start + length - 1}", "Accept-Encoding": "identity"},
            limit=length,
        )
        body = response.content
        if response.status_code == 200 and start:
            body = b""  # the server ignored Range: we read only `limit` bytes from offset 0, which we don't want
        return body[:length], _total_size(response)

    def card(self) -> tuple[dict[str, Any] | None, str | None]:
        return (dict(self._card) if self._card is not None else None), None


def parse_model_info(data: Mapping[str, Any]) -> tuple[ModelInfo, dict[str, RepoFile], dict[str, Any] | None] | None:
    """huggingface_hub's ModelInfo with our files and card; None for an entry it cannot read (no `id`, `siblings`
    or `cardData` of the wrong type): a server's odd answer is a one-line error, never a crash."""
    if not isinstance(data.get("id"), str) or not isinstance(data.get("sha"), str):
        return None
    try:
        info = ModelInfo(**data)
        files = {s.rfilename: _repo_file(s) for s in info.siblings or []}
        card = info.card_data.to_dict() if info.card_data is not None else None
    except (TypeError, ValueError, KeyError, AttributeError):
        return None
    if not all(isinstance(name, str) for name in files):
        return None
    return info, files, card


def _repo_file(sibling: Any) -> RepoFile:
    lfs = sibling.lfs
    size = sibling.size if sibling.size is not None else (lfs.size if lfs is not None else None)
    return RepoFile(
        path=sibling.rfilename,
        size=size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None,
        blob_id=(lfs.sha256 if lfs is not None else None) or sibling.blob_id,
        lfs_sha256=lfs.sha256 if lfs is not None else None,
    )


def _total_size(response: Fetched) -> int | None:
    total = parse_int(response.headers.get("Content-Range", "").rpartition("/")[2])
    return total if total is not None else parse_int(response.headers.get("X-Linked-Size"))
