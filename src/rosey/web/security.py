"""What every answer carries, and what every request counts.

:func:`headers_middleware` sets the Content-Security-Policy (scripts, styles, images and
requests from this origin only: no inline script or style, no frames, forms only to this
origin), ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer`` (a login link's
token never leaves in a Referer), ``X-Frame-Options: DENY``, and ``Cache-Control: no-store``
on the moderators' pages and the login. :func:`metrics_middleware` counts each request by its
route's name (a closed set, ``rosey.metrics.WEB_PAGES``) and status, and times it; it logs one
DEBUG line per request with the route's name, never the path (a login path holds a token). A
handler that raises is answered 500 here (logged as ``web_request_failed``, without the
traceback for the login), so aiohttp never logs the request itself.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Final

import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware

from rosey.metrics import WEB_PAGES, WebMetrics

__all__ = ["CSP", "headers_middleware", "metrics_middleware", "page_of"]

log = structlog.get_logger()

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CSP: Final = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
              "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "
              "frame-ancestors 'none'")
_HEADERS: Final = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
#: pages never kept by a browser or a proxy
_PRIVATE: Final = frozenset({"mod", "mod_user", "api_mod", "api_mod_user", "login", "logout"})


def page_of(request: web.Request) -> str:
    """The request's route name as a metric label ("other" for no route or another name)."""
    route = request.match_info.route
    name = route.name if route is not None else None
    return name if name in WEB_PAGES else "other"


def _decorate(response: web.StreamResponse, page: str) -> None:
    response.headers.update(_HEADERS)
    if page in _PRIVATE:
        response.headers["Cache-Control"] = "no-store"


@web.middleware
async def headers_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    page = page_of(request)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _decorate(exc, page)
        raise
    _decorate(response, page)
    return response


def metrics_middleware(metrics: WebMetrics) -> Middleware:
    """Count and time every request by page and status."""

    @web.middleware
    async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
        page = page_of(request)
        started = time.monotonic()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        except Exception as exc:  # the request boundary: a bug answers 500, counted and logged
            # a traceback's locals could show a login path's token: none for the login
            log.error("web_request_failed", page=page, error=type(exc).__name__,
                      exc_info=page not in ("login", "logout"))
            return web.Response(status=500, text="internal error\n")
        finally:
            seconds = time.monotonic() - started
            metrics.requests.labels(page, str(status)).inc()
            metrics.request_seconds.labels(page).observe(seconds)
            log.debug("web_request", page=page, method=request.method, status=status,
                      duration_ms=round(seconds * 1000, 2))

    return count
