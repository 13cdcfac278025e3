"""The moderators' view with a record to show: the filters, the paging, the punishments'
time left, automatic moderation's hits, and one user's history."""

from __future__ import annotations

import time
from typing import Any

import pytest
from playwright.async_api import BrowserContext

from rosey import contract
from tests.support.db import rows
from tests.support.wait import eventually
from tests.web.conftest import Stack

pytestmark = pytest.mark.asyncio(loop_scope="package")

TARGET = "zed"  # nobody else's record names these two
ACTOR = "yan"


async def _seed(stack: Stack) -> float:
    """60 actions on zed: 40 warnings by yan, 17 notes by alice, 2 automod flags, a 1 h mute."""
    now = time.time()
    events = []
    for i in range(40):
        events.append(contract.ModerationAction(
            action="warn", target=TARGET, actor=ACTOR, reason=f"warning {i}",
            timestamp=now - 4000 + i))
    for i in range(17):
        events.append(contract.ModerationAction(
            action="note", target=TARGET, actor="alice", reason=f"<b>note</b> {i}",
            timestamp=now - 3000 + i))
    for i in range(2):
        events.append(contract.ModerationAction(
            action="flag", target=TARGET, actor="rosey", origin="automod", rule="caps",
            reason="caps", timestamp=now - 2000 + i))
    events.append(contract.ModerationAction(
        action="mute", target=TARGET, actor="alice", reason="cool down", duration=3600,
        expires_at=now - 1000 + 3600, timestamp=now - 1000))
    for event in events:
        await stack.nc.publish(contract.MODERATION_ACTION, contract.encode(event))
    await eventually(lambda: rows(stack.db_path, "SELECT count(*) FROM moderation_actions "
                                  "WHERE target = ?", (TARGET,))[0][0] == 60,
                     what="the seeded record stored")
    return now


async def _api(context: BrowserContext, url: str) -> Any:
    response = await context.request.get(url)
    assert response.status == 200, await response.text()
    return await response.json()


async def test_the_record_filters_pages_and_shows_time_left(stack: Stack) -> None:
    now = await _seed(stack)
    context = await stack.context()
    try:
        page = await context.new_page()
        await stack.login(page, "alice")
        base = stack.web_url + "/api/mod?user=" + TARGET
        first = await _api(context, base)
        assert len(first["actions"]) == 50 and first["next_before"] is not None
        assert first["actions"][0]["action"] == "mute"  # newest first
        assert first["next_before"] == first["actions"][-1]["id"]
        second = await _api(context, base + f"&before={first['next_before']}")
        assert len(second["actions"]) == 10 and second["actions"][-1]["reason"] == "warning 0"
        assert second["next_before"] is None and second["filters"]["before"] == first[
            "next_before"]
        warns = await _api(context, base + f"&actor={ACTOR.upper()}&action=warn")
        assert len(warns["actions"]) == 40 and warns["next_before"] is None
        automod = await _api(context, base + "&origin=automod&rule=caps")
        assert [a["rule"] for a in automod["actions"]] == ["caps", "caps"]
        assert {a["target"] for a in first["automod"]} >= {TARGET}
        assert all(a["origin"] == "automod" for a in first["automod"])
        tomorrow = time.strftime("%Y-%m-%d", time.gmtime(now + 86400))
        assert (await _api(context, base + f"&from={tomorrow}"))["actions"] == []
        (mute,) = [p for p in first["punishments"] if p["target"] == TARGET]
        assert 2500 <= mute["seconds_left"] <= 2700 and not mute["overdue"]
        for bad in ("&action=explode", "&before=x", f"&from={tomorrow}&to=2000-01-01"):
            refused = await context.request.get(base + bad)
            assert refused.status == 400, bad

        await page.goto(stack.web_url + f"/mod?user={TARGET}&action=note")
        notes = page.locator("#actions tbody tr")
        assert await notes.count() == 17
        assert await notes.first.locator("td.text").inner_text() == "<b>note</b> 16"
        assert "17 actions" in await page.locator("#record-count").inner_text()
        assert await page.locator("nav.pages a").count() == 0  # one page: no older, no newest

        await page.goto(stack.web_url + f"/mod/user/{TARGET}")
        assert await page.locator("#strikes li").count() == 40
        assert await page.locator("#notes li").count() == 17
        history = await _api(context, stack.web_url + f"/api/mod/user/{TARGET}")
        assert [p["kind"] for p in history["punishments"]] == ["mute"]
    finally:
        await context.close()


OLD = "ancient"  # the one action older than the newest 1000
FILLER = "filler"  # 1100 actions after it, on nobody else
FILLED = 1100


async def _seed_a_long_record(stack: Stack) -> tuple[int, str]:
    """One smute of ``ancient`` 40 days ago, then 1100 notes on ``filler``: the smute is older
    than the newest 1000 actions of the whole record. Returns its id and its UTC day."""
    old_at = time.time() - 40 * 86400
    first = contract.ModerationAction(action="smute", target=OLD, actor="dave",
                                      reason="long ago", timestamp=old_at)
    await stack.nc.publish(contract.MODERATION_ACTION, contract.encode(first))
    for i in range(FILLED):
        await stack.nc.publish(contract.MODERATION_ACTION, contract.encode(
            contract.ModerationAction(action="note", target=FILLER, actor="erin",
                                      reason=f"filler {i}", timestamp=time.time() - 3600)))
    await stack.nc.flush()
    await eventually(lambda: rows(stack.db_path, "SELECT count(*) FROM moderation_actions"
                                  " WHERE target = ?", (FILLER,))[0][0] == FILLED,
                     timeout=60, what="the long record stored")
    (old_id,), = rows(stack.db_path, "SELECT id FROM moderation_actions WHERE target = ?",
                      (OLD,))
    newer, = rows(stack.db_path, "SELECT count(*) FROM moderation_actions WHERE id > ?",
                  (old_id,))
    assert newer[0] > 1000
    return old_id, time.strftime("%Y-%m-%d", time.gmtime(old_at))


async def test_a_filter_finds_an_action_older_than_the_newest_1000_and_pages_reach_all(
        stack: Stack) -> None:
    old_id, day = await _seed_a_long_record(stack)
    context = await stack.context()
    try:
        page = await context.new_page()
        await stack.login(page, "dave")
        api = stack.web_url + "/api/mod"
        for found in ("?action=smute", f"?from={day}&to={day}", "?actor=dave&origin=command"
                      "&action=smute", f"?user={OLD.upper()}"):
            answer = await _api(context, api + found)
            assert [a["id"] for a in answer["actions"]] == [old_id], found

        # every page of filler's record, by the "older" link's before, each action once
        seen: list[int] = []
        url = api + f"?user={FILLER}"
        while True:
            answer = await _api(context, url)
            seen += [a["id"] for a in answer["actions"]]
            if answer["next_before"] is None:
                break
            url = api + f"?user={FILLER}&before={answer['next_before']}"
        stored = [r[0] for r in rows(stack.db_path, "SELECT id FROM moderation_actions"
                                     " WHERE target = ? ORDER BY id DESC", (FILLER,))]
        assert seen == stored and len(seen) == FILLED

        # and in the browser: the "older" link twice, then "newest" back to the first page
        await page.goto(stack.web_url + f"/mod?user={FILLER}")
        cells = page.locator("#actions tbody tr td:first-child")
        assert await cells.first.inner_text() == str(stored[0])
        for n in (1, 2):
            await page.locator("nav.pages a[rel=next]").click()
            await page.wait_for_url(f"**before={stored[50 * n - 1]}")
            assert await cells.first.inner_text() == str(stored[50 * n])
            assert await cells.count() == 50
        await page.locator("nav.pages a[rel=first]").click()
        await page.wait_for_url(lambda url: "before=" not in url)
        assert await cells.first.inner_text() == str(stored[0])
        assert page.url.startswith(stack.web_url + f"/mod?user={FILLER}&")
    finally:
        await context.close()
