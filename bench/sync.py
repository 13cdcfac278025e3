"""What flushing before acknowledging costs: JetStream's ``sync_interval`` both ways, one run.

Rosey runs nats-server with ``sync_interval: always`` (:data:`rosey.natsd.SYNC_INTERVAL`): the
file store is fsynced before a publish is acknowledged. nats-server's own default, "2m",
acknowledges first and flushes on a 2-minute timer, so a power loss can take up to two minutes
of acknowledged events (docs/durability.md). This part measures three figures with each setting,
side by side, by running the existing parts with only the server's setting changed
(:func:`bench.common.nats_server`); nothing here measures by itself:

- publisher drain (:mod:`bench.publish`): ``events`` calls offered to the bot's real
  Publisher without pacing, so the drain rate is the publisher's own (64 acknowledgements in
  flight), not the offered rate;
- catch-up (:mod:`bench.catchup`): ``rosey-db`` draining a backlog of ``events`` chat lines from
  process start, with the bare ceiling; the backlog's own publish rate (a plain client, 512
  acknowledgements in flight) comes with it;
- publish-to-committed p99 at a steady ``rate`` (:mod:`bench.steady`): bot Publisher process ->
  ``rosey-db`` process.

Drain and catch-up alternate the settings run by run (``repeat`` each; medians), so that noise
from other work on the machine falls on both; the steady runs are one per setting. Every run
has its own directory, so no run starts on another one's store.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.catchup import CatchupResult, run_catchup
from bench.common import Row, fmt_ms, fmt_rate
from bench.publish import run_publish
from bench.steady import SteadyResult, run_steady
from rosey.natsd import SYNC_INTERVAL

__all__ = ["SETTINGS", "SyncResult", "run_sync", "sync_rows"]

#: Rosey's setting, then nats-server's own default
SETTINGS = (SYNC_INTERVAL, "2m")
#: the steady p99 Rosey's setting has to keep: the ``steady`` part's target
P99_TARGET = 0.025


@dataclass
class SyncResult:
    """Per setting: drain rates (events/s, one per run), catch-up runs, the steady run."""

    drain: dict[str, list[float]] = field(default_factory=dict)
    catchup: dict[str, list[CatchupResult]] = field(default_factory=dict)
    steady: dict[str, SteadyResult] = field(default_factory=dict)

    def catchup_rate(self, setting: str, of: str = "service") -> float:
        """Median events/s of ``rosey-db`` (or the ``ceiling``) over the runs."""
        runs = self.catchup[setting]
        seconds = [t for r in runs for t in (r.ceiling if of == "ceiling" else r.service)]
        return runs[0].events / statistics.median(seconds)

    def preload_rate(self, setting: str) -> float:
        return statistics.median(r.preload_rate for r in self.catchup[setting])


def _run_dir(workdir: Path, setting: str, what: str) -> Path:
    path = workdir / f"sync-{setting}" / what
    path.mkdir(parents=True, exist_ok=True)
    return path


async def run_sync(*, events_n: int, users: int, rate: float, seconds: float, batch: int,
                   repeat: int, workdir: Path, say: Callable[[str], None] = print) -> SyncResult:
    result = SyncResult()
    for i in range(repeat):
        for setting in SETTINGS:
            p = await run_publish(calls=events_n, rate=math.inf, burst=100,
                                  workdir=_run_dir(workdir, setting, f"drain-{i}"),
                                  sync_interval=setting)
            result.drain.setdefault(setting, []).append(p.drain_rate)
            say(f"  [{i + 1}/{repeat}] {setting:>6}: publisher drain {p.drain_rate:,.0f} ev/s")
    for i in range(repeat):
        for setting in SETTINGS:
            say(f"  [{i + 1}/{repeat}] {setting:>6}: catch-up of {events_n} chat lines")
            c = await run_catchup(events_n=events_n, users=users, repeat=1,
                                  workdir=_run_dir(workdir, setting, f"catchup-{i}"),
                                  say=say, sync_interval=setting)
            result.catchup.setdefault(setting, []).append(c)
    for setting in SETTINGS:
        s = await run_steady(rate=rate, seconds=seconds, batch=batch,
                             workdir=_run_dir(workdir, setting, "steady"),
                             warmup=min(10.0, seconds / 5), sync_interval=setting)
        result.steady[setting] = s
        say(f"  {setting:>6}: publish-to-committed p99 {fmt_ms(s.p99)} @ {rate:,.0f} ev/s,"
            f" {s.committed:.0f} / {s.sent} committed")
    return result


def _both(values: dict[str, float], fmt: Callable[[float], str]) -> str:
    """``always / 2m`` values in one cell, the unit once: ``3,512 / 14,020 ev/s``."""
    first, second = (fmt(values[s]) for s in SETTINGS)
    unit = first.rsplit(" ", 1)[-1]
    return f"{first.removesuffix(' ' + unit)} / {second}"


def _runs(values: dict[str, list[float]]) -> str:
    return "; ".join(f"{s} runs " + ", ".join(f"{v:,.0f}" for v in values[s]) for s in SETTINGS)


def _cost(values: dict[str, float]) -> str:
    always, default = (values[s] for s in SETTINGS)
    return f"{SETTINGS[0]} = {always / default:.2f} x {SETTINGS[1]}"


def sync_rows(r: SyncResult, rate: float) -> list[Row]:
    """The part's rows: each figure ``always / 2m`` in one value, its cost in the reference."""
    a, b = SETTINGS
    drain = {s: statistics.median(r.drain[s]) for s in SETTINGS}
    service = {s: r.catchup_rate(s) for s in SETTINGS}
    ceiling = {s: r.catchup_rate(s, of="ceiling") for s in SETTINGS}
    preload = {s: r.preload_rate(s) for s in SETTINGS}
    p99 = {s: r.steady[s].p99 for s in SETTINGS}
    p50 = {s: r.steady[s].p50 for s in SETTINGS}
    complete = all(r.steady[s].committed >= r.steady[s].sent for s in SETTINGS)
    return [
        Row(f"sync_interval {a} / {b}: publisher drain (Publisher, 64 acks in flight)",
            _both(drain, fmt_rate), f"{_cost(drain)}; {_runs(r.drain)}"),
        Row("  JetStream publish, 512 acks in flight (the catch-up backlog)",
            _both(preload, fmt_rate), _cost(preload)),
        Row(f"sync_interval {a} / {b}: catch-up from process start (rosey-db)",
            _both(service, fmt_rate),
            f"{_cost(service)}; bare ceiling {_both(ceiling, fmt_rate)} ({_cost(ceiling)})"),
        Row(f"sync_interval {a} / {b}: publish-to-committed p99 @ {rate:,.0f} ev/s",
            _both(p99, fmt_ms),
            f"{a} = {b} {(p99[a] - p99[b]) * 1e3:+.2f} ms; p50 {_both(p50, fmt_ms)}",
            f"{a} <= {P99_TARGET * 1e3:.0f} ms", "PASS" if p99[a] <= P99_TARGET else "MISS"),
        Row("  events sent / committed in those runs",
            "; ".join(f"{s} {r.steady[s].sent:,} / {r.steady[s].committed:,.0f}"
                      for s in SETTINGS),
            "", "all", "PASS" if complete else "MISS"),
    ]
