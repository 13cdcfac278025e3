"""While a schema migration runs, the DatabaseService answers ``/healthz`` and its ``/readyz``
says why it is not ready; once it finishes, the service is ready on the new schema.

The migration is held deterministically: the test holds the file's write lock (as a long
migration step would hold the service) and lets go once it has seen ``/readyz``.
"""

from __future__ import annotations

import asyncio
import sqlite3
import urllib.error
import urllib.request

from rosey.config import DbSettings
from rosey.dbservice.service import DatabaseService
from rosey.metrics import DbMetrics
from rosey.store.schema import MIGRATIONS, SCHEMA_VERSION, configure_connection
from tests.support.wait import eventually


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def file_at(path, version: int) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    configure_connection(conn, writer=True)
    for step in MIGRATIONS[:version]:
        conn.executescript(step)
    conn.execute(f"PRAGMA user_version = {version}")
    conn.executemany("INSERT INTO recent_chat (timestamp, username, message) VALUES (?, 'u', ?)",
                     [(1_700_000_000 + i * 60, str(i)) for i in range(500)])
    conn.close()


async def test_healthz_answers_and_readyz_says_why_while_the_schema_migrates(nats_server,
                                                                            tmp_path):
    db = tmp_path / "rosey.db"
    file_at(db, SCHEMA_VERSION - 1)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # the migration's first step waits for this lock
    settings = DbSettings(nats_url=nats_server.url, db_path=db, metrics_port=0,
                          metrics_host="127.0.0.1")
    svc = DatabaseService(settings=settings, metrics=DbMetrics(), busy_timeout=60)
    starting = asyncio.create_task(svc.start())
    try:
        await eventually(lambda: svc.store.migrating is not None, timeout=20,
                         what="the migration started")
        assert svc.metrics_server is not None
        port = svc.metrics_server.port
        assert await asyncio.to_thread(get, port, "/healthz") == (200, "ok\n")
        status, body = await asyncio.to_thread(get, port, "/readyz")
        assert status == 503
        assert "database: fail" in body
        assert (f"database_state: migrating the schema from version {SCHEMA_VERSION - 1} to "
                f"{SCHEMA_VERSION}") in body
        holder.execute("ROLLBACK")
        await asyncio.wait_for(starting, 60)
        await svc.wait_ready()
        status, body = await asyncio.to_thread(get, port, "/readyz")
        assert status == 200 and "database_state" not in body
        assert svc.store.started_at_version == SCHEMA_VERSION - 1
    finally:
        holder.close()
        if not starting.done():
            starting.cancel()
        await svc.aclose()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()
