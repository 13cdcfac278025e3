"""With the DatabaseService killed, the bot keeps answering moderators and chatting; when a new
DatabaseService process starts, the backlog drains and every command's audit rows are there."""

from __future__ import annotations

import asyncio
import signal

from tests.bot.conftest import MOD, ask, reply_text, running_bot
from tests.bot.test_with_database import _rows
from tests.support.procs import start_db_process, stop_process
from tests.support.wait import eventually

COMMANDS = ["info", "say hello while storage is away", "playlist", "users", "frobnicate now",
            "status", "current", "say second message", "help", "user Alice"]


async def test_bot_keeps_serving_while_dbservice_is_killed_and_backlog_drains_after(
        cytube, secured_nats_server, tmp_path):
    nats_server = secured_nats_server
    db = tmp_path / "rosey.db"
    db_env = nats_server.process_env("dbservice")
    await cytube.add_user(MOD, 2)
    proc = start_db_process(nats_server.url, db, log_path=tmp_path / "db.log", extra_env=db_env)
    async with running_bot(cytube, nats_server.url, nats_auth=nats_server.auth("bot")) as bot:
        await eventually(lambda: _rows(db, "SELECT count(*) FROM user_stats WHERE username = ?",
                                       MOD) == [(1,)], timeout=20, what="moderator's join stored")
        proc.send_signal(signal.SIGKILL)
        assert await asyncio.to_thread(proc.wait, 10) == -signal.SIGKILL

        replies = [reply_text(await ask(cytube, bot, cmd)) for cmd in COMMANDS]
        assert "Unknown command: frobnicate" in replies[4]
        assert all(replies), "every command answered while the DatabaseService is dead"
        assert reply_text(await ask(cytube, bot, "stats")) == (
            "stats are unavailable right now: no database service is running")
        for i in range(20):
            await cytube.user_chat(MOD, f"outage line {i}")

        proc = start_db_process(nats_server.url, db, log_path=tmp_path / "db.log",
                                extra_env=db_env)
        try:
            # 11 commands, each audited twice (pending, then success/error)
            await eventually(lambda: _rows(db, "SELECT count(*) FROM user_actions") == [(22,)],
                             timeout=30, what="every audit row of the outage stored")
            await eventually(lambda: _rows(
                db, "SELECT count(*), count(DISTINCT message) FROM recent_chat"
                    " WHERE message LIKE 'outage line %'") == [(20, 20)], timeout=30)
            details = [d for (d,) in _rows(db, "SELECT details FROM user_actions ORDER BY id")]
            for cmd in COMMANDS:
                name, _, args = cmd.partition(" ")
                mine = [d for d in details if d.startswith(f"cmd={name}, args: {args}, result: ")]
                assert len(mine) == 2, (cmd, mine)
                assert mine[0].endswith("result: pending")
            stats = reply_text(await ask(cytube, bot, "stats"))
            assert f"{MOD} (20)" in stats
        finally:
            assert await asyncio.to_thread(stop_process, proc) == 0
