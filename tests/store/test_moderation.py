"""The moderation record's tables on a real SQLite file: what each action does to them, and
the three queries' answers."""

from __future__ import annotations

import sqlite3

import pytest

from rosey import contract
from rosey.store import moderation
from rosey.store.schema import MIGRATIONS, SCHEMA_VERSION, configure_connection, migrate


@pytest.fixture
def conn(tmp_path):
    c = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    configure_connection(c, writer=True)
    migrate(c)
    yield c
    c.close()


def act(conn, at: int, action: str, target: str = "bob", **kw) -> None:
    kw.setdefault("actor", "alice")
    moderation.apply_moderation(conn, contract.ModerationAction(action, target, **kw), at)


def active(conn) -> list[tuple]:
    return conn.execute("SELECT kind, target, expires_at FROM punishments"
                        " WHERE ended_at IS NULL ORDER BY id").fetchall()


def test_a_v3_file_gains_the_tables_and_keeps_its_user_actions(tmp_path):
    c = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    for script in MIGRATIONS[:3]:
        for statement in filter(str.strip, script.split(";")):
            c.execute(statement)
    c.execute("PRAGMA user_version = 3")
    c.execute("INSERT INTO user_actions (timestamp, username, action_type, details)"
              " VALUES (1, 'alice', 'pm_command', 'cmd=kick, args: bob, result: success')")
    assert migrate(c) == 3
    assert c.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert c.execute("SELECT username, details FROM user_actions").fetchall() == [
        ("alice", "cmd=kick, args: bob, result: success")]
    for table in ("moderation_actions", "punishments", "strikes", "notes"):
        assert c.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)


def test_a_timed_punishment_is_active_until_lifted_and_expiry_rounds_up(conn):
    act(conn, 100, "mute", duration=60, expires_at=160.2)
    act(conn, 101, "ban", "carol", reason="spam")
    assert active(conn) == [("mute", "bob", 161), ("ban", "carol", None)]
    act(conn, 161, "unmute", actor="rosey", origin="expiry")
    act(conn, 170, "unban", "CAROL")  # names match case-insensitively
    assert active(conn) == []
    assert conn.execute("SELECT target, ended_how, ended_at FROM punishments ORDER BY id"
                        ).fetchall() == [("bob", "expired", 161), ("carol", "lifted", 170)]


def test_a_new_punishment_of_the_same_class_supersedes_the_old_one(conn):
    act(conn, 100, "mute", expires_at=200)
    act(conn, 110, "smute")  # mute and smute are one class
    act(conn, 120, "ban", expires_at=300)
    assert active(conn) == [("smute", "bob", None), ("ban", "bob", 300)]
    assert conn.execute("SELECT ended_how FROM punishments WHERE kind = 'mute'").fetchone() == (
        "superseded",)


def test_a_failed_lift_keeps_the_punishment_with_its_error_and_a_failed_command_does_nothing(
        conn):
    act(conn, 100, "mute", expires_at=110)
    act(conn, 111, "unmute", actor="rosey", origin="expiry", result="error",
        error="I can't unmute any more")
    act(conn, 112, "ban", result="error", error="CyTube refused")
    reply = moderation.punishments(conn, contract.PunishmentsQuery())
    assert [(p.kind, p.last_error) for p in reply.punishments] == [
        ("mute", "I can't unmute any more")]
    assert conn.execute("SELECT count(*) FROM moderation_actions").fetchone() == (3,)


def test_modlog_is_newest_first_and_filters_by_target_or_actor(conn):
    act(conn, 100, "kick", origin="native")
    act(conn, 101, "warn", "carol", reason="be nice", ref="r1")
    act(conn, 102, "note", "dave", actor="bob", reason="helpful")
    everything = moderation.modlog(conn, contract.ModlogQuery())
    assert [(a.action, a.timestamp) for a in everything.actions] == [
        ("note", 102), ("warn", 101), ("kick", 100)]
    bob = moderation.modlog(conn, contract.ModlogQuery("BOB", 10))
    assert [a.action for a in bob.actions] == ["note", "kick"]
    assert len(moderation.modlog(conn, contract.ModlogQuery(None, 1)).actions) == 1


def test_history_gathers_user_strikes_punishments_and_notes(conn):
    conn.execute("INSERT INTO user_stats (username, first_seen, last_seen, total_chat_lines,"
                 " total_time_connected) VALUES ('Bob', 10, 90, 7, 300)")
    act(conn, 100, "warn", reason="one", ref="a")
    act(conn, 101, "warn", reason="two", ref="b")
    act(conn, 102, "note", reason="watch him")
    act(conn, 103, "mute", expires_at=110)
    act(conn, 110, "unmute", actor="rosey", origin="expiry")
    h = moderation.history(conn, contract.HistoryQuery("bob"))
    assert h.username == "Bob" and h.user is not None and h.user.total_chat_lines == 7
    assert [(s.timestamp, s.ref) for s in h.strikes] == [(101, "b"), (100, "a")]
    assert [(p.kind, p.ended_how) for p in h.punishments] == [("mute", "expired")]
    assert [n.text for n in h.notes] == ["watch him"]
    assert len(h.actions) == 5
    unseen = moderation.history(conn, contract.HistoryQuery("nobody"))
    assert unseen.user is None and unseen.strikes == () and unseen.username == "nobody"


# --- automatic moderation (issue 19): schema version 5 -------------------------------------
def _file_at(path, version: int) -> sqlite3.Connection:
    c = sqlite3.connect(path, isolation_level=None)
    for script in MIGRATIONS[:version]:
        for statement in filter(str.strip, script.split(";")):
            c.execute(statement)
    c.execute(f"PRAGMA user_version = {version}")
    return c


def test_a_v4_file_keeps_its_rows_and_gains_rule_dry_run_and_raid_state(tmp_path):
    c = _file_at(tmp_path / "v4.db", 4)
    c.execute("INSERT INTO moderation_actions (timestamp, action, target, actor, origin, result,"
              " reason, expires_at) VALUES (100, 'mute', 'bob', 'alice', 'command', 'success',"
              " 'spam', 700)")
    c.execute("INSERT INTO punishments (kind, target, actor, started, expires_at, action_id)"
              " VALUES ('mute', 'bob', 'alice', 100, 700, 1)")
    c.execute("INSERT INTO strikes (target, timestamp, actor, action_id)"
              " VALUES ('bob', 90, 'alice', 1)")
    assert migrate(c) == 4
    assert c.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    assert c.execute("SELECT action, target, reason, rule, dry_run FROM moderation_actions"
                     ).fetchall() == [("mute", "bob", "spam", None, 0)]
    assert active(c) == [("mute", "bob", 700)]
    assert c.execute("SELECT count(*) FROM strikes").fetchone() == (1,)
    [old] = moderation.modlog(c, contract.ModlogQuery()).actions
    assert (old.action, old.reason, old.rule, old.dry_run) == ("mute", "spam", None, False)
    assert c.execute("SELECT count(*) FROM raid_state").fetchone() == (0,)
    assert moderation.raid(c, contract.RaidQuery()) == contract.RaidReply(False, None, "", None)
    # and the file takes the new rows
    act(c, 200, "flag", origin="automod", rule="caps", reason="ALL CAPS")
    assert moderation.modlog(c, contract.ModlogQuery(None, 1)).actions[0].rule == "caps"
    c.close()


def test_a_dry_run_opens_ends_and_adds_nothing(conn):
    act(conn, 100, "mute", expires_at=500)  # a real one, for the dry lifts below
    dry = {"actor": "rosey", "origin": "automod", "rule": "flood", "dry_run": True}
    act(conn, 101, "unmute", **dry)
    act(conn, 102, "ban", "carol", duration=3600, expires_at=3702, **dry)
    act(conn, 103, "smute", **dry)
    act(conn, 104, "warn", "dave", reason="flooding", ref="w1", **dry)
    act(conn, 105, "note", "dave", reason="a note", **dry)
    act(conn, 106, "unmute", result="error", error="refused",
        **{**dry, "origin": "expiry"})  # a dry failed lift stores no last_error either
    assert active(conn) == [("mute", "bob", 500)]
    assert conn.execute("SELECT last_error FROM punishments").fetchall() == [(None,)]
    assert conn.execute("SELECT count(*) FROM strikes").fetchone() == (0,)
    assert conn.execute("SELECT count(*) FROM notes").fetchone() == (0,)
    assert conn.execute("SELECT count(*) FROM moderation_actions WHERE dry_run = 1"
                        ).fetchone() == (6,)
    log = moderation.modlog(conn, contract.ModlogQuery(None, 10)).actions
    assert [(a.action, a.rule, a.dry_run) for a in log] == [
        ("unmute", "flood", True), ("note", "flood", True), ("warn", "flood", True),
        ("smute", "flood", True), ("ban", "flood", True), ("unmute", "flood", True),
        ("mute", None, False)]
    assert log[4].expires_at == 3702 and log[4].duration == 3600  # what it would have done
    h = moderation.history(conn, contract.HistoryQuery("dave"))
    assert h.strikes == () and h.notes == () and [a.dry_run for a in h.actions] == [True, True]


def test_remove_and_flag_are_recorded_and_change_nothing_else(conn):
    act(conn, 100, "mute", expires_at=500)
    act(conn, 101, "remove", actor="rosey", origin="automod", rule="blocklist",
        reason="blocked domain", command="removed https://example.test/x (Some title)")
    act(conn, 102, "flag", actor="rosey", origin="automod", rule="caps", reason="ALL CAPS")
    act(conn, 103, "remove", actor="rosey", origin="automod", rule="blocklist",
        result="error", error="no permission to delete")
    assert active(conn) == [("mute", "bob", 500)]
    assert conn.execute("SELECT last_error FROM punishments").fetchall() == [(None,)]
    assert conn.execute("SELECT count(*) FROM strikes").fetchone() == (0,)
    assert conn.execute("SELECT count(*) FROM notes").fetchone() == (0,)
    log = moderation.modlog(conn, contract.ModlogQuery("bob", 10)).actions
    assert [(a.action, a.origin, a.result, a.rule, a.dry_run) for a in log] == [
        ("remove", "automod", "error", "blocklist", False),
        ("flag", "automod", "success", "caps", False),
        ("remove", "automod", "success", "blocklist", False),
        ("mute", "command", "success", None, False)]
    assert log[2].command == "removed https://example.test/x (Some title)"


def raid_event(active_: bool, at: float | None, **kw) -> contract.RaidState:
    return contract.RaidState(active_, timestamp=at, **kw)


def test_raid_state_is_one_row_and_the_newest_state_wins(conn):
    assert moderation.raid(conn, contract.RaidQuery()) == contract.RaidReply()
    saved = {"block_anonymous_users": False, "pagetitle": "Salón ☕",
             "chat_antiflood_params": {"burst": 4, "sustained": 1, "cooldown": 4.5}}
    moderation.apply_raid_state(conn, raid_event(True, 100.5, saved_options=saved,
                                                 reason="12 joins in 10s", started_at=100.5), 100)
    assert moderation.raid(conn, contract.RaidQuery()) == contract.RaidReply(
        True, saved, "12 joins in 10s", 100.5)
    # an older state arriving late (a redelivery, a reordered publish) does not undo it
    moderation.apply_raid_state(conn, raid_event(False, 90.0, reason="old end"), 90)
    assert moderation.raid(conn, contract.RaidQuery()).active is True
    # the same timestamp: the later in the stream wins; no timestamp: the receive time
    moderation.apply_raid_state(conn, raid_event(False, 100.5, reason="ended"), 100)
    assert moderation.raid(conn, contract.RaidQuery()) == contract.RaidReply(
        False, None, "ended", None)
    moderation.apply_raid_state(conn, raid_event(True, None, saved_options={}), 200)
    assert moderation.raid(conn, contract.RaidQuery()) == contract.RaidReply(True, {}, "", None)
    assert conn.execute("SELECT count(*), max(updated_at) FROM raid_state").fetchone() == (1, 200)


# --- data at scale (issue 22): modlog/history read a user's actions from the two indexes -----
def test_modlog_of_a_user_equals_target_or_actor_and_never_sorts_all_their_rows(tmp_path):
    """The query reads the newest ``limit`` rows as target and as actor from their indexes
    instead of sorting every row that matches ``target = ? OR actor = ?``: same answers."""
    from bench.yeardata import generate

    c = sqlite3.connect(generate(tmp_path / "year.db", 0.002, seed=3).path, isolation_level=None)
    act(c, 2_000_000_000, "warn", "Rosey", actor="ROSEY")  # one user as target and actor
    names = [n for (n,) in c.execute("SELECT target FROM moderation_actions UNION"
                                     " SELECT actor FROM moderation_actions")] + ["nobody"]
    old = ("SELECT id FROM moderation_actions WHERE target = ? COLLATE NOCASE"
           " OR actor = ? COLLATE NOCASE ORDER BY id DESC LIMIT ?")
    for name in names:
        for limit in (1, 3, 10, 1000):
            got = [a.id for a in moderation.modlog(c, contract.ModlogQuery(name.upper(),
                                                                           limit)).actions]
            assert got == [i for (i,) in c.execute(old, (name, name, limit))], (name, limit)
    ran: list[str] = []
    c.set_trace_callback(ran.append)  # the statement as run, its parameters filled in
    moderation.modlog(c, contract.ModlogQuery("rosey", 10))
    c.set_trace_callback(None)
    plan = " / ".join(r[3] for r in c.execute(f"EXPLAIN QUERY PLAN {ran[-1]}"))
    assert "moderation_actions_target" in plan and "moderation_actions_actor" in plan, plan
    assert "TEMP B-TREE FOR ORDER BY" not in plan, plan
