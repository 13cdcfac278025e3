"""``rosey-web`` / ``python -m rosey.web``: arguments and environment -> WebSettings -> run.

The only place the web process reads the environment, configures logging and handles signals;
a setting that cannot work (a bad value, a port in use) ends it with one line on stderr and
exit code 2, as for the other processes.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from rosey import __version__
from rosey.bus import check_identity
from rosey.cli import _guard, _log_setup
from rosey.config import NATS_AUTH_HELP
from rosey.metrics import WebMetrics
from rosey.running import run_service

__all__ = ["main", "WEB_HELP"]

WEB_HELP = """\
Serve the channel's web page: live stats and graphs for everyone, the moderation record for
moderators (docs/web.md). Reads everything over NATS; never opens the database.

Every flag can also be given as an environment variable (the flag wins):
  --host      ROSEY_WEB_HOST   address to listen on (default 0.0.0.0)
  --port      ROSEY_WEB_PORT   port of the page, /api, /metrics, /healthz, /readyz (default 8080)
  --nats-url  ROSEY_NATS_URL   NATS server URL(s) (default nats://127.0.0.1:4222)
Further: ROSEY_WEB_QUERY_TIMEOUT_SECONDS (default 2), ROSEY_WEB_SESSION_SECONDS (a moderator's
session, default and at most 43200 = 12 h), ROSEY_WEB_RANK_CHECK_SECONDS (how often the bot
confirms a session's rank, default and at most 60), ROSEY_WEB_REFRESH_SECONDS (the public
pages reload themselves, default 30), ROSEY_WEB_LOGIN_BURST / ROSEY_WEB_LOGIN_PER_MINUTE (the
login links' rate limit per address, default 5 then 6 a minute),
ROSEY_LOG_LEVEL=debug|info|warning|error, ROSEY_LOG_FORMAT=json|console,
ROSEY_ACTIVITY_LOG_SECONDS (the INFO web_activity line's interval, default 60).
Moderators log in by PMing the bot `weblogin` (the bot needs ROSEY_WEB_URL, this page's
address as browsers reach it).
SIGTERM or SIGINT stops serving and exits 0.
""" + NATS_AUTH_HELP


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rosey-web", description=WEB_HELP,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", help="address to listen on [ROSEY_WEB_HOST]")
    p.add_argument("--port", type=int, help="port [ROSEY_WEB_PORT]")
    p.add_argument("--nats-url", help="NATS URL(s) [ROSEY_NATS_URL]")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def _run(args: argparse.Namespace) -> int:
    from rosey.web.service import run_web
    from rosey.web.settings import web_settings

    settings = web_settings(os.environ, host=args.host, port=args.port, nats_url=args.nats_url)
    _log_setup("rosey-web", os.environ)
    check_identity(settings.nats_auth)
    metrics = WebMetrics()
    return run_service(lambda stop: run_web(settings, stop, metrics=metrics),
                       activity=("web_activity", metrics.activity),
                       interval=settings.activity_log_seconds)


def main(argv: Sequence[str] | None = None) -> int:
    return _guard(_run, _parser().parse_args(argv), "rosey-web")


if __name__ == "__main__":
    sys.exit(main())
