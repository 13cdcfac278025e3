"""The CyTube side: join, login, initial state, reconnects, kicks, chat history."""

from __future__ import annotations

import asyncio
import html
from dataclasses import replace

from rosey import contract
from rosey.bot.cytube import SessionPhase
from tests.bot.conftest import BOT, FAST, MOD, collect, running_bot
from tests.support.cytube import CyTubeTestServer, RateLimit


async def test_bot_joins_logs_in_and_learns_the_channel(cytube, nats_server):
    await cytube.add_user(MOD, 2)
    await cytube.add_user("bob", 1)
    async with running_bot(cytube, nats_server.url) as bot:
        assert bot.channel.my_rank == 3
        assert bot.channel.is_moderator(MOD) and not bot.channel.is_moderator("bob")
        assert {u.name for u in bot.channel.users.values()} == {BOT, MOD, "bob"}
        await cytube.wait_for(lambda: bot.channel.usercount >= 3)
        events = [e for e, _ in cytube.events_from(BOT)]
        assert events[:2] == ["joinChannel", "login"]
        assert bot.ready()[0]


async def test_reconnects_after_the_server_restarts_and_rebuilds_state(cytube, nats_server):
    await cytube.add_user(MOD, 2)
    async with running_bot(cytube, nats_server.url) as bot:
        await bot.session.emit("queue", {"id": "abc", "type": "yt", "pos": "end"})
        await cytube.wait_for(lambda: len(bot.channel.playlist) == 1)
        await cytube.restart()
        await cytube.wait_for(lambda: bot.session.phase is not SessionPhase.JOINED)
        await cytube.wait_for(lambda: bot.session.joined and bot.channel.is_moderator(BOT),
                              timeout=10)
        # joinChannel and login were sent again on the new socket
        events = [e for e, _ in cytube.events_from(BOT)]
        assert events.count("joinChannel") == 2 and events.count("login") == 2
        assert [it.media.id for it in bot.channel.playlist] == ["abc"]
        assert bot.channel.playlist[0].uid == cytube.playlist[0]["uid"]  # uids as reloaded
        assert bot.metrics.registry.get_sample_value("rosey_cytube_reconnects_total") == 1


async def test_duplicate_login_kick_is_not_retried_blindly(cytube, nats_server):
    async with running_bot(cytube, nats_server.url) as bot:
        connections = cytube.connections
        await cytube.kick(BOT, "Duplicate login")
        await cytube.wait_for(lambda: bot.session.phase is SessionPhase.WAITING)
        assert bot.session.last_kick is not None and not bot.session.last_kick.retry
        assert not bot.ready()[0]
        # a fast policy would reconnect within ~0.1 s; the fatal wait is 300 s
        try:
            await cytube.wait_for(lambda: cytube.connections > connections, timeout=1.0)
        except AssertionError:
            pass
        else:
            raise AssertionError("the bot reconnected right after a Duplicate login kick")


async def test_an_ordinary_kick_rejoins_after_a_pause(cytube, nats_server):
    async with running_bot(cytube, nats_server.url) as bot:
        await cytube.kick(BOT, "")
        await cytube.wait_for(lambda: not bot.session.joined)
        await cytube.wait_for(lambda: bot.session.joined, timeout=10)
        assert bot.session.last_kick is not None and bot.session.last_kick.retry


async def test_connect_rate_limit_is_respected_and_the_bot_gets_in(nats_server):
    server = CyTubeTestServer(accounts={BOT: ("bot-secret", 3)}, rate_limit=(1, 2.0))
    await server.start()
    try:
        async with running_bot(server, nats_server.url) as bot:
            await server.kick(BOT, "")  # the next connect is refused: bucket empty
            await server.wait_for(lambda: bot.session.joined is False)
            await server.wait_for(lambda: bot.session.joined, timeout=15)
    finally:
        await server.stop()


async def test_reconnects_are_paced_so_cytube_never_refuses_one(nats_server):
    # CyTube's bucket scaled down (2 at once, then 2/s); the bot's own bucket a little slower
    server = CyTubeTestServer(accounts={BOT: ("bot-secret", 3)},
                              rate_limit=RateLimit(burst=2, per_second=2.0))
    policy = replace(FAST, burst=2, refill_seconds=0.6, initial_delay=0.01, max_delay=0.02,
                     kick_delay=0.0, stable_after=60.0)
    async with server, running_bot(server, nats_server.url, connect_policy=policy):
        for n in range(2, 7):  # each kick is followed at once by a reconnect
            await server.kick(BOT, "")
            await server.wait_for(lambda n=n: server.connections == n and BOT in server.users,
                                  timeout=10, what="the bot is back in")
        assert server.refused_connections == 0 and server.connections == 6


async def test_a_rate_limit_refusal_empties_the_bots_bucket_instead_of_retrying_at_once(
        nats_server):
    # the server's bucket (1, then 1 per 2 s) is tighter than the bot's (20, then 2/s)
    server = CyTubeTestServer(accounts={BOT: ("bot-secret", 3)},
                              rate_limit=RateLimit(burst=1, per_second=0.5))
    policy = replace(FAST, burst=20, refill_seconds=0.5, initial_delay=0.01, max_delay=0.02,
                     kick_delay=0.0, stable_after=60.0)
    async with server, running_bot(server, nats_server.url, connect_policy=policy):
        before = server.connections
        await server.kick(BOT, "")
        await server.wait_for(lambda: server.connections > before and BOT in server.users,
                              timeout=10, what="the bot is back in")
    # after each "Rate limit exceeded" the bot waits for a token (0.5 s): about 4 refusals
    # in the server's 2 s, where spending its burst would have been 20
    assert 1 <= server.refused_connections <= 6


async def test_guest_login_and_channel_password(nats_server):
    server = CyTubeTestServer(channel_password="sekrit", rate_limit=False)
    await server.start()
    try:
        from rosey.config import Secret
        async with running_bot(server, nats_server.url, wait_joined=False, user="guestbot",
                               password=Secret(""), channel_password=Secret("sekrit")) as bot:
            await server.wait_for(lambda: bot.session.joined and bot.channel.user("guestbot"),
                                  timeout=10)
            assert bot.channel.rank_of("guestbot") == 0
            joins = [d for e, d in server.events_from("guestbot") if e == "joinChannel"]
            assert joins == [{"name": server.channel, "pw": "sekrit"}]
    finally:
        await server.stop()


async def test_chat_is_unescaped_history_and_own_echo_are_not_published(cytube, nats_server, nc):
    history_server = cytube
    await history_server.add_user(MOD, 2)
    await history_server.user_chat(MOD, "old message before the bot")
    seen = await collect(nc, contract.MESSAGE_LOG)
    async with running_bot(cytube, nats_server.url) as bot:
        await bot.session.say("the bot speaks")
        await cytube.user_chat(MOD, "look (here) & <b>bold</b> https://example.com/x?a=1&b=2")
        await cytube.wait_for(lambda: len(seen) >= 1, timeout=5)
        await cytube.user_chat(MOD, "second")
        await cytube.wait_for(lambda: len(seen) >= 2, timeout=5)
    assert [(m["username"], m["message"]) for m in seen] == [
        (MOD, "look (here) & <b>bold</b> https://example.com/x?a=1&b=2"), (MOD, "second")]
    # the wire really was escaped
    assert any("&#40;here&#41;" in msg for _, msg in cytube.chat_texts())
    assert html.unescape("&#40;") == "("


async def test_a_burst_of_messages_stays_under_the_flood_limit(cytube, nats_server):
    async with running_bot(cytube, nats_server.url) as bot:
        # CyTube drops (and answers cooldown) beyond 20 at once: all 35 arriving proves none was
        texts = [f"line {i}" for i in range(35)]
        await asyncio.wait_for(asyncio.gather(*(bot.session.say(t) for t in texts)), 20)
        await cytube.wait_for(lambda: len([m for u, m in cytube.chat_texts() if u == BOT]) == 35)
        assert sorted(m for u, m in cytube.chat_texts() if u == BOT) == sorted(texts)


async def test_bursts_after_a_short_pause_stay_under_the_flood_limit(cytube, nats_server):
    # CyTube's limiter is no token bucket: after 20 messages it wants 100 ms between any two
    # until the sender was quiet for 2 s, so a pause shorter than that earns no new burst
    async with running_bot(cytube, nats_server.url) as bot:
        def said() -> list[str]:
            return [m for u, m in cytube.chat_texts() if u == BOT]

        sent: list[str] = []
        for burst in range(3):
            texts = [f"burst {burst} line {i}" for i in range(12)]
            sent += texts
            await asyncio.wait_for(asyncio.gather(*(bot.session.say(t) for t in texts)), 20)
            await asyncio.sleep(0.8)  # the traffic's shape: a pause shorter than CyTube's 2 s
        await cytube.wait_for(lambda: len(said()) >= len(sent), timeout=10,
                              what="every line reached the channel (none dropped by cooldown)")
        assert sorted(said()) == sorted(sent)


async def test_a_wrong_channel_password_is_not_retried_in_a_loop(nats_server):
    from rosey.config import Secret
    server = CyTubeTestServer(accounts={BOT: ("bot-secret", 1)}, channel_password="sekrit",
                              rate_limit=False)
    await server.start()
    try:
        async with running_bot(server, nats_server.url, wait_joined=False,
                               channel_password=Secret("wrong")) as bot:
            await server.wait_for(lambda: [e for e, _ in server.events_from(BOT)].count("login"))
            await server.wait_for(lambda: bot.session.phase is SessionPhase.JOINING)
            try:
                await server.wait_for(lambda: server.connections > 1 or bot.session.joined,
                                      timeout=1.0)
            except AssertionError:
                pass
            else:
                raise AssertionError("a refused channel password led to a reconnect or a join")
            assert not bot.ready()[0]
    finally:
        await server.stop()
