"""``rosey-bot`` as a real process: flags, environment, health while CyTube is away, SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys

from tests.bot.conftest import BOT, BOT_PW
from tests.support.procs import exit_code_after, free_port, http_status, reaped
from tests.support.wait import eventually

_get = http_status


async def _start_bot(domain: str, channel: str, nats_url: str, port: int, log_path):
    env = {**os.environ, "ROSEY_CYTUBE_USER": BOT, "ROSEY_CYTUBE_PASSWORD": BOT_PW,
           "ROSEY_LOG_FORMAT": "json", "ROSEY_LOG_LEVEL": "info", "ROSEY_ACTIVITY_LOG_SECONDS": "0.5"}
    out = open(log_path, "wb")
    try:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "rosey.bot", "--domain", domain, "--channel", channel,
            "--nats-url", nats_url, "--metrics-port", str(port), env=env, stdout=out,
            stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL)
    finally:
        out.close()


def _activity(log_path) -> list[dict]:
    complete = log_path.read_text().split("\n")[:-1]
    return [line for line in map(json.loads, complete) if line["event"] == "bot_activity"]


async def test_rosey_bot_joins_and_leaves_cleanly_on_sigterm(cytube, nats_server, tmp_path):
    """...and at INFO (no per-event lines) says what it did in an activity line."""
    port = free_port()
    log_path = tmp_path / "bot.log"
    proc = await _start_bot(cytube.url, cytube.channel, nats_server.url, port, log_path)
    async with reaped(proc):
        await cytube.wait_for(lambda: BOT in cytube.users, timeout=30, what="bot joined")
        await cytube.wait_for(lambda: _get(port, "/readyz") == 200, timeout=10)
        await cytube.add_user("carol", 1)
        await cytube.user_chat("carol", "hello")
        await cytube.wait_for(lambda: any(a["chat_messages"] for a in _activity(log_path)),
                              timeout=10, what="an activity line counting the chat")
        [line] = [a for a in _activity(log_path) if a["chat_messages"]]
        assert line["level"] == "info" and line["chat_messages"] == 1
        assert line["service"] == "rosey-bot"
        assert await exit_code_after(proc, signal.SIGTERM, timeout=20) == 0
        await cytube.wait_for(lambda: BOT not in cytube.users, what="bot left the channel")
    text = log_path.read_text()
    assert "bot_stopped" in text and BOT_PW not in text


async def test_rosey_bot_serves_health_while_cytube_is_unreachable(nats_server, tmp_path):
    port = free_port()
    dead = f"http://127.0.0.1:{free_port()}"
    proc = await _start_bot(dead, "testchan", nats_server.url, port, tmp_path / "bot.log")
    async with reaped(proc):
        await eventually(lambda: _get(port, "/healthz") == 200, timeout=20, what="/healthz")
        assert _get(port, "/readyz") == 503
        assert proc.returncode is None  # still running, still retrying
        assert await exit_code_after(proc, signal.SIGTERM, timeout=20) == 0
    assert "cytube_connect_failed" in (tmp_path / "bot.log").read_text()
