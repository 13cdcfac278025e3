"""A schema migration on a year of data (issue 22 item 1): the newest migration steps run by a
real ``rosey-db`` on a copy of the year file taken back to version 5, with ``/healthz`` and
``/readyz`` polled all along.

Taking the file back: each step's tables and indexes are dropped and ``user_version`` set one
lower (:data:`UNDO`, written for the step it undoes: a new step needs its own). The service
then runs the steps as it would on a file an older Rosey wrote, and logs
``schema_migration_finished`` with their time.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import ROOT, copy_db, nats_server, start_module, stop_worker
from rosey.store.schema import SCHEMA_VERSION
from tests.support.procs import free_port

__all__ = ["MigrationResult", "run_migration", "UNDO"]

#: what takes a file back one version, by the version it is at (6: chat_hours,
#: user_count_hours, media_plays and their indexes; 7: the moderators' view's indexes)
UNDO: dict[int, tuple[str, ...]] = {6: (
    "DROP TABLE IF EXISTS media_plays", "DROP TABLE IF EXISTS chat_hours",
    "DROP TABLE IF EXISTS user_count_hours", "DROP INDEX IF EXISTS user_count_history_time",
    "DROP INDEX IF EXISTS user_stats_present", "PRAGMA user_version = 5"),
    # the moderators' view's indexes on moderation_actions
    7: ("DROP INDEX IF EXISTS moderation_actions_action",
        "DROP INDEX IF EXISTS moderation_actions_origin",
        "DROP INDEX IF EXISTS moderation_actions_rule",
        "DROP INDEX IF EXISTS moderation_actions_time", "PRAGMA user_version = 6")}


@dataclass
class MigrationResult:
    from_version: int
    rows: int
    migration_seconds: float
    ready_seconds: float
    healthz: dict[int, int] = field(default_factory=dict)
    readyz_said: str = ""
    readyz_polls: int = 0


def _copy_back(src: Path, dst: Path) -> int:
    """Copy ``src`` to ``dst`` and undo every step :data:`UNDO` knows there (the heaviest
    upgrade: from before the web page's tables, whose backfill reads every chat line);
    returns its chat lines."""
    dst.unlink(missing_ok=True)
    copy_db(src, dst)
    target = sqlite3.connect(dst, isolation_level=None)
    try:
        for version in range(SCHEMA_VERSION, min(UNDO) - 1, -1):
            for statement in UNDO[version]:
                target.execute(statement)
        return int(target.execute("SELECT max(id) FROM recent_chat").fetchone()[0] or 0)
    finally:
        target.close()


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


async def run_migration(year_file: Path, *, workdir: Path,
                        say: Callable[[str], None] = print) -> MigrationResult:
    db = workdir / "migration.db"
    rows = await asyncio.to_thread(_copy_back, year_file, db)
    say(f"  {year_file.name} taken back to version {min(UNDO) - 1} ({rows:,} chat lines)")
    log = workdir / "migration-db.log"
    log.unlink(missing_ok=True)
    result = MigrationResult(min(UNDO) - 1, rows, 0.0, 0.0)
    async with nats_server(workdir, "migration") as server:
        port = free_port()
        cli = [str(Path(sys.executable).with_name("rosey-db")), "--nats-url", server.url,
               "--db-path", str(db), "--metrics-port", str(port)]
        started = time.monotonic()
        proc = start_module(cli, log_path=log,
                            env={"ROSEY_LOG_FORMAT": "json",
                                 "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'src'}"})
        try:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"rosey-db exited early, see {log}")
                if time.monotonic() - started > 1800:
                    raise TimeoutError("the migration did not finish in 30 minutes")
                try:
                    status, _ = await asyncio.to_thread(_get, port, "/healthz")
                except OSError:
                    await asyncio.sleep(0.05)  # not listening yet
                    continue
                result.healthz[status] = result.healthz.get(status, 0) + 1
                ready, body = await asyncio.to_thread(_get, port, "/readyz")
                if ready == 200:
                    result.ready_seconds = time.monotonic() - started
                    break
                result.readyz_polls += 1
                said = [ln for ln in body.splitlines() if ln.startswith("database_state")]
                if said and not result.readyz_said:
                    result.readyz_said = said[0]
                await asyncio.sleep(0.1)
        finally:
            await stop_worker(proc)
    for line in log.read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("event") == "schema_migration_finished":
            result.migration_seconds = float(entry["seconds"])
    db.unlink(missing_ok=True)
    return result
