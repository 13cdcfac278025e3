"""The action layer (issue 18 item 1): one way to act, one way to fail.

NotJoined at once while away; a deadline counted from the call, waiting for the chat budget
included, after which a chat command is never sent; channel options checked against the
bot's rank before anything is sent, sent only when they change, confirmed by ``channelOpts``.
"""

from __future__ import annotations

import asyncio

import pytest

from rosey.errors import ActionFailed, NotConfirmed, NotJoined, Refused
from tests.bot.conftest import BOT, BOT_PW, ask, reply_text, running_bot
from tests.support.cytube import CyTubeTestServer


def _sent(cytube, event: str) -> list:
    return [d for e, d in cytube.events_from(BOT) if e == event]


async def test_away_every_action_fails_at_once_and_nothing_goes_out_later(cytube, bot):
    await cytube.stop()
    await cytube.wait_for(lambda: not bot.session.joined, what="the bot saw the server go")
    for act in (bot.actions.kick("bob"), bot.actions.mute("bob"), bot.actions.say("hi"),
                bot.actions.banlist(), bot.actions.set_options({"allow_dupes": True})):
        with pytest.raises(NotJoined):  # before: chat commands waited for the next join
            await asyncio.wait_for(act, 2)
    await cytube.start()
    await cytube.wait_for(lambda: bot.session.joined and bot.actions.ready,
                          what="the bot is back")
    assert reply_text(await ask(cytube, bot, "status")).startswith("CyTube: joined")
    chat = [d["msg"] for d in _sent(cytube, "chatMsg")]
    assert not any(m.startswith(("/kick", "/mute")) or m == "hi" for m in chat), chat


async def test_the_deadline_counts_the_wait_for_the_chat_budget(cytube, bot):
    """CyTube's cooldown holds every chat line longer than the action's deadline (3 s here):
    the kick fails as not sent, and is not sent when the budget comes back."""
    await cytube._broadcast("cooldown", 4000)
    await cytube.wait_for(lambda: bot.session._send_pacer.wait_time() > 3.5,
                          what="the bot honours the cooldown")
    with pytest.raises(NotConfirmed, match="could not be sent within 3 s"):
        await bot.actions.kick("bob", "spam")
    assert reply_text(await ask(cytube, bot, "users")).startswith("3 users")  # later PMs go
    assert bot.channel.user("bob") is not None
    assert not any(d["msg"].startswith("/kick") for d in _sent(cytube, "chatMsg"))


async def test_channel_options_change_once_confirmed_by_channel_opts(cytube, bot):
    await cytube.wait_for(lambda: bot.channel.options, what="channelOpts seen on join")
    await bot.actions.set_options({"chat_antiflood": True, "new_user_chat_delay": 120})
    assert cytube.options["chat_antiflood"] is True and cytube.options["new_user_chat_delay"] == 120
    assert bot.channel.options["chat_antiflood"] is True
    sent = len(_sent(cytube, "setOptions"))
    await bot.actions.set_options({"chat_antiflood": True})  # already so: nothing is sent
    assert len(_sent(cytube, "setOptions")) == sent == 1
    with pytest.raises(Refused, match='CyTube refused: Input must be a number 0 or greater'):
        await bot.actions.set_options({"voteskip_ratio": "lots"})


async def test_options_the_bot_rank_cannot_change_are_refused_before_sending(nats_server):
    async with CyTubeTestServer(accounts={BOT: (BOT_PW, 2)}, rate_limit=False) as cytube, \
            running_bot(cytube, nats_server.url) as bot:
        await cytube.wait_for(lambda: bot.channel.options, what="channelOpts seen on join")
        with pytest.raises(ActionFailed, match="block_anonymous_users can be changed from "
                                               "rank 3 and mine is 2"):
            await bot.actions.set_options({"block_anonymous_users": True})
        await cytube.set_rank(BOT, 1)
        await cytube.wait_for(lambda: bot.channel.my_rank == 1)
        with pytest.raises(ActionFailed, match="needs rank 2 and mine is 1"):
            await bot.actions.set_options({"allow_dupes": True})
        assert _sent(cytube, "setOptions") == [] and bot.session.joined  # never kicked
        assert cytube.options["block_anonymous_users"] is False
