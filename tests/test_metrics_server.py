"""The /metrics server: exactly three paths, and a port it cannot take is a clear error."""

from __future__ import annotations

import socket

import pytest

from rosey.errors import ConfigError, ListenError
from rosey.metrics import DbMetrics, MetricsServer
from tests.support.procs import http_status


@pytest.fixture
def server():
    s = MetricsServer(registry=DbMetrics().registry, ready=lambda: (False, {"nats": False}),
                      host="127.0.0.1").start()
    try:
        yield s
    finally:
        s.stop()


@pytest.mark.parametrize("path,status", [
    ("/metrics", 200), ("/healthz", 200), ("/readyz", 503),
    ("/nope", 404), ("/", 404), ("/metrics/extra", 404), ("/healthzz", 404),
])
def test_only_the_three_paths_answer(server, path, status):
    assert http_status(server.port, path) == status


def test_a_port_in_use_is_a_listen_error_naming_the_port():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ListenError, match=f"127.0.0.1:{port}: Address already in use") as exc:
            MetricsServer(registry=DbMetrics().registry, ready=lambda: (True, {}),
                          host="127.0.0.1", port=port, busy_retry_seconds=0.3)
    assert isinstance(exc.value, ConfigError)  # the CLI turns it into exit code 2


def test_a_port_freed_within_the_retry_window_is_taken():
    """A process restarted on its metrics port right after a SIGKILL finds the port held for
    about a second by the dying one; the server tries again instead of exiting 2."""
    import threading

    taken = socket.socket()
    taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    threading.Timer(0.5, taken.close).start()  # the dying process lets go
    s = MetricsServer(registry=DbMetrics().registry, ready=lambda: (True, {}),
                      host="127.0.0.1", port=port, ).start()
    try:
        assert s.port == port
        assert http_status(port, "/healthz") == 200
    finally:
        s.stop()
