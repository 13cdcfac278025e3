"""The SQLite store: one writer, one reader, each on its own thread.

:class:`Store` owns the database file. Writes go through :meth:`Store.apply_batch`, which
applies a whole batch in ONE transaction on the single writer thread and reports, per event,
whether it was applied, recognised as already applied, or dead-lettered. Queries run on a
separate reader connection (WAL lets them read while the writer commits), so a slow batch
never delays a reply and a query never holds up ingest.

Exactly-once: for events that come with a stream sequence, the sequence is recorded in
``applied_events`` in the same transaction as the event's effects. A redelivered event (the
service died between commit and acknowledgement, or an acknowledgement was lost) is found
there and skipped. Sequences at or below ``applied_floor`` are known to be applied; the floor
is advanced from the consumer's acknowledgement floor (:meth:`Store.advance_floor`), which
also prunes the table so it stays small.
"""

from __future__ import annotations

import asyncio
import enum
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import structlog

from rosey import contract
from rosey.config import RetentionSettings
from rosey.errors import BadPayload, LifecycleError, StoreError
from rosey.store.answers import run_query
from rosey.store.retention import prune_step
from rosey.store.schema import (
    BUSY_TIMEOUT_SECONDS,
    SCHEMA_VERSION,
    configure_connection,
    migrate,
    schema_version,
)
from rosey.store.writes import apply_event

__all__ = ["Store", "Incoming", "Outcome", "StoreState"]

log = structlog.get_logger()
T = TypeVar("T")


class Outcome(enum.Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


class StoreState(enum.Enum):
    UNOPENED = "unopened"
    OPEN = "open"
    CLOSED = "closed"


@dataclass(slots=True)
class Incoming:
    """One event as it arrived, decoded or refused.

    Parameters:
        subject: the NATS subject it arrived on.
        raw: the body bytes as received (kept in the dead-letter row when refused).
        received: Unix time used when the event has no timestamp of its own.
        seq: the JetStream stream sequence, or None for core-NATS deliveries.
        event: the decoded payload; None when ``rejection`` is set.
        rejection: why the body breaks the contract.
    """

    subject: str
    raw: bytes
    received: float
    seq: int | None = None
    event: contract.Event | None = None
    rejection: BadPayload | None = None

    @property
    def at(self) -> float:
        """The event's own timestamp, else the receive time (the contract's rule)."""
        ts = None if self.event is None else contract.event_time(self.event)
        return self.received if ts is None else ts


class Store:
    """The database file. Use as ``async with Store(path) as store:``.

    Parameters:
        path: the SQLite file; its directory is created when missing.
        busy_timeout: seconds a statement waits for a lock another connection holds before it
            fails with "database is locked" (a failing commit is retried by the caller).
        synchronous: "full" (every commit on disk before it returns) or "normal".
    """

    def __init__(self, path: Path | str, *, busy_timeout: float = BUSY_TIMEOUT_SECONDS,
                 synchronous: str = "full") -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self.synchronous = synchronous
        self.state = StoreState.UNOPENED
        self._writer_pool = ThreadPoolExecutor(1, thread_name_prefix="rosey-db-writer")
        self._reader_pool = ThreadPoolExecutor(1, thread_name_prefix="rosey-db-reader")
        self._w: sqlite3.Connection | None = None
        self._r: sqlite3.Connection | None = None
        self._floor = 0
        self.started_at_version = 0
        #: (from version, since when) while a schema migration runs, for ``/readyz``
        self.migrating: tuple[int, float] | None = None

    # --- lifecycle -------------------------------------------------------------------------
    async def open(self) -> Store:
        if self.state is not StoreState.UNOPENED:
            raise LifecycleError(f"cannot open a store that is {self.state.value}")
        await self._on_writer(self._open_writer)
        await self._on_reader(self._open_reader)
        self.state = StoreState.OPEN
        return self

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)

    def _open_writer(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = self._connect()
            configure_connection(conn, writer=True, busy_timeout=self.busy_timeout,
                                 synchronous=self.synchronous)
            version = schema_version(conn)
            if version < SCHEMA_VERSION:
                self.migrating = (version, time.time())
                started = time.monotonic()
            self.started_at_version = migrate(conn)
            if self.migrating is not None:
                log.info("schema_migration_finished", path=str(self.path),
                         from_version=version, to_version=SCHEMA_VERSION,
                         seconds=round(time.monotonic() - started, 3))
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open {self.path}: {exc}") from exc
        finally:
            self.migrating = None
        self._floor = int(conn.execute(
            "SELECT value FROM ingest_state WHERE key = 'applied_floor'").fetchone()[0])
        self._w = conn

    def _open_reader(self) -> None:
        conn = self._connect()
        configure_connection(conn, writer=False, busy_timeout=self.busy_timeout)
        conn.execute("PRAGMA query_only = ON")
        self._r = conn

    async def aclose(self) -> None:
        """Close both connections (checkpointing the WAL into the file); safe to repeat."""
        if self.state is not StoreState.OPEN:
            self.state = StoreState.CLOSED
            return
        self.state = StoreState.CLOSED
        await self._on_reader(self._close_reader)
        await self._on_writer(self._close_writer)
        self._reader_pool.shutdown(wait=True)
        self._writer_pool.shutdown(wait=True)

    def _close_reader(self) -> None:
        if self._r is not None:
            self._r.close()
            self._r = None

    def _close_writer(self) -> None:
        if self._w is not None:
            try:
                self._w.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.DatabaseError as exc:
                log.warning("wal_checkpoint_failed", error=str(exc))
            self._w.close()
            self._w = None

    async def __aenter__(self) -> Store:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _on_writer(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._writer_pool, fn, *args)

    async def _on_reader(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._reader_pool, fn, *args)

    def _require_open(self) -> None:
        if self.state is not StoreState.OPEN:
            raise StoreError(f"the store is {self.state.value}")

    # --- writes ----------------------------------------------------------------------------
    async def apply_batch(self, items: list[Incoming]) -> list[Outcome]:
        """Apply ``items`` in one transaction; raise StoreError (nothing applied) on a DB fault."""
        self._require_open()
        return await self._on_writer(self._apply_batch, items)

    #: errors that mean "this one event cannot be stored", not "the database is failing"
    _EVENT_ERRORS = (sqlite3.IntegrityError, sqlite3.InterfaceError, ValueError, OverflowError)

    def _apply_batch(self, items: list[Incoming]) -> list[Outcome]:
        """Fast path without per-event savepoints; if one event cannot be stored, the batch
        is rolled back and replayed with a savepoint around each event, so that event alone
        is dead-lettered (bench/: savepoints cost more than the events themselves)."""
        try:
            return self._run_batch(items, isolate=False)
        except self._EVENT_ERRORS:
            return self._run_batch(items, isolate=True)

    def _run_batch(self, items: list[Incoming], *, isolate: bool) -> list[Outcome]:
        conn = self._w
        assert conn is not None
        outcomes: list[Outcome] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for item in items:
                outcomes.append(self._apply_one(conn, item, isolate=isolate))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(exc, self._EVENT_ERRORS) and not isolate:
                raise
            raise StoreError(f"batch of {len(items)} rolled back: {exc}") from exc
        except self._EVENT_ERRORS:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return outcomes

    def _apply_one(self, conn: sqlite3.Connection, item: Incoming, *, isolate: bool) -> Outcome:
        if item.seq is not None:
            if item.seq <= self._floor:
                return Outcome.DUPLICATE
            cur = conn.execute("INSERT OR IGNORE INTO applied_events (seq) VALUES (?)", (item.seq,))
            if cur.rowcount == 0:
                return Outcome.DUPLICATE
        if item.rejection is not None:
            self._dead_letter(conn, item, item.rejection)
            return Outcome.REJECTED
        assert item.event is not None
        if not isolate:
            apply_event(conn, item.event, int(item.at))
            return Outcome.APPLIED
        conn.execute("SAVEPOINT event")
        try:
            apply_event(conn, item.event, int(item.at))
        except self._EVENT_ERRORS as exc:
            # this event cannot be stored (the database itself is fine): keep it aside
            conn.execute("ROLLBACK TO event")
            conn.execute("RELEASE event")
            item.rejection = BadPayload("apply_error", f"{type(exc).__name__}: {exc}")
            self._dead_letter(conn, item, item.rejection)
            return Outcome.REJECTED
        conn.execute("RELEASE event")
        return Outcome.APPLIED

    @staticmethod
    def _dead_letter(conn: sqlite3.Connection, item: Incoming, why: BadPayload) -> None:
        conn.execute(
            "INSERT INTO dead_letters (received, subject, stream_seq, reason, detail, payload)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (int(item.received), item.subject[:200], item.seq, why.reason, why.detail[:1000],
             item.raw))

    async def advance_floor(self, acked_up_to: int) -> int:
        """Every sequence <= ``acked_up_to`` is acknowledged, hence applied: prune and raise
        the floor. Returns the floor."""
        self._require_open()
        return await self._on_writer(self._advance_floor, acked_up_to)

    def _advance_floor(self, acked_up_to: int) -> int:
        if acked_up_to <= self._floor:
            return self._floor
        conn = self._w
        assert conn is not None
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("DELETE FROM applied_events WHERE seq <= ?", (acked_up_to,))
            conn.execute("UPDATE ingest_state SET value = ? WHERE key = 'applied_floor'",
                         (acked_up_to,))
            conn.execute("COMMIT")
        except sqlite3.Error:
            conn.execute("ROLLBACK")
            raise
        self._floor = acked_up_to
        return self._floor

    async def prune(self, settings: RetentionSettings, now: float) -> dict[str, int]:
        """One retention step (:func:`rosey.store.retention.prune_step`) in its own
        transaction; returns the rows deleted by table."""
        self._require_open()
        return await self._on_writer(self._prune, settings, now)

    def _prune(self, settings: RetentionSettings, now: float) -> dict[str, int]:
        conn = self._w
        assert conn is not None
        try:
            conn.execute("BEGIN IMMEDIATE")
            counts = prune_step(conn, settings, now)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreError(f"pruning failed: {exc}") from exc
        return counts

    async def reset_sequences(self) -> None:
        """Forget every recorded stream sequence (the stream was recreated)."""
        self._require_open()

        def reset() -> None:
            assert self._w is not None
            self._w.execute("BEGIN IMMEDIATE")
            self._w.execute("DELETE FROM applied_events")
            self._w.execute("UPDATE ingest_state SET value = 0 WHERE key = 'applied_floor'")
            self._w.execute("COMMIT")
            self._floor = 0
        await self._on_writer(reset)

    @property
    def applied_floor(self) -> int:
        return self._floor

    async def highest_applied(self) -> int:
        """The highest stream sequence this file has applied (0 for none)."""
        def read() -> int:
            assert self._w is not None
            row = self._w.execute("SELECT max(seq) FROM applied_events").fetchone()
            return max(self._floor, int(row[0] or 0))
        return await self._on_writer(read)

    # --- reads -----------------------------------------------------------------------------
    async def query(self, q: contract.QueryOf[contract.ReplyT]) -> contract.ReplyT:
        """Answer a contract query from the reader connection (StoreError when it fails)."""
        self._require_open()
        return await self._on_reader(self._query, q)

    def _query(self, q: contract.QueryOf[contract.ReplyT]) -> contract.ReplyT:
        assert self._r is not None
        try:
            return run_query(self._r, q)
        except sqlite3.Error as exc:
            raise StoreError(f"query failed: {exc}") from exc
