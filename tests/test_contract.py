"""The contract module against the contract document, and the decoder's verdicts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rosey import contract
from rosey.errors import BadPayload

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "wire-contract.md"
SHARED_DOC = ROOT.parent / "shared" / "wire-contract.md"


def _doc_subjects(section: str) -> list[str]:
    text = DOC.read_text()
    body = text.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `(rosey\.[a-z_.]+)`", body, flags=re.M)


def test_docs_copy_matches_shared_contract_when_present():
    if SHARED_DOC.exists():
        assert DOC.read_text() == SHARED_DOC.read_text(), "docs/wire-contract.md is stale"
    assert DOC.exists()


def test_every_event_subject_of_the_document_is_in_the_contract_module():
    assert sorted(_doc_subjects("Events")) == sorted(contract.EVENT_SUBJECTS)


def test_every_query_subject_of_the_document_is_in_the_contract_module():
    assert sorted(_doc_subjects("Queries")) == sorted(contract.QUERY_SUBJECTS)


def test_no_query_subject_is_an_event_subject():
    assert not set(contract.EVENT_SUBJECTS) & set(contract.QUERY_SUBJECTS)


def test_every_document_command_is_known():
    text = DOC.read_text().split("## Moderator PM commands", 1)[1]
    listed = re.findall(r"`([a-z]+)(?: [^`]*)?`", text.split("An unknown command", 1)[0])
    documented = [c for c in listed if c not in ("pm_command",)]
    assert set(documented) <= set(contract.PM_COMMANDS)


def test_every_event_subject_has_a_decoder_and_an_applier():
    import sqlite3

    from rosey.store.schema import migrate
    from rosey.store.writes import apply_event

    samples = {
        contract.USER_JOINED: {"username": "a"},
        contract.USER_LEFT: {"username": "a"},
        contract.MESSAGE_LOG: {"username": "a", "message": "m"},
        contract.USER_COUNT: {"chat_count": 1, "connected_count": 2},
        contract.HIGH_WATER: {"chat_count": 1},
        contract.STATUS_UPDATE: {"status_data": {}},
        contract.OUTBOUND_MARK_SENT: {"message_id": 1},
        contract.OUTBOUND_ENQUEUE: {"message": "hi"},
        contract.PM_COMMAND: {"timestamp": 1, "username": "m", "command": "stats", "args": "",
                              "result": "pending", "error": None},
    }
    assert set(samples) == set(contract.EVENT_SUBJECTS)
    conn = sqlite3.connect(":memory:", isolation_level=None)
    migrate(conn)
    for subject, payload in samples.items():
        event = contract.decode_event(subject, json.dumps(payload).encode())
        before = conn.total_changes
        apply_event(conn, event, 1)
        assert conn.total_changes > before or subject == contract.OUTBOUND_MARK_SENT, subject


@pytest.mark.parametrize("body, reason", [
    (b"", "empty"),
    (b"\xff\xfe{}", "not_utf8"),
    (b"{not json", "bad_json"),
    (b"NaN", "bad_json"),
    (b"[1, 2]", "not_object"),
    (b'"just a string"', "not_object"),
    (b"{}", "missing_field"),
    (b'{"username": 5}', "wrong_type"),
    (b'{"username": "   "}', "missing_field"),
    (b'{"username": "a\\u0000b"}', "wrong_type"),
    (b'{"username": "a", "timestamp": "yesterday"}', "wrong_type"),
    (b'{"username": "a", "timestamp": -1}', "wrong_type"),
    (json.dumps({"username": "x" * 101}).encode(), "too_large"),
    (b"[" * 100_000 + b"]" * 100_000, "bad_json"),
])
def test_bad_bodies_are_refused_with_a_bounded_reason(body, reason):
    with pytest.raises(BadPayload) as info:
        contract.decode_event(contract.USER_JOINED, body)
    assert info.value.reason == reason
    assert info.value.reason in BadPayload.REASONS


@pytest.mark.parametrize("subject, payload, reason", [
    (contract.USER_COUNT, {"chat_count": True, "connected_count": 1}, "wrong_type"),
    (contract.USER_COUNT, {"chat_count": 1.5, "connected_count": 1}, "wrong_type"),
    (contract.USER_COUNT, {"chat_count": -3, "connected_count": 1}, "wrong_type"),
    (contract.STATUS_UPDATE, {"status_data": []}, "wrong_type"),
    (contract.STATUS_UPDATE, {"status_data": {"x": "y" * 70_000}}, "too_large"),
    (contract.OUTBOUND_MARK_SENT, {"message_id": "7"}, "wrong_type"),
    (contract.OUTBOUND_ENQUEUE, {"message": ""}, "missing_field"),
    (contract.PM_COMMAND, {"username": "m", "command": "x", "result": "maybe"}, "wrong_type"),
    (contract.MESSAGE_LOG, {"username": "a", "message": "m" * 10_001}, "too_large"),
])
def test_wrongly_typed_fields_are_refused(subject, payload, reason):
    with pytest.raises(BadPayload) as info:
        contract.decode_event(subject, json.dumps(payload).encode())
    assert info.value.reason == reason


def test_extra_fields_are_ignored_and_integral_floats_accepted():
    event = contract.decode_event(
        contract.USER_COUNT, b'{"chat_count": 3.0, "connected_count": 4, "extra": [1]}')
    assert event == contract.UserCount(3, 4, None)


def test_query_bodies_default_and_bad_input_replies():
    assert contract.decode_query(contract.OUTBOUND_GET, b"") == contract.OutboundGetQuery(50, 3)
    assert contract.decode_query(contract.RECENT_CHAT_GET, b'{"limit": 5}').limit == 5
    assert contract.error_reply(contract.OUTBOUND_GET, "x") == b"[]"
    assert json.loads(contract.error_reply(contract.QUERY_USER_STATS, "bad")) == {
        "success": False, "error": "bad"}


REPLIES = [
    (contract.ChannelStatsQuery(), contract.ChannelStatsReply(
        contract.HighWaterMark(7, 30), contract.HighWaterMark(12),
        (contract.TopChatter("a", 3), contract.TopChatter("b", 1)), 4)),
    (contract.UserStatsQuery("Al"), contract.UserStatsReply("Al", contract.UserRecord(
        "Al", first_seen=1, last_seen=2, total_chat_lines=3, total_time_connected=4))),
    (contract.UserStatsQuery("nobody"), contract.UserStatsReply("nobody")),
    (contract.OutboundGetQuery(), contract.OutboundGetReply(
        (contract.OutboundMessage(1, 100, "hi", 0),))),
    (contract.RecentChatQuery(), contract.RecentChatReply((contract.ChatLine(5, "u", "m"),))),
]


@pytest.mark.parametrize("query, reply", REPLIES)
def test_replies_round_trip_in_the_documented_shape(query, reply):
    data = contract.encode(reply)
    assert contract.decode_reply(query, data) == reply
    wire = json.loads(data)
    if contract.query_subject(query) in contract.LIST_QUERY_SUBJECTS:
        assert isinstance(wire, list)
    else:
        assert wire["success"] is True


def test_reply_wire_shapes_are_the_contracts():
    assert json.loads(contract.encode(contract.UserStatsReply("x"))) == {
        "success": True, "found": False, "username": "x"}
    assert json.loads(contract.encode(REPLIES[0][1]))["high_water_connected"] == {
        "users": 12, "timestamp": None}
    assert json.loads(contract.encode(REPLIES[3][1])) == [
        {"id": 1, "timestamp": 100, "message": "hi", "retry_count": 0}]


def test_error_replies_decode_as_error_reply_or_empty_list():
    for query, _ in REPLIES:
        subject = contract.query_subject(query)
        decoded = contract.decode_reply(query, contract.error_reply(subject, "database unavailable"))
        if subject in contract.LIST_QUERY_SUBJECTS:
            assert decoded == type(decoded)()  # [] reads as an empty reply
        else:
            assert decoded == contract.ErrorReply("database unavailable")


def test_reply_decoding_ignores_unknown_fields_and_refuses_broken_replies():
    extra = b'{"success": true, "found": false, "username": "x", "new_field": 1}'
    assert contract.decode_reply(contract.UserStatsQuery("x"), extra) == contract.UserStatsReply("x")
    for query, body in [(contract.UserStatsQuery("x"), b'{"success": true}'),
                        (contract.UserStatsQuery("x"), b'{"found": "yes", "username": "x"}'),
                        (contract.ChannelStatsQuery(), b"[]"),
                        (contract.OutboundGetQuery(), b'{"success": true}'),
                        (contract.RecentChatQuery(), b'[{"timestamp": "x"}]'),
                        (contract.RecentChatQuery(), b"not json")]:
        with pytest.raises(BadPayload):
            contract.decode_reply(query, body)


def test_status_is_typed_both_ways_and_keeps_unknown_keys():
    status = contract.BotStatus(bot_name="rosey", bot_rank=3.0, chat_count=2, connected=True,
                                current_media=contract.MediaStatus("id", "yt", "Song", "03:25"))
    update = contract.StatusUpdate.of(status, newer_tool_field="kept")
    decoded = contract.decode_event(contract.STATUS_UPDATE, contract.encode(update))
    assert decoded.status == status
    assert decoded.status_data["newer_tool_field"] == "kept"
    with pytest.raises(BadPayload) as info:
        contract.decode_event(contract.STATUS_UPDATE, b'{"status_data": {"chat_count": "two"}}')
    assert info.value.reason == "wrong_type"


def test_a_long_command_name_is_audited_as_typed():
    name = "x" * (contract.MAX_USERNAME + 50)
    event = contract.decode_event(contract.PM_COMMAND, json.dumps({
        "username": "m", "command": name, "result": "error"}).encode())
    assert event.command == name


def test_event_time_is_the_events_own_or_none():
    assert contract.event_time(contract.UserJoined("a", 5.0)) == 5.0
    assert contract.event_time(contract.UserJoined("a")) is None
    assert contract.event_time(contract.Enqueue("hi")) is None
