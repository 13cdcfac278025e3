"""``python -m bench`` still runs: every part, at sizes too small for the figures to mean anything.

The benchmarks drive the real code (the DatabaseService as ``rosey-db``, the real Store and
Publisher), so a change to that code can break them; this runs them all once so that such a
break fails here instead of on the next person who wants figures. Targets are not asserted
(a run this small on a shared machine misses some); every part's rows must be in the table.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from rosey.contract import ALL_QUERY_SUBJECTS

ROOT = Path(__file__).resolve().parents[1]

#: one row of each part's table (bench/run.py)
ROWS = ("naive service", "bare ceiling", "durable ingest", "Store.apply_batch per event",
        "with one refused event per batch", "Publisher.publish() p99",
        "publish-to-committed p99", "events sent / committed", "RSS DatabaseService",
        "catch-up ceiling from process start", "catch-up from process start",
        "max publish-to-committed across a SIGKILL", "events sent / applied exactly once",
        "start-to-ready rosey-db", "start-to-ready rosey-bot",
        "Publisher.publish() p99, calls 1 ms apart", "moderator round trip PM -> reply, info",
        "moderator round trip PM -> reply, stats",
        "sync_interval always / 2m: publisher drain",
        "sync_interval always / 2m: catch-up from process start",
        "sync_interval always / 2m: publish-to-committed p99",
        "events sent / committed in those runs",
        # the scale part at 0.001x (bench/scale.py): the file, every query subject, start-up
        "year-of-data file 0.001x: generated", "start-to-ready rosey-db, empty file",
        "start-to-ready rosey-db, 0.001x file",
        *(f"query p99 @ 0.001x: {s.removeprefix('rosey.db.')}" for s in ALL_QUERY_SUBJECTS),
        # the year file's catch-up and migration, and retention (issue 22)
        "catch-up vs ceiling on year-0.001x.db", "schema migration 5 -> 7 on year-0.001x.db",
        "/healthz during the migration", "/readyz during the migration",
        "publish-to-committed p99 @ 200 ev/s while pruning", "old chat lines pruned",
        # the web page's server time (issue 20)
        "web page p99 @ year-0.001x.db: public page /", "the graph's query (30 d, 360 points)")


def test_every_benchmark_part_runs_to_its_table(tmp_path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--events", "2000", "--naive-events", "100",
         "--publish-calls", "2000", "--steady-rate", "200", "--steady-seconds", "2",
         "--catchup-events", "2000", "--recovery-seconds", "3", "--startup-repeat", "1",
         "--roundtrip-samples", "2", "--sync-events", "1000", "--sync-seconds", "2",
         "--scale", "0.001", "--scale-requests", "5", "--scale-starts", "1",
         "--retention-lines", "500", "--retention-seconds", "2",
         "--workdir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert "Traceback" not in run.stderr, run.stderr
    assert run.returncode in (0, 1), run.stderr  # 1: a target missed (expected at this size)
    missing = [row for row in ROWS if row not in run.stdout]
    assert missing == [], run.stdout + run.stderr
    # not a speed: every event the bot published was committed by the DatabaseService
    committed = [line for line in run.stdout.splitlines() if "events sent / committed" in line]
    assert len(committed) == 2 and all(c.rstrip().endswith("PASS") for c in committed), committed
    # every part's nats-server flushes before acknowledging, as Rosey runs it; the sync part
    # runs nats-server's own default beside it
    configs = {c.relative_to(tmp_path): c.read_text() for c in tmp_path.rglob("nats-*.conf")}
    default = {c for c in configs if c.parts[0] == "sync-2m"}
    assert len(configs) > len(default) > 0, sorted(configs)
    assert all(("sync_interval: 2m" if c in default else "sync_interval: always") in text
               for c, text in configs.items()), configs
