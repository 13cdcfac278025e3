"""The contract's names and bounds: every subject, the stream and consumer names, the
moderator commands, the moderation record's kinds, and the limits on what a receiver accepts.

The subject constants are the ones ``docs/wire-contract.md`` and ``docs/moderation.md`` name;
each event and query class carries its own as ``SUBJECT``, and the subject lists
(``EVENT_SUBJECTS``, ``ALL_QUERY_SUBJECTS``, ...) are made from those classes
(:mod:`rosey.contract.events`, :mod:`rosey.contract.queries`), not written here.
"""

from __future__ import annotations

import math
from typing import Final

__all__ = [
    "USER_JOINED", "USER_LEFT", "MESSAGE_LOG", "USER_COUNT", "HIGH_WATER", "STATUS_UPDATE",
    "OUTBOUND_MARK_SENT", "OUTBOUND_ENQUEUE", "PM_COMMAND",
    "QUERY_CHANNEL_STATS", "QUERY_USER_STATS", "OUTBOUND_GET", "RECENT_CHAT_GET",
    "MODERATION_ACTION", "QUERY_MODLOG", "QUERY_PUNISHMENTS", "QUERY_HISTORY",
    "RAID_STATE", "QUERY_RAID",
    "MEDIA_PLAYED", "QUERY_USER_COUNTS", "QUERY_CHAT_HOURS", "QUERY_MEDIA_RECENT",
    "QUERY_MEDIA_TOP", "QUERY_STATUS", "QUERY_MODERATION_PAGE",
    "STREAM_NAME", "CONSUMER_NAME", "QUEUE_GROUP", "MSG_ID_HEADER",
    "PM_COMMANDS", "RESULTS", "MODERATION_KINDS", "MODERATION_ORIGINS", "MODERATION_RESULTS",
    "PUNISHMENT_KINDS", "PUNISHMENT_CLASS",
    "MAX_USERNAME", "MAX_COMMAND", "MAX_TEXT", "MAX_STATUS_BYTES", "MAX_PAYLOAD_BYTES",
    "MAX_DURATION", "MAX_RULE", "MAX_RAID_OPTIONS_BYTES", "expiry_second",
    "MAX_MEDIA_TYPE", "MAX_MEDIA_ID", "MAX_TITLE", "MIN_RANGE_SECONDS", "MAX_RANGE_SECONDS",
    "MAX_POINTS", "MAX_UTC_OFFSET", "MIN_UTC_OFFSET", "MAX_PAGE_ROWS",
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

# --- queries: request/reply (never captured by a stream) -----------------------------------
QUERY_CHANNEL_STATS: Final = "rosey.db.query.channel_stats"
QUERY_USER_STATS: Final = "rosey.db.query.user_stats"
OUTBOUND_GET: Final = "rosey.db.messages.outbound.get"
RECENT_CHAT_GET: Final = "rosey.db.stats.recent_chat.get"

# --- the moderation record (docs/moderation.md; not part of the shared contract) ----------
MODERATION_ACTION: Final = "rosey.db.moderation.action"
QUERY_MODLOG: Final = "rosey.db.query.modlog"
QUERY_PUNISHMENTS: Final = "rosey.db.query.punishments"
QUERY_HISTORY: Final = "rosey.db.query.history"
#: remove: a playlist item an automod rule removed (target: who added it); flag: a rule's hit
#: that is only recorded
MODERATION_KINDS: Final[tuple[str, ...]] = (
    "kick", "ban", "unban", "mute", "smute", "unmute", "warn", "note", "remove", "flag")
#: command: a moderator's PM; native: seen in CyTube; escalation: warnings added up;
#: expiry: a timed punishment ran out; automod: an automatic moderation rule
MODERATION_ORIGINS: Final[tuple[str, ...]] = (
    "command", "native", "escalation", "expiry", "automod")
MODERATION_RESULTS: Final[tuple[str, ...]] = ("success", "error")
#: the kinds that punish (a timed one is lifted on time)
PUNISHMENT_KINDS: Final[tuple[str, ...]] = ("mute", "smute", "ban")
#: the class of each punishing or lifting kind: a user has at most one active punishment of a
#: class (a smute replaces a mute; unmute lifts either)
PUNISHMENT_CLASS: Final[dict[str, str]] = {
    "mute": "mute", "smute": "mute", "unmute": "mute", "ban": "ban", "unban": "ban"}

# --- automatic moderation's state (docs/moderation.md) -------------------------------------
#: raid mode on or off, with the channel options to restore (the latest event wins)
RAID_STATE: Final = "rosey.db.automod.raid"
QUERY_RAID: Final = "rosey.db.query.raid"

# --- the web page's data (docs/web-contract.md) --------------------------------------------
#: one play of a media (the bot sees CyTube's changeMedia)
MEDIA_PLAYED: Final = "rosey.db.media.played"
QUERY_USER_COUNTS: Final = "rosey.db.query.user_counts"
QUERY_CHAT_HOURS: Final = "rosey.db.query.chat_hours"
QUERY_MEDIA_RECENT: Final = "rosey.db.query.media_recent"
QUERY_MEDIA_TOP: Final = "rosey.db.query.media_top"
QUERY_STATUS: Final = "rosey.db.query.status"
#: the moderators' view: the whole moderation record, filtered and paged (keyset, by id)
QUERY_MODERATION_PAGE: Final = "rosey.db.query.moderation_page"

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
#: an automod rule's name
MAX_RULE: Final = 100
#: raid mode's saved channel options, encoded as compact UTF-8 JSON
MAX_RAID_OPTIONS_BYTES: Final = 64 * 1024
#: a media's type (CyTube's are two letters), id (a URL for raw files) and title
MAX_MEDIA_TYPE: Final = 32
MAX_MEDIA_ID: Final = 2000
MAX_TITLE: Final = 1000
#: a query's range in seconds (``seconds`` in docs/web-contract.md): a minute to 366 days
MIN_RANGE_SECONDS: Final = 60
MAX_RANGE_SECONDS: Final = 366 * 86400
#: the most points the graph's query answers with
MAX_POINTS: Final = 2000
#: chat_hours' ``utc_offset`` in whole hours
MIN_UTC_OFFSET: Final = -12
MAX_UTC_OFFSET: Final = 14
#: the most actions one page of the moderation record holds (``moderation_page``'s ``limit``)
MAX_PAGE_ROWS: Final = 200


def expiry_second(expires_at: float) -> int:
    """A punishment's expiry as the record keeps it: whole seconds, rounded up, so a lift read
    back from the record is never early (the store writes it; the bot compares with it)."""
    return math.ceil(expires_at)
