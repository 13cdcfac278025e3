"""Retention under load (issue 22 item 2): publish-to-committed at a steady rate while the
DatabaseService prunes a backlog of old chat lines, beside the same run without pruning.

The pruned file holds ``old_lines`` chat lines said 400 days ago and ``ROSEY_RETAIN_CHAT_DAYS``
is 365, so the service starts pruning them at once, in steps of 500 rows between ingest
batches (rosey.dbservice.retention), while the real Publisher sends events at ``rate``. The
run is long enough for pruning to finish inside it; the part says whether it did.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.steady import SteadyResult, run_steady
from rosey.store.schema import configure_connection, migrate

__all__ = ["RetentionResult", "run_retention_bench", "old_chat_file"]

DAY = 86_400


@dataclass
class RetentionResult:
    old_lines: int
    left: int
    plain: SteadyResult
    pruning: SteadyResult


def old_chat_file(path: Path, lines: int) -> None:
    """A Rosey file whose ``lines`` chat lines were all said 400 days ago."""
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    configure_connection(conn, writer=True)
    migrate(conn)
    start = int(time.time()) - 400 * DAY
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO recent_chat (timestamp, username, message) VALUES (?, ?, ?)",
        ((start + i, f"old{i % 5_000:04d}", f"an old chat line, number {i}")
         for i in range(lines)))
    conn.execute("COMMIT")
    conn.close()


def _old_left(path: Path) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM recent_chat WHERE timestamp < ?",
                                (int(time.time()) - 365 * DAY,)).fetchone()[0])
    finally:
        conn.close()


async def run_retention_bench(*, old_lines: int, rate: float, seconds: float, batch: int,
                              workdir: Path, say: Callable[[str], None] = print
                              ) -> RetentionResult:
    runs = {}
    for name in ("plain", "pruning"):  # each run its own nats-server store and files
        runs[name] = workdir / f"retention-{name}"
        runs[name].mkdir(exist_ok=True)
    say(f"  without pruning: {rate:,.0f} ev/s for {seconds:.0f} s")
    plain = await run_steady(rate=rate, seconds=seconds, batch=batch, workdir=runs["plain"])
    db = runs["pruning"] / "retention.db"
    old_chat_file(db, old_lines)
    say(f"  pruning {old_lines:,} old chat lines: {rate:,.0f} ev/s for {seconds:.0f} s")
    pruning = await run_steady(rate=rate, seconds=seconds, batch=batch, workdir=runs["pruning"],
                               db_path=db, db_env={"ROSEY_RETAIN_CHAT_DAYS": "365"})
    return RetentionResult(old_lines, _old_left(db), plain, pruning)
