"""The queries (request/reply): one dataclass per subject, each bound to its subject and to
its reply.

A query class is the whole of a query: a ``QueryOf[R]`` for its reply class ``R`` (its
``REPLY``), its ``SUBJECT``, its fields and :meth:`~QueryOf.from_wire`, its request decoder.
Defining one registers it (:data:`QUERY_TYPES`), so :func:`decode_query`, :func:`decode_reply`,
:func:`error_reply` and the subject lists below (and through them the DatabaseService's
subscriptions, the permissions and the metric labels) follow from the classes.

Adding a query touches three places: its query class here, its reply class
(:mod:`rosey.contract.replies`), and the store's answer (a function and its row in
``rosey.store.queries.QUERIES`` or ``rosey.store.moderation.MODERATION_QUERIES``;
``tests/test_contract_package.py`` checks every query has one). ``SHARED`` marks the shared
contract's queries (``docs/wire-contract.md``, fixed); a new query sits beside it, and ``WEB``
marks the web page's (``docs/web-contract.md``, answered by ``rosey.store.activity`` and
``rosey.store.media``). A query the bot does not ask sets ``BOT_ASKS = False``
(:mod:`rosey.nats_auth`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Generic, Self, cast, get_args, get_origin

from rosey.contract.codec import (
    Flat,
    _int,
    _limit,
    _number,
    _opt_str,
    _str,
    _username,
    encode,
    load_json,
    load_object,
    register,
)
from rosey.contract.page_replies import (
    ChatHoursReply,
    MediaRecentReply,
    MediaTopReply,
    ModerationPageReply,
    StatusReply,
    UserCountsReply,
)
from rosey.contract.replies import (
    ChannelStatsReply,
    ErrorReply,
    HistoryReply,
    ListReply,
    ModlogReply,
    OutboundGetReply,
    PunishmentsReply,
    RaidReply,
    RecentChatReply,
    Reply,
    ReplyT,
    UserStatsReply,
)
from rosey.contract.subjects import (
    MAX_PAGE_ROWS,
    MAX_POINTS,
    MAX_RANGE_SECONDS,
    MAX_RULE,
    MAX_USERNAME,
    MAX_UTC_OFFSET,
    MIN_RANGE_SECONDS,
    MIN_UTC_OFFSET,
    MODERATION_KINDS,
    MODERATION_ORIGINS,
    OUTBOUND_GET,
    QUERY_CHANNEL_STATS,
    QUERY_CHAT_HOURS,
    QUERY_HISTORY,
    QUERY_MEDIA_RECENT,
    QUERY_MEDIA_TOP,
    QUERY_MODERATION_PAGE,
    QUERY_MODLOG,
    QUERY_PUNISHMENTS,
    QUERY_RAID,
    QUERY_STATUS,
    QUERY_USER_COUNTS,
    QUERY_USER_STATS,
    RECENT_CHAT_GET,
)
from rosey.errors import BadPayload

__all__ = [
    "QueryOf", "QUERY_TYPES", "Query", "query_subject", "decode_query", "decode_reply",
    "error_reply",
    "ChannelStatsQuery", "UserStatsQuery", "OutboundGetQuery", "RecentChatQuery",
    "ModlogQuery", "PunishmentsQuery", "HistoryQuery", "RaidQuery",
    "UserCountsQuery", "ChatHoursQuery", "MediaRecentQuery", "MediaTopQuery", "StatusQuery",
    "ModerationPageQuery",
    "QUERY_SUBJECTS", "MODERATION_QUERY_SUBJECTS", "WEB_QUERY_SUBJECTS", "ALL_QUERY_SUBJECTS",
    "LIST_QUERY_SUBJECTS",
]

#: subject -> its query class, in definition order (filled by :class:`QueryOf`)
QUERY_TYPES: Final[dict[str, type[QueryOf[Any]]]] = {}


class QueryOf(Flat, Generic[ReplyT]):
    """Base of the query payloads: a ``QueryOf[R]`` is answered with an ``R``.

    A subclass that sets ``SUBJECT`` is registered in :data:`QUERY_TYPES`; its ``REPLY`` is
    the ``R`` it names; it decodes its request with :meth:`from_wire`."""

    __slots__ = ()

    #: the subject it is asked on
    SUBJECT: ClassVar[str]
    #: its reply class (the ``R`` of ``QueryOf[R]``, filled in when the class is made)
    REPLY: ClassVar[type[Reply]]
    #: in the shared contract (docs/wire-contract.md); False: beside it (docs/moderation.md)
    SHARED: ClassVar[bool] = False
    #: the web page's (docs/web-contract.md), beside the contract
    WEB: ClassVar[bool] = False
    #: the bot asks it (its NATS permissions allow it)
    BOT_ASKS: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "SUBJECT" in cls.__dict__:
            if "REPLY" not in cls.__dict__:
                cls.REPLY = _reply_class(cls)
            register(QUERY_TYPES, cls, cls.SUBJECT)

    @classmethod
    def from_wire(cls, o: dict[str, Any]) -> Self:
        """Decode a request (a JSON object, ``{}`` for an empty body); BadPayload when it
        breaks the contract."""
        raise NotImplementedError


def _reply_class(cls: type) -> type[Reply]:
    for base in cls.__dict__.get("__orig_bases__", ()):
        if get_origin(base) is QueryOf:
            (reply,) = get_args(base)
            if isinstance(reply, type) and issubclass(reply, Reply):
                return reply
    raise TypeError(f"{cls.__qualname__} must derive from QueryOf[<its reply class>]")


def _who(o: dict[str, Any]) -> str | None:
    """An optional ``username``: absent or blank means everyone."""
    who = _str(o, "username", limit=MAX_USERNAME, required=False)
    return who.strip() or None if who is not None else None


# --- the shared contract's queries ---------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ChannelStatsQuery(QueryOf[ChannelStatsReply]):
    SUBJECT: ClassVar[str] = QUERY_CHANNEL_STATS
    SHARED: ClassVar[bool] = True

    @classmethod
    def from_wire(cls, o: dict[str, Any]) -> Self:
        return cls()


@dataclass(frozen=True, slots=True)
class UserStatsQuery(QueryOf[UserStatsReply]):
    SUBJECT: ClassVar[str] = QUERY_USER_STATS
    SHARED: ClassVar[bool] = True

    username: str

    @classmethod
    def from_wire(cls, o: dict[str, Any]) -> Self:
        return cls(_username(o))


@dataclass(frozen=True, slots=True)
class OutboundGetQuery(QueryOf[OutboundGetReply]):
    SUBJECT: ClassVar[str] = OUTBOUND_GET
    SHARED: ClassVar[bool] = True

    limit: int = 50
    max_retries: int = 3

    @classmethod
    def from_wire(cls, o: dict[str, Any]) -> Self:
        return cls(_limit(o, "limit", 50, 1000), _limit(o, "max_retries", 3, 1000))


@dataclass(frozen=True, slots=True)
class RecentChatQuery(QueryOf[RecentChatReply]):
    """For outside tools: the bot never asks it."""

    SUBJECT: ClassVar[str] = RECENT_CHAT_GET
    SHARED: ClassVar[bool] = True
    BOT_ASKS: ClassVar[bool] = False

    limit: int = 50

    @classmethod
    def from_wire(cls, o: dict[str, Any]) -> Self:
        return cls(_limit(o, "limit", 50, 1000))


# --- the moderation record's queries (docs/moderation.md) ----------------------------------
@dataclass(frozen=True, slots=True)
class ModlogQuery(QueryOf[ModlogReply]):
    """The newest ``limit`` actions, on ``username`` (as target or actor) when given."""

    SUBJECT: ClassVar[str] = QUERY_MODLOG

    username: str | None = None
    limit: int = 10

    @classmethod
    def from_wire(cls, o: dict[str, Any]) -> Self:
        return cls(_who(o), _limit(o, "limit", 10, 1000))


@dataclass(frozen=True, slots=True)
class PunishmentsQuery(QueryOf[PunishmentsReply]):
    """Active punishments, of ``username`` when given."""

    SUBJECT: ClassVar[str] = QUERY_PUNISHMENTS

    username: str | None = None

    @classmethod
    def from_wire(cls, o: dict[str, Any]) -> Self:
        return cls(_who(o))


@dataclass(frozen=True, slots=True)
class HistoryQuery(QueryOf[HistoryReply]):
    SUBJECT: ClassVar[str] = QUERY_HISTORY

    username: str
    limit: int = 20

    @classmethod
    def from_wire(cls, o: dict[str, Any]) -> Self:
        return cls(_username(o), _limit(o, "limit", 20, 1000))


# --- automatic moderation's state (docs/moderation.md) -------------------------------------
@dataclass(frozen=True, slots=True)
class RaidQuery(QueryOf[RaidReply]):
    """Raid mode as last recorded (the bot asks it when it has joined)."""

    SUBJECT: ClassVar[str] = QUERY_RAID

    @classmethod
    def from_wire(cls, o: dict[str, Any]) -> Self:
        return cls()


# --- the web page's queries (docs/web-contract.md) -----------------------------------------
def _seconds(o: dict[str, Any], default: int) -> int:
    seconds = _int(o, "seconds", required=False, minimum=MIN_RANGE_SECONDS,
                   maximum=MAX_RANGE_SECONDS)
    return default if seconds is None else seconds


def _until(o: dict[str, Any]) -> float | None:
    until = _number(o, "until")
    if until is not None and not 0 <= until < 1e11:
        raise BadPayload("wrong_type", f"until {until!r} is not Unix seconds")
    return until


class _WebQuery:
    """Mixin: the web page's queries, which the bot never asks."""

    __slots__ = ()
    WEB: ClassVar[bool] = True
    BOT_ASKS: ClassVar[bool] = False


class _Ranged(_WebQuery):
    """Mixin: a query over ``seconds`` ending at ``until`` (None: the receiver's time)."""

    __slots__ = ()
    seconds: int
    until: float | None

    def span(self, now: float | None = None) -> tuple[int, int]:
        """``(since, until)`` in whole seconds (``until`` rounded down; ``since`` never below
        0); ``now`` (default: this process's clock) stands in for an absent ``until``."""
        end = self.until if self.until is not None else now if now is not None else time.time()
        return max(0, int(end) - self.seconds), int(end)


@dataclass(frozen=True, slots=True)
class UserCountsQuery(_Ranged, QueryOf[UserCountsReply]):
    """The graph: ``user_count_history`` over the range in at most ``points`` buckets of equal
    width (each the maximum of its samples)."""

    SUBJECT: ClassVar[str] = QUERY_USER_COUNTS

    seconds: int = 3600
    until: float | None = None
    points: int = 360

    @classmethod
    def from_wire(cls, o: dict[str, Any]) -> Self:
        points = _int(o, "points", required=False, minimum=1, maximum=MAX_POINTS)
        return cls(_seconds(o, 3600), _until(o), 360 if points is None else points)


@dataclass(frozen=True, slots=True)
class ChatHoursQuery(_Ranged, QueryOf[ChatHoursReply]):
    """Chat lines by hour of day (at UTC + ``utc_offset`` hours) over the whole hours that
    overlap the range."""

    SUBJECT: ClassVar[str] = QUERY_CHAT_HOURS

    seconds: int = 7 * 86400
    until: float | None = None
    utc_offset: int = 0

    @classmethod
    def from_wire(cls, o: dict[str, Any]) -> Self:
        offset = _int(o, "utc_offset", required=False, minimum=MIN_UTC_OFFSET,
                      maximum=MAX_UTC_OFFSET)
        return cls(_seconds(o, 7 * 86400), _until(o), offset or 0)


@dataclass(frozen=True, slots=True)
class MediaRecentQuery(_WebQuery, QueryOf[MediaRecentReply]):
    """The newest ``limit`` plays."""

    SUBJECT: ClassVar[str] = QUERY_MEDIA_RECENT

    limit: int = 20

    @classmethod
    def from_wire(cls, o: dict[str, Any]) -> Self:
        return cls(_limit(o, "limit", 20, 1000))


@dataclass(frozen=True, slots=True)
class MediaTopQuery(_Ranged, QueryOf[MediaTopReply]):
    """The ``limit`` media played most often over the range."""

    SUBJECT: ClassVar[str] = QUERY_MEDIA_TOP

    seconds: int = 30 * 86400
    until: float | None = None
    limit: int = 10

    @classmethod
    def from_wire(cls, o: dict[str, Any]) -> Self:
        return cls(_seconds(o, 30 * 86400), _until(o), _limit(o, "limit", 10, 100))


@dataclass(frozen=True, slots=True)
class StatusQuery(_WebQuery, QueryOf[StatusReply]):
    """The bot's last status and who is here now (at most ``limit`` names)."""

    SUBJECT: ClassVar[str] = QUERY_STATUS

    limit: int = 200

    @classmethod
    def from_wire(cls, o: dict[str, Any]) -> Self:
        return cls(_limit(o, "limit", 200, 1000))


def _filter(o: dict[str, Any], key: str, limit: int) -> str | None:
    """An optional name to filter by: absent, null or blank means not filtered."""
    value = _str(o, key, limit=limit, required=False)
    return value.strip() or None if value is not None else None


def _kind(o: dict[str, Any], key: str, allowed: tuple[str, ...]) -> str | None:
    value = _str(o, key, limit=32, required=False)
    if value is not None and value not in allowed:
        raise BadPayload("wrong_type", f"{key} must be one of {'/'.join(allowed)}")
    return value


def _instant(o: dict[str, Any], key: str) -> float | None:
    value = _number(o, key)
    if value is not None and not 0 <= value < 1e11:
        raise BadPayload("wrong_type", f"{key} {value!r} is not Unix seconds")
    return value


@dataclass(frozen=True, slots=True)
class ModerationPageQuery(_WebQuery, QueryOf[ModerationPageReply]):
    """One page of the whole moderation record, newest first: the actions matching every
    filter given (``target``/``actor`` case-insensitively, ``since <= timestamp <= until``)
    whose ``id`` is below ``before_id``, at most ``limit`` of them."""

    SUBJECT: ClassVar[str] = QUERY_MODERATION_PAGE

    target: str | None = None
    actor: str | None = None
    action: str | None = None
    origin: str | None = None
    rule: str | None = None
    since: float | None = None
    until: float | None = None
    before_id: int | None = None
    limit: int = 50

    @classmethod
    def from_wire(cls, o: dict[str, Any]) -> Self:
        since, until = _instant(o, "since"), _instant(o, "until")
        if since is not None and until is not None and since > until:
            raise BadPayload("wrong_type", f"since {since:g} is after until {until:g}")
        limit = _int(o, "limit", required=False, minimum=1, maximum=MAX_PAGE_ROWS)
        return cls(_filter(o, "target", MAX_USERNAME), _filter(o, "actor", MAX_USERNAME),
                   _kind(o, "action", MODERATION_KINDS), _kind(o, "origin", MODERATION_ORIGINS),
                   _filter(o, "rule", MAX_RULE), since, until,
                   _int(o, "before_id", required=False, minimum=1),
                   50 if limit is None else limit)


#: any query (what :func:`decode_query` returns)
Query = QueryOf[Any]

#: the shared contract's query subjects
QUERY_SUBJECTS: Final[tuple[str, ...]] = tuple(s for s, t in QUERY_TYPES.items() if t.SHARED)
#: the moderation record's (docs/moderation.md)
MODERATION_QUERY_SUBJECTS: Final[tuple[str, ...]] = tuple(
    s for s, t in QUERY_TYPES.items() if not t.SHARED and not t.WEB)
#: the web page's (docs/web-contract.md)
WEB_QUERY_SUBJECTS: Final[tuple[str, ...]] = tuple(s for s, t in QUERY_TYPES.items() if t.WEB)
#: what the DatabaseService answers
ALL_QUERY_SUBJECTS: Final[tuple[str, ...]] = (
    *QUERY_SUBJECTS, *MODERATION_QUERY_SUBJECTS, *WEB_QUERY_SUBJECTS)
#: Queries whose reply is a JSON list; on bad input they answer ``[]``.
LIST_QUERY_SUBJECTS: Final[frozenset[str]] = frozenset(
    s for s, t in QUERY_TYPES.items() if issubclass(t.REPLY, ListReply))


def query_subject(query: QueryOf[Any]) -> str:
    """The subject a query is sent on."""
    return query.SUBJECT


def decode_query(subject: str, data: bytes) -> Query:
    """Decode one query body. An empty body is read as ``{}`` (``nats req subj ''``)."""
    o = load_object(data) if data.strip() else {}
    cls = QUERY_TYPES.get(subject)
    if cls is None:
        raise BadPayload("unknown_subject", f"no query is defined for {subject!r}")
    return cls.from_wire(o)


def decode_reply(query: QueryOf[ReplyT], data: bytes) -> ReplyT | ErrorReply:
    """Decode the reply to ``query``: its typed reply, or :class:`ErrorReply` when the
    DatabaseService answered ``{"success": false}``. Raise :class:`BadPayload` when the
    reply breaks the contract. Unknown fields are ignored."""
    value = load_json(data)
    if isinstance(value, dict) and value.get("success") is False:
        return ErrorReply(_opt_str(value, "error") or "")
    return cast(ReplyT, query.REPLY.from_wire(value))


def error_reply(subject: str, reason: str) -> bytes:
    """The contract's reply to a query it could not answer."""
    cls = QUERY_TYPES.get(subject)
    if cls is not None and issubclass(cls.REPLY, ListReply):
        return b"[]"
    return encode(ErrorReply(reason))
