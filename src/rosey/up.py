"""``rosey up``: the whole stack on one machine, for trying Rosey out.

Starts a local nats-server with JetStream (unless ``--nats-url`` names one), the
DatabaseService as a subprocess (``python -m rosey.db``) and the bot in this process, and stops
all of it on Ctrl-C or SIGTERM: the bot leaves the channel first, then the DatabaseService
drains, then NATS goes. If ``rosey up`` is killed (SIGKILL) they are SIGKILLed with it (Linux:
:func:`rosey.process.die_with_parent`), so nothing keeps the ports or the data directory.
Everything it writes lives under ``--data-dir``.

The nats-server it starts accepts only Rosey's three identities (docs/nats-security.md):
random passwords are made once in ``<data-dir>/nats-auth/<user>.password`` (0600, kept across
runs), ``<data-dir>/nats.conf`` (0600) holds the users and their permissions, the
DatabaseService connects as ``dbservice`` and the bot as ``bot``, and the log says how an
outside tool connects as ``operator``. With ``--nats-url`` nothing is generated: both services
use ``ROSEY_NATS_USER``/``ROSEY_NATS_PASSWORD(_FILE)`` and the TLS settings as given.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import structlog

from rosey import contract, nats_auth
from rosey.automod.rules import check_rules_file
from rosey.bus import check_identity
from rosey.config import (
    DEFAULT_DATA_DIR,
    NATS_AUTH_HELP,
    NatsAuth,
    UpSettings,
    bot_settings,
    check_parent_directory,
    nats_auth_settings,
    up_settings,
)
from rosey.errors import UpError
from rosey.metrics import BotMetrics, activity_logged
from rosey.natsd import SYNC_INTERVAL, NatsServer
from rosey.process import Stopped, die_with_parent, stop_process

__all__ = ["UP_HELP", "add_up_arguments", "run_up_from_args", "run_up", "UpError"]

log = structlog.get_logger()

UP_HELP = f"""\
Run NATS (JetStream), the DatabaseService and the bot together on this machine.

Every flag can also be given as an environment variable (the flag wins):
  --domain            ROSEY_CYTUBE_DOMAIN     CyTube site, e.g. https://cytu.be
  --channel           ROSEY_CYTUBE_CHANNEL    channel to join
  --nats-url          ROSEY_NATS_URL          use this NATS instead of starting nats-server
  --data-dir          ROSEY_DATA_DIR          database + NATS store (default ./{DEFAULT_DATA_DIR};
                                              created if its parent directory exists)
  --db-metrics-port   ROSEY_DB_METRICS_PORT   DatabaseService /metrics port (default 9101)
  --bot-metrics-port  ROSEY_BOT_METRICS_PORT  bot /metrics port (default 9102)
  --automod           ROSEY_AUTOMOD_FILE      automatic moderation rules (docs/automod.md)
The bot account comes from ROSEY_CYTUBE_USER / ROSEY_CYTUBE_PASSWORD(_FILE).
Ctrl-C or SIGTERM stops everything: the bot leaves, the DatabaseService drains, NATS stops.
The local nats-server accepts only Rosey's users (passwords in <data-dir>/nats-auth/, made once;
the log line up_operator_connect says how an outside tool connects). With --nats-url, both
services use the NATS settings below.
""" + NATS_AUTH_HELP

#: how long each part gets to stop cleanly before it is killed
STOP_TIMEOUT = 15.0


def add_up_arguments(parser: argparse.ArgumentParser) -> None:
    if not parser.description:
        parser.description = UP_HELP
    parser.add_argument("--domain", help="CyTube site [ROSEY_CYTUBE_DOMAIN]")
    parser.add_argument("--channel", help="channel to join [ROSEY_CYTUBE_CHANNEL]")
    parser.add_argument("--nats-url", help="use this NATS instead of starting one [ROSEY_NATS_URL]")
    parser.add_argument("--data-dir", help=f"database and NATS store (default ./{DEFAULT_DATA_DIR})"
                                           " [ROSEY_DATA_DIR]")
    parser.add_argument("--db-metrics-port", type=int, help="[ROSEY_DB_METRICS_PORT]")
    parser.add_argument("--bot-metrics-port", type=int, help="[ROSEY_BOT_METRICS_PORT]")
    parser.add_argument("--automod", help="automatic moderation rules, YAML [ROSEY_AUTOMOD_FILE]")


def run_up_from_args(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from rosey.running import run_until_signalled

    up = up_settings(env, nats_url=args.nats_url, data_dir=args.data_dir,
                     db_metrics_port=args.db_metrics_port, bot_metrics_port=args.bot_metrics_port)
    # validate before starting anything: a missing domain or channel, or a data directory
    # under a directory that does not exist, fails here
    bot = bot_settings(env, domain=args.domain, channel=args.channel,
                       nats_url=up.nats_url or "nats://127.0.0.1:0",
                       metrics_port=up.bot_metrics_port, automod_file=args.automod)
    check_rules_file(bot.automod_file)
    check_parent_directory(up.data_dir.resolve(), "--data-dir/ROSEY_DATA_DIR")
    nats_auth_settings(env)
    asyncio.run(run_until_signalled(lambda stop: run_up(args, up, env, stop)))
    return 0


async def _until_stopped_or_exited(stop: asyncio.Event, db_proc: asyncio.subprocess.Process) -> None:
    """Wait for ``stop``; a DatabaseService that exits first (a port in use, a bad file) ends
    ``rosey up`` with an error instead of leaving a bot with nothing behind it."""
    stopping = asyncio.ensure_future(stop.wait())
    exiting = asyncio.ensure_future(db_proc.wait())
    try:
        await asyncio.wait({stopping, exiting}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        exiting.cancel()
    if not stop.is_set():
        raise UpError(f"rosey-db exited with code {db_proc.returncode} (its lines above say why);"
                      " stopping everything")


def _report(name: str, stopped: Stopped | None) -> None:
    if stopped is None:
        return
    if stopped.killed:
        log.warning("up_process_killed", process=name, waited_seconds=STOP_TIMEOUT)
    log.info("up_process_stopped", process=name, code=stopped.code)


async def _start_nats(data_dir: Path) -> tuple[NatsServer, dict[str, Path]]:
    """nats-server with JetStream in ``data_dir/nats`` accepting only Rosey's identities."""
    files = nats_auth.ensure_passwords(data_dir / "nats-auth")
    conf = data_dir / "nats.conf"
    nats_auth.write_nats_conf(conf, files, store_dir=data_dir / "nats")
    nats = NatsServer(config_file=conf, jetstream=False, log_path=data_dir / "nats-server.log",
                      die_with_parent=True)
    await nats.start()
    log.info("up_nats_started", url=nats.url, pid=nats.pid, config=str(conf),
             sync_interval=SYNC_INTERVAL,
             log=str(data_dir / "nats-server.log"))
    log.info("up_operator_connect", user=nats_auth.OPERATOR,
             password_file=str(files[nats_auth.OPERATOR]),
             example=operator_command(nats.url, files[nats_auth.OPERATOR]))
    return nats, files


def operator_command(url: str, password_file: Path) -> str:
    """A ``nats`` CLI line that runs a query as the operator (the password stays in its file)."""
    return (f"nats --server {url} --user {nats_auth.OPERATOR} "
            f"--password \"$(cat {shlex.quote(str(password_file))})\" "
            f"request {contract.QUERY_CHANNEL_STATS} '{{}}'")


async def run_up(args: argparse.Namespace, up: UpSettings, env: Mapping[str, str],
                 stop: asyncio.Event) -> None:
    """Start NATS (unless ``up.nats_url``), the DatabaseService and the bot; stop them in
    reverse on ``stop``."""
    from rosey.bot.service import BotService, reload_on_sighup

    data_dir = up.data_dir.resolve()
    data_dir.mkdir(exist_ok=True)
    nats: NatsServer | None = None
    db_proc: asyncio.subprocess.Process | None = None
    try:
        # the DatabaseService never sees the bot's account or passwords
        db_env = {k: v for k, v in env.items() if not k.startswith("ROSEY_CYTUBE_")}
        given = nats_auth_settings(env)
        if up.nats_url:
            nats_url = up.nats_url
            bot_auth: NatsAuth = given
        else:
            nats, files = await _start_nats(data_dir)
            nats_url = nats.url
            bot_auth = nats_auth.identity_auth(nats_auth.BOT, files[nats_auth.BOT])
            for key in [k for k in db_env if k.startswith("ROSEY_NATS_")]:
                del db_env[key]
            db_env["ROSEY_NATS_USER"] = nats_auth.DBSERVICE
            db_env["ROSEY_NATS_PASSWORD_FILE"] = str(files[nats_auth.DBSERVICE])
        db_proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "rosey.db", "--nats-url", nats_url,
            "--db-path", str(data_dir / "rosey.db"), "--metrics-port", str(up.db_metrics_port),
            env=db_env, stdin=asyncio.subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches only us; we stop them in order
            preexec_fn=die_with_parent())  # and a SIGKILL of us takes them along
        log.info("up_db_started", pid=db_proc.pid, db_path=str(data_dir / "rosey.db"))
        settings = replace(bot_settings(env, domain=args.domain, channel=args.channel,
                                        nats_url=nats_url, metrics_port=up.bot_metrics_port,
                                        automod_file=args.automod),
                           nats_auth=bot_auth)
        check_identity(bot_auth)
        metrics = BotMetrics()
        async with activity_logged("bot_activity", metrics.activity,
                                   settings.activity_log_seconds):
            async with BotService(settings=settings, metrics=metrics) as bot:
                with reload_on_sighup(bot):
                    await _until_stopped_or_exited(stop, db_proc)
    finally:
        if db_proc is not None:
            _report("rosey-db", await stop_process(db_proc, timeout=STOP_TIMEOUT))
        if nats is not None:
            _report("nats-server", await nats.stop(STOP_TIMEOUT))
