"""The bot's way onto the bus: a bounded outbox drained into JetStream.

Channel handlers call :meth:`Publisher.publish`, which is O(1) and never awaits: the event is
stamped with a unique ``Nats-Msg-Id`` (kept across retries, so JetStream drops the
duplicate when an ack was lost) and appended to the outbox, as given. A background task
encodes the oldest event (JSON costs more than the rest of ``publish()`` together, so it stays
off the handler path: bench/), publishes it, waits for its acknowledgement, and retries for as
long as it takes (ack timeout, NATS away, reconnects). A payload must not be changed after it
was handed to ``publish()``; the contract's dataclasses are built fresh for each event. A
payload that cannot be encoded is logged and counted (``reason="unencodable"``), never retried.
When the outbox is full the *oldest* event is dropped and counted
(``rosey_events_dropped_total{reason="outbox_full"}``); on close the drain gets a bounded time
and whatever is left is counted as ``reason="shutdown"``. Nothing else is dropped.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any

import nats.errors
import structlog
from nats.js import JetStreamContext

from rosey import contract
from rosey.config import StreamSettings
from rosey.errors import LifecycleError, StreamConfigError
from rosey.metrics import BotMetrics
from rosey.stream import ensure_stream

__all__ = ["Publisher", "PublisherState", "OutboxEvent"]

log = structlog.get_logger()

#: events encoded ahead while one acknowledgement is awaited (about 5-15 us each)
ENCODE_AHEAD = 32


@dataclass(slots=True)
class OutboxEvent:
    subject: str
    payload: Any  # encoded by the drain, not on the handler path
    msg_id: str
    enqueued: float  # monotonic seconds
    data: bytes | None = None  # the encoding, made while an earlier event's ack is awaited


class PublisherState(enum.Enum):
    """The outbox's lifecycle, held in :attr:`Publisher.state`."""

    UNOPENED = "unopened"
    OPEN = "open"
    CLOSING = "closing"  # draining: new events are refused and counted as dropped
    CLOSED = "closed"


class Publisher:
    """Bounded outbox + JetStream drain.

    Parameters:
        js: the JetStream context of a connected client (nats-py reconnects it by itself);
            None until NATS answers: events queue up and :meth:`attach` starts the drain.
        metrics: publish latency, published/dropped counters, outbox depth.
        maxsize: events held while NATS is slow or away (``BotSettings.outbox_size``).
        ack_timeout: how long one publish waits for its acknowledgement before retrying.
        retry_delay: first pause after a failed publish; doubles up to ``max_retry_delay``.
        stream: passed to ``ensure_stream`` (``update=False``: create only when missing).
    """

    def __init__(self, *, js: JetStreamContext | None, metrics: BotMetrics, maxsize: int = 10_000,
                 ack_timeout: float = 2.0, retry_delay: float = 0.1,
                 max_retry_delay: float = 2.0, stream: StreamSettings | None = None) -> None:
        if maxsize < 1:
            raise ValueError("the outbox needs room for at least one event")
        self._js = js
        self._metrics = metrics
        self._maxsize = maxsize
        self._ack_timeout = ack_timeout
        self._retry_delay = retry_delay
        self._max_retry_delay = max_retry_delay
        self._stream = stream or StreamSettings()
        self._outbox: deque[OutboxEvent] = deque()
        # the event being published; out of the deque, so "drop the oldest" never drops it
        self._inflight: OutboxEvent | None = None
        # message ids: unique per process (a fresh random prefix) and per event (a counter)
        self._id_prefix = uuid.uuid4().hex[:16]
        self._ids = itertools.count(1)
        self._ready = asyncio.Event()
        self._stream_ok = False
        self._task: asyncio.Task[None] | None = None
        self.state = PublisherState.UNOPENED

    # --- the handler side: O(1), never awaits --------------------------------------------------
    def publish(self, subject: str, payload: Any) -> str:
        """Queue one event (a contract dataclass or dict); returns its message id."""
        if self.state in (PublisherState.CLOSING, PublisherState.CLOSED):
            self._metrics.events_dropped.labels(subject, "shutdown").inc()
            return ""
        event = OutboxEvent(subject, payload, f"{self._id_prefix}-{next(self._ids)}",
                            time.monotonic())
        if len(self._outbox) >= self._maxsize:
            dropped = self._outbox.popleft()
            self._metrics.events_dropped.labels(dropped.subject, "outbox_full").inc()
            log.warning("outbox_full_dropped_oldest", subject=dropped.subject,
                        size=self._maxsize)
        self._outbox.append(event)
        self._metrics.outbox_depth.set(self.depth)
        self._ready.set()
        return event.msg_id

    def attach(self, js: JetStreamContext) -> None:
        """Start publishing through ``js`` (the first NATS connection was made)."""
        self._js = js
        self._ready.set()

    @property
    def depth(self) -> int:
        """Events not yet acknowledged: queued, plus the one being published."""
        return len(self._outbox) + (self._inflight is not None)

    # --- lifecycle ------------------------------------------------------------------------------
    async def __aenter__(self) -> Publisher:
        if self.state is not PublisherState.UNOPENED:
            raise LifecycleError(f"a publisher cannot be opened twice (state {self.state.value})")
        self.state = PublisherState.OPEN
        self._task = asyncio.create_task(self._drain_loop(), name="rosey-outbox")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self, drain_timeout: float = 2.0) -> None:
        """Give the outbox ``drain_timeout`` seconds to empty, then count leftovers. Idempotent."""
        if self.state is not PublisherState.OPEN:
            if self.state is PublisherState.UNOPENED:
                self.state = PublisherState.CLOSED
            return
        self.state = PublisherState.CLOSING
        try:
            await asyncio.wait_for(self.flush(), drain_timeout)
        except TimeoutError:
            pass
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        left = self.depth
        if self._inflight is not None:
            self._outbox.appendleft(self._inflight)
            self._inflight = None
        while self._outbox:
            self._metrics.events_dropped.labels(self._outbox.popleft().subject, "shutdown").inc()
        self._metrics.outbox_depth.set(0)
        self.state = PublisherState.CLOSED
        if left:
            log.warning("outbox_left_at_shutdown", dropped=left)

    async def flush(self) -> None:
        """Wait until every queued event was acknowledged."""
        while self.depth:
            await asyncio.sleep(0.01)

    # --- the drain ------------------------------------------------------------------------------
    async def _drain_loop(self) -> None:
        delay = self._retry_delay
        while True:
            if self._js is None or (self._inflight is None and not self._outbox):
                self._ready.clear()
                await self._ready.wait()
                continue
            if self._inflight is None:
                event = self._outbox.popleft()
                try:
                    if event.data is None:
                        event.data = contract.encode(event.payload)
                except (TypeError, ValueError) as exc:  # a bug in the caller, not in NATS
                    self._metrics.events_dropped.labels(event.subject, "unencodable").inc()
                    self._metrics.outbox_depth.set(self.depth)
                    log.error("event_unencodable", subject=event.subject, error=str(exc))
                    continue
                self._inflight = event
            event = self._inflight
            assert event.data is not None
            js = self._js
            try:
                if not self._stream_ok:
                    await ensure_stream(js, self._stream, update=False)
                    self._stream_ok = True
                ack = asyncio.ensure_future(js.publish(
                    event.subject, event.data, timeout=self._ack_timeout,
                    headers={contract.MSG_ID_HEADER: event.msg_id}))
                try:
                    await asyncio.sleep(0)  # the publish goes out ...
                    self._encode_ahead()    # ... and the next events are encoded meanwhile
                finally:
                    await ack  # cancelled with the drain (aclose): the ack is cancelled too
            except (TimeoutError, nats.errors.Error, OSError, StreamConfigError) as exc:
                if isinstance(exc, (nats.errors.NoRespondersError, StreamConfigError)):
                    self._stream_ok = False  # no stream (or no JetStream) answered
                log.warning("event_publish_retry", subject=event.subject, retry_in=delay,
                            error=str(exc) or type(exc).__name__, depth=self.depth)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_retry_delay)
                continue
            delay = self._retry_delay
            self._inflight = None
            self._metrics.outbox_depth.set(self.depth)
            self._metrics.events_published.labels(event.subject).inc()
            self._metrics.publish_seconds.labels(event.subject).observe(
                time.monotonic() - event.enqueued)

    def _encode_ahead(self) -> None:
        """Encode up to :data:`ENCODE_AHEAD` queued events while an acknowledgement is on its
        way, so the drain's rate stays that of the round trips (a failure is left for the
        drain to count when it reaches that event)."""
        for event in itertools.islice(self._outbox, ENCODE_AHEAD):
            if event.data is None:
                try:
                    event.data = contract.encode(event.payload)
                except (TypeError, ValueError):
                    return
