"""Automatic moderation's record and state through the real DatabaseService over NATS
(issue 19): raid mode kept across restarts, bad raid payloads refused, automod rows in the
modlog with their rule and dry run."""

from __future__ import annotations

import json

import nats
import pytest

from rosey import contract
from tests.support.db import request_json, rows, running_db_service
from tests.support.wait import eventually

SAVED = {"block_anonymous_users": False, "chat_antiflood": False, "pagetitle": "Salón ☕",
         "chat_antiflood_params": {"burst": 4, "sustained": 1, "cooldown": 4}}


@pytest.fixture(params=["jetstream", "core"])
async def svc(request, nats_server, core_nats_server, tmp_path):
    server = nats_server if request.param == "jetstream" else core_nats_server
    async with running_db_service(server.url, tmp_path / "rosey.db") as service:
        service.test_url = server.url
        yield service


async def raid(nc) -> contract.RaidReply | contract.ErrorReply:  # type: ignore[no-untyped-def]
    msg = await nc.request(contract.QUERY_RAID, b"", timeout=5)
    return contract.decode_reply(contract.RaidQuery(), msg.data)


async def send(nc, event: contract.ContractEvent) -> None:  # type: ignore[no-untyped-def]
    await nc.publish(contract.subject_of(event), contract.encode(event))
    await nc.flush()


async def test_raid_state_round_trips_and_the_newest_wins(svc, client):
    assert await request_json(client, contract.QUERY_RAID) == {
        "success": True, "active": False, "saved_options": None, "reason": "",
        "started_at": None}
    await send(client, contract.RaidState(True, SAVED, "12 joins in 10s", 1000.5, 1000.5))
    on = contract.RaidReply(True, SAVED, "12 joins in 10s", 1000.5)
    await eventually(lambda: _is(raid(client), on), what="raid mode on")
    # an older state published later changes nothing; the newer end does
    await send(client, contract.RaidState(False, None, "stale", None, 999.0))
    await send(client, contract.RaidState(True, {"pagetitle": "marker"}, "", None, 1000.0))
    await send(client, contract.UserJoined("marker", 1001))  # applied after both
    await eventually(lambda: _joined(client, "marker"), what="the marker applied")
    assert await raid(client) == on
    await send(client, contract.RaidState(False, None, "quiet again", None, 1100.0))
    off = contract.RaidReply(False, None, "quiet again", None)
    await eventually(lambda: _is(raid(client), off), what="raid mode off")
    assert rows(svc.store.path, "SELECT count(*) FROM raid_state") == [(1,)]


async def _is(reply, want) -> bool:  # type: ignore[no-untyped-def]
    return await reply == want


async def _joined(nc, name: str) -> bool:  # type: ignore[no-untyped-def]
    return bool((await request_json(nc, contract.QUERY_USER_STATS, {"username": name}))
                .get("found"))


async def test_bad_raid_payloads_are_refused_counted_and_kept_aside(svc, client):
    bad = [b"", b"[]", b'{"saved_options": {}}', b'{"active": "yes"}',
           b'{"active": true, "saved_options": {"list": [1, 2]}}',
           json.dumps({"active": True, "saved_options": {"css": "x" * 70_000}}).encode()]
    for body in bad:
        await client.publish(contract.RAID_STATE, body)
    await client.flush()

    def rejected() -> float:
        return sum(s.value for m in svc.metrics.events_rejected.collect() for s in m.samples
                   if s.name.endswith("_total") and s.labels["subject"] == contract.RAID_STATE)
    await eventually(lambda: rejected() == len(bad), timeout=15, what="every bad raid counted")
    if svc.jetstream:
        assert sorted(r[0] for r in rows(
            svc.store.path, "SELECT reason FROM dead_letters WHERE subject = ?",
            (contract.RAID_STATE,))) == sorted(
            ["empty", "not_object", "missing_field", "wrong_type", "wrong_type", "too_large"])
    # nothing was kept, and the service still answers and applies
    assert await raid(client) == contract.RaidReply()
    await send(client, contract.RaidState(True, {}, "after"))
    await eventually(lambda: _is(raid(client), contract.RaidReply(True, {}, "after")),
                     what="a good raid state after the bad ones")


async def test_automod_rows_reach_the_modlog_with_rule_and_dry_run(svc, client):
    await send(client, contract.ModerationAction("mute", "bob", "rosey", origin="automod",
                                                 rule="flood", dry_run=True, expires_at=2000,
                                                 duration=600, timestamp=1400))
    await send(client, contract.ModerationAction("remove", "bob", "rosey", origin="automod",
                                                 rule="links", reason="blocked domain",
                                                 timestamp=1401))
    await send(client, contract.ModerationAction("flag", "bob", "rosey", origin="automod",
                                                 rule="caps", timestamp=1402))

    async def modlog():  # type: ignore[no-untyped-def]
        msg = await client.request(contract.QUERY_MODLOG, b'{"username": "bob"}', timeout=5)
        reply = contract.decode_reply(contract.ModlogQuery("bob"), msg.data)
        assert isinstance(reply, contract.ModlogReply)
        return reply.actions if len(reply.actions) == 3 else None
    actions = await eventually(modlog, what="three automod rows")
    assert [(a.action, a.rule, a.dry_run) for a in actions] == [
        ("flag", "caps", False), ("remove", "links", False), ("mute", "flood", True)]
    assert (await request_json(client, contract.QUERY_PUNISHMENTS)) == {
        "success": True, "punishments": []}  # the dry-run mute opened nothing
    history = await request_json(client, contract.QUERY_HISTORY, {"username": "bob"})
    assert [(a["rule"], a["dry_run"]) for a in history["actions"]] == [
        ("caps", False), ("links", False), ("flood", True)]


async def test_raid_state_survives_a_restart_of_the_service(nats_server, tmp_path):
    """A bot that restarts mid-raid (or a DatabaseService that does) still finds the options."""
    path = tmp_path / "keep.db"
    nc = await nats.connect(nats_server.url)
    try:
        async with running_db_service(nats_server.url, path):
            await nc.jetstream().publish(contract.RAID_STATE, contract.encode(
                contract.RaidState(True, SAVED, "raid", 50.0, 50.0)))
            on = contract.RaidReply(True, SAVED, "raid", 50.0)
            await eventually(lambda: _is(raid(nc), on), what="raid mode stored")
        async with running_db_service(nats_server.url, path):
            assert await raid(nc) == on
    finally:
        await nc.close()
