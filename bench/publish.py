"""The bot's command-path cost: how long ``Publisher.publish(...)`` (the enqueue) takes.

The real :class:`~rosey.bot.publisher.Publisher` runs against a real JetStream stream, its drain
task publishing on the same event loop, as in the bot. The caller enqueues ``calls`` events in
bursts (``burst`` calls, then it yields to the loop until the schedule allows the next burst),
so the drain interleaves with the calls the way it does with channel handlers. Each call is
timed on its own with ``perf_counter_ns``. The outbox is sized to hold every call, so no
drop-oldest warning (a log line) lands inside a timed call. Afterwards the bench waits until the
drain has emptied the outbox and reports the drain rate too: that is the bot's publish
throughput, with the publisher's window of acknowledgements in flight.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.common import connect, event_bodies, nats_server, percentile, stamped
from rosey.bot.publisher import Publisher
from rosey.config import StreamSettings
from rosey.metrics import BotMetrics
from rosey.natsd import SYNC_INTERVAL
from rosey.stream import ensure_stream

__all__ = ["PublishResult", "run_publish"]


@dataclass
class PublishResult:
    calls: int
    p50: float
    p99: float
    p999: float
    max: float
    drain_rate: float
    max_depth: int
    cold_calls: int
    cold_p50: float
    cold_p99: float


async def run_publish(*, calls: int, rate: float, workdir: Path, burst: int = 20,
                      between: Callable[[int], object] | None = None,
                      sync_interval: str = SYNC_INTERVAL) -> PublishResult:
    """``between(i)``, when given, runs after the i-th timed call, untimed: what the bot's
    handler does after publishing (the automod part judges a chat line there).
    ``sync_interval``: when the server flushes its store (:func:`bench.common.nats_server`);
    ``rate=math.inf`` offers the calls unpaced, so the drain rate is the publisher's own."""
    bodies = list(event_bodies(calls, seed=3))
    times = [0] * calls
    cold: list[int] = []  # the first call after each yield to the loop
    async with nats_server(workdir, "publish", sync_interval=sync_interval) as server:
        nc = await connect(server.url, "bench-publish")
        js = nc.jetstream(timeout=5.0)
        await ensure_stream(js, StreamSettings(), update=True)
        async with Publisher(js=js, metrics=BotMetrics(), maxsize=calls + 1) as pub:
            pub.publish(stamped(*bodies[0]))  # warm the drain (stream check, first publish)
            await pub.flush()
            max_depth = 0
            started = time.monotonic()
            for i, (subject, body) in enumerate(bodies):
                event = stamped(subject, body)
                t = time.perf_counter_ns()
                pub.publish(event)
                times[i] = time.perf_counter_ns() - t
                if between is not None:
                    between(i)
                if i % burst == 0:
                    cold.append(times[i])
                if i % burst == burst - 1:
                    max_depth = max(max_depth, pub.depth)
                    await asyncio.sleep(max(0.0, (i + 1) / rate - (time.monotonic() - started)))
            await asyncio.wait_for(pub.flush(), timeout=max(60.0, calls / 500))
            drained = time.monotonic() - started
        await nc.close()
    times.sort()
    cold.sort()
    return PublishResult(calls=calls, p50=percentile(times, 50) / 1e9,
                         p99=percentile(times, 99) / 1e9, p999=percentile(times, 99.9) / 1e9,
                         max=times[-1] / 1e9, drain_rate=(calls + 1) / drained,
                         max_depth=max_depth, cold_calls=len(cold),
                         cold_p50=percentile(cold, 50) / 1e9, cold_p99=percentile(cold, 99) / 1e9)
