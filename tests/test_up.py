"""``rosey up``: NATS, the DatabaseService, the web page and the bot together, stopped by Ctrl-C.

The data directory, both metrics ports and the web port come from ROSEY_* variables (every flag
has one)."""

from __future__ import annotations

import asyncio
import html
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import nats
import pytest

from tests.support.cytube import CyTubeTestServer
from tests.support.procs import exit_code_after, free_port, http_status, reaped, start_rosey_up
from tests.support.wait import eventually

BOT, BOT_PW, MOD = "rosey", "bot-secret", "alice"


def http_get(url: str) -> tuple[int, str, dict[str, str]]:
    """GET ``url`` (no redirects followed) -> (status, body, headers); (0, "", {}) when nothing
    answers."""
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url, timeout=5) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace"), dict(exc.headers)
    except OSError:
        return 0, "", {}


def logged(log_path: Path, event: str) -> list[dict[str, Any]]:
    return [line for line in map(json.loads, (ln for ln in log_path.read_text().splitlines()
                                              if ln.startswith("{")))
            if line.get("event") == event]


async def test_rosey_up_answers_a_moderator_from_the_database_and_exits_on_sigint(tmp_path):
    server = CyTubeTestServer(accounts={BOT: (BOT_PW, 3)}, rate_limit=False)
    await server.start()
    log_path = tmp_path / "up.log"
    db_port, bot_port, web_port = free_port(), free_port(), free_port()
    env = {**os.environ, "ROSEY_CYTUBE_USER": BOT, "ROSEY_CYTUBE_PASSWORD": BOT_PW,
           "ROSEY_LOG_FORMAT": "json", "ROSEY_DATA_DIR": str(tmp_path / "data"),
           "ROSEY_DB_METRICS_PORT": str(db_port), "ROSEY_BOT_METRICS_PORT": str(bot_port),
           "ROSEY_WEB_PORT": str(web_port)}
    env.pop("ROSEY_WEB_URL", None)
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
            # the web page, at the address rosey up printed, shows what the database holds
            [web_line] = logged(log_path, "up_web_started")
            web_url = f"http://127.0.0.1:{web_port}"
            assert web_line["url"] == f"{web_url}/"
            await eventually(lambda: http_status(web_port, "/readyz") == 200, timeout=60,
                             what="the web page ready")

            async def page_shows_the_chatter() -> bool:
                status, body, _ = await asyncio.to_thread(http_get, f"{web_url}/")
                return status == 200 and MOD in body
            await eventually(page_shows_the_chatter, timeout=30, what="the public page")
            # a moderator's login link points at that page (the bot's ROSEY_WEB_URL) and
            # opening it logs the moderator in
            seen = len(server.pms_to(MOD))
            await server.user_pm(MOD, BOT, "weblogin")
            await server.wait_for(lambda: len(server.pms_to(MOD)) > seen, timeout=20,
                                  what="the login link")
            reply = " ".join(html.unescape(p) for p in server.pms_to(MOD)[seen:])
            # (the CyTube server shows the URL as a link: href and text)
            links = set(re.findall(rf"{re.escape(web_url)}/login/[A-Za-z0-9_-]+", reply))
            assert len(links) == 1, reply
            [link] = links
            status, _, headers = await asyncio.to_thread(http_get, link)
            assert status == 303 and headers.get("Location") == "/mod", (status, headers)
            assert "HttpOnly" in headers.get("Set-Cookie", ""), headers
            [web_pid] = [line["pid"] for line in logged(log_path, "up_web_started")]
            web_environ = Path(f"/proc/{web_pid}/environ").read_bytes().split(b"\0")
            assert not [v for v in web_environ if v.startswith(b"ROSEY_CYTUBE_")]
            assert b"ROSEY_NATS_USER=web" in web_environ
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
    assert stopped == {"rosey-db": 0, "rosey-web": 0, "nats-server": 0}  # clean exits
    assert (tmp_path / "data" / "rosey.db").exists()
    assert "Server is ready" in (tmp_path / "data" / "nats-server.log").read_text()


async def test_rosey_up_uses_the_nats_named_by_rosey_nats_url(tmp_path, nats_server):
    """ROSEY_NATS_URL (like --nats-url) means: use that NATS, start none."""
    db_port = free_port()
    env = {**os.environ, "ROSEY_NATS_URL": nats_server.url, "ROSEY_LOG_FORMAT": "json",
           "ROSEY_DATA_DIR": str(tmp_path / "data"), "ROSEY_DB_METRICS_PORT": str(db_port),
           "ROSEY_BOT_METRICS_PORT": str(free_port()), "ROSEY_WEB_PORT": str(free_port()),
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
               "ROSEY_BOT_METRICS_PORT": str(free_port()), "ROSEY_WEB_PORT": str(free_port()),
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
    # the web page had started beside it; it is stopped cleanly too
    assert {line["process"]: line["code"] for line in stopped} == {
        "rosey-db": 2, "rosey-web": 0, "nats-server": 0}


async def test_rosey_up_web_port_0_serves_the_page_on_a_free_port_it_prints(tmp_path):
    """--web-port 0: a free port, printed in up_web_started; the page answers there, reading
    through the local NATS as the `web` identity (with its own password file)."""
    db_port = free_port()
    env = {**os.environ, "ROSEY_LOG_FORMAT": "json", "ROSEY_DATA_DIR": str(tmp_path / "data"),
           "ROSEY_DB_METRICS_PORT": str(db_port), "ROSEY_BOT_METRICS_PORT": str(free_port()),
           "ROSEY_WEB_PORT": "8080",  # the flag wins over the variable
           "ROSEY_CYTUBE_DOMAIN": f"http://127.0.0.1:{free_port()}", "ROSEY_CYTUBE_CHANNEL": "c"}
    env.pop("ROSEY_NATS_URL", None)
    log_path = tmp_path / "up.log"
    proc = await start_rosey_up(log_path, env, "--web-port", "0")
    async with reaped(proc):
        await eventually(lambda: logged(log_path, "up_web_started"), timeout=60,
                         what="up_web_started")
        [line] = logged(log_path, "up_web_started")
        url = str(line["url"])
        assert url.startswith("http://127.0.0.1:") and url.endswith("/")
        port = int(url.removeprefix("http://127.0.0.1:").rstrip("/"))
        assert port not in (0, 8080)
        await eventually(lambda: http_status(port, "/readyz") == 200, timeout=60,
                         what="the web page ready on the printed port")
        for path in ("/healthz", "/metrics", "/"):
            status, body, _ = await asyncio.to_thread(http_get, f"{url.rstrip('/')}{path}")
            assert status == 200, (path, status, body[:300])
        assert (tmp_path / "data" / "nats-auth" / "web.password").exists()
        assert await exit_code_after(proc, signal.SIGTERM) == 0
    text = log_path.read_text()
    assert "nats_permission_denied" not in text  # the page asked only what `web` may ask


async def test_rosey_up_stops_everything_when_the_web_page_cannot_start(tmp_path):
    """The web port is taken: rosey-web says so (exit 2) and rosey up stops the rest, exit 1."""
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        env = {**os.environ, "ROSEY_LOG_FORMAT": "json", "ROSEY_DATA_DIR": str(tmp_path / "data"),
               "ROSEY_DB_METRICS_PORT": str(free_port()),
               "ROSEY_BOT_METRICS_PORT": str(free_port()),
               "ROSEY_WEB_PORT": str(taken.getsockname()[1]),
               "ROSEY_CYTUBE_DOMAIN": f"http://127.0.0.1:{free_port()}", "ROSEY_CYTUBE_CHANNEL": "c"}
        env.pop("ROSEY_NATS_URL", None)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "rosey.cli", "up", env=env, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL)
        async with reaped(proc):
            out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1
    assert "rosey-web exited with code 2" in err.decode()
    stopped = {line["process"]: line["code"] for line in map(json.loads, out.decode().splitlines())
               if line.get("event") == "up_process_stopped"}
    assert stopped == {"rosey-web": 2, "rosey-db": 0, "nats-server": 0}


@pytest.mark.parametrize("value", ["70000", "-1", "eighty"])
def test_rosey_up_refuses_a_web_port_that_cannot_be_one(tmp_path, value):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROSEY_")}
    done = subprocess.run(
        [sys.executable, "-m", "rosey.cli", "up", "--domain", "http://127.0.0.1:9",
         "--channel", "c"], env={**env, "ROSEY_WEB_PORT": value,
                                 "ROSEY_DATA_DIR": str(tmp_path / "data")},
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert "ROSEY_WEB_PORT" in line and "Traceback" not in done.stderr
    assert not (tmp_path / "data").exists()  # refused before anything started
