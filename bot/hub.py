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
from huggingface_hub import ModelInfo, constants, get_token, hf_hub_url
from huggingface_hub.errors import (
    DisabledRepoError,
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import build_hf_headers, hf_raise_for_status, parse_ratelimit_headers

from bot import __version__
from bot.lint import Stats
from bot.snapshots import build_base_facts
from rules.snapshot import BaseModelFacts, RepoFile

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
        response = self._inner.handle_request(request)
        response.stream = _CountingStream(response.stream, self.stats, self._lock)  # type: ignore[arg-type]
        return response

    def close(self) -> None:
        self._inner.close()


@dataclasses.dataclass
class Retry:
    attempts: int = 4
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
        self._paused_until = 0.0

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = build_hf_headers(token=self._token or False, library_name="hublint", library_version=__version__)
        headers.update(extra or {})
        return headers

    @contextmanager
    def _stream(self, method: str, url: str, headers: Mapping[str, str], params: Any) -> Iterator[httpx2.Response]:
        """One request with retries on 429/5xx/timeouts; yields a response whose body is not read yet."""
        for attempt in range(self.retry.attempts):
            self._wait_for_rate_limit()
            last = attempt == self.retry.attempts - 1
            try:
                with self._http.stream(method, url, headers=self._headers(headers), params=params) as response:
                    self._note_rate_limit(response)
                    if response.status_code in RETRY_STATUSES and not last:
                        wait = self._retry_wait(response, attempt)
                        response.read()
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
        info = parse_ratelimit_headers(response.headers)
        if info is not None and info.remaining == 0:
            self._paused_until = max(
                self._paused_until, time.monotonic() + min(info.reset_in_seconds, self.retry.max_wait)
            )

    def _wait_for_rate_limit(self) -> None:
        delay = self._paused_until - time.monotonic()
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
        files = {s.rfilename: _repo_file(s) for s in info.siblings or []}
        card = info.card_data.to_dict() if info.card_data is not None else None
        target = repo_id + (f"@{revision}" if revision else "")
        return HubRepo(self, repo_id, str(info.sha), files, card, target)


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
        size = self.files[path].size
        return self.client.get(self._url(path), what=f"{self.repo_id}/{path}", limit=(size or 50_000_000) + 1).content

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
    except ValueError:
        kind = "an HTML page" if response.content.lstrip()[:1] == b"<" else "something that is not JSON"
        return None, kind
    return (data, None) if isinstance(data, dict) else (None, "JSON that is not an object")


def _hub_error(response: httpx2.Response, body: bytes, what: str) -> HubError:
    response._content = body  # hf_raise_for_status reads .content of this streamed response
    status = response.status_code
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
        if "Invalid credentials" in body.decode("utf-8", "ignore"):
            return HubError(f"the Hub refused the token (HTTP {status}): check --token / HF_TOKEN", "auth")
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
