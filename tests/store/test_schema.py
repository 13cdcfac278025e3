"""Migrations: fresh, older and original (unversioned) files all end up current."""

from __future__ import annotations

import sqlite3

import pytest

from rosey.errors import SchemaTooNew
from rosey.store.schema import MIGRATIONS, SCHEMA_VERSION, migrate
from rosey.store.store import Store
from tests.support.db import rows as read_rows

CONTRACT_TABLES = {"user_stats", "user_actions", "channel_stats", "user_count_history",
                   "recent_chat", "current_status", "outbound_messages"}

# The original Rosey's tables, as a file written before schema versions existed.
ORIGINAL = """
CREATE TABLE user_stats (username TEXT PRIMARY KEY, first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL, total_chat_lines INTEGER DEFAULT 0,
  total_time_connected INTEGER DEFAULT 0, current_session_start INTEGER);
CREATE TABLE user_actions (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp INTEGER NOT NULL,
  username TEXT NOT NULL, action_type TEXT NOT NULL, details TEXT);
INSERT INTO user_stats VALUES ('OldTimer', 100, 200, 42, 3600, NULL);
INSERT INTO user_actions (timestamp, username, action_type, details)
  VALUES (150, 'mod', 'pm_command', 'cmd=help, args: , result: success');
"""


def _tables(path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


async def test_fresh_file_is_created_current_in_wal_mode(tmp_path):
    path = tmp_path / "sub" / "rosey.db"
    async with Store(path) as store:
        assert store.started_at_version == 0
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert CONTRACT_TABLES | {"dead_letters", "applied_events", "ingest_state"} <= _tables(path)


async def test_original_unversioned_file_is_migrated_with_its_rows_intact(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(ORIGINAL)
    async with Store(path) as store:
        rows = read_rows(store.path, "SELECT username, total_chat_lines FROM user_stats")
        actions = read_rows(store.path, "SELECT details FROM user_actions")
    assert rows == [("OldTimer", 42)]
    assert actions == [("cmd=help, args: , result: success",)]
    assert CONTRACT_TABLES <= _tables(path)


async def test_file_at_an_older_version_is_brought_forward(tmp_path):
    path = tmp_path / "v1.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(MIGRATIONS[0] + "; PRAGMA user_version = 1;")
        conn.execute("INSERT INTO recent_chat (timestamp, username, message) VALUES (1, 'a', 'b')")
    async with Store(path) as store:
        assert store.started_at_version == 1
        assert read_rows(store.path, "SELECT message FROM recent_chat") == [("b",)]
        assert store.applied_floor == 0
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_migrating_twice_changes_nothing(tmp_path):
    conn = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    migrate(conn)
    assert migrate(conn) == SCHEMA_VERSION


async def test_file_from_a_newer_rosey_is_refused(tmp_path):
    path = tmp_path / "new.db"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    store = Store(path)
    with pytest.raises(SchemaTooNew):
        await store.open()
    await store.aclose()
