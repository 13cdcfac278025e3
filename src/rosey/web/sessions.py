"""Moderators' sessions: server-side, in memory, found by a random id in an HttpOnly cookie.

A session is made when the bot redeems a login link (:mod:`rosey.web.login`) and lives at most
``lifetime`` seconds (12 h); :mod:`rosey.web.guard` ends it sooner when the bot says the rank
is gone. A restart of the web process ends every session (log in again by PM). At most
:data:`MAX_SESSIONS` are kept; past that the oldest goes first.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Session", "Sessions", "MAX_SESSIONS"]

MAX_SESSIONS = 1000


@dataclass(slots=True)
class Session:
    """One moderator's session. ``confirmed``: when the bot last confirmed the rank."""

    id: str = field(repr=False)  # the cookie's value: never in a log line
    username: str
    rank: float
    started: float
    expires: float
    confirmed: float


class Sessions:
    """The live sessions.

    Parameters:
        lifetime: seconds a session lives at most.
        clock: Unix time.
    """

    def __init__(self, *, lifetime: float, clock: Callable[[], float] = time.time) -> None:
        self.lifetime = lifetime
        self._clock = clock
        self._by_id: dict[str, Session] = {}

    def start(self, username: str, rank: float) -> Session:
        """A new session for ``username``, confirmed now."""
        now = self._clock()
        self.purge()
        while len(self._by_id) >= MAX_SESSIONS:
            del self._by_id[next(iter(self._by_id))]
        session = Session(secrets.token_urlsafe(32), username, rank, now, now + self.lifetime, now)
        self._by_id[session.id] = session
        return session

    def find(self, sid: str | None) -> tuple[Session | None, str]:
        """The live session with id ``sid`` and "ok", or None and why not (``no_session``,
        ``expired``; an expired one is ended)."""
        session = self._by_id.get(sid) if sid else None
        if session is None:
            return None, "no_session"
        if session.expires <= self._clock():
            self.end(session.id)
            return None, "expired"
        return session, "ok"

    def end(self, sid: str) -> None:
        self._by_id.pop(sid, None)

    def purge(self) -> None:
        """End every expired session."""
        now = self._clock()
        for sid in [s.id for s in self._by_id.values() if s.expires <= now]:
            del self._by_id[sid]

    def all(self) -> list[Session]:
        return list(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)
