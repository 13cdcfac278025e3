"""Retention in the DatabaseService: every ``interval_seconds``, prune in small steps until
nothing is due (:mod:`rosey.store.retention`). Each step is one short transaction on the
writer thread, queued behind whatever ingest batch is committing; a short pause between steps
lets the next ingest batch in first, so a backlog of a year of rows never holds up ingestion."""

from __future__ import annotations

import asyncio
import time

import structlog

from rosey.config import RetentionSettings
from rosey.errors import StoreError
from rosey.metrics import DbMetrics
from rosey.store.store import Store

__all__ = ["run_retention", "STEP_PAUSE_SECONDS"]

log = structlog.get_logger()

#: the pause between two pruning steps (ingest batches go first)
STEP_PAUSE_SECONDS = 0.02


async def run_retention(store: Store, settings: RetentionSettings, metrics: DbMetrics,
                        stop: asyncio.Event) -> None:
    """Prune until ``stop`` is set; a failing step is logged and tried again next round."""
    if not settings.enabled:
        return
    log.info("retention_in_force", chat_days=settings.chat_days, chat_rows=settings.chat_rows,
             user_count_days=settings.user_count_days, interval_seconds=settings.interval_seconds)
    while not stop.is_set():
        total = {"recent_chat": 0, "user_count_history": 0}
        started = time.monotonic()
        try:
            while not stop.is_set():
                counts = await store.prune(settings, time.time())
                for table, n in counts.items():
                    if n:
                        metrics.rows_pruned.labels(table).inc(n)
                        total[table] += n
                if not any(counts.values()):
                    break
                await asyncio.sleep(STEP_PAUSE_SECONDS)
        except StoreError as exc:
            log.error("retention_failed", error=str(exc))
        if any(total.values()):
            log.info("retention_pruned", **total, seconds=round(time.monotonic() - started, 3))
        try:
            await asyncio.wait_for(stop.wait(), settings.interval_seconds)
        except TimeoutError:
            pass
