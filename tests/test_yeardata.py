"""The year-of-data generator (bench/yeardata.py, issue 22): a real Rosey file, consistent with
itself and with the store's own rules, the same for the same seed, and one the store opens as
its own."""

from __future__ import annotations

import sqlite3

import pytest

from bench.yeardata import BASE, generate, sizes
from rosey import contract
from rosey.store import moderation
from rosey.store.schema import SCHEMA_VERSION, migrate
from rosey.store.store import Store

SCALE = 0.01  # 20,000 chat lines, 500 users, 1,000 moderation actions


@pytest.fixture(scope="module")
def year(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("year") / "year.db", SCALE, seed=7)


def _rows(path, sql: str) -> list[tuple]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return conn.execute(sql).fetchall()


def test_sizes_grow_the_chat_only_and_shrink_everything_below_1() -> None:
    ten = sizes(10)
    assert ten.chat_lines == 20_000_000 and (ten.users, ten.actions, ten.user_counts) == (
        BASE.users, BASE.actions, BASE.user_counts)
    assert sizes(1) == BASE and BASE.user_counts == 105_120
    tiny = sizes(0.001)
    assert (tiny.chat_lines, tiny.users, tiny.actions) == (2_000, 50, 100)
    with pytest.raises(ValueError):
        sizes(0)


def test_the_file_has_the_real_schema_and_the_counts_asked(year) -> None:
    want = sizes(SCALE)
    assert _rows(year.path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert _rows(year.path, "PRAGMA journal_mode") == [("wal",)]
    assert year.rows["recent_chat"] == want.chat_lines
    assert year.rows["user_stats"] == want.users
    assert year.rows["moderation_actions"] == want.actions
    assert year.rows["user_count_history"] == want.user_counts
    assert not year.path.with_name(year.path.name + ".partial").exists()
    assert year.file_bytes == year.path.stat().st_size > 0


def test_user_stats_agree_with_the_chat_lines(year) -> None:
    said = dict(_rows(year.path, "SELECT username, count(*) FROM recent_chat GROUP BY username"))
    stats = _rows(year.path, "SELECT username, total_chat_lines, first_seen, last_seen"
                             " FROM user_stats")
    assert {u: n for u, n, _, _ in stats if n} == said
    assert all(first <= last for _, _, first, last in stats)
    # skewed: the busiest user says far more than the median one
    counts = sorted(n for _, n, _, _ in stats)
    assert counts[-1] > 20 * max(1, counts[len(counts) // 2])
    ids = _rows(year.path, "SELECT timestamp FROM recent_chat ORDER BY id")
    assert ids == sorted(ids)  # ids follow time, as the service writes them


def test_moderation_tables_are_what_the_store_derives_from_the_actions(year, tmp_path) -> None:
    """Replaying the generated actions through the store's own apply_moderation gives the same
    punishments, strikes and notes."""
    replay = sqlite3.connect(tmp_path / "replay.db", isolation_level=None)
    migrate(replay)
    replay.execute("BEGIN")
    for (ts, action, target, actor, origin, result, reason, duration, expires, command, error,
         ref, rule, dry_run) in _rows(year.path, "SELECT timestamp, action, target, actor,"
                                      " origin, result, reason, duration, expires_at, command,"
                                      " error, ref, rule, dry_run FROM moderation_actions"
                                      " ORDER BY id"):
        moderation.apply_moderation(replay, contract.ModerationAction(
            action, target, actor, origin, result, reason, duration,
            None if expires is None else float(expires), command, error, ref, float(ts), rule,
            bool(dry_run)), ts)
    replay.execute("COMMIT")
    for table in ("moderation_actions", "punishments", "strikes", "notes"):
        mine = replay.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()
        assert mine == _rows(year.path, f"SELECT * FROM {table} ORDER BY id"), table
    kinds = {a for (a,) in _rows(year.path, "SELECT DISTINCT action FROM moderation_actions")}
    assert {"warn", "kick", "mute", "ban", "unmute", "note", "flag"} <= kinds
    assert _rows(year.path, "SELECT count(*) FROM punishments WHERE ended_at IS NULL")[0][0] > 0


def test_the_same_seed_gives_the_same_rows(year, tmp_path) -> None:
    again = generate(tmp_path / "again.db", SCALE, seed=7)
    other = generate(tmp_path / "other.db", SCALE, seed=8)
    for table in ("recent_chat", "user_stats", "moderation_actions", "user_count_history"):
        sql = f"SELECT * FROM {table} ORDER BY 1, 2"
        assert _rows(again.path, sql) == _rows(year.path, sql), table
    assert _rows(other.path, "SELECT * FROM recent_chat") != _rows(year.path,
                                                                   "SELECT * FROM recent_chat")
    assert again.applied_floor == year.applied_floor


async def test_the_store_opens_it_as_its_own_file(year, tmp_path) -> None:
    copy = tmp_path / "copy.db"
    copy.write_bytes(year.path.read_bytes())
    async with Store(copy) as store:
        assert store.started_at_version == SCHEMA_VERSION  # nothing to migrate
        assert store.applied_floor == year.applied_floor > year.rows["recent_chat"]
        assert await store.highest_applied() == year.applied_floor
        top = (await store.query(contract.ChannelStatsQuery())).top_chatters[0]
        user = (await store.query(contract.UserStatsQuery(top.username.upper()))).user
        assert user is not None and user.total_chat_lines == top.chat_lines
        recent = await store.query(contract.RecentChatQuery(5))
        assert len(recent.lines) == 5
