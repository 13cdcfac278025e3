"""The DatabaseService: the only process that touches the SQLite file.

Start-up order: metrics server (so ``/healthz`` answers at once), the store (migrated),
NATS (retried until it answers), the query responders, then ingest: the durable JetStream
consumer, or the core-subscription fallback when the server has no JetStream.

Shutdown (SIGTERM/SIGINT, or leaving ``async with``): stop taking messages, let the ingest
loop commit and acknowledge what it fetched, drain the query subscriptions and the
connection, close the file (checkpointing the WAL), stop the metrics server. A database that
fails at that point is not retried (shutdown stays bounded): under JetStream the batch stays
unacknowledged and comes back to the next run; the core fallback logs it as lost.
"""

from __future__ import annotations

import asyncio
import enum
import time

import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client

from rosey import contract
from rosey.bus import connect, with_message_context
from rosey.config import DbSettings
from rosey.contract.admin import ADMIN_BACKUP
from rosey.dbservice.backups import Backups
from rosey.dbservice.consumer import JetStreamConsumer
from rosey.dbservice.fallback import CoreSubscriber
from rosey.dbservice.responder import QueryResponder
from rosey.dbservice.retention import run_retention
from rosey.errors import ConnectAborted, LifecycleError
from rosey.metrics import DbMetrics, MetricsServer
from rosey.store.schema import BUSY_TIMEOUT_SECONDS, SCHEMA_VERSION
from rosey.store.store import Store, StoreState

__all__ = ["DatabaseService", "ServiceState", "run_database_service"]

log = structlog.get_logger()


class ServiceState(enum.Enum):
    UNOPENED = "unopened"
    OPENING = "opening"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


class DatabaseService:
    """Use as ``async with DatabaseService(settings=...) as svc:``.

    Parameters:
        settings: where NATS and the file are, the metrics port, stream and batch settings.
        metrics: the metrics to update (a fresh registry each when None).
        serve_metrics: start the HTTP metrics server (tests that don't need it pass False).
        stop: an event that, once set, stops the service (a signal handler's); also aborts
            the NATS connect loop during start-up.
        busy_timeout: seconds a statement waits for a SQLite lock held elsewhere
            (:class:`~rosey.store.store.Store`); it bounds one commit attempt, and so how long
            a stop with a failing database takes (tests of that bound pass a short one).
    """

    def __init__(self, *, settings: DbSettings, metrics: DbMetrics | None = None,
                 serve_metrics: bool = True, stop: asyncio.Event | None = None,
                 busy_timeout: float = BUSY_TIMEOUT_SECONDS) -> None:
        self.settings = settings
        self.metrics = metrics or DbMetrics()
        self.state = ServiceState.UNOPENED
        self.store = Store(settings.db_path, busy_timeout=busy_timeout,
                           synchronous=settings.synchronous)
        self.nc: Client | None = None
        self.ingest: JetStreamConsumer | CoreSubscriber | None = None
        self.metrics_server: MetricsServer | None = None
        self._serve_metrics = serve_metrics
        self._stop = stop if stop is not None else asyncio.Event()
        self._ingest_task: asyncio.Task[None] | None = None
        self.backups = Backups(settings=settings.backup, db_path=settings.db_path,
                               metrics=self.metrics)
        self._chores: list[asyncio.Task[None]] = []

    # --- readiness (read from the metrics thread: simple attributes only) -----------------
    def readiness(self) -> tuple[bool, dict[str, bool]]:
        checks = {
            "nats": bool(self.nc is not None and self.nc.is_connected),
            "database": self.store.state is StoreState.OPEN,
            "consumer": bool(self.ingest is not None and self.ingest.bound),
        }
        return all(checks.values()), checks

    def detail(self) -> dict[str, str]:
        """Facts ``/readyz`` lists under its checks: why the database is not open yet."""
        migrating = self.store.migrating
        if migrating is None:
            return {}
        version, since = migrating
        return {"database_state": f"migrating the schema from version {version} to "
                                  f"{SCHEMA_VERSION} for {time.time() - since:.0f} s"}

    @property
    def ready(self) -> bool:
        return self.readiness()[0]

    @property
    def jetstream(self) -> bool:
        return isinstance(self.ingest, JetStreamConsumer)

    # --- lifecycle -------------------------------------------------------------------------
    async def start(self) -> DatabaseService:
        if self.state is not ServiceState.UNOPENED:
            raise LifecycleError(f"cannot start a DatabaseService that is {self.state.value}")
        self.state = ServiceState.OPENING
        try:
            await self._start()
        except BaseException:
            await self.aclose()
            raise
        self.state = ServiceState.OPEN
        return self

    async def _start(self) -> None:
        s = self.settings
        # rosey_ready reads the /readyz answer at scrape time (on the metrics thread)
        self.metrics.ready.set_function(lambda: float(self.readiness()[0]))
        if self._serve_metrics:
            self.metrics_server = MetricsServer(registry=self.metrics.registry,
                                                ready=self.readiness, detail=self.detail,
                                                host=s.metrics_host,
                                                port=s.metrics_port).start()
            log.info("metrics_serving", port=self.metrics_server.port)
        await self.store.open()
        log.info("database_open", path=str(s.db_path),
                 migrated_from=self.store.started_at_version)
        self.nc = await connect(s.nats_url, name="rosey-dbservice",
                                connected=self.metrics.nats_connected,
                                reconnects=self.metrics.nats_reconnects,
                                on_reconnected=self._on_reconnected, stop=self._stop,
                                auth=s.nats_auth,
                                permission_errors=self.metrics.nats_permission_errors)
        responder = QueryResponder(store=self.store, metrics=self.metrics)
        for subject in contract.ALL_QUERY_SUBJECTS:
            await self.nc.subscribe(subject, queue=contract.QUEUE_GROUP,
                                    cb=with_message_context(responder.handle))
        if s.jetstream == "auto" and await self._has_jetstream():
            self.ingest = JetStreamConsumer(nc=self.nc, store=self.store, metrics=self.metrics,
                                            settings=s)
            self.metrics.jetstream_enabled.set(1)
            log.info("ingest_mode", mode="jetstream", stream=contract.STREAM_NAME,
                     consumer=contract.CONSUMER_NAME)
        else:
            self.ingest = CoreSubscriber(nc=self.nc, store=self.store, metrics=self.metrics,
                                         settings=s)
            self.metrics.jetstream_enabled.set(0)
            log.error("ingest_mode_core_fallback", mode="core", queue=contract.QUEUE_GROUP,
                      warning="JetStream is not available: events published while this service"
                              " is down are LOST (at-most-once)",
                      configured=s.jetstream)
        self._ingest_task = asyncio.create_task(self.ingest.run(self._stop), name="rosey-ingest")
        await self.nc.subscribe(ADMIN_BACKUP, queue=contract.QUEUE_GROUP,
                                cb=with_message_context(self.backups.handle))
        self._chores = [
            asyncio.create_task(self.backups.run(self._stop), name="rosey-backups"),
            asyncio.create_task(run_retention(self.store, s.retention, self.metrics, self._stop),
                                name="rosey-retention"),
        ]

    async def _has_jetstream(self) -> bool:
        assert self.nc is not None
        js = self.nc.jetstream(timeout=2.0)
        for attempt in range(3):
            try:
                await js.account_info()
                return True
            except (nats.errors.NoRespondersError, nats.js.errors.ServiceUnavailableError):
                return False  # nobody answers the JetStream API: the server runs without it
            except (TimeoutError, nats.errors.Error) as exc:
                log.warning("jetstream_probe_failed", attempt=attempt + 1, error=str(exc))
                await asyncio.sleep(0.5 * (attempt + 1))
        return False

    async def _on_reconnected(self) -> None:
        if isinstance(self.ingest, JetStreamConsumer):
            self.ingest.request_rebind()

    async def wait_ready(self, timeout: float = 10.0) -> None:
        """Wait until ingest is bound (for tests and start-up scripts)."""
        async def poll() -> None:
            while not self.ready:
                if self._ingest_task is not None and self._ingest_task.done():
                    self._ingest_task.result()
                await asyncio.sleep(0.02)
        await asyncio.wait_for(poll(), timeout)

    async def aclose(self) -> None:
        """Stop taking messages, commit what was fetched, close everything. Safe to repeat."""
        if self.state in (ServiceState.CLOSING, ServiceState.CLOSED):
            return
        self.state = ServiceState.CLOSING
        self._stop.set()
        if self._ingest_task is not None:
            try:
                await self._ingest_task
            except Exception as exc:
                log.exception("ingest_failed", error=str(exc))
        for chore in self._chores:  # a backup in progress finishes (its thread cannot stop)
            try:
                await chore
            except Exception as exc:
                log.exception("chore_failed", task=chore.get_name(), error=str(exc))
        if self.nc is not None and not self.nc.is_closed:
            try:
                await self.nc.drain()  # lets in-flight query replies finish, then closes
            except Exception as exc:
                log.debug("nats_drain_failed", error=str(exc))
                await self.nc.close()
        self.backups.close()
        await self.store.aclose()
        if self.metrics_server is not None:
            self.metrics_server.stop()
        self.state = ServiceState.CLOSED
        log.info("dbservice_stopped")

    async def __aenter__(self) -> DatabaseService:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


async def run_database_service(settings: DbSettings, stop: asyncio.Event, *,
                               metrics: DbMetrics | None = None) -> None:
    """Run until ``stop`` is set (the CLI's signal handler sets it)."""
    try:
        async with DatabaseService(settings=settings, stop=stop, metrics=metrics):
            await stop.wait()
    except ConnectAborted:
        log.info("dbservice_stopped_before_nats_answered")
