"""A clock a test moves by hand (:class:`rosey.bot.clock.Clock`).

The bot's timers (the pause limit, the punishments' lifts) sleep on it; :meth:`FakeClock.advance`
moves time forward and wakes each sleeper whose time came, in order, letting the event loop
run what each one does before the next. Wall time starts at the machine's, so records written
with it look like any other.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time


class FakeClock:
    def __init__(self, start: float | None = None) -> None:
        self._wall = time.time() if start is None else start
        self._mono = 1_000.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def time(self) -> float:
        return self._wall

    def monotonic(self) -> float:
        return self._mono

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._mono + seconds, next(self._seq), fut))
        await fut

    @property
    def sleepers(self) -> int:
        """How many sleeps are waiting (cancelled ones excluded)."""
        return sum(1 for _, _, fut in self._sleepers if not fut.done())

    def _move_to(self, mono: float) -> None:
        self._wall += mono - self._mono
        self._mono = mono

    async def advance(self, seconds: float) -> None:
        """Move time ``seconds`` forward, waking every sleeper due on the way, in order."""
        target = self._mono + seconds
        while self._sleepers and self._sleepers[0][0] <= target:
            due, _, fut = heapq.heappop(self._sleepers)
            self._move_to(max(due, self._mono))
            if not fut.done():
                fut.set_result(None)
                for _ in range(5):  # let the woken task run up to its next await
                    await asyncio.sleep(0)
        self._move_to(target)
