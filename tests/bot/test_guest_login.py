"""A guest bot's refused logins: CyTube's guest-login delay and a name still in use.

A guest bot that reconnects soon after its last successful guest login is refused ("Guest
logins are restricted to one per IP address per N seconds."). It must keep its socket and send
``login`` again after its ``guest_login_delay``, not reconnect. A guest login that lands after
the join can also find its name held by someone else ("That name is already in use on this
channel."); that too is retried on the same socket until the name is free.

The stand-in server runs with a 1 s guest delay; the bot uses ``FAST`` (0.3 s retries).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from rosey.bot.cytube import SessionPhase
from rosey.bot.service import BotService
from rosey.config import Secret
from tests.bot.conftest import FAST, running_bot
from tests.support.cytube import CyTubeTestServer, LoginReply

GUEST = "guestbot"
DELAY = 1.0  # the server's guest-login delay
REFUSED = "Guest logins are restricted to one per IP address per 1 seconds."
IN_USE = "That name is already in use on this channel."
EARLY = 0.01  # asyncio timers may fire this much before their time


@asynccontextmanager
async def guest_bot(nats_url: str) -> AsyncIterator[tuple[CyTubeTestServer, BotService]]:
    server = CyTubeTestServer(rate_limit=False, guest_login_delay=DELAY)
    await server.start()
    try:
        async with running_bot(server, nats_url, wait_joined=False, user=GUEST,
                               password=Secret("")) as bot:
            await logged_in(server, bot)
            yield server, bot
    finally:
        await server.stop()
    assert server.errors == []


async def logged_in(server: CyTubeTestServer, bot: BotService, timeout: float = 5.0) -> None:
    """The bot is in the channel *as* GUEST: ``joined`` alone is also true while anonymous."""
    await server.wait_for(
        lambda: GUEST in server.users and server.login_replies[-1].success
        and bot.session.joined and bot.channel.my_rank == 0 and bot.channel.user(GUEST),
        timeout=timeout, what="the guest bot logged in and joined")


def replies_since(server: CyTubeTestServer, reply: LoginReply) -> list[LoginReply]:
    return server.login_replies[server.login_replies.index(reply):]


def assert_retried_on_one_socket(replies: list[LoginReply]) -> None:
    """Every reply went to one socket, each retry at least the bot's guest delay later."""
    assert len({r.sid for r in replies}) == 1, replies
    gaps = [later.at - earlier.at for earlier, later in zip(replies, replies[1:], strict=False)]
    assert gaps and min(gaps) >= FAST.guest_login_delay - EARLY, gaps


async def test_guest_refused_within_the_delay_keeps_its_socket_and_gets_in(nats_server):
    async with guest_bot(nats_server.url) as (server, bot):
        first = server.login_replies[-1]
        assert first.reply == {"success": True, "name": GUEST, "guest": True}
        connections = server.connections

        await server.kick(GUEST, "")  # an ordinary kick: the bot reconnects in ~0.3 s
        refusal = await server.wait_for(
            lambda: next((r for r in server.login_replies if not r.success), None),
            what="the reconnected guest bot was refused")
        assert refusal.error == REFUSED and refusal.at - first.at < DELAY
        # in the channel as a viewer while refused: not ready (it can neither chat nor obey)
        await server.wait_for(lambda: bot.session.joined and not bot.session.logged_in,
                              what="joined as a viewer before the guest delay ran out")
        assert bot.ready() == (False, {"nats": True, "cytube": False})
        await logged_in(server, bot)

        replies = replies_since(server, refusal)
        assert [r.success for r in replies] == [False] * (len(replies) - 1) + [True]
        assert {r.error for r in replies[:-1]} == {REFUSED}
        assert_retried_on_one_socket(replies)
        assert replies[-1].at - first.at >= DELAY
        assert server.connections == connections + 1  # no reconnect because of a refusal
        assert bot.session.bot_name == GUEST and bot.channel.rank_of(GUEST) == 0
        assert bot.session.phase is SessionPhase.JOINED and bot.ready()[0]
        events = [e for e, _ in server.events_from(GUEST)]
        assert events.count("joinChannel") == 2
        assert events.count("login") == len(server.login_replies) == 1 + len(replies)


async def name_held_then_freed(server: CyTubeTestServer, bot: BotService) -> list[LoginReply]:
    """Kick the bot, let a simulated user hold its name, free it; the replies since in-use."""
    connections = server.connections
    await server.kick(GUEST, "")
    # someone takes the name before the bot is back (like a stale socket holding it)
    await server.add_user(GUEST, 0)
    # the first login (sent with joinChannel) is refused for the delay, so the retries land
    # after the join, where the name check applies
    in_use = await server.wait_for(
        lambda: next((r for r in server.login_replies if r.error == IN_USE), None),
        timeout=5, what="the bot was told its name is in use")
    await server.wait_for(
        lambda: server.login_replies.index(in_use) < len(server.login_replies) - 1,
        timeout=5, what="another login after the name-in-use refusal (still retrying)")
    assert not server.login_replies[-1].success
    assert GUEST in server.users and server.users[GUEST]["rank"] == 0  # the holder

    await server.remove_user(GUEST)
    await logged_in(server, bot)
    replies = replies_since(server, in_use)
    assert replies[-1].reply == {"success": True, "name": GUEST, "guest": True}
    assert {r.error for r in replies[:-1]} == {IN_USE}
    assert_retried_on_one_socket(replies)
    retry_refusals = [r for r in server.login_replies[1:] if not r.success]
    assert {r.error for r in retry_refusals} == {REFUSED, IN_USE}
    assert server.connections == connections + 1
    assert bot.session.phase is SessionPhase.JOINED
    return replies


async def test_guest_name_in_use_is_retried_until_the_name_is_free(nats_server):
    async with guest_bot(nats_server.url) as (server, bot):
        await name_held_then_freed(server, bot)


async def test_guest_name_in_use_is_retried_after_the_guest_delay(nats_server):
    async with guest_bot(nats_server.url) as (server, bot):
        replies = await name_held_then_freed(server, bot)
        gaps = [later.at - earlier.at for earlier, later in zip(replies, replies[1:], strict=False)]
        # FAST: guest_login_delay 0.3 s, login_retry_delay 0.5 s
        assert max(gaps) < (FAST.guest_login_delay + FAST.login_retry_delay) / 2, gaps
