"""The moderators' view's pages of the record (``rosey.db.query.moderation_page``) through the
real DatabaseService over a real nats-server: actions published on the bus are paged back,
filtered, every one exactly once; bad requests get an error reply and the bad_request metric,
and the service keeps answering."""

from __future__ import annotations

import json

from rosey import contract
from tests.support.db import request_json, rows
from tests.support.wait import eventually

T0 = 1_764_000_000
SUBJECT = contract.QUERY_MODERATION_PAGE


def _action(i: int) -> contract.ModerationAction:
    automod = i % 3 == 0
    return contract.ModerationAction(
        "flag" if automod else ("warn", "kick", "note")[i % 3], f"user{i % 4}",
        "rosey" if automod else ("alice", "Dave")[i % 2], origin="automod" if automod else "command",
        rule="caps" if automod else None, reason=f"r{i}", timestamp=T0 + i * 10)


async def _seed(svc, client, n: int = 130) -> None:  # type: ignore[no-untyped-def]
    for i in range(n):
        event = _action(i)
        await client.publish(contract.MODERATION_ACTION, contract.encode(event))
    await client.flush()
    await eventually(lambda: rows(svc.store.path, "SELECT count(*) FROM moderation_actions")
                     == [(n,)], what="every action stored")


async def _pages(client, body: dict) -> list[dict]:  # type: ignore[no-untyped-def, type-arg]
    seen: list[dict] = []  # type: ignore[type-arg]
    while True:
        reply = await request_json(client, SUBJECT, body)
        assert reply["success"] is True, reply
        seen += reply["actions"]
        if reply["next_before_id"] is None:
            return seen
        assert reply["next_before_id"] == reply["actions"][-1]["id"]
        body = {**body, "before_id": reply["next_before_id"]}


async def test_published_actions_are_paged_back_filtered_and_each_once(svc, client):
    await _seed(svc, client)
    every = await _pages(client, {"limit": 40})
    assert [a["id"] for a in every] == list(range(130, 0, -1))
    assert every[-1]["reason"] == "r0" and every[0]["timestamp"] == T0 + 1290
    automod = await _pages(client, {"origin": "automod", "rule": "caps", "limit": 7})
    assert [a["reason"] for a in automod] == [f"r{i}" for i in range(129, -1, -1) if i % 3 == 0]
    assert {(a["actor"], a["action"]) for a in automod} == {("rosey", "flag")}
    dave = await _pages(client, {"actor": "DAVE", "target": "user1", "since": T0 + 100,
                                 "until": T0 + 900, "limit": 3})
    assert [a["reason"] for a in dave] == [
        f"r{i}" for i in range(90, 9, -1) if i % 4 == 1 and i % 3 and i % 2]
    assert (await request_json(client, SUBJECT, {"target": "nobody"})) == {
        "success": True, "actions": [], "next_before_id": None}
    # the requester's side decodes what the store answers
    query = contract.ModerationPageQuery(action="kick", limit=5, before_id=100)
    msg = await client.request(SUBJECT, contract.encode(query), timeout=5)
    reply = contract.decode_reply(query, msg.data)
    assert reply == await svc.store.query(query) and len(reply.actions) == 5
    assert all(a.action == "kick" and a.id < 100 for a in reply.actions)


async def test_bad_requests_get_an_error_reply_a_metric_and_the_service_keeps_answering(
        svc, client):
    await _seed(svc, client, 3)
    bodies = [{"action": "explode"}, {"origin": "robot"}, {"limit": 0}, {"limit": 201},
              {"limit": "5"}, {"before_id": 0}, {"since": 10, "until": 5}, {"rule": ["x"]}]
    for body in bodies:
        reply = await request_json(client, SUBJECT, body)
        assert reply["success"] is False and reply["error"], (body, reply)
    for raw in (b"[]", b"{", b"\xff"):
        reply = json.loads((await client.request(SUBJECT, raw, timeout=5)).data)
        assert reply["success"] is False
    queries = svc.metrics.queries
    assert queries.labels(SUBJECT, "bad_request")._value.get() == len(bodies) + 3
    ok = await request_json(client, SUBJECT, {"limit": 2, "unknown": True})
    assert ok["success"] is True and len(ok["actions"]) == 2 and ok["next_before_id"] == 2
    assert queries.labels(SUBJECT, "ok")._value.get() == 1
