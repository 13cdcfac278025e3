"""Settings, read once at the edge and passed inward as frozen values.

Only ``rosey.cli`` builds settings from the environment; it hands a mapping (normally
``os.environ``) to :func:`db_settings` or :func:`bot_settings` together with the command-line
values, which win over the environment. Nothing else in Rosey reads ``os.environ``; tests
build the dataclasses directly.

Passwords are wrapped in :class:`Secret`, whose ``repr`` and ``str`` never show the value.
``*_FILE`` variables (Kubernetes Secrets mounted as files) are read in place of the plain ones.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from rosey import contract
from rosey.commands import check_command_ranks
from rosey.errors import ConfigError

__all__ = [
    "Secret", "StreamSettings", "DbSettings", "BackupSettings", "RetentionSettings",
    "backup_settings", "retention_settings", "BotSettings", "UpSettings", "db_settings",
    "bot_settings", "up_settings", "stream_settings", "check_parent_directory", "DEFAULT_NATS_URL",
    "DEFAULT_DB_METRICS_PORT", "DEFAULT_BOT_METRICS_PORT", "DEFAULT_DATA_DIR",
    "DEFAULT_ESCALATION", "EscalationStep", "parse_duration", "looks_like_duration",
    "parse_escalation", "DURATION_FORMS", "MAX_DURATION",
    "parse_command_ranks", "NatsAuth", "nats_auth_settings", "NATS_AUTH_HELP",
    "STREAM_DEFAULTS", "DB_DEFAULTS", "BOT_DEFAULTS",
]

DEFAULT_NATS_URL = "nats://127.0.0.1:4222"
DEFAULT_DB_METRICS_PORT = 9101
DEFAULT_BOT_METRICS_PORT = 9102
DEFAULT_DATA_DIR = "rosey-data"


class Secret:
    """A string that does not show itself in logs, reprs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, slots=True)
class NatsAuth:
    """Who a service is on NATS, and how it checks the server (docs/nats-security.md).

    Parameters:
        user, password: a NATS user (``ROSEY_NATS_USER``, ``ROSEY_NATS_PASSWORD(_FILE)``).
        creds_file: a NATS credentials file (JWT + nkey seed), ``ROSEY_NATS_CREDS_FILE``.
        nkey_seed_file: an nkey seed file, ``ROSEY_NATS_NKEY_SEED_FILE``.
        tls_ca: CA bundle the server's certificate is verified against (``ROSEY_NATS_TLS_CA``;
            setting it turns TLS on).
        tls_cert, tls_key: a client certificate, when the server asks for one.
        tls_hostname: the name to verify the server's certificate for, when it differs from
            the URL's host (``ROSEY_NATS_TLS_HOSTNAME``).
    """

    user: str | None = None
    password: Secret | None = None
    creds_file: Path | None = None
    nkey_seed_file: Path | None = None
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_hostname: str | None = None

    @property
    def tls(self) -> bool:
        return self.tls_ca is not None or self.tls_cert is not None


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """How the DatabaseService creates or updates the JetStream stream."""

    replicas: int = 1
    max_age_seconds: float = 7 * 24 * 3600.0
    max_bytes: int = 1024 * 1024 * 1024
    duplicate_window_seconds: float = 120.0


@dataclass(frozen=True, slots=True)
class BackupSettings:
    """The DatabaseService's backups (docs/durability.md, "Backups and restore").

    Parameters:
        directory: where backups are written (``ROSEY_BACKUP_DIR``; must exist); None: none.
        s3_url: ``s3://bucket/prefix`` to upload each backup to (``ROSEY_BACKUP_S3_URL``).
        s3_endpoint: the S3-compatible server, when it is not AWS (``ROSEY_BACKUP_S3_ENDPOINT``).
        s3_region: the bucket's region (``ROSEY_BACKUP_S3_REGION``).
        interval_seconds: time between scheduled backups (``ROSEY_BACKUP_INTERVAL_SECONDS``);
            0 takes them only on demand.
        keep: how many backups each target keeps (``ROSEY_BACKUP_KEEP``).
    """

    directory: Path | None = None
    s3_url: str = ""
    s3_endpoint: str = ""
    s3_region: str = ""
    interval_seconds: float = 6 * 3600.0
    keep: int = 7

    def __post_init__(self) -> None:
        if self.interval_seconds < 0:
            raise ConfigError("ROSEY_BACKUP_INTERVAL_SECONDS must be 0 (on demand only) or more")
        if not 1 <= self.keep <= 1000:
            raise ConfigError("ROSEY_BACKUP_KEEP must be between 1 and 1000")

    @property
    def enabled(self) -> bool:
        return self.directory is not None or bool(self.s3_url)


@dataclass(frozen=True, slots=True)
class RetentionSettings:
    """How long the DatabaseService keeps chat lines and user counts (docs/durability.md,
    "Retention"). None keeps everything, as Rosey always has; the moderation record is never
    pruned automatically.

    Parameters:
        chat_days: chat lines older than this many days go (``ROSEY_RETAIN_CHAT_DAYS``).
        chat_rows: at most this many chat lines are kept, newest first (``ROSEY_RETAIN_CHAT_ROWS``).
        user_count_days: user-count rows older than this go (``ROSEY_RETAIN_USER_COUNT_DAYS``).
        interval_seconds: how often pruning looks for rows to delete.
        batch_rows: rows deleted per transaction (between ingest batches, never holding them up).
    """

    chat_days: float | None = None
    chat_rows: int | None = None
    user_count_days: float | None = None
    interval_seconds: float = 60.0
    batch_rows: int = 500

    def __post_init__(self) -> None:
        for name, value in (("ROSEY_RETAIN_CHAT_DAYS", self.chat_days),
                            ("ROSEY_RETAIN_CHAT_ROWS", self.chat_rows),
                            ("ROSEY_RETAIN_USER_COUNT_DAYS", self.user_count_days)):
            if value is not None and not value > 0:
                raise ConfigError(f"{name} must be a positive number (or unset: keep all)")

    @property
    def enabled(self) -> bool:
        return any(v is not None for v in (self.chat_days, self.chat_rows, self.user_count_days))


@dataclass(frozen=True, slots=True)
class DbSettings:
    """Settings of the DatabaseService (``rosey-db``).

    Parameters:
        nats_url: one or more comma-separated NATS URLs.
        db_path: the SQLite file (created when missing; its directory must exist, see
            :func:`check_parent_directory`).
        metrics_port: where ``/metrics``, ``/healthz`` and ``/readyz`` are served (0 = any free).
        metrics_host: address the metrics server binds.
        jetstream: "auto" uses JetStream when the server has it and falls back to core
            subscriptions otherwise; "off" always uses core subscriptions.
        stream: the stream's replicas, limits and duplicate window.
        batch_size: most events applied in one SQLite transaction.
        ack_wait_seconds: how long JetStream waits for an acknowledgement before it
            redelivers (after a crash, the in-flight batch comes back after this long);
            applies when the durable consumer is created.
        activity_log_seconds: how often the INFO ``dbservice_activity`` line is written.
        nats_auth: who the service is on NATS (``ROSEY_NATS_*``; empty: anonymous).
        synchronous: SQLite's ``synchronous``: "full" (the default) has every commit on disk
            before its batch is acknowledged; "normal" does not wait for the disk, so a power
            loss or kernel crash can lose the last commits, which JetStream then never
            redelivers (docs/durability.md: only for a disk whose cache survives power loss).
        backup: where and how often the database is backed up.
        retention: how long chat lines and user counts are kept.
    """

    nats_url: str = DEFAULT_NATS_URL
    db_path: Path = Path("rosey.db")
    metrics_port: int = DEFAULT_DB_METRICS_PORT
    metrics_host: str = "0.0.0.0"
    jetstream: str = "auto"
    stream: StreamSettings = field(default_factory=StreamSettings)
    batch_size: int = 256
    ack_wait_seconds: float = 10.0
    activity_log_seconds: float = 60.0
    nats_auth: NatsAuth = field(default_factory=NatsAuth)
    synchronous: str = "full"
    backup: BackupSettings = field(default_factory=BackupSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)

    def __post_init__(self) -> None:
        if self.jetstream not in ("auto", "off"):
            raise ConfigError(f"jetstream must be 'auto' or 'off', not {self.jetstream!r}")
        if self.synchronous not in ("full", "normal"):
            raise ConfigError(f"ROSEY_DB_SYNCHRONOUS must be 'full' or 'normal', "
                              f"not {self.synchronous!r}")
        if not 1 <= self.batch_size <= 10_000:
            raise ConfigError("batch size must be between 1 and 10000")


@dataclass(frozen=True, slots=True)
class BotSettings:
    """Settings of the bot (``rosey-bot``).

    Parameters:
        domain: the CyTube site, e.g. ``https://cytu.be`` (a bare host means https).
        channel: the channel to join.
        user: the account or guest name; empty joins anonymously (read-only).
        password: the account password; empty logs in as a guest.
        channel_password: the channel's password, if it has one.
        nats_url: one or more comma-separated NATS URLs.
        metrics_port: where ``/metrics``, ``/healthz`` and ``/readyz`` are served.
        outbox_size: events held while NATS is slow or away; the oldest go first when full.
        activity_log_seconds: how often the INFO ``bot_activity`` line is written.
        reconnect_max_delay: the longest wait between two attempts to reach CyTube; each wait
            is jittered down by up to 20 %, so with the default 20 s a bot returns 16-20 s
            after CyTube does, inside CyTube's connect limit (the connect bucket allows 4,
            then 1 per 12 s).
        pause_limit: how long a ``pause`` may hold the channel: after that the bot hands the
            leader back and CyTube's own clock runs again.
        escalation: warnings that add up (``docs/moderation.md``): steps of (strikes, within
            seconds, action, duration seconds), from ``ROSEY_ESCALATION``
            ``"3/24h:mute:1h,5/7d:ban:1d"``.
        strike_decay: strikes older than this no longer count.
        command_ranks: a higher rank than 2 for some commands (``"ban=3,modlog=3"``).
        lift_grace: a lift within this many seconds of the expiry counts as on time.
        punishment_sync: how often the bot re-reads the active punishments (and retries a
            lift that failed).
        stream: the stream the bot creates when it finds none (the DatabaseService's
            settings, from the same ``ROSEY_STREAM_*`` variables, so either may create it).
        nats_auth: who the bot is on NATS (``ROSEY_NATS_*``; empty: anonymous).
        automod_file: the automatic moderation rules (``docs/automod.md``); empty: none.
        web_url: the web page's address (``ROSEY_WEB_URL``, ``docs/web.md``), for the
            ``weblogin`` links; empty: the page is not configured.
    """

    domain: str
    channel: str
    user: str = ""
    password: Secret = field(default_factory=lambda: Secret(""))
    channel_password: Secret = field(default_factory=lambda: Secret(""))
    nats_url: str = DEFAULT_NATS_URL
    metrics_port: int = DEFAULT_BOT_METRICS_PORT
    metrics_host: str = "0.0.0.0"
    outbox_size: int = 10_000
    query_timeout: float = 2.0
    outbound_poll_interval: float = 2.0
    activity_log_seconds: float = 60.0
    reconnect_max_delay: float = 20.0
    pause_limit: float = 600.0
    escalation: tuple[EscalationStep, ...] = field(
        default_factory=lambda: parse_escalation(DEFAULT_ESCALATION))
    strike_decay: float = 30 * 86400.0
    command_ranks: tuple[tuple[str, float], ...] = ()
    lift_grace: float = 5.0
    punishment_sync: float = 60.0
    stream: StreamSettings = field(default_factory=StreamSettings)
    nats_auth: NatsAuth = field(default_factory=NatsAuth)
    automod_file: str = ""
    web_url: str = ""

    def __post_init__(self) -> None:
        if self.web_url and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", self.web_url):
            raise ConfigError(f"ROSEY_WEB_URL must be an http:// or https:// address, "
                              f"got {self.web_url!r}")


DEFAULT_ESCALATION = "3/24h:mute:1h,5/7d:ban:1d"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MAX_DURATION = contract.MAX_DURATION
#: what a refusal of a bad duration lists
DURATION_FORMS = "45s, 10m, 2h, 3d, 1w or combined like 1h30m (at most 10 years)"
#: ``1w2d3h4m5s``: each unit at most once, largest first (it also matches "": see below)
_DURATION = re.compile(r"(?:([0-9]+)w)?(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?")
_UNITS_LARGEST_FIRST = tuple(_UNITS[u] for u in "wdhms")


def parse_duration(text: str) -> int | None:
    """``"10m"``, ``"2h"``, ``"3d"``, ``"45s"``, ``"1w"``, or several of them combined with
    each unit once and the largest first (``"1h30m"``, ``"1d12h"``, ``"2w3d"``) -> seconds,
    case-insensitive; None if not a duration, zero, or over :data:`MAX_DURATION`."""
    text = text.strip().lower()
    m = _DURATION.fullmatch(text) if 2 <= len(text) <= 64 else None
    if m is None:
        return None
    seconds = sum(int(n) * size for n, size in zip(m.groups(), _UNITS_LARGEST_FIRST, strict=True)
                  if n is not None)
    return seconds if 0 < seconds <= MAX_DURATION else None


def looks_like_duration(word: str) -> bool:
    """Whether a word was meant as a duration: it starts with a digit (``10m``, ``1hr``,
    ``90min``, ``1.5h``, a bare ``5``). Every word :func:`parse_duration` accepts does; a
    reason seldom starts with a digit, and a word that does is refused rather than taken as
    the start of a reason (which would make the punishment permanent)."""
    return re.match(r"[0-9]", word.strip()) is not None


@dataclass(frozen=True, slots=True)
class EscalationStep:
    """``strikes`` within ``window`` seconds -> ``action`` (mute, smute or ban) for
    ``duration`` seconds."""

    strikes: int
    window: int
    action: str
    duration: int


def parse_escalation(text: str) -> tuple[EscalationStep, ...]:
    """``"3/24h:mute:1h,5/7d:ban:1d"`` -> steps, fewest strikes first ("" or "off": none)."""
    if text.strip().lower() in ("", "off", "none"):
        return ()
    steps = []
    for part in text.split(","):
        try:
            count_window, action, duration = part.strip().split(":")
            count, window = count_window.split("/")
        except ValueError:
            raise ConfigError(f"escalation step {part.strip()!r} is not "
                              "<strikes>/<window>:<mute|smute|ban>:<duration>") from None
        win, dur = parse_duration(window), parse_duration(duration)
        if not count.strip().isdigit() or int(count) < 1 or win is None or dur is None \
                or action.strip() not in contract.PUNISHMENT_KINDS:
            raise ConfigError(f"escalation step {part.strip()!r} is not "
                              "<strikes>/<window>:<mute|smute|ban>:<duration>")
        steps.append(EscalationStep(int(count), win, action.strip(), dur))
    return tuple(sorted(steps, key=lambda s: s.strikes))


def parse_command_ranks(text: str) -> tuple[tuple[str, float], ...]:
    """``"ban=3,modlog=3"`` -> ((command, rank), ...); ranks below 2 and names that are no
    command (:mod:`rosey.commands`) are refused."""
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        command, _, rank = part.partition("=")
        try:
            value = float(rank)
        except ValueError:
            raise ConfigError(f"command rank {part!r} is not <command>=<rank>") from None
        if value < 2:
            raise ConfigError(f"command rank {part!r}: moderators are rank 2 at least")
        out.append((command.strip().lower(), value))
    check_command_ranks(tuple(out))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class UpSettings:
    """Settings of ``rosey up`` beyond the bot's.

    Parameters:
        data_dir: holds the database and the local NATS store (created when its parent exists).
        nats_url: use this NATS; None starts a local nats-server.
        db_metrics_port, bot_metrics_port: the two processes' metrics ports.
    """

    data_dir: Path = Path(DEFAULT_DATA_DIR)
    nats_url: str | None = None
    db_metrics_port: int = DEFAULT_DB_METRICS_PORT
    bot_metrics_port: int = DEFAULT_BOT_METRICS_PORT


#: the NATS client settings, for the --help texts
NATS_AUTH_HELP = """\
NATS identity and TLS (environment only; see docs/nats-security.md):
  ROSEY_NATS_USER, ROSEY_NATS_PASSWORD (or ROSEY_NATS_PASSWORD_FILE), or
  ROSEY_NATS_CREDS_FILE (credentials file), or ROSEY_NATS_NKEY_SEED_FILE;
  ROSEY_NATS_TLS_CA (verify the server against this CA; turns TLS on),
  ROSEY_NATS_TLS_CERT + ROSEY_NATS_TLS_KEY (client certificate), ROSEY_NATS_TLS_HOSTNAME.
"""


def nats_auth_settings(env: Mapping[str, str]) -> NatsAuth:
    """NatsAuth from ``ROSEY_NATS_*`` (``ROSEY_NATS_PASSWORD_FILE`` read in place)."""
    def path(name: str) -> Path | None:
        raw = env.get(name)
        if not raw:
            return None
        if not Path(raw).is_file():
            raise ConfigError(f"{name}={raw!r} is not a readable file")
        return Path(raw)

    user = env.get("ROSEY_NATS_USER") or None
    password = _read(env, "ROSEY_NATS_PASSWORD")
    if password and not user:
        raise ConfigError("ROSEY_NATS_PASSWORD is set but ROSEY_NATS_USER is not")
    auth = NatsAuth(user=user, password=Secret(password) if password else None,
                    creds_file=path("ROSEY_NATS_CREDS_FILE"),
                    nkey_seed_file=path("ROSEY_NATS_NKEY_SEED_FILE"),
                    tls_ca=path("ROSEY_NATS_TLS_CA"), tls_cert=path("ROSEY_NATS_TLS_CERT"),
                    tls_key=path("ROSEY_NATS_TLS_KEY"),
                    tls_hostname=env.get("ROSEY_NATS_TLS_HOSTNAME") or None)
    if (auth.tls_cert is None) != (auth.tls_key is None):
        raise ConfigError("ROSEY_NATS_TLS_CERT and ROSEY_NATS_TLS_KEY go together")
    if sum(x is not None for x in (auth.user, auth.creds_file, auth.nkey_seed_file)) > 1:
        raise ConfigError("use one of ROSEY_NATS_USER, ROSEY_NATS_CREDS_FILE, "
                          "ROSEY_NATS_NKEY_SEED_FILE")
    return auth


def check_parent_directory(path: Path, name: str) -> None:
    """Refuse ``path`` unless its directory exists and is writable.

    Rosey creates at most the last element of a path it is given (the database file, the
    ``rosey up`` data directory), never missing directories above it, so a typo fails here
    instead of silently making a new tree. ``name`` is the flag/variable for the message.
    """
    parent = path.parent
    if not parent.is_dir():
        if parent.exists():
            raise ConfigError(f"{name}: {str(parent)!r} is not a directory")
        raise ConfigError(f"{name}: directory {str(parent)!r} does not exist "
                          "(check for a typo, or create it first)")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{name}: directory {str(parent)!r} is not writable")


# --- reading a mapping -------------------------------------------------------------------------
def _read(env: Mapping[str, str], name: str) -> str | None:
    """``NAME`` or the contents of the file named by ``NAME_FILE`` (trailing newline dropped)."""
    file_name = env.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise ConfigError(f"{name}_FILE={file_name!r} cannot be read: {exc.strerror}") from None
    return env.get(name)


def _int(env: Mapping[str, str], name: str, cli: int | None, default: int) -> int:
    if cli is not None:
        return cli
    raw = _read(env, name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = _read(env, name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None


def _positive(env: Mapping[str, str], name: str, default: float) -> float:
    value = _float(env, name, default)
    if not value > 0:
        raise ConfigError(f"{name} must be a positive number of seconds, got {value!r}")
    return value


def _seconds(env: Mapping[str, str], name: str, cli: float | None, default: float) -> float:
    """A positive number of seconds: the flag's value if given, else ``name``, else ``default``."""
    value = _positive(env, name, default) if cli is None else cli
    if not value > 0:
        raise ConfigError(f"{name} must be a positive number of seconds, got {value!r}")
    return value


def _str(env: Mapping[str, str], name: str, cli: str | None, default: str | None) -> str:
    if cli:
        return cli
    raw = _read(env, name)
    if raw:
        return raw
    if default is None:
        raise ConfigError(f"{name} is required (or its command-line flag)")
    return default


#: every default in one place: the settings' own field defaults (the readers below fall back
#: to these, and so do the few components that take a setting with a default of their own)
STREAM_DEFAULTS: Final = StreamSettings()
DB_DEFAULTS: Final = DbSettings()
BOT_DEFAULTS: Final = BotSettings(domain="", channel="")


def db_settings(env: Mapping[str, str], *, nats_url: str | None = None,
                db_path: str | None = None, metrics_port: int | None = None) -> DbSettings:
    """DbSettings from ``ROSEY_*`` variables, command-line values winning."""
    return DbSettings(
        nats_url=_str(env, "ROSEY_NATS_URL", nats_url, DEFAULT_NATS_URL),
        db_path=Path(_str(env, "ROSEY_DB_PATH", db_path, "rosey.db")),
        metrics_port=_int(env, "ROSEY_METRICS_PORT", metrics_port, DEFAULT_DB_METRICS_PORT),
        metrics_host=_str(env, "ROSEY_METRICS_HOST", None, DB_DEFAULTS.metrics_host),
        jetstream=_str(env, "ROSEY_JETSTREAM", None, DB_DEFAULTS.jetstream),
        batch_size=_int(env, "ROSEY_BATCH_SIZE", None, DB_DEFAULTS.batch_size),
        ack_wait_seconds=_float(env, "ROSEY_ACK_WAIT_SECONDS", DB_DEFAULTS.ack_wait_seconds),
        activity_log_seconds=_positive(env, "ROSEY_ACTIVITY_LOG_SECONDS",
                                       DB_DEFAULTS.activity_log_seconds),
        stream=stream_settings(env),
        nats_auth=nats_auth_settings(env),
        synchronous=_str(env, "ROSEY_DB_SYNCHRONOUS", None, DB_DEFAULTS.synchronous).lower(),
        backup=backup_settings(env),
        retention=retention_settings(env),
    )


def backup_settings(env: Mapping[str, str]) -> BackupSettings:
    """BackupSettings from ``ROSEY_BACKUP_*``."""
    default = BackupSettings()
    directory = _str(env, "ROSEY_BACKUP_DIR", None, "")
    return BackupSettings(
        directory=Path(directory) if directory else None,
        s3_url=_str(env, "ROSEY_BACKUP_S3_URL", None, ""),
        s3_endpoint=_str(env, "ROSEY_BACKUP_S3_ENDPOINT", None, ""),
        s3_region=_str(env, "ROSEY_BACKUP_S3_REGION", None, ""),
        interval_seconds=_float(env, "ROSEY_BACKUP_INTERVAL_SECONDS", default.interval_seconds),
        keep=_int(env, "ROSEY_BACKUP_KEEP", None, default.keep),
    )


def retention_settings(env: Mapping[str, str]) -> RetentionSettings:
    """RetentionSettings from ``ROSEY_RETAIN_*``; unset or empty keeps everything."""
    def optional(name: str) -> float | None:
        raw = _read(env, name)
        return None if raw is None or raw == "" else _float(env, name, 0.0)
    rows = optional("ROSEY_RETAIN_CHAT_ROWS")
    if rows is not None and rows != int(rows):
        raise ConfigError(f"ROSEY_RETAIN_CHAT_ROWS must be a whole number, got {rows!r}")
    return RetentionSettings(chat_days=optional("ROSEY_RETAIN_CHAT_DAYS"),
                             chat_rows=None if rows is None else int(rows),
                             user_count_days=optional("ROSEY_RETAIN_USER_COUNT_DAYS"))


def stream_settings(env: Mapping[str, str]) -> StreamSettings:
    """StreamSettings from ``ROSEY_STREAM_*``: both processes read them (either may create the
    stream), the DatabaseService also updates an existing stream to them."""
    return StreamSettings(
        replicas=_int(env, "ROSEY_STREAM_REPLICAS", None, STREAM_DEFAULTS.replicas),
        max_age_seconds=_float(env, "ROSEY_STREAM_MAX_AGE_SECONDS",
                               STREAM_DEFAULTS.max_age_seconds),
        max_bytes=_int(env, "ROSEY_STREAM_MAX_BYTES", None, STREAM_DEFAULTS.max_bytes),
        duplicate_window_seconds=_float(env, "ROSEY_STREAM_DUPLICATE_WINDOW_SECONDS",
                                        STREAM_DEFAULTS.duplicate_window_seconds),
    )


def bot_settings(env: Mapping[str, str], *, domain: str | None = None,
                 channel: str | None = None, nats_url: str | None = None,
                 metrics_port: int | None = None, reconnect_max_delay: float | None = None,
                 pause_limit: float | None = None,
                 automod_file: str | None = None) -> BotSettings:
    """BotSettings from ``ROSEY_*`` variables (``*_FILE`` for secrets), command-line values winning."""
    return BotSettings(
        domain=_str(env, "ROSEY_CYTUBE_DOMAIN", domain, None),
        channel=_str(env, "ROSEY_CYTUBE_CHANNEL", channel, None),
        user=_str(env, "ROSEY_CYTUBE_USER", None, ""),
        password=Secret(_str(env, "ROSEY_CYTUBE_PASSWORD", None, "")),
        channel_password=Secret(_str(env, "ROSEY_CYTUBE_CHANNEL_PASSWORD", None, "")),
        nats_url=_str(env, "ROSEY_NATS_URL", nats_url, DEFAULT_NATS_URL),
        metrics_port=_int(env, "ROSEY_METRICS_PORT", metrics_port, DEFAULT_BOT_METRICS_PORT),
        metrics_host=_str(env, "ROSEY_METRICS_HOST", None, BOT_DEFAULTS.metrics_host),
        outbox_size=_int(env, "ROSEY_OUTBOX_SIZE", None, BOT_DEFAULTS.outbox_size),
        query_timeout=_float(env, "ROSEY_QUERY_TIMEOUT_SECONDS", BOT_DEFAULTS.query_timeout),
        outbound_poll_interval=_float(env, "ROSEY_OUTBOUND_POLL_SECONDS",
                                      BOT_DEFAULTS.outbound_poll_interval),
        activity_log_seconds=_positive(env, "ROSEY_ACTIVITY_LOG_SECONDS",
                                       BOT_DEFAULTS.activity_log_seconds),
        reconnect_max_delay=_seconds(env, "ROSEY_RECONNECT_MAX_SECONDS", reconnect_max_delay,
                                     BOT_DEFAULTS.reconnect_max_delay),
        pause_limit=_seconds(env, "ROSEY_PAUSE_LIMIT_SECONDS", pause_limit,
                             BOT_DEFAULTS.pause_limit),
        escalation=parse_escalation(_str(env, "ROSEY_ESCALATION", None, DEFAULT_ESCALATION)),
        strike_decay=_seconds(env, "ROSEY_STRIKE_DECAY_SECONDS", None, BOT_DEFAULTS.strike_decay),
        command_ranks=parse_command_ranks(_str(env, "ROSEY_COMMAND_RANKS", None, "")),
        lift_grace=_seconds(env, "ROSEY_LIFT_GRACE_SECONDS", None, BOT_DEFAULTS.lift_grace),
        punishment_sync=_seconds(env, "ROSEY_PUNISHMENT_SYNC_SECONDS", None,
                                 BOT_DEFAULTS.punishment_sync),
        stream=stream_settings(env),
        nats_auth=nats_auth_settings(env),
        automod_file=_str(env, "ROSEY_AUTOMOD_FILE", automod_file, ""),
        web_url=_str(env, "ROSEY_WEB_URL", None, "").strip(),
    )


def up_settings(env: Mapping[str, str], *, nats_url: str | None = None,
                data_dir: str | None = None, db_metrics_port: int | None = None,
                bot_metrics_port: int | None = None) -> UpSettings:
    """UpSettings from ``ROSEY_NATS_URL``, ``ROSEY_DATA_DIR``, ``ROSEY_DB_METRICS_PORT`` and
    ``ROSEY_BOT_METRICS_PORT``, command-line values winning."""
    return UpSettings(
        data_dir=Path(_str(env, "ROSEY_DATA_DIR", data_dir, DEFAULT_DATA_DIR)),
        nats_url=_str(env, "ROSEY_NATS_URL", nats_url, "") or None,
        db_metrics_port=_int(env, "ROSEY_DB_METRICS_PORT", db_metrics_port,
                             DEFAULT_DB_METRICS_PORT),
        bot_metrics_port=_int(env, "ROSEY_BOT_METRICS_PORT", bot_metrics_port,
                              DEFAULT_BOT_METRICS_PORT),
    )
