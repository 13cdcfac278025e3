"""Data at scale (issue 22): every query subject and the DatabaseService's start-up, on an empty
database and on a year of a busy channel (:mod:`bench.yeardata`).

For each file, the real DatabaseService (``rosey-db``, default settings) is started ``starts``
times against one nats-server; each start is timed from ``exec`` to ``/readyz`` 200. While the
first one runs, every query subject is asked with realistic arguments (:func:`cases`: the
heaviest chatter, a one-line user, the bot, which is the actor of half the moderation record,
the most moderated user, one moderated once, the defaults, the bot's largest ``modlog`` and the
contract's largest ``limit``, 1000; for the web page's queries, each of the page's ranges
ending at the file's newest user count, and the largest range, points and limits), one request
at a time over NATS as the bot asks them:
:data:`WARMUP` requests not counted, then ``requests`` timed, request sent -> reply received.
A subject's figure is its slowest case's. The empty database gets the same requests (the same
names, found nowhere).

The year file's ``applied_floor`` is the stream sequence its last event had; the bench purges
the (empty) stream up to it first, as on a server that kept the stream, so the service starts as
on its own file rather than taking the stream for a recreated one.
"""

from __future__ import annotations

import json
import os
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from bench.common import (
    ROOT,
    Row,
    connect,
    fmt_ms,
    nats_server,
    percentile,
    start_module,
    stop_worker,
    wait_http_ok,
)
from bench.yeardata import BOT, YearData, generate
from rosey import contract
from rosey.config import StreamSettings
from rosey.stream import ensure_stream
from tests.support.procs import free_port

__all__ = ["Case", "DbFigures", "ScaleResult", "cases", "run_scale", "scale_rows"]

WARMUP = 5
#: the most actions the bot's ``modlog`` command asks for (rosey.bot.moderation)
BOT_MODLOG_MAX = 100
#: the issue's targets: every query p99 at 1x and at 10x; start-to-ready at 10x
P99_1X, P99_10X, READY_10X = 0.020, 0.050, 2.0


@dataclass(frozen=True, slots=True)
class Case:
    """One query with its arguments; ``label`` says what they stand for."""

    subject: str
    label: str
    body: str  # the request, JSON


@dataclass
class DbFigures:
    """One database: its start-to-ready times and each case's reply times (seconds)."""

    name: str
    ready: list[float] = field(default_factory=list)
    seconds: dict[Case, list[float]] = field(default_factory=dict)

    def worst(self, subject: str) -> tuple[Case, list[float]]:
        """The case of ``subject`` with the highest p99, and its sorted times."""
        mine = [(c, sorted(t)) for c, t in self.seconds.items() if c.subject == subject]
        return max(mine, key=lambda ct: percentile(ct[1], 99))


@dataclass
class ScaleResult:
    scale: float
    path: Path
    file_bytes: int
    generated: YearData | None  # None: a file given with --scale-db
    empty: DbFigures
    year: DbFigures


def _one(conn: sqlite3.Connection, sql: str, default: str) -> str:
    row = conn.execute(sql).fetchone()
    return str(row[0]) if row and row[0] is not None else default


def notable(path: Path) -> dict[str, str]:
    """Names worth asking about, read from the file (any Rosey file, not only generated ones)."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return {
            "heavy chatter": _one(conn, "SELECT username FROM user_stats"
                                        " ORDER BY total_chat_lines DESC LIMIT 1", "nobody"),
            # one line at 1x; at 10x the fewest anyone said
            "rare chatter": _one(conn, "SELECT username FROM user_stats WHERE total_chat_lines"
                                       " > 0 ORDER BY total_chat_lines, username LIMIT 1",
                                 "nobody"),
            "heavy actor": _one(conn, "SELECT actor FROM moderation_actions GROUP BY actor"
                                      " COLLATE NOCASE ORDER BY count(*) DESC LIMIT 1", BOT),
            "heavy target": _one(conn, "SELECT target FROM moderation_actions GROUP BY target"
                                       " COLLATE NOCASE ORDER BY count(*) DESC LIMIT 1", "nobody"),
            "rare target": _one(conn, "SELECT target FROM moderation_actions GROUP BY target"
                                      " COLLATE NOCASE HAVING count(*) = 1 LIMIT 1", "nobody"),
            "punished": _one(conn, "SELECT target FROM punishments WHERE ended_at IS NULL"
                                   " ORDER BY id LIMIT 1", "nobody"),
            # the moderators' view's deep page: older than four fifths of the record
            "deep id": _one(conn, "SELECT max(id) / 5 FROM moderation_actions", "1"),
            # the web page's ranges end here (a year file's "now")
            "data end": _one(conn, "SELECT max(timestamp) FROM user_count_history",
                             str(int(time.time()))),
        }


def cases(names: dict[str, str]) -> list[Case]:
    """Every query subject, each with the arguments worth timing (``names``: :func:`notable`)."""
    def who(key: str, **more: Any) -> tuple[str, dict[str, Any]]:
        return key, {"username": names[key], **more}

    by_subject: dict[str, list[tuple[str, dict[str, Any]]]] = {
        contract.QUERY_CHANNEL_STATS: [("top 10, users seen", {})],
        contract.QUERY_USER_STATS: [who("heavy chatter"), who("rare chatter"),
                                    ("unknown user", {"username": "nobody-at-all"})],
        contract.OUTBOUND_GET: [("limit 50", {}), ("limit 1000 (the most)", {"limit": 1000})],
        contract.RECENT_CHAT_GET: [("limit 50", {}), ("limit 1000 (the most)", {"limit": 1000})],
        contract.QUERY_MODLOG: [("newest 10", {}), who("heavy actor"), who("heavy target"),
                                who("rare target"),
                                (f"heavy actor, limit {BOT_MODLOG_MAX} (the bot's most)",
                                 {"username": names["heavy actor"], "limit": BOT_MODLOG_MAX}),
                                ("heavy actor, limit 1000 (the most)",
                                 {"username": names["heavy actor"], "limit": 1000})],
        contract.QUERY_PUNISHMENTS: [("all active", {}), who("punished")],
        contract.QUERY_HISTORY: [who("heavy target"), who("heavy chatter"), who("heavy actor"),
                                 who("rare target")],
        contract.QUERY_RAID: [("", {})],
        **_web_cases(int(names["data end"])),
        contract.QUERY_MODERATION_PAGE: _record_cases(names),
    }
    missing = set(contract.ALL_QUERY_SUBJECTS) - set(by_subject)
    if missing:
        raise RuntimeError(f"bench/scale.py asks no case of {sorted(missing)}")
    return [Case(s, label, json.dumps(body)) for s in contract.ALL_QUERY_SUBJECTS
            for label, body in by_subject[s]]


#: the web page's graph ranges (docs/web-contract.md)
_RANGES = (("1 h", 3600), ("6 h", 21_600), ("24 h", 86_400), ("7 d", 604_800),
           ("30 d", 2_592_000))


def _web_cases(end: int) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """The web page's queries: its ranges ending at ``end``, and the largest of each bound."""
    longest = contract.MAX_RANGE_SECONDS
    return {
        contract.QUERY_USER_COUNTS: [
            *((f"{name}, 360 points", {"seconds": s, "until": end, "points": 360})
              for name, s in _RANGES),
            ("30 d, 2000 points (the most)", {"seconds": 2_592_000, "until": end,
                                              "points": contract.MAX_POINTS}),
            ("366 d (the longest), 2000 points", {"seconds": longest, "until": end,
                                                  "points": contract.MAX_POINTS})],
        contract.QUERY_CHAT_HOURS: [
            ("7 d", {"until": end}), ("30 d", {"seconds": 2_592_000, "until": end}),
            ("366 d (the longest)", {"seconds": longest, "until": end, "utc_offset": 1})],
        contract.QUERY_MEDIA_RECENT: [("newest 20", {}), ("limit 1000 (the most)",
                                                          {"limit": 1000})],
        contract.QUERY_MEDIA_TOP: [
            ("30 d, top 10", {"until": end}),
            ("366 d (the longest), top 100 (the most)", {"seconds": longest, "until": end,
                                                         "limit": 100})],
        contract.QUERY_STATUS: [("200 present", {}), ("limit 1000 (the most)",
                                                      {"limit": 1000})],
    }


def _record_cases(names: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    """The moderators' view's pages of the whole record (``moderation_page``): its filters
    alone and together, a month's range, a deep page, and the largest page."""
    end = int(names["data end"])
    month = {"since": end - 60 * 86400, "until": end - 30 * 86400 - 1}
    deep = max(1, int(names["deep id"]))
    return [
        ("newest 50", {}), ("automod's newest 20", {"origin": "automod", "limit": 20}),
        ("heavy actor", {"actor": names["heavy actor"]}),
        ("heavy target", {"target": names["heavy target"]}),
        ("the month before last", month),
        ("automod, the month before last", {"origin": "automod", **month}),
        ("heavy actor, bans", {"actor": names["heavy actor"], "action": "ban"}),
        ("a deep page (older than 4/5 of the record)", {"before_id": deep}),
        ("heavy actor, warnings, a deep page", {"actor": names["heavy actor"],
                                                "action": "warn", "before_id": deep}),
        ("native unbans since the year's start (rare, sparse)",
         {"action": "unban", "origin": "native", "since": end - 366 * 86400}),
        (f"limit {contract.MAX_PAGE_ROWS} (the most)", {"limit": contract.MAX_PAGE_ROWS})]


async def _ask(nc: Client, case: Case, n: int) -> list[float]:
    data = case.body.encode()
    times: list[float] = []
    for _ in range(n):
        started = time.perf_counter()
        reply = await nc.request(case.subject, data, timeout=30.0)
        times.append(time.perf_counter() - started)
        value = json.loads(reply.data)
        if isinstance(value, dict) and value.get("success") is False:
            raise RuntimeError(f"{case.subject} {case.body}: {value}")
    return times


async def _prepare_stream(js: JetStreamContext, floor: int) -> None:
    """No durable left from the run before; a stream whose last sequence is the file's floor."""
    try:
        await js.delete_consumer(contract.STREAM_NAME, contract.CONSUMER_NAME)
    except NotFoundError:
        pass
    info = await js.stream_info(contract.STREAM_NAME)
    if info.state.last_seq < floor:
        await js.purge_stream(contract.STREAM_NAME, seq=floor + 1)


def _floor(path: Path) -> int:
    if not path.exists():
        return 0
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return int(_one(conn, "SELECT value FROM ingest_state WHERE key = 'applied_floor'", "0"))


async def _measure(nc: Client, js: JetStreamContext, url: str, figures: DbFigures,
                   db_path: Path, *, todo: list[Case], requests: int, starts: int,
                   workdir: Path, say: Callable[[str], None]) -> None:
    await _prepare_stream(js, _floor(db_path))
    for i in range(starts):
        port = free_port()
        cli = [str(Path(sys.executable).with_name("rosey-db")), "--nats-url", url,
               "--db-path", str(db_path), "--metrics-port", str(port)]
        started = time.monotonic()
        proc = start_module(cli, log_path=workdir / f"scale-{figures.name}.log",
                            env={"ROSEY_LOG_LEVEL": "warning", "ROSEY_LOG_FORMAT": "json",
                                 "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'src'}"})
        try:
            await wait_http_ok(port, "/readyz", timeout=300, proc=proc)
            figures.ready.append(time.monotonic() - started)
            say(f"  {figures.name}: [{i + 1}/{starts}] start-to-ready"
                f" {figures.ready[-1] * 1000:.0f} ms")
            if i == 0:
                for case in todo:
                    await _ask(nc, case, WARMUP)
                    figures.seconds[case] = await _ask(nc, case, requests)
                    s = sorted(figures.seconds[case])
                    say(f"  {figures.name}: {case.subject} {case.label} {case.body}:"
                        f" p50 {fmt_ms(percentile(s, 50))}, p99 {fmt_ms(percentile(s, 99))}")
        finally:
            await stop_worker(proc)


async def run_scale(*, scale: float, requests: int, starts: int, workdir: Path,
                    db_path: Path | None = None, seed: int = 22,
                    say: Callable[[str], None] = print) -> ScaleResult:
    """``db_path``: a year file to reuse (else one is generated into ``workdir``)."""
    generated = None
    if db_path is None:
        db_path = workdir / f"year-{scale:g}x.db"
        say(f"  generating {db_path.name} (bench/yeardata.py, seed {seed})")
        generated = generate(db_path, scale, seed)
        say(f"  generated in {generated.seconds:.1f} s, {generated.file_bytes / 2**20:,.1f} MiB")
    names = notable(db_path)
    say("  arguments: " + ", ".join(f"{k} {v!r}" for k, v in names.items()))
    todo = cases(names)
    result = ScaleResult(scale, db_path, db_path.stat().st_size, generated,
                         DbFigures("empty"), DbFigures(f"{scale:g}x"))
    async with nats_server(workdir, "scale") as server:
        nc = await connect(server.url, "bench-scale")
        js = nc.jetstream(timeout=10.0)
        await ensure_stream(js, StreamSettings(), update=True)
        for figures, path in ((result.empty, workdir / "scale-empty.db"),
                              (result.year, db_path)):
            await _measure(nc, js, server.url, figures, path, todo=todo, requests=requests,
                           starts=starts, workdir=workdir, say=say)
        await nc.close()
    return result


def _short(subject: str) -> str:
    return subject.removeprefix("rosey.db.")


def scale_rows(r: ScaleResult) -> list[Row]:
    at = f"{r.scale:g}x"
    target = P99_1X if r.scale <= 1 else P99_10X
    rows = [_file_row(r)]
    for subject in contract.ALL_QUERY_SUBJECTS:
        case, times = r.year.worst(subject)
        _, empty = r.empty.worst(subject)
        p99 = percentile(times, 99)
        rows.append(Row(
            f"query p99 @ {at}: {_short(subject)}", fmt_ms(p99),
            f"p50 {fmt_ms(percentile(times, 50))}; slowest: {case.label or 'the one case'};"
            f" empty db p99 {fmt_ms(percentile(empty, 99))}",
            f"<= {target * 1000:.0f} ms", "PASS" if p99 <= target else "MISS"))
    for figures in (r.empty, r.year):
        median = statistics.median(figures.ready)
        rows.append(Row(
            f"start-to-ready rosey-db, {figures.name} file (exec -> /readyz 200)", fmt_ms(median),
            f"median of {len(figures.ready)}; max {fmt_ms(max(figures.ready))}",
            f"<= {READY_10X:.0f} s at 10x",
            ("PASS" if median <= READY_10X else "MISS") if figures is r.year and r.scale >= 10
            else ""))
    return rows


def _file_row(r: ScaleResult) -> Row:
    size = f"{r.file_bytes / 2**20:,.1f} MiB"
    if r.generated is None:
        return Row(f"year-of-data file {r.scale:g}x", f"reused {r.path}", size)
    g = r.generated
    return Row(f"year-of-data file {r.scale:g}x: generated", f"{g.seconds:.1f} s",
               f"{size}; {g.rows['recent_chat']:,} chat lines, {g.rows['user_stats']:,} users,"
               f" {g.rows['moderation_actions']:,} moderation actions,"
               f" {g.rows['user_count_history']:,} user counts,"
               f" {g.rows['media_plays']:,} plays")
