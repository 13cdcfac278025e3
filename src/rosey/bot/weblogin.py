"""Logging in to the web page without a password (docs/web.md): the ``weblogin`` command and
the two subjects the bot answers for the web process.

A moderator PMs ``weblogin``; the bot makes a random token (``secrets.token_urlsafe(32)``),
keeps only its SHA-256 with the moderator's name, rank and expiry (10 minutes), in memory, and
PMs the link ``<ROSEY_WEB_URL>/login/<token>``. Someone below the command's rank gets nothing
(the shell ignores them, as for every command). The web process, on that link, asks
``rosey.bot.web.redeem`` with the token's SHA-256: a live token is spent at once (a second
use is refused, so is one past its expiry, one for a user no longer in the channel with the
rank, and one made before the bot restarted); then, at least every minute per session,
``rosey.bot.web.rank``: the user's rank now, as the bot's channel state has it.

The token never reaches a log line: the log says ``token_hash`` (the first 8 hex digits of its
SHA-256) at most. A user has one live link at a time (a new one replaces the old), and at most
:data:`MAX_LIVE_LINKS` are kept.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from rosey.bot.channel import ChannelState
from rosey.bot.clock import Clock
from rosey.bus import with_message_context
from rosey.commands import MODERATOR_RANK
from rosey.contract import encode
from rosey.contract.web import (
    LOGIN_TOKEN_SECONDS,
    WEB_RANK,
    WEB_REDEEM,
    RankReply,
    RedeemReply,
    decode_rank_request,
    decode_redeem_request,
    error_answer,
    token_digest,
)
from rosey.errors import BadPayload
from rosey.metrics import BotMetrics

__all__ = ["WebLogin", "MAX_LIVE_LINKS"]

log = structlog.get_logger()

#: live links kept at most (the oldest go first)
MAX_LIVE_LINKS = 256


@dataclass(frozen=True, slots=True)
class _Link:
    username: str
    rank: float
    expires: float


class WebLogin:
    """The ``weblogin`` command and the answers to the web process.

    Parameters:
        channel: the live channel (who is here, with which rank).
        joined: whether the bot is in the channel now (else it cannot tell anyone's rank).
        web_url: the web page's address (``ROSEY_WEB_URL``); empty: not configured.
        need: the rank the moderators' view needs (the ``weblogin`` command's rank).
        metrics: ``rosey_bot_web_links_total``.
        clock: expiries.
        ttl: how long a link is valid.
    """

    def __init__(self, *, channel: ChannelState, joined: Callable[[], bool], web_url: str,
                 need: float = MODERATOR_RANK, metrics: BotMetrics, clock: Clock,
                 ttl: float = LOGIN_TOKEN_SECONDS) -> None:
        self._channel = channel
        self._joined = joined
        self._url = web_url.rstrip("/")
        self._need = need
        self._metrics = metrics
        self._clock = clock
        self._ttl = ttl
        self._links: dict[str, _Link] = {}

    # --- the command --------------------------------------------------------------------------
    async def cmd_weblogin(self, args: str, caller: str) -> str:
        """``weblogin``: a single-use link to the moderators' view, valid 10 minutes."""
        if not self._url:
            return "The web page is not configured here (the bot has no ROSEY_WEB_URL)."
        user = self._channel.user(caller)
        rank = user.rank if user is not None else MODERATOR_RANK
        token = secrets.token_urlsafe(32)
        digest = token_digest(token)
        now = self._clock.time()
        self._forget(lambda link: link.expires <= now or link.username.lower() == caller.lower())
        while len(self._links) >= MAX_LIVE_LINKS:
            del self._links[next(iter(self._links))]
        self._links[digest] = _Link(caller, rank, now + self._ttl)
        self._metrics.web_links.labels("issued").inc()
        log.info("web_link_issued", username=caller, token_hash=digest[:8])
        minutes = round(self._ttl / 60)
        return (f"Your link to the moderators' web page (works once, for {minutes} minutes; "
                f"keep it to yourself): {self._url}/login/{token}")

    def _forget(self, gone: Callable[[_Link], bool]) -> None:
        for digest in [d for d, link in self._links.items() if gone(link)]:
            del self._links[digest]

    # --- the answers ------------------------------------------------------------------------
    def redeem(self, digest: str) -> RedeemReply:
        """Spend the link whose token hashes to ``digest``."""
        link = self._links.pop(digest, None)
        if link is None:
            return self._refused(digest, "unknown", "this link is not valid (used already, "
                                 "replaced by a newer one, or made before the bot restarted)")
        if link.expires <= self._clock.time():
            return self._refused(digest, "expired", "this link has expired")
        reply = self.rank(link.username)
        if not reply.allowed:
            return self._refused(digest, "rank", "the bot does not see you in the channel "
                                 "with a moderator's rank now")
        self._metrics.web_links.labels("redeemed").inc()
        log.info("web_link_redeemed", username=link.username, token_hash=digest[:8])
        assert reply.rank is not None
        return RedeemReply(True, link.username, reply.rank)

    def _refused(self, digest: str, why: str, error: str) -> RedeemReply:
        self._metrics.web_links.labels("refused").inc()
        log.info("web_link_refused", reason=why, token_hash=digest[:8])
        return RedeemReply(False, error=error)

    def rank(self, username: str) -> RankReply:
        """``username``'s rank in the channel now, and whether it is enough."""
        if not self._joined():
            return RankReply(username, "not_joined")
        user = self._channel.user(username)
        if user is None:
            return RankReply(username, "absent")
        return RankReply(user.name, "ok", user.rank, user.rank >= self._need)

    # --- the bus ------------------------------------------------------------------------------
    async def subscribe(self, nc: Client) -> list[Subscription]:
        """Answer :data:`WEB_REDEEM` and :data:`WEB_RANK` on ``nc``."""
        return [await nc.subscribe(WEB_REDEEM, cb=with_message_context(self._on_redeem)),
                await nc.subscribe(WEB_RANK, cb=with_message_context(self._on_rank))]

    async def _on_redeem(self, msg: Msg) -> None:
        await self._answer(msg, lambda data: self.redeem(decode_redeem_request(data).token_sha256))

    async def _on_rank(self, msg: Msg) -> None:
        await self._answer(msg, lambda data: self.rank(decode_rank_request(data).username))

    @staticmethod
    async def _answer(msg: Msg, answer: Callable[[bytes], Any]) -> None:
        """Exactly one reply: the answer, or the refusal of a bad request."""
        try:
            reply = encode(answer(msg.data))
        except BadPayload as exc:
            log.warning("web_request_refused", reason=exc.reason)
            reply = encode(error_answer(str(exc)))
        await msg.respond(reply)
