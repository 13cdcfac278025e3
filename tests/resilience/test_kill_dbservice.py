"""Killing the DatabaseService (SIGKILL, any moment) or NATS loses and duplicates nothing.

Real processes: the DatabaseService runs as ``python -m rosey.db``; nats-server is the real
binary with a file store that survives its restarts.
"""

from __future__ import annotations

import asyncio
import signal

import nats
import pytest

from rosey import contract
from tests.resilience.conftest import AckedPublisher, read_counts
from tests.resilience.timing import stream_exists
from tests.support.procs import start_db_process, stop_process
from tests.support.wait import eventually

N = 20_000


async def test_sigkill_dbservice_three_times_during_20000_events_applies_each_exactly_once(
        secured_nats_server, tmp_path):
    nats_server = secured_nats_server
    db = tmp_path / "rosey.db"
    log = tmp_path / "db.log"
    env = nats_server.process_env("dbservice")
    proc = start_db_process(nats_server.url, db, log_path=log, extra_env=env)
    nc = await nats.connect(nats_server.url, max_reconnect_attempts=-1,
                            **nats_server.client_options("bot"))
    admin = await nats.connect(nats_server.url, max_reconnect_attempts=-1,
                               **nats_server.client_options("dbservice"))
    publisher = AckedPublisher(nc)
    try:
        # the first process creates the stream; publish only once it exists
        await eventually(lambda: stream_exists(nc), timeout=20, what="stream created")
        sending = asyncio.create_task(publisher.publish_range(0, N))
        for kill_at in (N // 5, N // 2, 4 * N // 5):
            # wait until the service is busy mid-stream, then kill it without warning
            await eventually(lambda k=kill_at: read_counts(db, publisher.user)[0] >= k * 0.6,
                             timeout=60, what=f"{kill_at * 0.6:.0f} events applied")
            proc.send_signal(signal.SIGKILL)
            assert await asyncio.to_thread(proc.wait, 10) == -signal.SIGKILL
            proc = start_db_process(nats_server.url, db, log_path=log, extra_env=env)
        await asyncio.wait_for(sending, 120)
        assert publisher.acked == set(range(N))
        await eventually(lambda: read_counts(db, publisher.user)[0] >= N, timeout=90,
                         what="all events applied")
        await _settle(admin)
        assert read_counts(db, publisher.user) == (N, N, N)
    finally:
        await nc.close()
        await admin.close()
        assert await asyncio.to_thread(stop_process, proc) == 0
    assert read_counts(db, publisher.user) == (N, N, N)


async def test_nats_restart_mid_stream_loses_no_acknowledged_event(secured_nats_server,
                                                                  tmp_path):
    nats_server = secured_nats_server
    db = tmp_path / "rosey.db"
    proc = start_db_process(nats_server.url, db, log_path=tmp_path / "db.log",
                            extra_env=nats_server.process_env("dbservice"))
    nc = await nats.connect(nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2,
                            **nats_server.client_options("bot"))
    admin = await nats.connect(nats_server.url, max_reconnect_attempts=-1,
                               reconnect_time_wait=0.2, **nats_server.client_options("dbservice"))
    publisher = AckedPublisher(nc)
    n = 8_000
    try:
        await eventually(lambda: stream_exists(nc), timeout=20, what="stream created")
        sending = asyncio.create_task(publisher.publish_range(0, n))
        await eventually(lambda: len(publisher.acked) >= n // 3, timeout=60)
        await asyncio.to_thread(nats_server.restart, kill=True)  # SIGKILL nats-server itself
        await eventually(lambda: len(publisher.acked) >= 2 * n // 3, timeout=60)
        await asyncio.to_thread(nats_server.restart)               # and a clean restart
        await asyncio.wait_for(sending, 120)
        await eventually(lambda: read_counts(db, publisher.user)[0] >= n, timeout=90,
                         what="every acknowledged event applied")
        await _settle(admin)
        assert read_counts(db, publisher.user) == (n, n, n)
    finally:
        await nc.close()
        await admin.close()
        assert await asyncio.to_thread(stop_process, proc) == 0


async def test_sigterm_mid_stream_commits_and_acknowledges_everything_fetched(
        secured_nats_server, tmp_path):
    nats_server = secured_nats_server
    db = tmp_path / "rosey.db"
    env = nats_server.process_env("dbservice")
    nc = await nats.connect(nats_server.url, **nats_server.client_options("bot"))
    admin = await nats.connect(nats_server.url, **nats_server.client_options("dbservice"))
    publisher = AckedPublisher(nc, window=256)
    n = 10_000
    try:
        proc = start_db_process(nats_server.url, db, log_path=tmp_path / "db.log", extra_env=env)
        await eventually(lambda: stream_exists(nc), timeout=20, what="stream created")
        await asyncio.to_thread(stop_process, proc)
        await publisher.publish_range(0, n)  # a backlog waiting in the stream
        proc = start_db_process(nats_server.url, db, log_path=tmp_path / "db.log", extra_env=env)
        await eventually(lambda: read_counts(db, publisher.user)[0] >= n // 4, timeout=60)
        assert await asyncio.to_thread(stop_process, proc) == 0
        applied = read_counts(db, publisher.user)[0]
        assert 0 < applied < n, "stopped mid-stream"
        info = await admin.jetstream().consumer_info(contract.STREAM_NAME, contract.CONSUMER_NAME)
        assert info.num_ack_pending == 0, "something fetched was left unacknowledged"
        assert info.ack_floor.stream_seq == info.delivered.stream_seq
        assert info.num_pending == n - applied
        # and the rest arrives exactly once after a restart
        proc = start_db_process(nats_server.url, db, log_path=tmp_path / "db.log", extra_env=env)
        await eventually(lambda: read_counts(db, publisher.user)[0] >= n, timeout=60)
        assert await asyncio.to_thread(stop_process, proc) == 0
        assert read_counts(db, publisher.user) == (n, n, n)
    finally:
        await nc.close()
        await admin.close()


async def _settle(nc) -> None:
    """Everything in the stream has been delivered and acknowledged."""
    js = nc.jetstream()

    async def done() -> bool:
        info = await js.consumer_info(contract.STREAM_NAME, contract.CONSUMER_NAME)
        return info.num_pending == 0 and info.num_ack_pending == 0
    await eventually(done, timeout=60, what="consumer caught up")


pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
