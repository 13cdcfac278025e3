"""``rosey up`` SIGKILLed: its nats-server, DatabaseService and web page go with it (no orphans
holding the ports and the data directory)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
from pathlib import Path

from tests.support.procs import free_port, http_status, reaped, start_rosey_up
from tests.support.wait import eventually


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for init to reap it holds no ports or files)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])


def _refuses(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=2).close()
    except (ConnectionRefusedError, ConnectionResetError):
        return True
    return False


def _binds(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("0.0.0.0", port))
        except OSError:
            return False
        return True


def _logged(log_path: Path, event: str) -> dict[str, object] | None:
    for line in log_path.read_text().splitlines():
        if line.startswith("{") and (record := json.loads(line)).get("event") == event:
            return dict(record)
    return None


async def test_sigkill_of_rosey_up_takes_its_children_with_it(tmp_path):
    log_path = tmp_path / "up.log"
    db_port, web_port = free_port(), free_port()
    env = {**os.environ, "ROSEY_LOG_FORMAT": "json", "ROSEY_DATA_DIR": str(tmp_path / "data"),
           "ROSEY_DB_METRICS_PORT": str(db_port), "ROSEY_BOT_METRICS_PORT": str(free_port()),
           "ROSEY_WEB_PORT": str(web_port),
           # nothing answers there: the bot keeps retrying, which is all this test needs of it
           "ROSEY_CYTUBE_DOMAIN": f"http://127.0.0.1:{free_port()}", "ROSEY_CYTUBE_CHANNEL": "c"}
    env.pop("ROSEY_NATS_URL", None)
    children: list[int] = []
    try:
        proc = await start_rosey_up(log_path, env)
        async with reaped(proc):
            await eventually(lambda: http_status(db_port, "/readyz") == 200, timeout=60,
                             what="the DatabaseService ready")
            await eventually(lambda: http_status(web_port, "/healthz") == 200, timeout=60,
                             what="the web page serving")
            nats_line, db_line = _logged(log_path, "up_nats_started"), _logged(log_path, "up_db_started")
            web_line = _logged(log_path, "up_web_started")
            assert nats_line is not None and db_line is not None and web_line is not None
            nats_url = str(nats_line["url"])
            children = [int(str(line["pid"])) for line in (nats_line, db_line, web_line)]
            assert all(_alive(pid) and _parent(pid) == proc.pid for pid in children)

            proc.kill()
            assert await proc.wait() == -signal.SIGKILL
            await eventually(lambda: not any(_alive(pid) for pid in children), timeout=10,
                             what="nats-server, rosey-db and rosey-web gone after rosey up was"
                                  " SIGKILLed")
        # what they held is free again: nothing answers on the NATS port, the metrics port binds
        host, _, port = nats_url.removeprefix("nats://").rpartition(":")
        # Both with a deadline: a multi-threaded process's first thread shows as a zombie
        # while its other threads are still exiting and its sockets still open (seen: a
        # connect to nats-server accepted just after), and a port its probes used can refuse
        # a bind for about a second after (seen in a third of runs, nothing listening).
        await eventually(lambda: _refuses(host, int(port)), timeout=10,
                         what="nothing accepting on the NATS port")
        await eventually(lambda: _binds(db_port), timeout=75, interval=0.5,
                         what="the DatabaseService's metrics port free to bind")
        await eventually(lambda: _binds(web_port), timeout=75, interval=0.5,
                         what="the web page's port free to bind")
    finally:
        for pid in children:  # when the test fails: leave nothing running
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
