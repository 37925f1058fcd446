"""The one HTTP stack for the Hub: an httpx2 transport that counts, paces, retries and keeps deadlines.

Every Hub request hublint makes (repo reads, base facts, the listing, discussions) goes through `HubTransport`:

- it counts each attempt on the wire (redirect hops included) and each body byte received;
- it waits on a shared `RateLimitGate` before sending, and tells the gate what each answer's `RateLimit` header says;
- it retries 408/429/5xx and dropped connections of idempotent requests with jittered backoff, honouring
  `Retry-After` up to `Retry.max_wait`; a server that stays silent is asked `Retry.silent_attempts` times only;
- it reads the body itself, at most `limit` bytes (a request extension), within the attempt's total deadline
  (connect + headers + body), so a server trickling one byte a second cannot hold a request; a timeout in the
  middle of a body is retried like any other;
- every wait and every attempt also ends at the command's `Deadline` (`--timeout`).
"""

from __future__ import annotations

import dataclasses
import math
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import urlsplit

import httpx2

from hublint.errors import BudgetSpent, HubRateLimited, HubTimeout, HubUnavailable
from hublint.lint import Stats
from hublint.rules.numbers import parse_float, parse_int

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
IDEMPOTENT = frozenset({"GET", "HEAD"})
LIMIT = "hublint.limit"  # request extension: the most body bytes to read
DEFAULT_LIMIT = 50_000_000
ERROR_BODY_LIMIT = 65_536  # an error page is never read whole
# `RateLimit: "api";r=0;t=42` (IETF draft, as the Hub sends it): ASCII digits only, parsed by hublint.rules.numbers.
_RATELIMIT = re.compile(r'"(?P<bucket>\w+)"\s*;\s*r\s*=\s*(?P<r>[0-9]+)\s*;\s*t\s*=\s*(?P<t>[0-9]+)', re.ASCII)
# `RateLimit-Policy: "fixed window";"api";q=1000;w=300`: the bucket's quota per window.
_POLICY = re.compile(r'"(?P<bucket>\w+)"\s*;\s*q\s*=\s*(?P<q>[0-9]+)\s*;\s*w\s*=\s*(?P<w>[0-9]+)', re.ASCII)


def rate_limit_bucket(url: str) -> str:
    """The Hub's rate-limit bucket of a request (hub-docs rate-limits.md): file downloads ("resolvers"), other
    API calls ("api"), web pages ("pages")."""
    path = urlsplit(url).path
    return "resolvers" if "/resolve/" in path else "api" if "/api/" in path else "pages"


@dataclasses.dataclass(frozen=True)
class Retry:
    attempts: int = 6  # 1 + 5 retries, as huggingface_hub's http_backoff
    max_wait: float = 30.0  # a longer Retry-After or rate-limit pause is reported, not slept through
    silent_attempts: int = 2  # a server that never answers costs two attempts, not six


@dataclasses.dataclass(frozen=True)
class Timeouts:
    connect: float = 10.0
    read: float = 20.0  # silence between two bytes
    request: float = 30.0  # one attempt in total: connect + headers + body


class Deadline:
    """The moment a whole command must be done by (`--timeout`); None: no limit."""

    def __init__(self, seconds: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds, self._clock = seconds, clock
        self._end = clock() + seconds if seconds is not None else math.inf

    def remaining(self) -> float:
        return self._end - self._clock()

    def check(self) -> None:
        if self.remaining() <= 0:
            raise self.expired()

    def expired(self) -> HubTimeout:
        return HubTimeout(f"gave up after {self.seconds:g} s (--timeout)")


class RateLimitGate:
    """Pauses shared by every client of one token: the Hub counts requests per token or IP, not per connection.

    A bucket closes while at most `reserve` requests remain in its window (with one request in flight per crawl
    worker, waiting for `r=0` would send the others into a 429). Every request passes here before it is sent, so
    the gate also counts them per bucket (`sent`), the pauses it made and the 429s, notes the quota the Hub
    announces (`RateLimit-Policy`), and refuses, with `BudgetSpent`, any request beyond a `budget` (per bucket,
    or "total"): a budget is never overshot, not even by the requests of a lint under way. Thread-safe.
    """

    def __init__(
        self, reserve: int = 0, max_wait: float = Retry.max_wait, budget: Mapping[str, int] | None = None
    ) -> None:
        self.reserve, self.max_wait = reserve, max_wait
        self.budget = dict(budget or {})
        self.sent: Counter[str] = Counter()
        self.quotas: dict[str, tuple[int, int]] = {}  # bucket -> (requests, window seconds), as the Hub says
        self.paused = 0  # times a request waited for its bucket's window to reset
        self.paused_seconds = 0.0
        self.refused = 0  # 429 answers
        self.spent = False
        self._lock = threading.Lock()
        self._reopens: dict[str, float] = {}  # bucket -> monotonic time its window resets

    def note(self, headers: httpx2.Headers, status: int = 200) -> None:
        """Read an answer's `RateLimit` headers; close its bucket until the reset when the window is used up."""
        policy = _POLICY.search(headers.get("RateLimit-Policy", ""))
        quota, window = (parse_int(policy["q"]), parse_int(policy["w"])) if policy else (None, None)
        match = _RATELIMIT.search(headers.get("RateLimit", ""))
        remaining, reset = (parse_int(match["r"]), parse_int(match["t"])) if match else (None, None)
        with self._lock:
            self.refused += status == 429
            if policy and quota is not None and window is not None:
                self.quotas[policy["bucket"]] = (quota, window)
            if match is None or remaining is None or reset is None or remaining > self.reserve:
                return
            bucket = match["bucket"]
            self._reopens[bucket] = max(self._reopens.get(bucket, 0.0), time.monotonic() + reset)

    def delay(self, bucket: str) -> float:
        with self._lock:
            return self._reopens.get(bucket, 0.0) - time.monotonic()

    def wait(self, url: str, deadline: Deadline) -> None:
        bucket = rate_limit_bucket(url)
        delay = self.delay(bucket)
        if delay > self.max_wait:
            raise HubRateLimited(f"the Hub's {bucket!r} rate limit is used up for {delay:.0f} s; try again later")
        if delay > 0:
            with self._lock:
                self.paused += 1
                self.paused_seconds += delay
            sleep_within(delay, deadline)
        self._take(bucket)

    def _take(self, bucket: str) -> None:
        with self._lock:
            for limited, used in ((bucket, self.sent[bucket]), ("total", sum(self.sent.values()))):
                if used >= self.budget.get(limited, math.inf):
                    self.spent = True
                    raise BudgetSpent(f"the request budget is spent ({used} {limited} requests)")
            self.sent[bucket] += 1


class HubTransport(httpx2.BaseTransport):
    def __init__(
        self,
        inner: httpx2.BaseTransport,
        stats: Stats,
        *,
        gate: RateLimitGate,
        retry: Retry,
        timeouts: Timeouts,
        deadline: Deadline,
    ) -> None:
        self._inner, self.stats, self.gate, self.retry = inner, stats, gate, retry
        self.timeouts, self.deadline = timeouts, deadline
        self._stats_lock = threading.Lock()

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        limit = request.extensions.get(LIMIT, DEFAULT_LIMIT)
        retryable = request.method in IDEMPOTENT  # a write may have been applied: never sent twice
        url = str(request.url)
        failures = silences = 0
        while True:
            self.gate.wait(url, self.deadline)
            try:
                response = self._attempt(request, limit)
            except httpx2.TimeoutException as exc:
                self.deadline.check()  # the command's deadline may be what cut this attempt short
                silences += 1
                if not retryable or silences >= self.retry.silent_attempts:
                    raise HubTimeout(f"{host(url)} did not answer in time ({_describe(exc)})") from None
                wait = backoff(failures + silences - 1)
            except httpx2.TransportError as exc:
                failures += 1
                nobody_listens = isinstance(exc, httpx2.ConnectError)  # retrying only delays the error
                if nobody_listens or not retryable or failures >= self.retry.attempts:
                    raise HubUnavailable(f"{host(url)} did not answer: {_describe(exc)}") from None
                wait = backoff(failures + silences - 1)
            else:
                self.gate.note(response.headers, response.status_code)
                if not retryable or response.status_code not in RETRY_STATUSES:
                    return response
                failures += 1
                if failures >= self.retry.attempts:
                    return response  # the caller maps the last answer to a typed error
                wait = self._retry_wait(response, failures - 1)
            sleep_within(wait, self.deadline)

    def _attempt(self, request: httpx2.Request, limit: int) -> httpx2.Response:
        """One attempt, body included, within the attempt's total deadline and the command's."""
        budget = min(self.timeouts.request, self.deadline.remaining())
        if budget <= 0:
            self.deadline.check()
        ends = time.monotonic() + budget
        request.extensions = {
            **request.extensions,
            "timeout": {
                "connect": min(self.timeouts.connect, budget),
                "read": min(self.timeouts.read, budget),
                "write": min(self.timeouts.read, budget),
                "pool": min(self.timeouts.connect, budget),
            },
        }
        with self._stats_lock:
            self.stats.http_requests += 1  # attempts count too: a refused connection is still a request made
        response = self._inner.handle_request(request)
        try:
            cap = limit if response.status_code < 400 else min(limit, ERROR_BODY_LIMIT)
            body = self._read(response.stream, cap, ends)  # type: ignore[arg-type]
        finally:
            response.close()
        return httpx2.Response(
            response.status_code,
            headers=response.headers,
            stream=httpx2.ByteStream(body),
            request=request,
            extensions=response.extensions,
        )

    def _read(self, stream: Iterable[bytes], limit: int, ends: float) -> bytes:
        chunks, total = [], 0
        for chunk in stream:
            with self._stats_lock:
                self.stats.bytes_downloaded += len(chunk)
            chunks.append(chunk)
            total += len(chunk)
            if total >= limit:
                break
            if time.monotonic() > ends:  # a trickle: each byte arrives within the read timeout, the whole never
                raise httpx2.ReadTimeout("the body took longer than the request's total deadline")
        return b"".join(chunks)[:limit]

    def _retry_wait(self, response: httpx2.Response, attempt: int) -> float:
        retry_after = parse_float(response.headers.get("Retry-After"))
        wait = retry_after if retry_after is not None and retry_after >= 0 else backoff(attempt)
        if wait > self.retry.max_wait:
            raise HubRateLimited(
                f"{host(str(response.url))} asks to wait {wait:.0f} s (HTTP {response.status_code}); try again later"
            )
        return wait

    def close(self) -> None:
        self._inner.close()


def sleep_within(seconds: float, deadline: Deadline) -> None:
    """Sleep, unless the command's deadline ends first: then fail now rather than sleep in vain."""
    if seconds > deadline.remaining():
        raise deadline.expired()
    time.sleep(seconds)


def backoff(attempt: int) -> float:
    """0.5 s doubling up to 8 s, with full jitter's upper half: clients of one outage spread out."""
    return min(8.0, 0.5 * 2**attempt) * (0.5 + random.random() / 2)


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__} {exc}".strip()


def host(url: str) -> str:
    return urlsplit(url).netloc or url
