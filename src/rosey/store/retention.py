"""Retention: deleting chat lines and user-count rows the operator chose not to keep.

One :func:`prune_step` deletes at most ``batch_rows`` rows of each table, oldest first, in the
caller's transaction: the DatabaseService runs one step at a time on the writer thread between
ingest batches, so pruning a year of rows never holds up a commit by more than one small step.
Deleted pages go to SQLite's free list and new rows reuse them: the file stops growing once
retention is in force (it does not shrink; ``VACUUM`` would rewrite it, and is left to the
operator).

Rows are taken in arrival order (``id``): a step looks only at the oldest ``batch_rows`` rows,
so it never scans the table, and stops once none of those is due. A chat line's ``timestamp``
is when it was said; lines arrive nearly in that order, and one that arrived out of order waits
for the lines before it.

The moderation record, user stats, the outbound queue and the audit log are never pruned.
"""

from __future__ import annotations

import sqlite3

from rosey.config import RetentionSettings

__all__ = ["prune_step"]

_DAY = 86_400.0


def _older(conn: sqlite3.Connection, table: str, cutoff: float, limit: int) -> int:
    return conn.execute(
        f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} ORDER BY id LIMIT ?)"
        " AND timestamp < ?", (limit, cutoff)).rowcount


def _beyond_rows(conn: sqlite3.Connection, keep: int, limit: int) -> int:
    top = conn.execute("SELECT max(id) FROM recent_chat").fetchone()[0]
    if top is None or top <= keep:
        return 0
    return conn.execute(
        "DELETE FROM recent_chat WHERE id IN (SELECT id FROM recent_chat WHERE id <= ?"
        " ORDER BY id LIMIT ?)", (top - keep, limit)).rowcount


def prune_step(conn: sqlite3.Connection, settings: RetentionSettings, now: float) -> dict[str, int]:
    """Delete up to ``settings.batch_rows`` due rows per table; returns the counts by table
    (all zero: nothing is due)."""
    limit = settings.batch_rows
    chat = 0
    if settings.chat_days is not None:
        chat += _older(conn, "recent_chat", now - settings.chat_days * _DAY, limit)
    if settings.chat_rows is not None:
        chat += _beyond_rows(conn, settings.chat_rows, limit)
    counts = 0
    if settings.user_count_days is not None:
        counts = _older(conn, "user_count_history", now - settings.user_count_days * _DAY, limit)
    return {"recent_chat": chat, "user_count_history": counts}
