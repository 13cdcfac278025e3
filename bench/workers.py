"""The processes a benchmark starts: ``python -m bench.workers <role> ...``.

Each measured party runs in its own process, as in production, so the process that keeps time
(``bench.run``) never competes with it for the event loop:

- ``naive``: the original design, the reference floor: core subscriptions, and every event
  decoded, applied and committed in its own SQLite transaction on the event loop.
- ``ceiling``: JetStream pull fetch + ack with no storage at all, the bare ceiling.
- ``db``: the real DatabaseService (as ``rosey-db`` runs it); with ``--fine-e2e``
  ``rosey_event_e2e_seconds`` gets 0.5 ms buckets, so its quantiles are read to 0.5 ms.
- ``bot``: the bot's real :class:`~rosey.bot.publisher.Publisher`, fed at a steady rate with
  the publish time stamped into each payload (``timestamp``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import time
from pathlib import Path

from nats.aio.msg import Msg
from prometheus_client import CollectorRegistry, Histogram

from bench.common import connect, event_bodies, stamped, write_json
from rosey import contract
from rosey.config import DbSettings, retention_settings
from rosey.metrics import BotMetrics, DbMetrics

#: 0.5 ms steps to 100 ms, then the production edges above
FINE_E2E_BUCKETS = tuple(round(0.0005 * i, 4) for i in range(1, 201)) + (
    0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


# --- naive: the reference floor ------------------------------------------------------------
async def naive(args: argparse.Namespace) -> None:
    from rosey.dbservice.ingest import incoming_from
    from rosey.store.schema import configure_connection, migrate
    from rosey.store.writes import apply_event

    conn = sqlite3.connect(args.db_path, isolation_level=None)
    configure_connection(conn, writer=True)
    migrate(conn)
    nc = await connect(args.nats_url, "bench-naive")
    done = asyncio.Event()
    state = {"count": 0, "first": 0.0, "last": 0.0}

    async def on_msg(msg: Msg) -> None:
        if state["count"] == 0:
            state["first"] = time.monotonic()
        item = incoming_from(msg.subject, msg.data, seq=None, received=time.time())
        assert item.event is not None, item.rejection  # the bench mix is valid
        conn.execute("BEGIN IMMEDIATE")
        apply_event(conn, item.event, int(item.at))
        conn.execute("COMMIT")
        state["count"] += 1
        if state["count"] >= args.count:
            state["last"] = time.monotonic()
            done.set()

    for subject in contract.EVENT_SUBJECTS:
        await nc.subscribe(subject, cb=on_msg, pending_msgs_limit=args.count + 1000,
                           pending_bytes_limit=1 << 30)
    await nc.flush()
    Path(args.ready).touch()
    await done.wait()
    write_json(Path(args.out), {"count": state["count"],
                                "seconds": state["last"] - state["first"]})
    await nc.close()
    conn.close()


# --- ceiling: fetch + one ack per batch, no storage ----------------------------------------
async def ceiling(args: argparse.Namespace) -> None:
    """Its durable has ``AckPolicy.ALL`` (``consumer_config``): acking a batch's last message
    acknowledges the batch, as the DatabaseService does."""
    import nats.errors

    nc = await connect(args.nats_url, "bench-ceiling")
    js = nc.jetstream(timeout=5.0)
    psub = await js.pull_subscribe_bind(durable=args.durable, stream=contract.STREAM_NAME)
    acked = 0
    while acked < args.count:
        try:
            msgs = await psub.fetch(args.batch, timeout=1.0)
        except nats.errors.TimeoutError:
            continue
        await msgs[-1].ack()
        acked += len(msgs)
    await nc.flush()
    await nc.close()


# --- db: the real DatabaseService, finer e2e buckets ---------------------------------------
class FineDbMetrics(DbMetrics):
    """The service's metrics with ``rosey_event_e2e_seconds`` on 0.5 ms buckets."""

    def __init__(self) -> None:
        super().__init__(CollectorRegistry())
        self.registry.unregister(self.e2e_seconds)
        self.e2e_seconds = Histogram(
            "rosey_event_e2e_seconds", "Event timestamp (or stream time) to commit.",
            buckets=FINE_E2E_BUCKETS, registry=self.registry)


def db(args: argparse.Namespace) -> None:
    from rosey.dbservice.service import DatabaseService
    from rosey.log import configure_logging
    from rosey.running import run_until_signalled

    configure_logging("rosey-db", level="warning", json=True)
    settings = DbSettings(nats_url=args.nats_url, db_path=Path(args.db_path),
                          metrics_port=args.metrics_port, metrics_host="127.0.0.1",
                          batch_size=args.batch,
                          retention=retention_settings(os.environ))  # ROSEY_RETAIN_*

    async def serve(stop: asyncio.Event) -> None:
        metrics = FineDbMetrics() if args.fine_e2e else DbMetrics()
        async with DatabaseService(settings=settings, metrics=metrics, stop=stop):
            await stop.wait()

    asyncio.run(run_until_signalled(serve))


# --- bot: the real Publisher at a steady rate ----------------------------------------------
async def bot(args: argparse.Namespace) -> None:
    from rosey.bot.publisher import Publisher
    from rosey.log import configure_logging

    configure_logging("rosey-bot", level="warning", json=True)
    nc = await connect(args.nats_url, "bench-bot")
    metrics = BotMetrics()
    # call times in 1 us buckets, preallocated: nothing in this process grows with the run
    calls = [0] * 10_001
    max_depth = 0
    bodies = event_bodies(None, seed=7)
    total = int(args.rate * args.seconds)
    async with Publisher(js=nc.jetstream(), metrics=metrics) as pub:
        started = time.monotonic()
        sent = 0
        while sent < total:
            due = min(total, int((time.monotonic() - started) * args.rate) + 1)
            while sent < due:
                event = stamped(*next(bodies))
                t = time.perf_counter_ns()
                pub.publish(event)
                calls[min(10_000, (time.perf_counter_ns() - t) // 1000)] += 1
                sent += 1
            max_depth = max(max_depth, pub.depth)
            await asyncio.sleep(max(0.0, sent / args.rate - (time.monotonic() - started)))
        await asyncio.wait_for(pub.flush(), 60)
    write_json(Path(args.out), {
        "sent": sent, "seconds": time.monotonic() - started, "max_depth": max_depth,
        "call_p50_ns": _counted_percentile(calls, 50) * 1000,
        "call_p99_ns": _counted_percentile(calls, 99) * 1000,
        "dropped": sum(s.value for family in metrics.registry.collect()
                       for s in family.samples if s.name == "rosey_events_dropped_total"),
    })
    await nc.close()


def _counted_percentile(counts: list[int], q: float) -> int:
    """Nearest-rank percentile of values given as counts per value (the upper edge: +1)."""
    rank = q / 100 * sum(counts)
    seen = 0
    for value, count in enumerate(counts):
        seen += count
        if seen >= rank:
            return value + 1
    return len(counts)


def main() -> None:
    p = argparse.ArgumentParser(prog="bench.workers")
    sub = p.add_subparsers(dest="role", required=True)
    n = sub.add_parser("naive")
    n.add_argument("--nats-url", required=True)
    n.add_argument("--db-path", required=True)
    n.add_argument("--count", type=int, required=True)
    n.add_argument("--ready", required=True)
    n.add_argument("--out", required=True)
    c = sub.add_parser("ceiling")
    c.add_argument("--nats-url", required=True)
    c.add_argument("--durable", required=True)
    c.add_argument("--batch", type=int, required=True)
    c.add_argument("--count", type=int, required=True)
    d = sub.add_parser("db")
    d.add_argument("--nats-url", required=True)
    d.add_argument("--db-path", required=True)
    d.add_argument("--metrics-port", type=int, required=True)
    d.add_argument("--batch", type=int, default=DbSettings().batch_size)
    d.add_argument("--fine-e2e", action="store_true")
    b = sub.add_parser("bot")
    b.add_argument("--nats-url", required=True)
    b.add_argument("--rate", type=float, required=True)
    b.add_argument("--seconds", type=float, required=True)
    b.add_argument("--out", required=True)
    args = p.parse_args()
    if args.role == "db":
        db(args)
    else:
        asyncio.run({"naive": naive, "ceiling": ceiling, "bot": bot}[args.role](args))


if __name__ == "__main__":
    main()
