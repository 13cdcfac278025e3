"""Run Rosey's benchmarks and print one table: metric, value, same-run reference, target, verdict.

    .venv/bin/python -m bench                      # every part (about 4 minutes)
    .venv/bin/python -m bench --quick              # every part, small sizes (about a minute)
    .venv/bin/python -m bench --steady-seconds 600 # the 10-minute memory run
    .venv/bin/python -m bench --only throughput --events 100000 --repeat 5

Every part starts its own nats-server (Rosey's launcher, ``rosey.natsd``: a free port, JetStream
flushed before every acknowledgement as Rosey runs it; the ``sync`` part compares that with
nats-server's own 2-minute default) and keeps its JetStream store, logs and SQLite files under
``--workdir`` (a temp directory by default, removed at the end unless ``--keep``).
``tests/test_bench.py`` runs ``--quick`` at even smaller sizes, so a part that no longer runs
fails the suite; the figures are only ever read from a run by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench.common import Row, fmt_mib, fmt_ms, fmt_rate, fmt_us


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", default=",".join(PARTS),
                   help=f"comma-separated parts to run (default: {','.join(PARTS)}; sync:"
                        " JetStream's sync_interval always vs 2m, side by side)")
    p.add_argument("--events", type=int, default=50_000,
                   help="events pre-loaded for the ceiling and the durable ingest (50000)")
    p.add_argument("--naive-events", type=int, default=3_000,
                   help="events through the naive reference (3000; it commits each one)")
    p.add_argument("--batch", type=int, default=256,
                   help="fetch/commit batch size, ceiling and service alike (256, the default)")
    p.add_argument("--repeat", type=int, default=3,
                   help="alternating ceiling/service runs; medians are reported (3)")
    p.add_argument("--catchup-events", type=int, default=200_000,
                   help="backlog the catch-up part starts on (200000 chat lines)")
    p.add_argument("--catchup-users", type=int, default=1_000,
                   help="users those chat lines come from (1000)")
    p.add_argument("--recovery-rate", type=float, default=200,
                   help="events/s published across the SIGKILL in the recovery part (200)")
    p.add_argument("--recovery-seconds", type=float, default=9,
                   help="length of each recovery run; the kill comes a third of the way in (9)")
    p.add_argument("--startup-repeat", type=int, default=5,
                   help="starts of each process in the startup part (5)")
    p.add_argument("--roundtrip-samples", type=int, default=50,
                   help="moderator PMs per command in the roundtrip part (50)")
    p.add_argument("--publish-calls", type=int, default=100_000,
                   help="Publisher.publish calls timed (100000)")
    p.add_argument("--publish-rate", type=float, default=10_000,
                   help="calls per second offered while the drain runs (10000)")
    p.add_argument("--publish-burst", type=int, default=10,
                   help="calls between yields to the event loop (10)")
    p.add_argument("--automod-lines", type=int, default=200_000,
                   help="chat lines judged by the automod part")
    p.add_argument("--steady-rate", type=float, default=1_000,
                   help="events/s in the steady run (1000)")
    p.add_argument("--steady-seconds", type=float, default=30,
                   help="length of the steady run: latency and memory (30; 600 for the memory"
                        " target)")
    p.add_argument("--sync-events", type=int, default=50_000,
                   help="sync part: events the publisher drains and the catch-up backlog, per"
                        " sync_interval setting (50000)")
    p.add_argument("--sync-rate", type=float, default=500,
                   help="sync part: events/s in each steady run (500)")
    p.add_argument("--sync-seconds", type=float, default=20,
                   help="sync part: length of each steady run, one per setting (20)")
    _scale_arguments(p)
    p.add_argument("--quick", action="store_true",
                   help="small sizes for every part (about a minute): checks that each part"
                        " runs; the figures mean little")
    p.add_argument("--profile", type=Path,
                   help="write a cProfile of the first durable-ingest run to this file")
    p.add_argument("--workdir", type=Path, help="where files go (a temp dir by default)")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    return p


def _scale_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scale", type=float, default=1.0,
                   help="scale part: the year of data's size (1: 2,000,000 chat lines, 50,000"
                        " users, 100,000 moderation actions; 10: 20,000,000 chat lines, the"
                        " rest as at 1; below 1 every count shrinks). It also picks the"
                        " targets: 1x's up to 1, 10x's above (1)")
    p.add_argument("--scale-db", type=Path,
                   help="scale part: a year file to reuse (python -m bench.yeardata OUT.db"
                        " --scale N) instead of generating one into the work directory")
    p.add_argument("--scale-requests", type=int, default=200,
                   help="scale part: timed requests per query case and database (200)")
    p.add_argument("--retention-lines", type=int, default=300_000,
                   help="retention part: old chat lines pruned while events flow (300000)")
    p.add_argument("--retention-seconds", type=float, default=30,
                   help="retention part: length of each steady run, without and while pruning"
                        " (30)")
    p.add_argument("--scale-starts", type=int, default=3,
                   help="scale part: starts of rosey-db on each database (3)")


#: --quick: every part at a size that finishes in about a minute (flags given explicitly win)
QUICK = {"events": 10_000, "naive_events": 500, "repeat": 1, "publish_calls": 10_000,
         "automod_lines": 5_000,
         "steady_seconds": 5.0, "catchup_events": 20_000, "recovery_seconds": 4.5,
         "startup_repeat": 2, "roundtrip_samples": 10, "sync_events": 5_000,
         "sync_seconds": 3.0, "scale": 0.05, "scale_requests": 50, "scale_starts": 2,
         "retention_lines": 5_000, "retention_seconds": 5.0}


def _shrink(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    for name, value in QUICK.items():
        if getattr(args, name) == parser.get_default(name):
            setattr(args, name, value)


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


async def _throughput(args: argparse.Namespace, workdir: Path) -> list[Row]:
    from bench.throughput import run_throughput

    say(f"throughput: {args.events} events, batch {args.batch}, {args.repeat} runs each")
    t = await run_throughput(events_n=args.events, naive_n=args.naive_events,
                             batch=args.batch, repeat=args.repeat, workdir=workdir,
                             profile=args.profile, say=say)
    ceiling, ingest = t.ceiling_median, t.ingest_median
    ratio = ingest.rate / ceiling
    return [
        Row("naive service (core sub, 1 commit/event)", fmt_rate(t.naive_rate),
            "reference floor"),
        Row("bare ceiling (pull fetch + ack, no storage)", fmt_rate(ceiling),
            f"runs: {', '.join(f'{c:,.0f}' for c in t.ceiling)}"),
        Row("durable ingest (DatabaseService, committed)", fmt_rate(ingest.rate),
            f"{ratio:.2f} x ceiling; {ingest.rate / t.naive_rate:.1f} x naive"
            if t.naive_rate else f"{ratio:.2f} x ceiling",
            ">= 0.80 x ceiling", "PASS" if ratio >= 0.8 else "MISS"),
        Row("  ingest / ceiling per paired run", ", ".join(f"{r:.2f}" for r in t.ratios)),
        Row("  share of ingest time inside apply_batch",
            f"{ingest.commit_seconds / ingest.window:.0%}",
            f"{ingest.processed / max(ingest.batches, 1):.0f} events/batch"),
    ]


async def _catchup(args: argparse.Namespace, workdir: Path) -> list[Row]:
    from bench.catchup import run_catchup

    say(f"catchup: {args.catchup_events} chat lines from {args.catchup_users} users,"
        f" from process start, {args.repeat} runs each")
    c = await run_catchup(events_n=args.catchup_events, users=args.catchup_users,
                          repeat=args.repeat, workdir=workdir, say=say)
    return [
        Row("catch-up ceiling from process start (fetch 500, 1 ack/batch)",
            fmt_rate(c.ceiling_rate),
            f"{statistics.median(c.ceiling):.2f} s; runs "
            + ", ".join(f"{t:.2f}" for t in c.ceiling)),
        Row("catch-up from process start (DatabaseService, last event queried)",
            fmt_rate(c.service_rate),
            f"{c.ratio:.2f} x ceiling (paired {', '.join(f'{r:.2f}' for r in c.ratios)});"
            f" {statistics.median(c.service):.2f} s",
            ">= 0.80 x ceiling", "PASS" if c.ratio >= 0.8 else "MISS"),
        Row("  CPU per event: service / ceiling process",
            f"{c.cpu_us_per_event(c.service_cpu):.1f} / {c.cpu_us_per_event(c.ceiling_cpu):.1f}"
            " us", "user + system, whole run incl. start-up; the service's SQLite writer is"
                   " a second thread"),
    ]


async def _recovery(args: argparse.Namespace, workdir: Path) -> list[Row]:
    from bench.recovery import run_recovery

    say(f"recovery: SIGKILL of the DatabaseService at {args.recovery_rate:,.0f} ev/s,"
        f" {args.repeat} runs")
    runs = await run_recovery(rate=args.recovery_rate, seconds=args.recovery_seconds,
                              repeat=args.repeat, workdir=workdir, say=say)
    worst = max(r.max_latency for r in runs)
    return [
        Row(f"max publish-to-committed across a SIGKILL @ {args.recovery_rate:,.0f} ev/s",
            fmt_ms(worst),
            "runs " + ", ".join(fmt_ms(r.max_latency) for r in runs)
            + "; kill -> first commit " + ", ".join(fmt_ms(r.restarted_in) for r in runs),
            "<= 3 s", "PASS" if worst <= 3.0 else "MISS"),
        Row("  events sent / applied exactly once",
            f"{sum(r.sent for r in runs)} / {sum(r.counts[1] for r in runs)}", "", "all",
            "PASS" if all(r.counts == (r.sent,) * 3 for r in runs) else "MISS"),
    ]


async def _startup(args: argparse.Namespace, workdir: Path) -> list[Row]:
    from bench.startup import run_startup

    say(f"startup: exec -> /readyz 200, {args.startup_repeat} starts of each process")
    st_ = await run_startup(repeat=args.startup_repeat, workdir=workdir, say=say)
    rows: list[Row] = []
    for name, times in (("rosey-db", st_.db), ("rosey-bot", st_.bot)):
        rows.append(Row(f"start-to-ready {name} (exec -> /readyz 200)",
                        fmt_ms(statistics.median(times)),
                        f"median of {len(times)}; max {fmt_ms(max(times))}", "reported"))
    return rows


async def _store(args: argparse.Namespace, workdir: Path) -> list[Row]:
    from bench.store import run_store

    say(f"store: apply_batch alone, {args.events // 2} events in batches of {args.batch}")
    st = await run_store(n=args.events // 2, batch=args.batch, workdir=workdir,
                         repeat=args.repeat)
    clean, refused = st.us_per_event["clean"], st.us_per_event["one_refused"]
    return [
        Row("  decode per event", f"{st.decode_us:.1f} us",
            "on the event loop, serial with fetch/ack"),
        Row("  Store.apply_batch per event", f"{clean:.1f} us",
            f"best of {args.repeat}; writer thread, incl. commit"),
        Row("  ... with one refused event per batch", f"{refused:.1f} us",
            f"{refused / clean:.1f} x: rollback, replay with savepoints, dead-letter one"),
    ]


async def _publish(args: argparse.Namespace, workdir: Path) -> list[Row]:
    from bench.publish import run_publish

    say(f"publish: {args.publish_calls} calls at {args.publish_rate:,.0f}/s,"
        f" bursts of {args.publish_burst}")
    p = await run_publish(calls=args.publish_calls, rate=args.publish_rate,
                          burst=args.publish_burst, workdir=workdir)
    rows: list[Row] = []
    rows += [
        Row("Publisher.publish() p99 (enqueue)", fmt_us(p.p99),
            f"p50 {fmt_us(p.p50)}, p99.9 {fmt_us(p.p999)}, max {fmt_us(p.max)}",
            "<= 50 us", "PASS" if p.p99 <= 50e-6 else "MISS"),
        Row("  first call after an idle wake, p99", fmt_us(p.cold_p99),
            f"p50 {fmt_us(p.cold_p50)} ({p.cold_calls} calls)", "<= 50 us",
            "PASS" if p.cold_p99 <= 50e-6 else "MISS"),
        Row("  publisher drain (window of 64 acks)", fmt_rate(p.drain_rate),
            f"outbox peaked at {p.max_depth}"),
    ]
    spaced = max(100, min(args.publish_calls // 10, 10_000))
    say(f"publish: {spaced} calls 1 ms apart (each one cold)")
    q = await run_publish(calls=spaced, rate=1_000, burst=1, workdir=workdir)
    rows.append(Row("Publisher.publish() p99, calls 1 ms apart", fmt_us(q.p99),
                    f"p50 {fmt_us(q.p50)}, p99.9 {fmt_us(q.p999)}, max {fmt_us(q.max)}",
                    "<= 50 us", "PASS" if q.p99 <= 50e-6 else "MISS"))
    return rows


async def _automod(args: argparse.Namespace, workdir: Path) -> list[Row]:
    from bench.automod import automod_rows, judging, run_automod
    from bench.publish import run_publish

    say(f"automod: {args.automod_lines} chat lines against 20 rules")
    rows: list[Row] = []
    rows += automod_rows(run_automod(lines=args.automod_lines,
                                     warmup=min(5_000, args.automod_lines // 10)))
    say(f"automod: publish() with and without judging each event, {args.publish_calls} "
        "calls each")
    off = await run_publish(calls=args.publish_calls, rate=args.publish_rate,
                            burst=args.publish_burst, workdir=workdir)
    on = await run_publish(calls=args.publish_calls, rate=args.publish_rate,
                           burst=args.publish_burst, workdir=workdir,
                           between=judging(args.publish_calls))
    rows.append(Row("Publisher.publish() p99 with automod judging every event",
                    fmt_us(on.p99), f"without, same run: {fmt_us(off.p99)}; p50 "
                    f"{fmt_us(on.p50)} vs {fmt_us(off.p50)}", "unchanged (<= 50 us)",
                    "PASS" if on.p99 <= max(50e-6, off.p99 * 1.2) else "MISS"))
    return rows


async def _roundtrip(args: argparse.Namespace, workdir: Path) -> list[Row]:
    from bench.roundtrip import run_roundtrip

    say(f"roundtrip: moderator PM -> reply, {args.roundtrip_samples} PMs per command")
    rt = await run_roundtrip(samples=args.roundtrip_samples, workdir=workdir, say=say)
    rows: list[Row] = []
    for command, what in (("info", "bot state"), ("stats", "a DatabaseService query")):
        rows.append(Row(f"moderator round trip PM -> reply, {command} ({what})",
                        fmt_ms(rt.median(command)),
                        f"p99 {fmt_ms(rt.p(command, 99))}, max"
                        f" {fmt_ms(max(rt.seconds[command]))}; audit: 1 publish() call",
                        "reported"))
    return rows


async def _steady(args: argparse.Namespace, workdir: Path) -> list[Row]:
    from bench.steady import run_steady

    say(f"steady: {args.steady_rate:,.0f} ev/s for {args.steady_seconds:.0f} s")
    s = await run_steady(rate=args.steady_rate, seconds=args.steady_seconds,
                         batch=args.batch, workdir=workdir,
                         sample_every=1.0 if args.steady_seconds <= 120 else 2.0,
                         warmup=min(10.0, args.steady_seconds / 5))
    rows: list[Row] = []
    rows += [
        Row(f"publish-to-committed p99 @ {s.rate:,.0f} ev/s", fmt_ms(s.p99),
            f"p50 {fmt_ms(s.p50)}, p99.9 {fmt_ms(s.p999)}, {s.within_25ms:.1%} <= 25 ms",
            "<= 25 ms", "PASS" if s.p99 <= 0.025 else "MISS"),
        Row("  events sent / committed", f"{s.sent} / {s.committed:.0f}",
            f"commit p50 {fmt_ms(s.commit_p50)}", "all",
            "PASS" if s.committed >= s.sent else "MISS"),
        Row("  bot publish() in that run, p50/p99",
            f"{s.bot['call_p50_ns'] / 1e3:.1f} / {s.bot['call_p99_ns'] / 1e3:.1f} us",
            f"outbox peak {s.bot['max_depth']:.0f}, dropped {s.bot['dropped']:.0f}"),
    ]
    for name, rss in (("DatabaseService", s.db_rss), ("bot publisher", s.bot_rss)):
        growth = rss.fitted_growth_kib
        limit = max(1024.0, 0.02 * rss.start)
        rows.append(Row(
            f"RSS {name} over {rss.span:.0f} s", f"{fmt_mib(rss.start)} -> {fmt_mib(rss.end)}",
            f"max {fmt_mib(rss.max)}, slope {rss.slope_kib_per_min:+.0f} KiB/min",
            f"fitted growth <= {fmt_mib(limit)}", "PASS" if growth <= limit else "MISS"))
    return rows


async def _sync(args: argparse.Namespace, workdir: Path) -> list[Row]:
    from bench.sync import SETTINGS, run_sync, sync_rows

    say(f"sync: sync_interval {' vs '.join(SETTINGS)}: publisher drain and catch-up of"
        f" {args.sync_events} events ({args.repeat} runs each), then"
        f" {args.sync_rate:,.0f} ev/s for {args.sync_seconds:.0f} s each")
    r = await run_sync(events_n=args.sync_events, users=args.catchup_users, rate=args.sync_rate,
                       seconds=args.sync_seconds, batch=args.batch, repeat=args.repeat,
                       workdir=workdir, say=say)
    return sync_rows(r, args.sync_rate)


async def _scale(args: argparse.Namespace, workdir: Path) -> list[Row]:
    from bench.scale import run_scale, scale_rows

    what = f"the file {args.scale_db}" if args.scale_db else f"a year of data at {args.scale:g}x"
    say(f"scale: every query subject ({args.scale_requests} requests per case) and"
        f" start-to-ready ({args.scale_starts} starts), on an empty database and on {what}")
    r = await run_scale(scale=args.scale, requests=args.scale_requests, starts=args.scale_starts,
                        workdir=workdir, db_path=args.scale_db, say=say)
    return scale_rows(r)


async def _retention(args: argparse.Namespace, workdir: Path) -> list[Row]:
    from bench.retention import run_retention_bench

    say(f"retention: {args.steady_rate:,.0f} ev/s for {args.retention_seconds:.0f} s, without"
        f" and while pruning {args.retention_lines:,} old chat lines")
    r = await run_retention_bench(old_lines=args.retention_lines, rate=args.steady_rate,
                                  seconds=args.retention_seconds, batch=args.batch,
                                  workdir=workdir, say=say)
    p, q = r.plain, r.pruning
    return [
        Row(f"publish-to-committed p99 @ {q.rate:,.0f} ev/s while pruning", fmt_ms(q.p99),
            f"without pruning {fmt_ms(p.p99)} (same run); p99.9 {fmt_ms(q.p999)} vs"
            f" {fmt_ms(p.p999)}", "<= 25 ms", "PASS" if q.p99 <= 0.025 else "MISS"),
        Row("  old chat lines pruned during the run",
            f"{r.old_lines - r.left:,} of {r.old_lines:,}",
            f"published {q.sent}, committed {q.committed:.0f}", "all",
            "PASS" if r.left == 0 and q.committed >= q.sent else "MISS"),
    ]


def _year_file(args: argparse.Namespace, workdir: Path) -> Path:
    """The year of data the scale part uses: ``--scale-db``, or the file it generated into the
    work directory (generated here when the scale part did not run)."""
    if args.scale_db:
        return Path(args.scale_db)
    path = workdir / f"year-{args.scale:g}x.db"
    if not path.exists():
        from bench.yeardata import generate

        say(f"  generating a year of data at {args.scale:g}x")
        generate(path, args.scale)
    return path


async def _yearfile(args: argparse.Namespace, workdir: Path) -> list[Row]:
    from bench.catchup import run_catchup
    from bench.migration import run_migration
    from rosey.store.schema import SCHEMA_VERSION

    year = _year_file(args, workdir)
    say(f"yearfile: catch-up of {args.catchup_events} events on an empty file and on"
        f" {year.name} ({args.repeat} runs each); the newest schema migration on {year.name}")
    empty = await run_catchup(events_n=args.catchup_events, users=args.catchup_users,
                              repeat=args.repeat, workdir=workdir, say=say)
    (workdir / "catchup-year").mkdir(exist_ok=True)  # a stream of its own
    full = await run_catchup(events_n=args.catchup_events, users=args.catchup_users,
                             repeat=args.repeat, workdir=workdir / "catchup-year", say=say,
                             base_db=year)
    change = full.ratio / empty.ratio - 1
    m = await run_migration(year, workdir=workdir, say=say)
    healthy = m.healthz.get(200, 0) == sum(m.healthz.values()) > 0
    return [
        Row(f"catch-up vs ceiling on {year.name}", f"{full.ratio:.2f} x ceiling",
            f"empty file {empty.ratio:.2f} x (same run): {change:+.1%}",
            "within 10 % of empty", "PASS" if abs(change) <= 0.10 else "MISS"),
        Row(f"schema migration {m.from_version} -> {SCHEMA_VERSION} on {year.name}",
            f"{m.migration_seconds:.1f} s", f"{m.rows:,} chat lines; exec -> /readyz 200"
            f" {m.ready_seconds:.1f} s", "finishes, time reported",
            "PASS" if m.migration_seconds > 0 else "MISS"),
        Row("  /healthz during the migration", f"200 in {m.healthz.get(200, 0)} of"
            f" {sum(m.healthz.values())} polls", "", "always 200",
            "PASS" if healthy else "MISS"),
        Row("  /readyz during the migration", f"503 x {m.readyz_polls}",
            m.readyz_said or "(never said why)", "says why",
            "PASS" if m.readyz_said else "MISS"),
    ]


async def _web(args: argparse.Namespace, workdir: Path) -> list[Row]:
    from bench.web import PAGES, p99, run_web_bench

    year = _year_file(args, workdir)
    say(f"web: every page's server time on an empty database and on {year.name}"
        f" ({args.scale_requests} requests each)")
    empty, full = await run_web_bench(year, requests=args.scale_requests, workdir=workdir,
                                      say=say)
    rows: list[Row] = []
    for name in PAGES:
        got = p99(full.pages[name])
        rows.append(Row(f"web page p99 @ {year.name}: {name}", fmt_ms(got),
                        f"empty {fmt_ms(p99(empty.pages[name]))}; p50"
                        f" {fmt_ms(full.pages[name][len(full.pages[name]) // 2])}",
                        "<= 50 ms", "PASS" if got <= 0.050 else "MISS"))
    got = p99(full.graph_query)
    rows.append(Row(f"  the graph's query (30 d, 360 points) p99 @ {year.name}", fmt_ms(got),
                    f"empty {fmt_ms(p99(empty.graph_query))}", "<= 20 ms",
                    "PASS" if got <= 0.020 else "MISS"))
    return rows


#: every part, in the order they run (a part's rows, given the arguments and the work directory)
RUNNERS: dict[str, Callable[[argparse.Namespace, Path], Awaitable[list[Row]]]] = {
    "throughput": _throughput,
    "catchup": _catchup,
    "recovery": _recovery,
    "startup": _startup,
    "store": _store,
    "publish": _publish,
    "automod": _automod,
    "roundtrip": _roundtrip,
    "steady": _steady,
    "sync": _sync,
    "scale": _scale,
    "yearfile": _yearfile,
    "retention": _retention,
    "web": _web,
}
PARTS = tuple(RUNNERS)


async def _run(args: argparse.Namespace, workdir: Path) -> list[Row]:
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise SystemExit(f"unknown part(s): {', '.join(sorted(unknown))}")
    rows: list[Row] = []
    for name, part in RUNNERS.items():
        if name in parts:
            rows += await part(args, workdir)
    return rows


def print_table(rows: list[Row]) -> None:
    headers = ("metric", "value", "reference (same run)", "target", "")
    cols = list(zip(*[(r.metric, r.value, r.reference, r.target, r.verdict) for r in rows],
                    strict=True)) if rows else [(), (), (), (), ()]
    widths = [max([len(h), *(len(c) for c in col)]) for h, col in zip(headers, cols, strict=True)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(v.ljust(w) for v, w in
                        zip((r.metric, r.value, r.reference, r.target, r.verdict), widths,
                            strict=True)))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.quick:
        _shrink(args, _parser())
    from rosey.log import configure_logging

    configure_logging("bench", level="warning", json=False)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="rosey-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    keep = bool(args.keep or args.workdir)
    try:
        rows = asyncio.run(_run(args, workdir))
    except BaseException:
        keep = True  # the processes' logs (ingest.log, nats-*.log, ...) say what went wrong
        raise
    finally:
        if keep:
            say(f"files kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    print_table(rows)
    say(f"\n(took {time.monotonic() - started:.0f} s)")
    return 0 if all(r.verdict != "MISS" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
