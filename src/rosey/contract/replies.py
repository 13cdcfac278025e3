"""The replies to the queries: one dataclass per reply, each with its JSON shape.

A reply class is the whole of a reply: its fields, :meth:`Reply.from_wire` (the requester's
decoder) and :meth:`Reply.to_wire` (the DatabaseService's encoding; by default
``{"success": true, <fields>}``). A :class:`ListReply` is a JSON list on the wire and answers
``[]`` when its query cannot be answered. The nested records (:class:`HighWaterMark`,
:class:`UserRecord`, ...) are written as their fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Self, TypeVar

from rosey.contract.codec import (
    Shaped,
    _bool,
    _fields,
    _int,
    _name,
    _need_int,
    _number,
    _object,
    _objects,
    _opt_str,
    _reply_object,
    _str,
    _username,
    _wire,
)
from rosey.contract.subjects import MAX_TEXT
from rosey.errors import BadPayload

__all__ = [
    "Reply", "ListReply", "ReplyT", "ErrorReply",
    "HighWaterMark", "TopChatter", "ChannelStatsReply", "UserRecord", "UserStatsReply",
    "OutboundMessage", "OutboundGetReply", "ChatLine", "RecentChatReply",
    "ModerationRecord", "ModlogReply", "Punishment", "PunishmentsReply", "Strike", "Note",
    "HistoryReply", "RaidReply",
]


class Reply(Shaped):
    """Base of the replies: ``from_wire`` decodes one, ``to_wire`` spells it."""

    __slots__ = ()

    @classmethod
    def from_wire(cls, value: Any) -> Self:
        """Decode a reply (any JSON value); BadPayload when it breaks the contract."""
        raise NotImplementedError

    def to_wire(self) -> Any:
        return {"success": True, **_fields(self)}


class ListReply(Reply):
    """A reply that is a JSON list on the wire; on bad input its query answers ``[]``."""

    __slots__ = ()


ReplyT = TypeVar("ReplyT", bound=Reply)


@dataclass(frozen=True, slots=True)
class ErrorReply(Shaped):
    """``{"success": false, "error": ...}``: the DatabaseService could not answer.
    (A list query answers ``[]`` instead, which reads as an empty reply.)"""

    error: str

    def to_wire(self) -> Any:
        return {"success": False, "error": self.error}


def _user_record(o: dict[str, Any]) -> UserRecord:
    return UserRecord(
        _username(o), _need_int(o, "first_seen"), _need_int(o, "last_seen"),
        _need_int(o, "total_chat_lines"), _need_int(o, "total_time_connected"),
        _int(o, "current_session_start", required=False))


# --- the shared contract's replies ---------------------------------------------------------
@dataclass(frozen=True, slots=True)
class HighWaterMark:
    users: int
    timestamp: int | None = None


@dataclass(frozen=True, slots=True)
class TopChatter:
    username: str
    chat_lines: int


@dataclass(frozen=True, slots=True)
class ChannelStatsReply(Reply):
    high_water_mark: HighWaterMark
    high_water_connected: HighWaterMark
    top_chatters: tuple[TopChatter, ...] = ()
    total_users_seen: int = 0

    @classmethod
    def from_wire(cls, value: Any) -> Self:
        o = _reply_object(value)
        top = []
        for t in _objects(o.get("top_chatters", []), "top_chatters"):
            top.append(TopChatter(_username(t), _need_int(t, "chat_lines")))
        return cls(_high_water_mark(o, "high_water_mark"),
                   _high_water_mark(o, "high_water_connected"), tuple(top),
                   _need_int(o, "total_users_seen"))


def _high_water_mark(o: dict[str, Any], key: str) -> HighWaterMark:
    mark = _object(o, key)
    assert mark is not None
    return HighWaterMark(_need_int(mark, "users"), _int(mark, "timestamp", required=False))


@dataclass(frozen=True, slots=True)
class UserRecord:
    username: str
    first_seen: int
    last_seen: int
    total_chat_lines: int
    total_time_connected: int
    current_session_start: int | None = None


@dataclass(frozen=True, slots=True)
class UserStatsReply(Reply):
    """``user`` is None when the user was never seen (``"found": false`` on the wire)."""

    username: str
    user: UserRecord | None = None

    @property
    def found(self) -> bool:
        return self.user is not None

    @classmethod
    def from_wire(cls, value: Any) -> Self:
        o = _reply_object(value)
        found = _bool(o, "found")
        if found is None:
            raise BadPayload("missing_field", "found is missing")
        username = _username(o)
        if not found:
            return cls(username)
        return cls(username, _user_record(o))

    def to_wire(self) -> Any:
        if self.user is None:
            return {"success": True, "found": False, "username": self.username}
        return {"success": True, "found": True, **_fields(self.user)}


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    id: int
    timestamp: int
    message: str
    retry_count: int = 0


@dataclass(frozen=True, slots=True)
class OutboundGetReply(ListReply):
    """Unsent messages, oldest first (a JSON list on the wire)."""

    messages: tuple[OutboundMessage, ...] = ()

    @classmethod
    def from_wire(cls, value: Any) -> Self:
        messages = []
        for m in _objects(value, "the reply"):
            text = _str(m, "message", limit=MAX_TEXT)
            assert text is not None
            messages.append(OutboundMessage(_need_int(m, "id"), _need_int(m, "timestamp"), text,
                                            _need_int(m, "retry_count")))
        return cls(tuple(messages))

    def to_wire(self) -> Any:
        return _wire(self.messages)


@dataclass(frozen=True, slots=True)
class ChatLine:
    timestamp: int
    username: str
    message: str


@dataclass(frozen=True, slots=True)
class RecentChatReply(ListReply):
    """Chat lines, oldest first (a JSON list on the wire)."""

    lines: tuple[ChatLine, ...] = ()

    @classmethod
    def from_wire(cls, value: Any) -> Self:
        lines = []
        for c in _objects(value, "the reply"):
            text = _str(c, "message", limit=MAX_TEXT)
            assert text is not None
            lines.append(ChatLine(_need_int(c, "timestamp"), _username(c), text))
        return cls(tuple(lines))

    def to_wire(self) -> Any:
        return _wire(self.lines)


# --- the moderation record's replies (docs/moderation.md) ----------------------------------
@dataclass(frozen=True, slots=True)
class ModerationRecord:
    """One row of the moderation record, as ``modlog`` shows it. ``rule`` and ``dry_run``
    (automatic moderation's) may be absent from an older DatabaseService's reply."""

    id: int
    timestamp: int
    action: str
    target: str
    actor: str
    origin: str
    result: str
    reason: str = ""
    duration: int | None = None
    expires_at: int | None = None
    command: str | None = None
    error: str | None = None
    rule: str | None = None
    dry_run: bool = False


def _record(o: dict[str, Any]) -> ModerationRecord:
    return ModerationRecord(
        _need_int(o, "id"), _need_int(o, "timestamp"), _name(o, "action"), _name(o, "target"),
        _name(o, "actor"), _name(o, "origin"), _name(o, "result"), _opt_str(o, "reason") or "",
        _int(o, "duration", required=False), _int(o, "expires_at", required=False),
        _opt_str(o, "command"), _opt_str(o, "error"), _opt_str(o, "rule"),
        bool(_bool(o, "dry_run")))


@dataclass(frozen=True, slots=True)
class ModlogReply(Reply):
    """Newest first."""

    actions: tuple[ModerationRecord, ...] = ()

    @classmethod
    def from_wire(cls, value: Any) -> Self:
        o = _reply_object(value)
        return cls(tuple(_record(a) for a in _objects(o.get("actions", []), "actions")))


@dataclass(frozen=True, slots=True)
class Punishment:
    """A mute, shadow-mute or ban. ``expires_at`` None: until someone lifts it. ``ended_at``
    None: still active. ``ended_how``: lifted (by a moderator), expired (by the bot),
    superseded (a newer punishment of the same class). ``last_error``: why the bot's last
    attempt to lift it failed."""

    id: int
    kind: str
    target: str
    actor: str
    started: int
    reason: str = ""
    expires_at: int | None = None
    ended_at: int | None = None
    ended_how: str | None = None
    last_error: str | None = None


def _punishment(o: dict[str, Any]) -> Punishment:
    return Punishment(
        _need_int(o, "id"), _name(o, "kind"), _name(o, "target"), _name(o, "actor"),
        _need_int(o, "started"), _opt_str(o, "reason") or "",
        _int(o, "expires_at", required=False), _int(o, "ended_at", required=False),
        _opt_str(o, "ended_how"), _opt_str(o, "last_error"))


@dataclass(frozen=True, slots=True)
class PunishmentsReply(Reply):
    """Active punishments, the soonest to end first (those without an end last)."""

    punishments: tuple[Punishment, ...] = ()

    @classmethod
    def from_wire(cls, value: Any) -> Self:
        o = _reply_object(value)
        return cls(tuple(
            _punishment(p) for p in _objects(o.get("punishments", []), "punishments")))


@dataclass(frozen=True, slots=True)
class Strike:
    timestamp: int
    actor: str
    reason: str = ""
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Note:
    timestamp: int
    actor: str
    text: str


@dataclass(frozen=True, slots=True)
class HistoryReply(Reply):
    """Everything about one user: the contract's user record (None: never seen), strikes,
    punishments (active and past, newest first), notes (newest first) and recent actions."""

    username: str
    user: UserRecord | None = None
    strikes: tuple[Strike, ...] = ()
    punishments: tuple[Punishment, ...] = ()
    notes: tuple[Note, ...] = ()
    actions: tuple[ModerationRecord, ...] = ()

    @classmethod
    def from_wire(cls, value: Any) -> Self:
        o = _reply_object(value)
        user = _object(o, "user", required=False)
        return cls(
            _username(o),
            None if user is None else _user_record(user),
            tuple(Strike(_need_int(s, "timestamp"), _name(s, "actor"),
                         _opt_str(s, "reason") or "", _opt_str(s, "ref"))
                  for s in _objects(o.get("strikes", []), "strikes")),
            tuple(_punishment(p) for p in _objects(o.get("punishments", []), "punishments")),
            tuple(Note(_need_int(n, "timestamp"), _name(n, "actor"), _opt_str(n, "text") or "")
                  for n in _objects(o.get("notes", []), "notes")),
            tuple(_record(a) for a in _objects(o.get("actions", []), "actions")))


# --- automatic moderation's state (docs/moderation.md) -------------------------------------
@dataclass(frozen=True, slots=True)
class RaidReply(Reply):
    """Raid mode as last recorded: never set reads as not active with nothing to restore."""

    active: bool = False
    saved_options: dict[str, Any] | None = None
    reason: str = ""
    started_at: float | None = None

    @classmethod
    def from_wire(cls, value: Any) -> Self:
        o = _reply_object(value)
        active = _bool(o, "active")
        if active is None:
            raise BadPayload("missing_field", "active is missing")
        return cls(active, _object(o, "saved_options", required=False),
                   _opt_str(o, "reason") or "", _number(o, "started_at"))
