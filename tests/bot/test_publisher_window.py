"""The publisher's window: several acknowledgements in flight, and what a failure inside the
window does (the whole window is sent again in order; JetStream's ``Nats-Msg-Id`` dedup keeps
each event once). A few tests put a thin fault-injecting wrapper around the real JetStream
context: every publish still goes to the real nats-server except the one the test fails."""

import asyncio
import json

import nats
import nats.errors
import pytest
from prometheus_client import CollectorRegistry

from rosey import contract
from rosey.bot.publisher import Publisher
from rosey.config import StreamSettings
from rosey.metrics import BotMetrics
from rosey.stream import ensure_stream
from tests.support.wait import eventually


def _metrics():
    return BotMetrics(CollectorRegistry())


def _value(m, name, **labels):
    return m.registry.get_sample_value(name, labels) or 0.0


async def _stream(js, subject=contract.USER_JOINED):
    """Every message on ``subject`` in stream order: (username, msg id)."""
    info = await js.stream_info(contract.STREAM_NAME)
    sub = await js.pull_subscribe(subject, durable=None)
    out = []
    while True:
        try:
            msgs = await sub.fetch(500, timeout=1)
        except TimeoutError:
            break
        for msg in msgs:
            out.append((json.loads(msg.data)["username"], msg.headers[contract.MSG_ID_HEADER]))
            await msg.ack()  # an ephemeral consumer delivers at most 1,000 unacknowledged
    assert len(out) <= info.state.messages
    return out


async def _publish_all(js, n, **publisher_options):
    """Publish u0..u{n-1} through a Publisher over ``js`` and wait until all are acknowledged;
    returns its metrics."""
    m = _metrics()
    async with Publisher(js=js, metrics=m, **publisher_options) as pub:
        for i in range(n):
            pub.publish(contract.UserJoined(f"u{i}", 1.0))
        await asyncio.wait_for(pub.flush(), 30)
    return m


class Wrapped:
    """The real JetStream context; ``publish`` counts what is in flight and lets a test fail
    chosen attempts, either before sending (``lose``: as if the message never arrived) or
    after the real publish (``lose_ack``: stored, but the acknowledgement is lost)."""

    def __init__(self, js, *, lose=(), lose_ack=()):
        self._js = js
        self.lose = set(lose)
        self.lose_ack = set(lose_ack)
        self.in_flight = 0
        self.most_in_flight = 0
        self.attempts: dict[str, int] = {}

    def __getattr__(self, name):
        return getattr(self._js, name)

    async def publish(self, subject, payload=b"", timeout=None, stream=None, headers=None):
        name = json.loads(payload)["username"]
        self.attempts[name] = self.attempts.get(name, 0) + 1
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if name in self.lose:
                self.lose.discard(name)
                await asyncio.sleep(0.05)  # the ack timeout, shortened
                raise nats.errors.TimeoutError
            ack = await self._js.publish(subject, payload, timeout=timeout, headers=headers)
            if name in self.lose_ack:
                self.lose_ack.discard(name)
                raise nats.errors.TimeoutError
            return ack
        finally:
            self.in_flight -= 1


async def test_a_burst_goes_out_with_many_acks_in_flight_and_in_order(nc):
    js = Wrapped(nc.jetstream())
    m = await _publish_all(js, 2_000, maxsize=5_000, window=32)
    assert 1 < js.most_in_flight <= 32
    assert [u for u, _ in await _stream(nc.jetstream())] == [f"u{i}" for i in range(2_000)]
    assert _value(m, "rosey_events_published_total", subject=contract.USER_JOINED) == 2_000


async def test_a_window_of_one_keeps_one_ack_in_flight(nc):
    js = Wrapped(nc.jetstream())
    await _publish_all(js, 200, window=1)
    assert js.most_in_flight == 1
    assert len(await _stream(nc.jetstream())) == 200


async def test_a_lost_ack_inside_the_window_resends_it_in_order_and_stores_it_once(nc):
    """u10 is stored but its ack is lost: the window (u10 and the events after it) goes again
    from u10, JetStream answers the stored ones with duplicate acks, and the stream holds each
    event once, in order, nothing counted out of order."""
    js = Wrapped(nc.jetstream(), lose_ack={"u10"})
    m = await _publish_all(js, 100, retry_delay=0.01, window=16)
    stored = await _stream(nc.jetstream())
    assert [u for u, _ in stored] == [f"u{i}" for i in range(100)]
    assert len({mid for _, mid in stored}) == 100
    assert js.attempts["u10"] == 2 and js.attempts["u11"] == 2  # the window went again
    assert _value(m, "rosey_events_published_total", subject=contract.USER_JOINED) == 100
    assert _value(m, "rosey_events_out_of_order_total", subject=contract.USER_JOINED) == 0


async def test_an_event_lost_before_the_server_is_never_overtaken_by_the_ones_after_it(nc):
    """u5 never reaches the stream (as when NATS goes away after the client wrote it), but
    u6.. do, each naming the one before it: JetStream refuses them (wrong last msg id), so
    the window goes again from u5 and the stream holds every event once, in order."""
    js = Wrapped(nc.jetstream(), lose={"u5"})
    m = await _publish_all(js, 20, retry_delay=0.01, window=16)
    assert [u for u, _ in await _stream(nc.jetstream())] == [f"u{i}" for i in range(20)]
    assert js.attempts["u5"] == 2 and js.attempts["u6"] == 2
    assert _value(m, "rosey_events_out_of_order_total", subject=contract.USER_JOINED) == 0
    assert _value(m, "rosey_events_published_total", subject=contract.USER_JOINED) == 20


async def test_another_publisher_on_the_stream_slows_the_window_but_never_reorders_it(nc):
    """A second publisher's messages land between ours and break the chain: every event is
    still stored once and in the publisher's order."""
    js = nc.jetstream()
    await ensure_stream(js, StreamSettings(), update=True)
    m = _metrics()
    async with Publisher(js=js, metrics=m, maxsize=5_000, window=16) as pub:
        for i in range(1_000):
            pub.publish(contract.UserJoined(f"u{i}", 1.0))
            if i % 50 == 0:
                await js.publish(contract.USER_JOINED,
                                 json.dumps({"username": f"other{i}"}).encode(),
                                 headers={contract.MSG_ID_HEADER: f"other-{i}"})
                await asyncio.sleep(0)
        await asyncio.wait_for(pub.flush(), 30)
    stored = [u for u, _ in await _stream(js)]
    assert [u for u in stored if u.startswith("u")] == [f"u{i}" for i in range(1_000)]
    assert len(stored) == 1_020
    assert _value(m, "rosey_events_out_of_order_total", subject=contract.USER_JOINED) == 0


@pytest.mark.parametrize("kill", [False, True], ids=["stopped", "killed"])
async def test_nats_restarting_in_the_middle_of_a_burst_loses_nothing_and_keeps_the_order(
        nats_server, kill):
    m = _metrics()
    nc = await nats.connect(nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
    try:
        async with Publisher(js=nc.jetstream(), metrics=m, maxsize=10_000, ack_timeout=0.5,
                             retry_delay=0.05) as pub:
            for i in range(3_000):
                pub.publish(contract.UserJoined(f"u{i}", 1.0))
            await eventually(lambda: _value(m, "rosey_events_published_total",
                                            subject=contract.USER_JOINED) >= 300,
                             what="the burst under way")
            await asyncio.to_thread(nats_server.kill if kill else nats_server.stop)
            assert pub.depth > 0
            await asyncio.to_thread(nats_server.start)
            await asyncio.wait_for(pub.flush(), 60)
        stored = await _stream(nc.jetstream())
        assert [u for u, _ in stored] == [f"u{i}" for i in range(3_000)]
        assert _value(m, "rosey_events_published_total", subject=contract.USER_JOINED) == 3_000
        assert _value(m, "rosey_events_out_of_order_total", subject=contract.USER_JOINED) == 0
    finally:
        await nc.close()


async def test_an_event_too_large_for_nats_is_dropped_and_counted_not_retried_forever(nc):
    m = _metrics()
    async with Publisher(js=nc.jetstream(), metrics=m, retry_delay=0.01) as pub:
        pub.publish(contract.UserJoined("before", 1.0))
        pub.publish(contract.UserJoined("huge " + "y" * (2 * 1024 * 1024)))
        pub.publish(contract.UserJoined("after", 1.0))
        await asyncio.wait_for(pub.flush(), 10)
    assert [u for u, _ in await _stream(nc.jetstream())] == ["before", "after"]
    assert _value(m, "rosey_events_dropped_total", subject=contract.USER_JOINED,
                  reason="rejected") == 1
    assert _value(m, "rosey_events_published_total", subject=contract.USER_JOINED) == 2


async def test_a_stream_deleted_under_the_publisher_is_made_again(nc):
    """JetStream answers a publish to a subject no stream holds with "no responders"
    (nats-py raises NoStreamResponseError): the publisher ensures the stream again instead of
    retrying into nothing."""
    m = _metrics()
    js = nc.jetstream()
    async with Publisher(js=js, metrics=m, retry_delay=0.01) as pub:
        pub.publish(contract.UserJoined("first", 1.0))
        await asyncio.wait_for(pub.flush(), 10)
        await js.delete_stream(contract.STREAM_NAME)
        pub.publish(contract.UserJoined("second", 1.0))
        await asyncio.wait_for(pub.flush(), 10)
    assert [u for u, _ in await _stream(js)] == ["second"]


async def test_an_event_the_stream_refuses_for_good_is_dropped_and_counted_not_retried_forever(nc):
    """A 4xx from JetStream is about that one event (here: over the stream's own size limit,
    which passes the client's 1 MiB check): retrying it would hold up every event behind it."""
    js = nc.jetstream()
    await js.add_stream(name=contract.STREAM_NAME, subjects=list(contract.STREAM_SUBJECTS),
                        max_msg_size=1_000)
    m = _metrics()
    async with Publisher(js=js, metrics=m, retry_delay=0.01) as pub:
        pub.publish(contract.UserJoined("before", 1.0))
        pub.publish(contract.UserJoined("big " + "y" * 5_000))
        pub.publish(contract.UserJoined("after", 1.0))
        await asyncio.wait_for(pub.flush(), 10)
    assert [u for u, _ in await _stream(js)] == ["before", "after"]
    assert _value(m, "rosey_events_dropped_total", subject=contract.USER_JOINED,
                  reason="rejected") == 1
