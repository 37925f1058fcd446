"""The Hub's model endpoints: model info, the listing, trees and `/resolve/` with byte ranges.

What each serves, and where that behaviour comes from, is in this package's README.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from hublint.emulator.access import Access
from hublint.emulator.http import (
    FileBody,
    HubError,
    Request,
    Response,
    decode_cursor,
    json_response,
    positive_int,
    requested_range,
)
from hublint.emulator.repos import Repo, RepoFile, RepoStore, TreeEntry

# Every property the Hub accepts in `expand` (research/hub.md §2.1); `_model_properties` fills the ones it models.
KNOWN_EXPAND = frozenset(
    [
        *("author", "baseModels", "cardData", "childrenModelCount", "config", "createdAt", "disabled", "downloads"),
        *("downloadsAllTime", "evalResults", "gated", "gguf", "inference", "inferenceProviderMapping"),
        *("lastModified", "library_name", "likes", "mask_token", "model-index", "pipeline_tag", "private"),
        *("resourceGroup", "safetensors", "sha", "siblings", "spaces", "tags", "transformersInfo", "trendingScore"),
        *("usedStorage", "widgetData", "xetEnabled"),
    ]
)
MODEL_INFO_DEFAULT = [
    *("modelId", "author", "sha", "lastModified", "createdAt", "private", "gated", "disabled", "library_name"),
    *("tags", "pipeline_tag", "downloads", "likes", "cardData", "siblings", "safetensors", "usedStorage"),
]
LISTING_DEFAULT = [
    *("modelId", "likes", "downloads", "trendingScore", "private", "tags", "pipeline_tag", "library_name"),
    "createdAt",
]
LISTING_FULL = [*LISTING_DEFAULT, "author", "sha", "lastModified", "gated", "disabled", "siblings"]
# Properties the Hub leaves out (rather than sending null) when a repo has nothing for them.
OMITTED_WHEN_EMPTY = frozenset({"cardData", "safetensors", "pipeline_tag", "library_name"})
SORT_KEYS: dict[str, Callable[[Repo], Any]] = {
    "lastModified": lambda repo: repo.last_modified,
    "createdAt": lambda repo: repo.created_at,
    "downloads": lambda repo: repo.settings.downloads,
    "likes": lambda repo: repo.settings.likes,
    "trendingScore": lambda repo: repo.settings.likes,
}


# (repo id, revision, path) -> the OS path of the file as a pull request changed it, or None
PullFiles = Callable[[str, str, str], "str | None"]


class ModelRoutes:
    def __init__(self, repos: RepoStore, access: Access, page_size: int, pull_files: PullFiles) -> None:
        self.repos, self.access, self.page_size, self.pull_files = repos, access, page_size, pull_files

    def model_info(self, request: Request) -> Response:
        _, _, owner, name, *revision = request.segments
        repo = self.access.enabled_repo(request, owner, name)
        if revision:
            self.access.check_revision(repo, unquote(revision[1]))
        expand = self._expand(request)
        names = expand or MODEL_INFO_DEFAULT
        # Sizes, blob ids and LFS details only with blobs=true (`model_info(files_metadata=True)`), never via expand.
        return json_response(self._model_json(repo, names, detailed_siblings=request.flag("blobs")))

    def list_models(self, request: Request) -> Response:
        sort = request.param("sort") or "lastModified"
        if sort not in SORT_KEYS:
            raise HubError(400, f"Invalid sort parameter: {sort}")
        page_size = min(positive_int(request.param("limit"), default=self.page_size), self.page_size)
        expand = self._expand(request)
        names = expand or (LISTING_FULL if request.flag("full") else LISTING_DEFAULT)
        if request.flag("cardData") and "cardData" not in names:
            names = [*names, "cardData"]

        sort_key = SORT_KEYS[sort]
        ranked = sorted(
            (((sort_key(repo), repo.repo_id), repo) for repo in self._listed_repos(request)),
            key=lambda item: item[0],
            reverse=True,
        )
        total = len(ranked)
        cursor = request.param("cursor")
        if cursor is not None:
            # Keyset pagination: a repo created while a crawl pages through does not shift later pages.
            after = tuple(decode_cursor(cursor))
            ranked = [item for item in ranked if item[0] < after]
        page = ranked[:page_size]
        headers = {"X-Total-Count": str(total)}
        if len(ranked) > page_size:
            headers["Link"] = request.next_link(list(page[-1][0]))
        # The listing's siblings carry `rfilename` only, whatever is asked (huggingface_hub issue #1814).
        items = [self._model_json(repo, names, detailed_siblings=False) for _, repo in page]
        return json_response(items, headers=headers)

    def _listed_repos(self, request: Request) -> list[Repo]:
        filters = request.params("filter")
        author = request.param("author")
        searches = [term.lower() for term in request.params("search")]
        listed = []
        for repo in self.repos.all():
            if repo.settings.private and not repo.is_member(request.user):
                continue
            if author is not None and repo.owner != author:
                continue
            if not set(filters) <= set(repo.tags):
                continue
            if all(term in repo.repo_id.lower() for term in searches):
                listed.append(repo)
        return listed

    def tree(self, request: Request) -> Response:
        _, _, owner, name, _, revision, *path = request.segments
        repo = self.access.enabled_repo(request, owner, name)
        self.access.check_revision(repo, unquote(revision))
        directory = "/".join(unquote(part) for part in path).strip("/")
        entries = repo.tree(directory, recursive=request.flag("recursive"))
        if entries is None:
            raise HubError(404, f"Entry not found: {directory}", "EntryNotFound")
        start = request.offset()
        page = entries[start : start + self.page_size]
        # `X-Repo-Commit` is traced for /resolve/ only (hfh `get_hf_file_metadata`): tree answers carry no sha
        headers = {"Link": request.next_link(start + self.page_size)} if start + self.page_size < len(entries) else {}
        return json_response([tree_entry_json(entry) for entry in page], headers=headers)

    def resolve(self, request: Request) -> Response:
        owner, name, _, revision, *path = request.segments
        repo = self.access.visible_repo(request, owner, name)
        self.access.check_content_access(repo, request.user)
        self.access.check_revision(repo, unquote(revision))
        filename = "/".join(unquote(part) for part in path)
        changed = self.pull_files(repo.repo_id, unquote(revision), filename)
        repo_file = self.repos.loose_file(filename, changed) if changed else repo.file(filename)
        if repo_file is None:
            raise HubError(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": repo.sha})
        headers = file_headers(repo, repo_file)
        byte_range = requested_range(request.headers.get("Range"), repo_file.size)
        if byte_range is None:
            return Response(200, headers, FileBody(repo_file.location, 0, repo_file.size))
        first, last = byte_range
        headers["Content-Range"] = f"bytes {first}-{last}/{repo_file.size}"
        return Response(206, headers, FileBody(repo_file.location, first, last - first + 1))

    # -- discussions ----------------------------------------------------------------------------------------------

    def _expand(self, request: Request) -> list[str]:
        expand = request.params("expand")
        unknown = sorted(set(expand) - KNOWN_EXPAND)
        if unknown:
            raise HubError(400, f'"expand" must be one of {sorted(KNOWN_EXPAND)}, got {unknown}')
        return expand

    def _model_json(self, repo: Repo, names: list[str], *, detailed_siblings: bool) -> dict[str, Any]:
        properties = self._model_properties(repo, detailed_siblings)
        data: dict[str, Any] = {"_id": repo.object_id, "id": repo.repo_id}
        for name in names:
            if name not in properties:
                continue  # a real Hub property the emulator does not model
            value = properties[name]()
            if value is not None or name not in OMITTED_WHEN_EMPTY:
                data[name] = value
        return data

    def _model_properties(self, repo: Repo, detailed_siblings: bool) -> dict[str, Callable[[], Any]]:
        """Lazily computed properties: `safetensors` reads headers, so it is only built when asked for."""
        return {
            "modelId": lambda: repo.repo_id,
            "author": lambda: repo.owner,
            "sha": lambda: repo.sha,
            "lastModified": lambda: repo.last_modified,
            "createdAt": lambda: repo.created_at,
            "private": lambda: repo.settings.private,
            "gated": lambda: repo.settings.gated,
            "disabled": lambda: repo.settings.disabled,
            "library_name": lambda: repo.library_name,
            "tags": lambda: repo.tags,
            "pipeline_tag": lambda: repo.pipeline_tag,
            "downloads": lambda: repo.settings.downloads,
            "likes": lambda: repo.settings.likes,
            "trendingScore": lambda: 0,
            "cardData": lambda: repo.card_data,
            "siblings": lambda: [sibling_json(f, detailed_siblings) for f in repo.files],
            "safetensors": lambda: self.repos.safetensors_parameters(repo),
            "usedStorage": lambda: sum(f.size for f in repo.files),
            "xetEnabled": lambda: False,
        }


def sibling_json(repo_file: RepoFile, detailed: bool) -> dict[str, Any]:
    sibling: dict[str, Any] = {"rfilename": repo_file.path}
    if detailed:
        sibling.update(size=repo_file.size, blobId=repo_file.blob_id)
        if repo_file.lfs is not None:
            lfs = repo_file.lfs
            sibling["lfs"] = {"size": lfs.size, "sha256": lfs.sha256, "pointerSize": lfs.pointer_size}
    return sibling


def tree_entry_json(entry: TreeEntry) -> dict[str, Any]:
    if entry.file is None:
        return {"type": "directory", "oid": entry.oid, "size": 0, "path": entry.path}
    item: dict[str, Any] = {"type": "file", "oid": entry.oid, "size": entry.file.size, "path": entry.path}
    if entry.file.lfs is not None:
        lfs = entry.file.lfs
        item["lfs"] = {"oid": lfs.sha256, "size": lfs.size, "pointerSize": lfs.pointer_size}
    return item


def file_headers(repo: Repo, repo_file: RepoFile) -> dict[str, str]:
    """What `get_hf_file_metadata` reads: commit, etag, size (no Xet headers: downloads stay plain HTTP)."""
    headers = {
        "Content-Type": "application/octet-stream",
        "Accept-Ranges": "bytes",
        "X-Repo-Commit": repo.sha,
        "ETag": f'"{repo_file.etag}"',
    }
    if repo_file.lfs is not None:
        headers["X-Linked-Etag"] = f'"{repo_file.lfs.sha256}"'
        headers["X-Linked-Size"] = str(repo_file.size)
    return headers
