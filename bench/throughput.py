"""Ingest throughput: the naive reference floor, the bare ceiling, and the real DatabaseService.

The ceiling and the DatabaseService drain the same pre-loaded stream (``N`` events of the bench
mix) through their own durable pull consumer, with the same batch size; each runs in its own
process. Both are timed the same way, from outside: the bench polls the consumer's
acknowledgement floor every 10 ms and takes the rate over the window from the first observed
progress to the last acknowledgement (``acks`` only follow commits in the service, so its floor
is "committed"). Runs alternate ceiling, service, ceiling, service... so that noise from other
work on the machine falls on both; the median of the repetitions is reported.

The naive reference cannot read a stream: it is the original design, a core subscription that
commits each event on its own. Its server has no JetStream (as originally); the bench publishes
``naive_events`` events with core NATS and times first delivery to last commit in the worker.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from nats.js import JetStreamContext
from nats.js.api import AckPolicy
from nats.js.errors import NotFoundError

from bench.common import (
    ROOT,
    ack_floor,
    buckets_of,
    connect,
    events,
    nats_server,
    preload,
    sample_sum,
    scrape,
    start_module,
    start_worker,
    stop_worker,
)
from rosey import contract
from rosey.config import StreamSettings
from rosey.dbservice.consumer import consumer_config
from rosey.stream import ensure_stream
from tests.support.procs import free_port

__all__ = ["ThroughputResult", "run_throughput"]

CEILING_DURABLE = "bench-ceiling"
#: an ack floor that does not move for this long means the run is stuck, not slow
STALL_SECONDS = 60.0


@dataclass
class IngestRun:
    rate: float
    window: float
    commit_seconds: float = 0.0  # rosey_db_commit_seconds_sum: time inside apply_batch
    batches: float = 0.0
    processed: float = 0.0


@dataclass
class ThroughputResult:
    naive_rate: float = 0.0
    preload_rate: float = 0.0
    ceiling: list[float] = field(default_factory=list)
    ingest: list[IngestRun] = field(default_factory=list)

    @property
    def ceiling_median(self) -> float:
        return statistics.median(self.ceiling)

    @property
    def ingest_median(self) -> IngestRun:
        runs = sorted(self.ingest, key=lambda r: r.rate)
        return runs[len(runs) // 2]

    @property
    def ratios(self) -> list[float]:
        """Service / ceiling, pairing each service run with the ceiling run just before it."""
        return [i.rate / c for c, i in zip(self.ceiling, self.ingest, strict=False)]


async def run_throughput(*, events_n: int, naive_n: int, batch: int, repeat: int,
                         workdir: Path, profile: Path | None = None,
                         say: Callable[[str], None] = print) -> ThroughputResult:
    result = ThroughputResult()
    if naive_n:
        result.naive_rate = await _naive(naive_n, workdir)
        say(f"  naive reference: {result.naive_rate:,.0f} ev/s ({naive_n} events)")
    async with nats_server(workdir, "throughput") as server:
        nc = await connect(server.url, "bench-throughput")
        js = nc.jetstream(timeout=10.0)
        await ensure_stream(js, StreamSettings(), update=True)
        result.preload_rate = await preload(js, events_n)
        say(f"  pre-loaded {events_n} events ({result.preload_rate:,.0f} ev/s publish rate)")
        for i in range(repeat):
            rate, window = await _ceiling(js, server.url, events_n, batch, workdir)
            result.ceiling.append(rate)
            say(f"  [{i + 1}/{repeat}] ceiling  {rate:>9,.0f} ev/s ({window:.2f} s)")
            run = await _ingest(js, server.url, events_n, batch, workdir / f"ingest-{i}.db",
                                workdir, profile=profile if i == 0 else None)
            result.ingest.append(run)
            say(f"  [{i + 1}/{repeat}] service  {run.rate:>9,.0f} ev/s ({run.window:.2f} s;"
                f" {run.commit_seconds / run.window:.0%} of it inside apply_batch,"
                f" {run.processed / max(run.batches, 1):.0f} ev/batch)")
        await nc.close()
    return result


async def _naive(n: int, workdir: Path) -> float:
    ready, out = workdir / "naive.ready", workdir / "naive.json"
    ready.unlink(missing_ok=True)
    async with nats_server(workdir, "naive", jetstream=False) as server:
        proc = start_worker("naive", "--nats-url", server.url, "--db-path",
                            str(workdir / "naive.db"), "--count", str(n), "--ready", str(ready),
                            "--out", str(out), log_path=workdir / "naive.log")
        try:
            while not ready.exists():
                if proc.poll() is not None:
                    raise RuntimeError(f"naive worker exited early, see {workdir / 'naive.log'}")
                await asyncio.sleep(0.02)
            nc = await connect(server.url, "bench-naive-publisher")
            for k, (subject, data) in enumerate(events(n)):
                await nc.publish(subject, data)
                if k % 1000 == 999:
                    await nc.flush()
            await nc.flush()
            await nc.close()
            await asyncio.wait_for(asyncio.to_thread(proc.wait), timeout=max(60.0, n / 50))
        finally:
            await stop_worker(proc)
    data = json.loads(out.read_text())
    return float(data["count"]) / float(data["seconds"])


async def _fresh_consumer(js: JetStreamContext, durable: str, *, create: bool) -> None:
    try:
        await js.delete_consumer(contract.STREAM_NAME, durable)
    except NotFoundError:
        pass
    if create:
        config = dataclasses.replace(consumer_config(0), durable_name=durable,
                                     description="bench: bare ceiling", ack_policy=AckPolicy.ALL)
        await js.add_consumer(contract.STREAM_NAME, config)


async def _track_floor(js: JetStreamContext, durable: str, n: int, proc: subprocess.Popen[bytes],
                       timeout: float) -> tuple[float, float]:
    """Poll the ack floor until ``n``; return (events/s, seconds) over the active window.

    Gives up after ``timeout`` seconds, or once the floor has not moved for ``STALL_SECONDS``
    (the consumer's ack wait and the service's own stall detection are both shorter)."""
    deadline = time.monotonic() + timeout
    t0 = floor0 = None
    last_floor, moved_at = -1, time.monotonic()
    while True:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{durable}: ack floor did not reach {n} in {timeout}s")
        try:
            floor = await ack_floor(js, durable)
        except NotFoundError:  # the service has not created its consumer yet
            floor = 0
        now = time.monotonic()
        if floor != last_floor:
            last_floor, moved_at = floor, now
        elif now - moved_at > STALL_SECONDS:
            raise TimeoutError(f"{durable}: ack floor stuck at {floor} of {n} for"
                               f" {STALL_SECONDS:.0f}s")
        if floor > 0 and t0 is None:
            t0, floor0 = now, floor
        if floor >= n:
            assert t0 is not None and floor0 is not None
            window = now - t0
            return (n - floor0) / window if window > 0 else float("inf"), window
        if proc.poll() is not None and floor < n:
            raise RuntimeError(f"{durable} process exited at floor {floor}")
        await asyncio.sleep(0.01)


async def _ceiling(js: JetStreamContext, url: str, n: int, batch: int,
                   workdir: Path) -> tuple[float, float]:
    await _fresh_consumer(js, CEILING_DURABLE, create=True)
    proc = start_worker("ceiling", "--nats-url", url, "--durable", CEILING_DURABLE,
                        "--batch", str(batch), "--count", str(n),
                        log_path=workdir / "ceiling.log")
    try:
        return await _track_floor(js, CEILING_DURABLE, n, proc, timeout=max(120.0, n / 200))
    finally:
        await stop_worker(proc)


async def _ingest(js: JetStreamContext, url: str, n: int, batch: int, db_path: Path,
                  workdir: Path, *, profile: Path | None) -> IngestRun:
    await _fresh_consumer(js, contract.CONSUMER_NAME, create=False)
    port = free_port()
    # the installed rosey-db, as a user runs it (a script path, so cProfile can run it too)
    cli = [str(Path(sys.executable).with_name("rosey-db")), "--nats-url", url,
           "--db-path", str(db_path), "--metrics-port", str(port)]
    if profile is not None:
        cli = ["-m", "cProfile", "-o", str(profile), *cli]
    proc = start_module(cli, log_path=workdir / "ingest.log",
                        env={"ROSEY_BATCH_SIZE": str(batch), "ROSEY_LOG_LEVEL": "warning",
                             "ROSEY_LOG_FORMAT": "json",
                             "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'src'}"})
    try:
        rate, window = await _track_floor(js, contract.CONSUMER_NAME, n, proc,
                                          timeout=max(120.0, n / 100))
        samples = await asyncio.to_thread(scrape, port)
    finally:
        await stop_worker(proc)
    commit = buckets_of(samples, "rosey_db_commit_seconds")
    return IngestRun(rate=rate, window=window,
                     commit_seconds=sample_sum(samples, "rosey_db_commit_seconds_sum"),
                     batches=commit[-1][1] if commit else 0.0,
                     processed=sample_sum(samples, "rosey_events_processed_total"))
