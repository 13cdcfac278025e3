"""Schema version 6 (docs/web-contract.md): a version 5 file with chat gains the web page's
tables, its chat and user counts summed up by hour from ``recent_chat`` and
``user_count_history``, and the indexes the page's queries use."""

from __future__ import annotations

import random
import sqlite3
from collections import Counter

from rosey import contract
from rosey.store import activity
from rosey.store.schema import MIGRATIONS, SCHEMA_VERSION, configure_connection, migrate
from rosey.store.writes import apply_event

T0 = 1_764_000_000


def v5_file(path) -> sqlite3.Connection:
    c = sqlite3.connect(path, isolation_level=None)
    configure_connection(c, writer=True)
    for script in MIGRATIONS[:5]:
        for statement in filter(str.strip, script.split(";")):
            c.execute(statement)
    c.execute("PRAGMA user_version = 5")
    return c


def test_a_v5_file_gets_chat_hours_backfilled_line_for_line(tmp_path):
    c = v5_file(tmp_path / "v5.db")
    rng = random.Random(6)
    times = [T0 + rng.randrange(0, 30 * 86400) for _ in range(5000)] + [0, 3599, 3600]
    with c:  # one transaction
        c.execute("BEGIN")
        c.executemany("INSERT INTO recent_chat (timestamp, username, message)"
                      " VALUES (?, 'u', 'm')", [(t,) for t in times])
    c.executemany("INSERT INTO user_count_history (timestamp, chat_users, connected_users)"
                  " VALUES (?, ?, ?)", [(T0, 3, 4), (T0 + 10, 5, 2), (T0 + 3600, 1, 1)])
    assert migrate(c) == 5
    assert c.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    expected = Counter(t - t % 3600 for t in times)
    assert dict(c.execute("SELECT hour_start, lines FROM chat_hours").fetchall()) == expected
    assert c.execute("SELECT count(*) FROM recent_chat").fetchone() == (len(times),)
    assert c.execute("SELECT count(*) FROM user_count_history").fetchone() == (3,)
    assert c.execute("SELECT * FROM user_count_hours ORDER BY 1").fetchall() == [
        (T0, 5, 4, 2), (T0 + 3600, 1, 1, 1)]
    assert c.execute("SELECT count(*) FROM media_plays").fetchone() == (0,)
    # and a line stored afterwards adds to its hour (the query reads chat_hours only)
    c.execute("BEGIN")
    apply_event(c, contract.MessageLog("v", "after", T0), T0)
    c.execute("COMMIT")
    reply = activity.chat_hours(c, contract.ChatHoursQuery(86400, T0 + 3599))
    assert reply.hours[(T0 // 3600) % 24] == expected[T0] + 1


def test_the_page_queries_read_by_their_indexes(tmp_path):
    c = v5_file(tmp_path / "v5.db")
    migrate(c)
    indexes = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"user_count_history_time", "media_plays_time", "media_plays_media",
            "user_stats_present"} <= indexes

    def plan(sql: str, params: tuple) -> str:
        return " ".join(r[3] for r in c.execute(f"EXPLAIN QUERY PLAN {sql}", params))

    assert "media_plays_time" in plan(
        "SELECT * FROM media_plays ORDER BY timestamp DESC, id DESC LIMIT 5", ())
    assert "user_stats_present" in plan(  # as rosey.store.activity.status asks
        "SELECT username FROM user_stats WHERE current_session_start IS NOT NULL"
        " AND last_seen >= ? ORDER BY +username LIMIT 5", (0,))
    assert "COVERING INDEX media_plays_media" in plan(  # as rosey.store.media.media_top
        "SELECT media_type, media_id, title, duration, count(*), max(timestamp) FROM media_plays"
        " INDEXED BY media_plays_media WHERE timestamp BETWEEN ? AND ?"
        " GROUP BY media_type, media_id", (0, 1))
    assert "COVERING INDEX user_count_history_time" in plan(
        "SELECT max(chat_users), max(connected_users) FROM user_count_history"
        " WHERE timestamp BETWEEN ? AND ?", (0, 1))


def test_a_fresh_file_is_current_with_an_empty_chat_hours(tmp_path):
    c = sqlite3.connect(tmp_path / "new.db", isolation_level=None)
    assert migrate(c) == 0
    assert c.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert c.execute("SELECT count(*) FROM chat_hours").fetchone() == (0,)
