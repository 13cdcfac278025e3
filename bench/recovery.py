"""Recovery of a killed DatabaseService: every event's publish-to-committed time across a SIGKILL.

Events are published at a steady rate (200/s); the real DatabaseService process is SIGKILLed
while it holds fetched, unacknowledged events (the bench holds SQLite's write lock for the
0.3 s before the kill, so a batch is in flight) and started again at once, as a pod's restart
would. Each event's publish time is stamped by the publisher; its commit is seen by a reader
polling the SQLite file every 5 ms. The figure is the maximum over all events (the events the
dead process held are the point), against 3 s. The resilience test
(``tests/resilience/test_recovery_time.py``) runs the same scenario for exactly-once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bench.common import nats_server
from tests.resilience.timing import KillRun, kill_at_steady_rate

__all__ = ["run_recovery"]


async def run_recovery(*, rate: float, seconds: float, repeat: int, workdir: Path,
                       say: Callable[[str], None] = print) -> list[KillRun]:
    runs = []
    for i in range(repeat):
        run_dir = workdir / f"recovery-{i}"
        run_dir.mkdir(parents=True, exist_ok=True)
        async with nats_server(run_dir, "recovery") as server:
            run = await kill_at_steady_rate(server.url, run_dir, rate=rate, seconds=seconds,
                                            kill_after=seconds / 3)
        if run.counts != (run.sent, run.sent, run.sent):
            raise AssertionError(f"recovery run {i + 1}: {run.counts} for {run.sent} events")
        say(f"  [{i + 1}/{repeat}] {run.summary()}")
        runs.append(run)
    return runs
