"""Deterministic fault injection: latency, random 5xx and the Hub's fixed-window rate limits.

The rate-limit headers follow the Hub (IETF draft-ietf-httpapi-ratelimit-headers v9, see research/hub.md §3):
``RateLimit: "api";r=<remaining>;t=<seconds to reset>`` and
``RateLimit-Policy: "fixed window";"api";q=<quota>;w=<window>``.
"""

from __future__ import annotations

import math
import random
import threading
import time
from dataclasses import asdict, dataclass, replace
from typing import Any

INJECTED_STATUSES = (500, 502, 503)


@dataclass(frozen=True)
class Faults:
    """What the emulator does to every request before handling it.

    latency: seconds slept per request. error_rate: probability of an injected 500/502/503.
    rate_limit: (quota, window_seconds) applied separately to the "api" and "resolvers" buckets, or None.
    seed: seeds the error RNG so a sequential client sees the same faults on every run.
    """

    latency: float = 0.0
    error_rate: float = 0.0
    rate_limit: tuple[int, float] | None = None
    seed: int = 0

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
