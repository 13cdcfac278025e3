"""The web process's side of the bus (docs/web.md): the two subjects the bot answers for it,
their payloads, and every subject the web process requests.

The web page's moderators log in without a password: a moderator PMs the bot ``weblogin``
and gets a single-use link ``<ROSEY_WEB_URL>/login/<token>`` (valid 10 minutes). The bot
keeps only the token's SHA-256. Opening the link, the web process asks the bot to redeem it
(:data:`WEB_REDEEM`, sending the SHA-256, so the token itself never travels on the bus), and
then, at least every minute per session, what the user's rank is now (:data:`WEB_RANK`).

These are requests to the bot, not to the DatabaseService, so they are no ``QueryOf`` classes
(those the DatabaseService subscribes to): plain payloads with the contract's encoding
(:func:`rosey.contract.encode`) and decoders of their own. Both answer exactly once, also on
bad input (``{"success": false, "error": ...}``).

:data:`WEB_REQUEST_SUBJECTS` lists every subject the web process requests: the
DatabaseService's queries it reads and the two bot subjects; its NATS identity is allowed to
publish those and nothing else. :data:`BOT_WEB_SUBJECTS` are the two the bot subscribes to
(and answers: ``allow_responses``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Final

from rosey.contract.codec import (
    Flat,
    Shaped,
    _bool,
    _name,
    _number,
    _one_of,
    _opt_str,
    _reply_object,
    _str,
    _username,
    load_object,
)
from rosey.contract.subjects import (
    QUERY_CHANNEL_STATS,
    QUERY_CHAT_HOURS,
    QUERY_HISTORY,
    QUERY_MEDIA_RECENT,
    QUERY_MEDIA_TOP,
    QUERY_MODERATION_PAGE,
    QUERY_MODLOG,
    QUERY_PUNISHMENTS,
    QUERY_STATUS,
    QUERY_USER_COUNTS,
    QUERY_USER_STATS,
    RECENT_CHAT_GET,
)
from rosey.errors import BadPayload

__all__ = [
    "WEB_REDEEM", "WEB_RANK", "BOT_WEB_SUBJECTS", "WEB_DB_QUERIES", "WEB_REQUEST_SUBJECTS",
    "RANK_STATES", "RedeemRequest", "RedeemReply", "RankRequest", "RankReply",
    "decode_redeem_request", "decode_redeem_reply", "decode_rank_request", "decode_rank_reply",
    "token_digest", "LOGIN_TOKEN_SECONDS", "error_answer",
]

#: redeem a login link's token, once: ``{"token_sha256": hex}`` -> :class:`RedeemReply`
WEB_REDEEM: Final = "rosey.bot.web.redeem"
#: a user's rank in the channel now: ``{"username": str}`` -> :class:`RankReply`
WEB_RANK: Final = "rosey.bot.web.rank"
#: what the bot subscribes to (and answers) for the web process
BOT_WEB_SUBJECTS: Final[tuple[str, ...]] = (WEB_REDEEM, WEB_RANK)

#: how long a login link is valid
LOGIN_TOKEN_SECONDS: Final = 600.0

#: ok: in the channel, ``rank`` is current; absent: not in the channel (rank unknown);
#: not_joined: the bot is not in the channel itself, so it cannot tell
RANK_STATES: Final[tuple[str, ...]] = ("ok", "absent", "not_joined")

#: the DatabaseService's queries the web process reads (docs/web.md)
WEB_DB_QUERIES: Final[tuple[str, ...]] = (
    # the page's own (docs/web-contract.md)
    QUERY_STATUS, QUERY_USER_COUNTS, QUERY_CHAT_HOURS, QUERY_MEDIA_RECENT, QUERY_MEDIA_TOP,
    # the shared contract's
    QUERY_CHANNEL_STATS, QUERY_USER_STATS, RECENT_CHAT_GET,
    # the moderators' view (docs/moderation.md; the record's pages: docs/web-contract.md)
    QUERY_MODLOG, QUERY_PUNISHMENTS, QUERY_HISTORY, QUERY_MODERATION_PAGE,
)
#: every subject the web process publishes a request on (its NATS permission is made from it)
WEB_REQUEST_SUBJECTS: Final[tuple[str, ...]] = (*WEB_DB_QUERIES, *BOT_WEB_SUBJECTS)

_HEX = frozenset("0123456789abcdef")


def token_digest(token: str) -> str:
    """The SHA-256 of a login token, as lowercase hex: what the bot keeps and the web sends."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class RedeemRequest(Flat):
    token_sha256: str


@dataclass(frozen=True, slots=True)
class RedeemReply(Shaped):
    """``ok``: the token was live and is now spent; ``username`` and ``rank`` are whom it was
    made for and their rank now. Otherwise ``error`` says why not (unknown, used, expired,
    rank lost), and nothing else is told."""

    ok: bool
    username: str = ""
    rank: float = 0.0
    error: str = ""

    def to_wire(self) -> Any:
        if not self.ok:
            return {"success": False, "error": self.error}
        return {"success": True, "username": self.username, "rank": self.rank}


@dataclass(frozen=True, slots=True)
class RankRequest(Flat):
    username: str


@dataclass(frozen=True, slots=True)
class RankReply(Shaped):
    """``state`` (one of :data:`RANK_STATES`); ``rank`` when ``ok``; ``allowed``: the rank is
    enough for the moderators' view (the ``weblogin`` command's rank, ``ROSEY_COMMAND_RANKS``)."""

    username: str
    state: str
    rank: float | None = None
    allowed: bool = False

    def to_wire(self) -> Any:
        return {"success": True, "username": self.username, "state": self.state,
                "rank": self.rank, "allowed": self.allowed}


def decode_redeem_request(data: bytes) -> RedeemRequest:
    o = load_object(data)
    digest = _str(o, "token_sha256", limit=64, nonempty=True)
    assert digest is not None
    if len(digest) != 64 or not set(digest) <= _HEX:
        raise BadPayload("wrong_type", "token_sha256 must be 64 lowercase hex digits")
    return RedeemRequest(digest)


def decode_redeem_reply(data: bytes) -> RedeemReply:
    o = _reply_object(load_object(data))
    if o.get("success") is not True:
        return RedeemReply(False, error=_opt_str(o, "error") or "refused")
    rank = _number(o, "rank")
    if rank is None:
        raise BadPayload("missing_field", "rank is missing")
    return RedeemReply(True, _username(o), rank)


def decode_rank_request(data: bytes) -> RankRequest:
    return RankRequest(_username(load_object(data)))


def decode_rank_reply(data: bytes) -> RankReply:
    o = _reply_object(load_object(data))
    if o.get("success") is not True:
        raise BadPayload("wrong_type", f"refused: {_opt_str(o, 'error') or 'no reason'}"[:200])
    return RankReply(_name(o, "username"), _one_of(o, "state", RANK_STATES, None),
                     _number(o, "rank"), bool(_bool(o, "allowed")))


def error_answer(reason: str) -> dict[str, Any]:
    """The answer to a request that could not be read."""
    return {"success": False, "error": reason}
