"""Rosey's exceptions, one tree: every exception Rosey raises on purpose is defined here.

    RoseyError
    ├── ConfigError          a setting is missing or malformed (raised by rosey.config)
    │   ├── ListenError      a port cannot be listened on (in use, not permitted)
    │   ├── YamlError        the automod rules file is not YAML, or gives a key twice
    │   └── PatternError     a moderator's pattern RE2 refuses
    ├── BadPayload           a message body breaks the wire contract (bounded ``reason`` code)
    ├── StoreError           the SQLite store cannot do what was asked
    │   ├── SchemaTooNew     the file was written by a newer Rosey than this one
    │   ├── BackupError      a backup could not be written (target missing, full, read-only)
    │   └── BadBackup        a file is not a usable Rosey backup (restore refuses it)
    ├── BusError             NATS is unusable for what was asked
    │   ├── StreamConfigError  the JetStream stream cannot be created or updated
    │   └── ConnectAborted   shutdown was asked for before NATS ever answered
    ├── CyTubeError          the CyTube side failed
    │   ├── DiscoveryError   socketconfig could not be fetched or had no usable server
    │   ├── Kicked           the server kicked the bot (``reason``, ``retry`` says whether to retry)
    │   └── ActionFailed     an action on the channel did not happen (the message is the reply)
    │       ├── NotJoined    the bot is not in the channel, so nothing was sent
    │       ├── Refused      CyTube refused it (the message quotes CyTube)
    │       └── NotConfirmed CyTube said nothing before the action's deadline
    ├── CommandError         a moderator's command could not do what was asked (the message is
    │                        the reply)
    ├── NatsServerError      a local nats-server could not be started (rosey.natsd)
    ├── UpError              a part of ``rosey up``'s local stack could not be started
    └── LifecycleError       an object was used out of turn (opened twice; also a RuntimeError)

Raise the most specific leaf; catch only at boundaries (the bus wrapper, the bot's event loop,
the CLI). ``asyncio.CancelledError`` is never caught by any of these.
"""

from __future__ import annotations

__all__ = [
    "RoseyError", "ConfigError", "BadPayload", "StoreError", "SchemaTooNew", "BackupError",
    "BadBackup", "BusError",
    "StreamConfigError", "ConnectAborted", "CyTubeError", "DiscoveryError", "Kicked",
    "ActionFailed", "NotJoined", "Refused", "NotConfirmed", "CommandError",
    "ListenError", "YamlError", "PatternError", "NatsServerError", "UpError", "LifecycleError",
]


class RoseyError(Exception):
    """Base of every error Rosey raises on purpose."""


class ConfigError(RoseyError):
    """A setting is missing or malformed; the message names the variable or flag."""


class ListenError(ConfigError):
    """A server socket cannot be opened on the configured host and port."""


class YamlError(ConfigError, ValueError):
    """The automatic moderation rules file is not YAML (or gives a key twice); one line.
    (rosey.automod.rules names the file around it.)"""


class PatternError(ConfigError, ValueError):
    """A moderator's pattern RE2 refuses; the message is RE2's, on one line."""


class BadPayload(RoseyError):
    """A message body breaks the wire contract.

    ``reason`` is a short code from a closed set (used as a metric label); ``detail`` is
    for the log line and the dead-letter row.
    """

    REASONS = frozenset({
        "empty", "too_large", "not_utf8", "bad_json", "not_object", "missing_field",
        "wrong_type", "unknown_subject", "apply_error",
    })

    def __init__(self, reason: str, detail: str) -> None:
        assert reason in self.REASONS, reason
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class StoreError(RoseyError):
    """The SQLite store cannot do what was asked."""


class SchemaTooNew(StoreError):
    """The database file has a schema version newer than this code knows."""


class BackupError(StoreError):
    """A backup could not be written or uploaded. ``reason`` is a bounded code for the metric
    (``missing``, ``full``, ``read_only``, ``integrity``, ``upload``, ``error``; ``disabled``
    and ``busy`` when nothing was tried: no target, or one already running)."""

    REASONS = frozenset({"missing", "full", "read_only", "integrity", "upload", "error",
                         "disabled", "busy"})

    def __init__(self, reason: str, message: str) -> None:
        assert reason in self.REASONS, reason
        super().__init__(message)
        self.reason = reason


class BadBackup(StoreError):
    """A file given to restore is not a usable Rosey backup (missing, corrupt, foreign, or
    from a newer Rosey); the message is one line naming the file and why."""


class BusError(RoseyError):
    """NATS is unusable for what was asked."""


class StreamConfigError(BusError):
    """The JetStream stream or consumer cannot be created or updated."""


class ConnectAborted(BusError):
    """Shutdown was asked for while still waiting for the first NATS connection."""


class CyTubeError(RoseyError):
    """The CyTube side failed."""


class DiscoveryError(CyTubeError):
    """``/socketconfig/<channel>.json`` could not be fetched or named no usable server."""


class Kicked(CyTubeError):
    """The server kicked the bot. ``retry`` is False for kicks that must not be retried blindly."""

    def __init__(self, reason: str, *, retry: bool) -> None:
        super().__init__(f"kicked: {reason!r}")
        self.reason = reason
        self.retry = retry


class ActionFailed(CyTubeError):
    """An action on the channel (kick, queue, PM...) did not happen; the message says why, in
    words fit to reply to a moderator."""


class NotJoined(ActionFailed):
    """The bot is not in the channel right now, so the request was not sent."""


class Refused(ActionFailed):
    """CyTube refused the action; the message quotes CyTube's words."""


class NotConfirmed(ActionFailed):
    """CyTube neither confirmed nor refused the action before its deadline (counted from the
    call, waiting to send included)."""


class CommandError(RoseyError):
    """A moderator's command could not do what was asked; the message is the reply."""


class NatsServerError(RoseyError):
    """A local nats-server is not installed, exited before it was ready, or never got ready."""


class UpError(RoseyError):
    """A part of ``rosey up``'s local stack could not be started."""


class LifecycleError(RoseyError, RuntimeError):
    """An object with a lifecycle (``.state``) was used out of turn, e.g. started twice.

    Also a ``RuntimeError``, which is what such misuse raised before (and what httpx raises).
    """
