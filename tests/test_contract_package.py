"""The contract as a package (issue 18): each event class is bound to its subject, the publisher
takes the event alone, and the query registry is made from the query classes.

Adding a query touches three places: the query class (``rosey.contract.queries``: a
``QueryOf[ItsReply]`` with ``SUBJECT`` and ``from_wire``), its reply class
(``rosey.contract.replies``: ``from_wire``, and ``to_wire`` unless ``{"success": true, <fields>}``
fits), and the store's answer (a function and its row in ``rosey.store.queries.QUERIES`` or
``rosey.store.moderation.MODERATION_QUERIES``). The subject lists, the DatabaseService's
subscriptions and dispatch, the permissions and the metric labels follow;
:func:`test_a_query_defined_here_is_found_everywhere_the_registry_reaches` does it with a
throwaway query.
"""

from __future__ import annotations

import json
import re
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
from prometheus_client import CollectorRegistry

from rosey import contract, nats_auth
from rosey.bot.publisher import Publisher
from rosey.errors import BadPayload
from rosey.metrics import BotMetrics
from rosey.store import answers

DOCS = Path(__file__).resolve().parents[1] / "docs"

#: every subject constant and its wire value (docs/wire-contract.md, docs/moderation.md)
WIRE_NAMES = {
    "USER_JOINED": "rosey.db.user.joined", "USER_LEFT": "rosey.db.user.left",
    "MESSAGE_LOG": "rosey.db.message.log", "USER_COUNT": "rosey.db.stats.user_count",
    "HIGH_WATER": "rosey.db.stats.high_water", "STATUS_UPDATE": "rosey.db.status.update",
    "OUTBOUND_MARK_SENT": "rosey.db.messages.outbound.mark_sent",
    "OUTBOUND_ENQUEUE": "rosey.db.messages.outbound.enqueue",
    "PM_COMMAND": "rosey.db.action.pm_command",
    "QUERY_CHANNEL_STATS": "rosey.db.query.channel_stats",
    "QUERY_USER_STATS": "rosey.db.query.user_stats",
    "OUTBOUND_GET": "rosey.db.messages.outbound.get",
    "RECENT_CHAT_GET": "rosey.db.stats.recent_chat.get",
    "MODERATION_ACTION": "rosey.db.moderation.action", "QUERY_MODLOG": "rosey.db.query.modlog",
    "QUERY_PUNISHMENTS": "rosey.db.query.punishments", "QUERY_HISTORY": "rosey.db.query.history",
    "RAID_STATE": "rosey.db.automod.raid", "QUERY_RAID": "rosey.db.query.raid",
    # docs/web-contract.md
    "MEDIA_PLAYED": "rosey.db.media.played", "QUERY_USER_COUNTS": "rosey.db.query.user_counts",
    "QUERY_CHAT_HOURS": "rosey.db.query.chat_hours",
    "QUERY_MEDIA_RECENT": "rosey.db.query.media_recent",
    "QUERY_MEDIA_TOP": "rosey.db.query.media_top", "QUERY_STATUS": "rosey.db.query.status",
    "QUERY_MODERATION_PAGE": "rosey.db.query.moderation_page",
}

#: one valid body for every event subject
SAMPLES = {
    contract.USER_JOINED: {"username": "a", "timestamp": 5},
    contract.USER_LEFT: {"username": "a"},
    contract.MESSAGE_LOG: {"username": "a", "message": "m"},
    contract.USER_COUNT: {"chat_count": 1, "connected_count": 2},
    contract.HIGH_WATER: {"chat_count": 1},
    contract.STATUS_UPDATE: {"status_data": {"bot_name": "rosey"}},
    contract.OUTBOUND_MARK_SENT: {"message_id": 1},
    contract.OUTBOUND_ENQUEUE: {"message": "hi"},
    contract.PM_COMMAND: {"username": "m", "command": "stats", "args": "", "result": "pending"},
    contract.MODERATION_ACTION: {"action": "mute", "target": "bob", "actor": "alice"},
    contract.RAID_STATE: {"active": True, "saved_options": {"chat_antiflood": False}},
    contract.MEDIA_PLAYED: {"media_type": "yt", "media_id": "x", "duration": 5, "on_join": True},
}


def _publisher() -> Publisher:
    return Publisher(js=None, metrics=BotMetrics(CollectorRegistry()))


def test_the_wire_names_keep_their_values():
    assert {name: getattr(contract, name) for name in WIRE_NAMES} == WIRE_NAMES


@pytest.mark.parametrize("subject", contract.STREAM_SUBJECTS)
def test_every_event_class_has_its_subject_and_subject_of_round_trips(subject):
    event = contract.decode_event(subject, json.dumps(SAMPLES[subject]).encode())
    assert type(event) is contract.EVENT_TYPES[subject]
    assert type(event).SUBJECT == contract.subject_of(event) == subject
    assert contract.decode_event(contract.subject_of(event), contract.encode(event)) == event


def test_the_event_registry_is_every_event_class_and_the_lists_follow_from_it():
    assert set(SAMPLES) == set(contract.EVENT_TYPES) == set(contract.STREAM_SUBJECTS)
    assert set(typing.get_args(contract.Event)) == set(contract.EVENT_TYPES.values())
    assert contract.EVENT_SUBJECTS == tuple(
        s for s, t in contract.EVENT_TYPES.items() if t.SHARED)
    assert contract.MODERATION_EVENT_SUBJECTS == (contract.MODERATION_ACTION,
                                                  contract.RAID_STATE)
    assert contract.WEB_EVENT_SUBJECTS == (contract.MEDIA_PLAYED,)
    assert nats_auth.BOT_EVENTS == tuple(
        s for s in contract.STREAM_SUBJECTS if s != contract.OUTBOUND_ENQUEUE)


def test_subject_of_refuses_what_is_not_an_event():
    for thing in ({"username": "a"}, contract.UserStatsQuery("a"), contract.USER_JOINED, None):
        with pytest.raises(TypeError):
            contract.subject_of(thing)  # type: ignore[arg-type]


def test_publish_takes_the_event_alone_on_its_own_subject():
    pub = _publisher()
    assert pub.publish(contract.MessageLog("a", "m"))
    assert pub.publish(contract.UserJoined("a", 1.0))
    for bad in (({"username": "a"},), (contract.USER_JOINED, contract.UserJoined("a", 1.0)),
                (contract.USER_JOINED,), (contract.ChannelStatsQuery(),)):
        with pytest.raises(TypeError):
            pub.publish(*bad)  # type: ignore[arg-type, call-arg]
    assert pub.depth == 2
    assert [e.subject for e in pub._outbox] == [contract.MESSAGE_LOG, contract.USER_JOINED]


def test_the_query_registry_holds_every_query_of_the_documents_with_its_reply_and_answer():
    queries = (DOCS / "wire-contract.md").read_text().split("## Queries", 1)[1].split("\n## ")[0]
    shared = set(re.findall(r"^\| `(rosey\.[a-z_.]+)`", queries, re.M))
    rows = re.findall(r"^\| `(rosey\.[a-z_.]+)` \| (\w+)", (DOCS / "moderation.md").read_text(),
                      re.M)
    beside = {subject for subject, kind in rows if kind == "query"}
    web_rows = re.findall(r"^\| `(rosey\.[a-z_.]+)` \| (\w+)",
                          (DOCS / "web-contract.md").read_text(), re.M)
    web = {subject for subject, kind in web_rows if kind == "query"}
    assert len(shared) == 4 and len(beside) == 4 and len(web) == 6
    assert set(contract.QUERY_SUBJECTS) == shared
    assert set(contract.MODERATION_QUERY_SUBJECTS) == beside
    assert set(contract.WEB_QUERY_SUBJECTS) == web
    assert set(contract.QUERY_TYPES) == set(contract.ALL_QUERY_SUBJECTS) == shared | beside | web
    for subject, cls in contract.QUERY_TYPES.items():
        assert cls.SUBJECT == subject and issubclass(cls.REPLY, contract.Reply)
        assert cls in answers.ANSWERS, f"the store does not answer {cls.__name__}"
    assert set(answers.ANSWERS) == set(contract.QUERY_TYPES.values())
    assert contract.LIST_QUERY_SUBJECTS == {contract.OUTBOUND_GET, contract.RECENT_CHAT_GET}
    assert contract.UserStatsQuery.REPLY is contract.UserStatsReply
    assert not set(contract.ALL_QUERY_SUBJECTS) & set(contract.STREAM_SUBJECTS)
    assert nats_auth.BOT_QUERIES == tuple(  # the web page's queries are the web process's
        s for s in contract.ALL_QUERY_SUBJECTS
        if s != contract.RECENT_CHAT_GET and s not in contract.WEB_QUERY_SUBJECTS)


def test_a_query_defined_here_is_found_everywhere_the_registry_reaches(monkeypatch):
    subject = "rosey.test.query.echo"

    @dataclass(frozen=True, slots=True)
    class EchoReply(contract.Reply):  # place 2: the reply class
        text: str

        @classmethod
        def from_wire(cls, value: Any) -> EchoReply:
            return cls(str(value["text"]))

    try:
        @dataclass(frozen=True, slots=True)
        class EchoQuery(contract.QueryOf[EchoReply]):  # place 1: the query class
            SUBJECT: ClassVar[str] = subject

            text: str = ""

            @classmethod
            def from_wire(cls, o: dict[str, Any]) -> EchoQuery:
                return cls(str(o.get("text", "")))

        # place 3: the store's answer
        monkeypatch.setitem(answers.ANSWERS, EchoQuery, lambda conn, q: EchoReply(q.text))

        assert contract.QUERY_TYPES[subject] is EchoQuery and EchoQuery.REPLY is EchoReply
        query = contract.decode_query(subject, b'{"text": "hi"}')
        assert query == EchoQuery("hi") and contract.query_subject(query) == subject
        reply = answers.run_query(None, query)  # type: ignore[arg-type]
        assert json.loads(contract.encode(reply)) == {"success": True, "text": "hi"}
        assert contract.decode_reply(query, contract.encode(reply)) == EchoReply("hi")
        assert json.loads(contract.error_reply(subject, "x")) == {"success": False, "error": "x"}
        assert not EchoQuery.SHARED and EchoQuery.BOT_ASKS
    finally:
        contract.QUERY_TYPES.pop(subject, None)
    with pytest.raises(BadPayload) as info:
        contract.decode_query(subject, b"{}")
    assert info.value.reason == "unknown_subject"


def test_a_subject_has_one_class_and_a_query_names_its_reply():
    with pytest.raises(TypeError, match="share"):
        @dataclass(frozen=True, slots=True)
        class Again(contract.QueryOf[contract.ChannelStatsReply]):
            SUBJECT: ClassVar[str] = contract.QUERY_CHANNEL_STATS
    with pytest.raises(TypeError, match="share"):
        @dataclass(frozen=True, slots=True)
        class Joined(contract.ContractEvent):
            SUBJECT: ClassVar[str] = contract.USER_JOINED
    with pytest.raises(TypeError, match="QueryOf"):
        class NoReply(contract.QueryOf):  # type: ignore[type-arg]
            SUBJECT: ClassVar[str] = "rosey.test.query.no_reply"
    assert contract.QUERY_TYPES[contract.QUERY_CHANNEL_STATS] is contract.ChannelStatsQuery
    assert contract.EVENT_TYPES[contract.USER_JOINED] is contract.UserJoined
    assert "rosey.test.query.no_reply" not in contract.QUERY_TYPES
