"""The bot with the real DatabaseService: audit rows, stats, the outbound queue, outages."""

from __future__ import annotations

import asyncio
import json
import sqlite3

import nats

from rosey import contract
from tests.bot.conftest import BOT, MOD, ask, reply_text, running_bot
from tests.support.db import running_db_service


def _rows(db_path, sql, *params):
    if not db_path.exists():
        return []
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()


async def test_audit_rows_pending_and_final_for_success_error_and_unknown(
        cytube, nats_server, tmp_path):
    db = tmp_path / "r.db"
    await cytube.add_user(MOD, 2)
    async with running_db_service(nats_server.url, db), running_bot(cytube, nats_server.url) as bot:
        await ask(cytube, bot, "say hello (friends) & more")
        await ask(cytube, bot, "remove 42")
        await ask(cytube, bot, "frobnicate a b  c")
        await cytube.wait_for(lambda: len(_rows(db, "SELECT id FROM user_actions")) == 6,
                              timeout=10)
    details = [d for (d,) in _rows(
        db, "SELECT details FROM user_actions WHERE action_type = 'pm_command' AND username = ?"
            " ORDER BY id", MOD)]
    assert details[0:2] == ["cmd=say, args: hello (friends) & more, result: pending",
                            "cmd=say, args: hello (friends) & more, result: success"]
    assert details[2] == "cmd=remove, args: 42, result: pending"
    assert details[3].startswith("cmd=remove, args: 42, result: error, error: no item #42")
    assert details[4] == "cmd=frobnicate, args: a b  c, result: pending"
    assert details[5] == ("cmd=frobnicate, args: a b  c, result: error, "
                          "error: Unknown command: frobnicate")


async def test_stats_user_and_channel_events_come_from_the_database(cytube, nats_server, tmp_path):
    db = tmp_path / "r.db"
    await cytube.add_user(MOD, 2)
    async with running_db_service(nats_server.url, db), running_bot(cytube, nats_server.url) as bot:
        await cytube.add_user("bob", 1)
        await cytube.user_chat("bob", "hi all")
        await cytube.user_chat("bob", "again")
        await cytube.wait_for(lambda: _rows(
            db, "SELECT total_chat_lines FROM user_stats WHERE username = 'bob'") == [(2,)],
            timeout=10)
        stats = reply_text(await ask(cytube, bot, "stats"))
        assert "Top chatters: bob (2)" in stats and "Most users: 3" in stats
        user = reply_text(await ask(cytube, bot, "user bob"))
        assert "bob: here, rank 1" in user and "chat lines: 2" in user
        await cytube.remove_user("bob")
        await cytube.wait_for(lambda: _rows(
            db, "SELECT current_session_start FROM user_stats WHERE username = 'bob'") == [(None,)],
            timeout=10)
        await cytube.wait_for(lambda: _rows(
            db, "SELECT bot_name, channel, bot_connected FROM current_status")
            == [(BOT, cytube.channel, 1)], timeout=10)
    assert _rows(db, "SELECT max_users FROM channel_stats") == [(3,)]
    assert _rows(db, "SELECT count(*) FROM user_count_history")[0][0] >= 2
    assert [m for (m,) in _rows(db, "SELECT message FROM recent_chat")] == ["hi all", "again"]


async def test_outbound_queue_is_said_in_chat_and_marked_sent(cytube, nats_server, nc, tmp_path):
    db = tmp_path / "r.db"
    long = " ".join(f"w{i}" for i in range(120))  # > 320 characters: two chat messages
    async with running_db_service(nats_server.url, db), running_bot(cytube, nats_server.url):
        await nc.publish(contract.OUTBOUND_ENQUEUE, json.dumps({"message": "from the queue"}).encode())
        await nc.publish(contract.OUTBOUND_ENQUEUE, json.dumps({"message": long}).encode())
        await cytube.wait_for(lambda: _rows(db, "SELECT count(*) FROM outbound_messages WHERE sent = 1")
                              == [(2,)], timeout=15)
    said = [m for u, m in cytube.chat_texts() if u == BOT]
    assert said[0] == "from the queue"
    assert all(len(m) <= 320 for m in said) and " ".join(said[1:]) == long


async def test_command_works_while_nats_is_down_and_the_reply_does_not_wait_for_the_audit(
        cytube, nats_server):
    await cytube.add_user(MOD, 2)
    async with running_bot(cytube, nats_server.url) as bot:
        nats_server.stop()
        await cytube.wait_for(lambda: not bot.nats_connected())
        assert reply_text(await ask(cytube, bot, "say nats is away")) == "Said it"
        assert (BOT, "nats is away") in cytube.chat_texts()
        assert bot.publisher.depth >= 2  # both audit events still waiting: the reply did not
        await asyncio.to_thread(nats_server.start)
        await cytube.wait_for(lambda: bot.publisher.depth == 0, timeout=20)
    nc = await nats.connect(nats_server.url)
    try:
        sub = await nc.jetstream().pull_subscribe(contract.PM_COMMAND, durable=None)
        msgs = await sub.fetch(2, timeout=5)
        assert [json.loads(m.data)["result"] for m in msgs] == ["pending", "success"]
        assert all(json.loads(m.data)["args"] == "nats is away" for m in msgs)
    finally:
        await nc.close()


async def test_with_the_database_down_the_bot_keeps_going_and_recovers(
        cytube, nats_server, nc, tmp_path):
    db = tmp_path / "r.db"
    await cytube.add_user(MOD, 2)
    async with running_bot(cytube, nats_server.url) as bot:
        async with running_db_service(nats_server.url, db):
            await ask(cytube, bot, "info")
        # the DatabaseService is gone
        assert reply_text(await ask(cytube, bot, "stats")) == \
            "stats are unavailable right now: no database service is running"
        assert reply_text(await ask(cytube, bot, "say still chatting")) == "Said it"
        await cytube.user_chat(MOD, "chat while the database is away")
        await nc.publish(contract.OUTBOUND_ENQUEUE, json.dumps({"message": "queued meanwhile"}).encode())
        await nc.flush()
        async with running_db_service(nats_server.url, db):
            await cytube.wait_for(lambda: (BOT, "queued meanwhile") in cytube.chat_texts(),
                                  timeout=15)
            stats = reply_text(await ask(cytube, bot, "stats"))
            assert f"Top chatters: {MOD} (1)" in stats
            await cytube.wait_for(lambda: _rows(
                db, "SELECT count(*) FROM user_actions WHERE details LIKE 'cmd=say, args: still chatting%'")
                == [(2,)], timeout=10)
