"""The DatabaseService's replies as the pages show them: plain JSON values (dicts, lists,
numbers, strings), the same for the JSON API and the templates, so ``/api/...`` answers
exactly what the page beside it shows. Strings stay as they came (the templates escape them;
JSON is JSON). Times stay Unix seconds; the templates format them.
"""

from __future__ import annotations

from typing import Any, Final

from rosey import contract
from rosey.contract.page_replies import (
    ChatHoursReply,
    MediaRecentReply,
    MediaTopReply,
    StatusReply,
    UserCountsReply,
)

__all__ = ["RANGES", "status", "stats", "chat_hours", "recent_media", "top_media", "chat",
           "graph", "user", "record", "punishment", "history", "JSON"]

JSON = dict[str, Any]

#: the graph's ranges: name -> seconds (docs/web-contract.md's five)
RANGES: Final[dict[str, int]] = {"1h": 3600, "6h": 21600, "24h": 86400, "7d": 604800,
                                 "30d": 2592000}


def status(reply: StatusReply) -> JSON:
    """What is playing and who is here now."""
    s = reply.status or {}
    media = s.get("current_media") if isinstance(s.get("current_media"), dict) else None
    return {
        "known": reply.status is not None,
        "connected": bool(s.get("connected")),
        "channel": str(s.get("channel") or ""),
        "chat_count": _count(s.get("chat_count")),
        "connected_count": _count(s.get("connected_count")),
        "playlist_size": _count(s.get("playlist_size")),
        "current_media": None if media is None else {
            "title": str(media.get("title") or ""), "type": str(media.get("type") or ""),
            "id": str(media.get("id") or ""),
            "duration": _count(s.get("current_media_duration"))},
        "present": [{"username": p.username, "since": p.since} for p in reply.present],
        "present_total": reply.present_total,
        "updated": reply.updated,
    }


def _count(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def stats(reply: contract.ChannelStatsReply) -> JSON:
    """Peaks with when, total users seen, the top chatters."""
    return {
        "peak_chat": {"users": reply.high_water_mark.users,
                      "at": reply.high_water_mark.timestamp},
        "peak_connected": {"users": reply.high_water_connected.users,
                           "at": reply.high_water_connected.timestamp},
        "total_users_seen": reply.total_users_seen,
        "top_chatters": [{"username": t.username, "chat_lines": t.chat_lines}
                         for t in reply.top_chatters],
    }


def chat_hours(reply: ChatHoursReply) -> JSON:
    return {"since": reply.since, "until": reply.until, "utc_offset": reply.utc_offset,
            "hours": list(reply.hours), "total": reply.total, "busiest": max(reply.hours)}


def _media(kind: str, ident: str, title: str, duration: int) -> JSON:
    return {"title": title or ident, "media_type": kind, "media_id": ident,
            "duration": duration}


def recent_media(reply: MediaRecentReply) -> list[JSON]:
    return [{**_media(p.media_type, p.media_id, p.title, p.duration),
             "timestamp": p.timestamp, "queued_by": p.queued_by} for p in reply.plays]


def top_media(reply: MediaTopReply) -> list[JSON]:
    return [{**_media(m.media_type, m.media_id, m.title, m.duration), "plays": m.plays,
             "last_played": m.last_played} for m in reply.media]


def chat(reply: contract.RecentChatReply) -> list[JSON]:
    """Recent chat, newest first."""
    return [{"timestamp": c.timestamp, "username": c.username, "message": c.message}
            for c in reversed(reply.lines)]


def graph(name: str, reply: UserCountsReply) -> JSON:
    """The graph's points as columns (what uPlot draws): one entry per non-empty bucket."""
    points = reply.points
    return {"range": name, "since": reply.since, "until": reply.until,
            "bucket_seconds": reply.bucket_seconds,
            "timestamps": [p.timestamp for p in points],
            "chat_users": [p.chat_users for p in points],
            "connected_users": [p.connected_users for p in points]}


def user(reply: contract.UserStatsReply, now: float) -> JSON:
    """One user: first and last seen, chat lines, time in the channel (the open session's
    time so far included)."""
    u = reply.user
    if u is None:
        return {"found": False, "username": reply.username}
    here = u.current_session_start is not None
    so_far = max(0, int(now) - u.current_session_start) if u.current_session_start else 0
    return {"found": True, "username": u.username, "first_seen": u.first_seen,
            "last_seen": u.last_seen, "chat_lines": u.total_chat_lines,
            "time_connected": u.total_time_connected + so_far, "here_now": here,
            "session_since": u.current_session_start}


def record(r: contract.ModerationRecord) -> JSON:
    """One row of the moderation record."""
    return {"id": r.id, "timestamp": r.timestamp, "action": r.action, "target": r.target,
            "actor": r.actor, "origin": r.origin, "result": r.result, "reason": r.reason,
            "duration": r.duration, "expires_at": r.expires_at, "command": r.command,
            "error": r.error, "rule": r.rule, "dry_run": r.dry_run}


def punishment(p: contract.Punishment, now: float) -> JSON:
    """One punishment, with the time left (None: until lifted) and whether its lift is
    overdue."""
    left = None if p.expires_at is None else p.expires_at - int(now)
    return {"id": p.id, "kind": p.kind, "target": p.target, "actor": p.actor,
            "started": p.started, "reason": p.reason, "expires_at": p.expires_at,
            "ended_at": p.ended_at, "ended_how": p.ended_how, "last_error": p.last_error,
            "seconds_left": None if left is None else max(0, left),
            "overdue": left is not None and left <= 0 and p.ended_at is None}


def history(reply: contract.HistoryReply, now: float) -> JSON:
    """A user's full history: the user record, strikes, punishments, notes, actions."""
    found = user(contract.UserStatsReply(reply.username, reply.user), now)
    return {"username": reply.username, "user": found if found["found"] else None,
            "strikes": [{"timestamp": s.timestamp, "actor": s.actor, "reason": s.reason}
                        for s in reply.strikes],
            "punishments": [punishment(p, now) for p in reply.punishments],
            "notes": [{"timestamp": n.timestamp, "actor": n.actor, "text": n.text}
                      for n in reply.notes],
            "actions": [record(a) for a in reply.actions]}
