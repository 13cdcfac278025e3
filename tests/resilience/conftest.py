"""Helpers for the resilience tests: a publisher that retries until acknowledged, and a
reader of the SQLite file the DatabaseService process writes."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import nats.errors
from nats.aio.client import Client

from rosey import contract


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


from tests.bot.conftest import cytube  # noqa: E402,F401  (the test CyTube server fixture)
