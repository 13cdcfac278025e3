"""Shared pieces of the benchmarks: the event mix, statistics, RSS, metrics scraping, processes.

Nothing here measures anything by itself. Every benchmark uses the same event mix
(:func:`events`), so the naive reference, the bare ceiling and the real DatabaseService move the
same bytes and, where they store them, run the same SQL.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nats.aio.client import Client
from nats.js import JetStreamContext

from rosey import contract, nats_auth
from rosey.natsd import SYNC_INTERVAL, NatsServer
from rosey.process import stop_process

__all__ = [
    "ROOT", "Row", "events", "event_bodies", "stamped", "percentile", "histogram_quantile",
    "histogram_fraction_le",
    "rss_kib", "scrape", "start_worker", "stop_worker", "nats_server", "preload", "ack_floor",
    "wait_http_ok", "linear_slope", "fmt_rate", "fmt_us", "fmt_ms", "fmt_mib",
]

ROOT = Path(__file__).resolve().parent.parent

#: (subject, share of the mix); message.log is the common case and the heaviest (2 statements)
MIX: tuple[tuple[str, float], ...] = (
    (contract.MESSAGE_LOG, 0.70),
    (contract.USER_JOINED, 0.10),
    (contract.USER_LEFT, 0.10),
    (contract.USER_COUNT, 0.10),
)
USERS = 200


@dataclass(slots=True)
class Row:
    """One line of the result table."""

    metric: str
    value: str
    reference: str = ""
    target: str = ""
    verdict: str = ""  # PASS / MISS / "" (informational)


def events(n: int, *, seed: int = 1) -> Iterator[tuple[str, bytes]]:
    """``n`` contract events in the bench mix, encoded as the bot would publish them."""
    for subject, body in event_bodies(n, seed=seed):
        yield subject, contract.encode(body)


def event_bodies(n: int | None, *, seed: int = 1) -> Iterator[tuple[str, dict[str, Any]]]:
    """Events in the bench mix as payload dicts (forever when ``n`` is None), no timestamp."""
    rng = random.Random(seed)
    subjects = [s for s, _ in MIX]
    weights = [w for _, w in MIX]
    i = 0
    while n is None or i < n:
        subject = rng.choices(subjects, weights)[0]
        yield subject, payload(subject, i, rng)
        i += 1


def stamped(subject: str, body: dict[str, Any]) -> contract.ContractEvent:
    """The contract event the bot would publish for a bench body, stamped now."""
    return contract.EVENT_TYPES[subject].from_wire({**body, "timestamp": time.time()})


def payload(subject: str, i: int, rng: random.Random) -> dict[str, Any]:
    user = f"user{rng.randrange(USERS):03d}"
    body: dict[str, Any]
    if subject == contract.MESSAGE_LOG:
        body = {"username": user, "message": f"chat line {i}: " + "lorem ipsum " * 3}
    elif subject == contract.USER_COUNT:
        body = {"chat_count": rng.randrange(10, 60), "connected_count": rng.randrange(60, 90)}
    else:
        body = {"username": user}
    return body


# --- statistics ----------------------------------------------------------------------------
def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (q in 0..100)."""
    if not sorted_values:
        return math.nan
    k = max(0, min(len(sorted_values) - 1, math.ceil(q / 100 * len(sorted_values)) - 1))
    return sorted_values[k]


def histogram_quantile(buckets: Sequence[tuple[float, float]], q: float) -> float:
    """Prometheus-style quantile from cumulative ``(le, count)`` buckets, linear inside a bucket."""
    total = buckets[-1][1]
    if total == 0:
        return math.nan
    rank = q * total
    prev_le, prev_count = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if math.isinf(le):
                return prev_le
            inside = count - prev_count
            return prev_le + (le - prev_le) * ((rank - prev_count) / inside if inside else 1.0)
        prev_le, prev_count = le, count
    return buckets[-1][0]


def histogram_fraction_le(buckets: Sequence[tuple[float, float]], bound: float) -> float:
    """Share of observations <= ``bound`` (``bound`` must be one of the bucket edges)."""
    total = buckets[-1][1]
    for le, count in buckets:
        if abs(le - bound) < 1e-12:
            return count / total if total else math.nan
    raise ValueError(f"{bound} is not a bucket edge")


def linear_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of ys over xs."""
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0


def fmt_rate(v: float) -> str:
    return f"{v:,.0f} ev/s"


def fmt_us(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} us"


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms"


def fmt_mib(kib: float) -> str:
    return f"{kib / 1024:.1f} MiB"


# --- processes -----------------------------------------------------------------------------
def rss_kib(pid: int) -> int | None:
    """Resident set size of a process from /proc (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def start_worker(role: str, *args: str, log_path: Path,
                 env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """``python -m bench.workers <role> ...`` from the repository root."""
    full_env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'src'}",
                **(env or {})}
    out = open(log_path, "ab")
    return subprocess.Popen([sys.executable, "-m", "bench.workers", role, *args], cwd=ROOT,
                            env=full_env, stdout=out, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)


def start_module(module_args: list[str], *, log_path: Path,
                 env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """``python <args>`` (``-m module ...`` or a script path) from the repository root."""
    out = open(log_path, "ab")
    return subprocess.Popen([sys.executable, *module_args], cwd=ROOT,
                            env={**os.environ, **(env or {})}, stdout=out,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


async def stop_worker(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    """SIGTERM, a bounded wait, then SIGKILL (:func:`rosey.process.stop_process`)."""
    return (await stop_process(proc, timeout=timeout)).code


def nats_server(workdir: Path, name: str, *, jetstream: bool = True,
                sync_interval: str = SYNC_INTERVAL) -> NatsServer:
    """A nats-server for one part (Rosey's own launcher): a free port, its JetStream store and
    its log under ``workdir``. Use as ``async with nats_server(...) as server:``.

    JetStream comes from a config file (``nats-<name>.conf``, :func:`rosey.nats_auth.jetstream_block`)
    flushed to disk as ``sync_interval`` says: by default as ``rosey up``, the chart and the
    tests run it ("always": before every acknowledgement); "2m" is nats-server's own default."""
    log_path = workdir / f"nats-{name}.log"
    if not jetstream:
        return NatsServer(jetstream=False, log_path=log_path)
    config = workdir / f"nats-{name}.conf"
    config.write_text(nats_auth.jetstream_block(workdir / f"jetstream-{name}", sync_interval),
                      encoding="utf-8")
    return NatsServer(jetstream=False, config_file=config, log_path=log_path)


def scrape(port: int) -> dict[str, list[tuple[dict[str, str], float]]]:
    """``/metrics`` of a Rosey process as {sample name: [(labels, value), ...]}."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((dict(s.labels), float(s.value)))
    return out


def sample_sum(samples: dict[str, list[tuple[dict[str, str], float]]], name: str) -> float:
    return sum(v for _, v in samples.get(name, []))


def buckets_of(samples: dict[str, list[tuple[dict[str, str], float]]],
               name: str) -> list[tuple[float, float]]:
    rows = [(float(labels["le"]), v) for labels, v in samples.get(f"{name}_bucket", [])]
    return sorted(rows)


async def wait_http_ok(port: int, path: str, timeout: float,
                       proc: subprocess.Popen[bytes] | None = None) -> None:
    """Poll ``http://127.0.0.1:port/path`` until it answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode} before it was ready")
        try:
            ok = await asyncio.to_thread(_get_status, port, path)
            if ok == 200:
                return
        except OSError:
            pass
        await asyncio.sleep(0.05)
    raise TimeoutError(f"http://127.0.0.1:{port}{path} not ready after {timeout}s")


def _get_status(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


# --- JetStream -----------------------------------------------------------------------------
async def preload(js: JetStreamContext, n: int, *, window: int = 512, seed: int = 1,
                  source: Iterable[tuple[str, bytes]] | None = None) -> float:
    """Publish ``n`` events (the bench mix, or ``source``) into the stream with ``window``
    acknowledgements in flight.

    Returns the publish rate (events/s), a by-product worth printing.
    """
    started = time.perf_counter()
    pending: list[Any] = []
    for subject, data in source if source is not None else events(n, seed=seed):
        pending.append(js.publish(subject, data))
        if len(pending) >= window:
            await asyncio.gather(*pending)
            pending.clear()
    if pending:
        await asyncio.gather(*pending)
    return n / (time.perf_counter() - started)


async def ack_floor(js: JetStreamContext, durable: str) -> int:
    info = await js.consumer_info(contract.STREAM_NAME, durable)
    return int(info.ack_floor.stream_seq) if info.ack_floor else 0


async def connect(url: str, name: str) -> Client:
    import nats

    return await nats.connect(url, name=name, max_reconnect_attempts=0)


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data))


def copy_db(src: Path, dst: Path) -> None:
    """A consistent copy of a database file that nothing is writing (with its WAL), made with
    SQLite's backup API."""
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    target = sqlite3.connect(dst)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()
