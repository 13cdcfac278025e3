"""``rosey up``: NATS, the DatabaseService and the bot together, stopped by Ctrl-C."""

from __future__ import annotations

import asyncio
import html
import os
import signal
import sys

from tests.support.cytube import CyTubeTestServer
from tests.support.procs import free_port

BOT, BOT_PW, MOD = "rosey", "bot-secret", "alice"


async def test_rosey_up_answers_a_moderator_from_the_database_and_exits_on_sigint(tmp_path):
    server = CyTubeTestServer(accounts={BOT: (BOT_PW, 3)}, rate_limit=False)
    await server.start()
    log_path = tmp_path / "up.log"
    env = {**os.environ, "ROSEY_CYTUBE_USER": BOT, "ROSEY_CYTUBE_PASSWORD": BOT_PW,
           "ROSEY_LOG_FORMAT": "json"}
    env.pop("ROSEY_NATS_URL", None)
    with open(log_path, "wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "rosey.cli", "up", "--domain", server.url,
            "--channel", server.channel, "--data-dir", str(tmp_path / "data"),
            "--db-metrics-port", str(free_port()), "--bot-metrics-port", str(free_port()),
            env=env, stdout=out, stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL)
    try:
        await server.add_user(MOD, 2)
        await server.wait_for(lambda: BOT in server.users, timeout=60, what="bot joined")
        await server.wait_for(lambda: server.users[BOT]["rank"] == 3, timeout=10)
        await server.user_chat(MOD, "hello rosey")

        async def stats_from_database() -> bool:
            seen = len(server.pms_to(MOD))
            await server.user_pm(MOD, BOT, "stats")
            await server.wait_for(lambda: len(server.pms_to(MOD)) > seen, timeout=10)
            reply = " ".join(html.unescape(p) for p in server.pms_to(MOD)[seen:])
            return f"Top chatters: {MOD} (1)" in reply

        await server.wait_for(stats_from_database, timeout=60, what="stats answered")
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 40) == 0
        await server.wait_for(lambda: BOT not in server.users, what="bot left")
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await server.stop()
    text = log_path.read_text()
    assert "up_process_stopped" in text and BOT_PW not in text
    assert (tmp_path / "data" / "rosey.db").exists()
