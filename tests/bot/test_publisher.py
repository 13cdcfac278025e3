import asyncio
import json

import nats
import pytest
from prometheus_client import CollectorRegistry

from rosey import contract
from rosey.bot.publisher import Publisher
from rosey.metrics import BotMetrics
from tests.support.wait import eventually


def _metrics():
    return BotMetrics(CollectorRegistry())


def _value(m, name, **labels):
    return m.registry.get_sample_value(name, labels) or 0.0


async def _stream_msgs(js, n):
    sub = await js.pull_subscribe(contract.USER_JOINED, durable=None)
    out = []
    while len(out) < n:
        out += await sub.fetch(n - len(out), timeout=5)
    return out


async def test_events_reach_the_stream_with_a_msg_id_even_before_the_db_service_ran(nc):
    m = _metrics()
    async with Publisher(js=nc.jetstream(), metrics=m, maxsize=10) as pub:
        ids = [pub.publish(contract.UserJoined(f"u{i}", 1.0)) for i in range(3)]
        await asyncio.wait_for(pub.flush(), 10)
    msgs = await _stream_msgs(nc.jetstream(), 3)
    assert [json.loads(x.data)["username"] for x in msgs] == ["u0", "u1", "u2"]
    assert [x.headers[contract.MSG_ID_HEADER] for x in msgs] == ids
    assert _value(m, "rosey_events_published_total", subject=contract.USER_JOINED) == 3
    assert _value(m, "rosey_event_publish_seconds_count", subject=contract.USER_JOINED) == 3
    assert _value(m, "rosey_outbox_depth") == 0


async def test_full_outbox_drops_the_oldest_and_counts_it(nats_server):
    m = _metrics()
    nc = await nats.connect(nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
    try:
        nats_server.stop()
        pub = Publisher(js=nc.jetstream(), metrics=m, maxsize=3, ack_timeout=0.2)
        async with pub:
            for i in range(5):
                pub.publish(contract.UserJoined(f"u{i}"))
            assert pub.depth == 3
            assert _value(m, "rosey_events_dropped_total", subject=contract.USER_JOINED,
                          reason="outbox_full") == 2
            await asyncio.to_thread(nats_server.start)
            await asyncio.wait_for(pub.flush(), 20)
        msgs = await _stream_msgs(nc.jetstream(), 3)
        assert [json.loads(x.data)["username"] for x in msgs] == ["u2", "u3", "u4"]
    finally:
        await nc.close()


async def test_publish_never_awaits_and_retries_until_nats_is_back(nats_server):
    m = _metrics()
    nc = await nats.connect(nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
    try:
        async with Publisher(js=nc.jetstream(), metrics=m, maxsize=100, ack_timeout=0.2) as pub:
            pub.publish(contract.UserJoined("before"))
            await asyncio.wait_for(pub.flush(), 10)
            nats_server.stop()
            pub.publish(contract.UserJoined("during"))  # returns at once
            await eventually(lambda: _value(m, "rosey_outbox_depth") == 1)
            await asyncio.to_thread(nats_server.start)
            await asyncio.wait_for(pub.flush(), 20)
        msgs = await _stream_msgs(nc.jetstream(), 2)
        assert [json.loads(x.data)["username"] for x in msgs] == ["before", "during"]
    finally:
        await nc.close()


async def test_leftovers_at_shutdown_are_counted_not_lost_silently(nats_server):
    m = _metrics()
    nc = await nats.connect(nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
    try:
        nats_server.stop()
        pub = Publisher(js=nc.jetstream(), metrics=m, maxsize=100, ack_timeout=0.1)
        async with pub:
            pub.publish(contract.UserLeft("a"))
            pub.publish(contract.UserLeft("b"))
        await pub.aclose()  # second close is harmless
        assert _value(m, "rosey_events_dropped_total", subject=contract.USER_LEFT,
                      reason="shutdown") == 2
        assert _value(m, "rosey_outbox_depth") == 0
    finally:
        await nc.close()


def test_outbox_needs_room():
    with pytest.raises(ValueError):
        Publisher(js=None, metrics=_metrics(), maxsize=0)


async def test_the_event_being_published_is_never_the_one_dropped(nats_server):
    """Overflow while the oldest event is in flight drops the oldest *queued* one, so every
    event is counted exactly once: published or dropped, never both."""
    m = _metrics()
    nc = await nats.connect(nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
    try:
        async with Publisher(js=nc.jetstream(), metrics=m, maxsize=2, ack_timeout=0.2) as pub:
            pub.publish(contract.UserJoined("w"))  # the stream is ensured
            await asyncio.wait_for(pub.flush(), 10)
            nats_server.stop()
            pub.publish(contract.UserJoined("u0"))
            await eventually(lambda: len(pub._window) == 1, what="u0 taken for publishing")
            for i in (1, 2, 3):
                pub.publish(contract.UserJoined(f"u{i}"))
            assert pub.depth == 3  # u0 in flight (retried while NATS is away), u2 and u3 queued
            await asyncio.to_thread(nats_server.start)
            await asyncio.wait_for(pub.flush(), 20)
        msgs = await _stream_msgs(nc.jetstream(), 4)
        assert [json.loads(x.data)["username"] for x in msgs] == ["w", "u0", "u2", "u3"]
        published = _value(m, "rosey_events_published_total", subject=contract.USER_JOINED)
        dropped = _value(m, "rosey_events_dropped_total", subject=contract.USER_JOINED,
                         reason="outbox_full")
        assert (published, dropped) == (4, 1)
    finally:
        await nc.close()


async def test_an_unencodable_payload_is_counted_and_the_events_around_it_still_go_out(nc):
    """Encoding happens in the drain (off the handler path): a payload JSON cannot encode
    is dropped there with a log line and reason="unencodable", and neither stops the drain
    nor reorders the events before and after it."""
    m = _metrics()
    async with Publisher(js=nc.jetstream(), metrics=m, maxsize=10) as pub:
        pub.publish(contract.UserJoined("before", 1.0))
        assert pub.publish(contract.UserJoined(object()))  # queued, not raised
        pub.publish(contract.UserJoined("after", 1.0))
        await asyncio.wait_for(pub.flush(), 10)
    msgs = await _stream_msgs(nc.jetstream(), 2)
    assert [json.loads(x.data)["username"] for x in msgs] == ["before", "after"]
    assert _value(m, "rosey_events_dropped_total", subject=contract.USER_JOINED,
                  reason="unencodable") == 1
    assert _value(m, "rosey_events_published_total", subject=contract.USER_JOINED) == 2
    assert _value(m, "rosey_outbox_depth") == 0
