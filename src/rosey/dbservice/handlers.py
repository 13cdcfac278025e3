"""The one place a NATS message becomes a typed event or a query reply.

:func:`incoming_from` decodes an event body into a :class:`~rosey.store.store.Incoming`
(decoded, or refused with a reason); the store applies or dead-letters it. A refusal is logged
once, as a warning naming the subject and reason, and counted; the body goes to the
dead-letter row, never to the log.

:class:`QueryResponder` answers the contract's query subjects: every request gets exactly one
reply, also on bad input (``{"success": false, "error": ...}``, or ``[]`` for the two list
queries) and when the database fails.
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from nats.aio.msg import Msg

from rosey import contract
from rosey.errors import BadPayload, StoreError
from rosey.metrics import DbMetrics
from rosey.store.store import Incoming, Store

__all__ = ["incoming_from", "log_rejection", "QueryResponder"]

log = structlog.get_logger()


def incoming_from(subject: str, data: bytes, *, seq: int | None, received: float) -> Incoming:
    """Decode one event body; a body that breaks the contract becomes a refused Incoming."""
    try:
        event = contract.decode_event(subject, data)
    except BadPayload as exc:
        return Incoming(subject, data, received, seq, None, exc)
    return Incoming(subject, data, received, seq, event, None)


def log_rejection(item: Incoming, metrics: DbMetrics) -> None:
    assert item.rejection is not None
    subject = item.subject if item.subject in contract.EVENT_SUBJECTS else "unknown"
    metrics.events_rejected.labels(subject, item.rejection.reason).inc()
    log.warning("event_rejected", subject=item.subject, seq=item.seq,
                reason=item.rejection.reason, detail=item.rejection.detail,
                size=len(item.raw))


class QueryResponder:
    """Answers the query subjects from the store's reader connection."""

    def __init__(self, *, store: Store, metrics: DbMetrics) -> None:
        self.store = store
        self.metrics = metrics

    async def handle(self, msg: Msg) -> None:
        """nats-py subscription callback: exactly one reply per request, whatever happens."""
        subject = msg.subject
        started = time.perf_counter()
        outcome, reply = "ok", b""
        try:
            query = contract.decode_query(subject, msg.data)
            result: Any = await self.store.query(query)
            reply = contract.encode(result)
        except BadPayload as exc:
            outcome, reply = "bad_request", contract.error_reply(subject, exc.detail)
            log.warning("query_rejected", subject=subject, reason=exc.reason, detail=exc.detail)
        except StoreError as exc:
            outcome, reply = "error", contract.error_reply(subject, "database unavailable")
            log.error("query_failed", subject=subject, error=str(exc))
        except Exception as exc:  # the boundary: a bug must not leave a requester hanging
            outcome, reply = "error", contract.error_reply(subject, "internal error")
            log.exception("query_crashed", subject=subject, error=str(exc))
        self.metrics.queries.labels(subject, outcome).inc()
        if not msg.reply:
            log.warning("query_without_reply_subject", subject=subject)
            return
        try:
            await msg.respond(reply)
        except Exception as exc:  # connection gone: the requester times out, nothing to keep
            log.warning("query_reply_failed", subject=subject, error=str(exc))
            return
        log.debug("query_answered", subject=subject, outcome=outcome,
                  duration_ms=round((time.perf_counter() - started) * 1000, 3))
