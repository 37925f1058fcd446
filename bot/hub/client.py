"""`HubClient`: one Hub endpoint, one token policy, every request through the one transport (`transport.py`).

It resolves the token and sends it to the endpoint's origin only, and maps the Hub's error answers to typed,
one-line `HubError`s (`hublint.errors`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import httpx2
from huggingface_hub import constants, get_token
from huggingface_hub.errors import (
    DisabledRepoError,
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import build_hf_headers, hf_raise_for_status

from hublint import __version__
from hublint.errors import (
    HubAuthError,
    HubError,
    HubGated,
    HubNotFound,
    HubRateLimited,
    HubRepoNotFound,
    HubUnavailable,
)
from hublint.hub.transport import (
    DEFAULT_LIMIT,
    LIMIT,
    Deadline,
    HubTransport,
    RateLimitGate,
    Retry,
    Timeouts,
    host,
)
from hublint.lint import Stats
from hublint.rules.numbers import loads

if TYPE_CHECKING:
    from hublint.hub.repo import HubRepo

PUBLIC_HUB = "https://huggingface.co"
MAX_REDIRECTS = 5  # the Hub redirects once (to its CDN); a loop ends here, as one line


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


@dataclass(frozen=True)
class Fetched:
    status_code: int
    headers: Mapping[str, str]
    content: bytes
    url: str
    next_page: str | None = None  # the `Link: <URL>; rel="next"` of a paginated answer (the Hub's cursor pages)

    def json(self, what: str) -> Any:
        """The body as JSON, or a one-line HubError saying what came instead."""
        try:
            return loads(self.content)
        except (ValueError, RecursionError):
            kind = "an HTML page" if self.content.lstrip()[:1] == b"<" else "something that is not JSON"
            raise HubError(f"{host(self.url)} answered {what} with {kind}: is it a Hub?") from None

    def json_object(self, what: str) -> dict[str, Any]:
        data = self.json(what)
        if not isinstance(data, dict):
            raise HubError(f"{host(self.url)} answered {what} with JSON that is not an object: is it a Hub?")
        return data


class HubClient:
    def __init__(
        self,
        endpoint: str | None = None,
        token: str | bool | None = None,
        *,
        timeouts: Timeouts | None = None,
        retry: Retry | None = None,
        transport: httpx2.BaseTransport | None = None,
        gate: RateLimitGate | None = None,
        deadline: Deadline | None = None,
    ) -> None:
        self.endpoint = (endpoint or default_endpoint()).rstrip("/")
        self.stats = Stats()
        self.retry = retry or Retry()
        self.deadline = deadline or Deadline()
        self._token = resolve_token(token, self.endpoint)
        self.gate = gate or RateLimitGate(max_wait=self.retry.max_wait)  # shared by a crawl's clients: see listing
        wire = HubTransport(
            transport or httpx2.HTTPTransport(),
            self.stats,
            gate=self.gate,
            retry=self.retry,
            timeouts=timeouts or Timeouts(),
            deadline=self.deadline,
        )
        # Redirects (to a CDN) are followed; httpx drops Authorization when the origin changes.
        self._http = httpx2.Client(transport=wire, follow_redirects=True, max_redirects=MAX_REDIRECTS)

    @property
    def authenticated(self) -> bool:
        return self._token is not None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(
        self,
        url: str,
        *,
        what: str,
        limit: int = DEFAULT_LIMIT,
        params: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Fetched:
        """GET at most `limit` body bytes (a server that ignores Range never makes us read a whole file)."""
        return self.send("GET", url, what=what, limit=limit, params=params, headers=headers)

    def send(
        self,
        method: str,
        url: str,
        *,
        what: str,
        limit: int = DEFAULT_LIMIT,
        params: Any = None,
        headers: Mapping[str, str] | None = None,
        payload: Any = None,
        content: bytes | None = None,
    ) -> Fetched:
        """One request through the transport (counted, paced, retried if idempotent); HubError for any failure.

        The body is `payload` as JSON, or `content` as given (say NDJSON, with its Content-Type in `headers`)."""
        try:
            with self._http.stream(
                method,
                url,
                params=params,
                json=payload,
                content=content,
                headers=self._headers(url, headers),
                extensions={LIMIT: limit},
            ) as response:
                content = _read_capped(response, limit)
                # httpx parses Link as huggingface_hub's `paginate` reads it
                next_page = response.links.get("next", {}).get("url") or None
                fetched = Fetched(response.status_code, response.headers, content, url, next_page)
        except httpx2.TooManyRedirects:
            raise HubError(f"{what}: {host(url)} redirects in a loop") from None
        except httpx2.RequestError as exc:  # an invalid URL, a bad gzip body: the transport's own are HubErrors
            raise HubUnavailable(f"{what}: {host(url)}: {type(exc).__name__} {exc}".strip()) from None
        if fetched.status_code >= 400:
            raise hub_error(fetched, what)
        return fetched

    def _headers(self, url: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        # The token goes to the endpoint's origin only: a Link header or any URL built from a server's answer may
        # name another host, and httpx drops Authorization only on redirects.
        token = self._token if origin(url) == origin(self.endpoint) else None
        headers = build_hf_headers(token=token or False, library_name="hublint", library_version=__version__)
        headers.update(extra or {})
        return headers

    def model_info_json(self, repo_id: str, revision: str | None) -> dict[str, Any]:
        path = f"/api/models/{repo_id}" + (f"/revision/{quote(revision, safe='')}" if revision else "")
        data = self.get(self.endpoint + path, what=repo_id, params={"blobs": "true"}).json_object(path)
        if not isinstance(data.get("sha"), str):
            raise HubError(f"{host(self.endpoint)} answered {path} with no commit sha: is it a Hub?")
        return data

    def open_repo(self, repo_id: str, revision: str | None = None) -> HubRepo:
        from hublint.hub.repo import HubRepo

        return HubRepo.from_model_info(self, repo_id, revision, self.model_info_json(repo_id, revision))


def hub_error(response: Fetched, what: str) -> HubError:
    """The Hub's error answer as one typed line (huggingface_hub's own classification of its error codes)."""
    status, body, server = response.status_code, response.content, host(response.url)
    explanation = None
    if status == 401 and "Invalid credentials" in body.decode("utf-8", "ignore"):
        return HubAuthError(f"the Hub refused the token (HTTP {status}): check --token / HF_TOKEN", status=status)
    try:
        hf_raise_for_status(
            httpx2.Response(status, headers=response.headers, content=body, request=httpx2.Request("GET", response.url))
        )
    except GatedRepoError:
        return HubGated(f"{what} is gated: accept its conditions on the Hub and pass a token (HTTP {status})")
    except RevisionNotFoundError:
        return HubNotFound(f"{what}: revision not found (HTTP {status})", status=status)
    except EntryNotFoundError:
        return HubNotFound(f"{what}: file not found (HTTP {status})", status=status)
    except DisabledRepoError:
        return HubNotFound(f"{what}: repository disabled (HTTP {status})", status=status)
    except RepositoryNotFoundError:
        return HubRepoNotFound(f"{what}: repository not found, or private (HTTP {status})", status=status)
    except HfHubHTTPError as exc:
        explanation = (exc.server_message or "").strip().splitlines()[0:1]
    detail = {"status": status, "server_message": explanation[0] if explanation else None}
    if status in (401, 403):
        return HubAuthError(f"{what}: access refused (HTTP {status}); check --token / HF_TOKEN", **detail)
    if status == 429:
        return HubRateLimited(f"{what}: rate limited by {server} (HTTP 429); try again later", **detail)
    if status >= 500 or status == 408:
        return HubUnavailable(f"{what}: HTTP {status} from {server}", **detail)
    return HubError(f"{what}: HTTP {status} from {server}", **detail)


def _read_capped(response: httpx2.Response, limit: int) -> bytes:
    """Decoded bytes, capped again after decoding: a gzip bomb within the wire limit still stops here."""
    chunks, total = [], 0
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        total += len(chunk)
        if total >= limit:
            break
    return b"".join(chunks)[:limit]


def origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    try:
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    except ValueError:  # a port that is not a number: an origin of its own, equal to nothing valid
        return parts.scheme.lower(), parts.netloc
    return parts.scheme.lower(), f"{(parts.hostname or '').lower()}:{port}"
