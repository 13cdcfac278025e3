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


def _file_holding_the_first_ten(path) -> None:
    """What the older version's file held: m0..m9 (stream sequences 1-10) applied."""
    import sqlite3

    from rosey.store.schema import configure_connection, migrate

    conn = sqlite3.connect(path, isolation_level=None)
    configure_connection(conn, writer=True)
    migrate(conn)
    conn.executemany("INSERT INTO recent_chat (timestamp, username, message) VALUES (1, 'old', ?)",
                     [(f"m{i}",) for i in range(10)])
    conn.execute("UPDATE ingest_state SET value = 10 WHERE key = 'applied_floor'")
    conn.close()


async def test_an_explicit_ack_durable_from_an_older_version_is_migrated_without_loss(
        nats_server, tmp_path):
    """An existing durable with AckPolicy.EXPLICIT (JetStream cannot change the policy in
    place) is recreated with AckPolicy.ALL from its ack floor: the events it had delivered
    but not acknowledged, and the ones never delivered, are each applied exactly once."""
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    from rosey.config import StreamSettings
    from rosey.dbservice.service import DatabaseService
    from rosey.stream import ensure_stream
    from tests.support.db import rows

    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    try:
        await ensure_stream(js, StreamSettings(), update=True)
        for i in range(30):
            await js.publish(contract.MESSAGE_LOG,
                             json.dumps({"username": "old", "message": f"m{i}"}).encode())
        await js.add_consumer(contract.STREAM_NAME, ConsumerConfig(
            durable_name=contract.CONSUMER_NAME, ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL, ack_wait=30, max_deliver=-1))
        psub = await js.pull_subscribe_bind(durable=contract.CONSUMER_NAME,
                                            stream=contract.STREAM_NAME)
        # the old version applied and acknowledged 10, and held 10 more when it went away
        for msg in await psub.fetch(10, timeout=5):
            await msg.ack()
        assert len(await psub.fetch(10, timeout=5)) == 10
        await psub.unsubscribe()
        await nc.flush()

        settings = DbSettings(nats_url=nats_server.url, db_path=tmp_path / "rosey.db",
                              metrics_port=0)
        _file_holding_the_first_ten(settings.db_path)
        async with DatabaseService(settings=settings, serve_metrics=False) as svc:
            await svc.wait_ready()

            async def migrated_and_caught_up() -> bool:
                i = await js.consumer_info(contract.STREAM_NAME, contract.CONSUMER_NAME)
                return (i.config.ack_policy in (AckPolicy.ALL, "all")
                        and i.ack_floor.stream_seq == 30 and i.num_ack_pending == 0)
            await eventually(migrated_and_caught_up, timeout=20, what="migrated, all acked")
        # from the ack floor (10): the 10 held and the 10 never delivered, once each; the
        # first ten are the file's own, not applied again
        assert rows(settings.db_path, "SELECT count(*), count(DISTINCT message), min(message)"
                                      " FROM recent_chat") == [(30, 30, "m0")]
        assert rows(settings.db_path, "SELECT total_chat_lines FROM user_stats") == [(20,)]
    finally:
        await nc.close()


def test_a_consumer_with_events_pending_at_or_below_its_ack_floor_is_recognised() -> None:
    """The state nats-server 2.9.10 restored after a SIGKILL (one run in seven of
    test_nats_restart_mid_stream_loses_no_acknowledged_event): everything acked up to the
    stream's last event, yet 640 events pending, redelivered every ack wait with every ack
    ignored. The consumer is recreated from its floor when this holds."""
    from nats.js.api import ConsumerInfo, SequenceInfo

    from rosey.dbservice.consumer import acks_ignored, consumer_config

    def info(delivered: int, floor: int, ack_pending: int) -> ConsumerInfo:
        return ConsumerInfo(stream_name=contract.STREAM_NAME, name=contract.CONSUMER_NAME,
                            config=consumer_config(0), created=0.0,
                            delivered=SequenceInfo(consumer_seq=delivered, stream_seq=delivered),
                            ack_floor=SequenceInfo(consumer_seq=floor, stream_seq=floor),
                            num_ack_pending=ack_pending)

    assert acks_ignored(info(delivered=8000, floor=8000, ack_pending=640))
    assert acks_ignored(info(delivered=8000, floor=7900, ack_pending=101))
    assert not acks_ignored(info(delivered=8000, floor=7900, ack_pending=100))  # all above it
    assert not acks_ignored(info(delivered=8000, floor=8000, ack_pending=0))
    assert not acks_ignored(info(delivered=0, floor=0, ack_pending=0))
