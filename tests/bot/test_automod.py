"""Automatic moderation end to end (issue 19): the bot against the stand-in CyTube, a real
nats-server and the real DatabaseService on a SQLite file. Each rule acts, and does not act
for an exempt user, in a dry run, or within its cooldown; escalation applies to automatic
warnings; a playlist rule removes; a reload applies and a bad one keeps the old rules."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from rosey.config import parse_escalation
from tests.bot.conftest import MOD, ask, reply_text, running_bot
from tests.support.db import rows, running_db_service

RULES = """\
defaults: {exempt_rank: 2, cooldown: 1h}
rules:
  - name: no-flood
    kind: flood
    lines: 3
    within: 1m
    action: mute 1h
  - name: slurs
    kind: words
    words: [badword]
    action: warn
    cooldown: 0
  - name: shouting
    kind: caps
    ratio: 0.8
    min_length: 8
    action: kick
    dry_run: true
  - name: blocked
    kind: blocklist
    ids: [yt:blockedvid]
    action: remove
"""


def _auto(db) -> list[tuple]:
    return rows(db, "SELECT action, target, rule, dry_run, result FROM moderation_actions"
                    " WHERE origin IN ('automod', 'escalation') ORDER BY id")


def _hits(bot, rule: str, mode: str = "live") -> float:
    return sum(bot.metrics.registry.get_sample_value(
        "rosey_automod_hits_total", {"rule": rule, "action": action, "mode": mode}) or 0.0
        for action in ("log", "warn", "mute", "smute", "kick", "ban"))


async def _setup(cytube, tmp_path, rules: str = RULES):
    path = tmp_path / "automod.yaml"
    path.write_text(rules)
    await cytube.add_user(MOD, 2)
    for name in ("bob", "carol", "dave"):
        await cytube.add_user(name, 1)
    return path


async def test_each_rule_acts_but_not_on_the_exempt_in_a_dry_run_or_within_its_cooldown(
        cytube, nats_server, tmp_path):
    path = await _setup(cytube, tmp_path)
    db = tmp_path / "r.db"
    async with running_db_service(nats_server.url, db), \
            running_bot(cytube, nats_server.url, automod_file=str(path),
                        escalation=parse_escalation("2/1h:mute:10m")) as bot:
        await cytube.wait_for(lambda: bot.channel.user("dave"))
        for _ in range(3):
            await cytube.user_chat("bob", "hello there")
            await cytube.user_chat(MOD, "moderators may flood")  # exempt (rank 2)
        await cytube.wait_for(lambda: "bob" in cytube.muted, what="the flooder muted")
        await cytube.user_chat("carol", "THIS IS ALL SHOUTING")  # dry run: recorded only
        await cytube.user_chat("carol", "STILL SHOUTING HERE")  # within the cooldown: nothing
        await cytube.user_chat("dave", "a badword here")
        await cytube.user_chat("dave", "another badword")  # 2 strikes: escalation mutes
        await cytube.wait_for(lambda: "dave" in cytube.muted, what="escalation applied")
        await cytube.wait_for(lambda: len(_auto(db)) >= 5, timeout=10, what="all recorded")
        assert "carol" in bot.channel.users and "alice" not in cytube.muted
        assert _hits(bot, "no-flood") == 1 and _hits(bot, "shouting", "dry") == 1
        summary = reply_text(await ask(cytube, bot, "automod"))
        assert "no-flood (flood): mute 1h, live, 1 hits" in summary
        assert "shouting (caps): kick, dry, 1 hits" in summary
    assert _auto(db) == [
        ("mute", "bob", "no-flood", 0, "success"),
        ("kick", "carol", "shouting", 1, "success"),
        ("warn", "dave", "slurs", 0, "success"),
        ("warn", "dave", "slurs", 0, "success"),
        ("mute", "dave", "slurs", 0, "success"),  # origin escalation, the rule named
    ]
    assert rows(db, "SELECT count(*) FROM punishments WHERE target = 'carol'") == [(0,)]


async def test_a_playlist_rule_removes_the_item_and_records_who_added_it(
        cytube, nats_server, tmp_path):
    path = await _setup(cytube, tmp_path)
    db = tmp_path / "r.db"
    async with running_db_service(nats_server.url, db), \
            running_bot(cytube, nats_server.url, automod_file=str(path)) as bot:
        await cytube.wait_for(lambda: bot.channel.user("dave"))
        await cytube.user_queue("dave", "finevid")
        await cytube.user_queue("dave", "blockedvid")
        await cytube.wait_for(lambda: [i["media"]["id"] for i in cytube.playlist] == ["finevid"],
                              what="the blocked item removed")
        await cytube.wait_for(lambda: _auto(db) == [("remove", "dave", "blocked", 0, "success")],
                              timeout=10)


async def test_a_reload_applies_and_a_bad_one_keeps_the_rules_in_force(
        cytube, nats_server, tmp_path):
    path = await _setup(cytube, tmp_path)
    async with running_bot(cytube, nats_server.url, automod_file=str(path)) as bot:
        assert [r.name for r in bot.automod.rules.rules] == [
            "no-flood", "slurs", "shouting", "blocked"]
        path.write_text(RULES.replace("name: slurs", "name: swearing"))
        await cytube.wait_for(lambda: "swearing" in [r.name for r in bot.automod.rules.rules],
                              timeout=10, what="the changed file reloaded")
        path.write_text(RULES.replace("lines: 3", "lines: three"))
        await cytube.wait_for(lambda: bot.automod.reload_error, timeout=10,
                              what="the bad file refused")
        assert "rule 'no-flood'" in bot.automod.reload_error
        assert "swearing" in [r.name for r in bot.automod.rules.rules]  # kept
        assert bot.metrics.registry.get_sample_value(
            "rosey_automod_reloads_total", {"result": "failed"}) == 1
        assert "LAST RELOAD FAILED" in reply_text(await ask(cytube, bot, "automod"))
        assert reply_text(await ask(cytube, bot, "automod live shouting")).startswith(
            "Rule shouting is live")
        assert not bot.automod.dry(next(r for r in bot.automod.rules.rules
                                        if r.name == "shouting"))


def test_a_bad_rules_file_ends_the_bot_with_one_line_and_exit_code_2(tmp_path) -> None:
    path = tmp_path / "automod.yaml"
    path.write_text(textwrap.dedent("""\
        rules:
          - name: no-flood
            kind: flood
            lines: 3
            within: 10 secs
            action: mute 1m
        """))
    env = {**os.environ, "ROSEY_AUTOMOD_FILE": str(path)}
    result = subprocess.run(
        [sys.executable, "-m", "rosey.bot", "--domain", "http://127.0.0.1:9", "--channel", "c",
         "--nats-url", "nats://127.0.0.1:9", "--metrics-port", "0"],
        env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"rosey-bot: configuration error: automod file {path}: "
                           "rule 'no-flood': field 'within'"), line


EVERY_KIND = """\
defaults: {exempt_rank: 2, cooldown: 1h, dry_run: false}
rules:
  - {name: k-repeats, kind: repeats, times: 9, users: 3, within: 1m, min_length: 5, action: log}
  - {name: k-links, kind: links, deny: [bad.example], action: log}
  - {name: k-mentions, kind: mentions, names: 2, action: log}
  - {name: k-walls, kind: walls, max_length: 300, max_lines: 5, max_run: 12, action: log}
  - {name: k-zalgo, kind: zalgo, marks: 4, action: log}
  - {name: k-duration, kind: duration, max: 10m, action: remove}
  - {name: k-per-user, kind: per_user, max: 2, action: remove}
"""


async def test_every_other_kind_acts_against_the_server(cytube, nats_server, tmp_path):
    path = await _setup(cytube, tmp_path, EVERY_KIND)
    for name in ("erin", "frank"):
        await cytube.add_user(name, 1)
    db = tmp_path / "r.db"
    async with running_db_service(nats_server.url, db), \
            running_bot(cytube, nats_server.url, automod_file=str(path)) as bot:
        await cytube.wait_for(lambda: bot.channel.user("frank"))
        for name in ("bob", "carol", "dave"):  # a copy-paste raid
            await cytube.user_chat(name, "join my server now")
        await cytube.user_chat("erin", "see https://www.bad.example/x")
        await cytube.user_chat("frank", "hey carol and dave look")
        await cytube.user_chat("erin", "!" * 13)
        await cytube.user_chat("frank", "z\u0301\u0302\u0303\u0304ap")
        await cytube.user_chat(MOD, "https://bad.example from a moderator")  # exempt
        await cytube.user_queue("bob", "longone", seconds=3600)
        for vid in ("v1", "v2", "v3"):
            await cytube.user_queue("carol", vid)
        await cytube.wait_for(lambda: len(_auto(db)) == 9, timeout=10, what="9 records")
        assert sorted(i["media"]["id"] for i in cytube.playlist) == ["v1", "v2"]
    got = {(action, target, rule) for action, target, rule, _, _ in _auto(db)}
    # a copy-paste raid: every user who pasted the line is handled
    assert got == {("flag", "bob", "k-repeats"), ("flag", "carol", "k-repeats"),
                   ("flag", "dave", "k-repeats"), ("flag", "erin", "k-links"),
                   ("flag", "frank", "k-mentions"), ("flag", "erin", "k-walls"),
                   ("flag", "frank", "k-zalgo"), ("remove", "bob", "k-duration"),
                   ("remove", "carol", "k-per-user")}


async def test_a_moderator_undoing_an_automatic_mute_is_a_reversal_of_its_rule(
        cytube, nats_server, tmp_path):
    path = await _setup(cytube, tmp_path)
    db = tmp_path / "r.db"
    async with running_db_service(nats_server.url, db), \
            running_bot(cytube, nats_server.url, automod_file=str(path)) as bot:
        await cytube.wait_for(lambda: bot.channel.user("bob"))
        for _ in range(3):
            await cytube.user_chat("bob", "hello there")
        await cytube.wait_for(lambda: "bob" in cytube.muted)
        assert reply_text(await ask(cytube, bot, "unmute bob")) == "Unmuted bob"
        assert bot.metrics.registry.get_sample_value(
            "rosey_automod_reversals_total", {"rule": "no-flood"}) == 1
        await cytube.wait_for(lambda: rows(
            db, "SELECT action, rule, reason FROM moderation_actions WHERE action = 'unmute'")
            == [("unmute", "no-flood", "undoes automod rule no-flood")], timeout=10)


async def test_sighup_reloads_the_rules(cytube, nats_server, tmp_path):
    import signal

    import structlog

    from rosey.bot.service import reload_on_sighup
    path = await _setup(cytube, tmp_path)
    async with running_bot(cytube, nats_server.url, automod_file=str(path)) as bot:
        with reload_on_sighup(bot), structlog.testing.capture_logs() as logs:
            path.write_text(RULES.replace("name: slurs", "name: swearing"))
            os.kill(os.getpid(), signal.SIGHUP)
            await cytube.wait_for(lambda: any(e["event"] == "automod_reloaded"
                                              for e in logs), what="reloaded")
        assert [e["why"] for e in logs if e["event"] == "automod_reloaded"][0] == "SIGHUP"
        assert "swearing" in [r.name for r in bot.automod.rules.rules]
