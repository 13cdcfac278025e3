"""rosey.process.stop_process: one signal, a bounded wait, then SIGKILL; for both process kinds."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys

from rosey.process import stop_process

OBEYS = "import time; print('up', flush=True); time.sleep(60)"
IGNORES_TERM = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                "print('up', flush=True); time.sleep(60)")


async def _started(code: str) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code,
                                                stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    assert await proc.stdout.readline() == b"up\n"  # the handler is installed
    return proc


async def test_a_process_that_obeys_the_signal_is_not_killed():
    proc = await _started(OBEYS)
    stopped = await stop_process(proc, timeout=10)
    assert stopped.code == -signal.SIGTERM and not stopped.killed


async def test_a_process_that_ignores_the_signal_is_killed_after_the_wait():
    proc = await _started(IGNORES_TERM)
    loop = asyncio.get_running_loop()
    began = loop.time()
    stopped = await stop_process(proc, timeout=0.5)
    assert stopped.killed and stopped.code == -signal.SIGKILL
    assert 0.5 <= loop.time() - began < 5


async def test_a_popen_process_stops_the_same_way_without_blocking_the_loop():
    proc = subprocess.Popen([sys.executable, "-c", IGNORES_TERM], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"up\n"
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    task = asyncio.create_task(ticker())
    stopped = await stop_process(proc, timeout=0.5)
    task.cancel()
    proc.stdout.close()
    assert stopped.killed and stopped.code == -signal.SIGKILL
    assert ticks >= 10  # the loop ran through the half-second wait


async def test_an_exited_process_is_just_reaped():
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "raise SystemExit(3)")
    await proc.wait()
    assert (await stop_process(proc)).code == 3
