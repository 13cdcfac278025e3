"""Start-to-ready time of each process: ``exec`` -> ``/readyz`` answers 200.

That is imports, settings, connecting to NATS, binding (the DatabaseService: opening and
migrating a fresh SQLite file, ensuring the stream and its durable consumer; the bot: logging
in to CyTube and joining the channel, the test CyTube server here). Part of every pod recovery.
Each process is started ``repeat`` times against servers that are already up; median and max.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import ROOT, nats_server, start_module, stop_worker, wait_http_ok
from tests.support.procs import free_port

__all__ = ["StartupResult", "run_startup"]

BOT_USER, BOT_PASSWORD = "rosey", "bot-secret"


@dataclass
class StartupResult:
    db: list[float] = field(default_factory=list)
    bot: list[float] = field(default_factory=list)


async def _ready_after(cli: list[str], *, env: dict[str, str], log_path: Path) -> float:
    port = free_port()
    started = time.monotonic()
    proc = start_module([*cli, "--metrics-port", str(port)], log_path=log_path,
                        env={"ROSEY_LOG_FORMAT": "json", "ROSEY_LOG_LEVEL": "warning",
                             "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'src'}", **env})
    try:
        await wait_http_ok(port, "/readyz", timeout=60, proc=proc)
        return time.monotonic() - started
    finally:
        await stop_worker(proc)


async def run_startup(*, repeat: int, workdir: Path,
                      say: Callable[[str], None] = print) -> StartupResult:
    # imported by name: its socketio has no type stubs, and mypy checks bench/ strictly
    cytube_module: Any = importlib.import_module("tests.support.cytube")
    result = StartupResult()
    bin_dir = Path(sys.executable).parent
    cytube = cytube_module.CyTubeTestServer(accounts={BOT_USER: (BOT_PASSWORD, 3)}, rate_limit=False)
    await cytube.start()
    try:
        async with nats_server(workdir, "startup") as server:
            for i in range(repeat):
                db = await _ready_after(
                    [str(bin_dir / "rosey-db"), "--nats-url", server.url,
                     "--db-path", str(workdir / f"startup-{i}.db")],
                    env={}, log_path=workdir / "startup-db.log")
                result.db.append(db)
                bot = await _ready_after(
                    [str(bin_dir / "rosey-bot"), "--domain", cytube.url,
                     "--channel", cytube.channel, "--nats-url", server.url],
                    env={"ROSEY_CYTUBE_USER": BOT_USER, "ROSEY_CYTUBE_PASSWORD": BOT_PASSWORD},
                    log_path=workdir / "startup-bot.log")
                result.bot.append(bot)
                say(f"  [{i + 1}/{repeat}] rosey-db {db * 1000:.0f} ms,"
                    f" rosey-bot {bot * 1000:.0f} ms")
    finally:
        await cytube.stop()
    return result
