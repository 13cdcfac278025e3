"""``rosey bot`` / ``rosey-bot``: arguments and environment -> BotSettings -> run.

Called by :mod:`rosey.cli`, which configures logging first. Passwords come only from the
environment (``ROSEY_CYTUBE_PASSWORD`` or ``ROSEY_CYTUBE_PASSWORD_FILE``, likewise the channel
password), never from flags, so they stay out of ``ps`` and shell history.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from rosey.automod.rules import check_rules_file
from rosey.bus import check_identity
from rosey.config import NATS_AUTH_HELP, bot_settings
from rosey.metrics import BotMetrics

__all__ = ["BOT_HELP", "add_bot_arguments", "run_bot_from_args"]

BOT_HELP = """\
Run the Rosey bot in one CyTube channel: publish channel events to NATS, obey moderator PMs.

Every flag can also be given as an environment variable (the flag wins):
  --domain        ROSEY_CYTUBE_DOMAIN    CyTube site, e.g. https://cytu.be
  --channel       ROSEY_CYTUBE_CHANNEL   channel name
  --nats-url      ROSEY_NATS_URL         NATS server URL(s) (default nats://127.0.0.1:4222)
  --metrics-port  ROSEY_METRICS_PORT     port for /metrics, /healthz, /readyz (default 9102)
  --reconnect-max-seconds  ROSEY_RECONNECT_MAX_SECONDS  longest wait between reconnect
                  attempts, jittered down by up to 20 % (default 20; CyTube allows 1 connect
                  per 10 s per address after a burst of 5)
  --pause-limit-seconds    ROSEY_PAUSE_LIMIT_SECONDS    how long a `pause` may hold the
                  channel before the bot hands the leader back (default 600)
  --automod-file  ROSEY_AUTOMOD_FILE     automatic moderation rules (docs/automod.md);
                  checked at start (a bad rule: one line, exit 2), reloaded when the file
                  changes and on SIGHUP
Account (environment only; *_FILE variants read the value from a file):
  ROSEY_CYTUBE_USER, ROSEY_CYTUBE_PASSWORD (empty: guest login),
  ROSEY_CYTUBE_CHANNEL_PASSWORD.
Further: ROSEY_OUTBOX_SIZE, ROSEY_QUERY_TIMEOUT_SECONDS, ROSEY_OUTBOUND_POLL_SECONDS,
ROSEY_METRICS_HOST, ROSEY_LOG_LEVEL=debug|info|warning|error, ROSEY_LOG_FORMAT=json|console,
ROSEY_ACTIVITY_LOG_SECONDS (the INFO bot_activity line's interval, default 60).
The stream, when the bot finds none and creates it: ROSEY_STREAM_REPLICAS,
ROSEY_STREAM_MAX_AGE_SECONDS, ROSEY_STREAM_MAX_BYTES, ROSEY_STREAM_DUPLICATE_WINDOW_SECONDS
(give it the DatabaseService's values).
Moderation (docs/moderation.md): ROSEY_ESCALATION (default 3/24h:mute:1h,5/7d:ban:1d; off),
ROSEY_STRIKE_DECAY_SECONDS (default 2592000), ROSEY_COMMAND_RANKS (e.g. ban=3,modlog=3),
ROSEY_LIFT_GRACE_SECONDS (default 5), ROSEY_PUNISHMENT_SYNC_SECONDS (default 60).
The web page (docs/web.md): ROSEY_WEB_URL, its address as browsers reach it, for the
`weblogin` command's links (unset: `weblogin` says the page is not configured).
SIGTERM or SIGINT leaves the channel, drains the outbox briefly and exits 0.
""" + NATS_AUTH_HELP


def add_bot_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the bot's flags to ``parser`` (shared by ``rosey bot`` and ``rosey-bot``)."""
    if not parser.description:
        parser.description = BOT_HELP
    parser.add_argument("--domain", help="CyTube site [ROSEY_CYTUBE_DOMAIN]")
    parser.add_argument("--channel", help="channel to join [ROSEY_CYTUBE_CHANNEL]")
    parser.add_argument("--nats-url", help="NATS URL(s) [ROSEY_NATS_URL]")
    parser.add_argument("--metrics-port", type=int,
                        help="metrics/health port [ROSEY_METRICS_PORT]")
    parser.add_argument("--reconnect-max-seconds", type=float,
                        help="longest wait between reconnect attempts "
                             "[ROSEY_RECONNECT_MAX_SECONDS]")
    parser.add_argument("--pause-limit-seconds", type=float,
                        help="how long a pause may hold the channel [ROSEY_PAUSE_LIMIT_SECONDS]")
    parser.add_argument("--automod-file",
                        help="automatic moderation rules, YAML [ROSEY_AUTOMOD_FILE]")


def run_bot_from_args(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Build settings (ConfigError propagates to the CLI guard) and run until signalled."""
    from rosey.bot.service import run_bot
    from rosey.running import run_service

    settings = bot_settings(env, domain=args.domain, channel=args.channel,
                            nats_url=args.nats_url, metrics_port=args.metrics_port,
                            reconnect_max_delay=args.reconnect_max_seconds,
                            pause_limit=args.pause_limit_seconds,
                            automod_file=args.automod_file)
    check_identity(settings.nats_auth)
    check_rules_file(settings.automod_file)
    metrics = BotMetrics()
    return run_service(lambda stop: run_bot(settings, stop, metrics=metrics),
                       activity=("bot_activity", metrics.activity),
                       interval=settings.activity_log_seconds)
