"""A steady run: publish-to-committed latency and memory, bot and DatabaseService as processes.

The ``bot`` worker feeds the real Publisher at ``rate`` events/s for ``seconds``, stamping
``timestamp = time.time()`` into each payload at the moment it calls ``publish`` (the handler's
moment). The ``db`` worker is the real DatabaseService; it observes ``commit time - timestamp``
for every event it commits into ``rosey_event_e2e_seconds`` (its own metric, on 0.5 ms buckets
here). So the figure covers the whole path: outbox, JetStream publish and ack, delivery to the
pull consumer, batch, SQLite commit.

Meanwhile the bench samples the resident set size of both processes from /proc. The first
``warmup`` seconds are left out (imports, first allocations, SQLite's page cache filling);
over the rest it reports start, end, max and a least-squares slope.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import (
    buckets_of,
    histogram_fraction_le,
    histogram_quantile,
    linear_slope,
    nats_server,
    rss_kib,
    sample_sum,
    scrape,
    start_worker,
    stop_worker,
    wait_http_ok,
)
from rosey.natsd import SYNC_INTERVAL
from tests.support.procs import free_port

__all__ = ["SteadyResult", "Rss", "run_steady"]


@dataclass
class Rss:
    """Resident set size samples of one process: (seconds since start, KiB)."""

    samples: list[tuple[float, int]] = field(default_factory=list)
    warmup: float = 0.0

    @property
    def window(self) -> list[tuple[float, int]]:
        kept = [s for s in self.samples if s[0] >= self.warmup]
        return kept if len(kept) >= 2 else self.samples

    @property
    def start(self) -> int:
        return self.window[0][1]

    @property
    def end(self) -> int:
        return self.window[-1][1]

    @property
    def max(self) -> int:
        return max(v for _, v in self.window)

    @property
    def slope_kib_per_min(self) -> float:
        w = self.window
        return linear_slope([t for t, _ in w], [v for _, v in w]) * 60

    @property
    def span(self) -> float:
        return self.window[-1][0] - self.window[0][0]

    @property
    def fitted_growth_kib(self) -> float:
        return self.slope_kib_per_min * self.span / 60


@dataclass
class SteadyResult:
    rate: float
    seconds: float
    sent: int
    committed: float
    p50: float
    p99: float
    p999: float
    within_25ms: float
    commit_p50: float
    bot: dict[str, float]
    db_rss: Rss
    bot_rss: Rss


async def run_steady(*, rate: float, seconds: float, batch: int, workdir: Path,
                     sample_every: float = 1.0, warmup: float = 5.0,
                     sync_interval: str = SYNC_INTERVAL, db_path: Path | None = None,
                     db_env: dict[str, str] | None = None) -> SteadyResult:
    """``sync_interval``: when the server flushes its store (:func:`bench.common.nats_server`).
    ``db_path``: the DatabaseService's file (default: a new ``steady.db``); ``db_env``: more
    environment for it (the retention part's ``ROSEY_RETAIN_*``)."""
    port = free_port()
    out = workdir / "bot.json"
    out.unlink(missing_ok=True)
    db_rss, bot_rss = Rss(warmup=warmup), Rss(warmup=warmup)
    async with nats_server(workdir, "steady", sync_interval=sync_interval) as server:
        db = start_worker("db", "--nats-url", server.url, "--db-path",
                          str(db_path or workdir / "steady.db"), "--metrics-port", str(port),
                          "--batch", str(batch), "--fine-e2e", log_path=workdir / "steady-db.log",
                          env=db_env)
        bot = None
        try:
            await wait_http_ok(port, "/readyz", 30.0, db)
            bot = start_worker("bot", "--nats-url", server.url, "--rate", str(rate),
                               "--seconds", str(seconds), "--out", str(out),
                               log_path=workdir / "steady-bot.log")
            started = time.monotonic()
            while bot.poll() is None:
                now = time.monotonic() - started
                for proc, rss in ((db, db_rss), (bot, bot_rss)):
                    kib = rss_kib(proc.pid)
                    if kib is not None:
                        rss.samples.append((now, kib))
                await asyncio.sleep(sample_every)
            if bot.returncode != 0:
                raise RuntimeError(f"bot worker failed, see {workdir}")
            bot_stats = json.loads(out.read_text())
            sent = int(bot_stats["sent"])
            deadline = time.monotonic() + 60
            while True:
                samples = await asyncio.to_thread(scrape, port)
                committed = sample_sum(samples, "rosey_events_processed_total")
                if committed >= sent or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
        finally:
            if bot is not None:
                await stop_worker(bot)
            await stop_worker(db)
    e2e = buckets_of(samples, "rosey_event_e2e_seconds")
    commit = buckets_of(samples, "rosey_db_commit_seconds")
    return SteadyResult(
        rate=rate, seconds=seconds, sent=sent, committed=committed,
        p50=histogram_quantile(e2e, 0.50), p99=histogram_quantile(e2e, 0.99),
        p999=histogram_quantile(e2e, 0.999), within_25ms=histogram_fraction_le(e2e, 0.025),
        commit_p50=histogram_quantile(commit, 0.50), bot=bot_stats,
        db_rss=db_rss, bot_rss=bot_rss)
