"""The shipped nats-server launcher (rosey.natsd): real nats-server processes."""

from __future__ import annotations

import os
import signal
import stat

import nats
import pytest

from rosey.errors import LifecycleError, NatsServerError, RoseyError
from rosey.natsd import NatsServer, NatsServerState


async def test_starts_on_a_free_port_serves_clients_and_stops_cleanly(tmp_path):
    log_path = tmp_path / "nats.log"
    server = NatsServer(store_dir=tmp_path / "js", log_path=log_path)
    assert server.state is NatsServerState.UNOPENED
    async with server:
        assert server.state is NatsServerState.OPEN
        assert server.port > 0  # read back from the "Listening for client connections" line
        nc = await nats.connect(server.url)
        js = nc.jetstream()
        await js.add_stream(name="T", subjects=["t.>"])
        assert (await js.publish("t.x", b"1")).seq == 1
        await nc.close()
    assert server.state is NatsServerState.CLOSED
    # SIGINT is nats-server's clean stop: exit 0 (SIGTERM would make it exit 1)
    assert server.stopped is not None and server.stopped.code == 0 and not server.stopped.killed
    text = log_path.read_text()
    assert "Server is ready" in text and "Server Exiting" in text  # drained to the end
    assert (tmp_path / "js" / "jetstream").is_dir()


async def test_a_new_launcher_on_the_same_port_and_store_keeps_the_stream(tmp_path):
    async with NatsServer(store_dir=tmp_path / "js") as first:
        nc = await nats.connect(first.url)
        await nc.jetstream().add_stream(name="T", subjects=["t.>"])
        await nc.jetstream().publish("t.x", b"1")
        await nc.close()
    port = first.port
    async with NatsServer(store_dir=tmp_path / "js", port=port) as second:
        assert second.port == port
        nc = await nats.connect(second.url)
        assert (await nc.jetstream().stream_info("T")).state.messages == 1
        await nc.close()


async def test_kill_is_a_crash(tmp_path):
    server = await NatsServer(store_dir=tmp_path / "js").start()
    stopped = await server.kill()
    assert stopped is not None and stopped.code == -signal.SIGKILL
    assert server.state is NatsServerState.CLOSED


async def test_a_server_that_exits_first_raises_with_its_fatal_lines(tmp_path):
    server = NatsServer(config_file=tmp_path / "missing.conf")
    with pytest.raises(NatsServerError, match="missing.conf: no such file") as caught:
        await server.start()
    assert isinstance(caught.value, RoseyError)
    assert server.state is NatsServerState.CLOSED


async def test_a_port_in_use_raises_instead_of_waiting(tmp_path):
    async with NatsServer(jetstream=False) as running:
        with pytest.raises(NatsServerError, match="address already in use"):
            await NatsServer(jetstream=False, port=running.port).start()


async def test_a_server_that_never_gets_ready_is_stopped_after_the_timeout(tmp_path):
    silent = tmp_path / "silent-nats-server"
    silent.write_text("#!/bin/sh\necho starting >&2\nexec sleep 60\n")
    silent.chmod(silent.stat().st_mode | stat.S_IEXEC)
    server = NatsServer(binary=str(silent), ready_timeout=0.5)
    with pytest.raises(NatsServerError, match="not ready after 0.5s"):
        await server.start()
    assert server.state is NatsServerState.CLOSED
    assert server.stopped is not None and server.pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(server.pid, 0)  # gone, and reaped


async def test_a_missing_binary_is_a_clear_error(tmp_path):
    with pytest.raises(NatsServerError, match="cannot run"):
        await NatsServer(binary=str(tmp_path / "no-such-nats-server")).start()


async def test_a_launcher_is_used_once(tmp_path):
    server = NatsServer(jetstream=False)
    async with server:
        with pytest.raises(LifecycleError, match="open"):
            await server.start()
    assert await server.stop() == server.stopped  # stopping twice is harmless


async def test_a_log_path_that_cannot_be_written_is_a_clear_error_and_starts_nothing(tmp_path):
    server = NatsServer(log_path=tmp_path / "missing-dir" / "nats.log")
    with pytest.raises(NatsServerError, match="cannot write the nats-server log"):
        await server.start()
    assert server.pid is None and server.state is NatsServerState.UNOPENED
