"""The replies to the web page's queries (``docs/web-contract.md``): the graph's points, chat by
hour of day, plays, the most played media, the channel now, and a page of the moderation
record.

Each is a :class:`~rosey.contract.replies.Reply` written as ``{"success": true, <fields>}``;
:meth:`from_wire` is the requester's decoder (unknown fields ignored).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Self

from rosey.contract.codec import (
    _int,
    _need_int,
    _object,
    _objects,
    _reply_object,
    _str,
    _username,
)
from rosey.contract.replies import ModerationRecord, Reply, _record
from rosey.contract.subjects import MAX_MEDIA_ID, MAX_MEDIA_TYPE, MAX_TITLE, MAX_USERNAME
from rosey.errors import BadPayload

__all__ = [
    "CountPoint", "UserCountsReply", "ChatHoursReply", "Play", "MediaRecentReply", "TopMedia",
    "MediaTopReply", "Present", "StatusReply", "ModerationPageReply",
]


@dataclass(frozen=True, slots=True)
class CountPoint:
    """One bucket of the graph: its start, the most chat and connected users in it, and how
    many ``user_count_history`` rows it summarises."""

    timestamp: int
    chat_users: int
    connected_users: int
    samples: int


@dataclass(frozen=True, slots=True)
class UserCountsReply(Reply):
    """The graph over ``since`` ..= ``until``: non-empty buckets, oldest first."""

    since: int
    until: int
    bucket_seconds: int
    points: tuple[CountPoint, ...] = ()

    @classmethod
    def from_wire(cls, value: Any) -> Self:
        o = _reply_object(value)
        return cls(_need_int(o, "since"), _need_int(o, "until"), _need_int(o, "bucket_seconds"),
                   tuple(CountPoint(_need_int(p, "timestamp"), _need_int(p, "chat_users"),
                                    _need_int(p, "connected_users"), _need_int(p, "samples"))
                         for p in _objects(o.get("points", []), "points")))


@dataclass(frozen=True, slots=True)
class ChatHoursReply(Reply):
    """Chat lines by hour of day (``hours[h]``, h at UTC + ``utc_offset``) and their sum."""

    since: int
    until: int
    utc_offset: int
    hours: tuple[int, ...]
    total: int

    @classmethod
    def from_wire(cls, value: Any) -> Self:
        o = _reply_object(value)
        hours = o.get("hours")
        if (not isinstance(hours, list) or len(hours) != 24
                or not all(isinstance(h, int) and not isinstance(h, bool) for h in hours)):
            raise BadPayload("wrong_type", "hours must be a list of 24 integers")
        offset = _int(o, "utc_offset", minimum=-24, maximum=24)
        assert offset is not None
        return cls(_need_int(o, "since"), _need_int(o, "until"), offset, tuple(hours),
                   _need_int(o, "total"))


def _media_key(o: dict[str, Any]) -> tuple[str, str, str]:
    kind = _str(o, "media_type", limit=MAX_MEDIA_TYPE)
    ident = _str(o, "media_id", limit=MAX_MEDIA_ID)
    assert kind is not None and ident is not None
    return kind, ident, _str(o, "title", limit=MAX_TITLE, required=False) or ""


@dataclass(frozen=True, slots=True)
class Play:
    """One row of ``media_plays``: when, which media, its title and length, who queued it."""

    id: int
    timestamp: int
    media_type: str
    media_id: str
    title: str
    duration: int
    queued_by: str | None = None


@dataclass(frozen=True, slots=True)
class MediaRecentReply(Reply):
    """The newest plays, newest first."""

    plays: tuple[Play, ...] = ()

    @classmethod
    def from_wire(cls, value: Any) -> Self:
        o = _reply_object(value)
        return cls(tuple(
            Play(_need_int(p, "id"), _need_int(p, "timestamp"), *_media_key(p),
                 _need_int(p, "duration"), _str(p, "queued_by", limit=MAX_USERNAME,
                                                required=False))
            for p in _objects(o.get("plays", []), "plays")))


@dataclass(frozen=True, slots=True)
class TopMedia:
    """One media of the most played: how often it played in the range, and when last."""

    media_type: str
    media_id: str
    title: str
    duration: int
    plays: int
    last_played: int


@dataclass(frozen=True, slots=True)
class MediaTopReply(Reply):
    """The most played media over ``since`` ..= ``until``, most plays first."""

    since: int
    until: int
    media: tuple[TopMedia, ...] = ()

    @classmethod
    def from_wire(cls, value: Any) -> Self:
        o = _reply_object(value)
        return cls(_need_int(o, "since"), _need_int(o, "until"), tuple(
            TopMedia(*_media_key(m), _need_int(m, "duration"), _need_int(m, "plays"),
                     _need_int(m, "last_played"))
            for m in _objects(o.get("media", []), "media")))


@dataclass(frozen=True, slots=True)
class Present:
    """A user with an open session, and when it began."""

    username: str
    since: int


@dataclass(frozen=True, slots=True)
class StatusReply(Reply):
    """The bot's last status as sent (None before the first), when it was stored, and who is
    here now (at most the query's ``limit``; ``present_total`` counts them all)."""

    status: dict[str, Any] | None = None
    updated: int | None = None
    present: tuple[Present, ...] = ()
    present_total: int = 0

    @classmethod
    def from_wire(cls, value: Any) -> Self:
        o = _reply_object(value)
        return cls(_object(o, "status", required=False), _int(o, "updated", required=False),
                   tuple(Present(_username(p), _need_int(p, "since"))
                         for p in _objects(o.get("present", []), "present")),
                   _need_int(o, "present_total"))


@dataclass(frozen=True, slots=True)
class ModerationPageReply(Reply):
    """One page of the moderation record, newest first (the records ``modlog`` answers with).
    ``next_before_id``: the ``before_id`` that asks the next (older) page; None when no older
    action matches."""

    actions: tuple[ModerationRecord, ...] = ()
    next_before_id: int | None = None

    @classmethod
    def from_wire(cls, value: Any) -> Self:
        o = _reply_object(value)
        return cls(tuple(_record(a) for a in _objects(o.get("actions", []), "actions")),
                   _int(o, "next_before_id", required=False, minimum=1))
