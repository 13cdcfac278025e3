"""The write side: apply contract events to the database.

Each applier runs the statements for one event on a connection that is already
inside a transaction; :mod:`rosey.store.store` groups them into one transaction per batch. All
statements are parameterized; user input never becomes SQL text.

Times are stored as whole Unix seconds. ``at`` is the event's own timestamp or, when it has
none, the time the receiver chose for it (the stream's receive time under JetStream); the
rule lives in :attr:`rosey.store.store.Incoming.at`.

Decisions where the contract is silent:
- usernames match case-insensitively (CyTube names are unique regardless of case); the row
  keeps the spelling first seen;
- a join while a session is already open keeps the open session (the bot re-announces
  everyone in the userlist after it reconnects);
- a leave for an unknown user creates the row with a closed session, so no event is lost;
- ``mark_sent`` for an unknown or already-sent id changes nothing;
- ``current_status`` columns come from :class:`~rosey.contract.BotStatus`'s keys (the bot's);
  ``status_json`` keeps the whole object as sent;
- each chat line also adds 1 to its hour in ``chat_hours``, and each user count raises its
  hour's maxima in ``user_count_hours`` (``docs/web-contract.md``), in the same transaction as
  its own row, so the tables always agree.
"""

from __future__ import annotations

import json
import sqlite3
from typing import assert_never

from rosey import contract
from rosey.store.media import apply_media_played
from rosey.store.moderation import apply_moderation, apply_raid_state

__all__ = ["apply_event"]


def _user_joined(conn: sqlite3.Connection, e: contract.UserJoined, at: int) -> None:
    conn.execute(
        "INSERT INTO user_stats (username, first_seen, last_seen, total_chat_lines,"
        " total_time_connected, current_session_start) VALUES (?, ?, ?, 0, 0, ?)"
        " ON CONFLICT (username) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen),"
        " current_session_start = coalesce(current_session_start, excluded.current_session_start)",
        (e.username, at, at, at))


def _user_left(conn: sqlite3.Connection, e: contract.UserLeft, at: int) -> None:
    conn.execute(
        "INSERT INTO user_stats (username, first_seen, last_seen, total_chat_lines,"
        " total_time_connected, current_session_start) VALUES (?, ?, ?, 0, 0, NULL)"
        " ON CONFLICT (username) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen),"
        " total_time_connected = total_time_connected"
        "   + coalesce(max(0, excluded.last_seen - current_session_start), 0),"
        " current_session_start = NULL",
        (e.username, at, at))


def _message_log(conn: sqlite3.Connection, e: contract.MessageLog, at: int) -> None:
    conn.execute(
        "INSERT INTO user_stats (username, first_seen, last_seen, total_chat_lines,"
        " total_time_connected, current_session_start) VALUES (?, ?, ?, 1, 0, NULL)"
        " ON CONFLICT (username) DO UPDATE SET total_chat_lines = total_chat_lines + 1,"
        " last_seen = max(last_seen, excluded.last_seen)",
        (e.username, at, at))
    conn.execute("INSERT INTO recent_chat (timestamp, username, message) VALUES (?, ?, ?)",
                 (at, e.username, e.message))
    conn.execute("INSERT INTO chat_hours (hour_start, lines) VALUES (?, 1)"
                 " ON CONFLICT (hour_start) DO UPDATE SET lines = lines + 1", (at - at % 3600,))


def _user_count(conn: sqlite3.Connection, e: contract.UserCount, at: int) -> None:
    conn.execute(
        "INSERT INTO user_count_history (timestamp, chat_users, connected_users) VALUES (?, ?, ?)",
        (at, e.chat_count, e.connected_count))
    conn.execute(
        "INSERT INTO user_count_hours (hour_start, chat_users, connected_users, samples)"
        " VALUES (?, ?, ?, 1) ON CONFLICT (hour_start) DO UPDATE SET"
        " chat_users = max(chat_users, excluded.chat_users),"
        " connected_users = max(connected_users, excluded.connected_users),"
        " samples = samples + 1", (at - at % 3600, e.chat_count, e.connected_count))


def _high_water(conn: sqlite3.Connection, e: contract.HighWater, at: int) -> None:
    conn.execute(
        "UPDATE channel_stats SET max_users = ?, max_users_timestamp = ?, last_updated = ?"
        " WHERE id = 1 AND ? > max_users", (e.chat_count, at, at, e.chat_count))
    if e.connected_count is not None:
        conn.execute(
            "UPDATE channel_stats SET max_connected = ?, max_connected_timestamp = ?,"
            " last_updated = ? WHERE id = 1 AND ? > max_connected",
            (e.connected_count, at, at, e.connected_count))


def _status_update(conn: sqlite3.Connection, e: contract.StatusUpdate, at: int) -> None:
    s = e.status
    conn.execute(
        "INSERT OR REPLACE INTO current_status (id, bot_name, bot_rank, channel,"
        " current_chatters, current_connected, playlist_items, current_media_title,"
        " current_media_duration, bot_connected, bot_start_time, status_json, last_updated)"
        " VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (s.bot_name, s.bot_rank, s.channel, s.chat_count, s.connected_count, s.playlist_size,
         None if s.current_media is None else s.current_media.title, s.current_media_duration,
         None if s.connected is None else int(s.connected),
         None if s.start_time is None else int(s.start_time),
         json.dumps(e.status_data, ensure_ascii=False), at))


def _mark_sent(conn: sqlite3.Connection, e: contract.MarkSent, at: int) -> None:
    conn.execute("UPDATE outbound_messages SET sent = 1, sent_timestamp = ? WHERE id = ?"
                 " AND sent = 0", (at, e.message_id))


def _enqueue(conn: sqlite3.Connection, e: contract.Enqueue, at: int) -> None:
    conn.execute("INSERT INTO outbound_messages (timestamp, message, sent, retry_count)"
                 " VALUES (?, ?, 0, 0)", (at, e.message))


def _pm_command_details(e: contract.PmCommand) -> str:
    """``cmd=stats, args: Alice, result: success`` (full args, never redacted)."""
    details = f"cmd={e.command}, args: {e.args}, result: {e.result}"
    if e.error:
        details += f", error: {e.error}"
    return details


def _pm_command(conn: sqlite3.Connection, e: contract.PmCommand, at: int) -> None:
    conn.execute("INSERT INTO user_actions (timestamp, username, action_type, details)"
                 " VALUES (?, ?, 'pm_command', ?)", (at, e.username, _pm_command_details(e)))


def apply_event(conn: sqlite3.Connection, event: contract.Event, at: int) -> None:
    """Apply one decoded event; ``at`` is its time (:attr:`rosey.store.store.Incoming.at`)."""
    match event:
        case contract.MessageLog():
            _message_log(conn, event, at)
        case contract.UserJoined():
            _user_joined(conn, event, at)
        case contract.UserLeft():
            _user_left(conn, event, at)
        case contract.UserCount():
            _user_count(conn, event, at)
        case contract.HighWater():
            _high_water(conn, event, at)
        case contract.StatusUpdate():
            _status_update(conn, event, at)
        case contract.MarkSent():
            _mark_sent(conn, event, at)
        case contract.Enqueue():
            _enqueue(conn, event, at)
        case contract.PmCommand():
            _pm_command(conn, event, at)
        case contract.ModerationAction():
            apply_moderation(conn, event, at)
        case contract.RaidState():
            apply_raid_state(conn, event, at)
        case contract.MediaPlayed():
            apply_media_played(conn, event, at)
        case _:
            assert_never(event)
