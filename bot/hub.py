"""The Hub edge: the only module that imports huggingface_hub.

One `HubClient` per endpoint: it resolves the token (and keeps it on that host), counts every request and
body byte, paces itself by the `RateLimit` headers, retries 429/5xx/timeouts with backoff, and maps the Hub's
errors to one-line `HubError`s. `HubRepo` reads one repository at one commit with range reads;
`HubBaseFacts` caches base-model facts in memory and on disk, keyed by the base's commit.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx2
from huggingface_hub import HfApi, ModelInfo, constants, get_token, hf_hub_url
from huggingface_hub.community import DiscussionComment
from huggingface_hub.errors import (
    DisabledRepoError,
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import build_hf_headers, hf_raise_for_status, parse_ratelimit_headers

from hublint import __version__
from hublint.lint import Stats
from hublint.rules.snapshot import BaseModelFacts, RepoFile
from hublint.snapshots import SMALL_FILE_LIMIT, build_base_facts

PUBLIC_HUB = "https://huggingface.co"
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
ERROR_BODY_LIMIT = 65_536


class HubError(Exception):
    """An operational failure (network, missing repo, refused token): one line, no traceback."""

    def __init__(self, message: str, kind: str = "error") -> None:
        super().__init__(message)
        self.kind = kind  # not_found | gated | revision | entry | auth | disabled | rate_limited | network | error


def default_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", PUBLIC_HUB).rstrip("/")


def resolve_token(explicit: str | bool | None, endpoint: str) -> str | None:
    """--token, else HF_TOKEN; the stored `hf auth login` token only for the public Hub it was issued by.

    `False` means no token at all (the demo's emulator must never receive a real one).
    """
    if isinstance(explicit, str) and explicit:
        return explicit
    if explicit is False or constants.HF_HUB_DISABLE_IMPLICIT_TOKEN:
        return None
    from_env = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    if from_env:
        return from_env
    return get_token() if endpoint == PUBLIC_HUB else None


class _CountingStream(httpx2.SyncByteStream):
    def __init__(self, inner: httpx2.SyncByteStream, stats: Stats, lock: threading.Lock) -> None:
        self._inner, self._stats, self._lock = inner, stats, lock

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            with self._lock:
                self._stats.bytes_downloaded += len(chunk)
            yield chunk

    def close(self) -> None:
        self._inner.close()


class _CountingTransport(httpx2.BaseTransport):
    """Counts every request on the wire (redirect hops included) and every body byte received."""

    def __init__(self, inner: httpx2.BaseTransport, stats: Stats) -> None:
        self._inner, self.stats, self._lock = inner, stats, threading.Lock()

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        with self._lock:
            self.stats.http_requests += 1  # attempts count too: a refused connection is still a request made
            self.stats.by_bucket[rate_limit_bucket(str(request.url))] += 1
        response = self._inner.handle_request(request)
        if response.status_code == 429:
            with self._lock:
                self.stats.rate_limited += 1
        response.stream = _CountingStream(response.stream, self.stats, self._lock)  # type: ignore[arg-type]
        return response

    def close(self) -> None:
        self._inner.close()


@dataclasses.dataclass
class Retry:
    attempts: int = 6  # 1 + 5 retries, as huggingface_hub's http_backoff
    max_wait: float = 30.0  # a longer Retry-After is reported, not slept through


@dataclasses.dataclass(frozen=True)
class Fetched:
    status_code: int
    headers: Mapping[str, str]
    content: bytes


class HubClient:
    def __init__(
        self,
        endpoint: str | None = None,
        token: str | bool | None = None,
        *,
        timeout: float = 20.0,
        retry: Retry | None = None,
        transport: httpx2.BaseTransport | None = None,
    ) -> None:
        self.endpoint = (endpoint or default_endpoint()).rstrip("/")
        self.stats = Stats()
        self.retry = retry or Retry()
        self._token = resolve_token(token, self.endpoint)
        self._transport = _CountingTransport(transport or httpx2.HTTPTransport(), self.stats)
        # Redirects (to a CDN) are followed; httpx drops Authorization when the origin changes.
        self._http = httpx2.Client(transport=self._transport, timeout=timeout, follow_redirects=True)
        self._exhausted: dict[str, float] = {}  # rate-limit bucket -> monotonic time its window resets

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _headers(self, url: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        # The token goes to the endpoint's origin only: a Link header or any URL built from a server's answer may
        # name another host, and httpx drops Authorization only on redirects.
        token = self._token if _origin(url) == _origin(self.endpoint) else None
        headers = build_hf_headers(token=token or False, library_name="hublint", library_version=__version__)
        headers.update(extra or {})
        return headers

    @contextmanager
    def _stream(self, method: str, url: str, headers: Mapping[str, str], params: Any) -> Iterator[httpx2.Response]:
        """One request with retries on 429/5xx/timeouts; yields a response whose body is not read yet."""
        for attempt in range(self.retry.attempts):
            self._wait_for_rate_limit(url)
            last = attempt == self.retry.attempts - 1
            try:
                with self._http.stream(method, url, headers=self._headers(url, headers), params=params) as response:
                    self._note_rate_limit(response)
                    if response.status_code in RETRY_STATUSES and not last:
                        wait = self._retry_wait(response, attempt)
                        _read_capped(response, ERROR_BODY_LIMIT)  # an error page is never read whole
                    else:
                        yield response
                        return
            except httpx2.TransportError as exc:
                if last or isinstance(exc, httpx2.ConnectError):  # nothing listens: retrying only delays the error
                    raise HubError(
                        f"{_host(url)} did not answer: {type(exc).__name__} {exc}".strip(), "network"
                    ) from None
                wait = _backoff(attempt)
            time.sleep(wait)

    def _retry_wait(self, response: httpx2.Response, attempt: int) -> float:
        retry_after = response.headers.get("Retry-After", "")
        wait = float(retry_after) if retry_after.strip().isdigit() else _backoff(attempt)
        if wait > self.retry.max_wait:
            raise HubError(
                f"{_host(str(response.url))} asks to wait {wait:.0f} s (HTTP {response.status_code}); try again later",
                "rate_limited",
            )
        return wait

    def _note_rate_limit(self, response: httpx2.Response) -> None:
        """The Hub sends `RateLimit: "resolvers";r=0;t=42` on every response: stop that bucket before a 429."""
        info = parse_ratelimit_headers(response.headers)
        if info is not None and info.remaining == 0:
            self._exhausted[info.resource_type] = time.monotonic() + info.reset_in_seconds

    def _wait_for_rate_limit(self, url: str) -> None:
        bucket = rate_limit_bucket(url)
        delay = self._exhausted.get(bucket, 0.0) - time.monotonic()
        if delay > self.retry.max_wait:
            raise HubError(
                f"the Hub's {bucket!r} rate limit is used up for {delay:.0f} s; try again later", "rate_limited"
            )
        if delay > 0:
            time.sleep(delay)

    def get(
        self, url: str, *, what: str, limit: int, params: Any = None, headers: Mapping[str, str] | None = None
    ) -> Fetched:
        """GET at most `limit` body bytes (a server that ignores Range never makes us read a whole file)."""
        with self._stream("GET", url, headers or {}, params) as response:
            if response.status_code >= 400:
                raise _hub_error(response, _read_capped(response, ERROR_BODY_LIMIT), what)
            return Fetched(response.status_code, response.headers, _read_capped(response, limit))

    def model_info(self, repo_id: str, revision: str | None) -> ModelInfo:
        path = f"/api/models/{repo_id}" + (f"/revision/{quote(revision, safe='')}" if revision else "")
        response = self.get(self.endpoint + path, what=repo_id, params={"blobs": "true"}, limit=50_000_000)
        data, error = _json(response)
        if data is None or not isinstance(data.get("sha"), str):
            raise HubError(f"{_host(self.endpoint)} answered {path} with {error or 'no commit sha'}: is it a Hub?")
        return ModelInfo(**data)

    def open_repo(self, repo_id: str, revision: str | None = None) -> HubRepo:
        info = self.model_info(repo_id, revision)
        target = repo_id + (f"@{revision}" if revision else "")
        return HubRepo(self, repo_id, str(info.sha), _files(info), _card(info), target)


class HubRepo:
    """One Hub repository pinned to one commit sha; implements bot.snapshots.RepoReader."""

    source = "hub"
    reads_are_cheap = False

    def __init__(
        self, client: HubClient, repo_id: str, sha: str, files: dict[str, RepoFile], card: Any, target: str
    ) -> None:
        self.client, self.repo_id, self.revision, self.files, self._card, self.target = (
            client,
            repo_id,
            sha,
            files,
            card,
            target,
        )

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


class HubBaseFacts:
    """Base-model facts, fetched once per base commit and shared by every adapter and run.

    On disk: `<sha>.json` holds the facts of one commit (immutable, kept forever); `ref-<revision>.json` remembers
    which commit a branch pointed at, trusted for REF_TTL so a warm lint needs no request for its base at all.
    """

    REF_TTL = 3600.0

    def __init__(self, client: HubClient, cache_dir: Path | None = None) -> None:
        self.client = client
        self.cache_dir = cache_dir
        self._memory: dict[tuple[str, str | None], BaseModelFacts] = {}

    def facts(self, model_id: str, revision: str | None) -> BaseModelFacts:
        key = (model_id, revision)
        if key not in self._memory:
            self._memory[key] = self._fetch(model_id, revision)
        return self._memory[key]

    def _fetch(self, model_id: str, revision: str | None) -> BaseModelFacts:
        known = self._read(self._path(model_id, _ref_name(revision)))
        if known and time.time() - known.get("checked", 0) < self.REF_TTL:
            cached = self._cached_facts(model_id, known.get("sha"))
            if cached is not None:
                return cached
        try:
            repo = self.client.open_repo(model_id, revision)
            self._write(self._path(model_id, _ref_name(revision)), {"sha": repo.revision, "checked": time.time()})
            facts = self._cached_facts(model_id, repo.revision) or build_base_facts(repo, model_id)
        except HubError as exc:
            status = {"not_found": "missing", "revision": "missing", "disabled": "missing", "gated": "gated"}
            return BaseModelFacts(model_id, revision, status=status.get(exc.kind, "error"), message=str(exc))
        if facts.available:
            self._write(self._path(model_id, facts.revision), facts_to_json(facts))
        return facts

    def _cached_facts(self, model_id: str, sha: object) -> BaseModelFacts | None:
        data = self._read(self._path(model_id, sha)) if isinstance(sha, str) else None
        try:
            return facts_from_json(data) if data else None
        except (ValueError, TypeError, KeyError):
            return None  # a damaged cache entry is refetched, never trusted

    def _path(self, model_id: str, name: str | None) -> Path | None:
        if self.cache_dir is None or not name:
            return None
        endpoint = hashlib.sha256(self.client.endpoint.encode()).hexdigest()[:12]
        return self.cache_dir / endpoint / model_id.replace("/", "--") / f"{name}.json"

    @staticmethod
    def _read(path: Path | None) -> dict[str, Any] | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8")) if path is not None and path.is_file() else None
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    @staticmethod
    def _write(path: Path | None, data: dict[str, Any]) -> None:
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.tmp")
            partial.write_text(json.dumps(data), encoding="utf-8")
            partial.replace(path)  # atomic: concurrent runs never see half a file
        except OSError:
            pass  # the cache is an optimisation; a read-only home must not fail the lint


def rate_limit_bucket(url: str) -> str:
    """The Hub's rate-limit bucket of a request: file downloads ("resolvers") or everything else ("api")."""
    return "resolvers" if "/resolve/" in url else "api"


def _ref_name(revision: str | None) -> str:
    return "ref-" + quote(revision or "main", safe="")


def facts_to_json(facts: BaseModelFacts) -> dict[str, Any]:
    data = dataclasses.asdict(facts)
    data["shapes"] = {k: list(v) for k, v in facts.shapes.items()}
    data["tokenizer_added_tokens"] = {str(k): v for k, v in facts.tokenizer_added_tokens.items()}
    return data


def facts_from_json(data: dict[str, Any]) -> BaseModelFacts:
    data = dict(data)
    data["shapes"] = {k: tuple(v) for k, v in data["shapes"].items()}
    data["tokenizer_added_tokens"] = {int(k): v for k, v in data["tokenizer_added_tokens"].items()}
    return BaseModelFacts(**data)


def _files(info: ModelInfo) -> dict[str, RepoFile]:
    return {s.rfilename: _repo_file(s) for s in info.siblings or []}


def _card(info: ModelInfo) -> dict[str, Any] | None:
    return info.card_data.to_dict() if info.card_data is not None else None


def _repo_file(sibling: Any) -> RepoFile:
    lfs = sibling.lfs
    size = sibling.size if sibling.size is not None else (lfs.size if lfs is not None else None)
    return RepoFile(
        path=sibling.rfilename,
        size=size,
        blob_id=(lfs.sha256 if lfs is not None else None) or sibling.blob_id,
        lfs_sha256=lfs.sha256 if lfs is not None else None,
    )


def _read_capped(response: httpx2.Response, limit: int) -> bytes:
    chunks, total = [], 0
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        total += len(chunk)
        if total >= limit:
            break
    return b"".join(chunks)[:limit]


def _total_size(response: Fetched) -> int | None:
    content_range = response.headers.get("Content-Range", "")
    total = content_range.rpartition("/")[2]
    if total.isdigit():
        return int(total)
    linked = response.headers.get("X-Linked-Size", "")
    return int(linked) if linked.isdigit() else None


def _json(response: Fetched) -> tuple[dict[str, Any] | None, str | None]:
    try:
        data = json.loads(response.content)
    except (ValueError, RecursionError):
        kind = "an HTML page" if response.content.lstrip()[:1] == b"<" else "something that is not JSON"
        return None, kind
    return (data, None) if isinstance(data, dict) else (None, "JSON that is not an object")


def _hub_error(response: httpx2.Response, body: bytes, what: str) -> HubError:
    response._content = body  # hf_raise_for_status reads .content of this streamed response
    status = response.status_code
    if status == 401 and "Invalid credentials" in body.decode("utf-8", "ignore"):
        return HubError(f"the Hub refused the token (HTTP {status}): check --token / HF_TOKEN", "auth")
    try:
        hf_raise_for_status(response)
    except GatedRepoError:
        return HubError(f"{what} is gated: accept its conditions on the Hub and pass a token (HTTP {status})", "gated")
    except RevisionNotFoundError:
        return HubError(f"{what}: revision not found (HTTP {status})", "revision")
    except EntryNotFoundError:
        return HubError(f"{what}: file not found (HTTP {status})", "entry")
    except DisabledRepoError:
        return HubError(f"{what}: repository disabled (HTTP {status})", "disabled")
    except RepositoryNotFoundError:
        return HubError(f"{what}: repository not found, or private (HTTP {status})", "not_found")
    except HfHubHTTPError:
        pass
    if status in (401, 403):
        return HubError(f"{what}: access refused (HTTP {status}); check --token / HF_TOKEN", "auth")
    if status == 429:
        return HubError(
            f"{what}: rate limited by {_host(str(response.url))} (HTTP 429); try again later", "rate_limited"
        )
    return HubError(f"{what}: HTTP {status} from {_host(str(response.url))}", "error")


def _backoff(attempt: int) -> float:
    return min(8.0, 0.5 * 2**attempt) * (0.5 + random.random() / 2)


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    try:
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    except ValueError:  # a port that is not a number: an origin of its own, equal to nothing valid
        return parts.scheme.lower(), parts.netloc
    return parts.scheme.lower(), f"{(parts.hostname or '').lower()}:{port}"


# --- Listing ---
# The crawler's view of the Hub: the PEFT listing, whose entries carry each repo's sha and files, so an unchanged
# repo costs no request and a changed one is linted without a model_info request.

LISTING_EXPAND = ("sha", "lastModified", "siblings", "cardData", "gated", "disabled")
LISTING_PAGE_SIZE = 1000
LISTING_PAGE_BYTES = 200_000_000  # a page of 1000 entries with siblings and cards is a few MB; never unbounded


@dataclasses.dataclass(frozen=True)
class ListedRepo:
    """One entry of the listing: the repo at one commit, with its files and card as the listing described them."""

    repo_id: str
    sha: str
    last_modified: str | None  # the Hub's ISO 8601 timestamp, as sent
    gated: bool
    disabled: bool
    files: Mapping[str, RepoFile]
    card: dict[str, Any] | None
    entry: Mapping[str, Any]  # the raw JSON entry: a store keeps it so any worker can lint the repo later

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any]) -> ListedRepo | None:
        """None for an entry without an id or sha (nothing to pin a lint to)."""
        if not isinstance(entry.get("id"), str) or not isinstance(entry.get("sha"), str):
            return None
        try:
            info = ModelInfo(**entry)
        except (TypeError, ValueError, KeyError):
            return None
        last_modified = entry.get("lastModified")
        return cls(
            repo_id=info.id,
            sha=str(info.sha),
            last_modified=last_modified if isinstance(last_modified, str) else None,
            gated=bool(info.gated),
            disabled=bool(info.disabled),
            files=_files(info),
            card=_card(info),
            entry=entry,
        )

    def open(self, client: HubClient) -> HubRepo:
        """A reader pinned to the listed sha: no model_info request."""
        return HubRepo(client, self.repo_id, self.sha, dict(self.files), self.card, self.repo_id)


def list_adapters(
    client: HubClient, *, page_size: int = LISTING_PAGE_SIZE, author: str | None = None
) -> Iterator[list[ListedRepo]]:
    """The PEFT repos, most recently changed first, one page per (counted, retried, paced) request.

    Pages are fetched lazily: a caller that stops iterating (a --limit, a --since, a budget) requests no more.
    """
    url: str | None = client.endpoint + "/api/models"
    params: Any = {"filter": "peft", "sort": "lastModified", "expand": list(LISTING_EXPAND), "limit": page_size}
    if author is not None:
        params["author"] = author  # one user's or organisation's repos: `hublint crawl --author`, `report --author`
    while url is not None:
        response = client.get(url, what="the PEFT model listing", params=params, limit=LISTING_PAGE_BYTES)
        try:
            items = json.loads(response.content)
        except (ValueError, RecursionError):
            items = None
        if not isinstance(items, list):
            raise HubError(f"{_host(client.endpoint)} answered the model listing with something that is not a list")
        yield [listed for item in items if isinstance(item, dict) and (listed := ListedRepo.from_entry(item))]
        url, params = _next_link(response.headers.get("Link", "")), None  # the next link carries every parameter


def _next_link(header: str) -> str | None:
    for link in header.split(","):
        target, _, parameters = link.partition(";")
        if 'rel="next"' in parameters.replace(" ", ""):
            return target.strip().strip("<>")
    return None


class CrawlClients:
    """Makes the clients of one crawl, one per worker thread, each counting its own requests (exact per-repo stats).

    They share the rate-limit pauses (the Hub counts per token or IP, not per client) and one TLS set-up (parsing
    the CA bundle costs ~0.1 s of CPU per client). A bucket pauses while `reserve` requests remain, not at zero:
    with one request in flight per worker, waiting for `r=0` would send the others into a 429.
    """

    def __init__(self, endpoint: str | None, token: str | bool | None, *, reserve: int, retry: Retry) -> None:
        self.endpoint, self.token, self.reserve, self.retry = endpoint, token, reserve, retry
        self.exhausted: dict[str, float] = {}  # HubClient's bucket -> reset time, for all the clients
        self.tls = httpx2.create_ssl_context()

    def __call__(self) -> CrawlClient:
        return CrawlClient(self)


class CrawlClient(HubClient):
    def __init__(self, shared: CrawlClients) -> None:
        transport = httpx2.HTTPTransport(verify=shared.tls)
        super().__init__(shared.endpoint, shared.token, retry=shared.retry, transport=transport)
        self.reserve = shared.reserve
        self._exhausted = shared.exhausted  # HubClient._wait_for_rate_limit now waits on every worker's news

    def _note_rate_limit(self, response: httpx2.Response) -> None:
        info = parse_ratelimit_headers(response.headers)
        if info is not None and info.remaining <= self.reserve:
            resets = time.monotonic() + info.reset_in_seconds
            self._exhausted[info.resource_type] = max(self._exhausted.get(info.resource_type, 0.0), resets)


# --- Discussions ---
# A repo's community tab, through huggingface_hub's HfApi (research/hub.md §2.4). Nothing here is retried: the Hub
# does not say whether a create that failed was written, so the failure is reported and the next run finds any
# discussion that was written by listing the bot's own first.

OPEN_DISCUSSION_STATUSES = frozenset({"open", "draft"})


@dataclasses.dataclass(frozen=True)
class DiscussionMessage:
    author: str
    text: str  # raw Markdown, as posted


@dataclasses.dataclass(frozen=True)
class Discussion:
    num: int
    title: str
    status: str  # open | closed | merged | draft
    author: str
    messages: tuple[DiscussionMessage, ...] = ()  # from `HubDiscussions.details`: the opening post, then comments

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_DISCUSSION_STATUSES


class HubDiscussions:
    """Discussions on one Hub as the token's user; the user agent names hublint and its version."""

    def __init__(self, client: HubClient) -> None:
        self.endpoint = client.endpoint
        self._api = HfApi(
            endpoint=client.endpoint,
            token=client._token or False,  # never the implicit token: the client already chose which one may go here
            library_name="hublint",
            library_version=__version__,
        )

    @property
    def authenticated(self) -> bool:
        return bool(self._api.token)

    def whoami(self) -> str | None:
        """The token's user (None without a token); cached, as the Hub rate-limits /whoami-v2 strictly."""
        if not self._api.token:
            return None
        with _community_errors("whoami"):
            return str(self._api.whoami(cache=True)["name"])

    def list(self, repo_id: str, author: str | None = None) -> list[Discussion]:
        """Discussions and pull requests, newest first; `author` filters on the Hub's side."""
        with _community_errors(repo_id):
            return [
                Discussion(d.num, d.title, d.status, d.author)
                for d in self._api.get_repo_discussions(repo_id, author=author)
            ]

    def details(self, repo_id: str, num: int) -> Discussion:
        with _community_errors(f"{repo_id} discussion #{num}"):
            found = self._api.get_discussion_details(repo_id, num)
        messages = tuple(
            DiscussionMessage(event.author, event.content)
            for event in found.events
            if isinstance(event, DiscussionComment)
        )
        return Discussion(found.num, found.title, found.status, found.author, messages)

    def create(self, repo_id: str, title: str, body: str) -> int:
        with _community_errors(repo_id):
            return self._api.create_discussion(repo_id, title, description=body).num

    def comment(self, repo_id: str, num: int, body: str) -> None:
        with _community_errors(f"{repo_id} discussion #{num}"):
            self._api.comment_discussion(repo_id, num, body)

    def url(self, repo_id: str, num: int) -> str:
        return f"{self.endpoint}/{repo_id}/discussions/{num}"


@contextmanager
def _community_errors(what: str) -> Iterator[None]:
    try:
        yield
    except HfHubHTTPError as exc:
        raise _community_error(exc, what) from None
    except httpx2.TransportError as exc:
        raise HubError(f"{what}: the Hub did not answer: {type(exc).__name__} {exc}".strip(), "network") from None


def _community_error(exc: HfHubHTTPError, what: str) -> HubError:
    """401 bad token, 403 discussions disabled, 429 with its Retry-After, 5xx: one line each."""
    response = exc.response
    status = response.status_code
    if status == 403 and not isinstance(exc, DisabledRepoError):
        # The Hub's answer where the owner turned the community tab off: permanent for this repo, never retried.
        refusal = (exc.server_message or "forbidden").splitlines()[0]
        return HubError(f"{what}: the Hub refuses discussions there (HTTP 403: {refusal})", "discussions_disabled")
    if status == 429:
        retry_after = response.headers.get("Retry-After", "").strip()
        wait = f"retry after {retry_after} s" if retry_after.isdigit() else "try again later"
        return HubError(f"{what}: rate limited by {_host(str(response.url))} (HTTP 429); {wait}", "rate_limited")
    return _hub_error(response, response.content, what)
