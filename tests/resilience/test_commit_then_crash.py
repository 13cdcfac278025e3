"""The narrowest window: a batch committed to SQLite, then the process dies before the ack.

JetStream redelivers the batch after the ack wait; the new service recognises every event by
its stream sequence and acknowledges it without applying it again.
"""

from __future__ import annotations

import json

import nats

from rosey import contract
from rosey.config import DbSettings
from rosey.dbservice.ingest import incoming_from
from rosey.dbservice.service import DatabaseService
from rosey.metrics import DbMetrics
from rosey.store.store import Outcome, Store
from tests.support.db import rows
from tests.support.wait import eventually


async def test_batch_committed_but_not_acknowledged_is_not_applied_again(secured_nats_server,
                                                                        tmp_path):
    nats_server = secured_nats_server
    db = tmp_path / "rosey.db"
    settings = DbSettings(nats_url=nats_server.url, db_path=db, metrics_port=0,
                          ack_wait_seconds=1.0, nats_auth=nats_server.auth("dbservice"))
    # a first service creates the stream and the durable consumer (ack wait 1 s), then stops
    async with DatabaseService(settings=settings, serve_metrics=False) as svc:
        await svc.wait_ready()
    nc = await nats.connect(nats_server.url, **nats_server.client_options("bot"))
    consumer = await nats.connect(nats_server.url, **nats_server.client_options("dbservice"))
    try:
        js = nc.jetstream()
        for i in range(10):
            await js.publish(contract.MESSAGE_LOG,
                             json.dumps({"username": "w", "message": f"m{i}"}).encode())
        # do what the consumer does, and "crash" between commit and ack
        psub = await consumer.jetstream().pull_subscribe_bind(
            durable=contract.CONSUMER_NAME, stream=contract.STREAM_NAME)
        msgs = await psub.fetch(10, timeout=5)
        assert len(msgs) == 10
        async with Store(db) as store:
            items = [incoming_from(m.subject, m.data, seq=m.metadata.sequence.stream,
                                   received=m.metadata.timestamp.timestamp()) for m in msgs]
            assert await store.apply_batch(items) == [Outcome.APPLIED] * 10
        await psub.unsubscribe()
    finally:
        await nc.close()
        await consumer.close()  # the unacknowledged batch stays pending on the server

    metrics = DbMetrics()
    async with DatabaseService(settings=settings, metrics=metrics,
                               serve_metrics=False) as svc:
        def redelivered() -> float:
            return metrics.registry.get_sample_value(
                "rosey_events_redelivered_total", {"subject": contract.MESSAGE_LOG}) or 0

        await eventually(lambda: redelivered() == 10, timeout=20, what="10 redeliveries seen")
        assert rows(db, "SELECT count(*), (SELECT total_chat_lines FROM user_stats"
                        " WHERE username = 'w') FROM recent_chat") == [(10, 10)]
        assert metrics.registry.get_sample_value(
            "rosey_events_processed_total", {"subject": contract.MESSAGE_LOG}) == 0
