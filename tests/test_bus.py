"""rosey.bus against a real nats-server: first-connect backoff and hint, reconnection after a
long outage, and message context for log lines."""

from __future__ import annotations

import asyncio
import random

import pytest
import structlog
from prometheus_client import CollectorRegistry, Gauge

from rosey import bus
from rosey.errors import ConnectAborted
from tests.support.procs import free_port
from tests.support.wait import eventually


def test_retry_delays_double_with_jitter_up_to_the_cap():
    delays = bus.retry_delays(rng=random.Random(7))
    got = [next(delays) for _ in range(12)]
    for n, delay in enumerate(got):
        expected = min(bus.FIRST_RETRY_SECONDS * 2 ** n, bus.MAX_RETRY_SECONDS)
        assert 0.8 * expected <= delay <= min(1.2 * expected, bus.MAX_RETRY_SECONDS)
    assert max(got) <= bus.MAX_RETRY_SECONDS and got[-1] >= 0.8 * bus.MAX_RETRY_SECONDS
    assert len(set(got[-4:])) > 1  # jittered, not in lockstep


async def test_unreachable_nats_hints_once_and_backs_off_until_stopped():
    url = f"nats://127.0.0.1:{free_port()}"
    stop = asyncio.Event()
    with structlog.testing.capture_logs() as logs:
        task = asyncio.create_task(bus.connect(url, name="t", stop=stop))
        await eventually(lambda: sum(e["event"] == "nats_connect_failed" for e in logs) >= 2,
                         timeout=20, what="three failed rounds")
        stop.set()
        with pytest.raises(ConnectAborted):
            await task
    hints = [e for e in logs if e["event"] == "nats_unreachable"]
    assert len(hints) == 1 and hints[0]["log_level"] == "warning"
    assert hints[0]["hint"].startswith(f"is nats-server running at {url}?")
    assert "Connect call failed" in hints[0]["error"]  # the real cause, not "no servers"
    # nats-py's own per-attempt errors are not logged on top of ours
    assert not [e for e in logs if e["event"] == "nats_error"]
    waits = [e["retry_in"] for e in logs if e["event"] in ("nats_unreachable", "nats_connect_failed")]
    for n, wait in enumerate(waits):  # growing: 0.2, 0.4, 0.8 ... seconds, +-20 %
        expected = min(bus.FIRST_RETRY_SECONDS * 2 ** n, bus.MAX_RETRY_SECONDS)
        assert 0.8 * expected - 0.01 <= wait <= 1.2 * expected + 0.01


async def test_connects_when_nats_appears_and_reconnects_after_a_long_outage(nats_server):
    nats_server.stop()
    gauge = Gauge("connected", "", registry=CollectorRegistry())
    with structlog.testing.capture_logs() as logs:
        task = asyncio.create_task(bus.connect(nats_server.url, name="t", connected=gauge))
        await eventually(lambda: any(e["event"] == "nats_unreachable" for e in logs), timeout=10)
        await asyncio.to_thread(nats_server.start)
        nc = await asyncio.wait_for(task, 30)
        try:
            assert gauge._value.get() == 1
            await asyncio.to_thread(nats_server.stop)
            # well past nats-py's own retry budget for a first connect: it must keep trying
            await eventually(lambda: sum(e["event"] == "nats_reconnect_failed" for e in logs) >= 3,
                             timeout=20, what="several failed reconnect attempts")
            assert gauge._value.get() == 0
            await asyncio.to_thread(nats_server.start)
            # the reconnected callback logs after nats-py reports the connection up: wait for
            # the line itself (reading it at is_connected raced the callback once)
            await eventually(lambda: nc.is_connected and any(
                e["event"] == "nats_reconnected" for e in logs), timeout=30, what="reconnected")
        finally:
            await nc.close()
    failed = [e for e in logs if e["event"] == "nats_reconnect_failed"]
    assert [e["log_level"] for e in failed][:2] == ["warning", "debug"]  # one warning per outage
    [back] = [e for e in logs if e["event"] == "nats_reconnected"]
    assert back["failed_attempts"] >= 3


async def test_a_wrapped_handler_logs_with_the_message_subject(nats_server):
    nc = await bus.connect(nats_server.url, name="t")
    seen = asyncio.Event()

    async def handler(msg) -> None:
        structlog.get_logger().info("handled")
        seen.set()

    try:
        with structlog.testing.capture_logs(
                processors=[structlog.contextvars.merge_contextvars]) as logs:
            await nc.subscribe("rosey.test.ctx", cb=bus.with_message_context(handler))
            await nc.publish("rosey.test.ctx", b"{}")
            await asyncio.wait_for(seen.wait(), 10)
            structlog.get_logger().info("outside")
    finally:
        await nc.close()
    handled, outside = [e for e in logs if e["event"] in ("handled", "outside")]
    assert handled["subject"] == "rosey.test.ctx"
    assert "subject" not in outside
