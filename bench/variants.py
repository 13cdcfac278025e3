"""Bench-only sketches of the suggested consumer changes, measured against the real one.

These are NOT production code. Each subclasses the real
:class:`~rosey.dbservice.consumer.JetStreamConsumer` and replaces only ``_fetch_loop``, so
binding, decoding, the store, the commit-then-ack order and the metrics are the real ones. The
``db`` worker swaps one in with ``--consumer``; ``python -m bench --variants`` runs the
throughput and steady benchmarks with each, next to the real consumer of the same run.

- ``topup``: never park a pull request that waits to *fill* a batch. nats-py's
  ``fetch(batch, timeout)`` returns at once when messages are already stored (its first,
  ``no_wait`` request), but when the consumer has caught up it long-polls for ``batch``
  messages and returns only when the batch is full or ``timeout`` (1 s) is up: at 1,000 ev/s
  and batch 256 an event can wait ~250 ms before its batch is even handed to SQLite. Here a
  caught-up consumer blocks in ``fetch(1, 1 s)`` (returns on the first event), and otherwise
  fetches ``batch`` with a short ``TOPUP_SECONDS`` timeout, so a batch is whatever has arrived.
- ``pipeline``: fetch (and decode) batch k+1 while batch k commits on the writer thread; at most
  one commit in flight, batches still commit in order and each is acked after its own commit.
- ``both``: the two together.
"""

from __future__ import annotations

import asyncio
import time

import nats.errors
import structlog

from rosey.dbservice.consumer import FETCH_TIMEOUT, JetStreamConsumer

__all__ = ["VARIANTS", "TOPUP_SECONDS"]

log = structlog.get_logger()

TOPUP_SECONDS = 0.005


class _Variant(JetStreamConsumer):
    topup = False
    pipeline = False

    async def _fetch_loop(self, stop: asyncio.Event) -> None:
        assert self._psub is not None
        inflight: asyncio.Task[None] | None = None
        idle = False
        try:
            while not stop.is_set():
                if self._rebind.is_set():
                    if inflight is not None:
                        await inflight
                        inflight = None
                    self.metrics.consumer_restarts.inc()
                    await self._bind()
                try:
                    if self.topup and idle:
                        msgs = await self._psub.fetch(1, timeout=FETCH_TIMEOUT)
                    elif self.topup:
                        msgs = await self._psub.fetch(self.settings.batch_size,
                                                      timeout=TOPUP_SECONDS)
                    else:
                        msgs = await self._psub.fetch(self.settings.batch_size,
                                                      timeout=FETCH_TIMEOUT)
                except nats.errors.TimeoutError:
                    idle = True
                    continue
                idle = False
                if not msgs:
                    continue
                self._last_delivery = time.monotonic()
                if not self.pipeline:
                    await self._process(msgs, stop)
                    continue
                if inflight is not None:
                    await inflight  # one commit at a time, in order
                inflight = asyncio.create_task(self._process(msgs, stop))
        finally:
            if inflight is not None:
                await inflight


class Base(_Variant):
    """The real loop's behaviour, through the same code path as the variants (a control)."""


class TopUp(_Variant):
    topup = True


class Pipeline(_Variant):
    pipeline = True


class Both(_Variant):
    topup = True
    pipeline = True


VARIANTS: dict[str, type[JetStreamConsumer]] = {
    "real": JetStreamConsumer, "control": Base, "topup": TopUp, "pipeline": Pipeline,
    "both": Both,
}
