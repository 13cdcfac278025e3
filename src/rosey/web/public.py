"""The public page, the user page and the JSON beside them (anyone may read them).

Each part of the page is one query to the DatabaseService, asked together; a part whose query
fails is shown as unavailable (and listed under ``unavailable`` in the JSON) while the rest is
shown. The graph is drawn in the browser from ``/api/history?range=1h`` (the five ranges of
:data:`rosey.web.shape.RANGES`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from rosey import contract
from rosey.contract import (
    ChatHoursQuery,
    MediaRecentQuery,
    MediaTopQuery,
    StatusQuery,
    UserCountsQuery,
)
from rosey.contract.subjects import MAX_USERNAME
from rosey.web import shape
from rosey.web.reader import Reader, Unavailable
from rosey.web.render import Renderer

__all__ = ["PublicPages", "gather_parts"]

#: the graph's points per range (the query's default)
GRAPH_POINTS = 360
#: recent chat lines, recently played and most played on the page
CHAT_LINES = 20
MEDIA_ROWS = 10


async def gather_parts(parts: Mapping[str, Awaitable[Any]]
                       ) -> tuple[dict[str, Any], dict[str, str]]:
    """Await every part together: ``({name: value or None}, {name: why unavailable})``."""
    names = list(parts)
    results = await asyncio.gather(*parts.values(), return_exceptions=True)
    values: dict[str, Any] = {}
    missing: dict[str, str] = {}
    for name, result in zip(names, results, strict=True):
        if isinstance(result, Unavailable):
            values[name] = None
            missing[name] = result.why
        elif isinstance(result, BaseException):
            raise result
        else:
            values[name] = result
    return values, missing


def _name(request: web.Request) -> str:
    name = request.match_info["name"].strip()
    if not name or len(name) > MAX_USERNAME:
        raise web.HTTPNotFound(text="no such user")
    return name


class PublicPages:
    """The public handlers.

    Parameters:
        reader: asks the DatabaseService.
        renderer: the templates.
        clock: Unix time.
    """

    def __init__(self, *, reader: Reader, renderer: Renderer,
                 clock: Callable[[], float] = time.time) -> None:
        self._reader = reader
        self._renderer = renderer
        self._clock = clock

    async def _channel(self) -> dict[str, Any]:
        ask = self._reader.query

        async def part(query: contract.QueryOf[Any], how: Callable[[Any], Any]) -> Any:
            return how(await ask(query))

        values, missing = await gather_parts({
            "now": part(StatusQuery(), shape.status),
            "stats": part(contract.ChannelStatsQuery(), shape.stats),
            "chat_hours": part(ChatHoursQuery(), shape.chat_hours),
            "recent_media": part(MediaRecentQuery(MEDIA_ROWS), shape.recent_media),
            "top_media": part(MediaTopQuery(limit=MEDIA_ROWS), shape.top_media),
            "chat": part(contract.RecentChatQuery(CHAT_LINES), shape.chat),
        })
        return {**values, "unavailable": missing}

    async def page(self, request: web.Request) -> web.Response:
        name = request.query.get("range", "1h")
        if name not in shape.RANGES:
            name = "1h"
        return self._renderer.render("public.html", data=await self._channel(),
                                     ranges=list(shape.RANGES), range=name)

    async def api(self, request: web.Request) -> web.Response:
        return web.json_response(await self._channel())

    async def history(self, request: web.Request) -> web.Response:
        """``/api/history?range=1h``: the graph's points (400 for another range)."""
        name = request.query.get("range", "1h")
        seconds = shape.RANGES.get(name)
        if seconds is None:
            return web.json_response(
                {"error": f"range must be one of {', '.join(shape.RANGES)}"}, status=400)
        try:
            reply = await self._reader.query(UserCountsQuery(seconds=seconds,
                                                             points=GRAPH_POINTS))
        except Unavailable as exc:
            return web.json_response({"error": exc.why}, status=503)
        return web.json_response(shape.graph(name, reply))

    async def _user(self, request: web.Request) -> tuple[dict[str, Any], str | None]:
        try:
            reply = await self._reader.query(contract.UserStatsQuery(_name(request)))
        except Unavailable as exc:
            return {"found": False, "username": _name(request)}, exc.why
        return shape.user(reply, self._clock()), None

    async def user_page(self, request: web.Request) -> web.Response:
        user, missing = await self._user(request)
        status = 503 if missing else 200 if user["found"] else 404
        return self._renderer.render("user.html", status=status, user=user, unavailable=missing)

    async def user_api(self, request: web.Request) -> web.Response:
        user, missing = await self._user(request)
        if missing:
            return web.json_response({"error": missing}, status=503)
        return web.json_response(user, status=200 if user["found"] else 404)
