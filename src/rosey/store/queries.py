"""The read side: the contract's queries, as plain dicts and lists ready to encode."""

from __future__ import annotations

import sqlite3
from typing import Any

from rosey import contract

__all__ = ["channel_stats", "user_stats", "outbound_get", "recent_chat", "run_query"]


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def channel_stats(conn: sqlite3.Connection, _: contract.ChannelStatsQuery) -> dict[str, Any]:
    row = conn.execute("SELECT max_users, max_users_timestamp, max_connected,"
                       " max_connected_timestamp FROM channel_stats WHERE id = 1").fetchone()
    max_users, max_users_ts, max_conn, max_conn_ts = row or (0, None, 0, None)
    top = conn.execute("SELECT username, total_chat_lines FROM user_stats"
                       " WHERE total_chat_lines > 0"
                       " ORDER BY total_chat_lines DESC, username LIMIT 10").fetchall()
    total = conn.execute("SELECT count(*) FROM user_stats").fetchone()[0]
    return {
        "success": True,
        "high_water_mark": {"users": int(max_users), "timestamp": _int_or_none(max_users_ts)},
        "high_water_connected": {"users": int(max_conn), "timestamp": _int_or_none(max_conn_ts)},
        "top_chatters": [{"username": u, "chat_lines": int(n)} for u, n in top],
        "total_users_seen": int(total),
    }


def user_stats(conn: sqlite3.Connection, q: contract.UserStatsQuery) -> dict[str, Any]:
    row = conn.execute("SELECT username, first_seen, last_seen, total_chat_lines,"
                       " total_time_connected, current_session_start FROM user_stats"
                       " WHERE username = ?", (q.username,)).fetchone()
    if row is None:
        return {"success": True, "found": False, "username": q.username}
    keys = ("username", "first_seen", "last_seen", "total_chat_lines", "total_time_connected",
            "current_session_start")
    return {"success": True, "found": True, **dict(zip(keys, row, strict=False))}


def outbound_get(conn: sqlite3.Connection, q: contract.OutboundGetQuery) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT id, timestamp, message, retry_count FROM outbound_messages"
                        " WHERE sent = 0 AND retry_count < ? ORDER BY id LIMIT ?",
                        (q.max_retries, q.limit)).fetchall()
    return [{"id": i, "timestamp": int(t), "message": m, "retry_count": r} for i, t, m, r in rows]


def recent_chat(conn: sqlite3.Connection, q: contract.RecentChatQuery) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT timestamp, username, message FROM"
                        " (SELECT id, timestamp, username, message FROM recent_chat"
                        "  ORDER BY id DESC LIMIT ?) ORDER BY id", (q.limit,)).fetchall()
    return [{"timestamp": int(t), "username": u, "message": m} for t, u, m in rows]


_QUERIES: dict[type, Any] = {
    contract.ChannelStatsQuery: channel_stats,
    contract.UserStatsQuery: user_stats,
    contract.OutboundGetQuery: outbound_get,
    contract.RecentChatQuery: recent_chat,
}


def run_query(conn: sqlite3.Connection, query: contract.Query) -> Any:
    return _QUERIES[type(query)](conn, query)
