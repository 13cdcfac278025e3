"""Logging in without a password: the bot's link works once, a rank-1 user gets none, the
moderators' view shows nothing without a session, a lost rank ends one, the login is
rate-limited, and the token is in no log line."""

from __future__ import annotations

import time

import aiohttp
import pytest

from rosey.contract.web import token_digest
from tests.support.wait import eventually
from tests.web.conftest import LOGIN_BURST, Stack

pytestmark = pytest.mark.asyncio(loop_scope="package")


def _issued(stack: Stack) -> float:
    return stack.bot.metrics.registry.get_sample_value(
        "rosey_bot_web_links_total", {"event": "issued"}) or 0.0


async def test_a_login_link_works_once_then_is_refused(stack: Stack) -> None:
    link = await stack.login_link("alice")
    token = link.rsplit("/", 1)[1]
    first = await stack.context()
    second = await stack.context()
    try:
        page = await first.new_page()
        head = await page.request.head(link)  # a link checker's HEAD spends nothing
        assert head.status == 405
        response = await page.goto(link)
        assert response is not None and response.status == 200
        assert page.url == stack.web_url + "/mod"
        assert await page.locator("#me").inner_text() == "alice"
        assert await page.locator("#actions").count() == 1
        (cookie,) = await first.cookies()
        assert cookie["name"] == "rosey_session" and cookie["httpOnly"] is True
        assert cookie["sameSite"] == "Strict" and cookie["secure"] is False  # plain http here
        assert time.time() < cookie["expires"] <= time.time() + 12 * 3600 + 5
        again = await (await second.new_page()).goto(link)
        assert again is not None and again.status == 403
        assert "refused the link" in await again.text()
        assert await second.cookies() == []
    finally:
        await first.close()
        await second.close()
    log = stack.web_log_text()
    assert token not in log and token_digest(token)[:8] in log
    assert '"result": "ok"' in log and '"result": "refused"' in log


async def test_a_rank_1_user_gets_no_link(stack: Stack) -> None:
    before = _issued(stack)
    # a confirmed rank: the bot decides at once, before it reads the next PM
    assert stack.bot.channel.user("bob").rank_confirmed
    await stack.cytube.user_pm("bob", stack.bot.session.bot_name, "weblogin")
    # a moderator's PM sent after bob's is answered; bob's, handled first, was not
    await stack.login_link("alice")
    assert _issued(stack) == before + 1
    assert stack.cytube.pms_to("bob") == []


async def test_without_a_session_the_moderators_view_shows_nothing(stack: Stack) -> None:
    context = await stack.context()
    try:
        page = await context.new_page()
        for path in ("/mod", "/mod/user/bob"):
            response = await page.goto(stack.web_url + path)
            assert response is not None and response.status == 403, path
            assert await page.locator("table").count() == 0
            assert "not logged in" in await page.locator("#refusal").inner_text()
        api = await page.request.get(stack.web_url + "/api/mod")
        assert api.status == 403 and set(await api.json()) == {"error", "reason"}
        await context.add_cookies([{"name": "rosey_session", "value": "made-up",
                                    "url": stack.web_url}])
        forged = await page.request.get(stack.web_url + "/api/mod/user/bob")
        assert forged.status == 403 and (await forged.json())["reason"] == "no_session"
    finally:
        await context.close()


async def test_a_lost_rank_ends_the_session(stack: Stack) -> None:
    context = await stack.context()
    try:
        page = await context.new_page()
        await stack.login(page, "dave")
        assert await page.locator("#me").inner_text() == "dave"
        await stack.cytube.set_rank("dave", 1)
        await stack.cytube.wait_for(lambda: stack.bot.channel.rank_of("dave") == 1)

        async def refused() -> bool:
            api = await page.request.get(stack.web_url + "/api/mod")
            # rank_lost when this request found it out; no_session when the web process's
            # own rank check (every RANK_CHECK_SECONDS / 2 here) ended it first
            return api.status == 403 and (await api.json())["reason"] in ("rank_lost",
                                                                          "no_session")
        await eventually(refused, timeout=10, interval=0.2, what="the session ended")
        assert '"username": "dave", "reason": "rank_lost"' in stack.web_log_text()
        # ended for good: the rank coming back does not bring the session back
        await stack.cytube.set_rank("dave", 2)
        await stack.cytube.wait_for(lambda: stack.bot.channel.rank_of("dave") == 2)
        response = await page.goto(stack.web_url + "/mod")
        assert response is not None and response.status == 403
    finally:
        await context.close()


async def test_the_login_is_rate_limited_per_address(stack: Stack) -> None:
    # from an address of its own (127.0.0.3), so the other tests' logins keep their bucket
    connector = aiohttp.TCPConnector(local_addr=("127.0.0.3", 0))
    async with aiohttp.ClientSession(connector=connector) as http:
        statuses = []
        for _ in range(LOGIN_BURST + 2):
            async with http.get(stack.web_url + "/login/" + "x" * 43,
                                allow_redirects=False) as r:
                statuses.append(r.status)
    assert statuses[:LOGIN_BURST] == [403] * LOGIN_BURST and statuses[LOGIN_BURST:] == [429, 429]
    async with aiohttp.ClientSession() as http, \
            http.get(stack.web_url + "/metrics") as r:
        text = await r.text()
    assert 'rosey_web_logins_total{result="rate_limited"} 2.0' in text


async def test_a_moderator_away_from_the_channel_sees_nothing_until_back(stack: Stack) -> None:
    context = await stack.context()
    try:
        page = await context.new_page()
        await stack.login(page, "erin")
        await stack.cytube.remove_user("erin")
        await stack.cytube.wait_for(lambda: stack.bot.channel.user("erin") is None)

        async def answer() -> tuple[int, str]:
            api = await page.request.get(stack.web_url + "/api/mod")
            return api.status, str((await api.json()).get("reason", ""))
        await eventually(lambda: _is(answer, (403, "absent")), timeout=10, interval=0.2,
                         what="refused while away")
        await stack.cytube.add_user("erin", 2)
        await stack.cytube.wait_for(lambda: stack.bot.channel.is_moderator("erin"))
        await eventually(lambda: _is(answer, (200, "")), timeout=10, interval=0.2,
                         what="the same session shows the view again")
    finally:
        await context.close()


async def _is(answer, expected: tuple[int, str]) -> bool:
    return await answer() == expected
