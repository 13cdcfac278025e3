"""The events (publish/subscribe): one dataclass per subject, each bound to its subject.

An event class is the whole of an event: its ``SUBJECT``, its fields, and
:meth:`~ContractEvent.from_wire`, its decoder. Defining one registers it (:data:`EVENT_TYPES`),
so :func:`decode_event`, :func:`subject_of`, the subject lists below (and through them the
stream, the permissions and the metric labels) follow from the classes. ``SHARED`` marks the
shared contract's events (``docs/wire-contract.md``, fixed); the others sit beside it
(``docs/moderation.md``, and ``WEB`` marks the web page's, ``docs/web-contract.md``).
``BOT_PUBLISHES`` says whether the bot publishes it
(:mod:`rosey.nats_auth` grants it). The :data:`Event` union (for exhaustive matching, as in
:func:`rosey.store.writes.apply_event`) names them once more.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, Literal, Self, Union, cast

from rosey.contract.codec import (
    Flat,
    _bool,
    _int,
    _name,
    _number,
    _object,
    _one_of,
    _opt_str,
    _str,
    _timestamp,
    _username,
    _wire,
    load_object,
    register,
)
from rosey.contract.subjects import (
    HIGH_WATER,
    MAX_COMMAND,
    MAX_DURATION,
    MAX_MEDIA_ID,
    MAX_MEDIA_TYPE,
    MAX_RAID_OPTIONS_BYTES,
    MAX_RULE,
    MAX_STATUS_BYTES,
    MAX_TEXT,
    MAX_TITLE,
    MAX_USERNAME,
    MEDIA_PLAYED,
    MESSAGE_LOG,
    MODERATION_ACTION,
    MODERATION_KINDS,
    MODERATION_ORIGINS,
    MODERATION_RESULTS,
    OUTBOUND_ENQUEUE,
    OUTBOUND_MARK_SENT,
    PM_COMMAND,
    RAID_STATE,
    RESULTS,
    STATUS_UPDATE,
    USER_COUNT,
    USER_JOINED,
    USER_LEFT,
)
from rosey.errors import BadPayload

__all__ = [
    "ContractEvent", "EVENT_TYPES", "subject_of", "decode_event", "event_time", "Event",
    "UserJoined", "UserLeft", "MessageLog", "UserCount", "HighWater", "StatusUpdate",
    "MarkSent", "Enqueue", "PmCommand", "ModerationAction", "RaidState", "BotStatus",
    "MediaStatus", "MediaPlayed",
    "EVENT_SUBJECTS", "MODERATION_EVENT_SUBJECTS", "WEB_EVENT_SUBJECTS", "STREAM_SUBJECTS",
]

#: subject -> its event class, in definition order (filled by :class:`ContractEvent`)
EVENT_TYPES: Final[dict[str, type[ContractEvent]]] = {}


class ContractEvent(Flat):
    """Base of the event payloads. A subclass that sets ``SUBJECT`` is registered in
    :data:`EVENT_TYPES`; it decodes its body with :meth:`from_wire`."""

    __slots__ = ()

    #: the subject it is published on
    SUBJECT: ClassVar[str]
    #: in the shared contract (docs/wire-contract.md); False: beside it (docs/moderation.md)
    SHARED: ClassVar[bool] = False
    #: the web page's (docs/web-contract.md), beside the contract
    WEB: ClassVar[bool] = False
    #: the bot publishes it (its NATS permissions allow it)
    BOT_PUBLISHES: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "SUBJECT" in cls.__dict__:
            register(EVENT_TYPES, cls, cls.SUBJECT)

    @classmethod
    def from_wire(cls, o: dict[str, Any]) -> Self:
        """Decode a body (a JSON object); BadPayload when it breaks the contract."""
        raise NotImplementedError


def subject_of(event: ContractEvent) -> str:
    """The subject ``event`` is published on; TypeError when it is no contract event."""
    if not isinstance(event, ContractEvent):
        raise TypeError(f"{type(event).__name__} is not an event of the contract")
    return event.SUBJECT


# --- the shared contract's events ----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class UserJoined(ContractEvent):
    SUBJECT: ClassVar[str] = USER_JOINED
    SHARED: ClassVar[bool] = True

    username: str
    timestamp: float | None = None

    @classmethod
    def from_wire(cls, o: dict[str, Any]) -> Self:
        return cls(_username(o), _timestamp(o))


@dataclass(frozen=True, slots=True)
class UserLeft(ContractEvent):
    SUBJECT: ClassVar[str] = USER_LEFT
    SHARED: ClassVar[bool] = True

    username: str
    timestamp: float | None = None

    @classmethod
    def from_wire(cls, o: dict[str, Any]) -> Self:
        return cls(_username(o), _timestamp(o))


@dataclass(frozen=True, slots=True)
class MessageLog(ContractEvent):
    SUBJECT: ClassVar[str] = MESSAGE_LOG
    SHARED: ClassVar[bool] = True

    username: str
    message: str
    timestamp: float | None = None

    @classmethod
    def from_wire(cls, o: dict[str, Any]) -> Self:
        message = _str(o, "message", limit=MAX_TEXT)
        assert message is not None
        return cls(_username(o), message, _timestamp(o))


@dataclass(frozen=True, slots=True)
class UserCount(ContractEvent):
    SUBJECT: ClassVar[str] = USER_COUNT
    SHARED: ClassVar[bool] = True

    chat_count: int
    connected_count: int
    timestamp: float | None = None

    @classmethod
    def from_wire(cls, o: dict[str, Any]) -> Self:
        chat, conn = _int(o, "chat_count"), _int(o, "connected_count")
        assert chat is not None and conn is not None
        return cls(chat, conn, _timestamp(o))


@dataclass(frozen=True, slots=True)
class HighWater(ContractEvent):
    SUBJECT: ClassVar[str] = HIGH_WATER
    SHARED: ClassVar[bool] = True

    chat_count: int
    connected_count: int | None = None
    timestamp: float | None = None

    @classmethod
    def from_wire(cls, o: dict[str, Any]) -> Self:
        chat = _int(o, "chat_count")
        assert chat is not None
        return cls(chat, _int(o, "connected_count", required=False), _timestamp(o))


@dataclass(frozen=True, slots=True)
class MediaStatus:
    """What is playing: CyTube's media id and type, its title, its duration as CyTube
    writes it (``"03:25"``)."""

    id: str = ""
    type: str = ""
    title: str = ""
    duration: str = ""


@dataclass(frozen=True, slots=True)
class BotStatus:
    """The bot's status, the ``status_data`` of ``rosey.db.status.update``.

    Every field may be absent (``None``); a field that is present must have its type.
    Unknown keys are ignored here (the DatabaseService still keeps the whole object).
    """

    bot_name: str | None = None
    bot_rank: float | None = None
    channel: str | None = None
    domain: str | None = None
    chat_count: int | None = None
    connected_count: int | None = None
    playlist_size: int | None = None
    current_media: MediaStatus | None = None
    current_media_duration: int | None = None  #: seconds
    connected: bool | None = None
    start_time: float | None = None
    timestamp: float | None = None


def _bot_status(o: dict[str, Any]) -> BotStatus:
    media = _object(o, "current_media", required=False)
    return BotStatus(
        bot_name=_opt_str(o, "bot_name"), bot_rank=_number(o, "bot_rank"),
        channel=_opt_str(o, "channel"), domain=_opt_str(o, "domain"),
        chat_count=_int(o, "chat_count", required=False),
        connected_count=_int(o, "connected_count", required=False),
        playlist_size=_int(o, "playlist_size", required=False),
        current_media=None if media is None else MediaStatus(
            *(_opt_str(media, k) or "" for k in ("id", "type", "title", "duration"))),
        current_media_duration=_int(o, "current_media_duration", required=False),
        connected=_bool(o, "connected"), start_time=_number(o, "start_time"),
        timestamp=_number(o, "timestamp"))


@dataclass(frozen=True, slots=True)
class StatusUpdate(ContractEvent):
    """``status_data`` is the object as sent (extra keys included); :attr:`status` reads
    the known keys. Build one from a :class:`BotStatus` with :meth:`of`."""

    SUBJECT: ClassVar[str] = STATUS_UPDATE
    SHARED: ClassVar[bool] = True

    status_data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, status: BotStatus, **extra: Any) -> StatusUpdate:
        return cls({**extra, **_wire(status)})

    @property
    def status(self) -> BotStatus:
        return _bot_status(self.status_data)

    @classmethod
    def from_wire(cls, o: dict[str, Any]) -> Self:
        if "status_data" not in o:
            raise BadPayload("missing_field", "status_data is missing")
        data = o["status_data"]
        if not isinstance(data, dict):
            raise BadPayload("wrong_type", "status_data must be an object")
        if len(json.dumps(data)) > MAX_STATUS_BYTES:
            raise BadPayload("too_large", "status_data is too large")
        _bot_status(data)  # refuse a status whose known fields have the wrong type
        return cls(data)


@dataclass(frozen=True, slots=True)
class MarkSent(ContractEvent):
    SUBJECT: ClassVar[str] = OUTBOUND_MARK_SENT
    SHARED: ClassVar[bool] = True

    message_id: int

    @classmethod
    def from_wire(cls, o: dict[str, Any]) -> Self:
        mid = _int(o, "message_id", minimum=1)
        assert mid is not None
        return cls(mid)


@dataclass(frozen=True, slots=True)
class Enqueue(ContractEvent):
    """How outside tools make the bot speak (the bot never publishes it)."""

    SUBJECT: ClassVar[str] = OUTBOUND_ENQUEUE
    SHARED: ClassVar[bool] = True
    BOT_PUBLISHES: ClassVar[bool] = False

    message: str

    @classmethod
    def from_wire(cls, o: dict[str, Any]) -> Self:
        message = _str(o, "message", limit=MAX_TEXT, nonempty=True)
        assert message is not None
        return cls(message)


@dataclass(frozen=True, slots=True)
class PmCommand(ContractEvent):
    SUBJECT: ClassVar[str] = PM_COMMAND
    SHARED: ClassVar[bool] = True

    username: str
    command: str
    args: str
    result: Literal["pending", "success", "error"]
    timestamp: float | None = None
    error: str | None = None

    @classmethod
    def from_wire(cls, o: dict[str, Any]) -> Self:
        command = _str(o, "command", limit=MAX_COMMAND, nonempty=True)
        args = _str(o, "args", limit=MAX_TEXT, required=False) or ""
        result = _str(o, "result", limit=16)
        if result not in RESULTS:
            raise BadPayload("wrong_type", f"result must be one of {'/'.join(RESULTS)}")
        error = _str(o, "error", limit=MAX_TEXT, required=False)
        assert command is not None
        return cls(_username(o), command, args, result,  # type: ignore[arg-type]
                   _timestamp(o), error)


# --- the moderation record (docs/moderation.md) --------------------------------------------
@dataclass(frozen=True, slots=True)
class ModerationAction(ContractEvent):
    """One moderator action, the bot's or one it saw (``rosey.db.moderation.action``).

    ``duration`` is seconds (None: no end); ``expires_at`` is when a timed mute or ban ends.
    ``ref`` is the sender's unique id for the action (the DatabaseService keeps it; the bot
    matches its own strikes by it). ``command`` is the command line or rule that caused it.
    ``rule`` is the automod rule's name (origin ``automod``); ``dry_run``: the rule only
    recorded what it would have done, so the record opens, ends and adds nothing. Both are
    optional on the wire (older senders omit them).
    """

    SUBJECT: ClassVar[str] = MODERATION_ACTION

    action: str
    target: str
    actor: str
    origin: str = "command"
    result: str = "success"
    reason: str = ""
    duration: int | None = None
    expires_at: float | None = None
    command: str | None = None
    error: str | None = None
    ref: str | None = None
    timestamp: float | None = None
    rule: str | None = None
    dry_run: bool = False

    @classmethod
    def from_wire(cls, o: dict[str, Any]) -> Self:
        expires = _unix_time(o, "expires_at")
        return cls(
            action=_one_of(o, "action", MODERATION_KINDS, None), target=_name(o, "target"),
            actor=_name(o, "actor"), origin=_one_of(o, "origin", MODERATION_ORIGINS, "command"),
            result=_one_of(o, "result", MODERATION_RESULTS, "success"),
            reason=_str(o, "reason", limit=MAX_TEXT, required=False) or "",
            duration=_int(o, "duration", required=False, minimum=0, maximum=MAX_DURATION),
            expires_at=expires, command=_str(o, "command", limit=MAX_TEXT, required=False),
            error=_str(o, "error", limit=MAX_TEXT, required=False),
            ref=_str(o, "ref", limit=100, required=False), timestamp=_timestamp(o),
            rule=_str(o, "rule", limit=MAX_RULE, required=False),
            dry_run=bool(_bool(o, "dry_run")))


def _unix_time(o: dict[str, Any], key: str) -> float | None:
    value = _number(o, key)
    if value is not None and not 0 <= value < 1e11:
        raise BadPayload("wrong_type", f"{key} {value!r} is not Unix seconds")
    return value


#: how deep raid mode's saved options may nest (CyTube's options nest one level)
_MAX_OPTIONS_DEPTH: Final = 8


def _options(o: dict[str, Any], key: str) -> dict[str, Any] | None:
    """A JSON object whose values are scalars or such objects (no lists), at most
    :data:`MAX_RAID_OPTIONS_BYTES` encoded; checked without recursion."""
    options = _object(o, key, required=False)
    if options is None:
        return None
    stack: list[tuple[dict[str, Any], int]] = [(options, 1)]
    while stack:
        obj, depth = stack.pop()
        if depth > _MAX_OPTIONS_DEPTH:
            raise BadPayload("too_large", f"{key} nests deeper than {_MAX_OPTIONS_DEPTH}")
        for name, value in obj.items():
            if isinstance(value, dict):
                stack.append((value, depth + 1))
            elif isinstance(value, float) and not math.isfinite(value):
                raise BadPayload("wrong_type", f"{key}.{name:.40} is not a finite number")
            elif value is not None and not isinstance(value, (str, int, float, bool)):
                raise BadPayload("wrong_type", f"{key}.{name:.40} must be a scalar or an object,"
                                 f" got {type(value).__name__}")
    size = len(json.dumps(options, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    if size > MAX_RAID_OPTIONS_BYTES:
        raise BadPayload("too_large", f"{key} has {size} bytes, limit {MAX_RAID_OPTIONS_BYTES}")
    return options


# --- automatic moderation's state (docs/moderation.md) -------------------------------------
@dataclass(frozen=True, slots=True)
class RaidState(ContractEvent):
    """Raid mode turned on or off (``rosey.db.automod.raid``); the DatabaseService keeps the
    latest, so a bot that restarts mid-raid finds the options to restore.

    ``saved_options`` are the channel options raid mode changed, as they were before it
    (None: nothing to restore); ``started_at`` is when raid mode began (Unix seconds).
    """

    SUBJECT: ClassVar[str] = RAID_STATE

    active: bool
    saved_options: dict[str, Any] | None = None
    reason: str = ""
    started_at: float | None = None
    timestamp: float | None = None

    @classmethod
    def from_wire(cls, o: dict[str, Any]) -> Self:
        active = _bool(o, "active")
        if active is None:
            raise BadPayload("missing_field", "active is missing")
        return cls(active, _options(o, "saved_options"),
                   _str(o, "reason", limit=MAX_TEXT, required=False) or "",
                   _unix_time(o, "started_at"), _timestamp(o))


# --- the web page's data (docs/web-contract.md) --------------------------------------------
@dataclass(frozen=True, slots=True)
class MediaPlayed(ContractEvent):
    """A media began playing (``rosey.db.media.played``): the bot saw CyTube's ``changeMedia``.

    ``duration`` is the media's length in seconds (0: live); ``queued_by`` who queued it, when
    the bot's playlist knows; ``position`` the seconds into the media when the bot saw the
    change (CyTube starts a new item at -3); ``on_join``: the change came in CyTube's join
    burst (the item was already playing), which the DatabaseService does not count again as
    a play of the media it stored last while that may still be running.
    """

    SUBJECT: ClassVar[str] = MEDIA_PLAYED
    WEB: ClassVar[bool] = True

    media_type: str
    media_id: str
    title: str = ""
    duration: int = 0
    queued_by: str | None = None
    position: float = 0.0
    on_join: bool = False
    timestamp: float | None = None

    @classmethod
    def from_wire(cls, o: dict[str, Any]) -> Self:
        kind = _str(o, "media_type", limit=MAX_MEDIA_TYPE, nonempty=True)
        ident = _str(o, "media_id", limit=MAX_MEDIA_ID, nonempty=True)
        assert kind is not None and ident is not None
        position = _number(o, "position")
        if position is not None and not -86400 <= position <= MAX_DURATION:
            raise BadPayload("wrong_type", f"position={position!r} is out of range")
        queued_by = _str(o, "queued_by", limit=MAX_USERNAME, required=False)
        return cls(kind, ident, _str(o, "title", limit=MAX_TITLE, required=False) or "",
                   _int(o, "duration", required=False, maximum=MAX_DURATION) or 0,
                   queued_by.strip() or None if queued_by is not None else None,
                   position or 0.0, bool(_bool(o, "on_join")), _timestamp(o))


Event = Union[
    UserJoined, UserLeft, MessageLog, UserCount, HighWater, StatusUpdate, MarkSent, Enqueue,
    PmCommand, ModerationAction, RaidState, MediaPlayed,
]

#: the shared contract's event subjects
EVENT_SUBJECTS: Final[tuple[str, ...]] = tuple(s for s, t in EVENT_TYPES.items() if t.SHARED)
#: the moderation record's (docs/moderation.md)
MODERATION_EVENT_SUBJECTS: Final[tuple[str, ...]] = tuple(
    s for s, t in EVENT_TYPES.items() if not t.SHARED and not t.WEB)
#: the web page's (docs/web-contract.md)
WEB_EVENT_SUBJECTS: Final[tuple[str, ...]] = tuple(s for s, t in EVENT_TYPES.items() if t.WEB)
#: what the stream captures: every event
STREAM_SUBJECTS: Final[tuple[str, ...]] = (
    *EVENT_SUBJECTS, *MODERATION_EVENT_SUBJECTS, *WEB_EVENT_SUBJECTS)


def event_time(event: Event) -> float | None:
    """The event's own timestamp; None means "use the receiver's time" (the contract's rule)."""
    return getattr(event, "timestamp", None)


def decode_event(subject: str, data: bytes) -> Event:
    """Decode one event body for ``subject``; raise :class:`BadPayload` when it breaks the contract."""
    cls = EVENT_TYPES.get(subject)
    if cls is None:
        raise BadPayload("unknown_subject", f"no event is defined for {subject!r}")
    return cast(Event, cls.from_wire(load_object(data)))
