"""``rosey-db`` / ``python -m rosey.db`` as a standalone process."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import nats
import pytest

from rosey import contract
from tests.support.procs import free_port, http_status, start_db_process, stop_process
from tests.support.wait import eventually


async def status(port: int, path: str) -> bool | int:
    return await asyncio.to_thread(http_status, port, path)


async def _is(port: int, path: str, code: int) -> bool:
    return await status(port, path) == code


def _json_lines(path) -> list[dict]:
    """The complete JSON lines of a log file that may still be being written."""
    complete = path.read_text().split("\n")[:-1]
    return [json.loads(line) for line in complete if line.startswith("{")]


def test_help_explains_every_setting():
    out = subprocess.run([sys.executable, "-m", "rosey.db", "--help"], capture_output=True,
                         text=True, check=True).stdout
    for word in ("--nats-url", "--db-path", "--metrics-port", "ROSEY_NATS_URL", "ROSEY_DB_PATH",
                 "ROSEY_METRICS_PORT", "SIGTERM"):
        assert word in out


def test_bad_setting_fails_with_a_clear_message(tmp_path):
    run = subprocess.run([sys.executable, "-m", "rosey.db"], capture_output=True, text=True,
                         env={"ROSEY_METRICS_PORT": "nine", "PATH": "/usr/bin:/bin"}, timeout=30)
    assert run.returncode == 2 and "ROSEY_METRICS_PORT" in run.stderr


@pytest.mark.parametrize("use_env", [False, True], ids=["flags", "environment"])
async def test_standalone_process_serves_events_and_queries_and_exits_0_on_sigterm(
        nats_server, tmp_path, use_env):
    port = free_port()
    log = tmp_path / "db.log"
    proc = start_db_process(nats_server.url, tmp_path / "rosey.db", metrics_port=port,
                            log_path=log, use_env=use_env,
                            extra_env={"ROSEY_ACTIVITY_LOG_SECONDS": "0.3"})
    nc = await nats.connect(nats_server.url)
    try:
        await eventually(lambda: _is(port, "/readyz", 200), timeout=20, what="readyz 200")
        assert await status(port, "/healthz") == 200
        assert await status(port, "/nope") == 404
        await nc.publish(contract.MESSAGE_LOG, b'{"username": "cli", "message": "hi"}')
        await nc.publish(contract.USER_JOINED, b"not json")

        async def stored():
            r = await nc.request(contract.QUERY_USER_STATS, b'{"username": "cli"}', timeout=2)
            return json.loads(r.data).get("total_chat_lines") == 1
        await eventually(stored, timeout=15)
    finally:
        await nc.close()
        code = await asyncio.to_thread(stop_process, proc)
    assert code == 0
    lines = _json_lines(log)
    events = [line["event"] for line in lines]
    assert "dbservice_stopped" in events
    assert all(line.get("service") == "rosey-db" for line in lines)
    bad = [line for line in lines if line["event"] == "event_rejected"]
    assert bad and bad[0]["subject"] == contract.USER_JOINED and bad[0]["reason"] == "bad_json"
    assert bad[0]["batch_size"] >= 1  # the batch it came in, bound as log context
    # at INFO there are no per-batch or per-query lines; the activity lines add up to the work
    activity = [line for line in lines if line["event"] == "dbservice_activity"]
    assert activity and {line["level"] for line in activity} == {"info"}
    assert sum(line["events_applied"] for line in activity) == 1
    assert sum(line["events_rejected"] for line in activity) == 1
    assert sum(line["queries_ok"] for line in activity) >= 1
    assert "batch_committed" not in events and "query_answered" not in events


async def test_unreachable_nats_hints_once_backs_off_and_sigterm_exits_0(tmp_path):
    """No NATS: one warning that says nats-server may not be running at that URL, then retries
    further and further apart (not a warning twice a second), and SIGTERM still exits 0."""
    port = free_port()
    url = f"nats://127.0.0.1:{free_port()}"
    log = tmp_path / "n.log"
    proc = start_db_process(url, tmp_path / "n.db", metrics_port=port, log_path=log)
    try:
        await eventually(lambda: _is(port, "/healthz", 200), timeout=20, what="healthz 200")
        await eventually(lambda: sum(e["event"] == "nats_connect_failed" for e in _json_lines(log)) >= 3,
                         timeout=30, what="four failed rounds")
    finally:
        assert await asyncio.to_thread(stop_process, proc) == 0
    lines = _json_lines(log)
    [hint] = [e for e in lines if e["event"] == "nats_unreachable"]
    assert hint["level"] == "warning" and f"is nats-server running at {url}?" in hint["hint"]
    assert not [e for e in lines if e["event"] == "nats_error"]
    waits = [e["retry_in"] for e in lines if e["event"] in ("nats_unreachable", "nats_connect_failed")]
    assert waits[3] > 2 * waits[0]  # backing off
    assert "dbservice_stopped_before_nats_answered" in [e["event"] for e in lines]


async def test_process_waits_for_nats_and_keeps_health_up(tmp_path, nats_server):
    """Started before NATS is reachable it serves /healthz, is not ready, and connects later."""
    nats_server.stop()
    port = free_port()
    proc = start_db_process(nats_server.url, tmp_path / "w.db", metrics_port=port,
                            log_path=tmp_path / "w.log")
    try:
        await eventually(lambda: _is(port, "/healthz", 200), timeout=20, what="healthz 200")
        assert await status(port, "/readyz") == 503
        await asyncio.to_thread(nats_server.start)
        await eventually(lambda: _is(port, "/readyz", 200), timeout=30, what="readyz 200")
    finally:
        assert await asyncio.to_thread(stop_process, proc) == 0
