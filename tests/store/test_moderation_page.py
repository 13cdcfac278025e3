"""The moderators' view's pages of the whole moderation record (``rosey.db.query.moderation_page``,
docs/web-contract.md) on a real SQLite file: each filter and their combinations against a
filter written out in Python over every row, keyset paging that reads every match exactly once,
the time range's edges, the empty answer, every filter combination read from an index (schema
version 7), a version 6 file migrated, and bad requests refused by the decoder."""

from __future__ import annotations

import itertools
import json
import random
import sqlite3
from typing import Any

import pytest

from rosey import contract
from rosey.errors import BadPayload
from rosey.store import moderation
from rosey.store.answers import run_query
from rosey.store.schema import MIGRATIONS, SCHEMA_VERSION, configure_connection, migrate

T0 = 1_764_000_000
TARGETS = ("bob", "Carol", "dave", "erin")
ACTORS = ("alice", "rosey", "Mod2")
RULES = ("caps", "links")


def _record(rng: random.Random, i: int) -> tuple[int, contract.ModerationAction]:
    origin = rng.choice(contract.MODERATION_ORIGINS)
    # timestamps mostly rise with the id, but not always (the bot's publish window reorders)
    at = T0 + i * 60 + rng.choice((0, 0, 0, -300, 240))
    return at, contract.ModerationAction(
        rng.choice(contract.MODERATION_KINDS), rng.choice(TARGETS), rng.choice(ACTORS),
        origin=origin, reason=f"r{i}", rule=rng.choice(RULES) if origin == "automod" else None)


@pytest.fixture(scope="module")
def conn(tmp_path_factory: pytest.TempPathFactory):
    """600 actions: every kind, origin, a few targets and actors (names in two cases)."""
    c = sqlite3.connect(tmp_path_factory.mktemp("page") / "m.db", isolation_level=None)
    configure_connection(c, writer=True)
    migrate(c)
    rng = random.Random(7)
    c.execute("BEGIN")
    for i in range(600):
        at, action = _record(rng, i)
        moderation.apply_moderation(c, action, at)
    c.execute("COMMIT")
    yield c
    c.close()


def everything(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    cols = ("id", "timestamp", "action", "target", "actor", "origin", "rule")
    return [dict(zip(cols, r, strict=True)) for r in conn.execute(
        f"SELECT {', '.join(cols)} FROM moderation_actions ORDER BY id DESC")]


def expected(conn: sqlite3.Connection, q: contract.ModerationPageQuery) -> list[int]:
    """The ids that match, newest first, by a filter written out over every row."""
    def same(value: str, wanted: str | None) -> bool:
        return wanted is None or value.lower() == wanted.lower()
    return [r["id"] for r in everything(conn)
            if same(r["target"], q.target) and same(r["actor"], q.actor)
            and q.action in (None, r["action"]) and q.origin in (None, r["origin"])
            and q.rule in (None, r["rule"])
            and (q.since is None or r["timestamp"] >= q.since)
            and (q.until is None or r["timestamp"] <= q.until)
            and (q.before_id is None or r["id"] < q.before_id)]


def read_all(conn: sqlite3.Connection, q: contract.ModerationPageQuery) -> list[int]:
    """Every page, each asked with the one before's ``next_before_id``, until it is None."""
    seen: list[int] = []
    reply = run_query(conn, q)
    for _ in range(1000):
        assert len(reply.actions) <= q.limit
        seen += [a.id for a in reply.actions]
        if reply.next_before_id is None:
            return seen
        assert reply.next_before_id == reply.actions[-1].id and len(reply.actions) == q.limit
        reply = run_query(conn, contract.ModerationPageQuery(
            **{**_fields(q), "before_id": reply.next_before_id}))
    raise AssertionError("paging never ended")


def _fields(q: contract.ModerationPageQuery) -> dict[str, Any]:
    return {k: getattr(q, k) for k in ("target", "actor", "action", "origin", "rule", "since",
                                       "until", "before_id", "limit")}


SINGLE = [{"target": "carol"}, {"target": "BOB"}, {"actor": "mod2"}, {"actor": "rosey"},
          {"action": "ban"}, {"action": "flag"}, {"origin": "automod"}, {"origin": "expiry"},
          {"rule": "caps"}, {"since": T0 + 20_000}, {"until": T0 + 9_000},
          {"since": T0 + 12_000, "until": T0 + 15_000}, {"before_id": 301}]


@pytest.mark.parametrize("filters", SINGLE, ids=lambda f: ",".join(f"{k}={v}" for k, v in
                                                                    f.items()))
def test_each_filter_alone_answers_exactly_its_matches_newest_first(conn, filters):
    q = contract.ModerationPageQuery(**filters, limit=200)
    want = expected(conn, q)
    assert 0 < len(want) < 600  # the filter matters here
    assert read_all(conn, q) == want


def test_every_combination_of_filters_pages_through_every_match_once(conn):
    """Two and three filters together, paged 7 at a time: the pages joined are the matches,
    newest first, none twice and none left out."""
    choices = {"target": ("dave", None), "actor": ("ALICE", None), "action": ("warn", None),
               "origin": ("command", None), "rule": ("links", None),
               "span": ((T0 + 6_000, T0 + 30_000), None)}
    tried = 0
    for values in itertools.product(*choices.values()):
        given = dict(zip(choices, values, strict=True))
        span = given.pop("span")
        if sum(v is not None for v in values) > 3:
            continue
        q = contract.ModerationPageQuery(**given, since=span and span[0],
                                         until=span and span[1], limit=7)
        got = read_all(conn, q)
        assert got == expected(conn, q), given
        assert len(set(got)) == len(got)
        tried += 1
    assert tried == 42


@pytest.mark.parametrize("limit", [1, 50, 200])
def test_paging_the_whole_record_reads_every_action_once_in_order(conn, limit):
    got = read_all(conn, contract.ModerationPageQuery(limit=limit))
    assert got == [r["id"] for r in everything(conn)] and len(got) == 600


def test_a_last_page_that_is_exactly_full_says_there_is_nothing_older(conn):
    want = expected(conn, contract.ModerationPageQuery(target="erin"))
    reply = run_query(conn, contract.ModerationPageQuery(target="erin", limit=len(want)))
    assert [a.id for a in reply.actions] == want and reply.next_before_id is None
    short = run_query(conn, contract.ModerationPageQuery(target="erin", limit=len(want) - 1))
    assert short.next_before_id == want[-2]


def test_the_time_range_is_inclusive_at_both_ends_and_a_fraction_is_not_rounded(conn):
    stamps = [r["timestamp"] for r in everything(conn)]
    t = sorted(stamps)[300]
    on_t = sorted(r["id"] for r in everything(conn) if r["timestamp"] == t)[::-1]

    def ids(**span: Any) -> list[int]:
        return [a.id for a in run_query(conn, contract.ModerationPageQuery(**span,
                                                                          limit=200)).actions]
    assert ids(since=t, until=t) == on_t
    assert ids(since=t - 0.5, until=t + 0.5) == on_t
    assert ids(since=t + 0.5, until=t + 0.9) == []
    later = expected(conn, contract.ModerationPageQuery(since=t + 1))
    earlier = expected(conn, contract.ModerationPageQuery(until=t - 1))
    assert ids(since=t + 0.5) == later[:200] and ids(until=t - 0.5) == earlier[:200]
    assert set(later) | set(earlier) | set(on_t) == set(range(1, 601))


def test_what_matches_nothing_is_an_empty_page_with_no_next(conn):
    for filters in ({"target": "nobody"}, {"since": T0 + 10**7}, {"until": T0 - 1},
                    {"before_id": 1}, {"rule": "caps", "origin": "command"},
                    {"since": T0 + 30_000, "until": T0 + 30_000, "target": "nobody"}):
        reply = run_query(conn, contract.ModerationPageQuery(**filters))
        assert reply == contract.ModerationPageReply((), None), filters


def test_the_reply_is_modlogs_records_and_round_trips_on_the_wire(conn):
    reply = run_query(conn, contract.ModerationPageQuery(limit=5))
    assert reply.actions == moderation.modlog(conn, contract.ModlogQuery(None, 5)).actions
    wire = json.loads(contract.encode(reply))
    assert wire["success"] is True and wire["next_before_id"] == reply.actions[-1].id
    query = contract.ModerationPageQuery(limit=5)
    assert contract.decode_reply(query, contract.encode(reply)) == reply


# --- every filter combination is read from an index (schema version 7) ---------------------
FILTERS = {"target": "bob", "actor": "alice", "action": "ban", "origin": "automod",
           "rule": "caps"}
SPANS = ({}, {"since": T0}, {"until": T0}, {"since": T0, "until": T0 + 1})


def _plan(conn: sqlite3.Connection, q: contract.ModerationPageQuery) -> list[str]:
    sql, args = moderation.page_sql(q)
    return [r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}", args)]


def test_every_combination_the_page_offers_is_read_from_an_index(conn):
    checked = 0
    for n in range(len(FILTERS) + 1):
        for names in itertools.combinations(FILTERS, n):
            for span, before in itertools.product(SPANS, (None, 99)):
                q = contract.ModerationPageQuery(**{k: FILTERS[k] for k in names}, **span,
                                                 before_id=before)
                plan = _plan(conn, q)
                assert all(step.startswith(("SEARCH", "SCALAR SUBQUERY")) for step in plan), (
                    names, span, plan)
                first = next((index for name, _, index in moderation.PAGE_INDEXES
                              if name in names), None)
                assert (f"USING INDEX {first} " if first else
                        "USING INTEGER PRIMARY KEY") in plan[0], (names, plan)
                assert not any("TEMP B-TREE" in step for step in plan)  # no sort
                if span:
                    assert any("moderation_actions_time" in step for step in plan)
                checked += 1
    assert checked == 32 * len(SPANS) * 2


# --- schema version 7 ----------------------------------------------------------------------
def test_a_v6_file_keeps_its_record_and_gains_the_indexes(tmp_path):
    c = sqlite3.connect(tmp_path / "v6.db", isolation_level=None)
    configure_connection(c, writer=True)
    for script in MIGRATIONS[:6]:
        for statement in filter(str.strip, script.split(";")):
            c.execute(statement)
    c.execute("PRAGMA user_version = 6")
    c.execute("BEGIN")
    rng = random.Random(3)
    for i in range(50):
        at, action = _record(rng, i)
        moderation.apply_moderation(c, action, at)
    c.execute("COMMIT")
    before = everything(c)
    assert migrate(c) == 6
    assert c.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,) == (7,)
    assert everything(c) == before
    indexes = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'index'"
                                       " AND tbl_name = 'moderation_actions'")}
    assert indexes == {"moderation_actions_target", "moderation_actions_actor",
                       "moderation_actions_action", "moderation_actions_origin",
                       "moderation_actions_rule", "moderation_actions_time"}
    q = contract.ModerationPageQuery(origin="automod", limit=3)
    assert read_all(c, q) == expected(c, q)
    assert "moderation_actions_origin" in _plan(c, q)[0]


# --- the request's decoder -----------------------------------------------------------------
BAD = [{"target": 5}, {"actor": ["a"]}, {"target": "x" * 101}, {"rule": "r" * 101},
       {"action": "explode"}, {"action": ""}, {"action": "BAN"}, {"origin": "robot"},
       {"origin": 1}, {"since": "yesterday"}, {"since": -1}, {"until": 1e11}, {"until": True},
       {"since": 200, "until": 100}, {"before_id": 0}, {"before_id": 1.5},
       {"before_id": "9"}, {"limit": 0}, {"limit": 201}, {"limit": 2.5}, {"limit": False}]


@pytest.mark.parametrize("body", BAD, ids=lambda b: json.dumps(b)[:40])
def test_a_bad_request_is_refused_by_the_decoder(body):
    with pytest.raises(BadPayload):
        contract.decode_query(contract.QUERY_MODERATION_PAGE, json.dumps(body).encode())


def test_defaults_blank_names_and_unknown_fields():
    decode = contract.decode_query
    subject = contract.QUERY_MODERATION_PAGE
    assert decode(subject, b"") == decode(subject, b"{}") == contract.ModerationPageQuery()
    assert contract.ModerationPageQuery().limit == 50
    q = decode(subject, json.dumps({"target": "  ", "actor": None, "rule": "", "extra": [1],
                                    "since": 5, "until": 5, "limit": 200,
                                    "before_id": 9.0}).encode())
    assert q == contract.ModerationPageQuery(since=5, until=5, before_id=9, limit=200)
    assert decode(subject, b'{"target": " Bob "}') == contract.ModerationPageQuery("Bob")
