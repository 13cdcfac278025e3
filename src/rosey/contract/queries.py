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
contract's queries (``docs/wire-contract.md``, fixed); a new query sits beside it. A query the
bot does not ask sets ``BOT_ASKS = False`` (:mod:`rosey.nats_auth`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Final, Generic, Self, cast, get_args, get_origin

from rosey.contract.codec import (
    Flat,
    _limit,
    _opt_str,
    _str,
    _username,
    encode,
    load_json,
    load_object,
    register,
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
    MAX_USERNAME,
    OUTBOUND_GET,
    QUERY_CHANNEL_STATS,
    QUERY_HISTORY,
    QUERY_MODLOG,
    QUERY_PUNISHMENTS,
    QUERY_RAID,
    QUERY_USER_STATS,
    RECENT_CHAT_GET,
)
from rosey.errors import BadPayload

__all__ = [
    "QueryOf", "QUERY_TYPES", "Query", "query_subject", "decode_query", "decode_reply",
    "error_reply",
    "ChannelStatsQuery", "UserStatsQuery", "OutboundGetQuery", "RecentChatQuery",
    "ModlogQuery", "PunishmentsQuery", "HistoryQuery", "RaidQuery",
    "QUERY_SUBJECTS", "MODERATION_QUERY_SUBJECTS", "ALL_QUERY_SUBJECTS", "LIST_QUERY_SUBJECTS",
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


#: any query (what :func:`decode_query` returns)
Query = QueryOf[Any]

#: the shared contract's query subjects
QUERY_SUBJECTS: Final[tuple[str, ...]] = tuple(s for s, t in QUERY_TYPES.items() if t.SHARED)
#: the moderation record's (and any other query's beside the contract)
MODERATION_QUERY_SUBJECTS: Final[tuple[str, ...]] = tuple(
    s for s, t in QUERY_TYPES.items() if not t.SHARED)
#: what the DatabaseService answers
ALL_QUERY_SUBJECTS: Final[tuple[str, ...]] = (*QUERY_SUBJECTS, *MODERATION_QUERY_SUBJECTS)
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
