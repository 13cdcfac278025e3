"""Issue 11: a bot that tells the truth on a real CyTube, item by item, against the stand-in.

The stand-in CyTube applies the five default chat filters to chat and PMs, refuses what
CyTube refuses with CyTube's texts, and sends the confirmations CyTube sends.
"""

from __future__ import annotations

import asyncio
import json
import random
import urllib.request

import pytest
import structlog

from rosey import contract
from rosey.bot.cytube import ChatLine
from rosey.bot.limits import ConnectPolicy
from rosey.config import ConfigError, bot_settings
from tests.bot.conftest import (
    BOT,
    BOT_PW,
    FAST,
    MOD,
    ask,
    collect,
    queue_items,
    reply_text,
    running_bot,
)
from tests.support.cytube import CyTubeTestServer, format_chat
from tests.support.wait import eventually


def sent(cytube: CyTubeTestServer, event: str) -> list:
    return [d for e, d in cytube.events_from(BOT) if e == event]




# --- 1. text as typed through the filters ---------------------------------------------------------
async def test_commands_chat_and_audit_keep_the_markers_the_filters_rewrote(cytube, bot, nc):
    audit = await collect(nc, contract.PM_COMMAND)
    chat = await collect(nc, contract.MESSAGE_LOG)
    # the PM reaches the bot as "say 2<strong>3</strong>4 = 24"
    assert reply_text(await ask(cytube, bot, "say 2*3*4 = 24")) == "Said it"
    assert sent(cytube, "chatMsg")[-1]["msg"] == "2*3*4 = 24"
    # a YouTube id with two underscores arrives as xy<em>zw</em>abcde
    assert reply_text(await ask(cytube, bot, "add youtu.be/xy_zw_abcde")).startswith("Added")
    assert sent(cytube, "queue")[-1]["id"] == "xy_zw_abcde"
    assert cytube.playlist[-1]["media"]["id"] == "xy_zw_abcde"
    await cytube.wait_for(lambda: len(audit) == 4)
    assert [a["args"] for a in audit] == ["2*3*4 = 24"] * 2 + ["youtu.be/xy_zw_abcde"] * 2
    # chat is stored as typed, every filter undone
    typed = "`code` *bold* _it_ ~~gone~~ [sp]secret[/sp] see https://x.example/a_b_c (ok)"
    await cytube.user_chat("bob", typed)
    await cytube.wait_for(lambda: any(m["username"] == "bob" for m in chat))
    assert [m["message"] for m in chat if m["username"] == "bob"] == [typed]


async def test_the_stand_in_filters_chat_and_pms_like_cytube(cytube, bot):
    await cytube.user_chat("bob", "a *b* _c_")
    await cytube.wait_for(lambda: ("bob", "a <strong>b</strong> <em>c</em>") in cytube.chat_texts())
    await cytube.user_pm(MOD, BOT, "say x_y_z")
    await cytube.wait_for(lambda: "say x<em>y</em>z" in [
        m for _, to, m in cytube._pm_log if to == BOT])


# --- 2. pause and resume never freeze the channel --------------------------------------------------
async def test_resume_hands_leader_back_and_cytube_runs_its_clock(cytube, bot):
    await queue_items(cytube, bot, "aaaaaaaaaaa")
    assert "I do not lead playback" in reply_text(await ask(cytube, bot, "resume"))
    assert reply_text(await ask(cytube, bot, "pause")).startswith("Paused aaaaaaaaaaa")
    assert cytube.leader == BOT and bot.channel.paused
    assert reply_text(await ask(cytube, bot, "resume")) == \
        "Resumed aaaaaaaaaaa: CyTube's clock runs it again"
    assert cytube.leader is None and not bot.channel.paused
    assert sent(cytube, "assignLeader")[-1] == {"name": ""}


async def test_a_media_change_while_the_bot_leads_hands_leader_back(cytube, bot):
    await queue_items(cytube, bot, "aaaaaaaaaaa", "bbbbbbbbbbb")
    assert reply_text(await ask(cytube, bot, "pause")).startswith("Paused")
    assert cytube.leader == BOT
    assert reply_text(await ask(cytube, bot, "jump 2")) == "Now playing bbbbbbbbbbb"
    # without the hand-back CyTube's timer would stay stopped at 0 s
    await cytube.wait_for(lambda: cytube.leader is None, what="leader handed back")
    await cytube.wait_for(lambda: not bot.channel.paused)


async def test_a_pause_that_outlives_the_limit_hands_leader_back_and_logs_it(cytube, nats_server):
    await cytube.add_user(MOD, 2)
    async with running_bot(cytube, nats_server.url, pause_limit=0.5) as bot:
        await cytube.wait_for(lambda: bot.channel.is_moderator(MOD))
        await queue_items(cytube, bot, "aaaaaaaaaaa")
        with structlog.testing.capture_logs() as logs:
            assert reply_text(await ask(cytube, bot, "pause")).startswith("Paused")
            assert cytube.leader == BOT
            await cytube.wait_for(lambda: cytube.leader is None, what="pause limit hand-back")
        assert any(e["event"] == "leader_handed_back" and e["reason"] == "pause_limit"
                   for e in logs)


# --- 3. replies and audit rows from CyTube's answer -------------------------------------------------
async def test_refusals_are_replied_and_audited_as_cytube_sent_them(cytube, nats_server, nc):
    server = CyTubeTestServer(accounts={BOT: (BOT_PW, 3), "rbowner": ("pw", 5)},
                              rate_limit=False)
    await server.start()
    try:
        await server.add_user(MOD, 2)
        async with running_bot(server, nats_server.url) as bot:
            await server.wait_for(lambda: bot.channel.is_moderator(MOD))
            audit = await collect(nc, contract.PM_COMMAND)
            assert reply_text(await ask(server, bot, f"pm {BOT} hi")) == \
                "CyTube refused: You can't PM yourself!"
            # an absent user of higher rank: only CyTube knows, and it refuses
            assert reply_text(await ask(server, bot, "ban rbowner")) == \
                "CyTube refused: You don't have permission to ban rbowner"
            assert server.banned == set()
            await server.wait_for(lambda: len(audit) == 4)
            assert [(a["command"], a["result"], a["error"]) for a in audit[1::2]] == [
                ("pm", "error", "CyTube refused: You can't PM yourself!"),
                ("ban", "error", "CyTube refused: You don't have permission to ban rbowner")]
            # an absent user of lower rank: banned, and the reply rests on the banlist
            assert reply_text(await ask(server, bot, "ban troll")) == \
                "Banned troll (on the channel's banlist)"
            assert "troll" in server.banned and ("requestBanlist", None) in \
                server.events_from(BOT)
            assert reply_text(await ask(server, bot, "ban troll")) == \
                "CyTube refused: troll is already banned"
    finally:
        await server.stop()


async def test_where_cytube_stays_silent_the_reply_says_so(cytube, bot):
    # /unmute for someone absent is accepted without a word from CyTube
    cytube.muted.add("ghost")
    reply = reply_text(await ask(cytube, bot, "unmute ghost"))
    assert reply.startswith("CyTube says nothing when unmuting someone who is not here")
    assert "ghost" not in cytube.muted
    assert reply_text(await ask(cytube, bot, "unmute bob")) == \
        "CyTube refused: bob is not muted."


async def test_a_pm_is_confirmed_by_its_echo(cytube, bot):
    assert reply_text(await ask(cytube, bot, "pm BOB _psst_")) == "Sent to bob"
    await cytube.wait_for(lambda: "<em>psst</em>" in cytube.pms_to("bob"))


# --- 4. add garbage ------------------------------------------------------------------------------
async def test_add_garbage_is_not_a_link_and_nothing_is_sent(cytube, bot):
    assert reply_text(await ask(cytube, bot, "add garbage")) == \
        "garbage is not a link CyTube can play"
    assert sent(cytube, "queue") == []


# --- 5. current after the playlist is cleared ------------------------------------------------------
async def test_current_says_nothing_plays_after_the_playlist_is_cleared(cytube, bot):
    await queue_items(cytube, bot, "aaaaaaaaaaa", "bbbbbbbbbbb")
    assert "aaaaaaaaaaa" in reply_text(await ask(cytube, bot, "current"))
    await bot.session.emit("clearPlaylist")
    await cytube.wait_for(lambda: not bot.channel.playlist)
    assert cytube.current_uid is None
    assert reply_text(await ask(cytube, bot, "current")) == "Nothing is playing"


async def test_current_says_nothing_plays_after_the_last_item_is_removed(cytube, bot):
    await queue_items(cytube, bot, "aaaaaaaaaaa")
    assert reply_text(await ask(cytube, bot, "remove 1")) == "Removed aaaaaaaaaaa"
    assert reply_text(await ask(cytube, bot, "current")) == "Nothing is playing"


# --- 6. the reconnect delay is capped ------------------------------------------------------------
def test_reconnect_delay_is_capped_with_jitter_below_the_cap():
    from rosey.bot.cytube import CyTubeSession

    random.seed(11)
    policy = ConnectPolicy()  # the default cap: 20 s
    delays = [CyTubeSession._backoff(_Policy(policy), attempt) for attempt in range(1, 2000)]
    capped = delays[10:]
    assert max(delays) <= 20.0 and min(capped) >= 16.0
    assert max(capped) - min(capped) > 2  # jittered, not all at the cap
    # the bot's connect bucket still allows 1 per 12 s, so a 16-20 s pace never hits it
    assert policy.refill_seconds <= min(capped)


class _Policy:
    def __init__(self, policy: ConnectPolicy) -> None:
        self._policy = policy


def test_reconnect_cap_and_pause_limit_are_settings():
    env = {"ROSEY_CYTUBE_DOMAIN": "https://cytu.be", "ROSEY_CYTUBE_CHANNEL": "c"}
    default = bot_settings(env)
    assert (default.reconnect_max_delay, default.pause_limit) == (20.0, 600.0)
    tuned = bot_settings({**env, "ROSEY_RECONNECT_MAX_SECONDS": "15",
                          "ROSEY_PAUSE_LIMIT_SECONDS": "30"})
    assert (tuned.reconnect_max_delay, tuned.pause_limit) == (15.0, 30.0)
    assert bot_settings(env, reconnect_max_delay=17.0, pause_limit=5.0).pause_limit == 5.0
    with pytest.raises(ConfigError):
        bot_settings({**env, "ROSEY_RECONNECT_MAX_SECONDS": "0"})


async def test_after_a_long_outage_the_bot_returns_within_the_cap(cytube, nats_server):
    cap = 0.6
    policy = ConnectPolicy(**{**{f: getattr(FAST, f) for f in FAST.__dataclass_fields__},
                              "max_delay": cap, "initial_delay": 0.05})
    # long enough for an uncapped backoff to grow past the cap: after the 8th failed attempt
    # it would wait initial_delay * 2**7 = 6.4 s, ten times the cap (and would have taken
    # ~12.7 s, 20 caps, to fail 8 times; a capped one takes ~3 s)
    attempts = 8

    def failed_attempts(logs: list) -> int:
        return max((e["attempt"] for e in logs if e["event"] == "cytube_connect_failed"),
                   default=0)

    async with running_bot(cytube, nats_server.url, connect_policy=policy) as bot:
        with structlog.testing.capture_logs() as logs:
            await cytube.stop()
            await eventually(lambda: failed_attempts(logs) >= attempts, timeout=30,
                             what=f"{attempts} failed connect attempts while CyTube is away")
        await cytube.start()
        back = asyncio.get_running_loop().time()
        await cytube.wait_for(lambda: bot.session.joined, timeout=10)
        assert asyncio.get_running_loop().time() - back < cap + 1.0


# --- 7. the bot's own rank and the channel's permissions ------------------------------------------
async def test_a_bot_below_moderator_says_why_before_trying(nats_server):
    server = CyTubeTestServer(accounts={BOT: (BOT_PW, 1)}, rate_limit=False)
    await server.start()
    try:
        await server.add_user(MOD, 2)
        await server.add_user("bob", 1)
        with structlog.testing.capture_logs() as logs:
            async with running_bot(server, nats_server.url, wait_joined=False,
                                   serve_metrics=True) as bot:
                await server.wait_for(lambda: bot.session.joined and bot.channel.user(MOD)
                                      and bot.channel.my_rank == 1 and bot.channel.permissions)
                assert reply_text(await ask(server, bot, "kick bob")) == \
                    "I can't kick here: it needs rank 1.5 (kick) and mine is 1"
                assert not any(d["msg"].startswith("/kick") for d in sent(server, "chatMsg"))
                status = reply_text(await ask(server, bot, "status"))
                assert "me: rank 1, cannot: add, remove, move, jump, next, pause, resume, " \
                       "kick, ban, mute, unmute" in status
                reg = bot.metrics.registry
                assert reg.get_sample_value("rosey_bot_rank") == 1
                assert reg.get_sample_value("rosey_bot_can_moderate") == 0
                await server.wait_for(lambda: "cannot" in bot.ready_detail()["moderation"])
                url = f"http://127.0.0.1:{bot.metrics_server.port}/readyz"
                body = await asyncio.to_thread(lambda: urllib.request.urlopen(url).read())
                assert b"moderation: rank 1, cannot: add" in body
        warned = [e for e in logs if e["event"] == "bot_cannot_moderate"]
        assert warned and warned[-1]["why"]["ban"] == "it needs rank 2 (ban) and mine is 1"
    finally:
        await server.stop()


async def test_an_unregistered_channel_allows_no_kick_mute_or_ban(nats_server):
    server = CyTubeTestServer(accounts={BOT: (BOT_PW, 5)}, rate_limit=False, registered=False)
    await server.start()
    try:
        await server.add_user(MOD, 2)
        await server.add_user("bob", 1)
        async with running_bot(server, nats_server.url, wait_joined=False) as bot:
            await server.wait_for(lambda: bot.session.joined and bot.channel.user(MOD)
                                  and not bot.channel.registered and bot.channel.my_rank == 1)
            assert reply_text(await ask(server, bot, "ban bob")) == (
                "I can't ban here: this channel gives nobody the ban permission "
                "(the channel is not registered)")
            # what an unregistered channel does allow still works (open playlist)
            assert reply_text(await ask(server, bot, "add yt:aaaaaaaaaaa")).startswith("Added")
            assert "unregistered channel, cannot: kick, ban, mute, unmute" in \
                reply_text(await ask(server, bot, "status"))
            assert bot.metrics.registry.get_sample_value("rosey_bot_can_moderate") == 0
    finally:
        await server.stop()


async def test_a_moderator_bot_can_moderate(bot):
    assert bot.metrics.registry.get_sample_value("rosey_bot_rank") == 3
    assert bot.metrics.registry.get_sample_value("rosey_bot_can_moderate") == 1


# --- leftovers: query outcomes counted, the command context on every log line ---------------------
async def test_bot_queries_are_counted_by_subject_and_outcome(cytube, bot, nc):
    reg = bot.metrics.registry
    labels = {"subject": contract.QUERY_CHANNEL_STATS, "outcome": "no_responders"}
    assert "no database service" in reply_text(await ask(cytube, bot, "stats"))
    assert reg.get_sample_value("rosey_bot_queries_total", labels) == 1

    async def respond(msg) -> None:
        await msg.respond(json.dumps({
            "success": True, "high_water_mark": {"users": 3, "timestamp": 1.0},
            "high_water_connected": {"users": 4, "timestamp": 1.0}, "top_chatters": [],
            "total_users_seen": 5}).encode())

    await nc.subscribe(contract.QUERY_CHANNEL_STATS, cb=respond)
    await nc.flush()
    assert "Users seen: 5" in reply_text(await ask(cytube, bot, "stats"))
    assert reg.get_sample_value("rosey_bot_queries_total",
                                {**labels, "outcome": "ok"}) == 1


async def test_every_log_line_of_a_command_carries_the_command_and_moderator(cytube, bot):
    with structlog.testing.capture_logs(
            processors=[structlog.contextvars.merge_contextvars]) as logs:
        assert "no database service" in reply_text(await ask(cytube, bot, "stats"))
        bot.on_chat(ChatLine(username="bob", text="outside", time=0, history=False,
                             own=False))
        structlog.get_logger().info("after_the_command")
    during = [e for e in logs if e["event"] in ("query_failed", "pm_command")]
    assert len(during) == 2
    assert all(e["command"] == "stats" and e["moderator"] == MOD for e in during)
    after = next(e for e in logs if e["event"] == "after_the_command")
    assert "moderator" not in after and "command" not in after


def test_format_chat_is_what_the_bot_undoes():
    from rosey.bot.text import plain_text

    assert plain_text(format_chat("2*3*4 = 24")) == "2*3*4 = 24"


async def test_a_refused_add_quotes_queue_fail(cytube, bot, nc):
    audit = await collect(nc, contract.PM_COMMAND)
    url = "https://cdn.example.com/clip.mp4"
    assert reply_text(await ask(cytube, bot, f"add {url}")) == \
        "CyTube refused: Raw file playback is not enabled on this server"
    await cytube.wait_for(lambda: len(audit) == 2)
    assert audit[1]["result"] == "error" and audit[1]["error"].endswith("on this server")
