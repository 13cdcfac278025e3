"""The DatabaseService tests' fixtures: a service on a real nats-server with JetStream, and a
client of that server. A module that needs other servers (test_service.py and
test_automod_state.py run every case in both ingest modes) defines its own ``svc``, with the
server's URL as ``svc.test_url``; ``client`` connects to whichever it is."""

from __future__ import annotations

from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client

from rosey.dbservice.service import DatabaseService
from rosey.metrics import DbMetrics
from tests.support.db import running_db_service


@pytest.fixture
async def svc(nats_server, tmp_path) -> AsyncIterator[DatabaseService]:
    async with running_db_service(nats_server.url, tmp_path / "rosey.db",
                                  metrics=DbMetrics()) as service:
        service.test_url = nats_server.url  # type: ignore[attr-defined]
        yield service


@pytest.fixture
async def client(svc) -> AsyncIterator[Client]:
    nc = await nats.connect(svc.test_url)
    try:
        yield nc
    finally:
        await nc.close()
