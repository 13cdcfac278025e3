"""The aiohttp application: every route, named (the names are the metrics' ``page`` label),
the static files, and ``/metrics``, ``/healthz``, ``/readyz`` on the same port.

Only ``GET`` (and ``HEAD``) routes, except ``POST /logout``, which ends a session: nothing
any endpoint does writes to the channel's record or the bus.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from rosey.metrics import ReadyCheck, WebMetrics
from rosey.web.login import Login
from rosey.web.moderators import ModeratorPages
from rosey.web.public import PublicPages
from rosey.web.security import headers_middleware, metrics_middleware

__all__ = ["make_app", "STATIC_DIR", "health_routes"]

STATIC_DIR = Path(__file__).resolve().parent / "static"


def health_routes(*, metrics: WebMetrics, ready: ReadyCheck) -> list[web.RouteDef]:
    """``/metrics``, ``/healthz`` and ``/readyz``, as the other processes serve them."""

    async def prometheus(request: web.Request) -> web.Response:
        body = generate_latest(metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(request: web.Request) -> web.Response:
        ok, checks = ready()
        body = "".join(f"{name}: {'ok' if good else 'fail'}\n"
                       for name, good in sorted(checks.items()))
        return web.Response(text=body or "ok\n", status=200 if ok else 503)

    return [web.get("/metrics", prometheus, name="metrics"),
            web.get("/healthz", healthz, name="healthz"),
            web.get("/readyz", readyz, name="readyz")]


def make_app(*, public: PublicPages, moderators: ModeratorPages, login: Login,
             metrics: WebMetrics, ready: Callable[[], tuple[bool, dict[str, bool]]]
             ) -> web.Application:
    """The application with every route."""
    app = web.Application(middlewares=[headers_middleware, metrics_middleware(metrics)],
                          client_max_size=64 * 1024)
    app.add_routes([
        web.get("/", public.page, name="public"),
        web.get("/user/{name}", public.user_page, name="user"),
        web.get("/api/public", public.api, name="api_public"),
        web.get("/api/history", public.history, name="api_history"),
        web.get("/api/user/{name}", public.user_api, name="api_user"),
        web.get("/mod", moderators.page, name="mod"),
        web.get("/mod/user/{name}", moderators.user_page, name="mod_user"),
        web.get("/api/mod", moderators.api, name="api_mod"),
        web.get("/api/mod/user/{name}", moderators.user_api, name="api_mod_user"),
        # no HEAD: a link checker's HEAD must not spend a login link
        web.get("/login/{token}", login.login, name="login", allow_head=False),
        web.post("/logout", login.logout, name="logout"),
        *health_routes(metrics=metrics, ready=ready),
        web.static("/static", STATIC_DIR, name="static", append_version=False),
    ])
    return app
