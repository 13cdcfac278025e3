"""The moderation record end to end (issue 12): the bot against the stand-in CyTube, a real
nats-server and the real DatabaseService on a SQLite file.

Durations are tiny (seconds) through the settings; every wait has a deadline.
"""

from __future__ import annotations

import calendar
import json
import time

from rosey import contract
from rosey.bot.moderation import describe, punishment_line
from rosey.config import parse_escalation
from tests.bot.conftest import BOT, MOD, ask, reply_text, running_bot
from tests.support.db import rows, running_db_service

FAST = dict(punishment_sync=0.5, lift_grace=1.5)


def _lifts(bot, timing: str) -> float:
    return bot.metrics.registry.get_sample_value(
        "rosey_punishment_lifts_total", {"timing": timing}) or 0.0


def _actions(db, *where: str) -> list[tuple]:
    sql = "SELECT action, target, actor, origin, result FROM moderation_actions"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return rows(db, sql + " ORDER BY id")


async def _setup(cytube, *names: str) -> None:
    await cytube.add_user(MOD, 2)
    for name in names:
        await cytube.add_user(name, 1)


async def _punish(cytube, bot, text: str, seconds: float) -> tuple[float, float]:
    """Send the command; return the earliest and latest its expiry can be."""
    before = time.time()
    await ask(cytube, bot, text)
    return before + seconds, time.time() + seconds


async def _lifted_on_time(cytube, check, expiry: tuple[float, float], what: str) -> None:
    """Wait until ``check()`` holds: never before the expiry, at most the grace after it
    (plus the second the database rounds an expiry up to)."""
    await cytube.wait_for(check, timeout=10, what=f"the {what} was lifted")
    at = time.time()
    assert expiry[0] - 0.05 <= at <= expiry[1] + 2.5, \
        f"the {what} was lifted {at - expiry[0]:+.2f}s from its expiry"


async def test_a_timed_mute_and_a_timed_ban_are_lifted_on_time(cytube, nats_server, tmp_path):
    db = tmp_path / "r.db"
    await _setup(cytube, "bob", "carol")
    async with running_db_service(nats_server.url, db), \
            running_bot(cytube, nats_server.url, **FAST) as bot:
        await cytube.wait_for(lambda: bot.channel.user("carol") and bot.channel.user("bob"))
        mute = await _punish(cytube, bot, "mute bob 2s spamming links", 2)
        assert "bob" in cytube.muted
        ban = await _punish(cytube, bot, "ban carol 3s flooding", 3)
        assert "carol" in cytube.banned
        await cytube.wait_for(lambda: len(rows(db, "SELECT id FROM punishments")) == 2)
        assert reply_text(await ask(cytube, bot, "punishments")).count("ends ") == 2
        await _lifted_on_time(cytube, lambda: "bob" not in cytube.muted, mute, "mute")
        await _lifted_on_time(cytube, lambda: "carol" not in cytube.banned, ban, "ban")
        await cytube.wait_for(lambda: _lifts(bot, "on_time") == 2)
        await cytube.wait_for(lambda: rows(
            db, "SELECT count(*) FROM punishments WHERE ended_at IS NULL") == [(0,)], timeout=10)
        assert reply_text(await ask(cytube, bot, "punishments")) == "No active punishments"
        log = reply_text(await ask(cytube, bot, "modlog"))
    assert _actions(db) == [
        ("mute", "bob", MOD, "command", "success"), ("ban", "carol", MOD, "command", "success"),
        ("unmute", "bob", BOT, "expiry", "success"), ("unban", "carol", BOT, "expiry", "success")]
    assert rows(db, "SELECT kind, target, ended_how FROM punishments ORDER BY id") == [
        ("mute", "bob", "expired"), ("ban", "carol", "expired")]
    lines = log.split(" | ")
    assert "rosey unbanned carol [expiry]" in lines[0]
    assert "alice muted bob for 2s (spamming links) [command]" in lines[-1]
    # the seeds' audit rows are untouched: one pending and one final row per command
    assert rows(db, "SELECT count(*) FROM user_actions WHERE action_type = 'pm_command'"
                " AND details LIKE 'cmd=mute, args: bob 2s spamming links, result: %'") == [(2,)]


async def test_lifts_survive_a_restart_of_the_bot_and_of_the_database_service(
        cytube, nats_server, tmp_path):
    db = tmp_path / "r.db"
    await _setup(cytube, "bob", "carol")
    async with running_db_service(nats_server.url, db):
        async with running_bot(cytube, nats_server.url, **FAST) as bot:
            await cytube.wait_for(lambda: bot.channel.user("carol"))
            mute = await _punish(cytube, bot, "mute bob 4s", 4)
            ban = await _punish(cytube, bot, "ban carol 5s", 5)
            await cytube.wait_for(lambda: rows(
                db, "SELECT count(*) FROM punishments WHERE ended_at IS NULL") == [(2,)],
                timeout=5)
    # the bot and the DatabaseService are both gone; a new pair comes up
    assert "bob" in cytube.muted and "carol" in cytube.banned
    async with running_db_service(nats_server.url, db), \
            running_bot(cytube, nats_server.url, **FAST) as bot:
        await _lifted_on_time(cytube, lambda: "bob" not in cytube.muted, mute, "mute")
        await _lifted_on_time(cytube, lambda: "carol" not in cytube.banned, ban, "ban")
        await cytube.wait_for(lambda: rows(
            db, "SELECT count(*) FROM punishments WHERE ended_at IS NULL") == [(0,)], timeout=10)
        assert _lifts(bot, "on_time") == 2


async def test_an_expiry_that_passed_while_the_bot_was_away_is_lifted_at_once(
        cytube, nats_server, tmp_path):
    db = tmp_path / "r.db"
    await _setup(cytube, "bob")
    async with running_db_service(nats_server.url, db):
        async with running_bot(cytube, nats_server.url, **FAST) as bot:
            await ask(cytube, bot, "mute bob 1s")
            expires = time.time() + 1
            await cytube.wait_for(lambda: rows(
                db, "SELECT count(*) FROM punishments WHERE ended_at IS NULL") == [(1,)],
                timeout=5)
        await cytube.wait_for(lambda: time.time() > expires + 2, timeout=10,
                              what="the mute ran out while the bot was away")
        assert "bob" in cytube.muted
        back = time.time()
        async with running_bot(cytube, nats_server.url, **FAST) as bot:
            await cytube.wait_for(lambda: "bob" not in cytube.muted, timeout=5)
            assert time.time() - back < 5
            await cytube.wait_for(lambda: _lifts(bot, "late") == 1)
            await cytube.wait_for(lambda: rows(
                db, "SELECT ended_how FROM punishments") == [("expired",)], timeout=5)


async def test_native_kicks_bans_and_mutes_by_a_human_moderator_appear_in_modlog(
        cytube, nats_server, nc, tmp_path):
    db = tmp_path / "r.db"
    await _setup(cytube, "bob", "carol", "dave")
    async with running_db_service(nats_server.url, db), \
            running_bot(cytube, nats_server.url, **FAST) as bot:
        await cytube.wait_for(lambda: bot.channel.user("dave"))
        await cytube.user_chat(MOD, "/kick bob being rude")
        await cytube.user_chat(MOD, "/ban carol")
        await cytube.user_chat(MOD, "/smute dave")
        await cytube.wait_for(lambda: len(_actions(db)) == 3, timeout=10)
        assert _actions(db) == [("kick", "bob", MOD, "native", "success"),
                                ("ban", "carol", MOD, "native", "success"),
                                ("smute", "dave", MOD, "native", "success")]
        # the bot's own kick is recorded once, by its command (its [server] notice is skipped)
        await cytube.add_user("erin", 1)
        await cytube.wait_for(lambda: bot.channel.user("erin"))
        assert reply_text(await ask(cytube, bot, "kick erin")) == "Kicked erin"
        await cytube.wait_for(lambda: len(_actions(db)) == 4, timeout=10)
        log = reply_text(await ask(cytube, bot, "modlog 10"))
        # the same record over the bus, as another tool would read it
        reply = contract.decode_reply(contract.ModlogQuery(None, 10), (await nc.request(
            contract.QUERY_MODLOG, json.dumps({"limit": 10}).encode(), timeout=5)).data)
        punished = reply_text(await ask(cytube, bot, "punishments"))
        bus = contract.decode_reply(contract.PunishmentsQuery(), (await nc.request(
            contract.QUERY_PUNISHMENTS, b"", timeout=5)).data)
    assert _actions(db)[3] == ("kick", "erin", MOD, "command", "success")
    assert log.split(" | ") == [describe(a) for a in reply.actions]
    assert "alice kicked bob (being rude)" not in log  # CyTube's notice carries no reason
    assert "alice kicked bob [native]" in log and "alice banned carol [native]" in log
    assert "alice shadow-muted dave [native]" in log
    assert punished.split(" | ") == [punishment_line(p) for p in bus.punishments]
    assert [(p.kind, p.target, p.expires_at) for p in bus.punishments] == [
        ("ban", "carol", None), ("smute", "dave", None)]


async def test_warnings_pm_the_user_add_up_and_escalate_as_configured(
        cytube, nats_server, nc, tmp_path):
    db = tmp_path / "r.db"
    await _setup(cytube, "bob")
    steps = parse_escalation("2/1h:mute:2s,3/1h:ban:1h")
    async with running_db_service(nats_server.url, db), \
            running_bot(cytube, nats_server.url, escalation=steps, **FAST) as bot:
        await cytube.wait_for(lambda: bot.channel.user("bob"))
        first = reply_text(await ask(cytube, bot, "warn bob no spoilers"))
        assert first == "Warned bob: 1 strike(s)"
        await cytube.wait_for(lambda: any("no spoilers" in p for p in cytube.pms_to("bob")))
        second = reply_text(await ask(cytube, bot, "warn bob still spoiling"))
        assert second.startswith("Warned bob: 2 strike(s); escalation: 2 strikes in 1h -> "
                                 "Muted bob for 2s")
        assert "bob" in cytube.muted
        await cytube.wait_for(lambda: "bob" not in cytube.muted, timeout=6)  # the step's 2 s
        third = reply_text(await ask(cytube, bot, "warn bob third time"))
        assert "escalation: 3 strikes in 1h -> Banned bob for 1h" in third
        assert "bob" in cytube.banned
        await cytube.wait_for(lambda: len(_actions(db, "origin = 'escalation'")) == 2,
                              timeout=10)
        history = reply_text(await ask(cytube, bot, "history bob"))
        bus = contract.decode_reply(contract.HistoryQuery("bob"), (await nc.request(
            contract.QUERY_HISTORY, b'{"username": "BOB"}', timeout=5)).data)
    assert _actions(db, "origin = 'escalation'") == [
        ("mute", "bob", MOD, "escalation", "success"), ("ban", "bob", MOD, "escalation", "success")]
    assert rows(db, "SELECT count(*) FROM strikes WHERE target = 'bob'") == [(3,)]
    assert "strikes: 3 counting, 3 in all" in history
    assert "active: bob banned by alice" in history and "past: bob muted by alice" in history
    assert len(bus.strikes) == 3 and bus.user is not None and bus.user.username == "bob"


async def test_strikes_decay_after_the_setting(cytube, nats_server, tmp_path):
    db = tmp_path / "r.db"
    await _setup(cytube, "bob")
    steps = parse_escalation("2/1h:mute:1h")
    async with running_db_service(nats_server.url, db), \
            running_bot(cytube, nats_server.url, escalation=steps, strike_decay=2.0,
                        **FAST) as bot:
        await cytube.wait_for(lambda: bot.channel.user("bob"))
        assert reply_text(await ask(cytube, bot, "warn bob one")) == "Warned bob: 1 strike(s)"
        started = time.time()
        await cytube.wait_for(lambda: time.time() > started + 2.5, timeout=5,
                              what="the first strike decayed")
        assert reply_text(await ask(cytube, bot, "warn bob two")) == "Warned bob: 1 strike(s)"
        assert "bob" not in cytube.muted
        # history reads the DatabaseService: wait until it has stored both strikes
        await cytube.wait_for(lambda: rows(db, "SELECT count(*) FROM strikes") == [(2,)],
                              timeout=10, what="both strikes stored")
        assert "strikes: 1 counting, 2 in all" in reply_text(await ask(cytube, bot, "history bob"))


async def test_history_shows_chat_strikes_punishments_and_notes(cytube, nats_server, nc,
                                                               tmp_path):
    db = tmp_path / "r.db"
    await _setup(cytube, "bob")
    async with running_db_service(nats_server.url, db), \
            running_bot(cytube, nats_server.url, **FAST) as bot:
        await cytube.wait_for(lambda: bot.channel.user("bob"))
        await cytube.user_chat("bob", "hello")
        await cytube.user_chat("bob", "spam spam")
        assert reply_text(await ask(cytube, bot, "note bob asked twice about the rules")) == \
            "Noted on bob"
        await ask(cytube, bot, "warn bob keep it civil")
        await ask(cytube, bot, "mute bob 1s")
        await cytube.wait_for(lambda: "bob" not in cytube.muted, timeout=5)
        await ask(cytube, bot, "ban bob 1h repeated spam")
        await cytube.wait_for(lambda: rows(
            db, "SELECT count(*) FROM punishments GROUP BY ended_at IS NULL") == [(1,), (1,)],
            timeout=10)
        history = reply_text(await ask(cytube, bot, "history bob"))
    lines = history.split(" | ")
    assert lines[0].startswith("bob: first seen ") and "2 chat lines" in lines[0]
    assert lines[1].startswith("strikes: 1 counting, 1 in all; ") and "keep it civil" in lines[1]
    assert lines[2].startswith("active: bob banned by alice") and ", ends " in lines[2]
    assert lines[3].startswith("past: bob muted by alice") and ", expired " in lines[3]
    assert lines[4].startswith("notes: ") and "alice: asked twice about the rules" in lines[4]


async def test_non_moderators_are_refused_and_higher_ranks_are_settable(
        cytube, nats_server, tmp_path):
    db = tmp_path / "r.db"
    await _setup(cytube, "bob", "carol")
    async with running_db_service(nats_server.url, db), \
            running_bot(cytube, nats_server.url, command_ranks=(("ban", 3.0), ("modlog", 3.0)),
                        **FAST) as bot:
        await cytube.wait_for(lambda: bot.channel.user("carol"))
        before = len(cytube.pms_to("bob"))
        for text in ("mute carol 1h", "warn carol x", "modlog", "punishments", "note carol x"):
            await cytube.user_pm("bob", BOT, text)
        # a moderator's command after them: when it is answered, bob's were handled (ignored)
        assert reply_text(await ask(cytube, bot, "note carol seen")) == "Noted on carol"
        assert len(cytube.pms_to("bob")) == before and "carol" not in cytube.muted
        assert reply_text(await ask(cytube, bot, "ban carol")) == "ban needs rank 3 here"
        assert reply_text(await ask(cytube, bot, "modlog")) == "modlog needs rank 3 here"
        assert "carol" not in cytube.banned
        await cytube.wait_for(lambda: len(_actions(db)) == 1, timeout=10)
    assert _actions(db) == [("note", "carol", MOD, "command", "success")]


async def test_a_lift_the_bot_cannot_do_is_reported_and_retried(cytube, nats_server, tmp_path):
    db = tmp_path / "r.db"
    await _setup(cytube, "bob")
    async with running_db_service(nats_server.url, db), \
            running_bot(cytube, nats_server.url, **FAST) as bot:
        await cytube.wait_for(lambda: bot.channel.user("bob"))
        await ask(cytube, bot, "mute bob 2s")
        await cytube.set_rank(BOT, 1)  # the bot loses its rank before the mute ends
        await cytube.wait_for(lambda: _lifts(bot, "failed") >= 1, timeout=6)
        assert "bob" in cytube.muted
        await cytube.wait_for(lambda: any("could not lift the mute of bob" in p
                                          for p in cytube.pms_to(MOD)))
        await cytube.wait_for(lambda: rows(
            db, "SELECT last_error IS NOT NULL, ended_at FROM punishments") == [(1, None)],
            timeout=5)
        await cytube.set_rank(BOT, 3)
        await cytube.wait_for(lambda: "bob" not in cytube.muted, timeout=6)
        await cytube.wait_for(lambda: rows(db, "SELECT ended_how FROM punishments")
                              == [("expired",)], timeout=5)
        overdue = [d for (d,) in rows(db, "SELECT error FROM moderation_actions"
                                      " WHERE result = 'error'")]
    assert overdue and "I can't unmute any more" in overdue[0]
    assert _lifts(bot, "on_time") + _lifts(bot, "late") == 1


async def test_bad_input_to_the_new_subjects_is_refused_never_a_crash(
        cytube, nats_server, nc, tmp_path):
    from rosey.metrics import DbMetrics
    db = tmp_path / "r.db"
    metrics = DbMetrics()
    async with running_db_service(nats_server.url, db, metrics=metrics):
        js = nc.jetstream()
        for body in (b"", b"not json", b"[]", b'{"action": "explode", "target": "x", '
                     b'"actor": "y"}', b'{"action": "mute", "target": "", "actor": "y"}',
                     b'{"action": "mute", "target": "x", "actor": "y", "duration": -5}'):
            await js.publish(contract.MODERATION_ACTION, body)
        await js.publish(contract.MODERATION_ACTION, json.dumps(
            {"action": "note", "target": "x", "actor": "y", "reason": "ok", "extra": 1}).encode())
        bad = await nc.request(contract.QUERY_HISTORY, b"{}", timeout=5)
        assert json.loads(bad.data) == {"success": False, "error": "username is missing"}
        bad = await nc.request(contract.QUERY_MODLOG, b'{"limit": "ten"}', timeout=5)
        assert json.loads(bad.data)["success"] is False
        await cytube.wait_for(lambda: rows(db, "SELECT count(*) FROM dead_letters") == [(6,)],
                              timeout=10)
        await cytube.wait_for(lambda: _actions(db) == [("note", "x", "y", "command", "success")],
                              timeout=10)

        def rejected() -> float:  # counted after the batch commits: the rows can come first
            return sum(metrics.registry.get_sample_value(
                "rosey_events_rejected_total", {"subject": contract.MODERATION_ACTION,
                                                "reason": r}) or 0
                for r in ("empty", "bad_json", "not_object", "wrong_type", "missing_field"))
        await cytube.wait_for(lambda: rejected() >= 6, timeout=10)
        assert rejected() == 6
        assert metrics.registry.get_sample_value(
            "rosey_queries_total", {"subject": contract.QUERY_HISTORY,
                                    "outcome": "bad_request"}) == 1


async def test_smute_and_unban_by_command_and_a_native_unban(cytube, nats_server, tmp_path):
    db = tmp_path / "r.db"
    await _setup(cytube, "bob", "carol")
    async with running_db_service(nats_server.url, db), \
            running_bot(cytube, nats_server.url, **FAST) as bot:
        await cytube.wait_for(lambda: bot.channel.user("carol"))
        assert reply_text(await ask(cytube, bot, "smute bob 1h lurking")).startswith(
            "Shadow-muted bob for 1h")
        assert "bob" in cytube.smuted
        assert reply_text(await ask(cytube, bot, "unmute bob")) == "Unmuted bob"
        await ask(cytube, bot, "ban carol")
        assert reply_text(await ask(cytube, bot, "unban carol")) == "Unbanned carol"
        assert cytube.banned == set()
        assert reply_text(await ask(cytube, bot, "unban carol")) == \
            "carol is not on the banlist (nothing to lift)"
        await cytube.user_chat(MOD, "/ban dave")
        await cytube.unban("dave", by=MOD)
        await cytube.wait_for(lambda: len(_actions(db)) == 7, timeout=10)
        assert reply_text(await ask(cytube, bot, "punishments")) == "No active punishments"
    assert _actions(db) == [
        ("smute", "bob", MOD, "command", "success"), ("unmute", "bob", MOD, "command", "success"),
        ("ban", "carol", MOD, "command", "success"), ("unban", "carol", MOD, "command", "success"),
        ("unban", "carol", MOD, "command", "success"), ("ban", "dave", MOD, "native", "success"),
        ("unban", "dave", MOD, "native", "success")]
    assert rows(db, "SELECT kind, target, ended_how FROM punishments ORDER BY id") == [
        ("smute", "bob", "lifted"), ("ban", "carol", "lifted"), ("ban", "dave", "lifted")]


async def test_a_human_unmute_ends_the_bots_timer_so_a_later_mute_is_not_lifted(
        cytube, nats_server, tmp_path):
    db = tmp_path / "r.db"
    await _setup(cytube, "bob")
    async with running_db_service(nats_server.url, db), \
            running_bot(cytube, nats_server.url, **FAST) as bot:
        await cytube.wait_for(lambda: bot.channel.user("bob"))
        expiry = await _punish(cytube, bot, "mute bob 2s", 2)
        await cytube.user_chat(MOD, "/unmute bob")
        await cytube.user_chat(MOD, "/mute bob")  # by hand, without an end
        await cytube.wait_for(lambda: len(_actions(db)) == 3, timeout=10)
        await cytube.wait_for(lambda: time.time() > expiry[1] + 2, timeout=10,
                              what="the first mute's expiry passed")
        assert "bob" in cytube.muted and _lifts(bot, "on_time") + _lifts(bot, "late") == 0
    assert rows(db, "SELECT kind, expires_at IS NULL, ended_how FROM punishments ORDER BY id"
                ) == [("mute", 0, "lifted"), ("mute", 1, None)]


async def test_a_timed_ban_survives_a_restart_of_the_whole_stack(cytube, nats_server, tmp_path):
    import asyncio

    db = tmp_path / "r.db"
    await _setup(cytube, "carol")
    async with running_db_service(nats_server.url, db), \
            running_bot(cytube, nats_server.url, **FAST) as bot:
        await cytube.wait_for(lambda: bot.channel.user("carol"))
        ban = await _punish(cytube, bot, "ban carol 6s", 6)
        await cytube.wait_for(lambda: rows(db, "SELECT count(*) FROM punishments") == [(1,)],
                              timeout=5)
    await asyncio.to_thread(nats_server.restart)  # NATS too: everything but CyTube went away
    await cytube.restart()
    assert "carol" in cytube.banned
    async with running_db_service(nats_server.url, db), \
            running_bot(cytube, nats_server.url, **FAST) as bot:
        await _lifted_on_time(cytube, lambda: "carol" not in cytube.banned, ban, "ban")
        await cytube.wait_for(lambda: rows(db, "SELECT ended_how FROM punishments")
                              == [("expired",)], timeout=5)


_NOT_A_DURATION = ('"{}" is not a duration: use 45s, 10m, 2h, 3d, 1w or combined like 1h30m '
                   '(at most 10 years)')


def _sent_about(cytube, name: str) -> list[str]:
    """The chat commands the bot sent CyTube that name ``name``."""
    return [str(d.get("msg")) for e, d in cytube.events_from(BOT)
            if e == "chatMsg" and isinstance(d, dict) and name in str(d.get("msg", "")).lower()]


async def test_a_mistyped_duration_is_refused_and_nothing_is_punished(
        cytube, nats_server, tmp_path):
    db = tmp_path / "r.db"
    await _setup(cytube, "bob", "carol")
    async with running_db_service(nats_server.url, db), \
            running_bot(cytube, nats_server.url, **FAST) as bot:
        await cytube.wait_for(lambda: bot.channel.user("carol") and bot.channel.user("bob"))
        for text, word in (("mute bob 1hr spam", "1hr"), ("ban bob 90min", "90min"),
                           ("mute bob 1x spam", "1x"), ("mute bob 11000d", "11000d"),
                           ("smute bob 5 spam", "5")):
            assert reply_text(await ask(cytube, bot, text)) == _NOT_A_DURATION.format(word), text
        # a command after them: when it is done, the refused ones were long handled
        assert reply_text(await ask(cytube, bot, "mute carol 10m")).startswith(
            "Muted carol for 10m (until ")
        assert "carol" in cytube.muted
        assert "bob" not in cytube.muted and "bob" not in cytube.smuted
        assert "bob" not in cytube.banned and _sent_about(cytube, "bob") == []
        await cytube.wait_for(lambda: len(_actions(db)) == 1, timeout=10)
        await cytube.wait_for(lambda: rows(
            db, "SELECT count(*) FROM user_actions WHERE action_type = 'pm_command'") == [(12,)],
            timeout=10, what="every command's audit rows")
        refused = [d for (d,) in rows(
            db, "SELECT details FROM user_actions WHERE action_type = 'pm_command'"
                " AND details LIKE '%result: error%' ORDER BY id")]
    # refused like a usage error: an audit row with the error, no moderation action, no punishment
    assert _actions(db) == [("mute", "carol", MOD, "command", "success")]
    assert rows(db, "SELECT target FROM punishments") == [("carol",)]
    assert refused == [
        "cmd=mute, args: bob 1hr spam, result: error, error: " + _NOT_A_DURATION.format("1hr"),
        "cmd=ban, args: bob 90min, result: error, error: " + _NOT_A_DURATION.format("90min"),
        "cmd=mute, args: bob 1x spam, result: error, error: " + _NOT_A_DURATION.format("1x"),
        "cmd=mute, args: bob 11000d, result: error, error: "
        + _NOT_A_DURATION.format("11000d"),
        "cmd=smute, args: bob 5 spam, result: error, error: " + _NOT_A_DURATION.format("5")]


async def test_a_combined_duration_times_the_mute_and_no_duration_is_permanent(
        cytube, nats_server, tmp_path):
    db = tmp_path / "r.db"
    await _setup(cytube, "bob", "carol")
    async with running_db_service(nats_server.url, db), \
            running_bot(cytube, nats_server.url, **FAST) as bot:
        await cytube.wait_for(lambda: bot.channel.user("carol") and bot.channel.user("bob"))
        before = time.time()
        timed = reply_text(await ask(cytube, bot, "mute bob 1h30m spam"))
        after = time.time()
        # span() states the largest exact unit, as for every duration in replies and modlog
        assert timed.startswith("Muted bob for 90m (until ") and "bob" in cytube.muted
        assert reply_text(await ask(cytube, bot, "mute carol spam")) == "Muted carol"
        assert "carol" in cytube.muted
        await cytube.wait_for(lambda: len(rows(db, "SELECT id FROM punishments")) == 2,
                              timeout=10)
        punished = rows(db, "SELECT target, reason, expires_at FROM punishments ORDER BY id")
        recorded = rows(db, "SELECT target, reason, duration FROM moderation_actions ORDER BY id")
    assert recorded == [("bob", "spam", 5400), ("carol", "spam", None)]
    until = calendar.timegm(time.strptime(timed.split("(until ")[1], "%Y-%m-%d %H:%M:%S UTC)"))
    assert int(before) + 5400 <= until <= after + 5400
    (bob, bob_reason, bob_expiry), carol = punished
    assert (bob, bob_reason) == ("bob", "spam")
    assert before + 5400 - 1 <= bob_expiry <= after + 5400 + 1  # rounded up to whole seconds
    assert carol == ("carol", "spam", None)
