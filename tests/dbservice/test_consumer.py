"""The JetStream consumer on its own, against a real nats-server and a real SQLite file."""

from __future__ import annotations

import asyncio
import json

import nats

from rosey import contract
from rosey.config import DbSettings
from rosey.dbservice.consumer import JetStreamConsumer
from rosey.metrics import DbMetrics
from rosey.store.store import Store
from tests.support.wait import eventually

FETCH_TIMEOUT = 0.1  # the service waits 1 s; shortened so a short test sees many timeouts
EVENTS = 60
IDLE_SECONDS = 30 * FETCH_TIMEOUT


async def test_a_quiet_consumer_never_restarts(nats_server, tmp_path):
    """Light traffic, then idle: every fetch that brings nothing (each event is followed by
    one, and an idle consumer makes one per FETCH_TIMEOUT) is "nothing yet", whichever
    TimeoutError nats-py raises for it, never a restart (rosey_consumer_restarts_total)."""
    metrics = DbMetrics()
    settings = DbSettings(nats_url=nats_server.url, db_path=tmp_path / "rosey.db", metrics_port=0)
    nc = await nats.connect(nats_server.url)
    stop = asyncio.Event()
    try:
        async with Store(settings.db_path) as store:
            consumer = JetStreamConsumer(nc=nc, store=store, metrics=metrics, settings=settings,
                                         fetch_timeout=FETCH_TIMEOUT)
            running = asyncio.create_task(consumer.run(stop))
            await eventually(lambda: consumer.bound, what="consumer bound")
            js = nc.jetstream()
            for i in range(EVENTS):  # one at a time: each batch is followed by an empty fetch
                await js.publish(contract.MESSAGE_LOG,
                                 json.dumps({"username": "q", "message": str(i)}).encode())
                await eventually(lambda n=i + 1: consumer.applier.applied == n)
            # idle for many fetch timeouts: the loop keeps running and never rebinds
            done, _ = await asyncio.wait({running}, timeout=IDLE_SECONDS)
            assert not done, running.exception()
            stop.set()
            await asyncio.wait_for(running, 10)
    finally:
        stop.set()
        await nc.close()
    assert consumer.applier.applied == EVENTS
    assert metrics.registry.get_sample_value("rosey_consumer_restarts_total") == 0
