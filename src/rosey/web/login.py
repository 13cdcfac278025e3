"""``GET /login/<token>`` and ``POST /logout`` (docs/web.md).

Opening a login link asks the bot to spend its token (sending only the token's SHA-256); the
bot answers once with the moderator's name and rank, and a session begins: a random id in a
cookie that is HttpOnly, SameSite=Strict, Secure when the request came over TLS (or through a
proxy saying ``X-Forwarded-Proto: https``), for at most 12 h. A second opening of the same
link is refused by the bot. The endpoint is rate-limited per client address (a token bucket:
``login_burst``, then ``login_per_minute``); a request over the limit is answered 429 without
asking the bot. The token is never logged: ``token_hash`` (8 hex digits of its SHA-256) at
most.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict

import structlog
from aiohttp import web

from rosey.bot.limits import TokenBucket
from rosey.contract.web import token_digest
from rosey.metrics import WebMetrics
from rosey.web.guard import COOKIE
from rosey.web.reader import Reader, Unavailable
from rosey.web.render import Renderer
from rosey.web.sessions import Sessions

__all__ = ["Login", "RateLimit", "secure_request"]

log = structlog.get_logger()

#: what ``secrets.token_urlsafe(32)`` makes (43 characters), with some room
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,100}")


def secure_request(request: web.Request) -> bool:
    """Whether the browser reached us over TLS (directly or through a TLS proxy)."""
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return request.secure or forwarded == "https"


class RateLimit:
    """A token bucket per client address; at most ``max_addresses`` remembered (the least
    recently seen go first)."""

    def __init__(self, *, burst: int, per_minute: float, max_addresses: int = 10_000) -> None:
        self._burst = burst
        self._rate = per_minute / 60.0
        self._max = max_addresses
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def allow(self, address: str) -> bool:
        bucket = self._buckets.pop(address, None)
        if bucket is None:
            bucket = TokenBucket(capacity=self._burst, rate=self._rate)
        self._buckets[address] = bucket
        while len(self._buckets) > self._max:
            self._buckets.popitem(last=False)
        return bucket.try_take()


class Login:
    """The login and logout handlers.

    Parameters:
        reader: asks the bot to redeem.
        sessions: where a session begins and ends.
        limit: the per-address rate limit.
        renderer: the answer pages.
        metrics: ``rosey_web_logins_total``.
    """

    def __init__(self, *, reader: Reader, sessions: Sessions, limit: RateLimit,
                 renderer: Renderer, metrics: WebMetrics) -> None:
        self._reader = reader
        self._sessions = sessions
        self._limit = limit
        self._renderer = renderer
        self._metrics = metrics

    def _refuse(self, status: int, result: str, message: str, digest: str) -> web.Response:
        self._metrics.logins.labels(result).inc()
        log.info("web_login", result=result, token_hash=digest[:8])
        return self._renderer.render("refused.html", status=status, message=message)

    async def login(self, request: web.Request) -> web.Response:
        digest = token_digest(request.match_info["token"])
        if not self._limit.allow(request.remote or "unknown"):
            return self._refuse(429, "rate_limited", "Too many login attempts from your "
                                "address: wait a minute and try again.", digest)
        if _TOKEN.fullmatch(request.match_info["token"]) is None:
            return self._refuse(403, "refused", "This is not a login link.", digest)
        try:
            reply = await self._reader.redeem(digest)
        except Unavailable as exc:
            return self._refuse(503, "unavailable", f"The bot could not check the link just "
                                f"now ({exc.why}); try again in a moment.", digest)
        if not reply.ok:
            return self._refuse(403, "refused", f"The bot refused the link: {reply.error}. "
                                "PM it 'weblogin' for a new one.", digest)
        session = self._sessions.start(reply.username, reply.rank)
        self._metrics.logins.labels("ok").inc()
        log.info("web_login", result="ok", username=reply.username, token_hash=digest[:8])
        response = web.HTTPSeeOther("/mod")
        response.set_cookie(
            COOKIE, session.id, max_age=int(session.expires - time.time()), path="/",
            httponly=True, samesite="Strict", secure=secure_request(request))
        raise response

    async def logout(self, request: web.Request) -> web.Response:
        session, _ = self._sessions.find(request.cookies.get(COOKIE))
        if session is not None:
            self._sessions.end(session.id)
            log.info("web_logout", username=session.username)
        response = web.HTTPSeeOther("/")
        response.del_cookie(COOKIE, path="/")
        raise response
