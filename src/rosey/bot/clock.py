"""The bot's clock: the one seam through which its timers read time and wait.

The pause limit, the punishments' lift timers and their sync, and the waits for a provisional
rank read :class:`Clock`. In production it is :data:`REAL` (``time.time``,
``time.monotonic``, ``asyncio.sleep``); a test of a schedule passes a clock it moves by hand
(``tests/support/clock.py``), so an hour-long mute is lifted without waiting an hour, and a
test of how long something takes in real processes keeps the real one.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

__all__ = ["Clock", "RealClock", "REAL"]


class Clock(Protocol):
    def time(self) -> float:
        """Unix seconds (timestamps, expiries)."""

    def monotonic(self) -> float:
        """Seconds that never go back (deadlines)."""

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""


class RealClock:
    """The machine's clock."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


REAL: Clock = RealClock()
