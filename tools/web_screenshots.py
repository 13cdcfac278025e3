"""Screenshots of the web page (docs/web.md) for the docs: the public page, a user's page and
the moderators' view, saved as ``docs/screenshots/{public,user,moderators}.png``::

    .venv/bin/python -m tools.web_screenshots [--out docs/screenshots]

It starts a real nats-server and DatabaseService on a temp directory, publishes a day of a
small channel's sample events (user counts, chat, plays, moderation), runs the web process
in-process, and photographs it with Debian's Chromium through Playwright. No bot runs: this
script answers the bot's two login subjects itself (any link is good, the rank is 2), so the
moderators' view can be shown.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import secrets
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from playwright.async_api import async_playwright

from rosey import contract
from rosey.config import DbSettings
from rosey.contract.web import WEB_RANK, WEB_REDEEM, RankReply, RedeemReply, decode_rank_request
from rosey.dbservice.service import DatabaseService
from rosey.log import configure_logging
from rosey.metrics import DbMetrics
from rosey.natsd import NatsServer
from rosey.web.service import WebService
from rosey.web.settings import WebSettings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"]
TITLES = ["Lo-fi beats to moderate to", "Big Buck Bunny", "Never Gonna Give You Up",
          "Sintel (open movie)", "A <b>bold</b> title, shown as typed", "Tears of Steel"]


async def _publish(nc: Client, event: contract.ContractEvent) -> None:
    await nc.jetstream().publish(contract.subject_of(event), contract.encode(event))


async def _sample_day(nc: Client, now: float) -> None:
    """A day of a small channel: counts every 5 minutes, chat, plays, moderation."""
    rng = random.Random(20)
    for i in range(288):
        ts = now - 86400 + i * 300
        wave = 8 + 6 * math.sin((ts % 86400) / 86400 * 2 * math.pi - 1.5)
        chat = max(1, round(wave + rng.uniform(-1.5, 1.5)))
        await _publish(nc, contract.UserCount(chat, chat + rng.randint(2, 9), ts))
    for name in USERS:
        await _publish(nc, contract.UserJoined(name, now - rng.uniform(600, 80000)))
    lines = ["hi all", "this one is great", "who queued this?", "brb",
             "<script>alert(1)</script>", "lol", "next please", "good night"]
    for ts in sorted(now - rng.uniform(0, 86000) for _ in range(120)):
        await _publish(nc, contract.MessageLog(rng.choice(USERS[:6]), rng.choice(lines), ts))
    for i in range(14):
        title = TITLES[i % len(TITLES)]
        await _publish(nc, contract.MediaPlayed(
            media_type="yt", media_id=f"id{i % len(TITLES)}", title=title, duration=213 + i,
            queued_by=USERS[i % 4], position=-3.0, timestamp=now - 3000 * (14 - i)))
    await _publish(nc, contract.HighWater(16, 25, now - 40000))
    await _publish(nc, contract.StatusUpdate.of(contract.BotStatus(
        bot_name="rosey", bot_rank=3.0, channel="mychannel", domain="https://cytu.be",
        chat_count=9, connected_count=14, playlist_size=12,
        current_media=contract.MediaStatus(id="id2", type="yt", title=TITLES[2],
                                           duration="03:33"),
        current_media_duration=213, connected=True, start_time=now - 90000, timestamp=now)))
    actions = [("warn", "bob", "alice", "command", "spamming links", None),
               ("mute", "bob", "alice", "command", "spam after a warning", 7200),
               ("flag", "frank", "rosey", "automod", "caps: 90% capitals", None),
               ("remove", "grace", "rosey", "automod", "blocked domain", None),
               ("kick", "heidi", "dave", "native", "", None),
               ("ban", "mallory", "alice", "command", "raid account", 86400),
               ("note", "ivan", "carol", "command", "asked about the rules nicely", None)]
    for i, (action, target, actor, origin, reason, duration) in enumerate(actions):
        ts = now - 5000 + i * 600
        await _publish(nc, contract.ModerationAction(
            action=action, target=target, actor=actor, origin=origin, reason=reason,
            duration=duration, expires_at=None if duration is None else ts + duration,
            rule="caps" if action == "flag" else "links" if action == "remove" else None,
            timestamp=ts))


async def _stand_in_bot(nc: Client) -> None:
    """Answer the bot's login subjects: every link is alice's, every rank 2."""
    async def redeem(msg: Msg) -> None:
        await msg.respond(contract.encode(RedeemReply(True, "alice", 2.0)))

    async def rank(msg: Msg) -> None:
        name = decode_rank_request(msg.data).username
        await msg.respond(contract.encode(RankReply(name, "ok", 2.0, True)))

    await nc.subscribe(WEB_REDEEM, cb=redeem)
    await nc.subscribe(WEB_RANK, cb=rank)


async def _applied(web: WebService) -> bool:
    """The web process is connected and the DatabaseService has the whole sample day."""
    if not web.ready()[0]:
        return False
    plays = await web.reader.query(contract.MediaRecentQuery(limit=20))
    record = await web.reader.query(contract.ModlogQuery(limit=20))
    return len(plays.plays) == 14 and len(record.actions) == 7


async def _until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise SystemExit(f"web_screenshots: {what}: not within {timeout}s")
        await asyncio.sleep(0.1)


async def _photograph(url: str, out: Path) -> None:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1100, "height": 900})
            page = await context.new_page()
            await page.goto(url + "/?range=24h")
            await page.locator("#graph[data-points]").wait_for(state="attached")
            await page.screenshot(path=str(out / "public.png"), full_page=True)
            await page.goto(url + "/user/alice")
            await page.screenshot(path=str(out / "user.png"), full_page=True)
            await page.goto(url + "/login/" + secrets.token_urlsafe(32))  # -> /mod
            await page.screenshot(path=str(out / "moderators.png"), full_page=True)
        finally:
            await browser.close()


async def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rosey-shots-") as tmp:
        server = await NatsServer(store_dir=Path(tmp) / "js").start()
        try:
            settings = DbSettings(nats_url=server.url, db_path=Path(tmp) / "rosey.db",
                                  metrics_port=0, metrics_host="127.0.0.1")
            async with DatabaseService(settings=settings, metrics=DbMetrics(),
                                       serve_metrics=False) as db:
                await db.wait_ready()
                nc = await nats.connect(server.url)
                await _sample_day(nc, time.time())
                await _stand_in_bot(nc)
                async with WebService(settings=WebSettings(
                        host="127.0.0.1", port=0, nats_url=server.url)) as web:
                    await _until(lambda: _applied(web), "the sample day applied")
                    await _photograph(f"http://127.0.0.1:{web.port}", out)
                await nc.close()
        finally:
            await server.stop()
    print(f"web_screenshots: wrote {', '.join(p.name for p in sorted(out.glob('*.png')))}")


if __name__ == "__main__":
    configure_logging("web-screenshots", level="warning", json=False)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/screenshots", type=Path)
    asyncio.run(main(parser.parse_args().out))
