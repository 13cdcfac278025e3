"""The web process's settings, read once at the edge (``rosey.web.cli``) from a passed-in
environ, command-line values winning; tests build :class:`WebSettings` directly."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from rosey.config import (
    DEFAULT_NATS_URL,
    NatsAuth,
    _int,
    _positive,
    _str,
    nats_auth_settings,
)
from rosey.errors import ConfigError

__all__ = ["WebSettings", "web_settings", "DEFAULT_WEB_PORT", "MAX_SESSION_SECONDS",
           "MAX_RANK_CHECK_SECONDS", "WEB_DEFAULTS"]

DEFAULT_WEB_PORT = 8080
#: the longest a moderator's session lives
MAX_SESSION_SECONDS = 12 * 3600.0
#: the longest a session goes without the bot confirming its rank
MAX_RANK_CHECK_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class WebSettings:
    """Settings of the web process (``rosey-web``).

    Parameters:
        host, port: where the page (and ``/metrics``, ``/healthz``, ``/readyz``) is served
            (``ROSEY_WEB_HOST``, default 0.0.0.0; ``ROSEY_WEB_PORT``, default 8080; 0 = any
            free port).
        nats_url: one or more comma-separated NATS URLs (``ROSEY_NATS_URL``).
        nats_auth: who the web process is on NATS (``ROSEY_NATS_*``; the chart's ``web``).
        query_timeout: how long one request over NATS may take
            (``ROSEY_WEB_QUERY_TIMEOUT_SECONDS``, default 2).
        session_seconds: a moderator's session's lifetime (``ROSEY_WEB_SESSION_SECONDS``,
            default and at most 12 h).
        rank_check_seconds: the longest a session goes without the bot confirming the rank
            (``ROSEY_WEB_RANK_CHECK_SECONDS``, default and at most 60).
        refresh_seconds: how often the public pages reload themselves
            (``ROSEY_WEB_REFRESH_SECONDS``, default 30).
        login_burst, login_per_minute: the login endpoint's rate limit per client address
            (``ROSEY_WEB_LOGIN_BURST``, default 5; ``ROSEY_WEB_LOGIN_PER_MINUTE``, default 6).
        activity_log_seconds: how often the INFO ``web_activity`` line is written.
    """

    host: str = "0.0.0.0"
    port: int = DEFAULT_WEB_PORT
    nats_url: str = DEFAULT_NATS_URL
    nats_auth: NatsAuth = field(default_factory=NatsAuth)
    query_timeout: float = 2.0
    session_seconds: float = MAX_SESSION_SECONDS
    rank_check_seconds: float = MAX_RANK_CHECK_SECONDS
    refresh_seconds: int = 30
    login_burst: int = 5
    login_per_minute: float = 6.0
    activity_log_seconds: float = 60.0

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"ROSEY_WEB_PORT must be a port number (0-65535), got {self.port}")
        if not 0 < self.session_seconds <= MAX_SESSION_SECONDS:
            raise ConfigError("ROSEY_WEB_SESSION_SECONDS must be more than 0 and at most "
                              f"{MAX_SESSION_SECONDS:.0f} (12 hours)")
        if not 0 < self.rank_check_seconds <= MAX_RANK_CHECK_SECONDS:
            raise ConfigError("ROSEY_WEB_RANK_CHECK_SECONDS must be more than 0 and at most "
                              f"{MAX_RANK_CHECK_SECONDS:.0f}")
        if self.refresh_seconds < 5:
            raise ConfigError("ROSEY_WEB_REFRESH_SECONDS must be at least 5")
        if self.login_burst < 1 or not self.login_per_minute > 0:
            raise ConfigError("ROSEY_WEB_LOGIN_BURST must be at least 1 and "
                              "ROSEY_WEB_LOGIN_PER_MINUTE more than 0")


WEB_DEFAULTS: Final = WebSettings()


def web_settings(env: Mapping[str, str], *, host: str | None = None, port: int | None = None,
                 nats_url: str | None = None) -> WebSettings:
    """WebSettings from ``ROSEY_WEB_*``, ``ROSEY_NATS_URL`` and the NATS identity variables,
    command-line values winning."""
    d = WEB_DEFAULTS
    return WebSettings(
        host=_str(env, "ROSEY_WEB_HOST", host, d.host),
        port=_int(env, "ROSEY_WEB_PORT", port, d.port),
        nats_url=_str(env, "ROSEY_NATS_URL", nats_url, DEFAULT_NATS_URL),
        nats_auth=nats_auth_settings(env),
        query_timeout=_positive(env, "ROSEY_WEB_QUERY_TIMEOUT_SECONDS", d.query_timeout),
        session_seconds=_positive(env, "ROSEY_WEB_SESSION_SECONDS", d.session_seconds),
        rank_check_seconds=_positive(env, "ROSEY_WEB_RANK_CHECK_SECONDS", d.rank_check_seconds),
        refresh_seconds=_int(env, "ROSEY_WEB_REFRESH_SECONDS", None, d.refresh_seconds),
        login_burst=_int(env, "ROSEY_WEB_LOGIN_BURST", None, d.login_burst),
        login_per_minute=_positive(env, "ROSEY_WEB_LOGIN_PER_MINUTE", d.login_per_minute),
        activity_log_seconds=_positive(env, "ROSEY_ACTIVITY_LOG_SECONDS",
                                       d.activity_log_seconds),
    )
