"""Shared fixtures: a real nats-server per test (free port, temp JetStream store)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import nats
import pytest
from nats.aio.client import Client

from tests.support.figures import FIGURE
from tests.support.natsd import NatsServer, nats_server_binary


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The figures tests recorded (:mod:`tests.support.figures`), after the run."""
    figures = [(report.nodeid, value)
               for outcome in ("passed", "failed")
               for report in terminalreporter.stats.get(outcome, [])
               if report.when == "call"
               for key, value in report.user_properties if key == FIGURE]
    if figures:
        terminalreporter.section("figures")
        for nodeid, value in sorted(figures):
            terminalreporter.line(f"{value}  ({nodeid})")


@pytest.fixture(autouse=True)
def _restore_environ() -> Iterator[None]:
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="session", autouse=True)
def _require_nats_server() -> None:
    if nats_server_binary() is None:
        pytest.fail("nats-server is not installed: run scripts/setup (apt-get install nats-server)")


@pytest.fixture
def nats_server(tmp_path) -> Iterator[NatsServer]:
    """A fresh nats-server with JetStream; tests may stop() and restart() it."""
    server = NatsServer(store_dir=tmp_path / "nats")
    try:
        yield server.start()
    finally:
        server.stop()
        server.cleanup()


@pytest.fixture
def core_nats_server(tmp_path) -> Iterator[NatsServer]:
    """A nats-server without JetStream (for the core-subscription fallback)."""
    server = NatsServer(jetstream=False, store_dir=tmp_path / "nats-core")
    try:
        yield server.start()
    finally:
        server.stop()
        server.cleanup()


@pytest.fixture
async def nc(nats_server: NatsServer) -> AsyncIterator[Client]:
    client = await nats.connect(nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
    try:
        yield client
    finally:
        await client.close()
