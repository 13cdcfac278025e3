"""The wire contract between the bot, the DatabaseService and anything else on the bus.

Every subject, the stream and consumer names, and every payload shape live in this package, so
other modules import names and never type a subject string. The source of truth for humans is
``shared/wire-contract.md`` (copied to ``docs/wire-contract.md``; the moderation record beside
it is ``docs/moderation.md``); ``tests/test_contract.py`` walks this package against it.

- :mod:`~rosey.contract.subjects`: subject names, stream/consumer names, commands, kinds, limits;
- :mod:`~rosey.contract.codec`: the JSON loader, the field readers, :func:`encode`;
- :mod:`~rosey.contract.events`: the event dataclasses, each bound to its subject
  (``SUBJECT``, :func:`subject_of`), :func:`decode_event`;
- :mod:`~rosey.contract.replies`: the reply dataclasses, each with its JSON shape
  (:mod:`~rosey.contract.page_replies`: the web page's, ``docs/web-contract.md``);
- :mod:`~rosey.contract.queries`: the query dataclasses, each bound to its subject and its
  reply, :func:`decode_query`, :func:`decode_reply`, :func:`error_reply`.

The subject lists (``EVENT_SUBJECTS``, ``STREAM_SUBJECTS``, ``QUERY_SUBJECTS``,
``ALL_QUERY_SUBJECTS``, ``LIST_QUERY_SUBJECTS``, ...) are made from the classes: defining an
event or query class registers it (``EVENT_TYPES``, ``QUERY_TYPES``). Adding a query is its
query class, its reply class and the store's answer (:mod:`rosey.contract.queries` says where).

Replies are typed: each query class is a ``QueryOf[R]`` for its reply class ``R``, so
``decode_reply(query, data)`` (the requester's side) and ``Store.query(query)`` (the
DatabaseService's side) return the same dataclasses; :func:`encode` writes them in the
contract's shape. The bot's status is :class:`BotStatus`, carried in ``status_data``.
Everything is importable from here: ``from rosey.contract import UserJoined``.
"""

from __future__ import annotations

from rosey.contract.codec import encode
from rosey.contract.events import (
    EVENT_SUBJECTS,
    EVENT_TYPES,
    MODERATION_EVENT_SUBJECTS,
    STREAM_SUBJECTS,
    WEB_EVENT_SUBJECTS,
    BotStatus,
    ContractEvent,
    Enqueue,
    Event,
    HighWater,
    MarkSent,
    MediaPlayed,
    MediaStatus,
    MessageLog,
    ModerationAction,
    PmCommand,
    RaidState,
    StatusUpdate,
    UserCount,
    UserJoined,
    UserLeft,
    decode_event,
    event_time,
    subject_of,
)
from rosey.contract.page_replies import (
    ChatHoursReply,
    CountPoint,
    MediaRecentReply,
    MediaTopReply,
    ModerationPageReply,
    Play,
    Present,
    StatusReply,
    TopMedia,
    UserCountsReply,
)
from rosey.contract.queries import (
    ALL_QUERY_SUBJECTS,
    LIST_QUERY_SUBJECTS,
    MODERATION_QUERY_SUBJECTS,
    QUERY_SUBJECTS,
    QUERY_TYPES,
    WEB_QUERY_SUBJECTS,
    ChannelStatsQuery,
    ChatHoursQuery,
    HistoryQuery,
    MediaRecentQuery,
    MediaTopQuery,
    ModerationPageQuery,
    ModlogQuery,
    OutboundGetQuery,
    PunishmentsQuery,
    Query,
    QueryOf,
    RaidQuery,
    RecentChatQuery,
    StatusQuery,
    UserCountsQuery,
    UserStatsQuery,
    decode_query,
    decode_reply,
    error_reply,
    query_subject,
)
from rosey.contract.replies import (
    ChannelStatsReply,
    ChatLine,
    ErrorReply,
    HighWaterMark,
    HistoryReply,
    ListReply,
    ModerationRecord,
    ModlogReply,
    Note,
    OutboundGetReply,
    OutboundMessage,
    Punishment,
    PunishmentsReply,
    RaidReply,
    RecentChatReply,
    Reply,
    ReplyT,
    Strike,
    TopChatter,
    UserRecord,
    UserStatsReply,
)
from rosey.contract.subjects import (
    CONSUMER_NAME,
    HIGH_WATER,
    MAX_COMMAND,
    MAX_DURATION,
    MAX_MEDIA_ID,
    MAX_MEDIA_TYPE,
    MAX_PAGE_ROWS,
    MAX_PAYLOAD_BYTES,
    MAX_POINTS,
    MAX_RAID_OPTIONS_BYTES,
    MAX_RANGE_SECONDS,
    MAX_RULE,
    MAX_STATUS_BYTES,
    MAX_TEXT,
    MAX_TITLE,
    MAX_USERNAME,
    MAX_UTC_OFFSET,
    MEDIA_PLAYED,
    MESSAGE_LOG,
    MIN_RANGE_SECONDS,
    MIN_UTC_OFFSET,
    MODERATION_ACTION,
    MODERATION_KINDS,
    MODERATION_ORIGINS,
    MODERATION_RESULTS,
    MSG_ID_HEADER,
    OUTBOUND_ENQUEUE,
    OUTBOUND_GET,
    OUTBOUND_MARK_SENT,
    PM_COMMAND,
    PM_COMMANDS,
    PUNISHMENT_CLASS,
    PUNISHMENT_KINDS,
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
    QUEUE_GROUP,
    RAID_STATE,
    RECENT_CHAT_GET,
    RESULTS,
    STATUS_UPDATE,
    STREAM_NAME,
    USER_COUNT,
    USER_JOINED,
    USER_LEFT,
    expiry_second,
)

__all__ = [
    "USER_JOINED", "USER_LEFT", "MESSAGE_LOG", "USER_COUNT", "HIGH_WATER", "STATUS_UPDATE",
    "OUTBOUND_MARK_SENT", "OUTBOUND_ENQUEUE", "PM_COMMAND",
    "QUERY_CHANNEL_STATS", "QUERY_USER_STATS", "OUTBOUND_GET", "RECENT_CHAT_GET",
    "EVENT_SUBJECTS", "QUERY_SUBJECTS", "LIST_QUERY_SUBJECTS",
    "STREAM_NAME", "CONSUMER_NAME", "QUEUE_GROUP", "MSG_ID_HEADER",
    "PM_COMMANDS", "RESULTS", "MAX_USERNAME", "MAX_COMMAND", "MAX_TEXT", "MAX_STATUS_BYTES",
    "MAX_PAYLOAD_BYTES", "MAX_DURATION", "expiry_second",
    "ContractEvent", "EVENT_TYPES", "subject_of",
    "UserJoined", "UserLeft", "MessageLog", "UserCount", "HighWater", "StatusUpdate",
    "MarkSent", "Enqueue", "PmCommand", "Event", "event_time",
    "BotStatus", "MediaStatus",
    "HighWaterMark", "TopChatter", "ChannelStatsReply", "UserRecord", "UserStatsReply",
    "OutboundMessage", "OutboundGetReply", "ChatLine", "RecentChatReply", "ErrorReply", "Reply",
    "ListReply", "ReplyT",
    "QueryOf", "QUERY_TYPES", "ChannelStatsQuery", "UserStatsQuery", "OutboundGetQuery",
    "RecentChatQuery", "Query", "query_subject",
    "decode_event", "decode_query", "decode_reply", "encode", "error_reply",
    # the moderation record (docs/moderation.md, beside the shared contract)
    "MODERATION_ACTION", "QUERY_MODLOG", "QUERY_PUNISHMENTS", "QUERY_HISTORY",
    "MODERATION_EVENT_SUBJECTS", "MODERATION_QUERY_SUBJECTS", "STREAM_SUBJECTS",
    "ALL_QUERY_SUBJECTS", "MODERATION_KINDS", "MODERATION_ORIGINS", "MODERATION_RESULTS",
    "PUNISHMENT_KINDS", "PUNISHMENT_CLASS",
    "ModerationAction", "ModerationRecord", "ModlogReply", "Punishment", "PunishmentsReply",
    "Strike", "Note", "HistoryReply", "ModlogQuery", "PunishmentsQuery", "HistoryQuery",
    "MAX_RULE",
    # automatic moderation's state (docs/moderation.md, beside the shared contract)
    "RAID_STATE", "QUERY_RAID", "MAX_RAID_OPTIONS_BYTES", "RaidState", "RaidQuery", "RaidReply",
    # the web page's data (docs/web-contract.md, beside the shared contract)
    "MEDIA_PLAYED", "QUERY_USER_COUNTS", "QUERY_CHAT_HOURS", "QUERY_MEDIA_RECENT",
    "QUERY_MEDIA_TOP", "QUERY_STATUS", "WEB_EVENT_SUBJECTS", "WEB_QUERY_SUBJECTS",
    "MAX_MEDIA_TYPE", "MAX_MEDIA_ID", "MAX_TITLE", "MIN_RANGE_SECONDS", "MAX_RANGE_SECONDS",
    "MAX_POINTS", "MIN_UTC_OFFSET", "MAX_UTC_OFFSET",
    "MediaPlayed", "UserCountsQuery", "ChatHoursQuery", "MediaRecentQuery", "MediaTopQuery",
    "StatusQuery", "CountPoint", "UserCountsReply", "ChatHoursReply", "Play",
    "MediaRecentReply", "TopMedia", "MediaTopReply", "Present", "StatusReply",
    "QUERY_MODERATION_PAGE", "MAX_PAGE_ROWS", "ModerationPageQuery", "ModerationPageReply",
]
