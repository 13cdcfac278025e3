"""CyTube's rate limits: the per-IP connect bucket and ``newRateLimiter`` (chat, queue)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

__all__ = ["RateLimit", "TokenBucket", "Limiter"]


@dataclass(frozen=True)
class RateLimit:
    """The per-IP connection bucket: ``burst`` attempts, refilled at ``per_second``."""

    burst: float = 5
    per_second: float = 0.1


class TokenBucket:
    """One IP's connect bucket; :meth:`take` False means "Rate limit exceeded"."""

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self.tokens = float(limit.burst)
        self.last = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.limit.burst,
                          self.tokens + (now - self.last) * self.limit.per_second)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class Limiter:
    """CyTube's ``newRateLimiter`` (src/utilities.js); ``throttle()`` True means refuse."""

    def __init__(self, burst: int, sustained: float, cooldown: float | None = None) -> None:
        self.burst, self.sustained = burst, sustained
        self.cooldown = burst / sustained if cooldown is None else cooldown
        self.count = 0
        self.last = -math.inf

    def throttle(self) -> bool:
        now = time.monotonic() * 1000
        if self.last < now - self.cooldown * 1000:
            self.count, self.last = 1, now
            return False
        if self.count < self.burst:
            self.count, self.last = self.count + 1, now
            return False
        if self.sustained <= 0 or now - self.last < 1000 / self.sustained:
            return True
        self.last = now
        return False
