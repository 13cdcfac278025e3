"""Every Prometheus metric, declared once, and the small HTTP server that exposes them.

Each process builds one metrics object (:class:`DbMetrics` or :class:`BotMetrics`) on its own
``CollectorRegistry``; tests pass a fresh registry and read values with
``registry.get_sample_value()``. Names are fixed by the observability issue (dashboards and
alerts depend on them). Label values come only from closed sets: contract subjects, the
moderator command list (anything else is ``unknown``), and short reason codes. Never usernames.

Production logs stay at INFO, so the per-batch and per-query lines (DEBUG) are not in them;
instead :func:`log_activity` writes one INFO line per interval (default a minute) with what
each process did since the last line, read from these same counters: ``dbservice_activity``
and ``bot_activity``. An idle interval writes nothing.

:class:`MetricsServer` serves ``/metrics``, ``/healthz`` and ``/readyz`` (any other path is
404) from a daemon thread, so a scrape never waits on the event loop. ``/readyz`` asks a
callable that must only read simple attributes. Each service also hands that callable to the
``rosey_ready`` gauge (``set_function``), so Prometheus sees the same answer at scrape time.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import math
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app

from rosey import contract
from rosey.commands import COMMAND_NAMES, MODERATION_COMMANDS
from rosey.contract.web import WEB_REQUEST_SUBJECTS
from rosey.errors import BackupError, BadPayload, ListenError

__all__ = [
    "DbMetrics", "BotMetrics", "MetricsServer", "ReadyCheck", "LATENCY_BUCKETS",
    "E2E_BUCKETS", "BATCH_BUCKETS", "command_label", "DROP_REASONS", "QUERY_OUTCOMES",
    "BOT_QUERY_OUTCOMES", "BOT_COMMANDS", "LIFT_TIMINGS", "MODERATION_COMMANDS",
    "log_activity", "activity_logged", "ACTIVITY_INTERVAL_SECONDS",
    "WebMetrics", "WEB_LINK_EVENTS", "WEB_PAGES", "WEB_LOGIN_RESULTS", "WEB_REFUSALS",
]

log = structlog.get_logger()

#: how often :func:`log_activity` writes its line
ACTIVITY_INTERVAL_SECONDS = 60.0

#: tens of microseconds up to seconds: a publish or command path measured in microseconds
LATENCY_BUCKETS = (
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
    0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)
E2E_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
               30.0, 60.0, 300.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
#: why the bot gave an event up (``rosey_events_dropped_total{reason}``, rosey.bot.publisher)
DROP_REASONS = ("outbox_full", "shutdown", "unencodable", "rejected")
QUERY_OUTCOMES = ("ok", "bad_request", "error")
#: how a query the bot sent ended (``QueryFailed.outcome`` in rosey.bot, or ok)
BOT_QUERY_OUTCOMES = ("ok", "not_connected", "no_responders", "timeout", "bad_reply", "refused")

#: how a timed punishment's lift went (``rosey_punishment_lifts_total{timing}``)
LIFT_TIMINGS = ("on_time", "late", "failed")

#: what became of a web login link (``rosey_bot_web_links_total{event}``)
WEB_LINK_EVENTS = ("issued", "redeemed", "refused")
#: the web page's routes (``rosey_web_requests_total{page}``); anything else is "other"
WEB_PAGES = ("public", "user", "mod", "mod_user", "login", "logout", "api_public",
             "api_history", "api_user", "api_mod", "api_mod_user", "static", "metrics",
             "healthz", "readyz", "other")
#: how a login attempt on the web page ended (``rosey_web_logins_total{result}``)
WEB_LOGIN_RESULTS = ("ok", "refused", "rate_limited", "unavailable")
#: why the web page refused a moderator's request (``rosey_web_sessions_refused_total{reason}``)
WEB_REFUSALS = ("no_session", "expired", "rank_lost", "absent", "rank_unconfirmed")

#: a readiness check returns (ready, {check_name: ok})
ReadyCheck = Callable[[], tuple[bool, dict[str, bool]]]


def _sum(metric: Counter | Histogram, suffix: str, **labels: str) -> float:
    """The sum of ``metric``'s samples named ``*suffix`` whose labels include ``labels``."""
    return sum(sample.value for family in metric.collect() for sample in family.samples
               if sample.name.endswith(suffix) and labels.items() <= sample.labels.items())


def _not_ok(queries: Counter) -> float:
    return _sum(queries, "_total") - _sum(queries, "_total", outcome="ok")


#: every moderator command (the table of rosey.commands), and the moderation record's
BOT_COMMANDS: tuple[str, ...] = COMMAND_NAMES


def command_label(name: str) -> str:
    """A moderator command as a bounded label value."""
    return name if name in BOT_COMMANDS else "unknown"


class DbMetrics:
    """The DatabaseService's metrics."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.events_processed = Counter(
            "rosey_events_processed", "Events applied to the database, by subject.",
            ["subject"], registry=r)
        self.events_rejected = Counter(
            "rosey_events_rejected", "Events refused as bad input and dead-lettered.",
            ["subject", "reason"], registry=r)
        self.events_redelivered = Counter(
            "rosey_events_redelivered",
            "Redelivered events recognised as already applied and not applied again.",
            ["subject"], registry=r)
        self.commit_seconds = Histogram(
            "rosey_db_commit_seconds", "Time to apply and commit one batch.",
            buckets=LATENCY_BUCKETS, registry=r)
        self.batch_size = Histogram(
            "rosey_db_batch_size", "Events per committed batch.", buckets=BATCH_BUCKETS,
            registry=r)
        self.e2e_seconds = Histogram(
            "rosey_event_e2e_seconds", "Event timestamp (or stream time) to commit.",
            buckets=E2E_BUCKETS, registry=r)
        self.consumer_pending = Gauge(
            "rosey_consumer_pending", "Events in the stream not yet delivered to the consumer.",
            registry=r)
        self.queries = Counter(
            "rosey_queries", "Query requests answered, by subject and outcome.",
            ["subject", "outcome"], registry=r)
        self.nats_connected = Gauge(
            "rosey_nats_connected", "1 while connected to NATS.", registry=r)
        self.nats_permission_errors = Counter(
            "rosey_nats_permission_errors", "Publishes or subscriptions NATS refused to this "
            "identity (permissions violations).", registry=r)
        self.jetstream_enabled = Gauge(
            "rosey_jetstream_enabled",
            "1 when events arrive through the durable JetStream consumer, 0 in core fallback.",
            registry=r)
        self.nats_reconnects = Counter(
            "rosey_nats_reconnects", "Reconnections to NATS.", registry=r)
        self.consumer_restarts = Counter(
            "rosey_consumer_restarts", "Times the pull subscription was recreated.", registry=r)
        self.apply_errors = Counter(
            "rosey_db_apply_errors", "Batches rolled back because the database failed.",
            registry=r)
        self.ready = Gauge(
            "rosey_ready", "1 while /readyz answers 200 (all readiness checks pass).",
            registry=r)
        self._backups(r)
        self._retention(r)
        for subject in contract.STREAM_SUBJECTS:
            self.events_processed.labels(subject)
            self.events_redelivered.labels(subject)
            for reason in sorted(BadPayload.REASONS):
                self.events_rejected.labels(subject, reason)
        for subject in contract.ALL_QUERY_SUBJECTS:
            for outcome in QUERY_OUTCOMES:
                self.queries.labels(subject, outcome)

    def _retention(self, r: CollectorRegistry) -> None:
        self.rows_pruned = Counter(
            "rosey_db_rows_pruned", "Rows deleted by the retention settings, by table.",
            ["table"], registry=r)
        self.replay_gap = Counter(
            "rosey_db_replay_gap_events", "Events the database is missing that the stream no "
            "longer holds (found when it was behind its consumer, e.g. after a restore).",
            registry=r)
        for table in ("recent_chat", "user_count_history"):
            self.rows_pruned.labels(table)

    def _backups(self, r: CollectorRegistry) -> None:
        self.backups = Counter(
            "rosey_backups", "Backups written and checked, by target (dir, s3).", ["target"],
            registry=r)
        self.backup_failures = Counter(
            "rosey_backup_failures", "Backups that failed, by target and reason (missing, full, "
            "read_only, integrity, upload, error).", ["target", "reason"], registry=r)
        self.backup_last_success = Gauge(
            "rosey_backup_last_success_timestamp_seconds",
            "When the newest good backup was taken (0: none yet).", registry=r)
        self.backup_age = Gauge(
            "rosey_backup_age_seconds", "Seconds since the newest good backup was taken "
            "(NaN: none yet).", registry=r)
        self.backup_size = Gauge(
            "rosey_backup_last_bytes", "Size of the newest good backup.", registry=r)
        self.backup_seq = Gauge(
            "rosey_backup_last_stream_sequence",
            "The stream sequence the newest good backup covers.", registry=r)
        self.backup_seconds = Gauge(
            "rosey_backup_last_duration_seconds", "Time the newest backup took to write, check "
            "and upload.", registry=r)
        self.backup_interval = Gauge(
            "rosey_backup_interval_seconds", "Configured time between scheduled backups (0: "
            "backups off or on demand only); the stale-backup alert compares against it.",
            registry=r)
        for target in ("dir", "s3"):
            self.backups.labels(target)
            for reason in sorted(BackupError.REASONS - {"disabled", "busy"}):
                self.backup_failures.labels(target, reason)
        self._last_backup = 0.0
        self.backup_age.set_function(
            lambda: time.time() - self._last_backup if self._last_backup else math.nan)

    def backup_taken(self, *, created: float, size: int, seq: int, seconds: float) -> None:
        """The newest good backup's figures (a backup written and checked, or found at start)."""
        self._last_backup = created
        self.backup_last_success.set(created)
        self.backup_size.set(size)
        self.backup_seq.set(seq)
        self.backup_seconds.set(seconds)

    def activity(self) -> dict[str, float]:
        """Running totals for the ``dbservice_activity`` line."""
        return {
            "events_applied": _sum(self.events_processed, "_total"),
            "events_rejected": _sum(self.events_rejected, "_total"),
            "events_redelivered": _sum(self.events_redelivered, "_total"),
            "batches": _sum(self.batch_size, "_count"),
            "apply_errors": _sum(self.apply_errors, "_total"),
            "queries_ok": _sum(self.queries, "_total", outcome="ok"),
            "queries_failed": _not_ok(self.queries),
        }


class BotMetrics:
    """The bot's metrics."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._events(self.registry)
        self._connections(self.registry)
        self._commands(self.registry)
        self._automod(self.registry)

    def _automod(self, r: CollectorRegistry) -> None:
        """Automatic moderation (docs/automod.md) and raid mode."""
        self.automod_hits = Counter(
            "rosey_automod_hits", "Automatic moderation rule hits, by rule, action and mode "
            "(live: acted on; dry: only recorded).", ["rule", "action", "mode"], registry=r)
        self.automod_reversals = Counter(
            "rosey_automod_reversals", "Automatic punishments a moderator lifted within the "
            "reversal window, by rule.", ["rule"], registry=r)
        self.automod_eval_seconds = Histogram(
            "rosey_automod_eval_seconds", "Time to judge one chat line or playlist item "
            "against every rule.",
            buckets=(1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 1e-3, 1e-2, 0.1), registry=r)
        self.automod_rules = Gauge(
            "rosey_automod_rules", "Automatic moderation rules in force.", registry=r)
        self.automod_reloads = Counter(
            "rosey_automod_reloads", "Rules file reloads, by result (ok, failed: the old rules "
            "stay in force).", ["result"], registry=r)
        for result in ("ok", "failed"):
            self.automod_reloads.labels(result)
        self.raid_active = Gauge(
            "rosey_raid_active", "1 while raid mode holds CyTube's protections on.", registry=r)

    def _events(self, r: CollectorRegistry) -> None:
        """The outbox and JetStream, and the queries the bot asks."""
        self.publish_seconds = Histogram(
            "rosey_event_publish_seconds",
            "Time from handing an event to the outbox until JetStream acknowledged it.",
            ["subject"], buckets=LATENCY_BUCKETS, registry=r)
        self.events_published = Counter(
            "rosey_events_published", "Events acknowledged by JetStream.", ["subject"], registry=r)
        self.events_dropped = Counter(
            "rosey_events_dropped", "Events that were never delivered, by reason.",
            ["subject", "reason"], registry=r)
        self.events_out_of_order = Counter(
            "rosey_events_out_of_order",
            "Acknowledged events whose stream sequence was not above the previous one's "
            "(an earlier event of the same window was stored after them).",
            ["subject"], registry=r)
        self.outbox_depth = Gauge(
            "rosey_outbox_depth", "Events waiting in the bot's outbox.", registry=r)
        self.queries = Counter(
            "rosey_bot_queries", "Queries the bot sent to the DatabaseService, by outcome.",
            ["subject", "outcome"], registry=r)
        for subject in contract.ALL_QUERY_SUBJECTS:
            for outcome in BOT_QUERY_OUTCOMES:
                self.queries.labels(subject, outcome)
        for subject in contract.STREAM_SUBJECTS:
            self.publish_seconds.labels(subject)
            self.events_published.labels(subject)
            self.events_out_of_order.labels(subject)
            for reason in DROP_REASONS:
                self.events_dropped.labels(subject, reason)

    def _connections(self, r: CollectorRegistry) -> None:
        """CyTube and NATS, the channel, and readiness."""
        self.cytube_connected = Gauge(
            "rosey_cytube_connected", "1 while joined to the CyTube channel.", registry=r)
        self.cytube_reconnects = Counter(
            "rosey_cytube_reconnects", "Reconnections to CyTube.", registry=r)
        self.cytube_bad_frames = Counter(
            "rosey_cytube_bad_frames", "CyTube events the bot reads whose payload broke their "
            "shape (ignored); event is CyTube's name for it.", ["event"], registry=r)
        self.nats_connected = Gauge(
            "rosey_nats_connected", "1 while connected to NATS.", registry=r)
        self.nats_permission_errors = Counter(
            "rosey_nats_permission_errors", "Publishes or subscriptions NATS refused to this "
            "identity (permissions violations).", registry=r)
        self.chat_messages = Counter(
            "rosey_chat_messages", "Chat messages seen in the channel (history replay excluded).",
            registry=r)
        self.channel_users = Gauge(
            "rosey_channel_users", "Users in the channel's userlist.", registry=r)
        self.ready = Gauge(
            "rosey_ready", "1 while /readyz answers 200 (all readiness checks pass).",
            registry=r)
        self.bot_rank = Gauge(
            "rosey_bot_rank", "The bot's own effective rank in the channel (-1 before login).",
            registry=r)
        self.can_moderate = Gauge(
            "rosey_bot_can_moderate",
            "1 while the bot's rank and the channel's permissions allow every moderator "
            "command; 0 while some are refused before trying.", registry=r)

    def _commands(self, r: CollectorRegistry) -> None:
        """Moderators' commands and the moderation record."""
        self.pm_commands = Counter(
            "rosey_pm_commands", "Moderator PM commands, by command and result.",
            ["command", "result"], registry=r)
        self.pm_command_seconds = Histogram(
            "rosey_pm_command_seconds", "Time to run a moderator command and send its reply.",
            buckets=LATENCY_BUCKETS, registry=r)
        for command in (*BOT_COMMANDS, "unknown"):
            for result in ("success", "error"):
                self.pm_commands.labels(command, result)
        self.moderation_actions = Counter(
            "rosey_moderation_actions",
            "Moderation actions recorded by the bot, by kind, origin (command, native, "
            "escalation, expiry, automod) and result.", ["action", "origin", "result"],
            registry=r)
        for action in contract.MODERATION_KINDS:
            for origin in contract.MODERATION_ORIGINS:
                self.moderation_actions.labels(action, origin, "success")
        self.punishments_active = Gauge(
            "rosey_punishments_active",
            "Timed punishments the bot has scheduled to lift, by kind.", ["kind"], registry=r)
        for kind in contract.PUNISHMENT_KINDS:
            self.punishments_active.labels(kind)
        self.punishment_lifts = Counter(
            "rosey_punishment_lifts",
            "Timed punishments the bot lifted: on_time (within the grace), late (e.g. it was "
            "away when they ran out) or failed (reported, tried again).", ["timing"],
            registry=r)
        for timing in LIFT_TIMINGS:
            self.punishment_lifts.labels(timing)
        self.web_links = Counter(
            "rosey_bot_web_links", "Login links to the web page (docs/web.md), by event: "
            "issued, redeemed, refused (unknown, used, expired or rank lost).", ["event"],
            registry=r)
        for event in WEB_LINK_EVENTS:
            self.web_links.labels(event)

    def activity(self) -> dict[str, float]:
        """Running totals for the ``bot_activity`` line."""
        return {
            "events_published": _sum(self.events_published, "_total"),
            "events_dropped": _sum(self.events_dropped, "_total"),
            "chat_messages": _sum(self.chat_messages, "_total"),
            "pm_commands": _sum(self.pm_commands, "_total"),
            "pm_command_errors": _sum(self.pm_commands, "_total", result="error"),
            "queries_failed": _not_ok(self.queries),
        }


class WebMetrics:
    """The web process's metrics (docs/web.md)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "rosey_web_requests", "HTTP requests answered, by page and status code.",
            ["page", "status"], registry=r)
        self.request_seconds = Histogram(
            "rosey_web_request_seconds", "Time to answer one request, by page.", ["page"],
            buckets=LATENCY_BUCKETS, registry=r)
        self.logins = Counter(
            "rosey_web_logins", "Login links opened, by result: ok (a session began), "
            "refused (the bot refused the link), rate_limited, unavailable (the bot did not "
            "answer).", ["result"], registry=r)
        self.sessions_refused = Counter(
            "rosey_web_sessions_refused", "Moderator requests refused, by reason: no_session, "
            "expired, rank_lost (the session ended), rank_unconfirmed (the bot did not "
            "answer the rank check), absent (not in the channel).", ["reason"], registry=r)
        self.sessions = Gauge("rosey_web_sessions", "Live moderator sessions.", registry=r)
        self.queries = Counter(
            "rosey_web_queries", "Requests the web process sent over NATS, by subject and "
            "outcome.", ["subject", "outcome"], registry=r)
        self.nats_connected = Gauge(
            "rosey_nats_connected", "1 while connected to NATS.", registry=r)
        self.nats_permission_errors = Counter(
            "rosey_nats_permission_errors", "Publishes or subscriptions NATS refused to this "
            "identity (permissions violations).", registry=r)
        self.ready = Gauge(
            "rosey_ready", "1 while /readyz answers 200 (all readiness checks pass).",
            registry=r)
        for page in WEB_PAGES:
            self.request_seconds.labels(page)
            self.requests.labels(page, "200")
        for result in WEB_LOGIN_RESULTS:
            self.logins.labels(result)
        for reason in WEB_REFUSALS:
            self.sessions_refused.labels(reason)
        for subject in WEB_REQUEST_SUBJECTS:
            for outcome in BOT_QUERY_OUTCOMES:
                self.queries.labels(subject, outcome)

    def activity(self) -> dict[str, float]:
        """Running totals for the ``web_activity`` line."""
        return {
            "requests": _sum(self.requests, "_total"),
            "logins": _sum(self.logins, "_total", result="ok"),
            "sessions_refused": _sum(self.sessions_refused, "_total"),
            "queries_failed": _not_ok(self.queries),
        }


async def log_activity(event: str, totals: Callable[[], Mapping[str, float]], stop: asyncio.Event,
                       interval: float = ACTIVITY_INTERVAL_SECONDS) -> None:
    """Until ``stop`` is set, every ``interval`` seconds log ``event`` at INFO with how much each
    of ``totals()`` grew since the previous line; skip intervals where nothing changed. A last
    line covers the part interval before ``stop``."""
    last = dict(totals())
    while True:
        try:
            await asyncio.wait_for(stop.wait(), interval)
        except TimeoutError:
            pass
        now = dict(totals())
        grew = {name: round(value - last.get(name, 0.0)) for name, value in now.items()}
        if any(grew.values()):
            log.info(event, interval_seconds=interval, **grew)
        last = now
        if stop.is_set():
            return


# --- the HTTP side ---------------------------------------------------------------------------
class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


class MetricsServer:
    """``/metrics``, ``/healthz`` and ``/readyz`` on one port, served from a daemon thread.

    Parameters:
        registry: the registry ``/metrics`` exposes.
        ready: called for ``/readyz``; must only read simple, thread-safe values.
        detail: optional facts listed under the checks in ``/readyz`` (never gating it), read
            the same way.
        host, port: where to listen; port 0 picks a free one (read it back from ``.port``).
        busy_retry_seconds: how long a port in use is tried again before giving up. A process
            restarted on its port right after a SIGKILL finds it held for about a second by
            the dying one (its sockets close after its last thread); this runs once, at start.

    Raises:
        ListenError: the port is in use or may not be bound (a ConfigError: the CLI exits 2).
    """

    PATHS = ("/metrics", "/healthz", "/readyz")

    def __init__(self, *, registry: CollectorRegistry, ready: ReadyCheck,
                 host: str = "0.0.0.0", port: int = 0,
                 detail: Callable[[], Mapping[str, str]] | None = None,
                 busy_retry_seconds: float = 5.0) -> None:
        self._metrics_app = make_wsgi_app(registry)
        self._ready = ready
        self._detail = detail
        self._server = self._listen(host, port, busy_retry_seconds)
        self.port: int = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="rosey-metrics")

    def _listen(self, host: str, port: int, busy_retry_seconds: float) -> _ThreadingWSGIServer:
        deadline = time.monotonic() + busy_retry_seconds
        said = False
        while True:
            try:
                return make_server(host, port, self._app, _ThreadingWSGIServer,
                                   handler_class=_QuietHandler)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE and port and time.monotonic() < deadline:
                    if not said:
                        log.info("metrics_port_busy_retrying", host=host, port=port,
                                 seconds=busy_retry_seconds)
                        said = True
                    time.sleep(0.1)
                    continue
                raise ListenError(f"cannot serve metrics on {host}:{port}: "
                                  f"{exc.strerror or exc} (choose another metrics port)") from None

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok\n"]
        if path == "/readyz":
            ok, checks = self._ready()
            body = "".join(f"{name}: {'ok' if good else 'fail'}\n"
                           for name, good in sorted(checks.items()))
            if self._detail is not None:  # facts beside the checks; they do not gate
                body += "".join(f"{name}: {value}\n" for name, value in self._detail().items())
            start_response("200 OK" if ok else "503 Service Unavailable",
                           [("Content-Type", "text/plain")])
            return [body.encode() or b"ok\n"]
        if path == "/metrics":
            return self._metrics_app(environ, start_response)  # type: ignore[no-any-return]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [f"not found; try {', '.join(self.PATHS)}\n".encode()]

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextlib.asynccontextmanager
async def activity_logged(event: str, totals: Callable[[], Mapping[str, float]],
                          interval: float = ACTIVITY_INTERVAL_SECONDS) -> AsyncIterator[None]:
    """Run :func:`log_activity` while the body runs. The last line is written once the body has
    returned, so it also counts the work done while the body shut down (a DatabaseService drains
    its batch in flight after SIGTERM); on an error the logger is just cancelled."""
    finished = asyncio.Event()
    task = asyncio.create_task(log_activity(event, totals, finished, interval), name=event)
    try:
        yield
    except BaseException:
        task.cancel()
        raise
    finally:
        finished.set()
        await asyncio.gather(task, return_exceptions=True)
