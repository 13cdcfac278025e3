"""The public pages in a real browser: the graph, escaping, the CSP, a phone's width, and the
process's own endpoints."""

from __future__ import annotations

import time

import aiohttp
import pytest
from playwright.async_api import Page

from rosey import contract
from rosey.web.security import CSP
from tests.support.db import rows
from tests.support.wait import eventually
from tests.web.conftest import Stack

pytestmark = pytest.mark.asyncio(loop_scope="package")

PHONE = {"width": 360, "height": 740}


async def _graph_points(page: Page) -> str:
    graph = page.locator("#graph[data-points]")  # graph.js sets it (no eval: the CSP forbids it)
    await graph.wait_for(state="attached", timeout=10_000)
    return str(await graph.get_attribute("data-points"))


async def test_the_graph_draws_one_point_per_bucket_with_samples(stack: Stack) -> None:
    # 24 samples an hour apart over the last day: 24 buckets of the 24 h range's 360
    now = time.time()
    seeded = [now - 3000 - i * 3600 for i in range(24)]
    for i, ts in enumerate(seeded):
        await stack.nc.publish(contract.USER_COUNT, contract.encode(
            contract.UserCount(chat_count=5 + i % 3, connected_count=9 + i % 4, timestamp=ts)))
    await eventually(lambda: rows(stack.db_path, "SELECT count(*) FROM user_count_history "
                                  "WHERE timestamp < ?", (now - 2000,))[0][0] == 24,
                     what="the seeded user counts stored")
    context = await stack.context(viewport={"width": 1200, "height": 900})
    try:
        page = await context.new_page()
        for _ in range(5):
            # the bot may store a new count meanwhile: the page's answer is compared with the
            # rows only when they were the same before it was asked and after it was drawn
            before = _counts(stack)
            async with page.expect_response(lambda r: "/api/history" in r.url) as fetched:
                await page.goto(stack.web_url + "/?range=24h")
            drawn = await _graph_points(page)
            if _counts(stack) == before:
                break
        api = await (await fetched.value).json()  # what the page itself was given
        since, until, bucket = api["since"], api["until"], api["bucket_seconds"]
        # what the graph must show, worked out here from the database's own rows
        buckets = {min((int(ts) - since) // bucket, 359) for ts in before
                   if since <= ts <= until}
        assert len(buckets) >= 24
        assert drawn == str(len(buckets))
        assert await page.evaluate("window.roseyGraph.data[0].length") == len(buckets)
        assert await page.evaluate("window.roseyGraph.series.length") == 3  # x, chat, connected
        assert await page.locator("#graph canvas").count() == 1
    finally:
        await context.close()


def _counts(stack: Stack) -> list[float]:
    return [ts for (ts,) in rows(stack.db_path,
                                 "SELECT timestamp FROM user_count_history ORDER BY id")]


async def test_a_script_in_chat_is_shown_as_text_and_never_runs(stack: Stack) -> None:
    line = "<script>alert(1)</script>"
    await stack.cytube.user_chat("carol", line)
    await eventually(lambda: rows(stack.db_path, "SELECT count(*) FROM recent_chat "
                                  "WHERE message = ?", (line,))[0][0] == 1,
                     what="the chat line stored as typed")
    context = await stack.context()
    try:
        page = await context.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda d: dialogs.append(d.message))
        await page.goto(stack.web_url + "/")
        await _graph_points(page)  # every script of the page has run
        html = await page.locator("#chat").inner_html()
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # escaped, so shown as text
        shown = page.locator("#chat .msg", has_text="alert(1)")
        assert await shown.first.text_content() == line
        assert await page.locator("#chat script").count() == 0
        assert dialogs == []
    finally:
        await context.close()


async def test_every_answer_has_the_csp_and_no_page_breaks_it(stack: Stack) -> None:
    context = await stack.context()
    try:
        page = await context.new_page()
        violations: list[str] = []
        page.on("console", lambda m: violations.append(m.text)
                if "Content Security Policy" in m.text else None)
        for path in ("/", "/user/carol", "/mod", "/api/public", "/static/site.css"):
            response = await page.goto(stack.web_url + path)
            assert response is not None
            assert response.headers["content-security-policy"] == CSP, path
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["referrer-policy"] == "no-referrer"
        assert "'unsafe-inline'" not in CSP and "script-src 'self'" in CSP
        await page.goto(stack.web_url + "/")
        await _graph_points(page)
        assert violations == []
    finally:
        await context.close()


async def test_the_pages_fit_a_360_px_phone(stack: Stack) -> None:
    context = await stack.context(viewport=PHONE)
    try:
        page = await context.new_page()
        await stack.login(page, "erin")  # the moderators' pages too
        for path in ("/", "/?range=30d", "/user/carol", "/mod", "/mod/user/bob"):
            response = await page.goto(stack.web_url + path)
            assert response is not None and response.status == 200, (
                path, await page.locator("main").inner_text())
            if path.startswith("/?") or path == "/":
                await _graph_points(page)
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"{path} is {width} px wide"
    finally:
        await context.close()


async def test_the_user_page_shows_what_the_record_knows(stack: Stack) -> None:
    await stack.cytube.user_chat("bob", "one line")
    await eventually(lambda: rows(stack.db_path, "SELECT total_chat_lines FROM user_stats "
                                  "WHERE username = 'bob'")[0][0] >= 1, what="bob's line")
    context = await stack.context()
    try:
        page = await context.new_page()
        await page.goto(stack.web_url + "/user/bob")
        lines = int(await page.locator("#chat-lines").inner_text())
        api = await (await page.request.get(stack.web_url + "/api/user/bob")).json()
        assert api["found"] is True and api["chat_lines"] == lines >= 1
        assert api["here_now"] is True and api["time_connected"] >= 0
        missing = await page.goto(stack.web_url + "/user/nobody-ever")
        assert missing is not None and missing.status == 404
    finally:
        await context.close()


async def _get(url: str) -> tuple[int, str]:
    # not urllib: a blocking call would stall this loop, where the bot and the DatabaseService run
    async with aiohttp.ClientSession() as http, http.get(url) as r:
        return r.status, await r.text()


async def test_metrics_health_and_readiness_on_the_web_port(stack: Stack) -> None:
    assert await _get(stack.web_url + "/healthz") == (200, "ok\n")
    assert await _get(stack.web_url + "/readyz") == (200, "nats: ok\n")
    await _get(stack.web_url + "/")
    status, text = await _get(stack.web_url + "/metrics")
    assert status == 200
    assert 'rosey_web_requests_total{page="public",status="200"}' in text
    assert 'rosey_web_logins_total{result="ok"}' in text
    assert 'rosey_web_sessions_refused_total{reason="no_session"}' in text
    assert 'rosey_web_queries_total{outcome="ok",subject="rosey.db.query.status"}' in text
