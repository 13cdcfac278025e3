"""Asking the DatabaseService: one request, and a typed reply or an error that says why not.

    BusError (rosey.errors)
    └── QueryFailed        the DatabaseService gave no usable answer (``why`` says which)
        ├── NotConnected   NATS is not connected right now
        ├── NoResponders   nobody listens on the subject: the DatabaseService is not running
        ├── QueryTimeout   somebody listens but did not answer within the timeout
        ├── BadReply       the answer broke the wire contract
        └── QueryRefused   the DatabaseService answered ``{"success": false, "error": ...}``

:func:`ask` raises the most specific one and logs nothing: the caller knows how often it asks
(the shell logs each failure with its command, the outbound poll only when the outcome changes).
Given ``metrics``, every call counts once in ``rosey_bot_queries_total{subject,outcome}``:
``ok``, or the failure's :attr:`QueryFailed.outcome`.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol

import nats.errors
import structlog
from nats.aio.client import Client

from rosey import contract
from rosey.contract import ReplyT
from rosey.errors import BadPayload, BusError
from rosey.metrics import BotMetrics

__all__ = ["QueryFailed", "NotConnected", "NoResponders", "QueryTimeout", "BadReply",
           "QueryRefused", "ask", "Ask", "unavailable"]

log = structlog.get_logger()


def unavailable(exc: QueryFailed, what: str) -> str:
    """A command's reply when its query failed (``<what>: <why>``), logged once as
    ``query_failed`` with the outcome (the command's context names the command)."""
    log.warning("query_failed", outcome=exc.outcome, detail=str(exc)[:300])
    return f"{what}: {exc.why}"


class Ask(Protocol):
    """Ask the DatabaseService: the typed reply, or a :class:`QueryFailed` leaf saying why not
    (the bot's :meth:`~rosey.bot.service.BotService.query`; what command handlers get)."""

    def __call__(self, query: contract.QueryOf[ReplyT], /) -> Awaitable[ReplyT]: ...


class QueryFailed(BusError):
    """The DatabaseService gave no usable answer. ``why`` is a short phrase for people."""

    why = "the query failed"
    outcome = "failed"  #: a closed-set code for logs


class NotConnected(QueryFailed):
    """NATS is not connected, so nothing was asked."""

    why = "NATS is not connected"
    outcome = "not_connected"


class NoResponders(QueryFailed):
    """No subscriber on the query subject: the DatabaseService is not running."""

    why = "no database service is running"
    outcome = "no_responders"


class QueryTimeout(QueryFailed):
    """A subscriber exists but no reply came within the timeout."""

    why = "the database service did not answer in time"
    outcome = "timeout"


class BadReply(QueryFailed):
    """The reply could not be read (not JSON, a field missing or of the wrong type)."""

    why = "the database service sent a reply I could not read"
    outcome = "bad_reply"


class QueryRefused(QueryFailed):
    """The DatabaseService answered with the contract's error reply."""

    outcome = "refused"

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.why = f"the database service could not answer ({error or 'no reason given'})"


async def ask(nc: Client | None, query: contract.QueryOf[ReplyT], *, timeout: float,
              metrics: BotMetrics | None = None) -> ReplyT:
    """Send ``query`` and return its typed reply; raise a :class:`QueryFailed` leaf if none."""
    subject = contract.query_subject(query)
    try:
        reply = await _ask(nc, subject, query, timeout)
    except QueryFailed as exc:
        if metrics is not None:
            metrics.queries.labels(subject, exc.outcome).inc()
        raise
    if metrics is not None:
        metrics.queries.labels(subject, "ok").inc()
    return reply


async def _ask(nc: Client | None, subject: str, query: contract.QueryOf[ReplyT],
               timeout: float) -> ReplyT:
    if nc is None or not nc.is_connected:
        raise NotConnected(subject)
    try:
        msg = await nc.request(subject, contract.encode(query), timeout=timeout)
    except nats.errors.NoRespondersError:
        raise NoResponders(subject) from None
    except TimeoutError:  # nats.errors.TimeoutError is one too
        raise QueryTimeout(f"{subject}: no reply within {timeout}s") from None
    except nats.errors.Error as exc:  # the connection went away mid-request
        raise NotConnected(f"{subject}: {exc}") from None
    try:
        reply = contract.decode_reply(query, msg.data)
    except BadPayload as exc:
        raise BadReply(f"{subject}: {exc}") from None
    if isinstance(reply, contract.ErrorReply):
        raise QueryRefused(reply.error)
    return reply
