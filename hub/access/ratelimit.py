"""Throttle anonymous callers with one token bucket per client address.

The anonymous assessment is open to anyone, so a script could drive it flat out; each address
gets `burst` requests at once and `rate_per_minute` a minute after that, and is answered 429
with Retry-After when its bucket is empty. Buckets live in this process: with several API
replicas each keeps its own, which bounds an address to replicas × rate (a shared Redis
bucket is the upgrade when that matters). Idle buckets are dropped once they would be full
again anyway, so memory stays bounded by the addresses seen in the last refill period.
https://www.rfc-editor.org/rfc/rfc6585#section-4
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    at: float


class TokenBuckets:
    """A thread-safe token bucket per key (a client address)."""

    def __init__(self, rate_per_minute: int, burst: int, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000) -> None:
        self.rate = rate_per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()
        # A bucket idle this long has refilled completely, so forgetting it changes nothing.
        self._full_after = self.burst / self.rate

    def take(self, key: str) -> float:
        """Take one token; return 0.0 if granted, else the seconds until one is available."""
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= self.max_keys:
                    self._forget_idle(now)
                bucket = self._buckets[key] = _Bucket(self.burst, now)
            else:
                bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
                bucket.at = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self.rate

    def _forget_idle(self, now: float) -> None:
        idle = [k for k, b in self._buckets.items() if now - b.at >= self._full_after]
        for key in idle:
            del self._buckets[key]
        if len(self._buckets) >= self.max_keys:  # all busy: drop the oldest rather than grow
            oldest = sorted(self._buckets, key=lambda k: self._buckets[k].at)[: len(self._buckets) // 10 + 1]
            for key in oldest:
                del self._buckets[key]


def retry_after(seconds: float) -> str:
    """Format a wait for the Retry-After header: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
