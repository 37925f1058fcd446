"""A local Hugging Face Hub: a real HTTP server that the real huggingface_hub client can talk to.

It serves the repos of a directory (layout in `bot.emulator.repos`) with the endpoints, headers and error codes
described in research/hub.md §2: model info and listing, trees, ``/resolve/`` with ranges, discussions and
``whoami``. Admin endpoints under ``/_emulator/`` expose request statistics and change the injected faults.

    with Emulator(root, tokens={"hf_test": "alice"}) as emu:
        HfApi(endpoint=emu.url, token="hf_test").model_info("owner/name")
"""

from __future__ import annotations

import base64
import json
import re
import sys
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from hublint.emulator import discussions
from hublint.emulator.discussions import DiscussionStore
from hublint.emulator.faults import FaultInjector, Faults
from hublint.emulator.repos import Repo, RepoFile, RepoStore, TreeEntry

__all__ = ["Emulator", "Faults"]

MAX_PAGE_SIZE = 1000
STREAM_CHUNK = 1024 * 1024
INVALID_CREDENTIALS = "Invalid credentials in Authorization header"
DISABLED_MESSAGE = "Access to this resource is disabled."
RANGE_PATTERN = re.compile(r"^bytes=(\d*)-(\d*)$")
PR_REVISION = re.compile(r"^refs/pr/(\d+)$")
MAIN_REVISIONS = ("main", "refs/heads/main")

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


class HubError(Exception):
    """An error response in the Hub's shape: status, `X-Error-Code`, `X-Error-Message` and ``{"error": ...}``."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        # Header values must be latin-1; the JSON body keeps the exact message.
        self.headers = {"X-Error-Message": message.encode("ascii", "replace").decode("ascii")}
        if code:
            self.headers["X-Error-Code"] = code
        self.headers.update(headers or {})


def repo_not_found() -> HubError:
    # The Hub answers 401 for missing and private repos alike, so their existence does not leak.
    return HubError(401, "Repository not found", "RepoNotFound")


@dataclass(frozen=True)
class FileBody:
    """A byte range of a file, streamed in chunks so a 13 GB sparse file never sits in memory."""

    location: str
    start: int
    length: int


@dataclass
class Response:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | FileBody = b""

    @property
    def length(self) -> int:
        return self.body.length if isinstance(self.body, FileBody) else len(self.body)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(data).encode()
    return Response(status, {"Content-Type": "application/json; charset=utf-8", **(headers or {})}, body)


def error_response(error: HubError) -> Response:
    return json_response({"error": error.message}, error.status, error.headers)


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # raw, still percent-encoded
    query: list[tuple[str, str]]
    headers: Message
    body: bytes
    user: str | None
    base_url: str

    @property
    def segments(self) -> list[str]:
        return self.path.strip("/").split("/")

    def param(self, name: str) -> str | None:
        return next((value for key, value in self.query if key == name), None)

    def params(self, name: str) -> list[str]:
        """All values of a repeated parameter; also accepts ``name[]=`` and comma-separated values."""
        values = [value for key, value in self.query if key in (name, f"{name}[]")]
        return [item for value in values for item in value.split(",") if item]

    def flag(self, name: str) -> bool:
        return (self.param(name) or "").lower() in ("1", "true")

    def json(self) -> dict[str, Any]:
        try:
            data = json.loads(self.body or b"{}")
        except ValueError as error:
            raise HubError(400, f"Invalid JSON body: {error}") from error
        if not isinstance(data, dict):
            raise HubError(400, "Invalid JSON body: expected an object")
        return data

    def next_link(self, cursor: Any) -> str:
        """The `Link` header to the next page: this URL and host with a new cursor (the client follows it verbatim)."""
        query = [(key, value) for key, value in self.query if key != "cursor"]
        query.append(("cursor", encode_cursor(cursor)))
        return f'<{self.base_url}{self.path}?{urlencode(query)}>; rel="next"'


def encode_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


def decode_cursor(text: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(text.encode()))
    except ValueError as error:
        raise HubError(400, "Invalid cursor") from error


def requested_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive (first, last) byte range asked for, or None for the whole file.

    A malformed or multi-range header is ignored (RFC 9110 lets a server answer 200); a range starting past the
    end is unsatisfiable (416).
    """
    match = RANGE_PATTERN.match((header or "").strip())
    if match is None or match.groups() == ("", ""):
        return None
    first_text, last_text = match.groups()
    if first_text == "":
        first, last = max(0, size - int(last_text)), size - 1
        if int(last_text) == 0:
            first = size
    else:
        first, last = int(first_text), min(int(last_text), size - 1) if last_text else size - 1
    if first >= size or last < first:
        raise HubError(416, "Requested Range Not Satisfiable", headers={"Content-Range": f"bytes */{size}"})
    return first, last


@dataclass
class Stats:
    """Request counts per route kind and per status, and the response body bytes served (HEAD: none)."""

    requests: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    bytes_sent: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, status: int, sent: int) -> None:
        with self._lock:
            self.requests[kind] += 1
            self.statuses[str(status)] += 1
            self.bytes_sent += sent

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total_requests": sum(self.requests.values()),
                "bytes_sent": self.bytes_sent,
                "requests": dict(self.requests),
                "statuses": dict(self.statuses),
            }

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.statuses.clear()
            self.bytes_sent = 0


def route_kind(method: str, segments: list[str]) -> str:
    """What a request is, for statistics and rate-limit buckets."""
    if segments[:2] == ["api", "whoami-v2"] and len(segments) == 2:
        return "whoami"
    if segments[:2] == ["api", "models"]:
        rest = segments[2:]
        if not rest or rest == [""]:
            return "list_models"
        if len(rest) == 2 or (len(rest) == 4 and rest[2] == "revision"):
            return "model_info"
        if len(rest) >= 4 and rest[2] == "tree":
            return "tree"
        if len(rest) >= 3 and rest[2] == "discussions":
            return "discussions"
    if len(segments) >= 5 and segments[2] == "resolve":
        return "resolve_head" if method == "HEAD" else "resolve_get"
    return "other"


def rate_limit_bucket(kind: str, segments: list[str]) -> str | None:
    if kind.startswith("resolve"):
        return "resolvers"
    return "api" if segments[0] == "api" else None


class HubApp:
    """Routing and the Hub's semantics; `Emulator` wraps it in an HTTP server."""

    def __init__(self, root: Path, tokens: dict[str, str], faults: Faults, page_size: int) -> None:
        self.repos = RepoStore(root)
        self.discussions = DiscussionStore(root / ".emulator" / "discussions")
        self.tokens = tokens
        self.faults = FaultInjector(faults)
        self.stats = Stats()
        self.page_size = min(page_size, MAX_PAGE_SIZE)

    # -- entry point ----------------------------------------------------------------------------------------------

    def respond(self, method: str, target: str, headers: Message, body: bytes, base_url: str) -> tuple[str, Response]:
        """The response to one request and its route kind ("admin" requests are neither faulted nor counted)."""
        parts = urlsplit(target)
        query = parse_qsl(parts.query, keep_blank_values=True)
        segments = parts.path.strip("/").split("/")
        if segments[0] == "_emulator":
            request = Request(method, parts.path, query, headers, body, None, base_url)
            return "admin", self._admin(request)
        kind = route_kind(method, segments)
        self.faults.sleep()
        bucket = rate_limit_bucket(kind, segments)
        limit = self.faults.take(bucket) if bucket else None
        try:
            if limit is not None and limit.exceeded:
                raise HubError(
                    429,
                    f"We had to rate limit you, you hit the quota of {limit.quota} {bucket} requests per "
                    f"{limit.window_seconds} seconds period. Retry after {limit.reset_in} seconds.",
                    headers={"Retry-After": str(limit.reset_in)},
                )
            injected = self.faults.pick_error()
            if injected is not None:
                raise HubError(injected, "Internal Error - We're working hard to fix this as soon as possible!")
            request = Request(method, parts.path, query, headers, body, self._user(headers), base_url)
            response = self._route(kind, request)
        except HubError as error:
            response = error_response(error)
        except Exception as error:
            # A broken fixture (say an unparsable .hub.json) should fail the client's call with a readable message,
            # not drop the connection.
            response = error_response(HubError(500, f"Emulator error: {error!r}"))
        if limit is not None:
            response.headers.update(limit.headers())
        return kind, response

    def _user(self, headers: Message) -> str | None:
        authorization = headers.get("Authorization")
        if authorization is None:
            return None
        scheme, _, token = authorization.partition(" ")
        user = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            raise HubError(401, INVALID_CREDENTIALS)
        return user

    def _route(self, kind: str, request: Request) -> Response:
        handlers: dict[str, Callable[[Request], Response]] = {
            "whoami": self._whoami,
            "list_models": self._list_models,
            "model_info": self._model_info,
            "tree": self._tree,
            "discussions": self._discussions,
            "resolve_head": self._resolve,
            "resolve_get": self._resolve,
        }
        handler = handlers.get(kind)
        if handler is None:
            raise HubError(404, "Sorry, we can't find the page you are looking for.")
        allowed = ("GET", "POST") if kind == "discussions" else ("GET", "HEAD")
        if request.method not in allowed:
            raise HubError(405, f"Method {request.method} not allowed", headers={"Allow": ", ".join(allowed)})
        return handler(request)

    # -- access rules ---------------------------------------------------------------------------------------------

    def _visible_repo(self, request: Request, owner: str, name: str) -> Repo:
        """The repo if its metadata is visible to the caller: private repos only to members."""
        repo = self.repos.get(f"{unquote(owner)}/{unquote(name)}")
        if repo is None or (repo.settings.private and not repo.is_member(request.user)):
            raise repo_not_found()
        return repo

    def _check_content_access(self, repo: Repo, user: str | None) -> None:
        """Files of gated repos need membership; disabled repos serve no content at all."""
        if repo.settings.disabled:
            raise HubError(403, DISABLED_MESSAGE)
        if repo.settings.gated and not repo.is_member(user):
            if user is None:
                message = (
                    f"Access to model {repo.repo_id} is restricted. You must have access to it and be authenticated "
                    "to access it. Please log in."
                )
                raise HubError(401, message, "GatedRepo")
            message = f"Access to model {repo.repo_id} is restricted and you are not in the authorized list."
            raise HubError(403, message, "GatedRepo")

    def _check_revision(self, repo: Repo, revision: str) -> None:
        """`main`, the current sha, or `refs/pr/N` of an existing pull request; older shas are gone."""
        if revision in (*MAIN_REVISIONS, repo.sha):
            return
        pull_request = PR_REVISION.match(revision)
        if pull_request is not None:
            record = self.discussions.get(repo.repo_id, int(pull_request.group(1)))
            if record is not None and record["isPullRequest"]:
                return
        raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")

    # -- endpoints ------------------------------------------------------------------------------------------------

    def _whoami(self, request: Request) -> Response:
        if request.user is None:
            raise HubError(401, "Invalid username or password.")
        return json_response(
            {
                "type": "user",
                "id": discussions.user_json(request.user)["_id"],
                "name": request.user,
                "fullname": request.user,
                "orgs": [],
                "auth": {"type": "access_token", "accessToken": {"displayName": "emulator", "role": "write"}},
            }
        )

    def _model_info(self, request: Request) -> Response:
        _, _, owner, name, *revision = request.segments
        repo = self._visible_repo(request, owner, name)
        if revision:
            self._check_revision(repo, unquote(revision[1]))
        expand = self._expand(request)
        names = expand or MODEL_INFO_DEFAULT
        # Sizes, blob ids and LFS details only with blobs=true (`model_info(files_metadata=True)`), never via expand.
        return json_response(self._model_json(repo, names, detailed_siblings=request.flag("blobs")))

    def _list_models(self, request: Request) -> Response:
        sort = request.param("sort") or "lastModified"
        if sort not in SORT_KEYS:
            raise HubError(400, f"Invalid sort parameter: {sort}")
        page_size = min(self._positive_int(request.param("limit"), default=self.page_size), self.page_size)
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

    def _tree(self, request: Request) -> Response:
        _, _, owner, name, _, revision, *path = request.segments
        repo = self._visible_repo(request, owner, name)
        if repo.settings.disabled:
            raise HubError(403, DISABLED_MESSAGE)
        self._check_revision(repo, unquote(revision))
        directory = "/".join(unquote(part) for part in path).strip("/")
        entries = repo.tree(directory, recursive=request.flag("recursive"))
        if entries is None:
            raise HubError(404, f"Entry not found: {directory}", "EntryNotFound", {"X-Repo-Commit": repo.sha})
        cursor = request.param("cursor")
        start = int(decode_cursor(cursor)) if cursor is not None else 0
        page = entries[start : start + self.page_size]
        headers = {"X-Repo-Commit": repo.sha}
        if start + self.page_size < len(entries):
            headers["Link"] = request.next_link(start + self.page_size)
        return json_response([tree_entry_json(entry) for entry in page], headers=headers)

    def _resolve(self, request: Request) -> Response:
        owner, name, _, revision, *path = request.segments
        repo = self._visible_repo(request, owner, name)
        self._check_content_access(repo, request.user)
        self._check_revision(repo, unquote(revision))
        filename = "/".join(unquote(part) for part in path)
        repo_file = repo.file(filename)
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

    def _discussions(self, request: Request) -> Response:
        _, _, owner, name, _, *rest = request.segments
        repo = self._visible_repo(request, owner, name)
        if not rest:
            if request.method == "GET":
                return self._list_discussions(request, repo)
            return self._create_discussion(request, repo)
        record = self.discussions.get(repo.repo_id, int(rest[0])) if rest[0].isdigit() else None
        if record is None:
            raise HubError(404, f"Discussion {rest[0]} not found")
        action = (request.method, rest[1:])
        if action == ("GET", []):
            return json_response(discussions.details_json(record, repo.repo_id))
        if action == ("POST", ["comment"]):
            return self._comment(request, repo, record)
        if action == ("POST", ["status"]):
            return self._change_status(request, repo, record)
        raise HubError(404, "Sorry, we can't find the page you are looking for.")

    def _list_discussions(self, request: Request, repo: Repo) -> Response:
        kind = request.param("type") or "all"
        status = request.param("status") or "all"
        author = request.param("author")
        selected = [
            record
            for record in self.discussions.all(repo.repo_id)
            if discussions.matches(record, kind=kind, status=status, author=author)
        ]
        start = self._positive_int(request.param("p"), default=0, minimum=0) * discussions.PAGE_SIZE
        page = selected[start : start + discussions.PAGE_SIZE]
        return json_response(
            {
                "discussions": [discussions.summary_json(record, repo.repo_id) for record in page],
                "count": len(selected),
                "start": start,
            }
        )

    def _writer(self, request: Request, repo: Repo) -> str:
        """The authenticated user allowed to write to this repo's community tab."""
        if request.user is None:
            raise HubError(401, "You must be authenticated to do that.")
        if repo.settings.disabled:
            raise HubError(403, DISABLED_MESSAGE)
        if repo.settings.discussions_disabled:
            raise HubError(403, "Discussions are disabled for this repo")
        return request.user

    def _create_discussion(self, request: Request, repo: Repo) -> Response:
        author = self._writer(request, repo)
        body = request.json()
        title = str(body.get("title") or "").strip()
        if not title:
            raise HubError(400, "Title is required")
        record = self.discussions.create(
            repo.repo_id,
            author=author,
            title=title,
            description=str(body.get("description") or ""),
            pull_request=bool(body.get("pullRequest", False)),
        )
        return json_response(discussions.summary_json(record, repo.repo_id))

    def _comment(self, request: Request, repo: Repo, record: dict[str, Any]) -> Response:
        author = self._writer(request, repo)
        text = str(request.json().get("comment") or "")
        if not text.strip():
            raise HubError(400, "Comment cannot be empty")
        event = discussions.comment_event(author, text)
        self.discussions.append(repo.repo_id, record["num"], [event])
        return json_response({"newMessage": event})

    def _change_status(self, request: Request, repo: Repo, record: dict[str, Any]) -> Response:
        author = self._writer(request, repo)
        body = request.json()
        status = body.get("status")
        if status not in ("open", "closed"):
            raise HubError(400, f"Invalid status: {status}")
        if author not in (record["author"], repo.owner):
            raise HubError(403, "Only the author of the discussion or the repo owner can change its status")
        if record["status"] == status:
            raise HubError(400, f"Discussion is already {status}")
        events = [discussions.comment_event(author, body["comment"])] if body.get("comment") else []
        events.append(discussions.status_event(author, status))
        self.discussions.append(repo.repo_id, record["num"], events, status=status)
        return json_response({"newStatus": events[-1]})

    # -- admin ----------------------------------------------------------------------------------------------------

    def _admin(self, request: Request) -> Response:
        action = (request.method, request.segments[1:])
        if action == ("GET", ["stats"]):
            return json_response(self.stats.snapshot())
        if action == ("POST", ["reset-stats"]):
            self.stats.reset()
            return json_response(self.stats.snapshot())
        if action == ("POST", ["config"]):
            try:
                faults = self.faults.faults.merged(request.json())
            except (TypeError, ValueError) as error:
                return error_response(HubError(400, str(error)))
            self.faults.configure(faults)
            return json_response({"faults": faults.to_json()})
        return error_response(HubError(404, "Unknown admin endpoint"))

    # -- helpers --------------------------------------------------------------------------------------------------

    def _expand(self, request: Request) -> list[str]:
        expand = request.params("expand")
        unknown = sorted(set(expand) - KNOWN_EXPAND)
        if unknown:
            raise HubError(400, f'"expand" must be one of {sorted(KNOWN_EXPAND)}, got {unknown}')
        return expand

    @staticmethod
    def _positive_int(text: str | None, *, default: int, minimum: int = 1) -> int:
        if text is None:
            return default
        if not text.isdigit() or int(text) < minimum:
            raise HubError(400, f"Invalid integer parameter: {text}")
        return int(text)

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


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps connections alive: the client's pooled connections matter for crawler throughput.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without TCP_NODELAY, delayed ACKs add ~40 ms to each response.
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the emulator runs inside tests and `hublint demo`."""

    def _serve(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        host = self.headers.get("Host") or f"{self.server.server_address[0]}:{self.server.server_address[1]}"
        app = self.server.app
        kind, response = app.respond(self.command, self.path, self.headers, body, f"http://{host}")
        if kind != "admin":
            # Counted before sending: a client that reads stats right after its last response must see that response.
            app.stats.record(kind, response.status, 0 if self.command == "HEAD" else response.length)
        try:
            self._send(response)
        except (BrokenPipeError, ConnectionResetError):
            # The client stopped reading (e.g. it had all the header bytes it needed); drop the connection.
            self.close_connection = True

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(response.length))
        self.end_headers()
        if self.command == "HEAD":
            return
        if isinstance(response.body, bytes):
            self.wfile.write(response.body)
        else:
            self._stream(response.body)

    def _stream(self, body: FileBody) -> None:
        remaining = body.length
        with open(body.location, "rb") as handle:
            handle.seek(body.start)
            while remaining > 0:
                chunk = handle.read(min(STREAM_CHUNK, remaining))
                if not chunk:
                    break
                self.wfile.write(chunk)
                remaining -= len(chunk)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # a concurrent crawler opens many connections at once

    def __init__(self, address: tuple[str, int], app: HubApp) -> None:
        self.app = app
        super().__init__(address, _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that hangs up mid-response (a capped range read, a killed crawler) is normal, not news.
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


class Emulator:
    """The Hub emulator: `start()` serves `root` on a background thread at `url` until `stop()`."""

    def __init__(
        self,
        root: Path,
        tokens: dict[str, str] | None = None,
        faults: Faults | None = None,
        *,
        page_size: int = MAX_PAGE_SIZE,
    ) -> None:
        self.root = Path(root)
        self._app = HubApp(self.root, dict(tokens or {}), faults or Faults(), page_size)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Emulator:
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        self._server = _Server((host, port), self._app)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="hub-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    def set_faults(self, faults: Faults) -> None:
        self._app.faults.configure(faults)

    def stats(self) -> dict[str, Any]:
        return self._app.stats.snapshot()

    def reset_stats(self) -> None:
        self._app.stats.reset()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
