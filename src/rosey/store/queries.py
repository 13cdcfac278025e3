"""The read side: the wire contract's queries, answered with the contract's reply dataclasses
(the moderation record's are :mod:`rosey.store.moderation`'s; :mod:`rosey.store.answers` puts
both together)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, Final

from rosey import contract

__all__ = ["channel_stats", "user_stats", "outbound_get", "recent_chat", "QUERIES"]


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def channel_stats(conn: sqlite3.Connection,
                  _: contract.ChannelStatsQuery) -> contract.ChannelStatsReply:
    row = conn.execute("SELECT max_users, max_users_timestamp, max_connected,"
                       " max_connected_timestamp FROM channel_stats WHERE id = 1").fetchone()
    max_users, max_users_ts, max_conn, max_conn_ts = row or (0, None, 0, None)
    top = conn.execute("SELECT username, total_chat_lines FROM user_stats"
                       " WHERE total_chat_lines > 0"
                       " ORDER BY total_chat_lines DESC, username LIMIT 10").fetchall()
    total = conn.execute("SELECT count(*) FROM user_stats").fetchone()[0]
    return contract.ChannelStatsReply(
        high_water_mark=contract.HighWaterMark(int(max_users), _int_or_none(max_users_ts)),
        high_water_connected=contract.HighWaterMark(int(max_conn), _int_or_none(max_conn_ts)),
        top_chatters=tuple(contract.TopChatter(u, int(n)) for u, n in top),
        total_users_seen=int(total))


def user_stats(conn: sqlite3.Connection, q: contract.UserStatsQuery) -> contract.UserStatsReply:
    row = conn.execute("SELECT username, first_seen, last_seen, total_chat_lines,"
                       " total_time_connected, current_session_start FROM user_stats"
                       " WHERE username = ?", (q.username,)).fetchone()
    if row is None:
        return contract.UserStatsReply(q.username)
    name, first, last, lines, connected, session = row
    return contract.UserStatsReply(name, contract.UserRecord(
        name, int(first), int(last), int(lines), int(connected), _int_or_none(session)))


def outbound_get(conn: sqlite3.Connection,
                 q: contract.OutboundGetQuery) -> contract.OutboundGetReply:
    rows = conn.execute("SELECT id, timestamp, message, retry_count FROM outbound_messages"
                        " WHERE sent = 0 AND retry_count < ? ORDER BY id LIMIT ?",
                        (q.max_retries, q.limit)).fetchall()
    return contract.OutboundGetReply(tuple(
        contract.OutboundMessage(int(i), int(t), m, int(r)) for i, t, m, r in rows))


def recent_chat(conn: sqlite3.Connection, q: contract.RecentChatQuery) -> contract.RecentChatReply:
    rows = conn.execute("SELECT timestamp, username, message FROM"
                        " (SELECT id, timestamp, username, message FROM recent_chat"
                        "  ORDER BY id DESC LIMIT ?) ORDER BY id", (q.limit,)).fetchall()
    return contract.RecentChatReply(tuple(contract.ChatLine(int(t), u, m) for t, u, m in rows))


#: query type -> its answer
QUERIES: Final[dict[type, Callable[[sqlite3.Connection, Any], contract.Reply]]] = {
    contract.ChannelStatsQuery: channel_stats,
    contract.UserStatsQuery: user_stats,
    contract.OutboundGetQuery: outbound_get,
    contract.RecentChatQuery: recent_chat,
}
