"""The web page's data on a real SQLite file (docs/web-contract.md): media plays stored once
each, chat by hour kept with every chat line, and the page's five queries on real rows."""

from __future__ import annotations

import json
import random

import pytest

from rosey import contract
from rosey.dbservice.ingest import incoming_from
from rosey.store.store import Incoming, Outcome, Store
from tests.support.db import rows as read_rows

HOUR = 3600
T0 = 1_764_000_000  # a whole hour (T0 % 3600 == 0)


def ev(event: contract.ContractEvent, *, seq: int | None = None,
       received: float = T0) -> Incoming:
    return incoming_from(event.SUBJECT, contract.encode(event), seq=seq, received=received)


def play(media_id: str = "abc", at: float = T0, *, position: float = -3.0, duration: int = 200,
         title: str = "A song", kind: str = "yt", by: str | None = "alice",
         on_join: bool = False) -> contract.MediaPlayed:
    return contract.MediaPlayed(kind, media_id, title, duration, by, position, on_join, at)


@pytest.fixture
async def store(tmp_path):
    async with Store(tmp_path / "rosey.db") as s:
        yield s


def fetch(store: Store, sql: str) -> list[tuple]:
    return read_rows(store.path, sql)


async def test_a_play_is_one_row_and_a_redelivered_one_is_a_duplicate(store):
    assert await store.apply_batch([ev(play(), seq=1)]) == [Outcome.APPLIED]
    assert await store.apply_batch([ev(play(), seq=1), ev(play("def", T0 + 300), seq=2)]) == [
        Outcome.DUPLICATE, Outcome.APPLIED]
    assert fetch(store, "SELECT timestamp, media_type, media_id, title, duration, queued_by"
                        " FROM media_plays ORDER BY id") == [
        (T0, "yt", "abc", "A song", 200, "alice"), (T0 + 300, "yt", "def", "A song", 200, "alice")]
    assert fetch(store, "SELECT seq FROM applied_events ORDER BY seq") == [(1,), (2,)]


async def test_a_join_mid_play_of_the_newest_play_is_that_play_and_a_replay_is_a_new_one(store):
    await store.apply_batch([ev(play(at=T0))])
    # the bot rejoins 100 s in, and again during a lead-in: the same play
    await store.apply_batch([ev(play(at=T0 + 100, position=100.0, on_join=True))])
    await store.apply_batch([ev(play(at=T0 + 101, position=-1.0, on_join=True))])
    assert fetch(store, "SELECT count(*) FROM media_plays") == [(1,)]
    # the same media started again (not from a join burst) is a new play, wherever it is
    await store.apply_batch([ev(play(at=T0 + 240))])
    await store.apply_batch([ev(play(at=T0 + 250, position=8.0))])
    # a join mid-play long after the newest play's end is a play of its own (the bot was away)
    await store.apply_batch([ev(play(at=T0 + 5000, position=50.0, on_join=True))])
    # a join mid-play of another media than the newest is a play too
    await store.apply_batch([ev(play("other", T0 + 5100, position=10.0, on_join=True))])
    assert fetch(store, "SELECT timestamp, media_id FROM media_plays ORDER BY id") == [
        (T0, "abc"), (T0 + 240, "abc"), (T0 + 250, "abc"), (T0 + 5000, "abc"),
        (T0 + 5100, "other")]


async def test_a_live_media_joined_mid_play_stays_one_play(store):
    await store.apply_batch([ev(play("live", T0, duration=0))])
    await store.apply_batch([ev(play("live", T0 + 90_000, duration=0, position=90_000.0,
                                     on_join=True))])
    assert fetch(store, "SELECT count(*) FROM media_plays") == [(1,)]


async def test_each_chat_line_adds_to_its_hour_in_the_same_transaction(store):
    lines = [contract.MessageLog("a", "x", T0 + 5), contract.MessageLog("b", "y", T0 + HOUR - 1),
             contract.MessageLog("a", "z", T0 + HOUR)]
    await store.apply_batch([ev(e, seq=i) for i, e in enumerate(lines, 1)])
    await store.apply_batch([ev(lines[0], seq=1)])  # redelivered: counted once
    assert fetch(store, "SELECT hour_start, lines FROM chat_hours ORDER BY 1") == [
        (T0, 2), (T0 + HOUR, 1)]
    assert fetch(store, "SELECT count(*) FROM recent_chat") == [(3,)]


async def test_a_bad_play_is_dead_lettered_and_changes_nothing(store):
    raw = json.dumps({"media_type": "yt", "media_id": "", "duration": -1}).encode()
    out = await store.apply_batch([incoming_from(contract.MEDIA_PLAYED, raw, seq=4,
                                                 received=T0)])
    assert out == [Outcome.REJECTED]
    assert fetch(store, "SELECT subject, stream_seq, payload FROM dead_letters") == [
        (contract.MEDIA_PLAYED, 4, raw)]
    assert fetch(store, "SELECT count(*) FROM media_plays") == [(0,)]


async def test_every_web_query_answers_on_an_empty_database(store):
    assert await store.query(contract.UserCountsQuery(3600, T0)) == contract.UserCountsReply(
        T0 - 3600, T0, 10, ())
    hours = await store.query(contract.ChatHoursQuery(86400, T0))
    assert hours.hours == (0,) * 24 and hours.total == 0
    assert await store.query(contract.MediaRecentQuery()) == contract.MediaRecentReply(())
    assert (await store.query(contract.MediaTopQuery(86400, T0))).media == ()
    assert await store.query(contract.StatusQuery()) == contract.StatusReply(None, None, (), 0)


async def test_user_counts_are_bucketed_to_at_most_points_with_the_maximum_of_each(store):
    # one sample a minute for two hours: chat users = minute of the hour, connected = 2x
    samples = [contract.UserCount(m % 60, 2 * (m % 60), T0 + 60 * m) for m in range(120)]
    await store.apply_batch([ev(s) for s in samples])
    reply = await store.query(contract.UserCountsQuery(HOUR, T0 + 2 * HOUR, points=4))
    assert (reply.since, reply.until, reply.bucket_seconds) == (T0 + HOUR, T0 + 2 * HOUR, 900)
    # buckets of 15 samples each; the sample at exactly `until` (none here) would join the last
    assert [(p.timestamp, p.chat_users, p.connected_users, p.samples) for p in reply.points] == [
        (T0 + HOUR, 14, 28, 15), (T0 + HOUR + 900, 29, 58, 15),
        (T0 + HOUR + 1800, 44, 88, 15), (T0 + HOUR + 2700, 59, 118, 15)]
    # more points than samples: one point per sample, gaps left out
    fine = await store.query(contract.UserCountsQuery(HOUR, T0 + HOUR, points=2000))
    assert fine.bucket_seconds == 2 and len(fine.points) == 61  # both ends included
    assert all(p.samples == 1 for p in fine.points)
    # a range before the data has no points
    assert (await store.query(contract.UserCountsQuery(HOUR, T0 - 1))).points == ()


async def test_user_counts_in_buckets_of_hours_come_from_the_hourly_maxima(store):
    rng = random.Random(20)
    samples = [contract.UserCount(rng.randrange(100), rng.randrange(100, 300),
                                  T0 + rng.randrange(0, 3 * 86400 + 1)) for _ in range(3000)]
    samples.append(contract.UserCount(7, 7, T0 + 3 * 86400))  # exactly at `until`
    await store.apply_batch([ev(s) for s in samples])
    reply = await store.query(contract.UserCountsQuery(3 * 86400, T0 + 3 * 86400, points=36))
    assert reply.bucket_seconds == 7200
    expected: dict[int, list[int]] = {}
    for s in samples:
        b = expected.setdefault(min(35, int(s.timestamp - T0) // 7200), [0, 0, 0])
        b[0], b[1], b[2] = max(b[0], s.chat_count), max(b[1], s.connected_count), b[2] + 1
    assert [(p.timestamp, p.chat_users, p.connected_users, p.samples) for p in reply.points] == [
        (T0 + i * 7200, *expected[i]) for i in sorted(expected)]
    # an unaligned range (since = T0 + 30 min): the hour it starts in goes to the first bucket,
    # and so do the hours starting before since + 2 h (T0 + 1 h, T0 + 2 h)
    shifted = await store.query(contract.UserCountsQuery(86400, T0 + 86400 + 1800, points=12))
    first = [s for s in samples if T0 <= s.timestamp < T0 + 3 * 3600]
    second = [s for s in samples if T0 + 3 * 3600 <= s.timestamp < T0 + 5 * 3600]
    assert [p.samples for p in shifted.points[:2]] == [len(first), len(second)]
    assert shifted.points[1].timestamp == T0 + 1800 + 7200


async def test_chat_hours_count_by_hour_of_day_over_the_range_with_an_offset(store):
    # day 0: 3 lines at 00:xx UTC, 1 at 13:xx; day 1: 2 at 00:xx
    at = [T0 - T0 % 86400 + s for s in (10, 20, 30, 13 * HOUR + 5, 86400 + 1, 86400 + 2)]
    await store.apply_batch([ev(contract.MessageLog("u", "m", t)) for t in at])
    day0 = at[0] - 10
    both = await store.query(contract.ChatHoursQuery(2 * 86400, day0 + 2 * 86400 - 1))
    assert both.hours[0] == 5 and both.hours[13] == 1 and both.total == 6
    # the second day only: the range is widened to whole hours, so 00:00:01 starts at 00:00
    second = await store.query(contract.ChatHoursQuery(3600, day0 + 86400 + 1800))
    assert second.hours[0] == 2 and second.total == 2
    shifted = await store.query(contract.ChatHoursQuery(2 * 86400, day0 + 2 * 86400 - 1,
                                                        utc_offset=-5))
    assert shifted.hours[19] == 5 and shifted.hours[8] == 1 and shifted.utc_offset == -5


async def test_recent_and_most_played_media(store):
    plays = [play("a", T0), play("b", T0 + 300), play("a", T0 + 600, title="A (new title)"),
             play("c", T0 + 900, by=None), play("b", T0 + 1200), play("a", T0 + 1500)]
    await store.apply_batch([ev(p) for p in plays])
    recent = await store.query(contract.MediaRecentQuery(limit=2))
    assert [(p.timestamp, p.media_id, p.queued_by) for p in recent.plays] == [
        (T0 + 1500, "a", "alice"), (T0 + 1200, "b", "alice")]
    assert len((await store.query(contract.MediaRecentQuery(limit=1000))).plays) == 6
    assert (await store.query(contract.MediaRecentQuery(limit=0))).plays == ()
    top = await store.query(contract.MediaTopQuery(86400, T0 + 1500))
    assert [(m.media_id, m.plays, m.last_played, m.title) for m in top.media] == [
        ("a", 3, T0 + 1500, "A song"), ("b", 2, T0 + 1200, "A song"),
        ("c", 1, T0 + 900, "A song")]
    # the range: only the plays from T0 + 600 on; ties on plays: the most recent first
    late = await store.query(contract.MediaTopQuery(900, T0 + 1500, limit=2))
    assert (late.since, late.until) == (T0 + 600, T0 + 1500)
    assert [(m.media_id, m.plays) for m in late.media] == [("a", 2), ("b", 1)]
    # a long range (read by the media index) answers the same as a short one
    long = await store.query(contract.MediaTopQuery(contract.MAX_RANGE_SECONDS, T0 + 1500))
    assert long.media == top.media


async def test_status_gives_the_last_status_and_the_sessions_since_the_bot_started(store):
    status = contract.BotStatus(bot_name="rosey", connected=True, start_time=T0 + 100.7,
                                current_media=contract.MediaStatus("abc", "yt", "Song", "03:20"))
    await store.apply_batch([
        ev(contract.UserJoined("stale", T0)),  # open since before the bot's start: left out
        ev(contract.UserJoined("Zed", T0 + 100)), ev(contract.UserJoined("amy", T0 + 101)),
        ev(contract.UserJoined("bob", T0 + 102)), ev(contract.UserLeft("bob", T0 + 103)),
        ev(contract.StatusUpdate.of(status, extra="kept"), received=T0 + 104)])
    reply = await store.query(contract.StatusQuery())
    assert reply.status is not None and reply.status["extra"] == "kept"
    assert reply.status["current_media"]["title"] == "Song" and reply.updated == T0 + 104
    assert reply.present == (contract.Present("amy", T0 + 101), contract.Present("Zed", T0 + 100))
    assert reply.present_total == 2
    limited = await store.query(contract.StatusQuery(limit=1))
    assert len(limited.present) == 1 and limited.present_total == 2
