"""The DatabaseService against a real nats-server: every subject, from publish to row."""

from __future__ import annotations

import asyncio
import json
import time

import nats
import nats.js.errors
import pytest

from rosey import contract
from rosey.dbservice.service import ServiceState
from rosey.metrics import DbMetrics
from tests.support.db import request_json, rows, running_db_service
from tests.support.wait import eventually


async def publish(nc, subject: str, payload) -> None:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    await nc.publish(subject, data)
    await nc.flush()


async def count(svc, sql: str, params=()) -> int:
    return rows(svc.store.path, sql, params)[0][0]


@pytest.fixture(params=["jetstream", "core"])
async def svc(request, nats_server, core_nats_server, tmp_path):
    """The service in both ingest modes: durable JetStream, and core fallback."""
    server = nats_server if request.param == "jetstream" else core_nats_server
    async with running_db_service(server.url, tmp_path / "rosey.db") as service:
        service.test_url = server.url
        service.test_mode = request.param
        yield service


async def test_events_arrive_through_the_durable_consumer_when_the_server_has_jetstream(
        svc, client):
    """Against a JetStream server, events go through the durable consumer (delivered and
    acknowledged there), not through core subscriptions; without JetStream, the fallback
    says so in rosey_jetstream_enabled."""
    for i in range(5):
        await publish(client, contract.MESSAGE_LOG, {"username": "mode", "message": str(i)})
    await eventually(lambda: _found_with(client, "mode", total_chat_lines=5))
    enabled = svc.metrics.registry.get_sample_value("rosey_jetstream_enabled")
    if svc.test_mode == "core":
        assert enabled == 0
        with pytest.raises(nats.js.errors.ServiceUnavailableError):  # no JetStream here
            await client.jetstream().account_info()
        return
    assert enabled == 1
    js = client.jetstream()

    async def acknowledged():
        info = await js.consumer_info(contract.STREAM_NAME, contract.CONSUMER_NAME)
        return info if info.ack_floor and info.ack_floor.stream_seq == 5 else None
    info = await eventually(acknowledged, what="the durable consumer acknowledged all 5")
    assert (info.delivered.stream_seq, info.num_ack_pending, info.num_pending) == (5, 0, 0)


async def test_user_joined_creates_the_row_and_opens_a_session(svc, client):
    await publish(client, contract.USER_JOINED, {"username": "Alice", "timestamp": 1000})
    u = await eventually(lambda: _found(client, "Alice"))
    assert (u["first_seen"], u["last_seen"], u["current_session_start"]) == (1000, 1000, 1000)


async def _found(client, name):
    u = await request_json(client, contract.QUERY_USER_STATS, {"username": name})
    return u if u.get("found") else None


async def test_user_left_closes_the_session(svc, client):
    await publish(client, contract.USER_JOINED, {"username": "b", "timestamp": 10})
    await publish(client, contract.USER_LEFT, {"username": "b", "timestamp": 25})
    u = await eventually(lambda: _found_with(client, "b", total_time_connected=15))
    assert u["current_session_start"] is None


async def _found_with(client, name, **want):
    u = await _found(client, name)
    return u if u and all(u[k] == v for k, v in want.items()) else None


async def test_join_leave_and_message_normalise_to_one_row(svc, client):
    await publish(client, contract.USER_JOINED, {"username": "Carol", "timestamp": 1})
    await publish(client, contract.MESSAGE_LOG, {"username": "carol", "message": "hi", "timestamp": 2})
    await publish(client, contract.USER_LEFT, {"username": "CAROL", "timestamp": 3})
    await eventually(lambda: _found_with(client, "Carol", total_chat_lines=1, last_seen=3))
    assert await count(svc, "SELECT count(*) FROM user_stats") == 1
    assert (await _found(client, "carol"))["current_session_start"] is None


async def test_message_log_reaches_recent_chat_and_top_chatters(svc, client):
    for i in range(3):
        await publish(client, contract.MESSAGE_LOG, {"username": "d", "message": f"m{i}"})
    chat = await eventually(lambda: _chat(client, 3))
    assert [c["message"] for c in chat] == ["m0", "m1", "m2"]
    stats = await request_json(client, contract.QUERY_CHANNEL_STATS, {})
    assert stats["success"] and stats["top_chatters"] == [{"username": "d", "chat_lines": 3}]
    assert stats["total_users_seen"] == 1


async def _chat(client, n):
    chat = await request_json(client, contract.RECENT_CHAT_GET, {"limit": 50})
    return chat if len(chat) >= n else None


async def test_user_count_and_high_water(svc, client):
    await publish(client, contract.USER_COUNT, {"chat_count": 4, "connected_count": 6, "timestamp": 50})
    await publish(client, contract.HIGH_WATER, {"chat_count": 4, "connected_count": 6, "timestamp": 50})
    stats = await eventually(lambda: _stats_with_high(client, 4))
    assert stats["high_water_connected"] == {"users": 6, "timestamp": 50}
    await eventually(lambda: count(svc, "SELECT count(*) FROM user_count_history"))


async def _stats_with_high(client, users):
    s = await request_json(client, contract.QUERY_CHANNEL_STATS, {})
    return s if s["high_water_mark"]["users"] == users else None


async def test_status_update_sets_the_single_row(svc, client):
    await publish(client, contract.STATUS_UPDATE, {"status_data": {"bot_name": "rosey", "connected": True}})
    await eventually(lambda: count(svc, "SELECT count(*) FROM current_status WHERE bot_name = 'rosey'"))


async def test_outbound_enqueue_get_and_mark_sent(svc, client):
    await publish(client, contract.OUTBOUND_ENQUEUE, {"message": "hello channel"})
    queued = await eventually(lambda: request_json(client, contract.OUTBOUND_GET, {}))
    assert [m["message"] for m in queued] == ["hello channel"]
    assert set(queued[0]) == {"id", "timestamp", "message", "retry_count"}
    await publish(client, contract.OUTBOUND_MARK_SENT, {"message_id": queued[0]["id"]})
    await eventually(lambda: _empty_outbound(client))


async def _empty_outbound(client):
    return await request_json(client, contract.OUTBOUND_GET, {}) == []


async def test_pm_command_becomes_a_user_actions_row_with_full_args(svc, client):
    await publish(client, contract.PM_COMMAND, {
        "timestamp": time.time(), "username": "ModMary", "command": "stats",
        "args": "Alice --verbose", "result": "success", "error": None})
    await eventually(lambda: count(svc, "SELECT count(*) FROM user_actions"))
    assert rows(svc.store.path, "SELECT username, action_type, details FROM user_actions") == [
        ("ModMary", "pm_command", "cmd=stats, args: Alice --verbose, result: success")]


async def test_user_stats_for_an_unknown_user(svc, client):
    assert await request_json(client, contract.QUERY_USER_STATS, {"username": "nobody"}) == {
        "success": True, "found": False, "username": "nobody"}


async def test_sql_looking_usernames_are_stored_literally(svc, client):
    evil = "Robert'); DROP TABLE user_stats;--"
    await publish(client, contract.USER_JOINED, {"username": evil})
    await publish(client, contract.MESSAGE_LOG, {"username": evil, "message": "x"})
    u = await eventually(lambda: _found_with(client, evil, total_chat_lines=1))
    assert u["username"] == evil
    assert rows(svc.store.path, "SELECT name FROM sqlite_master WHERE name = 'user_stats'") == [
        ("user_stats",)]


GARBAGE = [b"", b"\xff\xfe\xfd", b"{", b"[]", b"null", b"42", b'"s"', b"{}",
           b'{"username": 7, "message": [], "chat_count": "x", "status_data": 1, "message_id": "a"}',
           json.dumps({"username": "u" * 5000, "message": "m" * 20_000}).encode(),
           b"[" * 50_000, ("{\"username\": \"" + "\u00e9" * 200_000 + "\"}").encode()]


async def test_garbage_on_every_subject_is_refused_and_the_service_keeps_answering(svc, client):
    for subject in contract.EVENT_SUBJECTS:
        for body in GARBAGE:
            await client.publish(subject, body)
    for subject in contract.QUERY_SUBJECTS:
        for body in GARBAGE:
            reply = json.loads((await client.request(subject, body, timeout=5)).data)
            if subject in contract.LIST_QUERY_SUBJECTS:
                assert reply == [] or isinstance(reply, list)
            else:
                assert reply["success"] is False or subject == contract.QUERY_CHANNEL_STATS
    await client.flush()
    total = len(contract.EVENT_SUBJECTS) * len(GARBAGE)
    rejected = lambda: sum(  # noqa: E731
        s.value for m in svc.metrics.events_rejected.collect() for s in m.samples
        if s.name.endswith("_total"))
    await eventually(lambda: rejected() == total, timeout=15, what="every bad event counted")
    assert await count(svc, "SELECT count(*) FROM user_stats") == 0
    assert await count(svc, "SELECT count(*) FROM outbound_messages") == 0
    if svc.jetstream:  # every refused event kept, with its raw bytes
        assert await count(svc, "SELECT count(*) FROM dead_letters") == total
    # and it still works
    await publish(client, contract.MESSAGE_LOG, {"username": "after", "message": "ok"})
    await eventually(lambda: _found_with(client, "after", total_chat_lines=1))


async def test_every_query_gets_exactly_one_reply(svc, client):
    for subject in contract.QUERY_SUBJECTS:
        inbox = client.new_inbox()
        sub = await client.subscribe(inbox)
        await client.publish(subject, b"{}", reply=inbox)
        first = await sub.next_msg(timeout=5)
        assert first.data
        with pytest.raises(nats.errors.TimeoutError):
            await sub.next_msg(timeout=0.3)
        await sub.unsubscribe()


async def test_publishing_with_no_service_running_neither_raises_nor_blocks(core_nats_server):
    nc = await nats.connect(core_nats_server.url)
    try:
        started = time.monotonic()
        for _ in range(1000):
            await nc.publish(contract.MESSAGE_LOG, b'{"username": "x", "message": "y"}')
        await nc.flush(timeout=5)
        assert time.monotonic() - started < 5
    finally:
        await nc.close()


async def test_restart_on_the_same_file_keeps_old_rows_and_applies_new_events(nats_server, tmp_path):
    path = tmp_path / "keep.db"
    nc = await nats.connect(nats_server.url)
    try:
        async with running_db_service(nats_server.url, path) as first:
            await publish(nc, contract.MESSAGE_LOG, {"username": "old", "message": "1"})
            await eventually(lambda: _found_with(nc, "old", total_chat_lines=1))
        # published while no service runs: JetStream keeps it
        await nc.jetstream().publish(contract.MESSAGE_LOG, b'{"username": "gap", "message": "2"}')
        async with running_db_service(nats_server.url, path, metrics=DbMetrics()) as second:
            await publish(nc, contract.MESSAGE_LOG, {"username": "new", "message": "3"})
            await eventually(lambda: _found_with(nc, "new", total_chat_lines=1))
            await eventually(lambda: _found_with(nc, "gap", total_chat_lines=1))
            assert (await _found(nc, "old"))["total_chat_lines"] == 1
            assert await count(second, "SELECT count(*) FROM recent_chat") == 3
        assert first.state is second.state is ServiceState.CLOSED
    finally:
        await nc.close()


async def test_service_reconnects_when_nats_restarts(nats_server, tmp_path):
    async with running_db_service(nats_server.url, tmp_path / "r.db") as svc:
        await asyncio.to_thread(nats_server.restart)
        nc = await nats.connect(nats_server.url)
        try:
            await eventually(lambda: svc.nc.is_connected, what="service reconnected")
            await nc.jetstream().publish(contract.USER_JOINED, b'{"username": "z"}')
            await eventually(lambda: _found(nc, "z"), timeout=15)
        finally:
            await nc.close()


async def test_readiness_and_metrics_are_served_over_http(nats_server, tmp_path):
    import urllib.request

    async with running_db_service(nats_server.url, tmp_path / "m.db", serve_metrics=True) as svc:
        base = f"http://127.0.0.1:{svc.metrics_server.port}"
        def get(path):
            with urllib.request.urlopen(base + path, timeout=5) as r:
                return r.status, r.read().decode()
        assert (await asyncio.to_thread(get, "/healthz"))[0] == 200
        status, body = await asyncio.to_thread(get, "/readyz")
        assert status == 200 and "consumer: ok" in body
        _, text = await asyncio.to_thread(get, "/metrics")
        assert "rosey_events_processed_total" in text and "rosey_jetstream_enabled 1.0" in text
        assert "rosey_ready 1.0" in text  # the gauge reads the same checks as /readyz
