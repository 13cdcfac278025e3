"""Stopping a child process: one signal, a bounded wait, then SIGKILL.

Used for every process Rosey or its tests start (nats-server, ``rosey-db`` under ``rosey up``,
Prometheus in the observability tests). It accepts an asyncio process or a
``subprocess.Popen`` so both kinds stop the same way.

:func:`die_with_parent` covers the case where nobody is left to stop a child: the parent was
SIGKILLed. On Linux the child asks the kernel to SIGKILL it when its parent goes
(``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Stopped", "stop_process", "die_with_parent"]

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


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


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` after which the child is SIGKILLed when its parent dies (Linux
    ``PR_SET_PDEATHSIG``; None elsewhere, where children outlive a killed parent).

    SIGKILL, not the child's clean-stop signal: a parent that was killed cannot stop its
    children in order anyway, the delivery guarantees hold across a SIGKILL of any part
    (tests/resilience), and a catchable signal arriving between the fork and the ``exec``
    would meet the handlers inherited from the parent and be lost.

    The kernel sends it when the *thread* that forked the child exits, not the process. asyncio
    forks in its event loop's thread (``subprocess.Popen`` runs there, inside
    ``create_subprocess_exec``), so start children from a loop whose thread lives as long as
    they should: ``rosey up``'s is the main thread. The setting survives ``exec`` (not of a
    set-user-ID program). A parent that died before the ``prctl`` call is caught by comparing
    the parent's pid afterwards.
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    # everything prepared here, in the parent: the child only makes the calls
    args = (ctypes.c_int(_PR_SET_PDEATHSIG), ctypes.c_ulong(signal.SIGKILL), ctypes.c_ulong(0),
            ctypes.c_ulong(0), ctypes.c_ulong(0))
    parent = os.getpid()

    def preexec() -> None:
        if prctl(*args) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != parent:  # the parent is already gone
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec
