"""Answers the contract's query subjects from the store's reader connection.

Every request gets exactly one reply, also on bad input (``{"success": false, "error": ...}``,
or ``[]`` for the two list queries) and when the database fails.
"""

from __future__ import annotations

import time

import structlog
from nats.aio.msg import Msg

from rosey import contract
from rosey.errors import BadPayload, StoreError
from rosey.metrics import DbMetrics
from rosey.store.store import Store

__all__ = ["QueryResponder"]

log = structlog.get_logger()


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
            reply = contract.encode(await self.store.query(query))
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
