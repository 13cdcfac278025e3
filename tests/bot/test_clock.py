"""The bot's timers on a clock the test moves (issue 18 item 8): an hour-long pause limit and
a two-hour mute run out when the test says so, not after an hour. CyTube, NATS and the
DatabaseService stay real; only the schedule's time is the test's."""

from __future__ import annotations

from tests.bot.conftest import BOT, MOD, ask, queue_items, reply_text, running_bot
from tests.support.clock import FakeClock
from tests.support.db import rows, running_db_service


async def test_an_hour_long_pause_limit_hands_the_leader_back_when_the_hour_is_up(
        cytube, nats_server):
    clock = FakeClock()
    await cytube.add_user(MOD, 2)
    async with running_bot(cytube, nats_server.url, pause_limit=3600, clock=clock) as bot:
        await queue_items(cytube, bot, "aaaaaaaaaaa")
        assert reply_text(await ask(cytube, bot, "pause")).startswith("Paused")
        assert cytube.leader == BOT
        await clock.advance(3599)
        assert cytube.leader == BOT  # not a second early
        await clock.advance(1)
        await cytube.wait_for(lambda: not cytube.leader, what="the leader handed back")


async def test_a_two_hour_mute_is_lifted_when_the_clock_reaches_it(cytube, nats_server, tmp_path):
    clock = FakeClock()
    db = tmp_path / "r.db"
    await cytube.add_user(MOD, 2)
    await cytube.add_user("bob", 1)
    async with running_db_service(nats_server.url, db), \
            running_bot(cytube, nats_server.url, clock=clock) as bot:
        await cytube.wait_for(lambda: bot.channel.user("bob"))
        assert reply_text(await ask(cytube, bot, "mute bob 2h")).startswith("Muted bob for 2h")
        await clock.advance(7199)
        assert "bob" in cytube.muted
        await clock.advance(1)
        await cytube.wait_for(lambda: "bob" not in cytube.muted, what="the mute lifted")
        await cytube.wait_for(lambda: rows(db, "SELECT ended_how FROM punishments")
                              == [("expired",)], timeout=10)
        assert bot.metrics.registry.get_sample_value(
            "rosey_punishment_lifts_total", {"timing": "on_time"}) == 1
