"""Running a service until SIGTERM or SIGINT, with its INFO activity line meanwhile.

Its own module so that the entry points (:mod:`rosey.cli`, :mod:`rosey.bot.cli`,
:mod:`rosey.up`) all use it without importing one another.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable, Mapping

from rosey.metrics import activity_logged

__all__ = ["run_until_signalled", "run_service"]


async def run_until_signalled(start: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run ``start(stop)``; SIGTERM/SIGINT set ``stop`` and the callee drains and returns."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await start(stop)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def run_service(serve: Callable[[asyncio.Event], Awaitable[None]], *,
                activity: tuple[str, Callable[[], Mapping[str, float]]], interval: float) -> int:
    """Run ``serve(stop)`` until SIGTERM/SIGINT, writing the INFO activity line
    ``activity = (event, totals)`` every ``interval`` seconds meanwhile."""

    async def run(stop: asyncio.Event) -> None:
        async with activity_logged(*activity, interval):
            await serve(stop)

    asyncio.run(run_until_signalled(run))
    return 0
