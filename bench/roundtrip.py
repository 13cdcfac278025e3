"""The moderator-visible round trip: a PM command in -> the bot's reply PM out.

Real ``rosey-db`` and ``rosey-bot`` processes against the test CyTube server (in this process,
no flood limits on its side) and a real nats-server. A simulated moderator PMs the bot one
command at a time, ``spacing`` seconds apart (under the bot's own pace of 10 PMs/s, so its
flood pacer never waits), and the time until the reply PM reaches the server is taken
(polled every 0.5 ms). Two commands: ``info`` (answered from the bot's own state) and
``stats`` (a query to the DatabaseService over NATS). Every command is audited: the bot
publishes a ``pm.command`` event through ``Publisher.publish()`` on the handler path, whose
cost the ``publish`` part measures (the audit overhead).
"""

from __future__ import annotations

import asyncio
import importlib
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import ROOT, nats_server, percentile, start_module, stop_worker, wait_http_ok
from tests.support.procs import free_port

__all__ = ["RoundTrip", "run_roundtrip"]

BOT, BOT_PASSWORD, MOD = "rosey", "bot-secret", "alice"


@dataclass
class RoundTrip:
    seconds: dict[str, list[float]] = field(default_factory=dict)

    def p(self, command: str, q: float) -> float:
        return percentile(sorted(self.seconds[command]), q)

    def median(self, command: str) -> float:
        return statistics.median(self.seconds[command])


async def run_roundtrip(*, samples: int, workdir: Path, spacing: float = 0.15,
                        say: Callable[[str], None] = print) -> RoundTrip:
    # imported by name: its socketio has no type stubs, and mypy checks bench/ strictly
    cytube_module: Any = importlib.import_module("tests.support.cytube")
    cytube = cytube_module.CyTubeTestServer(accounts={BOT: (BOT_PASSWORD, 3)}, rate_limit=False)
    await cytube.start()
    env = {"ROSEY_LOG_FORMAT": "json", "ROSEY_LOG_LEVEL": "warning",
           "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'src'}"}
    bin_dir = Path(sys.executable).parent
    result = RoundTrip()
    try:
        await cytube.add_user(MOD, 2)
        async with nats_server(workdir, "roundtrip") as server:
            db_port, bot_port = free_port(), free_port()
            db = start_module([str(bin_dir / "rosey-db"), "--nats-url", server.url,
                               "--db-path", str(workdir / "roundtrip.db"),
                               "--metrics-port", str(db_port)],
                              log_path=workdir / "roundtrip-db.log", env=env)
            bot = start_module([str(bin_dir / "rosey-bot"), "--domain", cytube.url,
                                "--channel", cytube.channel, "--nats-url", server.url,
                                "--metrics-port", str(bot_port)],
                               log_path=workdir / "roundtrip-bot.log",
                               env={**env, "ROSEY_CYTUBE_USER": BOT,
                                    "ROSEY_CYTUBE_PASSWORD": BOT_PASSWORD})
            try:
                await wait_http_ok(db_port, "/readyz", 60, db)
                await wait_http_ok(bot_port, "/readyz", 60, bot)
                for command in ("info", "stats"):
                    await _one(cytube, command)  # warm-up, not counted
                    times = result.seconds.setdefault(command, [])
                    for _ in range(samples):
                        await asyncio.sleep(spacing)  # the pacing, not a wait for a condition
                        times.append(await _one(cytube, command))
                    say(f"  {command}: median {statistics.median(times) * 1000:.1f} ms,"
                        f" max {max(times) * 1000:.1f} ms ({samples} PMs)")
            finally:
                await stop_worker(bot)
                await stop_worker(db)
    finally:
        await cytube.stop()
    return result


async def _one(cytube: Any, command: str) -> float:
    before = len(cytube.pms_to(MOD))
    started = time.perf_counter()
    await cytube.user_pm(MOD, BOT, command)
    deadline = started + 10.0
    while len(cytube.pms_to(MOD)) == before:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"no reply to {command!r} within 10 s")
        await asyncio.sleep(0.0005)
    return time.perf_counter() - started
