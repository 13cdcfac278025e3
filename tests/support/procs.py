"""Rosey processes started as real subprocesses (the way an operator or a pod runs them)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import rosey.process


def start_db_process(nats_url: str, db_path: Path, *, metrics_port: int = 0,
                     log_path: Path | None = None, extra_env: dict[str, str] | None = None,
                     use_env: bool = False) -> subprocess.Popen[bytes]:
    """``python -m rosey.db`` with flags (or the same settings through ROSEY_* variables)."""
    env = {**os.environ, "ROSEY_LOG_FORMAT": "json", **(extra_env or {})}
    args = [sys.executable, "-m", "rosey.db"]
    if use_env:
        env.update(ROSEY_NATS_URL=nats_url, ROSEY_DB_PATH=str(db_path),
                   ROSEY_METRICS_PORT=str(metrics_port))
    else:
        args += ["--nats-url", nats_url, "--db-path", str(db_path),
                 "--metrics-port", str(metrics_port)]
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL
    return subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)


def stop_process(proc: subprocess.Popen[bytes], *, sig: int = signal.SIGTERM,
                 timeout: float = 20.0) -> int:
    """:func:`rosey.process.stop_process` for synchronous callers (tests call it through
    ``asyncio.to_thread``); a process that had to be killed fails the test."""
    stopped = asyncio.run(rosey.process.stop_process(proc, sig=sig, timeout=timeout))
    if stopped.killed:
        raise AssertionError(f"process {proc.args!r} did not exit within {timeout}s of {sig}")
    return stopped.code


async def start_rosey_up(log_path: Path, env: Mapping[str, str],
                         *args: str) -> asyncio.subprocess.Process:
    """``rosey up *args`` as a real process with ``env``; its output (both streams) goes to
    ``log_path``. Wrap it in :func:`reaped`."""
    with open(log_path, "wb") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "rosey.cli", "up", *args, env=dict(env), stdout=out,
            stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL)


@contextlib.asynccontextmanager
async def reaped(proc: asyncio.subprocess.Process) -> AsyncIterator[asyncio.subprocess.Process]:
    """The process, SIGKILLed and reaped on the way out if the test left it running."""
    try:
        yield proc
    finally:
        await rosey.process.stop_process(proc, sig=signal.SIGKILL, timeout=10)


async def exit_code_after(proc: asyncio.subprocess.Process, sig: int, timeout: float = 40) -> int:
    """Send ``sig`` and wait for the exit code (a process that outlives ``timeout`` fails)."""
    stopped = await rosey.process.stop_process(proc, sig=sig, timeout=timeout)
    assert not stopped.killed, f"did not exit within {timeout}s of signal {sig}"
    return stopped.code


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_status(port: int, path: str) -> int:
    """GET http://127.0.0.1:port/path -> its status code (0 when nothing answers)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0
