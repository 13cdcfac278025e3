"""Command-line entry points: ``rosey db``, ``rosey bot``, ``rosey up``, ``rosey
nats-passwords``, ``rosey backup``, ``rosey restore`` (and ``rosey-db``, ``rosey-bot``). The
only place that reads the environment, configures logging and installs signal handlers;
everything else receives settings.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import structlog

from rosey import __version__
from rosey.bus import check_identity
from rosey.config import NATS_AUTH_HELP, check_parent_directory, db_settings
from rosey.errors import ConfigError, RoseyError
from rosey.log import configure_logging, log_format
from rosey.metrics import DbMetrics
from rosey.running import run_service, run_until_signalled

__all__ = ["main", "db_main", "bot_main", "run_until_signalled", "run_service"]

log = structlog.get_logger()

DB_HELP = """\
Run the DatabaseService: consume Rosey's events from NATS into SQLite and answer queries.

Every flag can also be given as an environment variable (the flag wins):
  --nats-url      ROSEY_NATS_URL       NATS server URL(s), comma-separated (default nats://127.0.0.1:4222)
  --db-path       ROSEY_DB_PATH        SQLite file, created when missing; its directory must
                                       exist (default ./rosey.db)
  --metrics-port  ROSEY_METRICS_PORT   port for /metrics, /healthz, /readyz (default 9101)
Further environment settings: ROSEY_JETSTREAM=auto|off, ROSEY_BATCH_SIZE, ROSEY_STREAM_REPLICAS,
ROSEY_STREAM_MAX_AGE_SECONDS, ROSEY_STREAM_MAX_BYTES, ROSEY_STREAM_DUPLICATE_WINDOW_SECONDS,
ROSEY_ACK_WAIT_SECONDS, ROSEY_METRICS_HOST, ROSEY_LOG_LEVEL=debug|info|warning|error,
ROSEY_LOG_FORMAT=json|console, ROSEY_ACTIVITY_LOG_SECONDS (the INFO dbservice_activity line's
interval, default 60), ROSEY_DB_SYNCHRONOUS=full|normal (full, the default: every commit is on
disk before it is acknowledged; docs/durability.md).
SIGTERM or SIGINT stops taking messages, commits what was fetched, closes the file, exits 0.
""" + NATS_AUTH_HELP


def _log_setup(service: str, env: Mapping[str, str]) -> None:
    configure_logging(service, level=env.get("ROSEY_LOG_LEVEL") or "info",
                      json=log_format(env.get("ROSEY_LOG_FORMAT", "")))


def _db_parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=DB_HELP,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nats-url", help="NATS URL(s) [ROSEY_NATS_URL]")
    p.add_argument("--db-path", help="SQLite file [ROSEY_DB_PATH]")
    p.add_argument("--metrics-port", type=int, help="metrics/health port [ROSEY_METRICS_PORT]")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def _run_db(args: argparse.Namespace) -> int:
    from rosey.dbservice.service import run_database_service

    settings = db_settings(os.environ, nats_url=args.nats_url, db_path=args.db_path,
                           metrics_port=args.metrics_port)
    check_parent_directory(settings.db_path, "--db-path/ROSEY_DB_PATH")
    _log_setup("rosey-db", os.environ)

    check_identity(settings.nats_auth)
    metrics = DbMetrics()
    return run_service(lambda stop: run_database_service(settings, stop, metrics=metrics),
                       activity=("dbservice_activity", metrics.activity),
                       interval=settings.activity_log_seconds)


def _run_bot(args: argparse.Namespace) -> int:
    from rosey.bot.cli import run_bot_from_args

    _log_setup("rosey-bot", os.environ)
    return run_bot_from_args(args, os.environ)


def _run_up(args: argparse.Namespace) -> int:
    from rosey.up import run_up_from_args

    _log_setup("rosey-up", os.environ)
    return run_up_from_args(args, os.environ)


NATS_PASSWORDS_HELP = """\
Write the NATS passwords include file from a mounted Secret (the chart's NATS init container).

Reads DIR/bot, DIR/dbservice and DIR/operator (a trailing newline dropped, as Rosey's clients
drop it) and writes OUT, which defines ROSEY_NATS_<USER>_PASSWORD as quoted strings for the
authorization block that nats.conf includes after it (docs/nats-security.md). An empty key, a
line break or another control character ends the command with one line naming the Secret and
the key, and exit code 2.
"""


def _run_nats_passwords(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rosey.nats_auth import write_passwords_include

    write_passwords_include(Path(args.secret_dir), args.secret_name, Path(args.out))
    print(f"rosey nats-passwords: wrote {args.out} from Secret {args.secret_name!r}")
    return 0


def _add_backup_commands(sub: Any) -> None:
    from rosey import backup_cli

    bk = sub.add_parser("backup", help="ask the running DatabaseService for a backup now",
                        description=backup_cli.BACKUP_HELP,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    backup_cli.add_backup_arguments(bk)
    bk.set_defaults(func=backup_cli.run_backup)
    rs = sub.add_parser("restore", help="put a backup in place of the database file",
                        description=backup_cli.RESTORE_HELP,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    backup_cli.add_restore_arguments(rs)
    rs.set_defaults(func=backup_cli.run_restore)


def _guard(fn: Callable[[argparse.Namespace], int], args: argparse.Namespace, prog: str) -> int:
    """Run ``fn``; Rosey's own errors become one line on stderr (exit 2 for configuration, 1
    otherwise) instead of a traceback."""
    try:
        return fn(args)
    except ConfigError as exc:
        print(f"{prog}: configuration error: {exc}", file=sys.stderr)
        return 2
    except RoseyError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


def db_main(argv: Sequence[str] | None = None) -> int:
    args = _db_parser("rosey-db").parse_args(argv)
    return _guard(_run_db, args, "rosey-db")


def bot_main(argv: Sequence[str] | None = None) -> int:
    from rosey.bot.cli import add_bot_arguments

    p = argparse.ArgumentParser(prog="rosey-bot", formatter_class=argparse.RawDescriptionHelpFormatter)
    add_bot_arguments(p)
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return _guard(_run_bot, p.parse_args(argv), "rosey-bot")


def main(argv: Sequence[str] | None = None) -> int:
    from rosey.bot.cli import add_bot_arguments
    from rosey.up import add_up_arguments

    p = argparse.ArgumentParser(prog="rosey", description="Rosey: CyTube bot + DatabaseService")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    db = sub.add_parser("db", help="run the DatabaseService", description=DB_HELP,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    for action in _db_parser("rosey db")._actions[1:-1]:
        db._add_action(action)
    db.set_defaults(func=_run_db)
    bot = sub.add_parser("bot", help="run the CyTube bot",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    add_bot_arguments(bot)
    bot.set_defaults(func=_run_bot)
    up = sub.add_parser("up", help="run NATS, the DatabaseService and the bot on this machine",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_up_arguments(up)
    up.set_defaults(func=_run_up)
    pw = sub.add_parser("nats-passwords", help="write the NATS passwords include file (the chart's)",
                        description=NATS_PASSWORDS_HELP,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    pw.add_argument("--secret-dir", required=True, metavar="DIR",
                    help="where the Secret is mounted (one file per identity)")
    pw.add_argument("--secret-name", required=True, metavar="NAME",
                    help="the Secret's name, for the error line")
    pw.add_argument("--out", required=True, metavar="OUT", help="the include file to write")
    pw.set_defaults(func=_run_nats_passwords)
    _add_backup_commands(sub)
    args = p.parse_args(argv)
    return _guard(args.func, args, f"rosey {args.command}")


if __name__ == "__main__":
    sys.exit(main())
