"""``rosey-web`` / ``python -m rosey.web`` as a real process: a setting that cannot work is one
line on stderr and exit code 2."""

from __future__ import annotations

import os
import socket
import subprocess
import sys


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rosey.web"], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)


def test_a_port_in_use_is_one_line_and_exit_code_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _run({"ROSEY_WEB_HOST": "127.0.0.1", "ROSEY_WEB_PORT": str(port),
                     "ROSEY_NATS_URL": "nats://127.0.0.1:1", "ROSEY_LOG_FORMAT": "json"})
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"rosey-web: configuration error: cannot serve the web page on 127.0.0.1:{port}: "
        "Address already in use (choose another ROSEY_WEB_PORT)"]


def test_a_bad_setting_is_one_line_and_exit_code_2() -> None:
    done = _run({"ROSEY_WEB_SESSION_SECONDS": "86400"})
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "rosey-web: configuration error: ROSEY_WEB_SESSION_SECONDS must be more than 0 and at "
        "most 43200 (12 hours)"]
