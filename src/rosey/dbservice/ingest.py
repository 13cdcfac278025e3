"""Applying a batch of delivered events, whichever way they arrived.

:class:`BatchApplier` is shared by the JetStream consumer and the core-NATS fallback: it
decodes each message, applies the batch in one SQLite transaction, and records metrics and
one canonical log line per batch. It knows nothing about acknowledgement; the callers ack
only after it returns.
"""

from __future__ import annotations

import time

import structlog

from rosey import contract
from rosey.dbservice.handlers import log_rejection
from rosey.metrics import DbMetrics
from rosey.store.store import Incoming, Outcome, Store

__all__ = ["BatchApplier"]

log = structlog.get_logger()


class BatchApplier:
    def __init__(self, *, store: Store, metrics: DbMetrics) -> None:
        self.store = store
        self.metrics = metrics
        self.applied = 0
        self.duplicates = 0
        self.rejected = 0

    async def apply(self, items: list[Incoming], *, event_times: list[float]) -> list[Outcome]:
        """Commit ``items`` in one transaction (raises StoreError with nothing applied)."""
        started = time.perf_counter()
        outcomes = await self.store.apply_batch(items)
        committed_at = time.time()
        elapsed = time.perf_counter() - started
        m = self.metrics
        m.commit_seconds.observe(elapsed)
        m.batch_size.observe(len(items))
        applied = duplicates = rejected = 0
        for item, outcome, event_time in zip(items, outcomes, event_times, strict=False):
            if outcome is Outcome.APPLIED:
                applied += 1
                m.events_processed.labels(item.subject).inc()
                m.e2e_seconds.observe(max(0.0, committed_at - event_time))
            elif outcome is Outcome.DUPLICATE:
                duplicates += 1
                subject = item.subject if item.subject in contract.EVENT_SUBJECTS else "unknown"
                m.events_redelivered.labels(subject).inc()
            else:
                rejected += 1
                log_rejection(item, m)
        self.applied += applied
        self.duplicates += duplicates
        self.rejected += rejected
        log.debug("batch_committed", size=len(items), applied=applied, duplicates=duplicates,
                  rejected=rejected, duration_ms=round(elapsed * 1000, 3))
        if duplicates:
            log.info("redelivered_events_skipped", count=duplicates)
        return outcomes


def event_time(item: Incoming) -> float:
    """The event's own timestamp, else the time the receiver assigned it."""
    ts = getattr(item.event, "timestamp", None) if item.event is not None else None
    return float(ts) if ts is not None else item.received
