"""Bot fixtures: the stand-in CyTube server, and bots with fast timings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from prometheus_client import CollectorRegistry

from rosey.bot.clock import REAL, Clock
from rosey.bot.limits import ConnectPolicy, SendPolicy
from rosey.bot.service import BotService
from rosey.config import BotSettings, Secret
from rosey.metrics import BotMetrics
from tests.support.cytube import CyTubeTestServer

BOT = "rosey"
BOT_PW = "bot-secret"
MOD = "alice"

FAST = ConnectPolicy(burst=5, refill_seconds=0.2, initial_delay=0.05, max_delay=0.5,
                     kick_delay=0.3, fatal_kick_delay=300.0, guest_login_delay=0.3,
                     login_retry_delay=0.5, connect_timeout=3.0, stable_after=1.0)
FAST_SEND = SendPolicy(burst=15, per_second=8.0)


@pytest.fixture
async def cytube() -> AsyncIterator[CyTubeTestServer]:
    server = CyTubeTestServer(accounts={BOT: (BOT_PW, 3)}, rate_limit=False)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def bot(cytube, nats_server) -> AsyncIterator[BotService]:
    """A moderator bot in a channel with a moderator (alice) and a registered user (bob)."""
    await cytube.add_user(MOD, 2)
    await cytube.add_user("bob", 1)
    async with running_bot(cytube, nats_server.url) as b:
        await cytube.wait_for(lambda: b.channel.is_moderator(MOD) and b.channel.user("bob"))
        yield b


async def queue_items(server: CyTubeTestServer, bot: BotService, *ids: str) -> None:
    """Queue YouTube ``ids`` as the bot and wait until it sees them all."""
    for mid in ids:
        await bot.session.emit("queue", {"id": mid, "type": "yt", "pos": "end"})
    await server.wait_for(lambda: len(bot.channel.playlist) == len(ids))
    await server.wait_for(lambda: bot.channel.current_media is not None)


def bot_settings(server: CyTubeTestServer, nats_url: str, **kw) -> BotSettings:
    base = dict(domain=server.url, channel=server.channel, user=BOT, password=Secret(BOT_PW),
                nats_url=nats_url, metrics_port=0, metrics_host="127.0.0.1",
                query_timeout=0.5, outbound_poll_interval=0.2)
    base.update(kw)
    return BotSettings(**base)


@asynccontextmanager
async def running_bot(server: CyTubeTestServer, nats_url: str, *, wait_joined: bool = True,
                      serve_metrics: bool = False, connect_policy: ConnectPolicy = FAST,
                      clock: Clock = REAL, **kw) -> AsyncIterator[BotService]:
    bot = BotService(settings=bot_settings(server, nats_url, **kw),
                     metrics=BotMetrics(CollectorRegistry()), serve_metrics=serve_metrics,
                     connect_policy=connect_policy, send_policy=FAST_SEND, status_interval=5.0,
                     drain_timeout=1.0, confirm_timeout=3.0, clock=clock)
    async with bot:
        if wait_joined:
            await server.wait_for(lambda: bot.session.joined and bot.channel.is_moderator(BOT),
                                  timeout=10, what="bot joined with its rank")
        yield bot


class Collected(list):
    """JSON payloads seen on a subject (core subscription; JetStream publishes show up too)."""


async def collect(nc, subject: str) -> Collected:
    import json

    seen = Collected()

    async def cb(msg) -> None:
        seen.append(json.loads(msg.data))

    seen.sub = await nc.subscribe(subject, cb=cb)
    await nc.flush()
    return seen


async def ask(server: CyTubeTestServer, bot: BotService, text: str, *, sender: str = MOD,
              timeout: float = 10.0) -> list[str]:
    """PM ``text`` to the bot as ``sender``; return the reply PMs as typed, all of them.

    CyTube escapes and filters PMs (``_x_`` arrives as ``<em>x</em>``); the bot's own
    :func:`~rosey.bot.text.plain_text` undoes that, and test_text checks it round-trips.
    """
    from rosey.bot.text import plain_text

    done = bot.metrics.registry.get_sample_value("rosey_pm_command_seconds_count") or 0
    before_sent = bot.session.sent["pm"]
    before_seen = len(server.pms_to(sender))
    await server.user_pm(sender, BOT, text)
    await server.wait_for(
        lambda: (bot.metrics.registry.get_sample_value("rosey_pm_command_seconds_count") or 0)
        > done, timeout=timeout, what=f"command {text!r} finished")
    def bot_pms() -> list:
        return [d for e, d in server.events_from(BOT) if e == "pm"]

    total = bot.session.sent["pm"]
    await server.wait_for(lambda: len(bot_pms()) >= total, timeout=timeout,
                          what="every PM the bot sent reached the server")
    parts = sum(1 for d in bot_pms()[before_sent:] if d["to"].lower() == sender.lower())
    await server.wait_for(lambda: len(server.pms_to(sender)) - before_seen >= parts,
                          timeout=timeout, what="reply PMs delivered")
    return [plain_text(p) for p in server.pms_to(sender)[before_seen:]]


def reply_text(parts: list[str]) -> str:
    return " | ".join(parts)
