"""The core-NATS fallback, when the server has no JetStream: core subscriptions in a queue group.

At-most-once, like the original design: an event published while no DatabaseService is
subscribed is gone. The service says so loudly at start and through
``rosey_jetstream_enabled 0``. Messages take the same ingest path as under JetStream
(:mod:`rosey.dbservice.ingest`): applied in batches (whatever has arrived, up to the batch
size, in one transaction), a failing database retried until it commits or the service stops.
On stop the subscriptions are removed first, then everything received is committed; if the
database fails at that point, what is left is logged as lost (there is no redelivery).
"""

from __future__ import annotations

import asyncio
import time

import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from rosey import contract
from rosey.config import DbSettings
from rosey.dbservice.ingest import BatchApplier, incoming_from
from rosey.metrics import DbMetrics
from rosey.store.store import Store

__all__ = ["CoreSubscriber"]

log = structlog.get_logger()


class CoreSubscriber:
    """Runs until ``stop`` is set, then commits what it has received.

    Parameters:
        nc: a connected client.
        store: the open store.
        metrics: the service's metrics.
        settings: the batch size.
    """

    def __init__(self, *, nc: Client, store: Store, metrics: DbMetrics,
                 settings: DbSettings) -> None:
        self.nc = nc
        self.settings = settings
        self.applier = BatchApplier(store=store, metrics=metrics)
        self.bound = False
        self._queue: asyncio.Queue[tuple[Msg, float]] = asyncio.Queue()
        self._subs: list[Subscription] = []

    async def _on_msg(self, msg: Msg) -> None:
        self._queue.put_nowait((msg, time.time()))

    async def run(self, stop: asyncio.Event) -> None:
        for subject in contract.STREAM_SUBJECTS:
            self._subs.append(await self.nc.subscribe(subject, queue=contract.QUEUE_GROUP,
                                                      cb=self._on_msg))
        self.bound = True
        log.info("core_subscriptions_ready", subjects=len(self._subs), queue=contract.QUEUE_GROUP)
        stopper = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                getter = asyncio.create_task(self._queue.get())
                done, _ = await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    await asyncio.gather(getter, return_exceptions=True)
                    break
                await self._commit_available(getter.result(), stop)
            # stop: take no more, then commit everything already received
            for sub in self._subs:
                try:
                    await sub.unsubscribe()
                except Exception as exc:
                    log.debug("unsubscribe_failed", error=str(exc))
            while not self._queue.empty():
                await self._commit_available(self._queue.get_nowait(), stop)
        finally:
            self.bound = False
            stopper.cancel()
            await asyncio.gather(stopper, return_exceptions=True)
            log.info("core_subscriber_stopped", applied=self.applier.applied,
                     rejected=self.applier.rejected)

    async def _commit_available(self, first: tuple[Msg, float], stop: asyncio.Event) -> None:
        batch = [first]
        while len(batch) < self.settings.batch_size and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        items = [incoming_from(m.subject, m.data, seq=None, received=t) for m, t in batch]
        if await self.applier.commit(items, stop):
            return
        # stopping with a failing database: core delivery has no redelivery, so this is lost
        lost = len(items) + self._queue.qsize()
        while not self._queue.empty():
            self._queue.get_nowait()
        log.error("events_lost_on_stop", count=lost,
                  reason="the database failed while stopping; core NATS cannot redeliver")
