"""Media plays (``docs/web-contract.md``): apply ``rosey.db.media.played`` and answer the
recently and most played queries.

A play is one ``media_plays`` row. CyTube also sends ``changeMedia`` for the item already
playing when the bot joins or rejoins (``on_join``); such a change of the same media as the
newest stored play, while that play may still be running (or is live), is the same play and
stores nothing. Every other play is a row, also the same media played again.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Final

from rosey import contract

__all__ = ["apply_media_played", "media_recent", "media_top", "MEDIA_QUERIES",
           "CONTINUATION_GRACE"]

#: seconds after a play's end within which a join mid-play still counts as that play
#: (CyTube moves on 2 s after the end; the bot's clock and CyTube's may differ)
CONTINUATION_GRACE: Final = 30
#: a "most played" range longer than this reads the media index (bench/scale.py: on a year
#: of plays, 30 days by time take a few ms; a year by time sorts 50,000 plays)
LONG_RANGE: Final = 45 * 86_400


def _continues(conn: sqlite3.Connection, e: contract.MediaPlayed, at: int) -> bool:
    """A change from a join burst of the media the newest play may still be playing."""
    if not e.on_join:
        return False
    newest = conn.execute("SELECT media_type, media_id, timestamp, duration FROM media_plays"
                          " ORDER BY timestamp DESC, id DESC LIMIT 1").fetchone()
    if newest is None or (newest[0], newest[1]) != (e.media_type, e.media_id):
        return False
    started, duration = int(newest[2]), int(newest[3])
    return duration == 0 or started + duration + CONTINUATION_GRACE >= at - max(e.position, 0)


def apply_media_played(conn: sqlite3.Connection, e: contract.MediaPlayed, at: int) -> None:
    """Record one play (inside the caller's transaction), unless it continues the newest."""
    if _continues(conn, e, at):
        return
    conn.execute(
        "INSERT INTO media_plays (timestamp, media_type, media_id, title, duration, queued_by)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (at, e.media_type, e.media_id, e.title, e.duration, e.queued_by))


def media_recent(conn: sqlite3.Connection,
                 q: contract.MediaRecentQuery) -> contract.MediaRecentReply:
    rows = conn.execute("SELECT id, timestamp, media_type, media_id, title, duration, queued_by"
                        " FROM media_plays ORDER BY timestamp DESC, id DESC LIMIT ?",
                        (q.limit,)).fetchall()
    return contract.MediaRecentReply(tuple(
        contract.Play(int(i), int(t), k, m, title, int(d), who)
        for i, t, k, m, title, d, who in rows))


def media_top(conn: sqlite3.Connection, q: contract.MediaTopQuery) -> contract.MediaTopReply:
    """Plays counted per media over the range. A short range reads its plays by time and
    groups them; a long one reads the covering ``media_plays_media`` index alone, already in
    media order (SQLite would sort every play of the range)."""
    since, until = q.span()
    index = "INDEXED BY media_plays_media" if until - since > LONG_RANGE else ""
    # title and duration are those of the row where max(timestamp) is (SQLite's bare columns)
    rows = conn.execute(
        "SELECT media_type, media_id, title, duration, count(*) AS plays,"
        f" max(timestamp) AS last FROM media_plays {index} WHERE timestamp BETWEEN ? AND ?"
        " GROUP BY media_type, media_id ORDER BY plays DESC, last DESC, media_type, media_id"
        " LIMIT ?", (since, until, q.limit)).fetchall()
    return contract.MediaTopReply(since, until, tuple(
        contract.TopMedia(k, m, title, int(d), int(n), int(last))
        for k, m, title, d, n, last in rows))


#: query type -> its answer, for :func:`rosey.store.answers.run_query`
MEDIA_QUERIES: Final[dict[type, Any]] = {
    contract.MediaRecentQuery: media_recent, contract.MediaTopQuery: media_top,
}
