"""structlog set-up, done once by the entry point (``rosey.cli``); modules only call
``structlog.get_logger()``.

On a terminal the lines are rendered for people; otherwise they are JSON, one object per line
on stdout, for the platform to ship. nats-py, python-socketio and aiohttp log through stdlib
``logging``; a ``ProcessorFormatter`` renders their records with the same processors, so every
line carries ``service`` and looks alike. Keys that can hold a secret are masked by
:func:`redact_secrets` before anything is rendered. Context bound with
``structlog.contextvars.bound_contextvars`` (e.g. by :func:`rosey.bus.with_message_context`
around a message handler) is added to every line logged inside it.

``ROSEY_LOG_LEVEL`` and ``ROSEY_LOG_FORMAT`` are checked, not guessed: a value that is not one
of the known ones is a :class:`~rosey.errors.ConfigError`, never silently replaced.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from rosey.errors import ConfigError

__all__ = ["configure_logging", "redact_secrets", "SECRET_KEYS", "LOG_LEVELS", "LOG_FORMATS",
           "log_level", "log_format"]

LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
              "error": logging.ERROR, "critical": logging.CRITICAL}
#: ROSEY_LOG_FORMAT -> json (True), console (False), or chosen by whether stdout is a TTY (None)
LOG_FORMATS: dict[str, bool | None] = {"": None, "auto": None, "json": True, "console": False}


def log_level(value: str) -> int:
    """``ROSEY_LOG_LEVEL`` (any case) as a ``logging`` level; anything else is a ConfigError."""
    try:
        return LOG_LEVELS[value.strip().lower()]
    except KeyError:
        raise ConfigError(f"ROSEY_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}; "
                          f"got {value!r}") from None


def log_format(value: str) -> bool | None:
    """``ROSEY_LOG_FORMAT``: True for JSON, False for console, None (empty/auto) for
    "console on a terminal"; anything else is a ConfigError."""
    try:
        return LOG_FORMATS[value.strip().lower()]
    except KeyError:
        raise ConfigError("ROSEY_LOG_FORMAT must be json, console or auto (empty); "
                          f"got {value!r}") from None

SECRET_KEYS = frozenset({"password", "pw", "channel_password", "secret", "token", "auth"})


def redact_secrets(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Mask the value of any key that names a secret; passwords never reach a log line."""
    for key in list(event_dict):
        if key.lower() in SECRET_KEYS and event_dict[key]:
            event_dict[key] = "**********"
    return event_dict


def configure_logging(service: str, *, level: str = "info", json: bool | None = None) -> None:
    """Configure structlog and the stdlib root logger for one process.

    Parameters:
        service: added to every line as ``service``.
        level: the lowest level written (a name from :data:`LOG_LEVELS`).
        json: force JSON (True) or console (False); None picks console on a TTY.

    Raises:
        ConfigError: ``level`` is not a known level name.
    """
    numeric = log_level(level)
    if json is None:
        json = not sys.stdout.isatty()

    def add_service(_: Any, __: str, ed: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        ed.setdefault("service", service)
        return ed

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        add_service,
        redact_secrets,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any
    # tracebacks without each frame's local variables: a password, token or secret held in a
    # local would otherwise be written to the log (structlog shows them by default)
    if json:
        renderer = structlog.processors.JSONRenderer()
        shared_tail: list[Any] = [structlog.processors.ExceptionRenderer(
            structlog.tracebacks.ExceptionDictTransformer(show_locals=False))]
    else:
        renderer = structlog.dev.ConsoleRenderer(
            exception_formatter=structlog.dev.plain_traceback)
        shared_tail = []

    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    *shared_tail, renderer],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    # the libraries are chatty at INFO/DEBUG; their warnings still come through
    for name in ("aiohttp.access", "engineio", "socketio", "engineio.client", "socketio.client"):
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
