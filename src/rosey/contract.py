"""The wire contract between the bot, the DatabaseService and anything else on the bus.

Every subject, the stream and consumer names, and every payload shape live here, so other
modules import names and never type a subject string. The source of truth for humans is
``shared/wire-contract.md``; ``tests/test_contract.py`` walks this module against it.

Decoding is strict about what the contract requires and lenient about everything else:
extra fields are ignored, a missing ``timestamp`` means "the receiver's time" and is left as
``None`` here so the receiver can choose which time that is (:func:`event_time`).

Replies are typed too: each query class is a ``QueryOf[R]`` for its reply class ``R``, so
``decode_reply(query, data)`` (the requester's side) and ``Store.query(query)`` (the
DatabaseService's side) return the same dataclasses; :func:`encode` writes them in the
contract's shape. The bot's status is :class:`BotStatus`, carried in ``status_data``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Final, Generic, Literal, TypeVar, Union

from rosey.errors import BadPayload

__all__ = [
    "USER_JOINED", "USER_LEFT", "MESSAGE_LOG", "USER_COUNT", "HIGH_WATER", "STATUS_UPDATE",
    "OUTBOUND_MARK_SENT", "OUTBOUND_ENQUEUE", "PM_COMMAND",
    "QUERY_CHANNEL_STATS", "QUERY_USER_STATS", "OUTBOUND_GET", "RECENT_CHAT_GET",
    "EVENT_SUBJECTS", "QUERY_SUBJECTS", "LIST_QUERY_SUBJECTS",
    "STREAM_NAME", "CONSUMER_NAME", "QUEUE_GROUP", "MSG_ID_HEADER",
    "PM_COMMANDS", "RESULTS", "MAX_USERNAME", "MAX_COMMAND", "MAX_TEXT", "MAX_STATUS_BYTES",
    "MAX_PAYLOAD_BYTES", "MAX_DURATION",
    "UserJoined", "UserLeft", "MessageLog", "UserCount", "HighWater", "StatusUpdate",
    "MarkSent", "Enqueue", "PmCommand", "Event", "event_time",
    "BotStatus", "MediaStatus",
    "HighWaterMark", "TopChatter", "ChannelStatsReply", "UserRecord", "UserStatsReply",
    "OutboundMessage", "OutboundGetReply", "ChatLine", "RecentChatReply", "ErrorReply", "Reply",
    "ReplyT",
    "QueryOf", "ChannelStatsQuery", "UserStatsQuery", "OutboundGetQuery", "RecentChatQuery",
    "Query", "query_subject",
    "decode_event", "decode_query", "decode_reply", "encode", "error_reply",
    # the moderation record (docs/moderation.md, beside the shared contract)
    "MODERATION_ACTION", "QUERY_MODLOG", "QUERY_PUNISHMENTS", "QUERY_HISTORY",
    "MODERATION_EVENT_SUBJECTS", "MODERATION_QUERY_SUBJECTS", "STREAM_SUBJECTS",
    "ALL_QUERY_SUBJECTS", "MODERATION_KINDS", "MODERATION_ORIGINS", "MODERATION_RESULTS",
    "PUNISHMENT_KINDS", "PUNISHMENT_CLASS",
    "ModerationAction", "ModerationRecord", "ModlogReply", "Punishment", "PunishmentsReply",
    "Strike", "Note", "HistoryReply", "ModlogQuery", "PunishmentsQuery", "HistoryQuery",
]

# --- events: publish/subscribe -------------------------------------------------------------
USER_JOINED: Final = "rosey.db.user.joined"
USER_LEFT: Final = "rosey.db.user.left"
MESSAGE_LOG: Final = "rosey.db.message.log"
USER_COUNT: Final = "rosey.db.stats.user_count"
HIGH_WATER: Final = "rosey.db.stats.high_water"
STATUS_UPDATE: Final = "rosey.db.status.update"
OUTBOUND_MARK_SENT: Final = "rosey.db.messages.outbound.mark_sent"
OUTBOUND_ENQUEUE: Final = "rosey.db.messages.outbound.enqueue"
PM_COMMAND: Final = "rosey.db.action.pm_command"

EVENT_SUBJECTS: Final[tuple[str, ...]] = (
    USER_JOINED, USER_LEFT, MESSAGE_LOG, USER_COUNT, HIGH_WATER, STATUS_UPDATE,
    OUTBOUND_MARK_SENT, OUTBOUND_ENQUEUE, PM_COMMAND,
)

# --- queries: request/reply (never captured by a stream) -----------------------------------
QUERY_CHANNEL_STATS: Final = "rosey.db.query.channel_stats"
QUERY_USER_STATS: Final = "rosey.db.query.user_stats"
OUTBOUND_GET: Final = "rosey.db.messages.outbound.get"
RECENT_CHAT_GET: Final = "rosey.db.stats.recent_chat.get"

QUERY_SUBJECTS: Final[tuple[str, ...]] = (
    QUERY_CHANNEL_STATS, QUERY_USER_STATS, OUTBOUND_GET, RECENT_CHAT_GET,
)
#: Queries whose reply is a JSON list; on bad input they answer ``[]``.
LIST_QUERY_SUBJECTS: Final[frozenset[str]] = frozenset({OUTBOUND_GET, RECENT_CHAT_GET})

# --- the moderation record (docs/moderation.md; not part of the shared contract) ----------
MODERATION_ACTION: Final = "rosey.db.moderation.action"
MODERATION_EVENT_SUBJECTS: Final[tuple[str, ...]] = (MODERATION_ACTION,)
QUERY_MODLOG: Final = "rosey.db.query.modlog"
QUERY_PUNISHMENTS: Final = "rosey.db.query.punishments"
QUERY_HISTORY: Final = "rosey.db.query.history"
MODERATION_QUERY_SUBJECTS: Final[tuple[str, ...]] = (QUERY_MODLOG, QUERY_PUNISHMENTS,
                                                      QUERY_HISTORY)
#: what the stream captures: the contract's events and the moderation record's
STREAM_SUBJECTS: Final[tuple[str, ...]] = (*EVENT_SUBJECTS, *MODERATION_EVENT_SUBJECTS)
#: what the DatabaseService answers
ALL_QUERY_SUBJECTS: Final[tuple[str, ...]] = (*QUERY_SUBJECTS, *MODERATION_QUERY_SUBJECTS)
MODERATION_KINDS: Final[tuple[str, ...]] = (
    "kick", "ban", "unban", "mute", "smute", "unmute", "warn", "note")
#: command: a moderator's PM; native: seen in CyTube; escalation: warnings added up;
#: expiry: a timed punishment ran out
MODERATION_ORIGINS: Final[tuple[str, ...]] = ("command", "native", "escalation", "expiry")
MODERATION_RESULTS: Final[tuple[str, ...]] = ("success", "error")
#: the kinds that punish (a timed one is lifted on time)
PUNISHMENT_KINDS: Final[tuple[str, ...]] = ("mute", "smute", "ban")
#: the class of each punishing or lifting kind: a user has at most one active punishment of a
#: class (a smute replaces a mute; unmute lifts either)
PUNISHMENT_CLASS: Final[dict[str, str]] = {
    "mute": "mute", "smute": "mute", "unmute": "mute", "ban": "ban", "unban": "ban"}

# --- JetStream and core-NATS names ---------------------------------------------------------
STREAM_NAME: Final = "ROSEY_EVENTS"
CONSUMER_NAME: Final = "rosey-dbservice"
QUEUE_GROUP: Final = "rosey-dbservice"
MSG_ID_HEADER: Final = "Nats-Msg-Id"

# --- moderator commands (bot side) ---------------------------------------------------------
PM_COMMANDS: Final[tuple[str, ...]] = (
    "help", "info", "status", "stats", "users", "user", "afk", "say", "pm", "playlist",
    "current", "add", "remove", "move", "jump", "next", "pause", "kick", "voteskip",
    # beyond the contract's list, added by the bot issue:
    "ban", "mute", "unmute",
)
RESULTS: Final[tuple[str, ...]] = ("pending", "success", "error")

# --- limits on what a receiver accepts -----------------------------------------------------
MAX_USERNAME: Final = 100          # CyTube allows 20; other tools get some room
MAX_COMMAND: Final = 1000          # a command word as typed (a PM is at most 1000 characters)
MAX_TEXT: Final = 10_000           # chat, PM args, outbound text (CyTube cuts at 320..1000)
MAX_STATUS_BYTES: Final = 64 * 1024
MAX_PAYLOAD_BYTES: Final = 1024 * 1024  # nats-server's default max_payload
#: the longest punishment there is, in seconds (10 years; a longer one is no duration)
MAX_DURATION: Final = 10 * 365 * 86400


# --- payloads ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class UserJoined:
    username: str
    timestamp: float | None = None


@dataclass(frozen=True, slots=True)
class UserLeft:
    username: str
    timestamp: float | None = None


@dataclass(frozen=True, slots=True)
class MessageLog:
    username: str
    message: str
    timestamp: float | None = None


@dataclass(frozen=True, slots=True)
class UserCount:
    chat_count: int
    connected_count: int
    timestamp: float | None = None


@dataclass(frozen=True, slots=True)
class HighWater:
    chat_count: int
    connected_count: int | None = None
    timestamp: float | None = None


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


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """``status_data`` is the object as sent (extra keys included); :attr:`status` reads
    the known keys. Build one from a :class:`BotStatus` with :meth:`of`."""

    status_data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, status: BotStatus, **extra: Any) -> StatusUpdate:
        return cls({**extra, **_wire(status)})

    @property
    def status(self) -> BotStatus:
        return _bot_status(self.status_data)


@dataclass(frozen=True, slots=True)
class MarkSent:
    message_id: int


@dataclass(frozen=True, slots=True)
class Enqueue:
    message: str


@dataclass(frozen=True, slots=True)
class PmCommand:
    username: str
    command: str
    args: str
    result: Literal["pending", "success", "error"]
    timestamp: float | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ModerationAction:
    """One moderator action, the bot's or one it saw (``rosey.db.moderation.action``).

    ``duration`` is seconds (None: no end); ``expires_at`` is when a timed mute or ban ends.
    ``ref`` is the sender's unique id for the action (the DatabaseService keeps it; the bot
    matches its own strikes by it). ``command`` is the command line or rule that caused it.
    """

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


Event = Union[
    UserJoined, UserLeft, MessageLog, UserCount, HighWater, StatusUpdate, MarkSent, Enqueue,
    PmCommand, ModerationAction,
]


def event_time(event: Event) -> float | None:
    """The event's own timestamp; None means "use the receiver's time" (the contract's rule)."""
    return getattr(event, "timestamp", None)


# --- replies -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class HighWaterMark:
    users: int
    timestamp: int | None = None


@dataclass(frozen=True, slots=True)
class TopChatter:
    username: str
    chat_lines: int


@dataclass(frozen=True, slots=True)
class ChannelStatsReply:
    high_water_mark: HighWaterMark
    high_water_connected: HighWaterMark
    top_chatters: tuple[TopChatter, ...] = ()
    total_users_seen: int = 0


@dataclass(frozen=True, slots=True)
class UserRecord:
    username: str
    first_seen: int
    last_seen: int
    total_chat_lines: int
    total_time_connected: int
    current_session_start: int | None = None


@dataclass(frozen=True, slots=True)
class UserStatsReply:
    """``user`` is None when the user was never seen (``"found": false`` on the wire)."""

    username: str
    user: UserRecord | None = None

    @property
    def found(self) -> bool:
        return self.user is not None


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    id: int
    timestamp: int
    message: str
    retry_count: int = 0


@dataclass(frozen=True, slots=True)
class OutboundGetReply:
    """Unsent messages, oldest first (a JSON list on the wire)."""

    messages: tuple[OutboundMessage, ...] = ()


@dataclass(frozen=True, slots=True)
class ChatLine:
    timestamp: int
    username: str
    message: str


@dataclass(frozen=True, slots=True)
class RecentChatReply:
    """Chat lines, oldest first (a JSON list on the wire)."""

    lines: tuple[ChatLine, ...] = ()


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """``{"success": false, "error": ...}``: the DatabaseService could not answer.
    (A list query answers ``[]`` instead, which reads as an empty reply.)"""

    error: str


@dataclass(frozen=True, slots=True)
class ModerationRecord:
    """One row of the moderation record, as ``modlog`` shows it."""

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


@dataclass(frozen=True, slots=True)
class ModlogReply:
    """Newest first."""

    actions: tuple[ModerationRecord, ...] = ()


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


@dataclass(frozen=True, slots=True)
class PunishmentsReply:
    """Active punishments, the soonest to end first (those without an end last)."""

    punishments: tuple[Punishment, ...] = ()


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
class HistoryReply:
    """Everything about one user: the contract's user record (None: never seen), strikes,
    punishments (active and past, newest first), notes (newest first) and recent actions."""

    username: str
    user: UserRecord | None = None
    strikes: tuple[Strike, ...] = ()
    punishments: tuple[Punishment, ...] = ()
    notes: tuple[Note, ...] = ()
    actions: tuple[ModerationRecord, ...] = ()


Reply = Union[ChannelStatsReply, UserStatsReply, OutboundGetReply, RecentChatReply,
              ModlogReply, PunishmentsReply, HistoryReply]
ReplyT = TypeVar("ReplyT", ChannelStatsReply, UserStatsReply, OutboundGetReply,
                  RecentChatReply, ModlogReply, PunishmentsReply, HistoryReply)


# --- queries -------------------------------------------------------------------------------
class QueryOf(Generic[ReplyT]):
    """Base of the query payloads: a ``QueryOf[R]`` is answered with an ``R``."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class ChannelStatsQuery(QueryOf[ChannelStatsReply]):
    pass


@dataclass(frozen=True, slots=True)
class UserStatsQuery(QueryOf[UserStatsReply]):
    username: str


@dataclass(frozen=True, slots=True)
class OutboundGetQuery(QueryOf[OutboundGetReply]):
    limit: int = 50
    max_retries: int = 3


@dataclass(frozen=True, slots=True)
class RecentChatQuery(QueryOf[RecentChatReply]):
    limit: int = 50


@dataclass(frozen=True, slots=True)
class ModlogQuery(QueryOf[ModlogReply]):
    """The newest ``limit`` actions, on ``username`` (as target or actor) when given."""

    username: str | None = None
    limit: int = 10


@dataclass(frozen=True, slots=True)
class PunishmentsQuery(QueryOf[PunishmentsReply]):
    """Active punishments, of ``username`` when given."""

    username: str | None = None


@dataclass(frozen=True, slots=True)
class HistoryQuery(QueryOf[HistoryReply]):
    username: str
    limit: int = 20


Query = Union[ChannelStatsQuery, UserStatsQuery, OutboundGetQuery, RecentChatQuery,
              ModlogQuery, PunishmentsQuery, HistoryQuery]

_QUERY_SUBJECTS: Final[dict[type, str]] = {
    ChannelStatsQuery: QUERY_CHANNEL_STATS, UserStatsQuery: QUERY_USER_STATS,
    OutboundGetQuery: OUTBOUND_GET, RecentChatQuery: RECENT_CHAT_GET,
    ModlogQuery: QUERY_MODLOG, PunishmentsQuery: QUERY_PUNISHMENTS, HistoryQuery: QUERY_HISTORY,
}


def query_subject(query: QueryOf[Any]) -> str:
    """The subject a query is sent on."""
    return _QUERY_SUBJECTS[type(query)]


# --- decoding ------------------------------------------------------------------------------
def _load_object(data: bytes) -> dict[str, Any]:
    """Bytes -> JSON object, or BadPayload with a short, bounded reason."""
    obj = _load_json(data)
    if not isinstance(obj, dict):
        raise BadPayload("not_object", f"JSON {type(obj).__name__}, expected object")
    return obj


def _load_json(data: bytes) -> Any:
    """Bytes -> any JSON value, or BadPayload with a short, bounded reason."""
    if not data:
        raise BadPayload("empty", "empty body")
    if len(data) > MAX_PAYLOAD_BYTES:
        raise BadPayload("too_large", f"body of {len(data)} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadPayload("not_utf8", f"invalid UTF-8 at byte {exc.start}") from None
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise BadPayload("bad_json", str(exc)[:200]) from None
    return obj


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def _str(obj: dict[str, Any], key: str, *, limit: int, required: bool = True,
         nonempty: bool = False) -> str | None:
    if key not in obj or obj[key] is None:
        if required:
            raise BadPayload("missing_field", f"{key} is missing")
        return None
    value = obj[key]
    if not isinstance(value, str):
        raise BadPayload("wrong_type", f"{key} must be a string, got {type(value).__name__}")
    if len(value) > limit:
        raise BadPayload("too_large", f"{key} has {len(value)} characters, limit {limit}")
    if "\x00" in value:
        raise BadPayload("wrong_type", f"{key} contains a NUL character")
    if nonempty and not value.strip():
        raise BadPayload("missing_field", f"{key} is empty")
    return value


def _username(obj: dict[str, Any]) -> str:
    value = _str(obj, "username", limit=MAX_USERNAME, nonempty=True)
    assert value is not None
    return value.strip()


def _int(obj: dict[str, Any], key: str, *, required: bool = True, minimum: int = 0,
         maximum: int = 2**53) -> int | None:
    if key not in obj or obj[key] is None:
        if required:
            raise BadPayload("missing_field", f"{key} is missing")
        return None
    value = obj[key]
    # bool is an int subclass; a float with an integral value is accepted (JS senders)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadPayload("wrong_type", f"{key} must be an integer, got {type(value).__name__}")
    if isinstance(value, float):
        if not value.is_integer():
            raise BadPayload("wrong_type", f"{key} must be an integer, got {value!r}")
        value = int(value)
    if not minimum <= value <= maximum:
        raise BadPayload("wrong_type", f"{key}={value} is out of range")
    return value


def _number(obj: dict[str, Any], key: str) -> float | None:
    if key not in obj or obj[key] is None:
        return None
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BadPayload("wrong_type", f"{key} must be a number, got {value!r:.40}")
    return float(value)


def _bool(obj: dict[str, Any], key: str) -> bool | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, bool):
        raise BadPayload("wrong_type", f"{key} must be true or false, got {type(value).__name__}")
    return value


def _object(obj: dict[str, Any], key: str, *, required: bool = True) -> dict[str, Any] | None:
    if key not in obj or obj[key] is None:
        if required:
            raise BadPayload("missing_field", f"{key} is missing")
        return None
    value = obj[key]
    if not isinstance(value, dict):
        raise BadPayload("wrong_type", f"{key} must be an object, got {type(value).__name__}")
    return value


def _objects(value: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise BadPayload("wrong_type", f"{what} must be a list of objects")
    return value


def _timestamp(obj: dict[str, Any], *, required: bool = False) -> float | None:
    if "timestamp" not in obj or obj["timestamp"] is None:
        if required:
            raise BadPayload("missing_field", "timestamp is missing")
        return None
    value = obj["timestamp"]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadPayload("wrong_type", f"timestamp must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or not 0 <= value < 1e11:
        raise BadPayload("wrong_type", f"timestamp {value!r} is not Unix seconds")
    return float(value)


def _user_joined(o: dict[str, Any]) -> Event:
    return UserJoined(_username(o), _timestamp(o))


def _user_left(o: dict[str, Any]) -> Event:
    return UserLeft(_username(o), _timestamp(o))


def _message_log(o: dict[str, Any]) -> Event:
    message = _str(o, "message", limit=MAX_TEXT)
    assert message is not None
    return MessageLog(_username(o), message, _timestamp(o))


def _user_count(o: dict[str, Any]) -> Event:
    chat, conn = _int(o, "chat_count"), _int(o, "connected_count")
    assert chat is not None and conn is not None
    return UserCount(chat, conn, _timestamp(o))


def _high_water(o: dict[str, Any]) -> Event:
    chat = _int(o, "chat_count")
    assert chat is not None
    return HighWater(chat, _int(o, "connected_count", required=False), _timestamp(o))


def _status_update(o: dict[str, Any]) -> Event:
    if "status_data" not in o:
        raise BadPayload("missing_field", "status_data is missing")
    data = o["status_data"]
    if not isinstance(data, dict):
        raise BadPayload("wrong_type", "status_data must be an object")
    if len(json.dumps(data)) > MAX_STATUS_BYTES:
        raise BadPayload("too_large", "status_data is too large")
    _bot_status(data)  # refuse a status whose known fields have the wrong type
    return StatusUpdate(data)


def _opt_str(o: dict[str, Any], key: str) -> str | None:
    return _str(o, key, limit=MAX_TEXT, required=False)


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


def _mark_sent(o: dict[str, Any]) -> Event:
    mid = _int(o, "message_id", minimum=1)
    assert mid is not None
    return MarkSent(mid)


def _enqueue(o: dict[str, Any]) -> Event:
    message = _str(o, "message", limit=MAX_TEXT, nonempty=True)
    assert message is not None
    return Enqueue(message)


def _pm_command(o: dict[str, Any]) -> Event:
    command = _str(o, "command", limit=MAX_COMMAND, nonempty=True)
    args = _str(o, "args", limit=MAX_TEXT, required=False) or ""
    result = _str(o, "result", limit=16)
    if result not in RESULTS:
        raise BadPayload("wrong_type", f"result must be one of {'/'.join(RESULTS)}")
    error = _str(o, "error", limit=MAX_TEXT, required=False)
    assert command is not None
    return PmCommand(_username(o), command, args, result,  # type: ignore[arg-type]
                     _timestamp(o), error)


def _one_of(o: dict[str, Any], key: str, allowed: tuple[str, ...], default: str | None) -> str:
    value = _str(o, key, limit=32, required=default is None)
    if value is None:
        assert default is not None
        return default
    if value not in allowed:
        raise BadPayload("wrong_type", f"{key} must be one of {'/'.join(allowed)}")
    return value


def _name(o: dict[str, Any], key: str) -> str:
    value = _str(o, key, limit=MAX_USERNAME, nonempty=True)
    assert value is not None
    return value.strip()


def _moderation_action(o: dict[str, Any]) -> Event:
    expires = _number(o, "expires_at")
    if expires is not None and not 0 <= expires < 1e11:
        raise BadPayload("wrong_type", f"expires_at {expires!r} is not Unix seconds")
    return ModerationAction(
        action=_one_of(o, "action", MODERATION_KINDS, None), target=_name(o, "target"),
        actor=_name(o, "actor"), origin=_one_of(o, "origin", MODERATION_ORIGINS, "command"),
        result=_one_of(o, "result", MODERATION_RESULTS, "success"),
        reason=_str(o, "reason", limit=MAX_TEXT, required=False) or "",
        duration=_int(o, "duration", required=False, minimum=0, maximum=MAX_DURATION),
        expires_at=expires, command=_str(o, "command", limit=MAX_TEXT, required=False),
        error=_str(o, "error", limit=MAX_TEXT, required=False),
        ref=_str(o, "ref", limit=100, required=False), timestamp=_timestamp(o))


_EVENT_DECODERS: Final = {
    USER_JOINED: _user_joined, USER_LEFT: _user_left, MESSAGE_LOG: _message_log,
    USER_COUNT: _user_count, HIGH_WATER: _high_water, STATUS_UPDATE: _status_update,
    OUTBOUND_MARK_SENT: _mark_sent, OUTBOUND_ENQUEUE: _enqueue, PM_COMMAND: _pm_command,
    MODERATION_ACTION: _moderation_action,
}


def decode_event(subject: str, data: bytes) -> Event:
    """Decode one event body for ``subject``; raise :class:`BadPayload` when it breaks the contract."""
    decoder = _EVENT_DECODERS.get(subject)
    if decoder is None:
        raise BadPayload("unknown_subject", f"no event is defined for {subject!r}")
    return decoder(_load_object(data))


def _limit(o: dict[str, Any], key: str, default: int, maximum: int) -> int:
    value = _int(o, key, required=False, minimum=0, maximum=maximum)
    return default if value is None else value


def decode_query(subject: str, data: bytes) -> Query:
    """Decode one query body. An empty body is read as ``{}`` (``nats req subj ''``)."""
    o = _load_object(data) if data.strip() else {}
    if subject == QUERY_CHANNEL_STATS:
        return ChannelStatsQuery()
    if subject == QUERY_USER_STATS:
        return UserStatsQuery(_username(o))
    if subject == OUTBOUND_GET:
        return OutboundGetQuery(_limit(o, "limit", 50, 1000), _limit(o, "max_retries", 3, 1000))
    if subject == RECENT_CHAT_GET:
        return RecentChatQuery(_limit(o, "limit", 50, 1000))
    if subject == QUERY_MODLOG:
        who = _str(o, "username", limit=MAX_USERNAME, required=False)
        return ModlogQuery(who.strip() or None if who is not None else None,
                           _limit(o, "limit", 10, 1000))
    if subject == QUERY_PUNISHMENTS:
        who = _str(o, "username", limit=MAX_USERNAME, required=False)
        return PunishmentsQuery(who.strip() or None if who is not None else None)
    if subject == QUERY_HISTORY:
        return HistoryQuery(_username(o), _limit(o, "limit", 20, 1000))
    raise BadPayload("unknown_subject", f"no query is defined for {subject!r}")


# --- replies: decoding (the requester's side) ---------------------------------------------
def _high_water_mark(o: dict[str, Any], key: str) -> HighWaterMark:
    mark = _object(o, key)
    assert mark is not None
    return HighWaterMark(_need_int(mark, "users"), _int(mark, "timestamp", required=False))


def _channel_stats_reply(value: Any) -> Reply:
    o = _reply_object(value)
    top = []
    for t in _objects(o.get("top_chatters", []), "top_chatters"):
        top.append(TopChatter(_username(t), _need_int(t, "chat_lines")))
    return ChannelStatsReply(_high_water_mark(o, "high_water_mark"),
                             _high_water_mark(o, "high_water_connected"), tuple(top),
                             _need_int(o, "total_users_seen"))


def _need_int(o: dict[str, Any], key: str) -> int:
    value = _int(o, key)
    assert value is not None  # a required field: _int raised when it is missing
    return value


def _user_stats_reply(value: Any) -> Reply:
    o = _reply_object(value)
    found = _bool(o, "found")
    if found is None:
        raise BadPayload("missing_field", "found is missing")
    username = _username(o)
    if not found:
        return UserStatsReply(username)
    return UserStatsReply(username, UserRecord(
        username, _need_int(o, "first_seen"), _need_int(o, "last_seen"),
        _need_int(o, "total_chat_lines"), _need_int(o, "total_time_connected"),
        _int(o, "current_session_start", required=False)))


def _outbound_get_reply(value: Any) -> Reply:
    messages = []
    for m in _objects(value, "the reply"):
        text = _str(m, "message", limit=MAX_TEXT)
        assert text is not None
        messages.append(OutboundMessage(_need_int(m, "id"), _need_int(m, "timestamp"), text,
                                        _need_int(m, "retry_count")))
    return OutboundGetReply(tuple(messages))


def _recent_chat_reply(value: Any) -> Reply:
    lines = []
    for c in _objects(value, "the reply"):
        text = _str(c, "message", limit=MAX_TEXT)
        assert text is not None
        lines.append(ChatLine(_need_int(c, "timestamp"), _username(c), text))
    return RecentChatReply(tuple(lines))


def _record(o: dict[str, Any]) -> ModerationRecord:
    return ModerationRecord(
        _need_int(o, "id"), _need_int(o, "timestamp"), _name(o, "action"), _name(o, "target"),
        _name(o, "actor"), _name(o, "origin"), _name(o, "result"), _opt_str(o, "reason") or "",
        _int(o, "duration", required=False), _int(o, "expires_at", required=False),
        _opt_str(o, "command"), _opt_str(o, "error"))


def _punishment(o: dict[str, Any]) -> Punishment:
    return Punishment(
        _need_int(o, "id"), _name(o, "kind"), _name(o, "target"), _name(o, "actor"),
        _need_int(o, "started"), _opt_str(o, "reason") or "",
        _int(o, "expires_at", required=False), _int(o, "ended_at", required=False),
        _opt_str(o, "ended_how"), _opt_str(o, "last_error"))


def _modlog_reply(value: Any) -> Reply:
    o = _reply_object(value)
    return ModlogReply(tuple(_record(a) for a in _objects(o.get("actions", []), "actions")))


def _punishments_reply(value: Any) -> Reply:
    o = _reply_object(value)
    return PunishmentsReply(tuple(
        _punishment(p) for p in _objects(o.get("punishments", []), "punishments")))


def _history_reply(value: Any) -> Reply:
    o = _reply_object(value)
    user = _object(o, "user", required=False)
    return HistoryReply(
        _username(o),
        None if user is None else UserRecord(
            _username(user), _need_int(user, "first_seen"), _need_int(user, "last_seen"),
            _need_int(user, "total_chat_lines"), _need_int(user, "total_time_connected"),
            _int(user, "current_session_start", required=False)),
        tuple(Strike(_need_int(s, "timestamp"), _name(s, "actor"), _opt_str(s, "reason") or "",
                     _opt_str(s, "ref")) for s in _objects(o.get("strikes", []), "strikes")),
        tuple(_punishment(p) for p in _objects(o.get("punishments", []), "punishments")),
        tuple(Note(_need_int(n, "timestamp"), _name(n, "actor"), _opt_str(n, "text") or "")
              for n in _objects(o.get("notes", []), "notes")),
        tuple(_record(a) for a in _objects(o.get("actions", []), "actions")))


def _reply_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadPayload("not_object", f"JSON {type(value).__name__}, expected object")
    return value


_REPLY_DECODERS: Final = {
    ChannelStatsQuery: _channel_stats_reply, UserStatsQuery: _user_stats_reply,
    OutboundGetQuery: _outbound_get_reply, RecentChatQuery: _recent_chat_reply,
    ModlogQuery: _modlog_reply, PunishmentsQuery: _punishments_reply,
    HistoryQuery: _history_reply,
}


def decode_reply(query: QueryOf[ReplyT], data: bytes) -> ReplyT | ErrorReply:
    """Decode the reply to ``query``: its typed reply, or :class:`ErrorReply` when the
    DatabaseService answered ``{"success": false}``. Raise :class:`BadPayload` when the
    reply breaks the contract. Unknown fields are ignored."""
    value = _load_json(data)
    if isinstance(value, dict) and value.get("success") is False:
        return ErrorReply(_opt_str(value, "error") or "")
    reply: ReplyT = _REPLY_DECODERS[type(query)](value)  # type: ignore[assignment]
    return reply


# --- encoding ------------------------------------------------------------------------------
#: payloads encoded field by field (flat: the publish path stays cheap)
_FLAT: Final = frozenset({
    UserJoined, UserLeft, MessageLog, UserCount, HighWater, StatusUpdate, MarkSent, Enqueue,
    PmCommand, ChannelStatsQuery, UserStatsQuery, OutboundGetQuery, RecentChatQuery,
})


def _wire(value: Any) -> Any:
    """A reply, status or other dataclass -> the JSON value the contract spells."""
    if isinstance(value, UserStatsReply):
        if value.user is None:
            return {"success": True, "found": False, "username": value.username}
        return {"success": True, "found": True, **_wire(value.user)}
    if isinstance(value, ChannelStatsReply):
        return {"success": True, **_fields(value)}
    if isinstance(value, OutboundGetReply):
        return _wire(value.messages)
    if isinstance(value, RecentChatReply):
        return _wire(value.lines)
    if isinstance(value, ErrorReply):
        return {"success": False, "error": value.error}
    if isinstance(value, (ModlogReply, PunishmentsReply, HistoryReply)):
        return {"success": True, **_fields(value)}
    if hasattr(value, "__dataclass_fields__"):
        return _fields(value)
    if isinstance(value, (list, tuple)):
        return [_wire(v) for v in value]
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items()}
    return value


def _fields(value: Any) -> dict[str, Any]:
    return {k: _wire(getattr(value, k)) for k in value.__dataclass_fields__}


def encode(payload: Any) -> bytes:
    """A payload, reply or status dataclass, dict or list -> compact UTF-8 JSON bytes."""
    if type(payload) in _FLAT:
        payload = {k: getattr(payload, k) for k in payload.__dataclass_fields__}
    else:
        payload = _wire(payload)
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def error_reply(subject: str, reason: str) -> bytes:
    """The contract's reply to a query it could not answer."""
    if subject in LIST_QUERY_SUBJECTS:
        return b"[]"
    return encode(ErrorReply(reason))
