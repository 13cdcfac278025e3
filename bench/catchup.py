"""Catch-up after downtime, from process start: a DatabaseService started on a backlog.

The stream holds ``n`` chat lines from ``users`` users (200,000 from 1,000 by default), as
after a pod deletion or an upgrade. Two processes drain it, alternately, each timed from its
``exec`` (start-up counts: imports, connect, bind):

- the bare ceiling: a durable pull consumer that fetches batches of 500 and acknowledges once
  per batch (``AckPolicy.ALL``), storing nothing; done when its ack floor reaches ``n``;
- the real DatabaseService (``rosey-db``, default settings, a fresh SQLite file): done when the
  last event is visible through a query (``rosey.db.query.user_stats`` for its user, over NATS,
  as the bot asks), polled every 20 ms.

Before each run the bench deletes that run's durable, so each starts from the first event.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import AckPolicy
from nats.js.errors import NotFoundError

from bench.common import (
    ROOT,
    ack_floor,
    connect,
    copy_db,
    nats_server,
    preload,
    start_module,
    start_worker,
    stop_worker,
)
from rosey import contract
from rosey.config import StreamSettings
from rosey.dbservice.consumer import consumer_config
from rosey.natsd import SYNC_INTERVAL
from rosey.stream import ensure_stream
from tests.support.procs import free_port

__all__ = ["CatchupResult", "run_catchup"]

CEILING_DURABLE = "bench-catchup-ceiling"
CEILING_BATCH = 500
POLL_SECONDS = 0.02


@dataclass
class CatchupResult:
    events: int
    ceiling: list[float] = field(default_factory=list)   # seconds, exec -> ack floor n
    service: list[float] = field(default_factory=list)   # seconds, exec -> last event queried
    #: CPU seconds (user + system) each process used for the whole run: less noisy than the
    #: wall clock on a shared machine, and it shows where the service's extra work goes
    ceiling_cpu: list[float] = field(default_factory=list)
    service_cpu: list[float] = field(default_factory=list)
    #: the backlog's publish rate (a plain JetStream client, 512 acknowledgements in flight)
    preload_rate: float = 0.0

    def cpu_us_per_event(self, cpu: list[float]) -> float:
        return statistics.median(cpu) / self.events * 1e6

    @property
    def ratios(self) -> list[float]:
        """Service rate / ceiling rate, each service run paired with the ceiling run before."""
        return [c / s for c, s in zip(self.ceiling, self.service, strict=False)]

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    @property
    def ceiling_rate(self) -> float:
        return self.events / statistics.median(self.ceiling)

    @property
    def service_rate(self) -> float:
        return self.events / statistics.median(self.service)


def chat_lines(n: int, users: int) -> Iterator[tuple[str, bytes]]:
    """``n`` ``message.log`` events, user ``i % users`` saying line ``i``."""
    for i in range(n):
        body = {"username": f"chatter{i % users:04d}",
                "message": f"chat line {i}: " + "lorem ipsum " * 3}
        yield contract.MESSAGE_LOG, contract.encode(body)


async def run_catchup(*, events_n: int, users: int, repeat: int, workdir: Path,
                      say: Callable[[str], None] = print,
                      sync_interval: str = SYNC_INTERVAL,
                      base_db: Path | None = None) -> CatchupResult:
    """``sync_interval``: when the server flushes its store (:func:`bench.common.nats_server`).
    ``base_db``: a database the service starts on (a copy of it, each run; e.g. a year of
    data), instead of an empty file. Its applied floor is above this stream's sequences, so
    the service takes the stream for a new one and applies all of it (``stream_reset_detected``)."""
    result = CatchupResult(events=events_n)
    async with nats_server(workdir, "catchup", sync_interval=sync_interval) as server:
        nc = await connect(server.url, "bench-catchup")
        js = nc.jetstream(timeout=10.0)
        await ensure_stream(js, StreamSettings(), update=True)
        rate = result.preload_rate = await preload(js, events_n,
                                                   source=chat_lines(events_n, users))
        say(f"  pre-loaded {events_n} chat lines from {users} users ({rate:,.0f} ev/s)")
        last_user = f"chatter{(events_n - 1) % users:04d}"
        lines_of_last = len(range((events_n - 1) % users, events_n, users))
        for i in range(repeat):
            took, cpu = await _ceiling(js, server.url, events_n, workdir)
            result.ceiling.append(took)
            result.ceiling_cpu.append(cpu)
            say(f"  [{i + 1}/{repeat}] ceiling  {took:6.2f} s ({events_n / took:,.0f} ev/s,"
                f" {cpu:.2f} s CPU)")
            db_path = workdir / f"catchup-{i}.db"
            if base_db is not None:
                await asyncio.to_thread(copy_db, base_db, db_path)
            took, cpu = await _service(nc, js, server.url, db_path, workdir,
                                       last_user, lines_of_last)
            if base_db is not None:
                db_path.unlink()
            result.service.append(took)
            result.service_cpu.append(cpu)
            say(f"  [{i + 1}/{repeat}] service  {took:6.2f} s ({events_n / took:,.0f} ev/s,"
                f" {cpu:.2f} s CPU)")
        await nc.close()
    return result


async def _delete(js: JetStreamContext, durable: str) -> None:
    try:
        await js.delete_consumer(contract.STREAM_NAME, durable)
    except NotFoundError:
        pass


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process, from /proc (0.0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _ceiling(js: JetStreamContext, url: str, n: int, workdir: Path) -> tuple[float, float]:
    await _delete(js, CEILING_DURABLE)
    await js.add_consumer(contract.STREAM_NAME, dataclasses.replace(
        consumer_config(0), durable_name=CEILING_DURABLE, description="bench: catch-up ceiling",
        ack_policy=AckPolicy.ALL))
    started = time.monotonic()
    proc = start_worker("ceiling", "--nats-url", url, "--durable", CEILING_DURABLE,
                        "--batch", str(CEILING_BATCH), "--count", str(n),
                        log_path=workdir / "catchup-ceiling.log")
    cpu = 0.0
    try:
        while await _floor(js, CEILING_DURABLE) < n:
            cpu = cpu_seconds(proc.pid) or cpu  # the worker exits once it has acked all
            if proc.poll() is not None and await _floor(js, CEILING_DURABLE) < n:
                raise RuntimeError("the ceiling worker exited early, see catchup-ceiling.log")
            if time.monotonic() - started > max(120.0, n / 200):
                raise TimeoutError("catch-up ceiling did not finish")
            await asyncio.sleep(POLL_SECONDS)
        return time.monotonic() - started, cpu_seconds(proc.pid) or cpu
    finally:
        await stop_worker(proc)


async def _floor(js: JetStreamContext, durable: str) -> int:
    try:
        return await ack_floor(js, durable)
    except NotFoundError:
        return 0


async def _service(nc: Client, js: JetStreamContext, url: str, db_path: Path, workdir: Path,
                   user: str, lines: int) -> tuple[float, float]:
    await _delete(js, contract.CONSUMER_NAME)
    cli = [str(Path(sys.executable).with_name("rosey-db")), "--nats-url", url,
           "--db-path", str(db_path), "--metrics-port", str(free_port())]
    started = time.monotonic()
    proc = start_module(cli, log_path=workdir / "catchup-service.log",
                        env={"ROSEY_LOG_LEVEL": "warning", "ROSEY_LOG_FORMAT": "json",
                             "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'src'}"})
    request = json.dumps({"username": user}).encode()
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError("rosey-db exited early, see catchup-service.log")
            if time.monotonic() - started > max(120.0, lines * 5):
                raise TimeoutError("catch-up: the last event never became visible")
            try:
                reply = await nc.request(contract.QUERY_USER_STATS, request, timeout=1.0)
                if json.loads(reply.data).get("total_chat_lines", 0) >= lines:
                    return time.monotonic() - started, cpu_seconds(proc.pid)
            except Exception:  # noqa: BLE001 - no responder yet, or a timeout under load
                pass
            await asyncio.sleep(POLL_SECONDS)
    finally:
        await stop_worker(proc)
