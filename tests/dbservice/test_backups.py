"""The DatabaseService's backups against a real nats-server, real files and a real
S3-compatible server (moto's server mode): on demand over ``rosey.db.admin.backup``, on a
schedule keeping the newest N, and bad targets (missing, full, unreachable) that are answered,
logged and counted while ingestion goes on."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import nats
import pytest

from rosey import contract
from rosey.config import BackupSettings, DbSettings
from rosey.contract.admin import ADMIN_BACKUP
from rosey.dbservice.service import DatabaseService
from rosey.metrics import DbMetrics
from rosey.store.backup import check_backup, list_backups
from tests.support.db import request_json, rows
from tests.support.procs import free_port
from tests.support.s3server import CREDENTIALS, S3Server, s3_server
from tests.support.tmpfs import tmpfs
from tests.support.wait import eventually


@pytest.fixture
def s3(tmp_path, monkeypatch) -> Iterator[S3Server]:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    with s3_server(tmp_path / "moto.log") as server:
        yield server


@asynccontextmanager
async def service(nats_url: str, db: Path, backup: BackupSettings) -> AsyncIterator[
        DatabaseService]:
    settings = DbSettings(nats_url=nats_url, db_path=db, metrics_port=0,
                          metrics_host="127.0.0.1", backup=backup)
    async with DatabaseService(settings=settings, metrics=DbMetrics(),
                               serve_metrics=False) as svc:
        await svc.wait_ready()
        yield svc


def sample(svc: DatabaseService, name: str, **labels: str) -> float | None:
    return svc.metrics.registry.get_sample_value(name, labels)


async def chat(nc, n: int, start: int = 0) -> None:
    js = nc.jetstream()
    for i in range(start, start + n):
        await js.publish(contract.MESSAGE_LOG,
                         json.dumps({"username": "bk", "message": f"m{i}"}).encode())


def lines(db: Path) -> int:
    return int(rows(db, "SELECT count(*) FROM recent_chat")[0][0])


async def test_a_backup_on_demand_goes_to_the_directory_and_the_bucket(nats_server, tmp_path,
                                                                      s3):
    backups = tmp_path / "backups"
    backups.mkdir()
    db = tmp_path / "rosey.db"
    settings = BackupSettings(directory=backups, s3_url=f"s3://{s3.bucket}/channel-a",
                              s3_endpoint=s3.endpoint, interval_seconds=0, keep=2)
    async with service(nats_server.url, db, settings) as svc:
        nc = await nats.connect(nats_server.url)
        try:
            await chat(nc, 50)
            await eventually(lambda: lines(db) == 50, what="50 lines applied")
            reply = await request_json(nc, ADMIN_BACKUP, {}, timeout=30)
            assert reply["success"] is True, reply
            info = check_backup(Path(reply["file"]))
            assert info.seq == reply["seq"] == 50 and info.size == reply["bytes"]
            key = f"channel-a/{info.path.name}"
            assert reply["s3"] == f"s3://{s3.bucket}/{key}"
            head = s3.client().head_object(Bucket=s3.bucket, Key=key)
            assert head["Metadata"]["rosey-seq"] == "50"
            assert head["ContentLength"] == info.size
            # two more: each target keeps the newest two
            for k in (51, 52):
                await chat(nc, 1, start=k)
                await eventually(lambda k=k: lines(db) == k, what=f"{k} lines applied")
                assert (await request_json(nc, ADMIN_BACKUP, {}, timeout=30))["success"]
        finally:
            await nc.close()
        assert len(list_backups(backups)) == 2
        assert len(s3.keys("channel-a/")) == 2
        assert sample(svc, "rosey_backups_total", target="dir") == 3
        assert sample(svc, "rosey_backups_total", target="s3") == 3
        assert sample(svc, "rosey_backup_last_stream_sequence") == 52
        assert (sample(svc, "rosey_backup_age_seconds") or 1e9) < 60


async def test_scheduled_backups_keep_the_newest_n_while_events_flow(nats_server, tmp_path):
    backups = tmp_path / "backups"
    backups.mkdir()
    db = tmp_path / "rosey.db"
    settings = BackupSettings(directory=backups, interval_seconds=0.3, keep=2)
    async with service(nats_server.url, db, settings) as svc:
        nc = await nats.connect(nats_server.url)
        try:
            await chat(nc, 200)
            await eventually(lambda: (sample(svc, "rosey_backups_total", target="dir") or 0) >= 4,
                             timeout=30, what="four scheduled backups")
        finally:
            await nc.close()
        assert sample(svc, "rosey_backup_interval_seconds") == 0.3
    kept = list_backups(backups)
    assert len(kept) == 2
    assert all(check_backup(p).schema_version > 0 for p in kept)


@pytest.fixture
def small_tmpfs(tmp_path) -> Iterator[Path]:
    with tmpfs(tmp_path / "small", size="64k") as mount:
        yield mount


@pytest.mark.parametrize("target", ["missing", "full", "unreachable_bucket"])
async def test_a_bad_target_is_answered_and_counted_and_ingestion_goes_on(
        nats_server, tmp_path, small_tmpfs, target, monkeypatch):
    db = tmp_path / "rosey.db"
    backups = tmp_path / "backups"
    backups.mkdir()
    if target == "missing":
        settings = BackupSettings(directory=tmp_path / "unmounted", interval_seconds=0)
        label, reason = "dir", "missing"
    elif target == "full":
        settings = BackupSettings(directory=small_tmpfs, interval_seconds=0)
        label, reason = "dir", "full"
    else:
        for name, value in CREDENTIALS.items():
            monkeypatch.setenv(name, value)
        settings = BackupSettings(directory=backups, s3_url="s3://nowhere/x",
                                  s3_endpoint=f"http://127.0.0.1:{free_port()}",
                                  interval_seconds=0)
        label, reason = "s3", "upload"
    async with service(nats_server.url, db, settings) as svc:
        nc = await nats.connect(nats_server.url)
        try:
            await chat(nc, 3_000 if target == "full" else 10)  # "full": more than 64 KiB
            reply = await request_json(nc, ADMIN_BACKUP, {}, timeout=60)
            assert reply["success"] is False and reply["reason"] == reason, reply
            assert "\n" not in reply["error"]
            await chat(nc, 10, start=10_000)
            n = 3_010 if target == "full" else 20
            await eventually(lambda: lines(db) == n, timeout=30,
                             what="events after the failed backup applied")
        finally:
            await nc.close()
        assert sample(svc, "rosey_backup_failures_total", target=label, reason=reason) == 1
        assert svc.ready
    if target == "full":
        assert list(small_tmpfs.iterdir()) == []
    if target == "unreachable_bucket":  # the directory's copy was written before the upload
        assert len(list_backups(backups)) == 1


async def test_without_a_target_a_backup_request_says_so(nats_server, tmp_path):
    async with service(nats_server.url, tmp_path / "rosey.db", BackupSettings()) as svc:
        nc = await nats.connect(nats_server.url)
        try:
            reply = await request_json(nc, ADMIN_BACKUP, {"unknown": "ignored"})
        finally:
            await nc.close()
        assert reply == {"success": False, "reason": "disabled", "error": reply["error"]}
        assert "ROSEY_BACKUP_DIR" in reply["error"]
        assert sample(svc, "rosey_backup_interval_seconds") == 0
