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
