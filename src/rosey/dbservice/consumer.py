"""The durable JetStream pull consumer: fetch, apply in one transaction, then acknowledge.

Guarantees, given the store's sequence bookkeeping (:mod:`rosey.store.store`):

- nothing acknowledged is lost: a batch is acknowledged only after its commit;
- nothing is applied twice: a redelivered event (crash between commit and ack, a lost ack,
  an ack-wait expiry) is recognised by its stream sequence and only acknowledged;
- a bad event is dead-lettered and acknowledged in the same way, never redelivered forever.

One acknowledgement per batch (``AckPolicy.ALL``): acking the batch's highest stream sequence
acknowledges every event at or below it that is still pending. That is safe only while every
event the consumer has delivered since binding reached this process, in order, and every
earlier batch committed first. So:

- at binding, a consumer with events delivered but unacknowledged (they went to a process
  that died) or with another ack policy is deleted and created again from its ack floor: the
  held events come back at once (a SIGKILL costs the restart, not the ack wait) and nothing
  unapplied can be acknowledged away. ``applied_events`` makes the repeats harmless. The
  DatabaseService runs as a one-replica StatefulSet, so no live process can hold them;
- every batch's delivery sequences must follow on from the last one seen; a gap (a delivery
  this process never received) is never acknowledged past: the consumer rebinds, which
  recreates it from the ack floor;
- at most one batch commits at a time, in delivery order, and is acknowledged after its commit;
- while a batch is held (committing, retrying a failing database, or fetched and waiting for
  the batch before it), every ``ack_wait / 3`` its events get ``+WPI`` (in progress), so a long
  commit never lets the server redeliver them;
- what the server delivered to this client is held, not only what a fetch returned: a fetch
  gives up at its timeout, but its pull request lives on the server a little longer and can
  still deliver into the client's buffer. While a batch commits, the fetch loop keeps taking
  that buffer into the next batch, and a stop takes it until the server's count of
  deliveries has arrived.

The fetch loop is supervised. Any error, a reconnection to NATS, or a consumer that reports
pending events while fetches stay empty makes it recreate the pull subscription (nats.py's
pull subscriptions are known to go quiet after a server restart), re-ensuring the stream and
the consumer first, since a restarted server may have lost them.

A consumer whose server ignores its acknowledgements is recreated too. After a SIGKILL,
nats-server (seen on 2.9.10, one run in seven of tests/resilience/test_kill_dbservice.py) can
restore a consumer whose pending list holds events at or below its own ack floor. It
redelivers them every ack wait, and AckPolicy.ALL ignores an ack at or below the floor, so they
stay pending forever (ack floor 8000 = the stream's last event, delivered 8000, 640 pending).
:func:`acks_ignored` spots that state.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import nats.errors
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, ConsumerInfo, DeliverPolicy
from nats.js.errors import NotFoundError

from rosey import contract
from rosey.config import DB_DEFAULTS, DbSettings
from rosey.dbservice.ingest import BatchApplier, incoming_from, wait_or_stop
from rosey.metrics import DbMetrics
from rosey.store.store import Store
from rosey.stream import ensure_stream

__all__ = ["JetStreamConsumer", "consumer_config", "acks_ignored"]

log = structlog.get_logger()

MAX_ACK_PENDING = 20_000
#: how long a caught-up consumer's ``fetch(1)`` waits for the next event
FETCH_TIMEOUT = 1.0
#: when events are flowing, a batch is whatever arrives within this long
TOPUP_SECONDS = 0.005
#: while a batch commits, how often the fetch loop takes what was delivered into its buffer
BUFFER_CHECK_SECONDS = 0.05
INFO_INTERVAL = 2.0
STALL_SECONDS = 10.0


def consumer_config(start_after: int, *,
                    ack_wait: float = DB_DEFAULTS.ack_wait_seconds) -> ConsumerConfig:
    """The durable consumer; a new one starts right after what the file already holds."""
    if start_after > 0:
        deliver: dict[str, Any] = {"deliver_policy": DeliverPolicy.BY_START_SEQUENCE,
                                   "opt_start_seq": start_after + 1}
    else:
        deliver = {"deliver_policy": DeliverPolicy.ALL}
    return ConsumerConfig(
        durable_name=contract.CONSUMER_NAME,
        description="Rosey DatabaseService",
        ack_policy=AckPolicy.ALL,
        ack_wait=ack_wait,
        max_deliver=-1,
        max_ack_pending=MAX_ACK_PENDING,
        **deliver,
    )


def acks_ignored(info: ConsumerInfo) -> bool:
    """More events pending acknowledgement than there are between the ack floor and the last
    delivered event: some are at or below the floor, where the server ignores every ack
    (AckPolicy.ALL), so it would redeliver them forever."""
    pending = int(info.num_ack_pending or 0)
    floor = int(info.ack_floor.stream_seq or 0) if info.ack_floor else 0
    delivered = int(info.delivered.stream_seq or 0) if info.delivered else 0
    return pending > max(0, delivered - floor)


class JetStreamConsumer:
    """Runs until ``stop`` is set, then finishes (commits and acks) what it has fetched.

    Parameters:
        nc: a connected client.
        store: the open store.
        metrics: the service's metrics.
        settings: stream settings and batch size.
        fetch_timeout: how long an idle fetch waits before asking again.
    """

    def __init__(self, *, nc: Client, store: Store, metrics: DbMetrics,
                 settings: DbSettings, fetch_timeout: float = FETCH_TIMEOUT) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream(timeout=5.0)
        self.store = store
        self.metrics = metrics
        self.settings = settings
        self.fetch_timeout = fetch_timeout
        self.applier = BatchApplier(store=store, metrics=metrics)
        self.bound = False
        self._rebind = asyncio.Event()
        self._psub: JetStreamContext.PullSubscription | None = None
        self._last_delivery = time.monotonic()
        #: the delivery (consumer) sequence the next message must carry
        self._next_delivery = 1
        #: fetched batches not yet acknowledged, with when they were fetched
        self._held: dict[int, tuple[float, list[Msg]]] = {}

    def request_rebind(self) -> None:
        """Ask the loop to recreate its pull subscription (called on NATS reconnect)."""
        self._rebind.set()

    # --- binding ---------------------------------------------------------------------------
    async def _bind(self) -> None:
        await ensure_stream(self.js, self.settings.stream, update=True)
        await self._check_stream_identity()
        if self._psub is not None:
            try:
                await self._psub.unsubscribe()
            except Exception as exc:  # the old subscription may already be gone
                log.debug("old_pull_subscription_unsubscribe_failed", error=str(exc))
            self._psub = None
        info = await self._ensure_consumer()
        self._next_delivery = (int(info.delivered.consumer_seq or 0) if info.delivered else 0) + 1
        self._psub = await self.js.pull_subscribe_bind(
            durable=contract.CONSUMER_NAME, stream=contract.STREAM_NAME)
        self._rebind.clear()
        self._last_delivery = time.monotonic()
        self.bound = True
        log.info("consumer_bound", stream=contract.STREAM_NAME, consumer=contract.CONSUMER_NAME,
                 next_delivery=self._next_delivery)

    async def _ensure_consumer(self) -> ConsumerInfo:
        """The durable consumer, with nothing delivered and unacknowledged (see the module
        docstring) and this run's ack wait."""
        await self.nc.flush()  # this process's own acks reach the server before it is asked
        try:
            info: ConsumerInfo = await self.js.consumer_info(contract.STREAM_NAME,
                                                             contract.CONSUMER_NAME)
        except NotFoundError:
            return await self._create_consumer(self.store.applied_floor, reason="missing")
        if await self._file_behind(info):
            return await self._create_consumer(self.store.applied_floor,
                                               reason="database_behind_consumer")
        config = info.config
        policy = AckPolicy(config.ack_policy)  # nats-py leaves the server's string as it is
        if policy is not AckPolicy.ALL or info.num_ack_pending:
            floor = int(info.ack_floor.stream_seq) if info.ack_floor else 0
            try:
                await self.js.delete_consumer(contract.STREAM_NAME, contract.CONSUMER_NAME)
            except NotFoundError:
                pass
            reason = (f"ack_policy_{policy.value}" if policy is not AckPolicy.ALL
                      else "pending_below_ack_floor" if acks_ignored(info)
                      else "held_by_a_previous_process")
            return await self._create_consumer(max(floor, self.store.applied_floor),
                                               reason=reason,
                                               unacknowledged=int(info.num_ack_pending or 0))
        wanted = consumer_config(0, ack_wait=self.settings.ack_wait_seconds)
        if (config.ack_wait, config.max_ack_pending) != (wanted.ack_wait, wanted.max_ack_pending):
            # an existing durable keeps its settings; these two can be updated in place
            updated: ConsumerConfig = dataclasses.replace(
                config, ack_wait=wanted.ack_wait, max_ack_pending=wanted.max_ack_pending)
            info = await self.js.add_consumer(contract.STREAM_NAME, updated)
            log.info("consumer_updated", ack_wait=wanted.ack_wait,
                     max_ack_pending=wanted.max_ack_pending)
        return info

    async def _file_behind(self, info: ConsumerInfo) -> bool:
        """Has the consumer acknowledged events this file does not hold (it was restored from
        a backup, or its volume was lost)? Then the consumer is deleted, so that it is made
        again from the file's own floor and the stream replays everything it still holds after
        it; what the stream no longer holds is counted and logged as a gap."""
        acked = int(info.ack_floor.stream_seq or 0) if info.ack_floor else 0
        highest = await self.store.highest_applied()
        if acked <= highest:
            return False
        first = int((await self.js.stream_info(contract.STREAM_NAME)).state.first_seq or 0)
        missing = max(0, first - 1 - self.store.applied_floor)
        log.warning("database_behind_consumer", consumer_ack_floor=acked,
                    highest_applied=highest, replay_from=self.store.applied_floor + 1,
                    stream_first_seq=first)
        if missing:
            self.metrics.replay_gap.inc(missing)
            log.error("replay_gap", missing_events=missing, first=self.store.applied_floor + 1,
                      last=first - 1, why="the stream no longer holds them (max age or size)")
        try:
            await self.js.delete_consumer(contract.STREAM_NAME, contract.CONSUMER_NAME)
        except NotFoundError:
            pass
        return True

    async def _create_consumer(self, start_after: int, *, reason: str,
                               unacknowledged: int = 0) -> ConsumerInfo:
        info = await self.js.add_consumer(contract.STREAM_NAME, consumer_config(
            start_after, ack_wait=self.settings.ack_wait_seconds))
        log.info("consumer_created", consumer=contract.CONSUMER_NAME, start_after=start_after,
                 reason=reason, unacknowledged=unacknowledged)
        return info

    async def _check_stream_identity(self) -> None:
        """A stream whose last sequence is below what this file applied was recreated (or
        NATS lost its store): its sequences start again, so the old bookkeeping must go."""
        info = await self.js.stream_info(contract.STREAM_NAME)
        highest = await self.store.highest_applied()
        if info.state.last_seq < highest:
            log.error("stream_reset_detected", stream_last_seq=info.state.last_seq,
                      highest_applied=highest)
            await self.store.reset_sequences()

    # --- the loop --------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        info_task = asyncio.create_task(self._watch(stop), name="rosey-consumer-info")
        keep_task = asyncio.create_task(self._keep_in_progress(), name="rosey-consumer-wpi")
        delay = 0.2
        try:
            while not stop.is_set():
                try:
                    await self._bind()
                    delay = 0.2
                    await self._fetch_loop(stop)
                except (TimeoutError, nats.errors.Error, OSError) as exc:
                    self.bound = False
                    self.metrics.consumer_restarts.inc()
                    log.warning("consumer_restarting", error=str(exc) or type(exc).__name__,
                                retry_in=round(delay, 2))
                    await wait_or_stop(stop, delay)
                    delay = min(delay * 2, 5.0)
        finally:
            self.bound = False
            info_task.cancel()
            keep_task.cancel()
            await asyncio.gather(info_task, keep_task, return_exceptions=True)
            if self._psub is not None:
                try:
                    await self._psub.unsubscribe()
                except Exception as exc:
                    log.debug("pull_subscription_unsubscribe_failed", error=str(exc))
            log.info("consumer_stopped", applied=self.applier.applied,
                     duplicates=self.applier.duplicates, rejected=self.applier.rejected)

    async def _fetch_loop(self, stop: asyncio.Event) -> None:
        """Fetch batch N+1 while batch N commits on the writer thread.

        At most one batch is in flight: a fetched batch starts only after the previous one
        has committed and been acknowledged, so batches commit strictly in delivery order,
        and everything in flight finishes before this returns (stop, rebind or error).

        Never park a request that waits to *fill* a batch: nats-py's ``fetch(n, timeout)``
        long-polls until ``n`` messages or the timeout when nothing is stored, which at
        1,000 events/s held events for ~250 ms (bench/). A caught-up consumer waits in
        ``fetch(1)``, which returns on the first event; otherwise a batch is whatever has
        arrived within :data:`TOPUP_SECONDS`.
        """
        assert self._psub is not None
        inflight: asyncio.Task[bool] | None = None
        idle = True
        try:
            while not stop.is_set():
                if self._rebind.is_set():
                    log.info("consumer_rebinding")
                    self.metrics.consumer_restarts.inc()
                    if not await _settled(inflight):
                        return
                    inflight = None
                    await self._bind()
                try:
                    if idle:
                        msgs = await self._psub.fetch(1, timeout=self.fetch_timeout)
                    else:
                        msgs = await self._psub.fetch(self.settings.batch_size,
                                                      timeout=TOPUP_SECONDS)
                except TimeoutError:
                    # nothing yet. nats-py raises its own TimeoutError (a subclass) and, when
                    # the pull request's expiry runs out just as the server answers, the
                    # builtin one: both mean "no events", never a reason to rebind.
                    idle = True
                    continue
                idle = False
                if msgs:
                    self._last_delivery = time.monotonic()
                    if not self._in_sequence(msgs):
                        self.request_rebind()  # never acknowledge past a missed delivery
                        continue
                    await self._fill(msgs, inflight, stop)
                    if not await _settled(inflight):
                        return  # msgs stay unacknowledged, for redelivery
                    inflight = asyncio.create_task(self._process(msgs, stop))
            if not await _settled(inflight):
                return
            inflight = None
            await self._drain_delivered(stop)
        finally:
            if inflight is not None:
                await inflight

    async def _fill(self, msgs: list[Msg], inflight: asyncio.Task[bool] | None,
                    stop: asyncio.Event) -> None:
        """While the batch before commits, keep adding what has arrived to ``msgs`` (up to the
        batch size): behind a backlog, batches grow and commits (an fsync each) get fewer.

        Then, until that commit is done, whatever the server still delivers into this
        client's buffer joins ``msgs`` too (:meth:`_take_delivered`), past the batch size if
        need be, so that it is held and kept in progress. A fetch that gave up at its timeout
        leaves its pull request open on the server a little longer (the server counts the
        request's expiry from when it received it), and what that request delivers waits in
        the buffer for the next fetch: left there through a commit longer than the ack wait,
        nobody keeps it in progress and the server redelivers it."""
        assert self._psub is not None
        asking = True  # top up from the stream until a fetch brings nothing
        while inflight is not None and not inflight.done():
            more: list[Msg] = []
            if (asking and len(msgs) < self.settings.batch_size and not stop.is_set()
                    and not self._rebind.is_set()):
                try:
                    more = await self._psub.fetch(self.settings.batch_size - len(msgs),
                                                  timeout=TOPUP_SECONDS)
                except TimeoutError:  # nothing more has arrived: wait for the commit instead
                    pass
                asking = bool(more)
            else:
                await asyncio.wait({inflight}, timeout=BUFFER_CHECK_SECONDS)
                more = await self._take_delivered()
            if not more:
                continue
            if not self._in_sequence(more):
                self.request_rebind()  # ``msgs`` is still whole; nothing past the gap joins
                return
            msgs += more

    async def _take_delivered(self) -> list[Msg]:
        """The events already delivered into this client's buffer, taken without asking the
        server for more: ``fetch`` takes them too, but always sends another pull request, and
        that can leave the same behind. Status replies (a pull request's end) are dropped, as
        ``fetch`` drops them."""
        assert self._psub is not None
        inbox = self._psub._sub  # nats-py's subscription behind the pull subscription
        msgs: list[Msg] = []
        while self._psub.pending_msgs:
            try:
                msg = await inbox.next_msg(timeout=1.0)  # one is there: returns at once
            except TimeoutError:  # nats-py's and the builtin one
                break
            if not JetStreamContext.is_status_msg(msg):
                msgs.append(msg)
        return msgs

    async def _drain_delivered(self, stop: asyncio.Event) -> None:
        """On stop: commit and ack what the server delivered to this client and the fetch loop
        has not taken (a fetch that gave up at its timeout can still receive its messages
        afterwards), so nothing delivered waits for an ack-wait redelivery. Takes nothing new
        from the stream: it reads the client's buffer (:meth:`_take_delivered`) until, after
        a few quiet rounds, the server's count of deliveries says all of them arrived (or
        2 s have passed)."""
        assert self._psub is not None
        deadline = time.monotonic() + 2.0
        quiet_rounds = 0  # rounds that brought no event
        while time.monotonic() < deadline:
            msgs = await self._take_delivered()
            if msgs:
                quiet_rounds = 0
                if not self._in_sequence(msgs):
                    return  # the next run recreates the consumer from its ack floor
                if not await self._process(msgs, stop):
                    return
                continue
            quiet_rounds += 1
            if quiet_rounds >= 3:
                if await self._all_deliveries_taken():
                    return
                quiet_rounds = 0
            await asyncio.sleep(TOPUP_SECONDS * 4)  # let in-flight deliveries land

    async def _all_deliveries_taken(self) -> bool:
        """Has this client taken every delivery the server made to it? No answer: True (the
        next run recreates a consumer with unacknowledged events from its ack floor)."""
        if not self.nc.is_connected:
            return True
        try:
            info = await self.js.consumer_info(contract.STREAM_NAME, contract.CONSUMER_NAME,
                                               timeout=1.0)
        except (TimeoutError, nats.errors.Error) as exc:
            log.debug("consumer_info_failed", error=str(exc) or type(exc).__name__)
            return True
        delivered = int(info.delivered.consumer_seq or 0) if info.delivered else 0
        if delivered < self._next_delivery:
            return True
        log.info("stop_waiting_for_deliveries", delivered=delivered,
                 taken=self._next_delivery - 1)
        return False

    def _in_sequence(self, msgs: list[Msg]) -> bool:
        """Do ``msgs`` carry the next delivery sequences, without a gap? Then hold them
        (kept in progress until acknowledged). A gap means the server delivered something
        this process never received: acking past it could acknowledge an unapplied event."""
        first = msgs[0].metadata.sequence.consumer
        for offset, msg in enumerate(msgs):
            got = msg.metadata.sequence.consumer
            if got != self._next_delivery + offset:
                log.warning("delivery_gap", expected=self._next_delivery + offset, got=got,
                            action="recreate the consumer from its ack floor")
                return False
        self._next_delivery += len(msgs)
        # a copy: _fill extends the batch's list with later fetches, which are held on their own
        self._held[first] = (time.monotonic(), list(msgs))
        return True

    async def _process(self, msgs: list[Msg], stop: asyncio.Event) -> bool:
        """Commit, then acknowledge: True. A batch that cannot be committed before stop is
        left unacknowledged (False): JetStream redelivers it to the next run."""
        items = []
        for msg in msgs:
            meta = msg.metadata
            items.append(incoming_from(msg.subject, msg.data, seq=meta.sequence.stream,
                                       received=meta.timestamp.timestamp()))
        try:
            if not await self.applier.commit(items, stop):
                log.warning("batch_left_for_redelivery", size=len(items))
                return False
            # AckPolicy.ALL: the highest stream sequence acknowledges the whole batch (and
            # nothing else: every earlier delivery is in a batch that committed before)
            await max(msgs, key=lambda m: m.metadata.sequence.stream).ack()
            return True
        finally:
            for msg in msgs:  # a batch may have been fetched in several parts (_fill)
                self._held.pop(msg.metadata.sequence.consumer, None)

    async def _keep_in_progress(self) -> None:
        """Every ack_wait / 3, tell the server that events held longer than that are still
        being worked on (+WPI), so a slow commit or a failing database never makes it
        redeliver them. Runs until cancelled."""
        every = max(0.05, self.settings.ack_wait_seconds / 3)
        while True:
            await asyncio.sleep(every)
            now = time.monotonic()
            for fetched_at, msgs in list(self._held.values()):
                if now - fetched_at < every or not self.nc.is_connected:
                    continue
                try:
                    for msg in msgs:
                        await msg.in_progress()
                except (nats.errors.Error, OSError) as exc:
                    log.debug("in_progress_failed", error=str(exc) or type(exc).__name__)
                    continue
                log.debug("batch_kept_in_progress", size=len(msgs),
                          held_seconds=round(now - fetched_at, 2))

    async def _watch(self, stop: asyncio.Event) -> None:
        """Every few seconds: pending gauge, floor advance, stall detection."""
        while not stop.is_set():
            await wait_or_stop(stop, INFO_INTERVAL)
            if stop.is_set() or not self.nc.is_connected:
                continue
            try:
                info = await self.js.consumer_info(contract.STREAM_NAME, contract.CONSUMER_NAME)
            except (TimeoutError, nats.errors.Error) as exc:
                log.debug("consumer_info_failed", error=str(exc) or type(exc).__name__)
                continue
            pending = int(info.num_pending or 0)
            self.metrics.consumer_pending.set(pending)
            floor = info.ack_floor.stream_seq if info.ack_floor else None
            if floor:
                try:
                    await self.store.advance_floor(int(floor))
                except Exception as exc:  # bookkeeping only; retried next round
                    log.warning("floor_advance_failed", error=str(exc))
            stalled = time.monotonic() - self._last_delivery > STALL_SECONDS
            if pending > 0 and stalled and self.bound:
                log.warning("consumer_stalled", pending=pending)
                self._last_delivery = time.monotonic()
                self.request_rebind()
            elif acks_ignored(info) and self.bound:
                # the rebind recreates it from its ack floor (_ensure_consumer)
                log.warning("consumer_acks_ignored", ack_pending=info.num_ack_pending,
                            ack_floor=floor, delivered=info.delivered.stream_seq)
                self.request_rebind()


async def _settled(inflight: asyncio.Task[bool] | None) -> bool:
    """Wait for the batch in flight. False: it was left uncommitted (the service is stopping
    while the database fails), so nothing after it may be committed or acknowledged either."""
    return True if inflight is None else await inflight
