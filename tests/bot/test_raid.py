"""Raid mode end to end (issue 19 item 5): a trigger switches CyTube's protections on through
setOptions, keeps what was there in the DatabaseService first, announces it, and after a calm
period restores exactly the previous values; a restart mid-raid restores them too."""

from __future__ import annotations

import json

from tests.bot.conftest import MOD, ask, reply_text, running_bot
from tests.support.db import rows, running_db_service

RAID = """\
rules: []
raid:
  joins_per_minute: 3
  calm: {calm}
  options:
    chat_antiflood: true
    new_user_chat_delay: 600
  announce_on: "Raid mode: new users wait 10 minutes to chat"
  announce_off: "Raid mode is over"
"""
PROTECTED = {"chat_antiflood": True, "new_user_chat_delay": 600}


def _options(cytube) -> dict:
    return {k: cytube.options[k] for k in PROTECTED}


def _said(cytube, text: str) -> bool:
    return any(text in msg for _, msg in cytube.chat_texts())


def _raid_row(db) -> tuple:
    (row,) = rows(db, "SELECT active, saved_options FROM raid_state")
    return row[0], json.loads(row[1]) if row[1] else None


async def test_joins_switch_raid_mode_on_and_calm_restores_the_exact_options(
        cytube, nats_server, tmp_path):
    path = tmp_path / "automod.yaml"
    path.write_text(RAID.format(calm="1s"))
    db = tmp_path / "r.db"
    await cytube.add_user(MOD, 2)
    async with running_db_service(nats_server.url, db), \
            running_bot(cytube, nats_server.url, automod_file=str(path)) as bot:
        await cytube.wait_for(lambda: bot.channel.options and bot.actions.ready)
        before = _options(cytube)
        assert before == {"chat_antiflood": False, "new_user_chat_delay": 0}
        for name in ("r1", "r2", "r3"):
            await cytube.add_user(name, 0)
        await cytube.wait_for(lambda: _options(cytube) == PROTECTED, what="protections on")
        await cytube.wait_for(lambda: _said(cytube, "Raid mode: new users wait"))
        await cytube.wait_for(lambda: _options(cytube) == before, timeout=10,
                              what="calm restored the previous options")
        await cytube.wait_for(lambda: _said(cytube, "Raid mode is over"))
        assert reply_text(await ask(cytube, bot, "raid")) == "Raid mode is off"
        await cytube.wait_for(lambda: _raid_row(db) == (0, None), timeout=10)
        assert bot.metrics.registry.get_sample_value("rosey_raid_active") == 0


async def test_a_restart_mid_raid_restores_the_options_kept_in_the_database(
        cytube, nats_server, tmp_path):
    path = tmp_path / "automod.yaml"
    path.write_text(RAID.format(calm="1h"))
    db = tmp_path / "r.db"
    await cytube.add_user(MOD, 2)
    async with running_db_service(nats_server.url, db):
        async with running_bot(cytube, nats_server.url, automod_file=str(path)) as bot:
            await cytube.wait_for(lambda: bot.channel.options and bot.actions.ready)
            reply = reply_text(await ask(cytube, bot, "raid on"))
            assert reply.startswith(f"Raid mode is on (switched on by {MOD})"), reply
            assert _options(cytube) == PROTECTED
            assert reply_text(await ask(cytube, bot, "raid status")).startswith(
                "Raid mode is on for")
            await cytube.wait_for(lambda: _raid_row(db) == (
                1, {"chat_antiflood": False, "new_user_chat_delay": 0}), timeout=10,
                what="the previous options kept")
        assert _options(cytube) == PROTECTED  # the bot went away mid-raid: still locked
        async with running_bot(cytube, nats_server.url, automod_file=str(path)) as bot:
            await cytube.wait_for(lambda: _options(cytube) == {
                "chat_antiflood": False, "new_user_chat_delay": 0}, timeout=10,
                what="the new bot restored the kept options")
            await cytube.wait_for(lambda: _raid_row(db) == (0, None), timeout=10)
            # (ask() counts the first bot's PMs too: same name, same server)
            assert bot.raid.status() == "Raid mode is off" and not bot.raid.active
