"""Who may see the moderators' view: a live session whose rank the bot confirmed within the
last ``rank_check`` seconds (at most a minute). Fail closed: no moderator data otherwise.

- no session cookie, an unknown or expired one: 403 (``no_session`` / ``expired``);
- the rank not confirmed within ``rank_check``: the bot is asked now, before any data:
  - the rank is below the moderators' view's (the ``weblogin`` command's rank): the session
    ends, 403 (``rank_lost``);
  - the user is not in the channel: 403 (``absent``), the session kept, so coming back to the
    channel gives the view back without a new link (a rank lost meanwhile ends it then);
  - the bot does not answer, or is not in the channel itself: 503 (``rank_unconfirmed``),
    the session kept, nothing shown until the bot answers again.

:meth:`Guard.watch` also asks the bot about every session at least every ``rank_check``
seconds, so a lost rank ends a session even when nobody is looking at the page.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import NoReturn

import structlog
from aiohttp import web

from rosey.errors import RoseyError
from rosey.metrics import WebMetrics
from rosey.web.reader import Reader, Unavailable
from rosey.web.sessions import Session, Sessions

__all__ = ["Guard", "Refused", "COOKIE"]

log = structlog.get_logger()

#: the session cookie's name
COOKIE = "rosey_session"


class Refused(RoseyError):
    """The moderators' view refused a request: ``status`` (403 or 503), ``reason`` (a code
    from ``rosey.metrics.WEB_REFUSALS``), the message for people."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class Guard:
    """Sessions plus the bot's word on their rank.

    Parameters:
        sessions: the live sessions.
        reader: asks the bot.
        rank_check: the longest a session goes without the bot confirming its rank.
        metrics: ``rosey_web_sessions_refused_total``, ``rosey_web_sessions``.
        clock: Unix time.
    """

    def __init__(self, *, sessions: Sessions, reader: Reader, rank_check: float,
                 metrics: WebMetrics, clock: Callable[[], float] = time.time) -> None:
        self.sessions = sessions
        self._reader = reader
        self._rank_check = rank_check
        self._metrics = metrics
        self._clock = clock
        metrics.sessions.set_function(lambda: float(len(sessions)))

    async def moderator(self, request: web.Request) -> Session:
        """The request's session, its rank confirmed; :class:`Refused` otherwise."""
        try:
            session, why = self.sessions.find(request.cookies.get(COOKIE))
            if session is None:
                raise Refused(403, why, "You are not logged in: PM the bot 'weblogin' for a "
                              "link.")
            if self._clock() - session.confirmed > self._rank_check:
                await self.check(session)
        except Refused as exc:
            self._metrics.sessions_refused.labels(exc.reason).inc()
            raise
        return session

    async def check(self, session: Session) -> None:
        """Ask the bot about ``session``'s rank: confirm it, end it, or refuse for now."""
        try:
            reply = await self._reader.rank(session.username)
        except Unavailable as exc:
            log.warning("web_rank_unconfirmed", username=session.username, why=exc.outcome)
            self._refuse(503, "rank_unconfirmed", "The bot could not confirm your rank just "
                         f"now ({exc.why}); nothing is shown until it does.")
        if reply.state == "not_joined":
            self._refuse(503, "rank_unconfirmed", "The bot is not in the channel right now, "
                         "so it cannot confirm your rank; nothing is shown until it can.")
        if reply.state == "absent":
            self._refuse(403, "absent", "The bot does not see you in the channel: the "
                         "moderators' view needs you there.")
        if not reply.allowed:
            self.sessions.end(session.id)
            log.info("web_session_ended", username=session.username, reason="rank_lost",
                     rank=reply.rank)
            self._refuse(403, "rank_lost", "Your rank no longer allows the moderators' view; "
                         "the session has ended.")
        session.confirmed = self._clock()
        if reply.rank is not None:
            session.rank = reply.rank

    @staticmethod
    def _refuse(status: int, reason: str, message: str) -> NoReturn:
        raise Refused(status, reason, message)

    async def watch(self, stop: asyncio.Event) -> None:
        """Until ``stop``: every half ``rank_check``, ask the bot about each session not
        confirmed for that long (a lost rank ends it), and drop expired sessions."""
        half = self._rank_check / 2
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), half)
                return
            except TimeoutError:
                pass
            self.sessions.purge()
            now = self._clock()
            for session in self.sessions.all():
                if now - session.confirmed >= half:
                    try:
                        await self.check(session)
                    except Refused:
                        pass  # a lost rank ended it; the next request says why
