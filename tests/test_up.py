"""``rosey up``: NATS, the DatabaseService and the bot together, stopped by Ctrl-C.

The data directory and both metrics ports come from ROSEY_* variables (every flag has one)."""

from __future__ import annotations

import asyncio
import html
import json
import os
import signal
import socket
import stat
import sys
from pathlib import Path

import nats
import pytest

from tests.support.cytube import CyTubeTestServer
from tests.support.procs import exit_code_after, free_port, http_status, reaped, start_rosey_up
from tests.support.wait import eventually

BOT, BOT_PW, MOD = "rosey", "bot-secret", "alice"


async def test_rosey_up_answers_a_moderator_from_the_database_and_exits_on_sigint(tmp_path):
    server = CyTubeTestServer(accounts={BOT: (BOT_PW, 3)}, rate_limit=False)
    await server.start()
    log_path = tmp_path / "up.log"
    db_port, bot_port = free_port(), free_port()
    env = {**os.environ, "ROSEY_CYTUBE_USER": BOT, "ROSEY_CYTUBE_PASSWORD": BOT_PW,
           "ROSEY_LOG_FORMAT": "json", "ROSEY_DATA_DIR": str(tmp_path / "data"),
           "ROSEY_DB_METRICS_PORT": str(db_port), "ROSEY_BOT_METRICS_PORT": str(bot_port)}
    env.pop("ROSEY_NATS_URL", None)
    proc = await start_rosey_up(log_path, env, "--domain", server.url, "--channel", server.channel)
    try:
        async with reaped(proc):
            await server.add_user(MOD, 2)
            await server.wait_for(lambda: BOT in server.users, timeout=60, what="bot joined")
            await server.wait_for(lambda: server.users[BOT]["rank"] == 3, timeout=10)
            # ask only once the DatabaseService is up: before that the bot answers at once
            # ("unavailable"), and asking again and again runs into CyTube's PM throttle
            await eventually(lambda: http_status(db_port, "/readyz") == 200, timeout=60,
                             what="the DatabaseService ready")
            await server.user_chat(MOD, "hello rosey")

            async def stats_from_database() -> bool:
                seen = len(server.pms_to(MOD))
                await server.user_pm(MOD, BOT, "stats")
                await server.wait_for(lambda: len(server.pms_to(MOD)) > seen, timeout=10)
                reply = " ".join(html.unescape(p) for p in server.pms_to(MOD)[seen:])
                return f"Top chatters: {MOD} (1)" in reply

            await server.wait_for(stats_from_database, timeout=60, what="stats answered")
            for port in (db_port, bot_port):
                assert await asyncio.to_thread(http_status, port, "/readyz") == 200
            [db_pid] = [line["pid"] for line in map(json.loads, log_path.read_text().splitlines())
                        if line.get("event") == "up_db_started"]
            db_environ = Path(f"/proc/{db_pid}/environ").read_bytes().split(b"\0")
            assert not [v for v in db_environ if v.startswith(b"ROSEY_CYTUBE_")]
            # authentication on: the DatabaseService is `dbservice`, anonymous clients are out
            assert b"ROSEY_NATS_USER=dbservice" in db_environ
            [nats_url] = [line["url"] for line in map(json.loads, log_path.read_text().splitlines())
                          if line.get("event") == "up_nats_started"]
            with pytest.raises(nats.errors.Error):
                await nats.connect(nats_url, allow_reconnect=False, max_reconnect_attempts=0,
                                   connect_timeout=2)
            assert await exit_code_after(proc, signal.SIGINT) == 0
            await server.wait_for(lambda: BOT not in server.users, what="bot left")
    finally:
        await server.stop()
    text = log_path.read_text()
    assert BOT_PW not in text
    auth_dir = tmp_path / "data" / "nats-auth"
    for path in [*auth_dir.iterdir(), tmp_path / "data" / "nats.conf"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        if path.suffix == ".password":
            assert path.read_text().strip() not in text  # printed as a file path, never itself
    [hint] = [line for line in map(json.loads, text.splitlines())
              if line.get("event") == "up_operator_connect"]
    assert "--user operator" in hint["example"] and str(auth_dir / "operator.password") in hint["example"]
    assert "nats_permission_denied" not in text  # each service did its job within its rights
    stopped = {line["process"]: line["code"] for line in map(json.loads, text.splitlines())
               if line.get("event") == "up_process_stopped"}
    assert stopped == {"rosey-db": 0, "nats-server": 0}  # a normal stop is a clean exit
    assert (tmp_path / "data" / "rosey.db").exists()
    assert "Server is ready" in (tmp_path / "data" / "nats-server.log").read_text()


async def test_rosey_up_uses_the_nats_named_by_rosey_nats_url(tmp_path, nats_server):
    """ROSEY_NATS_URL (like --nats-url) means: use that NATS, start none."""
    db_port = free_port()
    env = {**os.environ, "ROSEY_NATS_URL": nats_server.url, "ROSEY_LOG_FORMAT": "json",
           "ROSEY_DATA_DIR": str(tmp_path / "data"), "ROSEY_DB_METRICS_PORT": str(db_port),
           "ROSEY_BOT_METRICS_PORT": str(free_port()),
           "ROSEY_CYTUBE_DOMAIN": f"http://127.0.0.1:{free_port()}", "ROSEY_CYTUBE_CHANNEL": "c"}
    proc = await start_rosey_up(tmp_path / "up.log", env)
    async with reaped(proc):
        await eventually(lambda: http_status(db_port, "/readyz") == 200, timeout=30,
                         what="the DatabaseService ready on the given NATS")
        assert await exit_code_after(proc, signal.SIGINT) == 0
    events = [json.loads(line).get("event") for line in (tmp_path / "up.log").read_text().splitlines()
              if line.startswith("{")]
    assert "up_nats_started" not in events
    assert not (tmp_path / "data" / "nats-server.log").exists()


async def test_rosey_up_stops_everything_when_the_database_service_cannot_start(tmp_path):
    """The DatabaseService's port is taken: rosey up says so and exits 1, NATS stopped too."""
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        env = {**os.environ, "ROSEY_LOG_FORMAT": "json", "ROSEY_DATA_DIR": str(tmp_path / "data"),
               "ROSEY_DB_METRICS_PORT": str(taken.getsockname()[1]),
               "ROSEY_BOT_METRICS_PORT": str(free_port()),
               "ROSEY_CYTUBE_DOMAIN": f"http://127.0.0.1:{free_port()}", "ROSEY_CYTUBE_CHANNEL": "c"}
        env.pop("ROSEY_NATS_URL", None)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "rosey.cli", "up", env=env, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL)
        async with reaped(proc):
            out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1
    assert "Address already in use" in err.decode()  # rosey-db's own line
    assert "rosey-db exited with code 2" in err.decode()
    stopped = [json.loads(line) for line in out.decode().splitlines()
               if '"up_process_stopped"' in line]
    assert {line["process"]: line["code"] for line in stopped} == {"rosey-db": 2, "nats-server": 0}
