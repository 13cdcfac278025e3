"""The web page's data through the real DatabaseService over a real nats-server
(docs/web-contract.md): media plays stored from the stream, the page's five queries answered
from real rows, and bad input refused with an error reply or a dead letter, counted, never a
crash."""

from __future__ import annotations

import json

from rosey import contract
from tests.support.db import request_json, rows
from tests.support.wait import eventually

T0 = 1_764_000_000


async def send(nc, *events: contract.ContractEvent) -> None:  # type: ignore[no-untyped-def]
    for event in events:
        await nc.publish(contract.subject_of(event), contract.encode(event))
    await nc.flush()


def metric(counter, **labels) -> float:  # type: ignore[no-untyped-def]
    return sum(s.value for m in counter.collect() for s in m.samples
               if s.name.endswith("_total") and all(s.labels.get(k) == v
                                                     for k, v in labels.items()))


async def test_plays_chat_and_counts_come_back_through_the_page_queries(svc, client):
    await send(client,
               contract.MediaPlayed("yt", "abc", "<b>Song</b>", 200, "alice", -3.0, False, T0),
               contract.MediaPlayed("yt", "abc", "<b>Song</b>", 200, "alice", 60.0, True, T0 + 60),
               contract.MediaPlayed("vi", "42", "Clip", 0, None, 0.0, False, T0 + 300),
               contract.MessageLog("alice", "hi", T0 + 10), contract.MessageLog("bob", "yo", T0 + 20),
               contract.UserCount(3, 9, T0 + 5), contract.UserCount(4, 8, T0 + 50),
               contract.UserJoined("marker", T0 + 400))
    await eventually(lambda: rows(svc.store.path, "SELECT 1 FROM user_stats"
                                                  " WHERE username = 'marker'"), what="applied")
    recent = await request_json(client, contract.QUERY_MEDIA_RECENT, {"limit": 5})
    assert recent["success"] is True
    assert [(p["media_id"], p["title"], p["queued_by"]) for p in recent["plays"]] == [
        ("42", "Clip", None), ("abc", "<b>Song</b>", "alice")]  # the rejoin is the same play
    top = await request_json(client, contract.QUERY_MEDIA_TOP, {"seconds": 3600,
                                                                "until": T0 + 400})
    assert [(m["media_id"], m["plays"], m["last_played"]) for m in top["media"]] == [
        ("42", 1, T0 + 300), ("abc", 1, T0)]
    counts = await request_json(client, contract.QUERY_USER_COUNTS,
                                {"seconds": 3600, "until": T0 + 3000, "points": 60})
    assert counts["bucket_seconds"] == 60 and counts["points"] == [
        {"timestamp": T0, "chat_users": 4, "connected_users": 9, "samples": 2}]
    hours = await request_json(client, contract.QUERY_CHAT_HOURS, {"until": T0 + 100})
    assert hours["total"] == 2 and hours["hours"][(T0 // 3600) % 24] == 2
    assert len(hours["hours"]) == 24
    status = await request_json(client, contract.QUERY_STATUS, {})
    assert status == {"success": True, "status": None, "updated": None,
                      "present": [{"username": "marker", "since": T0 + 400}], "present_total": 1}
    # the requester's side: each reply decodes to the dataclass the store answered with
    for query in (contract.UserCountsQuery(3600, T0 + 3000, 60), contract.ChatHoursQuery(
            until=T0 + 100, utc_offset=3), contract.MediaRecentQuery(5),
            contract.MediaTopQuery(3600, T0 + 400), contract.StatusQuery()):
        msg = await client.request(query.SUBJECT, contract.encode(query), timeout=5)
        assert contract.decode_reply(query, msg.data) == await svc.store.query(query)


BAD_REQUESTS = {
    contract.QUERY_USER_COUNTS: [{"seconds": "3600"}, {"seconds": 59}, {"seconds": 10**12},
                                 {"points": 0}, {"points": 2001}, {"points": 2.5},
                                 {"until": -1}, {"until": "now"}, {"until": 1e300},
                                 {"seconds": True}],
    contract.QUERY_CHAT_HOURS: [{"utc_offset": 15}, {"utc_offset": -13}, {"utc_offset": "+2"},
                                {"seconds": [3600]}],
    contract.QUERY_MEDIA_RECENT: [{"limit": -1}, {"limit": 1001}, {"limit": "5"}],
    contract.QUERY_MEDIA_TOP: [{"limit": 101}, {"seconds": 31_622_401}, {"until": None,
                                                                         "limit": {}}],
    contract.QUERY_STATUS: [{"limit": 10**20}, {"limit": False}, {"limit": 1.5}],
    contract.QUERY_MODERATION_PAGE: [{"action": "explode"}, {"origin": "robot"}, {"limit": 0},
                                     {"limit": 201}, {"before_id": "7"}, {"target": 5},
                                     {"since": 10, "until": 5}, {"until": "now"}],
}
GARBAGE = [b"\xff\xfe", b"{", b"[]", b"null", b"42", b"[" * 50_000]


async def test_bad_requests_get_an_error_reply_and_a_metric_and_the_service_keeps_answering(
        svc, client):
    for subject in contract.WEB_QUERY_SUBJECTS:
        bodies = [json.dumps(b).encode() for b in BAD_REQUESTS[subject]] + GARBAGE
        for body in bodies:
            reply = json.loads((await client.request(subject, body, timeout=5)).data)
            assert reply["success"] is False and reply["error"], (subject, body[:40], reply)
        assert metric(svc.metrics.queries, subject=subject, outcome="bad_request") == len(bodies)
        # unknown fields are ignored, an empty body is {}
        assert json.loads((await client.request(subject, b"", timeout=5)).data)["success"]
        ok = await request_json(client, subject, {"unknown": [1, 2], "limit": 3})
        assert ok["success"] is True
        assert metric(svc.metrics.queries, subject=subject, outcome="ok") == 2


BAD_PLAYS = [
    {"media_id": "x"}, {"media_type": "yt"}, {"media_type": "", "media_id": "x"},
    {"media_type": "yt", "media_id": 7}, {"media_type": "yt", "media_id": "x" * 2001},
    {"media_type": "y" * 33, "media_id": "x"}, {"media_type": "yt", "media_id": "x", "duration": -1},
    {"media_type": "yt", "media_id": "x", "duration": 10**10},
    {"media_type": "yt", "media_id": "x", "duration": "3:20"},
    {"media_type": "yt", "media_id": "x", "position": 1e12},
    {"media_type": "yt", "media_id": "x", "queued_by": "q" * 101},
    {"media_type": "yt", "media_id": "x", "title": ["t"]},
    {"media_type": "yt", "media_id": "x", "timestamp": -5},
    {"media_type": "yt", "media_id": "x", "on_join": "yes"},
]


async def test_bad_plays_are_dead_lettered_counted_and_the_stream_moves_on(svc, client):
    bodies = [json.dumps(b).encode() for b in BAD_PLAYS] + GARBAGE
    for body in bodies:
        await client.publish(contract.MEDIA_PLAYED, body)
    await send(client, contract.MediaPlayed("yt", "after", timestamp=T0))
    await eventually(lambda: rows(svc.store.path, "SELECT media_id FROM media_plays"),
                     what="the good play after the bad ones")
    assert metric(svc.metrics.events_rejected, subject=contract.MEDIA_PLAYED) == len(bodies)
    assert rows(svc.store.path, "SELECT media_id FROM media_plays") == [("after",)]
    assert rows(svc.store.path, "SELECT count(*) FROM dead_letters WHERE subject = ?",
                (contract.MEDIA_PLAYED,)) == [(len(bodies),)]
