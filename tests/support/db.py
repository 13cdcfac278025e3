"""Helpers for the DatabaseService and store tests: a running service, a query, a look at the file."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from nats.aio.client import Client

from rosey.config import DbSettings
from rosey.dbservice.service import DatabaseService
from rosey.metrics import DbMetrics


@asynccontextmanager
async def running_db_service(nats_url: str, db_path: Path, *, jetstream: str = "auto",
                             metrics: DbMetrics | None = None,
                             serve_metrics: bool = False) -> AsyncIterator[DatabaseService]:
    settings = DbSettings(nats_url=nats_url, db_path=db_path, metrics_port=0,
                          metrics_host="127.0.0.1", jetstream=jetstream)
    async with DatabaseService(settings=settings, metrics=metrics or DbMetrics(),
                               serve_metrics=serve_metrics) as svc:
        await svc.wait_ready()
        yield svc


async def request_json(nc: Client, subject: str, payload: Any = None, *,
                       raw: bytes | None = None, timeout: float = 5.0) -> Any:
    data = raw if raw is not None else json.dumps(payload if payload is not None else {}).encode()
    reply = await nc.request(subject, data, timeout=timeout)
    return json.loads(reply.data)


def rows(db_path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run a read-only statement on the SQLite file, on a connection of its own."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
    try:
        return list(conn.execute(sql, params).fetchall())
    finally:
        conn.close()
