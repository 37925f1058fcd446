"""Deterministic fault injection: latency, random 5xx, the Hub's fixed-window rate limits, and a hostile mode.

The rate-limit headers follow the Hub (IETF draft-ietf-httpapi-ratelimit-headers v9, see research/hub.md §3):
``RateLimit: "api";r=<remaining>;t=<seconds to reset>`` and
``RateLimit-Policy: "fixed window";"api";q=<quota>;w=<window>``.

The hostile mode (`Hostile`) makes the requests of one path or repo misbehave the way broken servers, proxies and
CDNs do, so the client's defences can be tested end to end: see `HOSTILE_MODES`.
"""

from __future__ import annotations

import fnmatch
import json
import math
import random
import threading
import time
from dataclasses import asdict, dataclass, replace
from typing import Any

from hublint.emulator.http import FileBody, Response, json_response

INJECTED_STATUSES = (500, 502, 503)
HOSTILE_MODES = {
    "status": "answer `status` (401, 403, 404, 429...) with the Hub's JSON error, and `retry_after` if set",
    "html_error": "answer `status` with an HTML page, as a proxy or CDN in front of the Hub does",
    "redirect_loop": "answer 302 to the very same URL, forever",
    "huge_json": "answer 200 with a valid JSON object of `size` bytes",
    "wrong_content_range": "a range answer whose Content-Range names other bytes and another total",
    "ignore_range": "answer a range request with 200 and the whole file",
    "truncate": "announce the whole body in Content-Length, send half of it and close the connection",
    "trickle": "send the body 64 bytes at a time, `delay` seconds apart",
}
HTML_ERROR_PAGE = (
    "<html>\r\n<head><title>{status} Error</title></head>\r\n<body>\r\n<center><h1>{status} Error</h1></center>"
    "\r\n<hr><center>cloudfront</center>\r\n</body>\r\n</html>\r\n"
)


@dataclass(frozen=True)
class Hostile:
    """One misbehaviour for every request whose URL path matches `path`: an fnmatch pattern such as
    ``*/adapter_config.json``, or ``*/owner/name`` (the repo's API paths and files alike, see `for_repo`)."""

    path: str
    mode: str
    status: int = 503  # "status", "html_error"
    retry_after: str | None = None  # "status": the Retry-After header, sent as is (it may be junk on purpose)
    delay: float = 0.5  # "trickle"
    size: int = 8_000_000  # "huge_json"

    def __post_init__(self) -> None:
        if self.mode not in HOSTILE_MODES:
            raise ValueError(f"unknown hostile mode {self.mode!r}: one of {sorted(HOSTILE_MODES)}")

    @classmethod
    def for_repo(cls, repo_id: str, mode: str, **settings: Any) -> Hostile:
        return cls(f"*/{repo_id}", mode, **settings)

    def matches(self, path: str) -> bool:
        return fnmatch.fnmatchcase(path, self.path) or fnmatch.fnmatchcase(path, self.path + "/*")

    def answer(self, target: str) -> Response | None:
        """The response sent instead of the Hub's, for the modes that do not need it; None for the others."""
        if self.mode == "status":
            headers = {"Retry-After": self.retry_after} if self.retry_after is not None else {}
            return json_response({"error": f"Injected {self.status}"}, self.status, headers)
        if self.mode == "html_error":
            page = HTML_ERROR_PAGE.format(status=self.status).encode()
            return Response(self.status, {"Content-Type": "text/html"}, page)
        if self.mode == "redirect_loop":
            return Response(302, {"Location": target, "Content-Type": "text/plain"}, b"Found. Redirecting")
        if self.mode == "huge_json":
            padding = "x" * max(0, self.size - len('{"padding": ""}'))
            return Response(200, {"Content-Type": "application/json"}, json.dumps({"padding": padding}).encode())
        return None

    def spoil(self, response: Response) -> None:
        """Damage the Hub's own response in place."""
        if self.mode == "truncate":
            response.truncate_at = response.length // 2
        elif self.mode == "trickle":
            response.trickle = self.delay
        elif response.status == 206 and isinstance(response.body, FileBody):
            first, last, total = _content_range(response.headers["Content-Range"])
            if self.mode == "wrong_content_range":
                response.headers["Content-Range"] = f"bytes {first + 16}-{last + 16}/{max(1, total // 2)}"
            elif self.mode == "ignore_range":
                response.status = 200
                del response.headers["Content-Range"]
                response.body = FileBody(response.body.location, 0, total)


def _content_range(header: str) -> tuple[int, int, int]:
    """(first, last, total) of the emulator's own ``bytes first-last/total``."""
    span, _, total = header.removeprefix("bytes ").partition("/")
    first, _, last = span.partition("-")
    return int(first), int(last), int(total)


@dataclass(frozen=True)
class Faults:
    """What the emulator does to every request before handling it.

    latency: seconds slept per request. error_rate: probability of an injected 500/502/503.
    rate_limit: (quota, window_seconds) applied separately to the "api" and "resolvers" buckets, or None.
    seed: seeds the error RNG so a sequential client sees the same faults on every run.
    hostile: per-path misbehaviours (`Hostile`); the first that matches a request applies.
    """

    latency: float = 0.0
    error_rate: float = 0.0
    rate_limit: tuple[int, float] | None = None
    seed: int = 0
    hostile: tuple[Hostile, ...] = ()

    def hostile_for(self, path: str) -> Hostile | None:
        """The first hostile rule for this URL path, if any."""
        return next((rule for rule in self.hostile if rule.matches(path)), None)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def merged(self, changes: dict[str, Any]) -> Faults:
        """A copy with the JSON fields in `changes` applied (the admin endpoint sends partial updates)."""
        unknown = set(changes) - set(asdict(self))
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        fields = dict(changes)
        if fields.get("rate_limit") is not None:
            quota, window = fields["rate_limit"]
            fields["rate_limit"] = (int(quota), float(window))
        if "hostile" in fields:
            fields["hostile"] = tuple(Hostile(**rule) for rule in fields["hostile"] or ())
        return replace(self, **fields)


@dataclass(frozen=True)
class RateLimitState:
    """One bucket's state as seen by one request (after counting it)."""

    bucket: str
    quota: int
    window: float
    remaining: int
    reset_in: int
    exceeded: bool

    @property
    def window_seconds(self) -> int:
        return math.ceil(self.window)

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit": f'"{self.bucket}";r={self.remaining};t={self.reset_in}',
            "RateLimit-Policy": f'"fixed window";"{self.bucket}";q={self.quota};w={self.window_seconds}',
        }


@dataclass
class _Window:
    started: float
    used: int = 0


class FaultInjector:
    """Thread-safe state behind `Faults`: the seeded RNG and one fixed window per bucket."""

    def __init__(self, faults: Faults) -> None:
        self._lock = threading.Lock()
        self.configure(faults)

    def configure(self, faults: Faults) -> None:
        """Install new faults; restarts the RNG and the rate-limit windows so runs stay reproducible."""
        with self._lock:
            self.faults = faults
            self._rng = random.Random(faults.seed)
            self._windows: dict[str, _Window] = {}

    def sleep(self) -> None:
        if self.faults.latency > 0:
            time.sleep(self.faults.latency)

    def take(self, bucket: str) -> RateLimitState | None:
        """Count one request against `bucket`; None when no rate limit is configured."""
        with self._lock:
            if self.faults.rate_limit is None:
                return None
            quota, window = self.faults.rate_limit
            now = time.monotonic()
            current = self._windows.get(bucket)
            # A window starts with the first request after the previous one ran out, so a test gets a full window.
            if current is None or now >= current.started + window:
                current = self._windows[bucket] = _Window(started=now)
            current.used += 1
            reset_in = max(1, math.ceil(current.started + window - now))
            return RateLimitState(
                bucket=bucket,
                quota=quota,
                window=window,
                remaining=max(0, quota - current.used),
                reset_in=reset_in,
                exceeded=current.used > quota,
            )

    def pick_error(self) -> int | None:
        """The 5xx status to inject for this request, or None."""
        with self._lock:
            if self.faults.error_rate <= 0:
                return None
            if self._rng.random() >= self.faults.error_rate:
                return None
            return self._rng.choice(INJECTED_STATUSES)
