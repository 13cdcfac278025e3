"""The resilience tests run against nats-server with authentication on (issue 13): Rosey's
own users and permissions (:mod:`rosey.nats_auth`), no anonymous access. Every process and
test-side client connects as the identity allowed to do what it does: the DatabaseService as
``dbservice`` (so are test-side JetStream stream/consumer inspections and pulls), the bot and
test-side event publishers as ``bot``. A service started in-process gets its identity in its
settings (``nats_auth=server.auth("dbservice")``), as the entry points give it.

Helpers live in :mod:`tests.resilience.timing` (``bench`` shares it): a publisher that retries
until acknowledged, and a reader of the SQLite file the DatabaseService process writes.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.bot.conftest import cytube  # noqa: F401  (the test CyTube server fixture)
from tests.resilience.timing import AckedPublisher, read_counts  # noqa: F401
from tests.support.natsd import NatsServer


@pytest.fixture
def secured_nats_server(tmp_path) -> Iterator[NatsServer]:
    """A fresh nats-server with JetStream and Rosey's users (passwords in tmp_path/auth);
    tests may stop() and restart() it (same config, same store)."""
    server = NatsServer(store_dir=tmp_path / "nats", auth_dir=tmp_path / "auth")
    try:
        yield server.start()
    finally:
        server.stop()
        server.cleanup()

