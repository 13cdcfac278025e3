"""A batch is acknowledged only after its commit: while the database refuses to commit, the
server sees every fetched event unacknowledged, and a crash at that point loses nothing.

Real processes: ``python -m rosey.db`` against the real nats-server; the test holds SQLite's
write lock from a connection of its own, so every commit attempt of the service fails with
"database is locked" after the busy timeout.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3

import nats
from nats.js.api import ConsumerInfo

from rosey import contract
from tests.resilience.conftest import AckedPublisher, read_counts
from tests.support.procs import start_db_process, stop_process
from tests.support.wait import eventually

N = 100
ENV = {"ROSEY_ACK_WAIT_SECONDS": "2"}  # a killed service's batch comes back quickly


async def test_nothing_is_acknowledged_before_its_commit_and_a_crash_then_loses_nothing(
        secured_nats_server, tmp_path):
    nats_server = secured_nats_server
    db = tmp_path / "rosey.db"
    env = {**ENV, **nats_server.process_env("dbservice")}
    nc = await nats.connect(nats_server.url, **nats_server.client_options("bot"))
    admin = await nats.connect(nats_server.url, **nats_server.client_options("dbservice"))
    js = admin.jetstream()

    async def consumer() -> ConsumerInfo | None:
        try:
            return await js.consumer_info(contract.STREAM_NAME, contract.CONSUMER_NAME)
        except nats.errors.Error:
            return None

    # a first run creates the file, the stream and the durable consumer, then stops
    proc = start_db_process(nats_server.url, db, log_path=tmp_path / "first.log", extra_env=env)
    try:
        await eventually(consumer, timeout=20, what="durable consumer created")
        assert await asyncio.to_thread(stop_process, proc) == 0
        publisher = AckedPublisher(nc, user="held")
        await publisher.publish_range(0, N)  # a backlog: the next run fetches all of it at once

        lock = sqlite3.connect(db, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")  # SQLite's write lock: every commit now fails
        try:
            log = tmp_path / "blocked.log"
            proc = start_db_process(nats_server.url, db, log_path=log, extra_env=env)
            await eventually(lambda: log.exists() and '"batch_rollback"' in log.read_text(),
                             timeout=30, what="a commit refused while the lock is held")
            info = await consumer()
            assert info is not None and info.ack_floor is not None
            # everything was fetched, nothing was acknowledged
            assert (info.delivered.stream_seq, info.num_ack_pending, info.ack_floor.stream_seq,
                    info.num_pending) == (N, N, 0, 0)
            proc.send_signal(signal.SIGKILL)
            assert await asyncio.to_thread(proc.wait, 10) == -signal.SIGKILL
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        assert read_counts(db, "held") == (0, 0, 0)
        info = await consumer()
        assert info is not None and info.ack_floor is not None and info.ack_floor.stream_seq == 0

        # a new run gets the unacknowledged batch back and applies each event exactly once
        proc = start_db_process(nats_server.url, db, log_path=tmp_path / "after.log",
                                extra_env=env)

        async def all_acknowledged() -> bool:
            i = await consumer()
            return bool(i and i.ack_floor and i.ack_floor.stream_seq == N
                        and i.num_ack_pending == 0)
        await eventually(all_acknowledged, timeout=60, what="every event acknowledged")
        assert read_counts(db, "held") == (N, N, N)
        assert await asyncio.to_thread(stop_process, proc) == 0
        assert read_counts(db, "held") == (N, N, N)
    finally:
        await nc.close()
        await admin.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
