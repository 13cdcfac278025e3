"""Token buckets that keep the bot inside CyTube's own limits.

Two limits matter. CyTube refuses a connection from an address that opened more than 5 in a
burst, then more than 1 per 10 s (``connect_error "Rate limit exceeded"``): a token bucket,
mirrored by :class:`TokenBucket`. And it drops chat and PMs beyond a burst of 20, answering
``cooldown <ms>``; that one is *not* a token bucket (``newRateLimiter`` in CyTube's
``src/utilities.js``): after the burst it wants 100 ms between any two messages until the
sender has been quiet for 2 s, so a short pause earns no new burst. :class:`Pacer` mirrors it.
Both run a little inside the server's numbers, so the bot never gets there. All timings are
values passed in, so tests can make them fast.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["TokenBucket", "Pacer", "ConnectPolicy", "SendPolicy"]


@dataclass(frozen=True, slots=True)
class ConnectPolicy:
    """How the session reconnects.

    Parameters:
        burst, refill_seconds: the connect bucket, a little inside CyTube's (5, then 1 per
            10 s) so the bot never reaches it; a "Rate limit exceeded" empties it anyway.
        initial_delay, max_delay, jitter: the exponential backoff between failed attempts,
            capped at ``max_delay``; each delay is multiplied by a random factor in
            ``[1 - jitter, 1]``, so it never exceeds the cap (the default 20 s gives 16-20 s
            once capped: back soon after an outage, and slower than the bucket's 1 per 12 s).
        kick_delay: wait after a kick that may be retried (channel reloading, ...).
        fatal_kick_delay: wait after a kick that must not be retried soon (duplicate login,
            bans, channel could not be loaded).
        guest_login_delay: wait before retrying a guest login CyTube refused for now.
        login_retry_delay: wait before retrying a refused password login.
        connect_timeout: bound on one socket.io connect.
        stable_after: a connection that lasted this long resets the backoff.
    """

    burst: int = 4
    refill_seconds: float = 12.0
    initial_delay: float = 1.0
    max_delay: float = 20.0
    jitter: float = 0.2
    kick_delay: float = 30.0
    fatal_kick_delay: float = 900.0
    guest_login_delay: float = 61.0
    login_retry_delay: float = 300.0
    connect_timeout: float = 10.0
    stable_after: float = 30.0


@dataclass(frozen=True, slots=True)
class SendPolicy:
    """The chat/PM flood budget (CyTube: a burst of 20, then 10/s until 2 s of quiet).

    Parameters:
        burst: messages sent back to back after a quiet spell.
        per_second: the pace after the burst.
        quiet_seconds: how long the bot stays silent before it takes a new burst.
        cooldown_margin: added to a ``cooldown`` the server asks for.
    """

    burst: int = 15
    per_second: float = 8.0
    quiet_seconds: float = 2.5
    cooldown_margin: float = 0.25


class TokenBucket:
    """``capacity`` tokens, refilled at ``rate`` per second; :meth:`acquire` waits for one."""

    def __init__(self, *, capacity: float, rate: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if capacity < 1 or rate <= 0:
            raise ValueError("a bucket needs capacity >= 1 and a positive rate")
        self.capacity = capacity
        self.rate = rate
        self._clock = clock
        self._tokens = float(capacity)
        self._stamp = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def wait_time(self) -> float:
        """Seconds until a token is available (0 when one is there now)."""
        self._refill()
        return 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate

    def try_take(self) -> bool:
        if self.wait_time() > 0:
            return False
        self._tokens -= 1
        return True

    async def acquire(self) -> None:
        while not self.try_take():
            await asyncio.sleep(self.wait_time())

    def empty(self) -> None:
        """The server says we are over its limit: spend every token."""
        self._refill()
        self._tokens = 0.0



class Pacer:
    """CyTube's flood limiter seen from the sender: :meth:`acquire` waits until a message passes.

    ``burst`` messages go at once; after that each one waits ``1 / per_second`` after the
    previous one, until the sender has been silent for ``quiet`` seconds, which restores the
    burst. :meth:`block_for` honours the server's ``cooldown``.
    """

    def __init__(self, *, burst: int, per_second: float, quiet: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if burst < 1 or per_second <= 0 or quiet < 0:
            raise ValueError("a pacer needs burst >= 1, a positive pace and quiet >= 0")
        self.burst = burst
        self.interval = 1.0 / per_second
        self.quiet = quiet
        self._clock = clock
        self._count = 0
        self._last = -math.inf
        self._blocked_until = 0.0

    def wait_time(self) -> float:
        """Seconds until the next message may go (0 when it may go now)."""
        now = self._clock()
        blocked = max(0.0, self._blocked_until - now)
        if now - self._last > self.quiet or self._count < self.burst:
            return blocked
        return max(blocked, self._last + self.interval - now)

    def try_take(self) -> bool:
        if self.wait_time() > 0:
            return False
        now = self._clock()
        self._count = 1 if now - self._last > self.quiet else self._count + 1
        self._last = now
        return True

    async def acquire(self) -> None:
        while not self.try_take():
            await asyncio.sleep(self.wait_time())

    def block_for(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (CyTube's ``cooldown``)."""
        self._blocked_until = max(self._blocked_until, self._clock() + seconds)
