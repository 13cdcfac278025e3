"""Moderator PM commands against the stand-in CyTube server: effect in the channel + reply."""

from __future__ import annotations

import json

import pytest

from rosey import contract
from rosey.bot.cytube import ChatLine
from rosey.bot.shell import USAGE
from rosey.bot.text import MAX_MESSAGE
from rosey.metrics import BOT_COMMANDS
from tests.bot.conftest import BOT, MOD, ask, collect, queue_items, reply_text


async def test_help_lists_every_command_in_whole_pms_under_320(cytube, bot):
    parts = await ask(cytube, bot, "help")
    assert len(parts) > 1 and all(len(p) <= MAX_MESSAGE for p in parts)
    assert reply_text(parts).split(" | ") == ["Commands:"] + [USAGE[c] for c in BOT_COMMANDS]
    assert "resume - resume playback (gives leader back)" in parts[-1] or any(
        "resume" in p for p in parts)


async def test_info_status_users_describe_the_channel(cytube, bot):
    info = reply_text(await ask(cytube, bot, "info"))
    assert BOT in info and cytube.channel in info and "rank 3" in info
    status = reply_text(await ask(cytube, bot, "status"))
    assert "CyTube: joined" in status and "NATS: connected" in status and "3 in list" in status
    users = reply_text(await ask(cytube, bot, "users"))
    assert users.startswith("3 users") and f"{MOD} (2)" in users and "bob (1)" in users


async def test_say_speaks_in_chat_and_refuses_chat_commands(cytube, bot):
    assert reply_text(await ask(cytube, bot, "say hello (everyone) & all")) == "Said it"
    await cytube.wait_for(lambda: (BOT, "hello &#40;everyone&#41; &amp; all") in cytube.chat_texts())
    assert "does not send chat commands" in reply_text(await ask(cytube, bot, "say /kick bob"))
    assert "bob" in cytube.users


async def test_pm_reaches_another_user(cytube, bot):
    assert reply_text(await ask(cytube, bot, "pm bob psst there")) == "Sent to bob"
    await cytube.wait_for(lambda: "psst there" in cytube.pms_to("bob"))
    assert reply_text(await ask(cytube, bot, "pm nobody hi")) == \
        "CyTube refused: PM failed: nobody isn't connected to this channel."


async def test_afk_on_and_off(cytube, bot):
    assert reply_text(await ask(cytube, bot, "afk on")) == "AFK is on"
    await cytube.wait_for(lambda: cytube.users[BOT]["meta"]["afk"])
    assert reply_text(await ask(cytube, bot, "afk off")) == "AFK is off"
    await cytube.wait_for(lambda: not cytube.users[BOT]["meta"]["afk"])


async def test_add_playlist_current_and_next(cytube, bot):
    reply = reply_text(await ask(cytube, bot, "add https://youtu.be/aaaaaaaaaaa"))
    assert reply.startswith("Added") and "#1" in reply
    assert reply_text(await ask(cytube, bot, "add yt:bbbbbbbbbbb")).startswith("Added")
    assert reply_text(await ask(cytube, bot, "add https://www.youtube.com/watch?v=ccccccccccc next")) \
        .endswith("#2")
    assert [i["media"]["id"] for i in cytube.playlist] == ["aaaaaaaaaaa", "ccccccccccc", "bbbbbbbbbbb"]
    listing = reply_text(await ask(cytube, bot, "playlist"))
    assert "3 items" in listing and "> #1 aaaaaaaaaaa" in listing
    assert "aaaaaaaaaaa" in reply_text(await ask(cytube, bot, "current"))
    assert "ccccccccccc" in reply_text(await ask(cytube, bot, "next"))
    assert cytube.current_uid == cytube.playlist[1]["uid"]
    assert reply_text(await ask(cytube, bot, "add ftp://nope")) == \
        "ftp://nope is not a link CyTube can play"


async def test_remove_move_and_jump_by_position(cytube, bot):
    await queue_items(cytube, bot, "aaaaaaaaaaa", "bbbbbbbbbbb", "ccccccccccc", "ddddddddddd")
    assert reply_text(await ask(cytube, bot, "move 4 2")) == "Moved ddddddddddd to #2"
    assert [i["media"]["id"] for i in cytube.playlist] == [
        "aaaaaaaaaaa", "ddddddddddd", "bbbbbbbbbbb", "ccccccccccc"]
    assert reply_text(await ask(cytube, bot, "remove 3")) == "Removed bbbbbbbbbbb"
    assert [i["media"]["id"] for i in cytube.playlist] == [
        "aaaaaaaaaaa", "ddddddddddd", "ccccccccccc"]
    assert reply_text(await ask(cytube, bot, "jump 3")) == "Now playing ccccccccccc"
    assert cytube.current_uid == cytube.playlist[2]["uid"]
    assert "no item #9" in reply_text(await ask(cytube, bot, "remove 9"))


async def test_pause_takes_leader_and_pauses(cytube, bot):
    await queue_items(cytube, bot, "aaaaaaaaaaa")
    await cytube.wait_for(lambda: bot.channel.current_media is not None)
    reply = reply_text(await ask(cytube, bot, "pause"))
    assert reply.startswith("Paused aaaaaaaaaaa")
    assert cytube.leader == BOT
    sent = [d for e, d in cytube.events_from(BOT) if e == "mediaUpdate"]
    assert sent and sent[-1]["paused"] is True and sent[-1]["id"] == "aaaaaaaaaaa"
    assert bot.channel.paused


async def test_voteskip_reports_cytubes_count_and_a_vote_that_did_not_count(cytube, bot):
    await queue_items(cytube, bot, "aaaaaaaaaaa", "bbbbbbbbbbb")
    # three users (the bot, alice, bob): CyTube needs 2 votes
    assert reply_text(await ask(cytube, bot, "voteskip")) == "Voted to skip (1 of 2 needed)"
    # CyTube counts one vote per address; a second one changes nothing and says so
    assert reply_text(await ask(cytube, bot, "voteskip")) == \
        "CyTube counted no new vote (1 of 2 needed): a vote from my address is already in"
    assert [e for e, _ in cytube.events_from(BOT)].count("voteskip") == 2
    assert cytube.current_uid == cytube.playlist[0]["uid"]


async def test_kick_ban_mute_unmute(cytube, bot):
    await cytube.add_user("carol", 1)
    await cytube.add_user("dave", 1)
    await cytube.wait_for(lambda: bot.channel.user("dave"))
    assert reply_text(await ask(cytube, bot, "mute carol")) == "Muted carol"
    await cytube.wait_for(lambda: "carol" in cytube.muted)
    assert reply_text(await ask(cytube, bot, "unmute carol")) == "Unmuted carol"
    await cytube.wait_for(lambda: "carol" not in cytube.muted)
    assert reply_text(await ask(cytube, bot, "kick carol being rude")) == "Kicked carol"
    assert ("carol", "being rude") in cytube.kicked and "carol" not in cytube.users
    assert reply_text(await ask(cytube, bot, "ban dave spam")) == \
        "Banned dave (on the channel's banlist)"
    assert "dave" in cytube.banned and "dave" not in cytube.users
    # someone of the bot's rank or above: CyTube refuses, and the reply quotes it
    await cytube.add_user("boss", 3)
    await cytube.wait_for(lambda: bot.channel.is_moderator("boss"))
    assert reply_text(await ask(cytube, bot, "kick boss")) == \
        "CyTube refused: You do not have permission to kick boss"
    assert reply_text(await ask(cytube, bot, "mute boss")) == \
        "CyTube refused: /mute failed - boss has equal or higher rank than you."
    assert "boss" in cytube.users and "boss" not in cytube.muted


async def test_unknown_command_is_answered(cytube, bot):
    assert reply_text(await ask(cytube, bot, "frobnicate now")) == "Unknown command: frobnicate"
    assert bot.metrics.registry.get_sample_value(
        "rosey_pm_commands_total", {"command": "unknown", "result": "error"}) == 1


async def test_stats_and_user_without_database_say_no_database_service_is_running(cytube, bot):
    assert reply_text(await ask(cytube, bot, "stats")) == \
        "stats are unavailable right now: no database service is running"
    reply = reply_text(await ask(cytube, bot, "user bob"))
    assert "bob: here, rank 1" in reply and "no database service is running" in reply


async def _stand_in_responder(nc, answer):
    """Answers the stats and user queries with ``answer`` (None: never answers)."""
    async def respond(msg) -> None:
        if answer is not None:
            await msg.respond(answer)

    subs = [await nc.subscribe(subject, cb=respond)
            for subject in (contract.QUERY_CHANNEL_STATS, contract.QUERY_USER_STATS)]
    await nc.flush()
    return subs


@pytest.mark.parametrize(("answer", "why"), [
    (None, "the database service did not answer in time"),
    (b"<html>not json", "the database service sent a reply I could not read"),
    (b'{"success": true, "high_water_mark": "many"}',
     "the database service sent a reply I could not read"),
    (b'{"success": false, "error": "database is locked"}',
     "the database service could not answer (database is locked)"),
])
async def test_a_query_that_fails_tells_the_moderator_why(cytube, bot, nc, answer, why):
    await _stand_in_responder(nc, answer)
    assert reply_text(await ask(cytube, bot, "stats")) == f"stats are unavailable right now: {why}"
    reply = reply_text(await ask(cytube, bot, "user bob"))
    assert reply.startswith("bob: here, rank 1") and reply.endswith(why)


async def test_non_moderators_missing_users_and_the_bot_itself_are_ignored(cytube, bot, nc):
    audit = await collect(nc, contract.PM_COMMAND)
    await cytube.user_pm("bob", BOT, "say I am not a mod")
    bot.on_pm(ChatLine(username="ghost", text="say ghostly", time=0, history=False, own=False,
                       to=BOT))
    bot.on_pm(ChatLine(username=BOT, text="say myself", time=0, history=False, own=True,
                       to=BOT))
    # a moderator's command afterwards goes through; the ignored ones left no trace
    assert reply_text(await ask(cytube, bot, "say from a mod")) == "Said it"
    await cytube.wait_for(lambda: len(audit) == 2)
    assert {a["username"] for a in audit} == {MOD}
    assert cytube.pms_to("bob") == [] and cytube.pms_to("ghost") == []
    said = [m for u, m in cytube.chat_texts() if u == BOT]
    assert said == ["from a mod"]


async def test_a_rank_just_raised_by_set_user_rank_is_honoured(cytube, bot):
    await cytube.set_rank("bob", 2)
    await cytube.wait_for(lambda: bot.channel.is_moderator("bob"))
    assert reply_text(await ask(cytube, bot, "say bob is a mod now", sender="bob")) == "Said it"


async def test_a_moderator_whose_rank_is_confirmed_late_is_obeyed(cytube, bot):
    # CyTube sends addUser with rank 1 first; the channel rank follows in setUserRank
    await cytube.add_user("slowmod", 2, confirm_after=0.5)
    await cytube.wait_for(lambda: bot.channel.user("slowmod"))
    assert not bot.channel.is_moderator("slowmod")  # the PM arrives before the confirmation
    reply = reply_text(await ask(cytube, bot, "say confirmed late", sender="slowmod"))
    assert reply == "Said it" and bot.channel.is_moderator("slowmod")


async def test_a_long_unknown_command_is_audited_as_typed_and_passes_the_contract(cytube, bot, nc):
    audit = await collect(nc, contract.PM_COMMAND)
    name = "x" * 150  # longer than a username: the audit used to cut it at that limit
    assert reply_text(await ask(cytube, bot, f"{name} arg")) == f"Unknown command: {name}"
    await cytube.wait_for(lambda: len(audit) == 2)
    assert [(a["command"], a["result"]) for a in audit] == [(name, "pending"), (name, "error")]
    for a in audit:
        assert contract.decode_event(contract.PM_COMMAND, json.dumps(a).encode()).command == name
