"""The store's write and read sides, straight against a real SQLite file (no NATS)."""

from __future__ import annotations

import json

import pytest

from rosey import contract
from rosey.dbservice.ingest import incoming_from
from rosey.store.store import Incoming, Outcome, Store
from tests.support.db import rows as read_rows


def ev(subject: str, payload: dict, *, seq: int | None = None, received: float = 1000.0,
       raw: bytes | None = None) -> Incoming:
    data = raw if raw is not None else json.dumps(payload).encode()
    return incoming_from(subject, data, seq=seq, received=received)


def fetch(store: Store, sql: str) -> list[tuple]:
    return read_rows(store.path, sql)


@pytest.fixture
async def store(tmp_path):
    async with Store(tmp_path / "rosey.db") as s:
        yield s


async def user(store, name):
    return await store.query(contract.UserStatsQuery(name))


async def test_join_leave_and_one_message_give_one_row_with_a_closed_session(store):
    await store.apply_batch([
        ev(contract.USER_JOINED, {"username": "Alice", "timestamp": 100}),
        ev(contract.MESSAGE_LOG, {"username": "alice", "message": "hi", "timestamp": 130}),
        ev(contract.USER_LEFT, {"username": "ALICE ", "timestamp": 160}),
    ])
    rows = fetch(store, "SELECT * FROM user_stats")
    assert rows == [("Alice", 100, 160, 1, 60, None)]


async def test_user_left_adds_session_length_across_sessions(store):
    for join, leave in ((10, 20), (100, 150)):
        await store.apply_batch([ev(contract.USER_JOINED, {"username": "b", "timestamp": join}),
                                 ev(contract.USER_LEFT, {"username": "b", "timestamp": leave})])
    u = (await user(store, "b")).user
    assert u == contract.UserRecord("b", first_seen=10, last_seen=150, total_chat_lines=0,
                                    total_time_connected=60, current_session_start=None)


async def test_a_second_join_keeps_the_open_session(store):
    await store.apply_batch([ev(contract.USER_JOINED, {"username": "c", "timestamp": 10}),
                             ev(contract.USER_JOINED, {"username": "c", "timestamp": 50}),
                             ev(contract.USER_LEFT, {"username": "c", "timestamp": 70})])
    assert (await user(store, "c")).user.total_time_connected == 60


async def test_leave_of_an_unknown_user_creates_the_row(store):
    await store.apply_batch([ev(contract.USER_LEFT, {"username": "ghost", "timestamp": 5})])
    u = (await user(store, "ghost")).user
    assert u is not None and u.total_time_connected == 0 and u.current_session_start is None


async def test_missing_timestamp_uses_the_receive_time(store):
    await store.apply_batch([ev(contract.USER_JOINED, {"username": "d"}, received=4242.9)])
    u = (await user(store, "d")).user
    assert (u.first_seen, u.current_session_start) == (4242, 4242)


async def test_message_appends_recent_chat_oldest_first(store):
    await store.apply_batch([ev(contract.MESSAGE_LOG, {"username": "e", "message": f"m{i}",
                                                      "timestamp": i}) for i in range(5)])
    chat = await store.query(contract.RecentChatQuery(limit=3))
    assert [c.message for c in chat.lines] == ["m2", "m3", "m4"]
    assert chat.lines[0] == contract.ChatLine(timestamp=2, username="e", message="m2")


async def test_user_count_adds_history_rows(store):
    await store.apply_batch([ev(contract.USER_COUNT, {"chat_count": 3, "connected_count": 5,
                                                      "timestamp": 77})])
    assert fetch(store, "SELECT timestamp, chat_users, connected_users"
                                 " FROM user_count_history") == [(77, 3, 5)]


async def test_high_water_only_rises(store):
    await store.apply_batch([
        ev(contract.HIGH_WATER, {"chat_count": 5, "connected_count": 9, "timestamp": 10}),
        ev(contract.HIGH_WATER, {"chat_count": 3, "connected_count": 12, "timestamp": 20}),
        ev(contract.HIGH_WATER, {"chat_count": 7, "timestamp": 30}),
    ])
    stats = await store.query(contract.ChannelStatsQuery())
    assert stats.high_water_mark == contract.HighWaterMark(users=7, timestamp=30)
    assert stats.high_water_connected == contract.HighWaterMark(users=12, timestamp=20)


async def test_status_update_keeps_one_row(store):
    for n in (1, 2):
        await store.apply_batch([ev(contract.STATUS_UPDATE, {"status_data": {
            "bot_name": "rosey", "bot_rank": 3, "channel": "c", "chat_count": n,
            "connected_count": n + 1, "playlist_size": 4, "connected": True,
            "current_media": {"title": "Song"}, "start_time": 99.5, "extra": [1]}})])
    got = fetch(store, "SELECT id, bot_name, bot_rank, current_chatters, current_connected,"
                       " playlist_items, bot_connected, current_media_title, bot_start_time,"
                       " status_json FROM current_status")
    assert len(got) == 1
    assert got[0][:9] == (1, "rosey", 3.0, 2, 3, 4, 1, "Song", 99)
    assert json.loads(got[0][9])["extra"] == [1]  # the whole object is kept as sent


async def test_outbound_enqueue_get_and_mark_sent(store):
    await store.apply_batch([ev(contract.OUTBOUND_ENQUEUE, {"message": "one"}, received=5),
                             ev(contract.OUTBOUND_ENQUEUE, {"message": "two"}, received=6)])
    queued = await store.query(contract.OutboundGetQuery())
    assert [(m.message, m.retry_count) for m in queued.messages] == [("one", 0), ("two", 0)]
    await store.apply_batch([ev(contract.OUTBOUND_MARK_SENT, {"message_id": queued.messages[0].id}),
                             ev(contract.OUTBOUND_MARK_SENT, {"message_id": 999})])
    assert [m.message for m in (await store.query(contract.OutboundGetQuery())).messages] == ["two"]
    assert fetch(store, "SELECT sent FROM outbound_messages ORDER BY id") == [(1,), (0,)]


async def test_pm_command_becomes_an_audit_row_with_full_args(store):
    await store.apply_batch([ev(contract.PM_COMMAND, {
        "timestamp": 1700000000.5, "username": "Mod", "command": "stats",
        "args": "Alice and a very long tail " + "x" * 500, "result": "success", "error": None})])
    rows = fetch(store, "SELECT timestamp, username, action_type, details FROM user_actions")
    assert rows == [(1700000000, "Mod", "pm_command",
                     "cmd=stats, args: Alice and a very long tail " + "x" * 500 + ", result: success")]


async def test_pm_command_error_is_kept_in_details(store):
    await store.apply_batch([ev(contract.PM_COMMAND, {
        "timestamp": 1, "username": "Mod", "command": "frob", "args": "x",
        "result": "error", "error": "Unknown command: frob"})])
    assert (fetch(store, "SELECT details FROM user_actions"))[0][0] == (
        "cmd=frob, args: x, result: error, error: Unknown command: frob")


async def test_sql_looking_usernames_are_stored_literally(store):
    evil = "Robert'); DROP TABLE user_stats;--"
    await store.apply_batch([ev(contract.USER_JOINED, {"username": evil}),
                             ev(contract.MESSAGE_LOG, {"username": evil, "message": "'; --"})])
    u = (await user(store, evil)).user
    assert u is not None and u.username == evil and u.total_chat_lines == 1
    assert (await store.query(contract.ChannelStatsQuery())).total_users_seen == 1


async def test_a_redelivered_sequence_is_not_applied_twice(store):
    batch = [ev(contract.MESSAGE_LOG, {"username": "f", "message": "x"}, seq=s) for s in (1, 2)]
    assert await store.apply_batch(batch) == [Outcome.APPLIED, Outcome.APPLIED]
    again = [ev(contract.MESSAGE_LOG, {"username": "f", "message": "x"}, seq=s) for s in (2, 3)]
    assert await store.apply_batch(again) == [Outcome.DUPLICATE, Outcome.APPLIED]
    assert (await user(store, "f")).user.total_chat_lines == 3


async def test_floor_prunes_bookkeeping_and_still_recognises_old_sequences(store):
    await store.apply_batch([ev(contract.USER_JOINED, {"username": "g"}, seq=s) for s in range(1, 6)])
    assert await store.advance_floor(4) == 4
    assert fetch(store, "SELECT seq FROM applied_events") == [(5,)]
    out = await store.apply_batch([ev(contract.USER_JOINED, {"username": "g"}, seq=3)])
    assert out == [Outcome.DUPLICATE]


async def test_floor_survives_reopening(tmp_path):
    path = tmp_path / "f.db"
    async with Store(path) as s:
        await s.apply_batch([ev(contract.USER_JOINED, {"username": "h"}, seq=1)])
        await s.advance_floor(1)
    async with Store(path) as s:
        assert s.applied_floor == 1
        assert await s.apply_batch([ev(contract.USER_JOINED, {"username": "h"}, seq=1)]) == [
            Outcome.DUPLICATE]


async def test_bad_input_is_dead_lettered_with_raw_bytes_and_changes_nothing_else(store):
    raw = b"\xff\x00garbage"
    out = await store.apply_batch([ev(contract.USER_JOINED, {}, raw=raw, seq=9)])
    assert out == [Outcome.REJECTED]
    assert fetch(store, "SELECT subject, stream_seq, reason, payload FROM dead_letters") == [
        (contract.USER_JOINED, 9, "not_utf8", raw)]
    assert fetch(store, "SELECT count(*) FROM user_stats") == [(0,)]
    # and it is recognised when redelivered
    assert await store.apply_batch([ev(contract.USER_JOINED, {}, raw=raw, seq=9)]) == [
        Outcome.DUPLICATE]


async def test_an_event_the_database_refuses_is_dead_lettered_alone(tmp_path):
    """A constraint failure on one event (a trigger stands in for any such failure) rolls
    back only that event: the rest of the batch is applied, the event is kept aside."""
    import sqlite3

    path = tmp_path / "poison.db"
    async with Store(path):
        pass
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TRIGGER poison BEFORE INSERT ON recent_chat WHEN NEW.message = 'poison'"
                     " BEGIN SELECT RAISE(ABORT, 'poisoned message'); END")
    async with Store(path) as store:
        batch = [ev(contract.MESSAGE_LOG, {"username": "p", "message": m}, seq=i)
                 for i, m in enumerate(["ok-1", "poison", "ok-2"], start=1)]
        assert await store.apply_batch(batch) == [Outcome.APPLIED, Outcome.REJECTED, Outcome.APPLIED]
        assert fetch(store, "SELECT message FROM recent_chat ORDER BY id") == [
            ("ok-1",), ("ok-2",)]
        assert (await user(store, "p")).user.total_chat_lines == 2
        rows = fetch(store, "SELECT stream_seq, reason, detail FROM dead_letters")
        assert rows[0][:2] == (2, "apply_error") and "poisoned message" in rows[0][2]
        # the refused event's sequence is recorded too: a redelivery is not retried forever
        assert await store.apply_batch([batch[1]]) == [Outcome.DUPLICATE]


async def test_a_store_opens_once(tmp_path):
    from rosey.errors import LifecycleError
    from rosey.store.store import StoreState

    store = Store(tmp_path / "once.db")
    async with store:
        assert store.state is StoreState.OPEN
        with pytest.raises(LifecycleError):
            await store.open()
    assert store.state is StoreState.CLOSED
    with pytest.raises(LifecycleError):
        await store.open()
