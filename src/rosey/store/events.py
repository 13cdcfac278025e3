"""The write side: apply contract events to the database.

Each ``apply_*`` function runs the statements for one event on a connection that is already
inside a transaction; :mod:`rosey.store.store` groups them into one transaction per batch. All
statements are parameterized; user input never becomes SQL text.

Times are stored as whole Unix seconds. ``at`` is the event's own timestamp or, when it has
none, the time the receiver chose for it (the stream's receive time under JetStream).

Decisions where the contract is silent:
- usernames match case-insensitively (CyTube names are unique regardless of case); the row
  keeps the spelling first seen;
- a join while a session is already open keeps the open session (the bot re-announces
  everyone in the userlist after it reconnects);
- a leave for an unknown user creates the row with a closed session, so no event is lost;
- ``mark_sent`` for an unknown or already-sent id changes nothing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

from rosey import contract

__all__ = ["apply_event", "APPLIERS"]


def _user_joined(conn: sqlite3.Connection, e: Any, at: int) -> None:
    conn.execute(
        "INSERT INTO user_stats (username, first_seen, last_seen, total_chat_lines,"
        " total_time_connected, current_session_start) VALUES (?, ?, ?, 0, 0, ?)"
        " ON CONFLICT (username) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen),"
        " current_session_start = coalesce(current_session_start, excluded.current_session_start)",
        (e.username, at, at, at))


def _user_left(conn: sqlite3.Connection, e: Any, at: int) -> None:
    conn.execute(
        "INSERT INTO user_stats (username, first_seen, last_seen, total_chat_lines,"
        " total_time_connected, current_session_start) VALUES (?, ?, ?, 0, 0, NULL)"
        " ON CONFLICT (username) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen),"
        " total_time_connected = total_time_connected"
        "   + coalesce(max(0, excluded.last_seen - current_session_start), 0),"
        " current_session_start = NULL",
        (e.username, at, at))


def _message_log(conn: sqlite3.Connection, e: Any, at: int) -> None:
    conn.execute(
        "INSERT INTO user_stats (username, first_seen, last_seen, total_chat_lines,"
        " total_time_connected, current_session_start) VALUES (?, ?, ?, 1, 0, NULL)"
        " ON CONFLICT (username) DO UPDATE SET total_chat_lines = total_chat_lines + 1,"
        " last_seen = max(last_seen, excluded.last_seen)",
        (e.username, at, at))
    conn.execute("INSERT INTO recent_chat (timestamp, username, message) VALUES (?, ?, ?)",
                 (at, e.username, e.message))


def _user_count(conn: sqlite3.Connection, e: Any, at: int) -> None:
    conn.execute(
        "INSERT INTO user_count_history (timestamp, chat_users, connected_users) VALUES (?, ?, ?)",
        (at, e.chat_count, e.connected_count))


def _high_water(conn: sqlite3.Connection, e: Any, at: int) -> None:
    conn.execute(
        "UPDATE channel_stats SET max_users = ?, max_users_timestamp = ?, last_updated = ?"
        " WHERE id = 1 AND ? > max_users", (e.chat_count, at, at, e.chat_count))
    if e.connected_count is not None:
        conn.execute(
            "UPDATE channel_stats SET max_connected = ?, max_connected_timestamp = ?,"
            " last_updated = ? WHERE id = 1 AND ? > max_connected",
            (e.connected_count, at, at, e.connected_count))


_STATUS_COLUMNS = {
    # column: accepted keys in status_data, first found wins
    "bot_name": ("bot_name", "name"),
    "bot_rank": ("bot_rank", "rank"),
    "channel": ("channel", "channel_name"),
    "current_chatters": ("current_chatters", "chat_count", "user_count"),
    "current_connected": ("current_connected", "connected_count", "current_viewers"),
    "playlist_items": ("playlist_items", "playlist_size"),
    "current_media_title": ("current_media_title", "current_media"),
    "current_media_duration": ("current_media_duration",),
    "bot_connected": ("bot_connected", "connected"),
    "bot_start_time": ("bot_start_time", "start_time"),
}


def _scalar(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float, str)) or value is None:
        return value
    if isinstance(value, dict) and "title" in value:  # current_media as an object
        return _scalar(value["title"])
    return json.dumps(value)


def _status_update(conn: sqlite3.Connection, e: Any, at: int) -> None:
    data = e.status_data
    values = {col: _scalar(next((data[k] for k in keys if k in data), None))
              for col, keys in _STATUS_COLUMNS.items()}
    columns = list(values)
    conn.execute(
        f"INSERT OR REPLACE INTO current_status (id, {', '.join(columns)}, status_json,"
        f" last_updated) VALUES (1, {', '.join('?' * len(columns))}, ?, ?)",
        (*values.values(), json.dumps(data, ensure_ascii=False), at))


def _mark_sent(conn: sqlite3.Connection, e: Any, at: int) -> None:
    conn.execute("UPDATE outbound_messages SET sent = 1, sent_timestamp = ? WHERE id = ?"
                 " AND sent = 0", (at, e.message_id))


def _enqueue(conn: sqlite3.Connection, e: Any, at: int) -> None:
    conn.execute("INSERT INTO outbound_messages (timestamp, message, sent, retry_count)"
                 " VALUES (?, ?, 0, 0)", (at, e.message))


def pm_command_details(e: contract.PmCommand) -> str:
    """``cmd=stats, args: Alice, result: success`` (full args, never redacted)."""
    details = f"cmd={e.command}, args: {e.args}, result: {e.result}"
    if e.error:
        details += f", error: {e.error}"
    return details


def _pm_command(conn: sqlite3.Connection, e: Any, at: int) -> None:
    conn.execute("INSERT INTO user_actions (timestamp, username, action_type, details)"
                 " VALUES (?, ?, 'pm_command', ?)", (at, e.username, pm_command_details(e)))


Applier = Callable[[sqlite3.Connection, Any, int], None]

APPLIERS: dict[type, Applier] = {
    contract.UserJoined: _user_joined,
    contract.UserLeft: _user_left,
    contract.MessageLog: _message_log,
    contract.UserCount: _user_count,
    contract.HighWater: _high_water,
    contract.StatusUpdate: _status_update,
    contract.MarkSent: _mark_sent,
    contract.Enqueue: _enqueue,
    contract.PmCommand: _pm_command,
}


def apply_event(conn: sqlite3.Connection, event: contract.Event, received: float) -> None:
    """Apply one decoded event. ``received`` is used when the event carries no timestamp."""
    ts = getattr(event, "timestamp", None)
    at = int(ts if ts is not None else received)
    APPLIERS[type(event)](conn, event, at)
