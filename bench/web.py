"""The web page on a year of data (issue 20 item 7): each page's server time, on an empty
database and on the year file, beside each other.

A real ``rosey-db`` serves the file over a real nats-server; the web process
(:class:`rosey.web.service.WebService`) runs in this process with one moderator's session
made directly in its session store; the bench itself answers the bot's rank question for that
moderator (``rosey.bot.web.rank``), as the bot would. Each page is asked ``requests`` times,
one at a time, over HTTP on loopback: the time is the server's (the client's share on loopback
is a fraction of a millisecond). The graph's own query (``rosey.db.query.user_counts``, the
30-day range the page offers) is timed alone over NATS beside it.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from nats.aio.client import Client
from nats.aio.msg import Msg

from bench.common import ROOT, connect, nats_server, percentile, start_module, stop_worker, wait_http_ok
from bench.scale import _floor, _prepare_stream
from rosey import contract
from rosey.config import StreamSettings
from rosey.contract.codec import encode
from rosey.contract.web import WEB_RANK, RankReply
from rosey.stream import ensure_stream
from rosey.web.guard import COOKIE
from rosey.web.service import WebService
from rosey.web.settings import WebSettings
from tests.support.procs import free_port

__all__ = ["PAGES", "WebFigures", "run_web_bench"]

MODERATOR = "benchmod"
#: the pages timed: name -> path (the user pages ask for the year's busiest chatter)
PAGES: dict[str, str] = {
    "public page /": "/",
    "graph JSON 24h": "/api/history?range=24h",
    "graph JSON 30d": "/api/history?range=30d",
    "user page": "/user/{user}",
    "moderators' view /mod": "/mod",
    "moderators' view, automod filter": "/mod?origin=automod",
    "moderators' user page": "/mod/user/{user}",
}


@dataclass
class WebFigures:
    name: str
    pages: dict[str, list[float]] = field(default_factory=dict)
    graph_query: list[float] = field(default_factory=list)


async def _answer_rank(nc: Client) -> None:
    async def on(msg: Msg) -> None:
        await msg.respond(encode(RankReply(MODERATOR, "ok", 3.0, True)))
    await nc.subscribe(WEB_RANK, cb=on)


def _busiest(path: Path) -> str:
    import sqlite3

    if not path.exists():
        return "nobody"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        row = conn.execute("SELECT username FROM user_stats ORDER BY total_chat_lines DESC"
                           " LIMIT 1").fetchone()
    return str(row[0]) if row else "nobody"


async def _measure(url: str, figures: WebFigures, db_path: Path, *, requests: int,
                   workdir: Path) -> None:
    port = free_port()
    cli = [str(Path(sys.executable).with_name("rosey-db")), "--nats-url", url,
           "--db-path", str(db_path), "--metrics-port", str(port)]
    db = start_module(cli, log_path=workdir / f"web-db-{figures.name}.log",
                      env={"ROSEY_LOG_LEVEL": "warning", "ROSEY_LOG_FORMAT": "json",
                           "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'src'}"})
    try:
        await wait_http_ok(port, "/readyz", timeout=300, proc=db)
        settings = WebSettings(host="127.0.0.1", port=0, nats_url=url, query_timeout=30.0)
        async with WebService(settings=settings) as web:
            while not web.ready()[0]:
                await asyncio.sleep(0.05)
            session = web.sessions.start(MODERATOR, 3.0)
            user = _busiest(db_path)
            base = f"http://127.0.0.1:{web.port}"
            async with aiohttp.ClientSession(cookies={COOKIE: session.id}) as http:
                for name, path in PAGES.items():
                    times: list[float] = []
                    for i in range(requests + 3):
                        started = time.perf_counter()
                        async with http.get(base + path.format(user=user)) as r:
                            await r.read()
                            # an empty database has no user: its user pages are a 404
                            if r.status != 200 and not (r.status == 404 and user == "nobody"):
                                raise RuntimeError(f"{path}: HTTP {r.status}")
                        if i >= 3:  # the first three warm the caches
                            times.append(time.perf_counter() - started)
                    figures.pages[name] = sorted(times)
            assert web.nc is not None
            now = int(time.time())
            body = json.dumps({"since": now - 30 * 86_400, "until": now, "points": 360}).encode()
            for _ in range(requests):
                started = time.perf_counter()
                await web.nc.request(contract.QUERY_USER_COUNTS, body, timeout=30)
                figures.graph_query.append(time.perf_counter() - started)
            figures.graph_query.sort()
    finally:
        await stop_worker(db)


async def run_web_bench(year_file: Path, *, requests: int, workdir: Path,
                        say: Callable[[str], None] = print) -> tuple[WebFigures, WebFigures]:
    empty, year = WebFigures("empty"), WebFigures(year_file.name)
    async with nats_server(workdir, "web") as server:
        nc = await connect(server.url, "bench-web-bot")
        await _answer_rank(nc)
        js = nc.jetstream(timeout=10.0)
        for figures, path in ((empty, workdir / "web-empty.db"), (year, year_file)):
            say(f"  {figures.name}: {len(PAGES)} pages x {requests} requests")
            # a stream that reaches the file's floor, so the service keeps its bookkeeping
            await ensure_stream(js, StreamSettings(), update=True)
            await _prepare_stream(js, _floor(path))
            await _measure(server.url, figures, path, requests=requests, workdir=workdir)
        await nc.close()
    return empty, year


def p99(times: list[float]) -> float:
    return percentile(times, 99)
