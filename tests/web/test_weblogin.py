"""The bot's side of the login, without a network: links expire, are spent once, need the rank
now; the rank answer; the token is in no log line; a bad request is answered, not raised."""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from rosey.bot import frames
from rosey.bot.channel import ChannelState
from rosey.bot.weblogin import WebLogin
from rosey.contract.web import decode_redeem_request, token_digest
from rosey.errors import BadPayload
from rosey.metrics import BotMetrics
from tests.support.clock import FakeClock


def _login(*, url: str = "https://rosey.example/", joined: bool = True,
           need: float = 2.0) -> tuple[WebLogin, ChannelState, FakeClock]:
    channel = ChannelState(channel="c", me=lambda: "rosey")
    channel.apply(frames.Userlist((frames.UserEntry("alice", 2.0), frames.UserEntry("bob", 1.0))))
    clock = FakeClock()
    web = WebLogin(channel=channel, joined=lambda: joined, web_url=url, need=need,
                   metrics=BotMetrics(CollectorRegistry()), clock=clock)
    return web, channel, clock


async def _token(web: WebLogin, caller: str = "alice") -> str:
    reply = await web.cmd_weblogin("", caller)
    found = re.search(r"https://rosey\.example/login/([A-Za-z0-9_-]{43})$", reply)
    assert found, reply
    return found.group(1)


async def test_a_link_is_spent_once_and_says_who_it_was_for() -> None:
    web, _, _ = _login()
    with capture_logs() as logs:
        token = await _token(web)
        first = web.redeem(token_digest(token))
        second = web.redeem(token_digest(token))
    assert (first.ok, first.username, first.rank) == (True, "alice", 2.0)
    assert not second.ok and "not valid" in second.error
    assert token not in repr(logs)
    assert [e["token_hash"] for e in logs] == [token_digest(token)[:8]] * 3


async def test_a_link_expires_after_ten_minutes_and_a_new_one_replaces_the_old() -> None:
    web, _, clock = _login()
    old = await _token(web)
    new = await _token(web)
    assert not web.redeem(token_digest(old)).ok  # replaced
    clock._wall += 600
    assert web.redeem(token_digest(new)).error == "this link has expired"


async def test_a_link_needs_the_rank_when_it_is_opened() -> None:
    web, channel, _ = _login()
    token = await _token(web)
    channel.apply(frames.SetUserRank("alice", 1.0))
    assert not web.redeem(token_digest(token)).ok


async def test_the_rank_answer_follows_the_channel() -> None:
    web, channel, _ = _login(need=3.0)
    assert (web.rank("ALICE").state, web.rank("alice").rank, web.rank("alice").allowed) == \
        ("ok", 2.0, False)  # below ROSEY_COMMAND_RANKS' weblogin=3
    assert web.rank("nobody").state == "absent"
    assert _login(joined=False)[0].rank("alice").state == "not_joined"


async def test_without_a_web_url_the_reply_says_the_page_is_not_configured() -> None:
    web, _, _ = _login(url="")
    assert "not configured" in await web.cmd_weblogin("", "alice")


def test_a_request_that_is_no_sha256_is_refused() -> None:
    for body in (b'{"token_sha256": "abc"}', b'{"token": "x"}', b"[]"):
        try:
            decode_redeem_request(body)
        except BadPayload:
            continue
        raise AssertionError(f"{body!r} was accepted")
