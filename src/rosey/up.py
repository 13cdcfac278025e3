"""``rosey up``: the whole stack on one machine, for trying Rosey out.

Starts a local nats-server with JetStream (unless ``--nats-url`` names one), the
DatabaseService and the web page as subprocesses (``python -m rosey.db``, ``python -m
rosey.web``) and the bot in this process, and stops all of it on Ctrl-C or SIGTERM: the bot
leaves the channel first, then the web page and the DatabaseService stop, then NATS goes. If
``rosey up`` is killed (SIGKILL) they are SIGKILLed with it (Linux:
:func:`rosey.process.die_with_parent`), so nothing keeps the ports or the data directory.
Everything it writes lives under ``--data-dir``. The web page's address is logged
(``up_web_started``, ``url``) and is the bot's ``ROSEY_WEB_URL`` for login links unless that
is set.

The nats-server it starts accepts only Rosey's four identities (docs/nats-security.md):
random passwords are made once in ``<data-dir>/nats-auth/<user>.password`` (0600, kept across
runs), ``<data-dir>/nats.conf`` (0600) holds the users and their permissions, the
DatabaseService connects as ``dbservice``, the web page as ``web`` and the bot as ``bot``, and
the log says how an outside tool connects as ``operator``. With ``--nats-url`` nothing is
generated: every service uses ``ROSEY_NATS_USER``/``ROSEY_NATS_PASSWORD(_FILE)`` and the TLS
settings as given.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import socket
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
from rosey.errors import ConfigError, UpError
from rosey.metrics import BotMetrics, activity_logged
from rosey.natsd import SYNC_INTERVAL, NatsServer
from rosey.process import Stopped, die_with_parent, stop_process
from rosey.web.settings import DEFAULT_WEB_PORT

__all__ = ["UP_HELP", "add_up_arguments", "run_up_from_args", "run_up",
           "web_port_setting", "UpError"]

log = structlog.get_logger()

UP_HELP = f"""\
Run NATS (JetStream), the DatabaseService, the web page and the bot together on this machine.

Every flag can also be given as an environment variable (the flag wins):
  --domain            ROSEY_CYTUBE_DOMAIN     CyTube site, e.g. https://cytu.be
  --channel           ROSEY_CYTUBE_CHANNEL    channel to join
  --nats-url          ROSEY_NATS_URL          use this NATS instead of starting nats-server
  --data-dir          ROSEY_DATA_DIR          database + NATS store (default ./{DEFAULT_DATA_DIR};
                                              created if its parent directory exists)
  --db-metrics-port   ROSEY_DB_METRICS_PORT   DatabaseService /metrics port (default 9101)
  --bot-metrics-port  ROSEY_BOT_METRICS_PORT  bot /metrics port (default 9102)
  --web-port          ROSEY_WEB_PORT          the web page's port (default 8080; 0 = a free
                                              one); its address is logged (up_web_started)
  --automod           ROSEY_AUTOMOD_FILE      automatic moderation rules (docs/automod.md)
The bot account comes from ROSEY_CYTUBE_USER / ROSEY_CYTUBE_PASSWORD(_FILE).
Ctrl-C or SIGTERM stops everything: the bot leaves, the web page and the DatabaseService
stop, NATS stops.
The local nats-server accepts only Rosey's users (passwords in <data-dir>/nats-auth/, made once;
the log line up_operator_connect says how an outside tool connects). With --nats-url, every
service uses the NATS settings below.
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
    parser.add_argument("--web-port", type=int,
                        help=f"the web page's port (default {DEFAULT_WEB_PORT}; 0 = a free one)"
                             " [ROSEY_WEB_PORT]")


def web_port_setting(env: Mapping[str, str], cli: int | None) -> int:
    """The web page's port: ``--web-port``, else ``ROSEY_WEB_PORT``, else 8080; 0 means a free
    one (chosen when it starts)."""
    raw: object = cli
    if cli is None:
        raw = env.get("ROSEY_WEB_PORT") or DEFAULT_WEB_PORT
    try:
        port = int(str(raw))
    except ValueError:
        raise ConfigError(f"ROSEY_WEB_PORT must be an integer, got {raw!r}") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"--web-port/ROSEY_WEB_PORT must be 0..65535, got {port}")
    return port


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
    web_port_setting(env, args.web_port)
    asyncio.run(run_until_signalled(lambda stop: run_up(args, up, env, stop)))
    return 0


async def _until_stopped_or_exited(stop: asyncio.Event,
                                   procs: Mapping[str, asyncio.subprocess.Process]) -> None:
    """Wait for ``stop``; a child (``{name: process}``: the DatabaseService, the web page) that
    exits first (a port in use, a bad file) ends ``rosey up`` with an error instead of leaving
    the others running without it."""
    stopping = asyncio.ensure_future(stop.wait())
    exiting = {asyncio.ensure_future(proc.wait()): name for name, proc in procs.items()}
    try:
        done, _ = await asyncio.wait({stopping, *exiting}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        for waiting in exiting:
            waiting.cancel()
    if not stop.is_set():
        name = next(exiting[f] for f in done if f in exiting)
        raise UpError(f"{name} exited with code {procs[name].returncode} (its lines above say"
                      " why); stopping everything")


def _free_port() -> int:
    """A port nothing listens on now (``--web-port 0``); the web page binds it next."""
    with socket.socket() as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])


def _web_url(env: Mapping[str, str], port: int) -> str:
    """Where this machine's browser finds the web page."""
    host = env.get("ROSEY_WEB_HOST") or "127.0.0.1"
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"http://{host}:{port}" if ":" not in host else f"http://[{host}]:{port}"


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


async def _start_web(web_env: dict[str, str], nats_url: str,
                     port: int) -> tuple[asyncio.subprocess.Process, str]:
    """``python -m rosey.web`` on ``port`` (0: a free one) with ``web_env``; logs
    ``up_web_started`` with its address and returns the process and that address."""
    port = port or _free_port()
    web_env = {**web_env, "ROSEY_NATS_URL": nats_url, "ROSEY_WEB_PORT": str(port)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rosey.web", env=web_env, stdin=asyncio.subprocess.DEVNULL,
        start_new_session=True, preexec_fn=die_with_parent())
    url = _web_url(web_env, port)
    log.info("up_web_started", pid=proc.pid, url=f"{url}/")
    return proc, url


async def run_up(args: argparse.Namespace, up: UpSettings, env: Mapping[str, str],
                 stop: asyncio.Event) -> None:
    """Start NATS (unless ``up.nats_url``), the DatabaseService, the web page and the bot; stop
    them in reverse on ``stop``."""
    from rosey.bot.service import BotService, reload_on_sighup

    data_dir = up.data_dir.resolve()
    data_dir.mkdir(exist_ok=True)
    nats: NatsServer | None = None
    db_proc: asyncio.subprocess.Process | None = None
    web_proc: asyncio.subprocess.Process | None = None
    try:
        # neither the DatabaseService nor the web page sees the bot's account or passwords
        db_env = {k: v for k, v in env.items() if not k.startswith("ROSEY_CYTUBE_")}
        web_env = dict(db_env)
        given = nats_auth_settings(env)
        if up.nats_url:
            nats_url = up.nats_url
            bot_auth: NatsAuth = given
        else:
            nats, files = await _start_nats(data_dir)
            nats_url = nats.url
            bot_auth = nats_auth.identity_auth(nats_auth.BOT, files[nats_auth.BOT])
            for child_env, user in ((db_env, nats_auth.DBSERVICE), (web_env, nats_auth.WEB)):
                for key in [k for k in child_env if k.startswith("ROSEY_NATS_")]:
                    del child_env[key]
                child_env["ROSEY_NATS_USER"] = user
                child_env["ROSEY_NATS_PASSWORD_FILE"] = str(files[user])
        db_proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "rosey.db", "--nats-url", nats_url,
            "--db-path", str(data_dir / "rosey.db"), "--metrics-port", str(up.db_metrics_port),
            env=db_env, stdin=asyncio.subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches only us; we stop them in order
            preexec_fn=die_with_parent())  # and a SIGKILL of us takes them along
        log.info("up_db_started", pid=db_proc.pid, db_path=str(data_dir / "rosey.db"))
        # the web page reads through NATS only (it never opens the database file)
        web_proc, web_url = await _start_web(web_env, nats_url,
                                             web_port_setting(env, args.web_port))
        settings = replace(bot_settings(env, domain=args.domain, channel=args.channel,
                                        nats_url=nats_url, metrics_port=up.bot_metrics_port,
                                        automod_file=args.automod),
                           nats_auth=bot_auth)
        if not settings.web_url:  # the login links point at this web page
            settings = replace(settings, web_url=web_url)
        check_identity(bot_auth)
        metrics = BotMetrics()
        async with activity_logged("bot_activity", metrics.activity,
                                   settings.activity_log_seconds):
            async with BotService(settings=settings, metrics=metrics) as bot:
                with reload_on_sighup(bot):
                    await _until_stopped_or_exited(stop, {"rosey-db": db_proc,
                                                          "rosey-web": web_proc})
    finally:
        if web_proc is not None:
            _report("rosey-web", await stop_process(web_proc, timeout=STOP_TIMEOUT))
        if db_proc is not None:
            _report("rosey-db", await stop_process(db_proc, timeout=STOP_TIMEOUT))
        if nats is not None:
            _report("nats-server", await nats.stop(STOP_TIMEOUT))
