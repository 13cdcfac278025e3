"""The moderation record's wire shapes: decoding is strict where it must be, lenient about
unknown fields; replies round-trip; the new subjects stay outside the shared contract's lists."""

from __future__ import annotations

import json

import pytest

from rosey import contract
from rosey.errors import BadPayload


def test_the_new_subjects_are_beside_the_contract_and_queries_are_never_streamed():
    assert contract.MODERATION_ACTION in contract.STREAM_SUBJECTS
    assert contract.MODERATION_ACTION not in contract.EVENT_SUBJECTS
    assert not set(contract.STREAM_SUBJECTS) & set(contract.ALL_QUERY_SUBJECTS)
    assert set(contract.MODERATION_QUERY_SUBJECTS) <= set(contract.ALL_QUERY_SUBJECTS)


def test_an_action_decodes_with_defaults_and_ignores_unknown_fields():
    event = contract.decode_event(contract.MODERATION_ACTION, json.dumps(
        {"action": "mute", "target": " bob ", "actor": "alice", "duration": 60,
         "expires_at": 1e9, "future_field": [1]}).encode())
    assert event == contract.ModerationAction("mute", "bob", "alice", duration=60,
                                              expires_at=1e9)
    assert contract.decode_event(contract.MODERATION_ACTION, contract.encode(event)) == event


@pytest.mark.parametrize(("body", "reason"), [
    ({"target": "bob", "actor": "a"}, "missing_field"),
    ({"action": "explode", "target": "bob", "actor": "a"}, "wrong_type"),
    ({"action": "mute", "target": "", "actor": "a"}, "missing_field"),
    ({"action": "mute", "target": "bob", "actor": "a", "origin": "magic"}, "wrong_type"),
    ({"action": "mute", "target": "bob", "actor": "a", "duration": -1}, "wrong_type"),
    ({"action": "mute", "target": "bob", "actor": "a", "expires_at": "soon"}, "wrong_type"),
    ({"action": "mute", "target": "x" * 101, "actor": "a"}, "too_large"),
])
def test_a_bad_action_is_refused_with_a_reason(body, reason):
    with pytest.raises(BadPayload) as exc:
        contract.decode_event(contract.MODERATION_ACTION, json.dumps(body).encode())
    assert exc.value.reason == reason


def test_queries_decode_and_replies_round_trip():
    assert contract.decode_query(contract.QUERY_MODLOG, b"") == contract.ModlogQuery()
    assert contract.decode_query(contract.QUERY_MODLOG, b'{"username": "bob", "limit": 3}') == \
        contract.ModlogQuery("bob", 3)
    assert contract.decode_query(contract.QUERY_PUNISHMENTS, b"{}") == contract.PunishmentsQuery()
    with pytest.raises(BadPayload):
        contract.decode_query(contract.QUERY_HISTORY, b"{}")
    record = contract.ModerationRecord(1, 100, "ban", "bob", "alice", "native", "success")
    punishment = contract.Punishment(2, "mute", "bob", "alice", 100, expires_at=160,
                                     last_error="nope")
    history = contract.HistoryReply(
        "bob", contract.UserRecord("bob", 1, 2, 3, 4), (contract.Strike(5, "alice", "x", "r"),),
        (punishment,), (contract.Note(6, "alice", "hi"),), (record,))
    for query, reply in ((contract.ModlogQuery(), contract.ModlogReply((record,))),
                         (contract.PunishmentsQuery(), contract.PunishmentsReply((punishment,))),
                         (contract.HistoryQuery("bob"), history)):
        wire = contract.encode(reply)
        assert json.loads(wire)["success"] is True
        assert contract.decode_reply(query, wire) == reply
    assert contract.decode_reply(contract.HistoryQuery("x"), b'{"success": false, "error": "e"}'
                                 ) == contract.ErrorReply("e")


def test_settings_durations_escalation_and_command_ranks():
    from rosey.config import EscalationStep, bot_settings, parse_duration, parse_escalation
    from rosey.errors import ConfigError

    assert [parse_duration(t) for t in ("10m", "2h", "3d", "2s", "1w", "x", "10", "0m")] == [
        600, 7200, 259200, 2, 604800, None, None, None]
    assert parse_escalation("5/7d:ban:1d, 3/24h:mute:1h") == (
        EscalationStep(3, 86400, "mute", 3600), EscalationStep(5, 604800, "ban", 86400))
    assert parse_escalation("off") == ()
    env = {"ROSEY_CYTUBE_DOMAIN": "d", "ROSEY_CYTUBE_CHANNEL": "c",
           "ROSEY_COMMAND_RANKS": "ban=3, modlog=4", "ROSEY_STRIKE_DECAY_SECONDS": "60"}
    s = bot_settings(env)
    assert s.command_ranks == (("ban", 3.0), ("modlog", 4.0)) and s.strike_decay == 60
    assert s.escalation == parse_escalation("3/24h:mute:1h,5/7d:ban:1d")
    for bad in ({"ROSEY_ESCALATION": "3:mute:1h"}, {"ROSEY_ESCALATION": "3/1h:kick:1h"},
                {"ROSEY_COMMAND_RANKS": "ban=1"}, {"ROSEY_COMMAND_RANKS": "ban=x"}):
        with pytest.raises(ConfigError):
            bot_settings({**env, **bad})


def test_parse_duration_takes_combined_forms_largest_unit_first_up_to_ten_years():
    from rosey.config import MAX_DURATION, parse_duration

    assert [parse_duration(t) for t in ("1h30m", "1d12h", "2w3d", "1H30M", " 1w2d3h4m5s ",
                                        "1h0m", "90m", "3650d")] == [
        5400, 129600, 1468800, 5400, 788645, 3600, 5400, MAX_DURATION]
    # not durations: a unit twice or out of order, a word, a fraction, zero, over 10 years,
    # a non-ASCII digit, an endless number
    for bad in ("30m1h", "1h1h", "1hr", "1x", "90min", "2hours", "1.5h", "h", "m30", "1h 30m",
                "0h0m", "3651d", "11000d", "522w", "²m", "", "1" * 100 + "s"):
        assert parse_duration(bad) is None, bad


def test_a_word_looks_like_a_duration_when_it_starts_with_a_digit():
    from rosey.config import looks_like_duration, parse_duration

    for word in ("1hr", "1x", "90min", "2hours", "11000d", "5", "1.5h", "2nd", " 10m"):
        assert looks_like_duration(word), word
    for word in ("spam", "", "x1", "h1", "-5m", "²m", "one"):
        assert not looks_like_duration(word), word
    # whatever parses looks like one, so a valid duration is never refused
    for word in ("10m", "2h", "3d", "45s", "1w", "1h30m", "2w3d", "1H"):
        assert parse_duration(word) is not None and looks_like_duration(word), word


# --- automatic moderation (issue 19) -------------------------------------------------------
def test_an_automod_action_carries_its_rule_and_dry_run_and_old_senders_omit_them():
    body = {"action": "remove", "target": "bob", "actor": "rosey", "origin": "automod",
            "reason": "blocked domain", "rule": "links", "dry_run": True}
    event = contract.decode_event(contract.MODERATION_ACTION, json.dumps(body).encode())
    assert event == contract.ModerationAction("remove", "bob", "rosey", origin="automod",
                                              reason="blocked domain", rule="links",
                                              dry_run=True)
    assert contract.decode_event(contract.MODERATION_ACTION, contract.encode(event)) == event
    flag = contract.decode_event(contract.MODERATION_ACTION, json.dumps(
        {"action": "flag", "target": "bob", "actor": "rosey", "origin": "automod",
         "rule": "x" * contract.MAX_RULE, "dry_run": None}).encode())
    assert flag.dry_run is False and flag.rule == "x" * 100
    old = contract.decode_event(contract.MODERATION_ACTION,
                                b'{"action": "kick", "target": "bob", "actor": "alice"}')
    assert (old.rule, old.dry_run) == (None, False)
    assert {"remove", "flag"} <= set(contract.MODERATION_KINDS)
    assert "automod" in contract.MODERATION_ORIGINS


@pytest.mark.parametrize(("extra", "reason"), [
    ({"rule": "x" * 101}, "too_large"),
    ({"rule": 5}, "wrong_type"),
    ({"dry_run": "yes"}, "wrong_type"),
    ({"dry_run": 1}, "wrong_type"),
    ({"origin": "robot"}, "wrong_type"),
])
def test_a_bad_rule_or_dry_run_is_refused(extra, reason):
    body = {"action": "flag", "target": "bob", "actor": "rosey", "origin": "automod", **extra}
    with pytest.raises(BadPayload) as exc:
        contract.decode_event(contract.MODERATION_ACTION, json.dumps(body).encode())
    assert exc.value.reason == reason


def test_records_carry_rule_and_dry_run_and_an_older_reply_without_them_decodes():
    record = contract.ModerationRecord(3, 100, "remove", "bob", "rosey", "automod", "success",
                                       "blocked", rule="links", dry_run=True)
    wire = contract.encode(contract.ModlogReply((record,)))
    assert json.loads(wire)["actions"][0]["rule"] == "links"
    assert contract.decode_reply(contract.ModlogQuery(), wire) == contract.ModlogReply((record,))
    older = {"success": True, "actions": [
        {"id": 1, "timestamp": 100, "action": "ban", "target": "bob", "actor": "alice",
         "origin": "native", "result": "success", "reason": "", "duration": None,
         "expires_at": None, "command": None, "error": None}]}
    [decoded] = contract.decode_reply(contract.ModlogQuery(),
                                      json.dumps(older).encode()).actions
    assert (decoded.rule, decoded.dry_run) == (None, False)


RAID = {"active": True, "saved_options": {"block_anonymous_users": False,
                                          "chat_antiflood_params": {"burst": 4, "cooldown": 4.5},
                                          "pagetitle": "Salón", "externalcss": None},
        "reason": "12 joins in 10s", "started_at": 1764600600.5, "timestamp": 1764600600.5}


def test_raid_state_is_an_event_the_stream_captures_and_the_bot_publishes():
    from rosey import nats_auth

    assert contract.RAID_STATE == "rosey.db.automod.raid"
    assert contract.QUERY_RAID == "rosey.db.query.raid"
    assert contract.RAID_STATE in contract.STREAM_SUBJECTS
    assert contract.RAID_STATE not in contract.EVENT_SUBJECTS  # beside the shared contract
    assert contract.QUERY_RAID in contract.MODERATION_QUERY_SUBJECTS
    assert contract.RAID_STATE in nats_auth.BOT_EVENTS
    assert contract.QUERY_RAID in nats_auth.BOT_QUERIES
    event = contract.decode_event(contract.RAID_STATE, json.dumps(
        {**RAID, "future_field": 1}).encode())
    assert event == contract.RaidState(True, RAID["saved_options"], "12 joins in 10s",
                                       1764600600.5, 1764600600.5)
    assert contract.decode_event(contract.RAID_STATE, contract.encode(event)) == event
    ended = contract.decode_event(contract.RAID_STATE, b'{"active": false}')
    assert ended == contract.RaidState(False)
    assert contract.decode_query(contract.QUERY_RAID, b"") == contract.RaidQuery()


def test_the_raid_reply_round_trips_and_reads_never_set_as_off():
    reply = contract.RaidReply(True, RAID["saved_options"], "r", 5.5)
    wire = contract.encode(reply)
    assert json.loads(wire) == {"success": True, "active": True,
                                "saved_options": RAID["saved_options"], "reason": "r",
                                "started_at": 5.5}
    assert contract.decode_reply(contract.RaidQuery(), wire) == reply
    assert json.loads(contract.encode(contract.RaidReply())) == {
        "success": True, "active": False, "saved_options": None, "reason": "",
        "started_at": None}
    for bad in (b'{"success": true}', b'{"success": true, "active": "yes"}',
                b'{"success": true, "active": true, "saved_options": []}', b"[]"):
        with pytest.raises(BadPayload):
            contract.decode_reply(contract.RaidQuery(), bad)


def _nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth - 1):
        value = {"x": value}
    return value


BAD_RAIDS = [
    (b'{"saved_options": {}}', "missing_field"),
    (b'{"active": null}', "missing_field"),
    (b'{"active": "true"}', "wrong_type"),
    (b'{"active": 1}', "wrong_type"),
    (b'{"active": true, "saved_options": []}', "wrong_type"),
    (b'{"active": true, "saved_options": "a=b"}', "wrong_type"),
    (b'{"active": true, "saved_options": {"motd": ["a", "b"]}}', "wrong_type"),
    (b'{"active": true, "saved_options": {"a": {"b": [1]}}}', "wrong_type"),
    (b'{"active": true, "saved_options": {"ratio": 1e400}}', "wrong_type"),
    (b'{"active": true, "saved_options": {"ratio": NaN}}', "bad_json"),
    (json.dumps({"active": True, "saved_options": {"css": "x" * 70_000}}).encode(),
     "too_large"),
    # 64 KiB counted in UTF-8 bytes: 33,000 characters, but 66,000 bytes
    (json.dumps({"active": True, "saved_options": {"t": "é" * 33_000}}).encode(), "too_large"),
    (json.dumps({"active": True, "saved_options": _nested(9)}).encode(), "too_large"),
    (json.dumps({"active": True, "reason": 5}).encode(), "wrong_type"),
    (json.dumps({"active": True, "reason": "r" * 10_001}).encode(), "too_large"),
    (json.dumps({"active": True, "started_at": "now"}).encode(), "wrong_type"),
    (json.dumps({"active": True, "started_at": -5}).encode(), "wrong_type"),
    (json.dumps({"active": True, "timestamp": 1e12}).encode(), "wrong_type"),
    (b"[]", "not_object"),
    (b"", "empty"),
]


@pytest.mark.parametrize(("body", "reason"), BAD_RAIDS)
def test_a_bad_raid_state_is_refused_with_a_reason(body, reason):
    with pytest.raises(BadPayload) as exc:
        contract.decode_event(contract.RAID_STATE, body)
    assert exc.value.reason == reason


def test_raid_options_up_to_the_limits_are_taken():
    fits = {"t": "é" * 30_000, "deep": _nested(7)}  # 60,000 bytes; 8 levels with the top
    event = contract.decode_event(contract.RAID_STATE, json.dumps(
        {"active": True, "saved_options": fits}).encode())
    assert event.saved_options == fits
