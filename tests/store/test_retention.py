"""Retention (rosey.store.retention and the DatabaseService's pruning) on real SQLite files:
what goes, what stays, in bounded steps, with the space reused; and the service pruning while
it ingests."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import nats

from rosey import contract
from rosey.config import DbSettings, RetentionSettings
from rosey.dbservice.service import DatabaseService
from rosey.metrics import DbMetrics
from rosey.store.retention import prune_step
from rosey.store.schema import configure_connection, migrate
from tests.support.db import rows
from tests.support.wait import eventually

NOW = 1_800_000_000
DAY = 86_400


def db_with(path: Path, *, old: int, new: int, counts_old: int = 0,
            counts_new: int = 0) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    configure_connection(conn, writer=True)
    migrate(conn)
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO recent_chat (timestamp, username, message) VALUES (?, 'u', ?)",
                     [(NOW - 40 * DAY + i, f"old {i}") for i in range(old)]
                     + [(NOW - DAY + i, f"new {i}") for i in range(new)])
    conn.executemany("INSERT INTO user_count_history (timestamp, chat_users, connected_users)"
                     " VALUES (?, 1, 2)", [(NOW - 100 * DAY + i, ) for i in range(counts_old)]
                     + [(NOW - i, ) for i in range(counts_new)])
    conn.execute("INSERT INTO moderation_actions (timestamp, action, target, actor, origin,"
                 " result) VALUES (?, 'ban', 'troll', 'mod', 'command', 'success')",
                 (NOW - 900 * DAY,))
    conn.execute("COMMIT")
    return conn


def prune_all(conn: sqlite3.Connection, settings: RetentionSettings) -> list[dict[str, int]]:
    steps = []
    while True:
        conn.execute("BEGIN IMMEDIATE")
        counts = prune_step(conn, settings, NOW)
        conn.execute("COMMIT")
        if not any(counts.values()):
            return steps
        steps.append(counts)


def count(conn: sqlite3.Connection, table: str) -> int:
    return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_chat_lines_older_than_the_days_go_in_small_steps_and_the_rest_stays(tmp_path):
    conn = db_with(tmp_path / "r.db", old=2_345, new=100)
    steps = prune_all(conn, RetentionSettings(chat_days=30, batch_rows=500))
    assert [s["recent_chat"] for s in steps] == [500, 500, 500, 500, 345]
    assert count(conn, "recent_chat") == 100
    assert conn.execute("SELECT min(message) FROM recent_chat").fetchone()[0].startswith("new")
    assert count(conn, "moderation_actions") == 1  # the moderation record is never pruned


def test_a_row_limit_keeps_the_newest_lines(tmp_path):
    conn = db_with(tmp_path / "r.db", old=900, new=100)
    prune_all(conn, RetentionSettings(chat_rows=250, batch_rows=200))
    assert count(conn, "recent_chat") == 250
    kept = conn.execute("SELECT message FROM recent_chat ORDER BY id").fetchall()
    assert kept[0][0] == "old 750" and kept[-1][0] == "new 99"


def test_user_counts_have_their_own_limit_and_chat_is_kept_by_default(tmp_path):
    conn = db_with(tmp_path / "r.db", old=50, new=5, counts_old=1_200, counts_new=30)
    prune_all(conn, RetentionSettings(user_count_days=90))
    assert count(conn, "user_count_history") == 30
    assert count(conn, "recent_chat") == 55
    assert not RetentionSettings().enabled


def test_pruned_space_is_reused_so_the_file_stops_growing(tmp_path):
    path = tmp_path / "r.db"
    conn = db_with(path, old=20_000, new=0)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
    prune_all(conn, RetentionSettings(chat_days=30, batch_rows=1_000))
    assert int(conn.execute("PRAGMA freelist_count").fetchone()[0]) > pages // 2
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO recent_chat (timestamp, username, message) VALUES (?, 'u', ?)",
                     [(NOW + i, f"old {i}") for i in range(20_000)])  # the same size again
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    # without reuse the file would double; B-tree splits land a few pages differently
    assert int(conn.execute("PRAGMA page_count").fetchone()[0]) <= pages * 1.05


async def test_the_service_prunes_old_lines_while_it_ingests(nats_server, tmp_path):
    path = tmp_path / "rosey.db"
    now = time.time()
    conn = sqlite3.connect(path, isolation_level=None)
    configure_connection(conn, writer=True)
    migrate(conn)
    conn.executemany("INSERT INTO recent_chat (timestamp, username, message) VALUES (?, 'u', ?)",
                     [(int(now) - 10 * DAY + i, f"old {i}") for i in range(3_000)])
    conn.close()
    settings = DbSettings(nats_url=nats_server.url, db_path=path, metrics_port=0,
                          retention=RetentionSettings(chat_days=7, interval_seconds=0.2,
                                                      batch_rows=250))
    async with DatabaseService(settings=settings, metrics=DbMetrics(),
                               serve_metrics=False) as svc:
        await svc.wait_ready()
        nc = await nats.connect(nats_server.url)
        try:
            js = nc.jetstream()
            for i in range(200):
                await js.publish(contract.MESSAGE_LOG,
                                 json.dumps({"username": "live", "message": str(i)}).encode())
            await eventually(lambda: rows(path, "SELECT count(*) FROM recent_chat")[0][0] == 200,
                             timeout=30, what="old lines pruned, live lines kept")
        finally:
            await nc.close()
        pruned = svc.metrics.registry.get_sample_value("rosey_db_rows_pruned_total",
                                                       {"table": "recent_chat"})
        assert pruned == 3_000
    assert rows(path, "SELECT count(*) FROM recent_chat WHERE username = 'live'")[0][0] == 200
