"""The SQLite schema: the contract's tables, Rosey's own bookkeeping, and forward migrations.

``PRAGMA user_version`` holds the schema version. :func:`migrate` brings any file forward,
one step at a time, each step in its own transaction: a fresh file, a file written by an
older Rosey, and a file from the original (unversioned) Rosey whose tables already exist all
end up current. A file newer than this code is refused (:class:`SchemaTooNew`) rather than
written to.

Version 1 is the wire contract's tables. Version 2 adds what exactly-once ingest needs:
``dead_letters`` (rejected events with their raw bytes), ``applied_events`` (stream sequences
applied above the floor) and ``ingest_state`` (the floor itself). Version 3 adds indexes for
the queries. Version 4 adds the moderation record (``docs/moderation.md``):
``moderation_actions``, ``punishments``, ``strikes`` and ``notes``; ``user_actions`` is untouched.
Version 5 is automatic moderation's: ``moderation_actions`` gains ``rule`` and ``dry_run``
(older rows: NULL and 0), and ``raid_state`` keeps raid mode (one row, absent until first set).
Version 6 is the web page's (``docs/web-contract.md``): ``media_plays`` (one row per play),
``chat_hours`` and ``user_count_hours`` (chat lines and user-count maxima per hour, filled from
``recent_chat`` and ``user_count_history`` by the step itself, each in one set-based
statement) and the indexes the page's queries read by. Version 7 is the moderators' view's
(``rosey.db.query.moderation_page``): indexes on ``moderation_actions`` by ``action``,
``origin``, ``rule`` (each with ``id``, so a filter reads its newest rows first) and
``timestamp`` (a time range becomes a range of ids), so every filter of the whole record is read
from an index.
"""

from __future__ import annotations

import sqlite3
from typing import Final

import structlog

from rosey.errors import SchemaTooNew

__all__ = ["SCHEMA_VERSION", "MIGRATIONS", "migrate", "configure_connection", "schema_version",
           "BUSY_TIMEOUT_SECONDS"]

log = structlog.get_logger()

_V1: Final = """
CREATE TABLE IF NOT EXISTS user_stats (
    username TEXT PRIMARY KEY COLLATE NOCASE,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    total_chat_lines INTEGER NOT NULL DEFAULT 0,
    total_time_connected INTEGER NOT NULL DEFAULT 0,
    current_session_start INTEGER
);
CREATE TABLE IF NOT EXISTS user_actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp INTEGER NOT NULL,
    username TEXT NOT NULL,
    action_type TEXT NOT NULL,
    details TEXT
);
CREATE TABLE IF NOT EXISTS channel_stats (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    max_users INTEGER NOT NULL DEFAULT 0,
    max_users_timestamp INTEGER,
    max_connected INTEGER NOT NULL DEFAULT 0,
    max_connected_timestamp INTEGER,
    last_updated INTEGER
);
INSERT OR IGNORE INTO channel_stats (id, max_users, max_connected) VALUES (1, 0, 0);
CREATE TABLE IF NOT EXISTS user_count_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp INTEGER NOT NULL,
    chat_users INTEGER NOT NULL,
    connected_users INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS recent_chat (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp INTEGER NOT NULL,
    username TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS current_status (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    bot_name TEXT,
    bot_rank REAL,
    channel TEXT,
    current_chatters INTEGER,
    current_connected INTEGER,
    playlist_items INTEGER,
    current_media_title TEXT,
    current_media_duration INTEGER,
    bot_connected INTEGER,
    bot_start_time INTEGER,
    status_json TEXT,
    last_updated INTEGER
);
CREATE TABLE IF NOT EXISTS outbound_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp INTEGER NOT NULL,
    message TEXT NOT NULL,
    sent INTEGER NOT NULL DEFAULT 0,
    sent_timestamp INTEGER,
    retry_count INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
"""

_V2: Final = """
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received INTEGER NOT NULL,
    subject TEXT NOT NULL,
    stream_seq INTEGER,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS applied_events (
    seq INTEGER PRIMARY KEY
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ingest_state (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO ingest_state (key, value) VALUES ('applied_floor', 0);
"""

_V3: Final = """
CREATE INDEX IF NOT EXISTS user_stats_chat_lines ON user_stats (total_chat_lines DESC);
CREATE INDEX IF NOT EXISTS outbound_unsent ON outbound_messages (sent, id);
CREATE INDEX IF NOT EXISTS user_actions_time ON user_actions (timestamp);
"""

_V4: Final = """
CREATE TABLE IF NOT EXISTS moderation_actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp INTEGER NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    actor TEXT NOT NULL,
    origin TEXT NOT NULL,
    result TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    duration INTEGER,
    expires_at INTEGER,
    command TEXT,
    error TEXT,
    ref TEXT
);
CREATE INDEX IF NOT EXISTS moderation_actions_target ON moderation_actions (target COLLATE NOCASE, id);
CREATE INDEX IF NOT EXISTS moderation_actions_actor ON moderation_actions (actor COLLATE NOCASE, id);
CREATE TABLE IF NOT EXISTS punishments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    target TEXT NOT NULL COLLATE NOCASE,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    started INTEGER NOT NULL,
    expires_at INTEGER,
    ended_at INTEGER,
    ended_how TEXT,
    last_error TEXT,
    action_id INTEGER NOT NULL REFERENCES moderation_actions (id)
);
CREATE INDEX IF NOT EXISTS punishments_active ON punishments (ended_at, expires_at);
CREATE INDEX IF NOT EXISTS punishments_target ON punishments (target, id);
CREATE TABLE IF NOT EXISTS strikes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    target TEXT NOT NULL COLLATE NOCASE,
    timestamp INTEGER NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    ref TEXT,
    action_id INTEGER NOT NULL REFERENCES moderation_actions (id)
);
CREATE INDEX IF NOT EXISTS strikes_target ON strikes (target, timestamp);
CREATE TABLE IF NOT EXISTS notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    target TEXT NOT NULL COLLATE NOCASE,
    timestamp INTEGER NOT NULL,
    actor TEXT NOT NULL,
    text TEXT NOT NULL,
    action_id INTEGER NOT NULL REFERENCES moderation_actions (id)
);
CREATE INDEX IF NOT EXISTS notes_target ON notes (target, id);
"""

# ALTER TABLE has no IF NOT EXISTS: this step runs once, on a file at version 4
_V5: Final = """
ALTER TABLE moderation_actions ADD COLUMN rule TEXT;
ALTER TABLE moderation_actions ADD COLUMN dry_run INTEGER NOT NULL DEFAULT 0;
CREATE TABLE IF NOT EXISTS raid_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    active INTEGER NOT NULL,
    saved_options TEXT,
    reason TEXT NOT NULL DEFAULT '',
    started_at REAL,
    updated_at REAL NOT NULL
);
"""

# one transaction: the backfill counts recent_chat as it is when the step runs, and every
# chat line stored after it adds to its hour (rosey.store.writes)
_V6: Final = """
CREATE TABLE IF NOT EXISTS media_plays (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp INTEGER NOT NULL,
    media_type TEXT NOT NULL,
    media_id TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    duration INTEGER NOT NULL DEFAULT 0,
    queued_by TEXT
);
CREATE INDEX IF NOT EXISTS media_plays_time ON media_plays (timestamp);
-- covering: "most played" over a long range reads this index alone, in media order
CREATE INDEX IF NOT EXISTS media_plays_media
    ON media_plays (media_type, media_id, timestamp, duration, title);
CREATE TABLE IF NOT EXISTS chat_hours (
    hour_start INTEGER PRIMARY KEY,
    lines INTEGER NOT NULL
);
DELETE FROM chat_hours;
INSERT INTO chat_hours (hour_start, lines)
    SELECT timestamp - timestamp % 3600, count(*) FROM recent_chat GROUP BY 1;
CREATE TABLE IF NOT EXISTS user_count_hours (
    hour_start INTEGER PRIMARY KEY,
    chat_users INTEGER NOT NULL,
    connected_users INTEGER NOT NULL,
    samples INTEGER NOT NULL
);
DELETE FROM user_count_hours;
INSERT INTO user_count_hours (hour_start, chat_users, connected_users, samples)
    SELECT timestamp - timestamp % 3600, max(chat_users), max(connected_users), count(*)
    FROM user_count_history GROUP BY 1;
CREATE INDEX IF NOT EXISTS user_count_history_time
    ON user_count_history (timestamp, chat_users, connected_users);
CREATE INDEX IF NOT EXISTS user_stats_present ON user_stats (current_session_start)
    WHERE current_session_start IS NOT NULL;
"""

# the moderators' view (rosey.store.moderation.moderation_page): target and actor have theirs
# since version 4; rule is NULL on every row but automod's, so its index holds only those
_V7: Final = """
CREATE INDEX IF NOT EXISTS moderation_actions_action ON moderation_actions (action, id);
CREATE INDEX IF NOT EXISTS moderation_actions_origin ON moderation_actions (origin, id);
CREATE INDEX IF NOT EXISTS moderation_actions_rule ON moderation_actions (rule, id)
    WHERE rule IS NOT NULL;
CREATE INDEX IF NOT EXISTS moderation_actions_time ON moderation_actions (timestamp);
"""

#: MIGRATIONS[n] takes a file from version n to n + 1.
MIGRATIONS: Final[tuple[str, ...]] = (_V1, _V2, _V3, _V4, _V5, _V6, _V7)
SCHEMA_VERSION: Final = len(MIGRATIONS)


#: how long a statement waits for another connection's lock before "database is locked"
BUSY_TIMEOUT_SECONDS: Final = 5.0


def configure_connection(conn: sqlite3.Connection, *, writer: bool,
                         busy_timeout: float = BUSY_TIMEOUT_SECONDS,
                         synchronous: str = "full") -> None:
    """Pragmas every connection gets; WAL lets queries read while the writer commits.
    ``busy_timeout``: seconds a statement waits for a lock held elsewhere; ``synchronous``:
    "full" unless an operator chose "normal" (``DbSettings.synchronous``)."""
    conn.execute(f"PRAGMA busy_timeout = {round(busy_timeout * 1000)}")
    conn.execute("PRAGMA foreign_keys = ON")
    if writer:
        conn.execute("PRAGMA journal_mode = WAL")
        # FULL: a commit is on disk before the batch is acknowledged to JetStream, so not
        # even a power cut can lose an acknowledged event (NORMAL risks the last commits:
        # tests/resilience/test_power_loss.py shows both)
        level = {"full": "FULL", "normal": "NORMAL"}[synchronous]
        conn.execute(f"PRAGMA synchronous = {level}")


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the file to :data:`SCHEMA_VERSION`; return the version it started at."""
    start = schema_version(conn)
    if start > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"database schema version {start} is newer than this Rosey ({SCHEMA_VERSION})")
    for version in range(start, SCHEMA_VERSION):
        with conn:  # one transaction per step
            conn.execute("BEGIN IMMEDIATE")
            for statement in _statements(MIGRATIONS[version]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
        log.info("schema_migrated", from_version=version, to_version=version + 1)
    return start


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
