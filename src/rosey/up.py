"""``rosey up``: the whole stack on one machine, for trying Rosey out.

Starts a local nats-server with JetStream (unless ``--nats-url`` names one), the
DatabaseService as a subprocess (``python -m rosey.db``) and the bot in this process, and stops
all of it on Ctrl-C or SIGTERM: the bot leaves the channel first, then the DatabaseService
drains, then NATS goes. Everything it writes lives under ``--data-dir``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import structlog

from rosey.config import DEFAULT_BOT_METRICS_PORT, DEFAULT_DB_METRICS_PORT, bot_settings
from rosey.errors import ConfigError, RoseyError

__all__ = ["add_up_arguments", "run_up_from_args", "run_up", "find_nats_server"]

log = structlog.get_logger()

UP_HELP = """\
Run NATS (JetStream), the DatabaseService and the bot together on this machine.

  --domain, --channel   the CyTube site and channel (or ROSEY_CYTUBE_DOMAIN/_CHANNEL)
  --nats-url            use this NATS instead of starting one
  --data-dir            where the database and the NATS store live (default ./rosey-data)
  --db-metrics-port, --bot-metrics-port   /metrics ports (defaults 9101, 9102)
The bot account comes from ROSEY_CYTUBE_USER / ROSEY_CYTUBE_PASSWORD(_FILE).
Ctrl-C or SIGTERM stops everything.
"""

_LISTEN = re.compile(r"Listening for client connections on [^:\s]+:(\d+)")


class UpError(RoseyError):
    """A part of the local stack could not be started."""


def add_up_arguments(parser: argparse.ArgumentParser) -> None:
    if not parser.description:
        parser.description = UP_HELP
    parser.add_argument("--domain", help="CyTube site [ROSEY_CYTUBE_DOMAIN]")
    parser.add_argument("--channel", help="channel to join [ROSEY_CYTUBE_CHANNEL]")
    parser.add_argument("--nats-url", help="use this NATS instead of starting one")
    parser.add_argument("--data-dir", default="./rosey-data",
                        help="database and NATS store (default ./rosey-data)")
    parser.add_argument("--db-metrics-port", type=int, default=DEFAULT_DB_METRICS_PORT)
    parser.add_argument("--bot-metrics-port", type=int, default=DEFAULT_BOT_METRICS_PORT)


def find_nats_server() -> str | None:
    found = shutil.which("nats-server")
    if found:
        return found
    return "/usr/sbin/nats-server" if os.path.exists("/usr/sbin/nats-server") else None


def run_up_from_args(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from rosey.cli import run_until_signalled

    settings_env = dict(env)
    if not args.nats_url:
        settings_env.pop("ROSEY_NATS_URL", None)
    # validate before starting anything: a missing domain or channel fails here
    bot_settings(settings_env, domain=args.domain, channel=args.channel,
                 nats_url=args.nats_url or "nats://127.0.0.1:0",
                 metrics_port=args.bot_metrics_port)
    asyncio.run(run_until_signalled(lambda stop: run_up(args, settings_env, stop)))
    return 0


async def _start_nats(data_dir: Path, timeout: float = 15.0) -> tuple[asyncio.subprocess.Process, str]:
    binary = find_nats_server()
    if binary is None:
        raise UpError("nats-server is not installed (PATH or /usr/sbin); or pass --nats-url")
    log_path = data_dir / "nats-server.log"
    if log_path.exists():
        log_path.unlink()
    proc = await asyncio.create_subprocess_exec(
        binary, "-a", "127.0.0.1", "-p", "-1", "-js", "-sd", str(data_dir / "nats"),
        "-l", str(log_path), stdin=asyncio.subprocess.DEVNULL, start_new_session=True,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log_path.read_text() if log_path.exists() else ""
        m = _LISTEN.search(text)
        if "Server is ready" in text and m:
            url = f"nats://127.0.0.1:{m.group(1)}"
            log.info("up_nats_started", url=url, pid=proc.pid)
            return proc, url
        if proc.returncode is not None:
            raise UpError(f"nats-server exited with {proc.returncode}; see {log_path}")
        await asyncio.sleep(0.05)
    await _stop_proc(proc, "nats-server")
    raise UpError(f"nats-server did not become ready in {timeout}s; see {log_path}")


async def _stop_proc(proc: asyncio.subprocess.Process, name: str, timeout: float = 15.0) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            log.warning("up_process_killed", process=name)
            proc.kill()
            await proc.wait()
    log.info("up_process_stopped", process=name, code=proc.returncode)


async def run_up(args: argparse.Namespace, env: Mapping[str, str], stop: asyncio.Event) -> None:
    """Start NATS (maybe), the DatabaseService and the bot; stop them in reverse on ``stop``."""
    from rosey.bot.service import BotService

    data_dir = Path(args.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    nats_proc: asyncio.subprocess.Process | None = None
    db_proc: asyncio.subprocess.Process | None = None
    try:
        if args.nats_url:
            nats_url = args.nats_url
        else:
            nats_proc, nats_url = await _start_nats(data_dir)
        db_env = {k: v for k, v in env.items() if not k.startswith("ROSEY_CYTUBE_")}
        db_proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "rosey.db", "--nats-url", nats_url,
            "--db-path", str(data_dir / "rosey.db"), "--metrics-port", str(args.db_metrics_port),
            env={**os.environ, **db_env}, stdin=asyncio.subprocess.DEVNULL,
            start_new_session=True)  # Ctrl-C reaches only us; we stop them in order
        log.info("up_db_started", pid=db_proc.pid, db_path=str(data_dir / "rosey.db"))
        settings = bot_settings(env, domain=args.domain, channel=args.channel,
                                nats_url=nats_url, metrics_port=args.bot_metrics_port)
        async with BotService(settings=settings):
            await stop.wait()
    except ConfigError:
        raise
    finally:
        if db_proc is not None:
            await _stop_proc(db_proc, "rosey-db")
        if nats_proc is not None:
            await _stop_proc(nats_proc, "nats-server")
