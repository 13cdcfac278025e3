"""A lost database comes back from a backup, and the stream fills in the rest exactly once.

Real processes, as an operator runs them: ``rosey-db`` with backups on, ``rosey backup`` asking
it for one while events flow, the file deleted (a lost volume), ``rosey restore`` putting the
backup back, and ``rosey-db`` started again, which finds its consumer ahead of the file and
has the stream replay everything after the backup's sequence. Every acknowledged event must
then be in SQLite exactly once. The backup comes from the directory or from a real
S3-compatible server (moto's server mode).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import nats
import pytest

from rosey import contract
from tests.resilience.conftest import AckedPublisher, read_counts
from tests.resilience.timing import stream_exists
from tests.support.procs import start_db_process, stop_process
from tests.support.s3server import CREDENTIALS, s3_server
from tests.support.wait import eventually

N = 3_000
#: events published only once the backup is written: the stream must replay at least these
AFTER = 500


def rosey(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rosey.cli", *args], capture_output=True,
                          text=True, timeout=120, env={**os.environ, **env})


async def _acked_floor(admin) -> tuple[int, int]:
    js = admin.jetstream()
    info = await js.consumer_info(contract.STREAM_NAME, contract.CONSUMER_NAME)
    stream = await js.stream_info(contract.STREAM_NAME)
    return int(info.ack_floor.stream_seq), int(stream.state.last_seq)


@pytest.mark.parametrize("source", ["dir", "s3"])
async def test_backup_more_events_lose_the_file_restore_and_every_event_is_there_once(
        secured_nats_server, tmp_path, source):
    server = secured_nats_server
    db = tmp_path / "data" / "rosey.db"
    db.parent.mkdir()
    backups = tmp_path / "backups"
    backups.mkdir()
    log = tmp_path / "db.log"
    with s3_server(tmp_path / "moto.log") as s3:
        env = {**server.process_env("dbservice"), **CREDENTIALS,
               "ROSEY_BACKUP_DIR": str(backups), "ROSEY_BACKUP_INTERVAL_SECONDS": "0",
               "ROSEY_BACKUP_S3_URL": f"s3://{s3.bucket}/rosey",
               "ROSEY_BACKUP_S3_ENDPOINT": s3.endpoint}
        proc = start_db_process(server.url, db, log_path=log, extra_env=env)
        nc = await nats.connect(server.url, max_reconnect_attempts=-1,
                                **server.client_options("bot"))
        admin = await nats.connect(server.url, **server.client_options("dbservice"))
        publisher = AckedPublisher(nc)
        try:
            await eventually(lambda: stream_exists(nc), timeout=20, what="stream created")
            await publisher.publish_range(0, N // 2)
            await eventually(lambda: read_counts(db, publisher.user)[0] >= N // 2, timeout=60,
                             what="the first half applied")
            # the backup is taken while more events stream in (how many it catches depends on
            # how fast the CLI starts), and LATER more come after it for certain
            sending = asyncio.create_task(publisher.publish_range(N // 2, N - AFTER))
            made = await asyncio.to_thread(rosey, "backup", "--nats-url", server.url,
                                           env=server.process_env("operator"))
            assert made.returncode == 0, made.stderr
            assert made.stdout.startswith("rosey backup: wrote ") and "stream sequence" in made.stdout
            await asyncio.wait_for(sending, 120)
            await publisher.publish_range(N - AFTER, N)
            await eventually(lambda: read_counts(db, publisher.user)[0] >= N, timeout=90,
                             what="every event applied")
            # a restore while the service holds the file is refused, and changes nothing
            busy = await asyncio.to_thread(rosey, "restore", str(backups), "--db-path", str(db),
                                           env=env)
            assert busy.returncode == 1 and "running DatabaseService" in busy.stderr
            assert busy.stderr.count("\n") == 1
            assert await asyncio.to_thread(stop_process, proc) == 0
            assert read_counts(db, publisher.user) == (N, N, N)

            for lost in db.parent.iterdir():  # the volume is lost
                lost.unlink()
            spec = str(backups) if source == "dir" else f"s3://{s3.bucket}/rosey/"
            restored = await asyncio.to_thread(rosey, "restore", spec, "--db-path", str(db),
                                               env=env)
            assert restored.returncode == 0, restored.stderr
            seq = int(restored.stdout.split("stream sequence ")[1].split(",")[0])
            before = read_counts(db, publisher.user)[0]
            assert N // 2 <= before <= N - AFTER and seq == before  # one event per sequence

            proc = start_db_process(server.url, db, log_path=log, extra_env=env)
            await eventually(lambda: read_counts(db, publisher.user)[0] >= N, timeout=90,
                             what="the stream replayed what came after the backup")
            await eventually(lambda: _all_acknowledged(admin), timeout=30,
                             what="the consumer acknowledged everything")
            assert read_counts(db, publisher.user) == (N, N, N)
        finally:
            await nc.close()
            await admin.close()
            assert await asyncio.to_thread(stop_process, proc) == 0
    assert read_counts(db, publisher.user) == (N, N, N)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    behind = [e for e in lines if e.get("event") == "database_behind_consumer"]
    # the replay starts at the file's floor (at most the backup's sequence + 1); what lies
    # between is in applied_events and recognised as already applied
    assert len(behind) == 1 and behind[0]["highest_applied"] == seq
    assert 1 <= behind[0]["replay_from"] <= seq + 1
    assert not [e for e in lines if e.get("event") == "replay_gap"]


async def _all_acknowledged(admin) -> bool:
    floor, last = await _acked_floor(admin)
    return floor == last


async def test_restore_if_missing_starts_empty_without_a_backup_and_leaves_a_file_alone(
        tmp_path):
    db = tmp_path / "rosey.db"
    empty = tmp_path / "backups"
    empty.mkdir()
    first = rosey("restore", str(empty), "--db-path", str(db), "--if-missing", env={})
    assert first.returncode == 0 and "no backup" in first.stdout and not db.exists()
    db.write_bytes(b"not touched")
    second = rosey("restore", str(Path("/nonexistent")), "--db-path", str(db), "--if-missing",
                   env={})
    assert second.returncode == 0 and "exists" in second.stdout
    assert db.read_bytes() == b"not touched"
    refused = rosey("restore", str(empty), "--db-path", str(tmp_path / "other.db"), env={})
    assert refused.returncode == 1 and "no usable backup" in refused.stderr
