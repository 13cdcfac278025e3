"""Asking over NATS: the DatabaseService's queries and the bot's two login subjects, each one
request with a typed answer or :class:`Unavailable` (why not, for people and for the metric).

The DatabaseService's queries go through the bot's own :func:`rosey.bot.queries.ask` (the
same failure leaves); the bot's subjects through :meth:`Reader.redeem` and :meth:`Reader.rank`.
Every request counts once in ``rosey_web_queries_total{subject,outcome}``. Nothing here logs a
token: :meth:`Reader.redeem` sends and is given only its SHA-256.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import nats.errors
from nats.aio.client import Client

from rosey import contract
from rosey.bot.queries import QueryFailed, ask
from rosey.contract import ReplyT
from rosey.contract.web import (
    WEB_RANK,
    WEB_REDEEM,
    RankReply,
    RankRequest,
    RedeemReply,
    RedeemRequest,
    decode_rank_reply,
    decode_redeem_reply,
)
from rosey.errors import BadPayload, BusError
from rosey.metrics import WebMetrics

__all__ = ["Reader", "Unavailable"]

T = TypeVar("T")


class Unavailable(BusError):
    """No usable answer over NATS. ``why`` is a short phrase for people; ``outcome`` a code
    from a closed set (not_connected, no_responders, timeout, bad_reply, refused)."""

    def __init__(self, why: str, outcome: str) -> None:
        super().__init__(why)
        self.why = why
        self.outcome = outcome


class Reader:
    """Asks the DatabaseService and the bot.

    Parameters:
        nc: the current NATS client (None until connected).
        timeout: seconds one request may take.
        metrics: ``rosey_web_queries_total``.
    """

    def __init__(self, *, nc: Callable[[], Client | None], timeout: float,
                 metrics: WebMetrics) -> None:
        self._nc = nc
        self._timeout = timeout
        self._metrics = metrics

    async def query(self, query: contract.QueryOf[ReplyT]) -> ReplyT:
        """The DatabaseService's typed reply to ``query``."""
        subject = contract.query_subject(query)
        try:
            reply = await ask(self._nc(), query, timeout=self._timeout)
        except QueryFailed as exc:
            self._metrics.queries.labels(subject, exc.outcome).inc()
            raise Unavailable(f"the database service gave no answer: {exc.why}",
                              exc.outcome) from None
        self._metrics.queries.labels(subject, "ok").inc()
        return reply

    async def redeem(self, token_sha256: str) -> RedeemReply:
        """Ask the bot to spend the login link whose token hashes to ``token_sha256``."""
        return await self._ask_bot(WEB_REDEEM, contract.encode(RedeemRequest(token_sha256)),
                                   decode_redeem_reply)

    async def rank(self, username: str) -> RankReply:
        """Ask the bot for ``username``'s rank in the channel now."""
        return await self._ask_bot(WEB_RANK, contract.encode(RankRequest(username)),
                                   decode_rank_reply)

    async def _ask_bot(self, subject: str, body: bytes, decode: Callable[[bytes], T]) -> T:
        try:
            answer = decode(await self._request(subject, body))
        except Unavailable as exc:
            self._metrics.queries.labels(subject, exc.outcome).inc()
            raise
        except BadPayload as exc:
            self._metrics.queries.labels(subject, "bad_reply").inc()
            raise Unavailable(f"the bot sent an answer I could not read ({exc.reason})",
                              "bad_reply") from None
        self._metrics.queries.labels(subject, "ok").inc()
        return answer

    async def _request(self, subject: str, body: bytes) -> bytes:
        nc = self._nc()
        if nc is None or not nc.is_connected:
            raise Unavailable("NATS is not connected", "not_connected")
        try:
            msg = await nc.request(subject, body, timeout=self._timeout)
        except nats.errors.NoRespondersError:
            raise Unavailable("the bot is not running", "no_responders") from None
        except TimeoutError:
            raise Unavailable("the bot did not answer in time", "timeout") from None
        except nats.errors.Error as exc:
            raise Unavailable(f"NATS failed: {type(exc).__name__}", "not_connected") from None
        return bytes(msg.data)
