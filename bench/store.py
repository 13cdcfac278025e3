"""Where the commit time goes: ``Store.apply_batch`` alone, no NATS, per event.

The real :class:`~rosey.store.store.Store` applies ``n`` events of the bench mix in batches,
timed around each ``apply_batch`` call. Bench-only subclasses change one thing each, to show
what a change to the store would buy (they are sketches, not proposals to copy blindly):

- ``no_savepoint``: apply events without the per-event ``SAVEPOINT``/``RELEASE`` (a production
  version would fall back to the savepoint path for a batch only when an event fails);
- ``sync_normal``: ``PRAGMA synchronous = NORMAL`` (gives up durability of the last commits on
  power loss; the store chose FULL on purpose, so this is for scale only).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import events
from rosey.dbservice.handlers import incoming_from
from rosey.store.events import apply_event
from rosey.store.store import Incoming, Outcome, Store

__all__ = ["StoreResult", "run_store"]


class _NoSavepoint(Store):
    def _apply_one(self, conn: sqlite3.Connection, item: Incoming) -> Outcome:
        if item.seq is not None:
            if item.seq <= self._floor:
                return Outcome.DUPLICATE
            cur = conn.execute("INSERT OR IGNORE INTO applied_events (seq) VALUES (?)", (item.seq,))
            if cur.rowcount == 0:
                return Outcome.DUPLICATE
        assert item.event is not None
        apply_event(conn, item.event, item.received)
        return Outcome.APPLIED


class _SyncNormal(Store):
    def _open_writer(self) -> None:
        super()._open_writer()
        assert self._w is not None
        self._w.execute("PRAGMA synchronous = NORMAL")


STORES: dict[str, type[Store]] = {"real": Store, "no_savepoint": _NoSavepoint,
                                  "sync_normal": _SyncNormal}


@dataclass
class StoreResult:
    us_per_event: dict[str, float]
    decode_us: float


async def run_store(*, n: int, batch: int, workdir: Path, repeat: int = 3) -> StoreResult:
    """Best (lowest) of ``repeat`` alternating rounds per store: noise only ever adds."""
    raw = list(events(n, seed=5))
    decode = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        items = [incoming_from(s, d, seq=i + 1, received=time.time())
                 for i, (s, d) in enumerate(raw)]
        decode = min(decode, (time.perf_counter() - started) / n)
    out: dict[str, float] = {}
    for _ in range(repeat):
        for name, cls in STORES.items():
            path = workdir / f"store-{name}.db"
            path.unlink(missing_ok=True)
            async with cls(path) as store:
                spent = 0.0
                for k in range(0, n, batch):
                    t = time.perf_counter()
                    await store.apply_batch(items[k:k + batch])
                    spent += time.perf_counter() - t
            out[name] = min(out.get(name, float("inf")), spent / n * 1e6)
            await asyncio.sleep(0)
    return StoreResult(us_per_event=out, decode_us=decode * 1e6)
