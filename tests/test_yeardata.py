"""The year-of-data generator (bench/yeardata.py, issue 22): a real Rosey file, consistent with
itself and with the store's own rules, the same for the same seed, and one the store opens as
its own."""

from __future__ import annotations

import sqlite3

import pytest

from bench.yeardata import BASE, END, START, generate, sizes
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
    assert (tiny.chat_lines, tiny.users, tiny.actions, tiny.plays) == (2_000, 50, 100, 50)
    assert (BASE.plays, ten.plays) == (50_000, 50_000)
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
    assert year.rows["media_plays"] == want.plays
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


def test_chat_hours_agree_with_the_chat_lines_and_plays_with_the_users(year) -> None:
    by_hour = _rows(year.path, "SELECT timestamp - timestamp % 3600, count(*) FROM recent_chat"
                               " GROUP BY 1 ORDER BY 1")
    assert _rows(year.path, "SELECT hour_start, lines FROM chat_hours ORDER BY 1") == by_hour
    assert sum(n for _, n in by_hour) == year.rows["recent_chat"]
    counts = _rows(year.path, "SELECT timestamp - timestamp % 3600, max(chat_users),"
                              " max(connected_users), count(*) FROM user_count_history"
                              " GROUP BY 1 ORDER BY 1")
    assert _rows(year.path, "SELECT * FROM user_count_hours ORDER BY 1") == counts
    plays = _rows(year.path, "SELECT timestamp, media_type, media_id, duration, queued_by"
                             " FROM media_plays ORDER BY id")
    assert [p[0] for p in plays] == sorted(p[0] for p in plays)
    assert START <= plays[0][0] and plays[-1][0] < END
    users = {u for (u,) in _rows(year.path, "SELECT username FROM user_stats")}
    assert {p[4] for p in plays} - {None} <= users
    assert all(p[3] >= 30 and p[1] and p[2] for p in plays)
    # skewed: the most played media plays far more often than most
    counts = sorted(n for (n,) in _rows(year.path, "SELECT count(*) FROM media_plays"
                                                   " GROUP BY media_type, media_id"))
    assert counts[-1] > 5 * counts[len(counts) // 2]


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
    for table in ("recent_chat", "user_stats", "moderation_actions", "user_count_history",
                  "media_plays", "chat_hours", "user_count_hours"):
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
        # the web page's queries (docs/web-contract.md) read it as well
        graph = await store.query(contract.UserCountsQuery(contract.MAX_RANGE_SECONDS, END, 360))
        assert 350 < len(graph.points) <= 360
        assert sum(p.samples for p in graph.points) == year.rows["user_count_history"]
        hours = await store.query(contract.ChatHoursQuery(contract.MAX_RANGE_SECONDS, END))
        assert hours.total == year.rows["recent_chat"] and min(hours.hours) > 0
        top = await store.query(contract.MediaTopQuery(contract.MAX_RANGE_SECONDS, END, 10))
        assert len(top.media) == 10 and top.media[0].plays >= top.media[-1].plays
        [last] = (await store.query(contract.MediaRecentQuery(1))).plays
        now = await store.query(contract.StatusQuery())
        assert now.status is not None and now.status["current_media"]["id"] == last.media_id
        assert now.present_total == 40
