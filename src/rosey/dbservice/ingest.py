"""The one ingest path, shared by the JetStream consumer and the core-NATS fallback.

A delivered message goes: :func:`incoming_from` (decode, or refuse with a reason) ->
:meth:`BatchApplier.commit` (one SQLite transaction per batch, retried while the database
fails, until it commits or the service stops) -> metrics and one canonical log line per
batch. A refusal is logged once, as a warning naming the subject and reason, and counted;
the body goes to the dead-letter row, never to the log. The applier knows nothing about
acknowledgement: the JetStream consumer acks only after :meth:`BatchApplier.commit` returned
True.
"""

from __future__ import annotations

import asyncio
import time

import structlog
import structlog.contextvars

from rosey import contract
from rosey.errors import BadPayload, StoreError
from rosey.metrics import DbMetrics
from rosey.store.store import Incoming, Outcome, Store

__all__ = ["BatchApplier", "incoming_from", "wait_or_stop"]

log = structlog.get_logger()

#: the first retry of a failing database, doubled up to :data:`MAX_RETRY_DELAY`
FIRST_RETRY_DELAY = 0.1
MAX_RETRY_DELAY = 5.0


def incoming_from(subject: str, data: bytes, *, seq: int | None, received: float) -> Incoming:
    """Decode one event body; a body that breaks the contract becomes a refused Incoming."""
    try:
        event = contract.decode_event(subject, data)
    except BadPayload as exc:
        return Incoming(subject, data, received, seq, None, exc)
    return Incoming(subject, data, received, seq, event, None)


def _subject_label(subject: str) -> str:
    """A metric label: the contract's event subjects, everything else ``unknown``."""
    return subject if subject in contract.STREAM_SUBJECTS else "unknown"


class BatchApplier:
    """Applies batches to ``store`` and records what happened in ``metrics``."""

    def __init__(self, *, store: Store, metrics: DbMetrics) -> None:
        self.store = store
        self.metrics = metrics
        self.applied = 0
        self.duplicates = 0
        self.rejected = 0

    async def commit(self, items: list[Incoming], stop: asyncio.Event) -> bool:
        """Apply ``items`` in one transaction, retrying while the database fails (disk
        full, I/O error, a lock held too long), until it commits: True. Once ``stop`` is
        set, a failure is not retried: False, and nothing of ``items`` was applied."""
        delay = FIRST_RETRY_DELAY
        # every line logged for this batch (rejections, rollbacks) says which batch it was
        with structlog.contextvars.bound_contextvars(batch_first_seq=items[0].seq,
                                                     batch_size=len(items)):
            while True:
                try:
                    await self.apply(items)
                    return True
                except StoreError as exc:
                    self.metrics.apply_errors.inc()
                    if stop.is_set():
                        log.error("batch_rollback", error=str(exc), retry_in=None)
                        return False
                    log.error("batch_rollback", error=str(exc), retry_in=round(delay, 2))
                    await wait_or_stop(stop, delay)
                    delay = min(delay * 2, MAX_RETRY_DELAY)

    async def apply(self, items: list[Incoming]) -> list[Outcome]:
        """Commit ``items`` in one transaction (raises StoreError with nothing applied)."""
        started = time.perf_counter()
        outcomes = await self.store.apply_batch(items)
        committed_at = time.time()
        elapsed = time.perf_counter() - started
        m = self.metrics
        m.commit_seconds.observe(elapsed)
        m.batch_size.observe(len(items))
        duplicates = rejected = 0
        # counted per subject and added once per batch: a labelled counter's lookup costs
        # more than the rest of the per-event bookkeeping (bench/ catchup, CPU per event)
        processed: dict[str, int] = {}
        observe = m.e2e_seconds.observe
        for item, outcome in zip(items, outcomes, strict=True):
            if outcome is Outcome.APPLIED:
                processed[item.subject] = processed.get(item.subject, 0) + 1
                observe(max(0.0, committed_at - item.at))
            elif outcome is Outcome.DUPLICATE:
                duplicates += 1
                m.events_redelivered.labels(_subject_label(item.subject)).inc()
            else:
                rejected += 1
                self._log_rejection(item)
        for subject, count in processed.items():
            m.events_processed.labels(subject).inc(count)
        applied = sum(processed.values())
        self.applied += applied
        self.duplicates += duplicates
        self.rejected += rejected
        log.debug("batch_committed", size=len(items), applied=applied, duplicates=duplicates,
                  rejected=rejected, duration_ms=round(elapsed * 1000, 3))
        if duplicates:
            log.info("redelivered_events_skipped", count=duplicates)
        return outcomes

    def _log_rejection(self, item: Incoming) -> None:
        assert item.rejection is not None
        self.metrics.events_rejected.labels(_subject_label(item.subject),
                                            item.rejection.reason).inc()
        log.warning("event_rejected", subject=item.subject, seq=item.seq,
                    reason=item.rejection.reason, detail=item.rejection.detail,
                    size=len(item.raw))


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, or less when ``stop`` is set meanwhile."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass
