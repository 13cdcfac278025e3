"""The channel's activity for the web page (``docs/web-contract.md``): the graph of user
counts, chat by hour of day, and the channel now (the bot's last status and who is here).

All three read small or indexed tables: ``user_count_history`` by its covering ``timestamp``
index for buckets shorter than an hour, else ``user_count_hours`` (each hour's maxima);
``chat_hours`` instead of ``recent_chat`` (both hourly tables are kept by
:mod:`rosey.store.writes` with every row); open sessions by the partial ``user_stats_present``
index.
"""

from __future__ import annotations

import json
import math
import sqlite3
from typing import Any, Final

from rosey import contract

__all__ = ["user_counts", "chat_hours", "status", "ACTIVITY_QUERIES"]


#: a bucket at least this long is filled from ``user_count_hours``
HOUR: Final = 3600


def user_counts(conn: sqlite3.Connection,
                q: contract.UserCountsQuery) -> contract.UserCountsReply:
    """Non-empty buckets of ``ceil(range / points)`` seconds from ``since``, each the maximum
    of its samples (the last bucket also holds ``until``). Buckets of an hour or more are
    made of whole hours: each hour's maxima go to the bucket its start falls in (the first
    hour, which may start before ``since``, to the first bucket)."""
    since, until = q.span()
    width = max(1, math.ceil((until - since) / q.points))
    if width < HOUR:
        sql = ("SELECT min(?, (timestamp - ?) / ?) AS bucket, max(chat_users),"
               " max(connected_users), count(*) FROM user_count_history"
               " WHERE timestamp BETWEEN ? AND ? GROUP BY bucket ORDER BY bucket")
        params = (q.points - 1, since, width, since, until)
    else:
        sql = ("SELECT max(0, min(?, (hour_start - ?) / ?)) AS bucket, max(chat_users),"
               " max(connected_users), sum(samples) FROM user_count_hours"
               " WHERE hour_start BETWEEN ? AND ? GROUP BY bucket ORDER BY bucket")
        params = (q.points - 1, since, width, since - since % HOUR, until)
    rows = conn.execute(sql, params).fetchall()
    return contract.UserCountsReply(since, until, width, tuple(
        contract.CountPoint(since + int(b) * width, int(chat), int(conn_), int(n))
        for b, chat, conn_, n in rows))


def chat_hours(conn: sqlite3.Connection, q: contract.ChatHoursQuery) -> contract.ChatHoursReply:
    """Lines per hour of day over the whole hours that overlap the range."""
    since, until = q.span()
    rows = conn.execute(
        "SELECT (hour_start / 3600 + ? + 24) % 24, sum(lines) FROM chat_hours"
        " WHERE hour_start BETWEEN ? AND ? GROUP BY 1",
        (q.utc_offset, since - since % 3600, until)).fetchall()
    hours = [0] * 24
    for hour, lines in rows:
        hours[int(hour)] = int(lines)
    return contract.ChatHoursReply(since, until, q.utc_offset, tuple(hours), sum(hours))


def _start_time(status_data: dict[str, Any] | None) -> int:
    """The bot's start (whole seconds, rounded down like the stored times), 0 when unknown."""
    start = None if status_data is None else status_data.get("start_time")
    if isinstance(start, bool) or not isinstance(start, (int, float)) or not math.isfinite(start):
        return 0
    return max(0, int(start))


def status(conn: sqlite3.Connection, q: contract.StatusQuery) -> contract.StatusReply:
    """The last status as sent, and the open sessions seen since the bot last started (an
    older open session is one the bot could not close while it was down)."""
    row = conn.execute("SELECT status_json, last_updated FROM current_status"
                       " WHERE id = 1").fetchone()
    data: dict[str, Any] | None = None
    if row is not None and row[0]:
        loaded = json.loads(row[0])
        data = loaded if isinstance(loaded, dict) else None
    since = _start_time(data)
    where = " WHERE current_session_start IS NOT NULL AND last_seen >= ?"
    present = conn.execute(f"SELECT username, current_session_start FROM user_stats{where}"
                           # +: sort the few present, not walk every user in name order
                           " ORDER BY +username LIMIT ?", (since, q.limit)).fetchall()
    total = conn.execute(f"SELECT count(*) FROM user_stats{where}", (since,)).fetchone()[0]
    return contract.StatusReply(
        data, None if row is None or row[1] is None else int(row[1]),
        tuple(contract.Present(u, int(s)) for u, s in present), int(total))


#: query type -> its answer, for :func:`rosey.store.answers.run_query`
ACTIVITY_QUERIES: Final[dict[type, Any]] = {
    contract.UserCountsQuery: user_counts, contract.ChatHoursQuery: chat_hours,
    contract.StatusQuery: status,
}
