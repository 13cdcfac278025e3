"""The bot's way onto the bus: a bounded outbox drained into JetStream.

Channel handlers call :meth:`Publisher.publish` with a contract event, which goes on its own
subject (:func:`rosey.contract.subject_of`). The call is O(1) and never awaits: the event is
given a unique ``Nats-Msg-Id`` (kept across retries, so JetStream drops the duplicate when an
ack was lost) and appended to the outbox, as given. Nothing else happens on the handler path
(bench/: JSON costs more than the rest of ``publish()`` together, and the outbox gauge is read
at scrape time). A payload must not be changed after it was handed to ``publish()``; the
contract's dataclasses are built fresh for each event.

A background task drains the outbox: it encodes each event and publishes it with up to
``window`` acknowledgements in flight, sent in outbox order on the one connection, and takes
the acknowledgements in the same order. Order needs one more thing: when NATS goes away, the
messages the client had already written may be lost while the ones it still held are sent to
the server it reconnects to, after the gap. So each event of the window names the one before
it (``Nats-Expected-Last-Msg-Id``): JetStream stores it only right after that one, and refuses
it otherwise (``wrong last msg ID``), so nothing is ever stored after a gap. Any failure (ack
timeout, NATS away, a reconnect, no stream, a refused chain) makes the drain let the rest of
the window settle and send the window again from its oldest event: that one alone and without
the condition (nothing of ours is in flight then) until it is acknowledged, then the rest,
chained, in order. Events that were stored already come back as duplicate acks (their
``Nats-Msg-Id``; JetStream checks it before the condition), so the stream holds every event
once, in the order it was published. Another publisher on the stream breaks the chain (its
message comes in between): the drain then sends the next event alone, at once, so it is as
slow as one ack in flight but never wrong. Events in the window are never dropped for room. As
a last check, each acknowledgement's stream sequence must rise; a fall is logged and counted in
``rosey_events_out_of_order_total``.

The window is used only on a stream with one replica. On a replicated stream (the chart's
3-server install) every replica checks the condition as it applies the message, against its
own last message id, which a replica that restarted and caught up from the others can lack
(nats-server does not take it from the messages a catch-up brings). nats-server 2.9.10 counted
such a refusal on that replica alone (``clfs``), and it fell out of step: on the local cluster,
after a NATS pod deletion, the replacement was not healthy for 7.5 minutes, until its startup
probe restarted it. Re-checked for issue 21 on 2.14.6 (the pinned one), with the chain forced
on in tests/resilience/test_publisher_cluster.py: 4 of its 7 cases failed, because a refusal
on a replica is now a write error that stops the stream there (``critical write error: last
msgid mismatch``, /healthz ``stream write error``). A leader killed, or stopped, and started
again once the new leader took events caught up (``Catchup ... complete``), refused the next
chained event against an older id (``"...-1051" vs "...-1039"``) and took nothing more: 1,051
messages against the others' 8,000, still unhealthy 30 s later. And one event of another
publisher in between, which a single nats-server answers with a refusal and nothing else,
stopped the stream on all three servers (test_a_refused_condition_stops_a_replicated_stream).
So on a replicated stream the drain keeps one acknowledgement in flight, without the condition,
which keeps the order by itself (the next event is sent only once the one before it is
stored): on three local servers (sync always) ~550 ev/s against ~1,700 chained, far above
the bot's own tens of events a second.

A payload that cannot be encoded is logged and counted (``reason="unencodable"``), and one
that NATS or the stream refuses for good (over the size limit, any 4xx from JetStream) is
logged and counted (``reason="rejected"``): neither is retried, so neither holds up the events
behind it. When the outbox is full the *oldest queued* event is dropped and counted
(``rosey_events_dropped_total{reason="outbox_full"}``); events in the window are never dropped.
On close the drain gets a bounded time and whatever is left is counted as ``reason="shutdown"``.
Nothing else is dropped.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import time
import uuid
from collections import deque
from dataclasses import dataclass

import nats.errors
import nats.js.errors
import structlog
from nats.js import JetStreamContext
from nats.js.api import PubAck

from rosey import contract
from rosey.config import BOT_DEFAULTS, StreamSettings
from rosey.errors import LifecycleError, StreamConfigError
from rosey.metrics import BotMetrics
from rosey.stream import ensure_stream

__all__ = ["Publisher", "PublisherState", "OutboxEvent", "DEFAULT_WINDOW", "WRONG_LAST_MSG_ID",
           "EXPECTED_LAST_MSG_ID_HEADER"]

log = structlog.get_logger()

#: JetStream stores a message carrying this header only right after the message id it names
EXPECTED_LAST_MSG_ID_HEADER = "Nats-Expected-Last-Msg-Id"

#: acknowledgements in flight: one caps the drain at one round trip per event (bench/)
DEFAULT_WINDOW = 64

_RETRYABLE = (TimeoutError, nats.errors.Error, OSError, StreamConfigError)
#: JetStream's "wrong last msg ID": the event named before it is not the stream's last message
WRONG_LAST_MSG_ID = 10070
#: no stream answered: ensure it again before the next publish
_NO_STREAM = (nats.errors.NoRespondersError, nats.js.errors.NoStreamResponseError,
              StreamConfigError)


def _refused_for_good(exc: BaseException) -> bool:
    """True when this one event can never be stored (too large for NATS or for the stream, or
    any other 4xx from JetStream): retrying it would hold up every event behind it."""
    if isinstance(exc, nats.errors.MaxPayloadError):
        return True
    if not isinstance(exc, nats.js.errors.APIError) or _chain_broken(exc):
        return False
    return isinstance(exc.code, int) and 400 <= exc.code < 500


def _chain_broken(exc: BaseException) -> bool:
    return isinstance(exc, nats.js.errors.APIError) and exc.err_code == WRONG_LAST_MSG_ID


@dataclass(slots=True)
class OutboxEvent:
    subject: str
    payload: contract.ContractEvent  # encoded by the drain, not on the handler path
    msg_id: str
    enqueued: float  # monotonic seconds
    data: bytes | None = None  # the encoding, made by the drain
    ack: asyncio.Future[PubAck] | None = None  # the publish in flight


def _acked(ack: asyncio.Future[PubAck] | None) -> bool:
    return ack is not None and ack.done() and not ack.cancelled() and ack.exception() is None


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
        metrics: publish latency, published/dropped counters, outbox depth (a gauge read at
            scrape time, so one publisher per ``BotMetrics``).
        maxsize: events held while NATS is slow or away (``BotSettings.outbox_size``).
        ack_timeout: how long one publish waits for its acknowledgement before retrying.
        retry_delay: first pause after a failed publish; doubles up to ``max_retry_delay``.
        window: acknowledgements in flight at once.
        stream: passed to ``ensure_stream`` (``update=False``: create only when missing).
    """

    def __init__(self, *, js: JetStreamContext | None, metrics: BotMetrics,
                 maxsize: int = BOT_DEFAULTS.outbox_size,
                 ack_timeout: float = 2.0, retry_delay: float = 0.1,
                 max_retry_delay: float = 2.0, window: int = DEFAULT_WINDOW,
                 stream: StreamSettings | None = None) -> None:
        if maxsize < 1:
            raise ValueError("the outbox needs room for at least one event")
        if window < 1:
            raise ValueError("the window needs room for at least one acknowledgement")
        self._js = js
        self._metrics = metrics
        self._maxsize = maxsize
        self._ack_timeout = ack_timeout
        self._retry_delay = retry_delay
        self._max_retry_delay = max_retry_delay
        self._window_size = window
        self._stream = stream or StreamSettings()
        self._outbox: deque[OutboxEvent] = deque()
        # events published and awaiting their acks, oldest first; out of the outbox, so "drop
        # the oldest" never drops one of them
        self._window: deque[OutboxEvent] = deque()
        # message ids: unique per process (a fresh random prefix) and per event (a counter)
        self._id_prefix = uuid.uuid4().hex[:16] + "-"
        self._ids = itertools.count(1)
        self._last_seq = 0  # the stream sequence of the last acknowledged event
        self._last_id = ""  # and its message id, which the next event sent names
        self._ready = asyncio.Event()
        self._refusing = False  # closing or closed: publish() drops and counts
        self._stream_ok = False
        # at the start and after a failure: the window's oldest event is sent alone, unchained
        self._probing = True
        # the stream has one replica: the window may be chained (see the module docstring)
        self._chained = False
        self._task: asyncio.Task[None] | None = None
        self.state = PublisherState.UNOPENED
        metrics.outbox_depth.set_function(lambda: self.depth)

    # --- the handler side: O(1), never awaits --------------------------------------------------
    def publish(self, event: contract.ContractEvent, /) -> str:
        """Queue one contract event on its own subject (TypeError for anything but a contract
        event); returns its message id."""
        subject = contract.subject_of(event)
        if self._refusing:
            self._metrics.events_dropped.labels(subject, "shutdown").inc()
            return ""
        msg_id = self._id_prefix + str(next(self._ids))
        if len(self._outbox) >= self._maxsize:
            self._drop_oldest()
        self._outbox.append(OutboxEvent(subject, event, msg_id, time.monotonic()))
        self._ready.set()
        return msg_id

    def _drop_oldest(self) -> None:
        dropped = self._outbox.popleft()
        self._metrics.events_dropped.labels(dropped.subject, "outbox_full").inc()
        log.warning("outbox_full_dropped_oldest", subject=dropped.subject, size=self._maxsize)

    def attach(self, js: JetStreamContext) -> None:
        """Start publishing through ``js`` (the first NATS connection was made)."""
        self._js = js
        self._ready.set()

    @property
    def depth(self) -> int:
        """Events not yet acknowledged: queued, plus those in the window."""
        return len(self._outbox) + len(self._window)

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
                self._refusing = True
            return
        self.state = PublisherState.CLOSING
        self._refusing = True
        try:
            await asyncio.wait_for(self.flush(), drain_timeout)
        except TimeoutError:
            pass
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        # events whose acknowledgement came in before the drain stopped are counted as
        # published; the rest of the window and of the outbox, as dropped at shutdown
        while self._window and _acked(self._window[0].ack):
            event = self._window.popleft()
            assert event.ack is not None
            self._acknowledged(event, event.ack.result())
        left = self.depth
        for event in self._window:
            if event.ack is not None:
                event.ack.cancel()
        await asyncio.gather(*(e.ack for e in self._window if e.ack is not None),
                             return_exceptions=True)
        for event in itertools.chain(self._window, self._outbox):
            self._metrics.events_dropped.labels(event.subject, "shutdown").inc()
        self._window.clear()
        self._outbox.clear()
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
            js = self._js
            if js is None or not (self._window or self._outbox):
                self._ready.clear()
                await self._ready.wait()
                continue
            event: OutboxEvent | None = None
            try:
                if not self._stream_ok:
                    info = await ensure_stream(js, self._stream, update=False)
                    self._chained = (info.config.num_replicas or 1) <= 1
                    self._stream_ok = True
                self._send(js)
                if not self._window:
                    continue  # everything queued was unencodable
                event = self._window[0]
                assert event.ack is not None
                ack = await event.ack
            except _RETRYABLE as exc:
                if event is not None and _refused_for_good(exc):
                    self._window.popleft()
                    self._metrics.events_dropped.labels(event.subject, "rejected").inc()
                    log.error("event_rejected", subject=event.subject, msg_id=event.msg_id,
                              bytes=len(event.data or b""), error=str(exc) or type(exc).__name__)
                    continue
                if _chain_broken(exc):  # a gap, or another publisher: go again at once
                    await self._settle(exc, 0.0)
                    continue
                await self._settle(exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_retry_delay)
                continue
            delay = self._retry_delay
            self._probing = False  # the event acknowledged is the chain's new start
            self._window.popleft()
            self._acknowledged(event, ack)

    def _send(self, js: JetStreamContext) -> None:
        """Publish, in order, the window's events not in flight (after a failure), then queued
        events until the window is full; while probing after a failure, only the oldest."""
        room = self._window_size if self._chained and not self._probing else 1
        after = self._last_id if self._chained and not self._probing else ""
        for event in itertools.islice(self._window, room):
            if event.ack is None:
                event.ack = self._publish(js, event, after)
            after = event.msg_id
        while len(self._window) < room and self._outbox:
            event = self._outbox.popleft()
            try:
                event.data = contract.encode(event.payload)
            except (TypeError, ValueError) as exc:  # a bug in the caller, not in NATS
                self._metrics.events_dropped.labels(event.subject, "unencodable").inc()
                log.error("event_unencodable", subject=event.subject, error=str(exc))
                continue
            event.ack = self._publish(js, event, after)
            after = event.msg_id
            self._window.append(event)

    def _publish(self, js: JetStreamContext, event: OutboxEvent,
                 after: str) -> asyncio.Future[PubAck]:
        """Publish ``event``; with ``after``, only right after that message id in the stream."""
        assert event.data is not None
        headers = {contract.MSG_ID_HEADER: event.msg_id}
        if after:
            headers[EXPECTED_LAST_MSG_ID_HEADER] = after
        # a task per publish: tasks start in creation order, so the messages leave in order
        return asyncio.ensure_future(js.publish(
            event.subject, event.data, timeout=self._ack_timeout, headers=headers))

    async def _settle(self, exc: BaseException, delay: float) -> None:
        """After a failed acknowledgement: let every publish in flight finish; the window is
        sent again from its oldest event, which goes alone until it is acknowledged."""
        if isinstance(exc, _NO_STREAM):
            self._stream_ok = False  # no stream (or no JetStream) answered
            self._last_seq = 0  # one made anew numbers from 1 again
        acks = [e.ack for e in self._window if e.ack is not None]
        await asyncio.gather(*acks, return_exceptions=True)
        for event in self._window:
            event.ack = None
        self._probing = True
        head = self._window[0].subject if self._window else "-"
        if _chain_broken(exc):
            log.debug("event_chain_broken", subject=head, window=len(self._window),
                     after=self._last_id)
            return
        log.warning("event_publish_retry", subject=head, window=len(self._window),
                    retry_in=delay, error=str(exc) or type(exc).__name__, depth=self.depth)

    def _acknowledged(self, event: OutboxEvent, ack: PubAck) -> None:
        if ack.seq <= self._last_seq:  # a duplicate ack carries the stored copy's sequence
            self._metrics.events_out_of_order.labels(event.subject).inc()
            log.warning("event_stored_out_of_order", subject=event.subject, seq=ack.seq,
                        after_seq=self._last_seq)
        self._last_seq = ack.seq  # not max(): a stream made anew numbers from 1 again
        self._last_id = event.msg_id
        self._metrics.events_published.labels(event.subject).inc()
        self._metrics.publish_seconds.labels(event.subject).observe(
            time.monotonic() - event.enqueued)
