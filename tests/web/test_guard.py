"""The moderators' view fails closed when the bot cannot vouch for a session: no answer over
NATS is a 503 and no data, the session kept; an expired or unknown session is a 403."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import make_mocked_request
from prometheus_client import CollectorRegistry

from rosey.metrics import WebMetrics
from rosey.web.guard import COOKIE, Guard, Refused
from rosey.web.reader import Reader
from rosey.web.sessions import Sessions


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _guard() -> tuple[Guard, Sessions, _Clock, WebMetrics]:
    clock = _Clock()
    metrics = WebMetrics(CollectorRegistry())
    sessions = Sessions(lifetime=3600, clock=clock)
    # no NATS connection at all: every rank check finds the bot unreachable
    reader = Reader(nc=lambda: None, timeout=0.5, metrics=metrics)
    return Guard(sessions=sessions, reader=reader, rank_check=60, metrics=metrics,
                 clock=clock), sessions, clock, metrics


def _request(sid: str) -> object:
    return make_mocked_request("GET", "/mod", headers={"Cookie": f"{COOKIE}={sid}"})


async def test_an_unconfirmed_rank_is_refused_with_503_and_the_session_kept() -> None:
    guard, sessions, clock, metrics = _guard()
    session = sessions.start("alice", 2.0)
    assert await guard.moderator(_request(session.id)) is session  # confirmed just now
    clock.now += 61
    with pytest.raises(Refused) as refused:
        await guard.moderator(_request(session.id))
    assert (refused.value.status, refused.value.reason) == (503, "rank_unconfirmed")
    assert sessions.find(session.id)[0] is session
    assert metrics.registry.get_sample_value(
        "rosey_web_sessions_refused_total", {"reason": "rank_unconfirmed"}) == 1
    assert metrics.registry.get_sample_value(
        "rosey_web_queries_total", {"subject": "rosey.bot.web.rank",
                                    "outcome": "not_connected"}) == 1


async def test_an_expired_or_unknown_session_is_refused_with_403() -> None:
    guard, sessions, clock, _ = _guard()
    session = sessions.start("alice", 2.0)
    clock.now += 3600
    for sid, reason in ((session.id, "expired"), (session.id, "no_session"),
                        ("made-up", "no_session")):
        with pytest.raises(Refused) as refused:
            await guard.moderator(_request(sid))
        assert (refused.value.status, refused.value.reason) == (403, reason)
