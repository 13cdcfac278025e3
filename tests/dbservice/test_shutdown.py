"""Stopping while the database fails: both ingest modes give up the batch and return."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time

import nats
import pytest

from rosey import contract
from rosey.config import DbSettings
from rosey.dbservice.service import DatabaseService, ServiceState
from rosey.metrics import DbMetrics
from tests.support.db import rows
from tests.support.wait import eventually

#: SQLite's busy timeout here (the service's default is 5 s): one commit attempt against the
#: held lock takes this long, so the deadline is counted in it
BUSY_TIMEOUT = 1.0
#: one commit attempt and the closing checkpoint, each up to the busy timeout, and one more of
#: slack: a stop that tried the commit a second time would miss it
STOP_DEADLINE = 3 * BUSY_TIMEOUT


@pytest.mark.parametrize("server_fixture", ["nats_server", "core_nats_server"])
async def test_stop_with_a_failing_database_returns_within_a_deadline(
        request, server_fixture, tmp_path):
    server = request.getfixturevalue(server_fixture)
    db = tmp_path / "rosey.db"
    metrics = DbMetrics()
    svc = DatabaseService(settings=DbSettings(nats_url=server.url, db_path=db, metrics_port=0),
                          metrics=metrics, serve_metrics=False, busy_timeout=BUSY_TIMEOUT)
    await svc.start()
    nc = await nats.connect(server.url)
    lock = sqlite3.connect(db, isolation_level=None)
    try:
        await svc.wait_ready()
        assert svc.jetstream == (server_fixture == "nats_server")
        lock.execute("BEGIN IMMEDIATE")  # every commit now fails with "database is locked"
        for i in range(3):
            await nc.publish(contract.MESSAGE_LOG,
                             json.dumps({"username": "stuck", "message": str(i)}).encode())
        await nc.flush()
        await eventually(lambda: (metrics.registry.get_sample_value(
            "rosey_db_apply_errors_total") or 0) >= 1, timeout=20, what="a commit refused")
        started = time.monotonic()
        await asyncio.wait_for(svc.aclose(), STOP_DEADLINE + 5)
        assert time.monotonic() - started < STOP_DEADLINE
        assert svc.state is ServiceState.CLOSED
    finally:
        if lock.in_transaction:
            lock.execute("ROLLBACK")
        lock.close()
        await nc.close()
        await svc.aclose()
    assert rows(db, "SELECT count(*) FROM recent_chat") == [(0,)]
