"""The moderators' view and its JSON: the moderation record with filters and paging, active
punishments with the time left, automatic moderation's hits, and one user's full history.

Every handler first asks :meth:`rosey.web.guard.Guard.moderator`; when it refuses, the answer
is its status (403 or 503) and a message, and no query is asked at all.

The record is the whole of it: the page's filters (target, actor, action, origin, rule, a
range of UTC days) go to ``rosey.db.query.moderation_page``, which the DatabaseService answers
from its indexes, and the page goes back in time by its ``before_id`` (the "older" link's
``before``). Automatic moderation's hits are the same query with ``origin`` automod.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from rosey import contract
from rosey.contract.subjects import MAX_RULE, MAX_USERNAME
from rosey.web import shape
from rosey.web.guard import Guard, Refused
from rosey.web.public import gather_parts
from rosey.web.reader import Reader, Unavailable
from rosey.web.render import Renderer
from rosey.web.sessions import Session

__all__ = ["ModeratorPages", "Filters", "PAGE_SIZE"]

#: actions per page of the record
PAGE_SIZE = 50
#: automatic moderation's newest hits shown
AUTOMOD_ROWS = 20


def _day(text: str, name: str, *, end: bool) -> int | None:
    """``2026-12-07`` -> Unix seconds at the start (or the last second) of that UTC day."""
    if not text:
        return None
    try:
        start = calendar.timegm(time.strptime(text, "%Y-%m-%d"))
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name} must be a date like 2026-12-07") from None
    second = start + 86399 if end else start
    if not 0 <= second < 1e11:
        raise web.HTTPBadRequest(text=f"{name} is out of range")
    return second


def _one_of(value: str, name: str, allowed: tuple[str, ...]) -> str:
    if value and value not in allowed:
        raise web.HTTPBadRequest(text=f"{name} must be one of {', '.join(allowed)}")
    return value


@dataclass(frozen=True, slots=True)
class Filters:
    """The record's filters, from the query string (empty: not filtered); ``before``: show
    the actions older than this id (0: the newest)."""

    user: str = ""
    actor: str = ""
    action: str = ""
    origin: str = ""
    rule: str = ""
    since: str = ""
    until: str = ""
    before: int = 0

    @classmethod
    def parse(cls, q: Any) -> Filters:
        def text(key: str, limit: int = MAX_USERNAME) -> str:
            return str(q.get(key, "")).strip()[:limit]

        before = text("before") or "0"
        if not before.isdigit() or len(before) > 15:
            raise web.HTTPBadRequest(text="before must be an action's number")
        filters = cls(text("user"), text("actor"),
                      _one_of(text("action"), "action", contract.MODERATION_KINDS),
                      _one_of(text("origin"), "origin", contract.MODERATION_ORIGINS),
                      text("rule", MAX_RULE), text("from"), text("to"), int(before))
        filters.query()  # the dates are checked now: a bad one is a 400, not a failed query
        return filters

    def query(self, limit: int = PAGE_SIZE) -> contract.ModerationPageQuery:
        """The record's query for this page."""
        since = _day(self.since, "from", end=False)
        until = _day(self.until, "to", end=True)
        if since is not None and until is not None and since > until:
            raise web.HTTPBadRequest(text="from must not be after to")
        return contract.ModerationPageQuery(
            self.user or None, self.actor or None, self.action or None, self.origin or None,
            self.rule or None, since, until, self.before or None, limit)

    def as_json(self) -> dict[str, Any]:
        return {"user": self.user, "actor": self.actor, "action": self.action,
                "origin": self.origin, "rule": self.rule, "from": self.since,
                "to": self.until, "before": self.before or None}


class ModeratorPages:
    """The moderators' handlers.

    Parameters:
        reader: asks the DatabaseService.
        guard: the session and rank check.
        renderer: the templates.
        clock: Unix time.
    """

    def __init__(self, *, reader: Reader, guard: Guard, renderer: Renderer,
                 clock: Callable[[], float] = time.time) -> None:
        self._reader = reader
        self._guard = guard
        self._renderer = renderer
        self._clock = clock

    async def _record(self, filters: Filters) -> dict[str, Any]:
        ask, now = self._reader.query, self._clock()

        async def punishments() -> list[dict[str, Any]]:
            reply = await ask(contract.PunishmentsQuery())
            return [shape.punishment(p, now) for p in reply.punishments]

        values, missing = await gather_parts({
            "record": ask(filters.query()), "punishments": punishments(),
            "automod": ask(contract.ModerationPageQuery(origin="automod", limit=AUTOMOD_ROWS))})
        record, automod = values["record"], values["automod"]
        return {"filters": filters.as_json(),
                "actions": None if record is None else [shape.record(r) for r in record.actions],
                "next_before": None if record is None else record.next_before_id,
                "punishments": values["punishments"],
                "automod": None if automod is None else [shape.record(r)
                                                         for r in automod.actions],
                "unavailable": missing}

    async def _history(self, request: web.Request) -> tuple[dict[str, Any] | None, str | None]:
        name = request.match_info["name"].strip()
        if not name or len(name) > MAX_USERNAME:
            raise web.HTTPNotFound(text="no such user")
        try:
            reply = await self._reader.query(contract.HistoryQuery(name, 200))
        except Unavailable as exc:
            return None, exc.why
        return shape.history(reply, self._clock()), None

    def _refused(self, exc: Refused, *, json: bool) -> web.Response:
        if json:
            return web.json_response({"error": str(exc), "reason": exc.reason},
                                     status=exc.status)
        return self._renderer.render("refused.html", status=exc.status, message=str(exc))

    async def _session(self, request: web.Request) -> Session:
        return await self._guard.moderator(request)

    async def page(self, request: web.Request) -> web.Response:
        try:
            session = await self._session(request)
        except Refused as exc:
            return self._refused(exc, json=False)
        filters = Filters.parse(request.query)
        return self._renderer.render(
            "mod.html", me=session.username, data=await self._record(filters),
            kinds=contract.MODERATION_KINDS, origins=contract.MODERATION_ORIGINS)

    async def api(self, request: web.Request) -> web.Response:
        try:
            session = await self._session(request)
        except Refused as exc:
            return self._refused(exc, json=True)
        data = await self._record(Filters.parse(request.query))
        return web.json_response({"moderator": session.username, **data})

    async def user_page(self, request: web.Request) -> web.Response:
        try:
            session = await self._session(request)
        except Refused as exc:
            return self._refused(exc, json=False)
        history, missing = await self._history(request)
        return self._renderer.render("mod_user.html", status=503 if missing else 200,
                                     me=session.username, history=history, unavailable=missing)

    async def user_api(self, request: web.Request) -> web.Response:
        try:
            await self._session(request)
        except Refused as exc:
            return self._refused(exc, json=True)
        history, missing = await self._history(request)
        if history is None:
            return web.json_response({"error": missing}, status=503)
        return web.json_response(history)
