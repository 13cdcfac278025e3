"""Publish-to-committed time of every event across a SIGKILL of the DatabaseService.

Shared by the resilience test (which asserts exactly-once and prints the figure) and
``bench`` (which holds it against the 3 s target). A steady publisher stamps each event's
publish time; a watcher polls the live SQLite file every few milliseconds and notes when
each event's row first appears (committed, as any reader sees it). The DatabaseService runs
as a real process (``python -m rosey.db``), is SIGKILLed mid-stream and started again at once,
as a pod's restart would.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
import nats.errors
from nats.aio.client import Client

from rosey import contract
from tests.support.procs import start_db_process, stop_process

__all__ = ["AckedPublisher", "KillRun", "kill_at_steady_rate", "read_counts"]

POLL_SECONDS = 0.005


@dataclass
class AckedPublisher:
    """Publishes ``message.log`` events numbered 0..n-1 for one user, each with a stable
    ``Nats-Msg-Id``, retrying every event until JetStream acknowledges it."""

    nc: Client
    user: str = "stream-user"
    window: int = 64
    acked: set[int] = field(default_factory=set)
    retries: int = 0

    async def publish_one(self, i: int) -> None:
        js = self.nc.jetstream(timeout=2.0)
        body = json.dumps({"username": self.user, "message": f"event-{i}"}).encode()
        while True:
            try:
                await js.publish(contract.MESSAGE_LOG, body,
                                 headers={contract.MSG_ID_HEADER: f"{self.user}-{i}"})
                self.acked.add(i)
                return
            except (TimeoutError, nats.errors.Error, OSError):
                self.retries += 1
                await asyncio.sleep(0.05)  # retry pacing, not a wait for a condition

    async def publish_range(self, start: int, stop: int) -> None:
        for base in range(start, stop, self.window):
            await asyncio.gather(*(self.publish_one(i)
                                   for i in range(base, min(base + self.window, stop))))


async def stream_exists(nc: Client) -> bool:
    """Has the stream been created (by the first DatabaseService)?"""
    try:
        await nc.jetstream().stream_info(contract.STREAM_NAME)
        return True
    except Exception:  # not yet, or the server is restarting
        return False


def read_counts(db_path: Path, user: str) -> tuple[int, int, int]:
    """(rows in recent_chat, distinct messages, user's total_chat_lines) from the live file."""
    if not db_path.exists():
        return (0, 0, 0)
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
    try:
        rows, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT message) FROM recent_chat WHERE username = ?",
            (user,)).fetchone()
        lines = conn.execute("SELECT total_chat_lines FROM user_stats WHERE username = ?",
                             (user,)).fetchone()
        return int(rows), int(distinct), int(lines[0]) if lines else 0
    except sqlite3.OperationalError:  # the tables are not there yet
        return (0, 0, 0)
    finally:
        conn.close()


@dataclass
class KillRun:
    """What one run saw. ``latencies[i]``: event i's publish -> row visible, seconds."""

    sent: int
    counts: tuple[int, int, int]
    latencies: list[float] = field(default_factory=list)
    killed_at: float = 0.0      # seconds after the first publish
    restarted_in: float = 0.0   # SIGKILL -> the new process's first commit, seconds
    worst_event: int = -1

    @property
    def max_latency(self) -> float:
        return max(self.latencies) if self.latencies else float("inf")

    def summary(self) -> str:
        lat = sorted(self.latencies)
        p50 = lat[len(lat) // 2] if lat else float("nan")
        return (f"{self.sent} events, SIGKILL at {self.killed_at:.1f} s: max publish->committed"
                f" {self.max_latency * 1000:.0f} ms (event {self.worst_event}), p50"
                f" {p50 * 1000:.1f} ms; kill -> first commit of the new process"
                f" {self.restarted_in * 1000:.0f} ms")


class _Watcher:
    """Polls recent_chat for ``user``'s rows (``event-<i>``) and notes when each appears."""

    def __init__(self, db: Path, user: str, n: int) -> None:
        self.db, self.user = db, user
        self.seen_at: list[float | None] = [None] * n
        self.seen = 0
        self.last_new = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="commit-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        last_id = 0
        conn: sqlite3.Connection | None = None
        while not self._stop.is_set():
            try:
                if conn is None:
                    if not self.db.exists():
                        time.sleep(POLL_SECONDS)
                        continue
                    conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5)
                found = conn.execute(
                    "SELECT id, message FROM recent_chat WHERE id > ? AND username = ?"
                    " ORDER BY id", (last_id, self.user)).fetchall()
            except sqlite3.OperationalError:  # no table yet, or the file is being created
                time.sleep(POLL_SECONDS)
                continue
            now = time.monotonic()
            for row_id, message in found:
                last_id = row_id
                i = int(message.removeprefix("event-"))
                if self.seen_at[i] is None:
                    self.seen_at[i] = now
                    self.seen += 1
                    self.last_new = now
            time.sleep(POLL_SECONDS)
        if conn is not None:
            conn.close()


async def kill_at_steady_rate(nats_url: str, workdir: Path, *, rate: float = 200.0,
                              seconds: float = 8.0, kill_after: float = 3.0,
                              hold: float = 0.3,
                              extra_env: dict[str, str] | None = None,
                              settle_timeout: float = 90.0,
                              client_options: dict[str, Any] | None = None) -> KillRun:
    """Publish ``rate * seconds`` events at a steady rate; SIGKILL the DatabaseService
    ``kill_after`` seconds in and start it again at once; wait until every event is applied.

    For the last ``hold`` seconds before the kill, the test holds SQLite's write lock, so the
    process dies holding fetched, unacknowledged events (at 200 events/s a batch otherwise
    commits within milliseconds and a kill rarely finds one in flight): those are the events
    whose delay the target is about.

    On an authenticated server, ``client_options`` connect the publisher (as ``bot``) and
    ``extra_env`` gives the DatabaseService its identity."""
    db = workdir / "kill.db"
    log = workdir / "kill-db.log"
    n = int(rate * seconds)
    nc = await nats.connect(nats_url, max_reconnect_attempts=-1, **(client_options or {}))
    publisher = AckedPublisher(nc, user="steady-kill")
    watcher = _Watcher(db, publisher.user, n)
    proc = start_db_process(nats_url, db, log_path=log, extra_env=extra_env)
    published_at: list[float] = [0.0] * n
    try:
        # ready: the service created the stream and applies events (a first one, not counted)
        warm = AckedPublisher(nc, user="warm-up")
        await warm.publish_one(0)
        deadline = time.monotonic() + 30
        while read_counts(db, warm.user)[0] < 1:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"the DatabaseService never applied an event, see {log}")
            await asyncio.sleep(0.02)
        watcher.start()

        async def one(i: int) -> None:
            published_at[i] = time.monotonic()
            await publisher.publish_one(i)

        started = time.monotonic()
        tasks: list[asyncio.Task[None]] = []
        killed_at = 0.0
        lock: sqlite3.Connection | None = None
        for i in range(n):
            due = started + i / rate
            if lock is None and not killed_at and hold and due - started >= kill_after - hold:
                lock = await asyncio.to_thread(_write_lock, db)
            if not killed_at and due - started >= kill_after:
                proc.send_signal(signal.SIGKILL)
                await asyncio.to_thread(proc.wait, 10)
                killed_at = time.monotonic()
                if lock is not None:
                    lock.execute("ROLLBACK")
                    lock.close()
                seen_before = watcher.last_new
                proc = start_db_process(nats_url, db, log_path=log, extra_env=extra_env)
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
        deadline = time.monotonic() + settle_timeout
        while watcher.seen < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {watcher.seen} of {n} events applied, see {log}")
            await asyncio.sleep(0.05)
        watcher.stop()
        counts = read_counts(db, publisher.user)
        run = KillRun(sent=n, counts=counts, killed_at=killed_at - started)
        first_after = min((t for t in watcher.seen_at if t is not None and t > killed_at
                           and t > seen_before), default=killed_at)
        run.restarted_in = first_after - killed_at
        for i in range(n):
            seen = watcher.seen_at[i]
            assert seen is not None
            run.latencies.append(seen - published_at[i])
        run.worst_event = max(range(n), key=lambda i: run.latencies[i])
        return run
    finally:
        watcher.stop()
        await nc.close()
        if proc.poll() is None:
            await asyncio.to_thread(_stop, proc)


def _write_lock(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db, isolation_level=None, timeout=10, check_same_thread=False)
    conn.execute("BEGIN IMMEDIATE")
    return conn


def _stop(proc: subprocess.Popen[bytes]) -> None:
    stop_process(proc)


