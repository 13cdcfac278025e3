"""The DatabaseService's backups: on a schedule, and on demand over ``rosey.db.admin.backup``.

Each backup is written by :func:`rosey.store.backup.write_backup` on a thread of its own, from
a connection of its own: ingest and queries go on while it runs. It goes to the backup
directory, then (when configured) to the S3 bucket; a target that is missing, full, read-only
or unreachable is one log line and a counted failure, never a stop of ingestion. Only one
backup runs at a time; an on-demand request while one runs is answered ``busy``.

The schedule: the next backup is due one interval after the newest one found in the directory
at start (at once if it is older than that; one minute after start, or one interval if that is
shorter, when there is none).
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import structlog
from nats.aio.msg import Msg

from rosey.config import BackupSettings
from rosey.errors import BackupError
from rosey.metrics import DbMetrics
from rosey.store.backup import BackupInfo, newest_backup, write_backup
from rosey.store.s3 import S3Target

__all__ = ["Backups", "FIRST_BACKUP_DELAY"]

log = structlog.get_logger()

#: how long after start the first scheduled backup waits when there is none yet
FIRST_BACKUP_DELAY = 60.0


class Backups:
    """Parameters:
        settings: where to and how often.
        db_path: the live database file.
        metrics: the service's metrics.
        s3: the bucket target (built from the settings when None and an S3 URL is set).
    """

    def __init__(self, *, settings: BackupSettings, db_path: Path, metrics: DbMetrics,
                 s3: S3Target | None = None) -> None:
        self.settings = settings
        self.db_path = db_path
        self.metrics = metrics
        self.s3 = s3 if s3 is not None or not settings.s3_url else S3Target(
            settings.s3_url, endpoint=settings.s3_endpoint, region=settings.s3_region,
            keep=settings.keep)
        self._lock = asyncio.Lock()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="rosey-db-backup")
        metrics.backup_interval.set(settings.interval_seconds if settings.enabled else 0)

    def newest_on_disk(self) -> BackupInfo | None:
        if self.settings.directory is None:
            return None
        info = newest_backup(self.settings.directory)
        if info is not None:
            self.metrics.backup_taken(created=info.created, size=info.size, seq=info.seq,
                                      seconds=0.0)
        return info

    async def run(self, stop: asyncio.Event) -> None:
        """Take scheduled backups until ``stop`` is set."""
        interval = self.settings.interval_seconds
        if not self.settings.enabled or interval <= 0:
            return
        found = await asyncio.get_running_loop().run_in_executor(self._pool, self.newest_on_disk)
        due = (found.created + interval) if found else (
            time.time() + min(FIRST_BACKUP_DELAY, interval))
        log.info("backup_schedule", interval_seconds=interval, newest=None if found is None
                 else str(found.path), next_in=round(max(0.0, due - time.time()), 1))
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), max(0.0, due - time.time()))
                return
            except TimeoutError:
                pass
            try:
                await self.backup_now(why="schedule")
            except BackupError:
                pass  # logged and counted; the next one is due an interval later all the same
            due = time.time() + interval

    async def backup_now(self, *, why: str) -> tuple[BackupInfo, str | None]:
        """Write one backup (and upload it); returns it and its S3 URL. Raises BackupError
        (reason ``busy`` when another is running, ``disabled`` when no target is set)."""
        if not self.settings.enabled:
            raise BackupError("disabled", "no backup target is configured (ROSEY_BACKUP_DIR or "
                                       "ROSEY_BACKUP_S3_URL)")
        if self._lock.locked():
            raise BackupError("busy", "a backup is already running")
        async with self._lock:
            return await asyncio.get_running_loop().run_in_executor(self._pool, self._write, why)

    def _write(self, why: str) -> tuple[BackupInfo, str | None]:
        started = time.monotonic()
        target = "dir"
        try:
            if self.settings.directory is not None:
                info = write_backup(self.db_path, self.settings.directory,
                                    keep=self.settings.keep)
                self.metrics.backups.labels("dir").inc()
                url = None
                if self.s3 is not None:
                    target = "s3"
                    url = self.s3.upload(info)
                    self.metrics.backups.labels("s3").inc()
            else:
                assert self.s3 is not None
                with tempfile.TemporaryDirectory(prefix="rosey-backup-") as tmp:
                    info = write_backup(self.db_path, Path(tmp), keep=1)
                    target = "s3"
                    url = self.s3.upload(info)
                    self.metrics.backups.labels("s3").inc()
        except BackupError as exc:
            self.metrics.backup_failures.labels(target, exc.reason).inc()
            log.error("backup_failed", target=target, reason=exc.reason, error=str(exc), why=why)
            raise
        seconds = time.monotonic() - started
        self.metrics.backup_taken(created=info.created, size=info.size, seq=info.seq,
                                  seconds=seconds)
        log.info("backup_written", file=str(info.path) if self.settings.directory else None,
                 s3=url, seq=info.seq, bytes=info.size, seconds=round(seconds, 3), why=why)
        return info, url

    async def handle(self, msg: Msg) -> None:
        """``rosey.db.admin.backup``: take one now and say how it went."""
        reply: dict[str, Any]
        try:
            info, url = await self.backup_now(why="request")
            reply = {"success": True,
                     "file": str(info.path) if self.settings.directory else None,
                     "s3": url, "seq": info.seq, "bytes": info.size,
                     "seconds": round(info.seconds, 3)}
        except BackupError as exc:
            reply = {"success": False, "error": str(exc), "reason": exc.reason}
        if msg.reply:
            await msg.respond(json.dumps(reply).encode())

    def close(self) -> None:
        self._pool.shutdown(wait=True)

