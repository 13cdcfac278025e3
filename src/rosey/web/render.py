"""The templates: one Jinja2 environment with autoescape on for every template, so every string
that came from a user (names, chat lines, reasons, titles) is rendered as text. Nothing is
marked safe anywhere; the filters return plain strings, which are escaped like the rest.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jinja2
from aiohttp import web

__all__ = ["Renderer", "when", "span"]


def when(ts: float | None) -> str:
    """Unix seconds as ``2026-12-07 21:30 UTC`` ("never" for None)."""
    if ts is None:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))


def iso(ts: float | None) -> str:
    """Unix seconds as ISO 8601 (a ``<time datetime>``)."""
    return "" if ts is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def span(seconds: float | None) -> str:
    """Seconds as ``3d 4h``, ``2h 5m``, ``4m 10s``, ``12s`` (``-`` for None)."""
    if seconds is None:
        return "-"
    s = max(0, int(seconds))
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (s, "s")]
    shown = [f"{n}{unit}" for n, unit in parts if n][:2]
    return " ".join(shown) or "0s"


class Renderer:
    """Renders the package's templates into responses.

    Parameters:
        globals: values every template sees (the refresh interval, the version).
        clock: Unix time (``now`` in the templates).
    """

    def __init__(self, *, globals: dict[str, Any], clock: Callable[[], float] = time.time) -> None:
        self._env = jinja2.Environment(
            loader=jinja2.PackageLoader("rosey.web", "templates"),
            autoescape=True,  # every template, whatever its name
            undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        self._env.filters.update(when=when, iso=iso, span=span)
        self._env.globals.update(globals)
        self._clock = clock

    def render(self, name: str, *, status: int = 200, **context: Any) -> web.Response:
        html = self._env.get_template(name).render(now=self._clock(), **context)
        return web.Response(text=html, status=status, content_type="text/html",
                            charset="utf-8")
