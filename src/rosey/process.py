"""Stopping a child process: one signal, a bounded wait, then SIGKILL.

Used for every process Rosey or its tests start (nats-server, ``rosey-db`` under ``rosey up``,
Prometheus in the observability tests). It accepts an asyncio process or a
``subprocess.Popen`` so both kinds stop the same way.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from dataclasses import dataclass
from typing import Any

__all__ = ["Stopped", "stop_process"]


@dataclass(frozen=True, slots=True)
class Stopped:
    """How a process ended: its exit code (negative: the signal that ended it), and whether
    it had to be killed because it outlived the wait."""

    code: int
    killed: bool


async def _wait(proc: asyncio.subprocess.Process | subprocess.Popen[Any]) -> int:
    if isinstance(proc, asyncio.subprocess.Process):
        return await proc.wait()
    while proc.poll() is None:  # Popen has no awaitable wait; poll without blocking the loop
        await asyncio.sleep(0.02)
    return proc.returncode


async def stop_process(proc: asyncio.subprocess.Process | subprocess.Popen[Any], *,
                       sig: int = signal.SIGTERM, timeout: float = 10.0) -> Stopped:
    """Send ``sig`` (unless the process already ended), wait up to ``timeout`` seconds, then
    SIGKILL and reap it. Never raises for a process that is already gone."""
    if proc.returncode is None:
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            pass
    try:
        return Stopped(await asyncio.wait_for(_wait(proc), timeout), killed=False)
    except TimeoutError:
        try:
            proc.kill()
        except ProcessLookupError:
            pass
        return Stopped(await _wait(proc), killed=True)
