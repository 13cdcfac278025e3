"""Where the commit time goes: ``Store.apply_batch`` alone, no NATS, per event.

The real :class:`~rosey.store.store.Store` applies ``n`` events of the bench mix in batches,
timed around each ``apply_batch`` call, two ways:

- ``clean``: every event stores; the store's normal path (one transaction, no per-event
  savepoints).
- ``one_refused``: one chat line per batch is refused by the database (a trigger on
  ``recent_chat`` stands in for any constraint failure, as in ``tests/store``), so every batch
  takes the store's fallback: roll back, replay with a savepoint around each event, and
  dead-letter that event alone. This is what a batch with a poisoned event costs.

Decoding (the service's own decode into ``Incoming``) is timed separately: it runs on the
event loop, serially with fetch and ack.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import events
from rosey import contract
from rosey.dbservice.ingest import incoming_from
from rosey.store.store import Incoming, Outcome, Store

__all__ = ["StoreResult", "run_store"]

POISON = "bench: refused by the database"


@dataclass
class StoreResult:
    us_per_event: dict[str, float]
    decode_us: float


def _poison_one_per_batch(items: list[Incoming], batch: int) -> list[Incoming]:
    """The same events, with the first chat line of every batch replaced by one the trigger
    refuses (same subject, same sequence: the batch shape does not change)."""
    out = list(items)
    for start in range(0, len(out), batch):
        for k in range(start, min(start + batch, len(out))):
            item = out[k]
            if item.subject == contract.MESSAGE_LOG:
                body = {"username": "poisoner", "message": POISON}
                out[k] = incoming_from(item.subject, contract.encode(body), seq=item.seq,
                                       received=item.received)
                break
    return out


async def _prepare(path: Path, *, poisoned: bool) -> None:
    path.unlink(missing_ok=True)
    async with Store(path):  # creates the schema
        pass
    if poisoned:
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TRIGGER bench_poison BEFORE INSERT ON recent_chat"
                         f" WHEN NEW.message = '{POISON}' BEGIN SELECT RAISE(ABORT, 'poisoned'); END")
        conn.close()


async def _apply_all(path: Path, items: list[Incoming], batch: int) -> tuple[float, int]:
    """Seconds inside ``apply_batch`` for all ``items``, and how many were refused."""
    spent, refused = 0.0, 0
    async with Store(path) as store:
        for k in range(0, len(items), batch):
            t = time.perf_counter()
            outcomes = await store.apply_batch(items[k:k + batch])
            spent += time.perf_counter() - t
            refused += sum(o is Outcome.REJECTED for o in outcomes)
    return spent, refused


async def run_store(*, n: int, batch: int, workdir: Path, repeat: int = 3) -> StoreResult:
    """Best (lowest) of ``repeat`` alternating rounds per case: noise only ever adds."""
    raw = list(events(n, seed=5))
    decode = float("inf")
    items: list[Incoming] = []
    for _ in range(repeat):
        started = time.perf_counter()
        items = [incoming_from(s, d, seq=i + 1, received=time.time())
                 for i, (s, d) in enumerate(raw)]
        decode = min(decode, (time.perf_counter() - started) / n)
    cases = {"clean": items, "one_refused": _poison_one_per_batch(items, batch)}
    out: dict[str, float] = {}
    for _ in range(repeat):
        for name, case in cases.items():
            path = workdir / f"store-{name}.db"
            await _prepare(path, poisoned=name == "one_refused")
            spent, refused = await _apply_all(path, case, batch)
            expected = sum(a is not b for a, b in zip(items, case, strict=True))
            if refused != expected:  # the case did not measure what it claims
                raise RuntimeError(f"store bench {name}: {refused} refused, expected {expected}")
            out[name] = min(out.get(name, float("inf")), spent / n * 1e6)
            await asyncio.sleep(0)
    return StoreResult(us_per_event=out, decode_us=decode * 1e6)
