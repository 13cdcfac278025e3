"""WebService: listen first (a port that cannot be had is a first-run error), then connect to
NATS in the background (``/readyz`` says when), check the sessions' ranks, serve until
stopped.

An async context manager that owns its tasks, like the bot and the DatabaseService.
"""

from __future__ import annotations

import asyncio
import enum
import os
import time
from typing import Any

import nats.errors
import structlog
from aiohttp import web
from nats.aio.client import Client

from rosey import __version__, bus
from rosey.bot.cytube import cancel_and_wait
from rosey.errors import ConnectAborted, LifecycleError, ListenError
from rosey.metrics import WebMetrics
from rosey.web.app import make_app
from rosey.web.guard import Guard
from rosey.web.login import Login, RateLimit
from rosey.web.moderators import ModeratorPages
from rosey.web.public import PublicPages
from rosey.web.reader import Reader
from rosey.web.render import Renderer
from rosey.web.sessions import Sessions
from rosey.web.settings import WebSettings

__all__ = ["WebService", "WebState", "run_web"]

log = structlog.get_logger()


class WebState(enum.Enum):
    UNOPENED = "unopened"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


class WebService:
    """The web process minus signal handling.

    Parameters:
        settings: where to listen, which NATS, the sessions' limits.
        metrics: the web process's metrics (a fresh registry in tests).
    """

    def __init__(self, *, settings: WebSettings, metrics: WebMetrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or WebMetrics()
        self.nc: Client | None = None
        self.port: int | None = None
        self.state = WebState.UNOPENED
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._runner: web.AppRunner | None = None
        s, m = settings, self.metrics
        self.reader = Reader(nc=lambda: self.nc, timeout=s.query_timeout, metrics=m)
        self.sessions = Sessions(lifetime=s.session_seconds)
        self.guard = Guard(sessions=self.sessions, reader=self.reader,
                           rank_check=s.rank_check_seconds, metrics=m)
        renderer = Renderer(globals={"refresh_seconds": s.refresh_seconds,
                                     "version": __version__})
        self.app = make_app(
            public=PublicPages(reader=self.reader, renderer=renderer),
            moderators=ModeratorPages(reader=self.reader, guard=self.guard, renderer=renderer),
            login=Login(reader=self.reader, sessions=self.sessions, renderer=renderer,
                        metrics=m, limit=RateLimit(burst=s.login_burst,
                                                   per_minute=s.login_per_minute)),
            metrics=m, ready=self.ready)

    def ready(self) -> tuple[bool, dict[str, bool]]:
        checks = {"nats": self.nc is not None and self.nc.is_connected}
        return all(checks.values()), checks

    async def __aenter__(self) -> WebService:
        if self.state is not WebState.UNOPENED:
            raise LifecycleError(f"a web service cannot be opened twice ({self.state.value})")
        self.metrics.ready.set_function(lambda: float(self.ready()[0]))
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.host, self.settings.port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            why = os.strerror(exc.errno) if exc.errno else str(exc)
            raise ListenError(f"cannot serve the web page on {self.settings.host}:"
                              f"{self.settings.port}: {why} "
                              "(choose another ROSEY_WEB_PORT)") from None
        self.port = int(self._runner.addresses[0][1])
        self.state = WebState.OPEN
        self._spawn(self._connect_nats(), "web-nats")
        self._spawn(self.guard.watch(self._stop), "web-rank-checks")
        log.info("web_serving", host=self.settings.host, port=self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop serving, close NATS. Safe to call twice."""
        if self.state in (WebState.CLOSING, WebState.CLOSED):
            return
        if self.state is WebState.UNOPENED:
            self.state = WebState.CLOSED
            return
        self.state = WebState.CLOSING
        self._stop.set()
        await cancel_and_wait(self._tasks, "web")
        if self._runner is not None:
            await self._runner.cleanup()
        if self.nc is not None:
            try:
                await asyncio.wait_for(self.nc.close(), 5.0)
            except (TimeoutError, nats.errors.Error):
                log.warning("nats_close_failed")
        self.state = WebState.CLOSED
        log.info("web_stopped")

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("web_task_failed", task=task.get_name(), error=repr(task.exception()))

    async def _connect_nats(self) -> None:
        started = time.monotonic()
        try:
            self.nc = await bus.connect(self.settings.nats_url, name="rosey-web",
                                        connected=self.metrics.nats_connected, stop=self._stop,
                                        auth=self.settings.nats_auth,
                                        permission_errors=self.metrics.nats_permission_errors)
        except ConnectAborted:
            return
        log.info("web_ready", seconds=round(time.monotonic() - started, 3))


async def run_web(settings: WebSettings, stop: asyncio.Event, *,
                  metrics: WebMetrics | None = None) -> None:
    """Serve until ``stop`` is set (the CLI's signal handlers set it)."""
    async with WebService(settings=settings, metrics=metrics):
        await stop.wait()
