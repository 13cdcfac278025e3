"""The web page's stack, once per worker: a real nats-server with Rosey's users and
permissions (the web process connects as ``web``, the bot as ``bot``, the DatabaseService as
``dbservice``), a real DatabaseService on a temp SQLite file, the bot in the test CyTube
server's channel, ``python -m rosey.web`` as a real process, and Debian's Chromium driven by
Playwright (never ``playwright install``).

Everything is package-scoped on the package's event loop (``loop_scope="package"``): the
tests of this package that run one after the other on an xdist worker share one stack and one
browser, and the stack is stopped as soon as the worker moves on to another package (a
session-wide one would sit on a stopped event loop meanwhile, its sockets unanswered). Each
test opens its own browser context (its own cookies).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import pytest
import pytest_asyncio
from nats.aio.client import Client
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

import rosey.process
from rosey.bot.service import BotService
from rosey.config import DbSettings
from rosey.dbservice.service import DatabaseService
from rosey.metrics import DbMetrics
from tests.bot.conftest import BOT, BOT_PW, ask, running_bot
from tests.support.cytube import CyTubeTestServer
from tests.support.natsd import NatsServer
from tests.support.wait import eventually

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
#: moderators (rank 2) and users (rank 1) in the channel
MODS = ("alice", "dave", "erin")
USERS = ("bob", "carol")
#: how often the web process asks the bot about a session's rank here (60 s by default)
RANK_CHECK_SECONDS = 1.0
#: logins per address before the rate limit (5 by default; the tests log in more often)
LOGIN_BURST = 20


@dataclass
class Stack:
    nats: NatsServer
    nc: Client  # as the bot: publishes the tests' own events
    db_path: Path
    cytube: CyTubeTestServer
    bot: BotService
    web: subprocess.Popen[bytes]
    web_url: str
    web_log: Path
    browser: Browser

    async def context(self, **kw: Any) -> BrowserContext:
        return await self.browser.new_context(**kw)

    async def login_link(self, moderator: str) -> str:
        """PM the bot ``weblogin`` as ``moderator``; the link it answers with."""
        reply = " ".join(await ask(self.cytube, self.bot, "weblogin", sender=moderator))
        found = re.search(r"(http://\S+/login/\S+)", reply)
        assert found, f"no link in the bot's reply {reply!r}"
        return found.group(1)

    async def login(self, page: Page, moderator: str) -> None:
        """Log ``page``'s context in as ``moderator`` (it lands on the moderators' view)."""
        response = await page.goto(await self.login_link(moderator))
        assert response is not None and response.status == 200, await page.content()
        assert page.url == self.web_url + "/mod"

    def web_log_text(self) -> str:
        return self.web_log.read_text(encoding="utf-8", errors="replace")


async def _web_port(proc: subprocess.Popen[bytes], log: Path) -> int:
    """The port the web process logged in ``web_serving`` (it listens on port 0)."""
    def port() -> int | None:
        assert proc.poll() is None, f"rosey-web exited: {log.read_text()}"
        for line in log.read_text(encoding="utf-8").splitlines():
            if '"web_serving"' in line:
                return int(json.loads(line)["port"])
        return None
    return int(await eventually(port, timeout=20, what="rosey-web listening"))


def _start_web(nats_server: NatsServer, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, **nats_server.process_env("web"),
           "ROSEY_NATS_URL": nats_server.url, "ROSEY_WEB_HOST": "127.0.0.1",
           "ROSEY_WEB_PORT": "0", "ROSEY_LOG_FORMAT": "json", "ROSEY_LOG_LEVEL": "debug",
           "ROSEY_WEB_RANK_CHECK_SECONDS": str(RANK_CHECK_SECONDS),
           "ROSEY_WEB_LOGIN_BURST": str(LOGIN_BURST)}
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "rosey.web"], env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


@pytest_asyncio.fixture(scope="package", loop_scope="package")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/setup (apt-get install chromium)")
    tmp = tmp_path_factory.mktemp("web")
    nats_server = NatsServer(store_dir=tmp / "nats", auth_dir=tmp / "auth").start()
    cytube = CyTubeTestServer(accounts={BOT: (BOT_PW, 3)}, rate_limit=False)
    web_log = tmp / "web.log"
    web = _start_web(nats_server, web_log)
    try:
        await cytube.start()
        for name in MODS:
            await cytube.add_user(name, 2)
        for name in USERS:
            await cytube.add_user(name, 1)
        port = await _web_port(web, web_log)
        web_url = f"http://127.0.0.1:{port}"
        db_settings = DbSettings(nats_url=nats_server.url, db_path=tmp / "rosey.db",
                                 metrics_port=0, metrics_host="127.0.0.1",
                                 nats_auth=nats_server.auth("dbservice"))
        nc = await nats.connect(nats_server.url, **nats_server.client_options("bot"))
        async with DatabaseService(settings=db_settings, metrics=DbMetrics(),
                                   serve_metrics=False) as db, \
                running_bot(cytube, nats_server.url, web_url=web_url,
                            nats_auth=nats_server.auth("bot")) as bot, \
                async_playwright() as pw:
            await db.wait_ready()
            await cytube.wait_for(lambda: all(bot.channel.user(n) for n in (*MODS, *USERS)),
                                  timeout=10, what="the bot sees everyone")
            await eventually(lambda: bot.nats_connected(), what="the bot on NATS")
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                yield Stack(nats_server, nc, db_settings.db_path, cytube, bot, web, web_url,
                            web_log, browser)
            finally:
                await browser.close()
                await nc.close()
    finally:
        await rosey.process.stop_process(web, timeout=10)
        await cytube.stop()
        await asyncio.to_thread(nats_server.stop)
        nats_server.cleanup()
