"""BotService's lifecycle: states, closing twice, no reopening, and a failed open."""

from __future__ import annotations

import socket

import pytest
from prometheus_client import CollectorRegistry

from rosey.bot.cytube import SessionPhase, SessionState
from rosey.bot.publisher import PublisherState
from rosey.bot.service import BotService, BotState
from rosey.errors import ConfigError, LifecycleError
from rosey.metrics import BotMetrics
from tests.bot.conftest import FAST, FAST_SEND, bot_settings, running_bot


async def test_states_follow_open_and_close_and_a_closed_bot_stays_closed(cytube, nats_server):
    async with running_bot(cytube, nats_server.url) as bot:
        assert bot.state is BotState.OPEN
        assert bot.session.state is SessionState.OPEN and bot.session.phase is SessionPhase.JOINED
        assert bot.publisher.state is PublisherState.OPEN
    assert bot.state is BotState.CLOSED
    assert bot.session.state is SessionState.CLOSED and bot.session.phase is SessionPhase.IDLE
    assert bot.publisher.state is PublisherState.CLOSED
    await bot.aclose()  # safe twice
    with pytest.raises(LifecycleError, match="cannot be opened twice"):
        await bot.__aenter__()
    assert bot.state is BotState.CLOSED


async def test_a_failed_open_closes_what_it_started(cytube, nats_server):
    with socket.socket() as taken:  # the metrics port is in use
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        bot = BotService(settings=bot_settings(cytube, nats_server.url, metrics_port=port),
                         metrics=BotMetrics(CollectorRegistry()), serve_metrics=True,
                         connect_policy=FAST, send_policy=FAST_SEND)
        with pytest.raises(ConfigError):
            async with bot:
                raise AssertionError("the bot opened on a port that is in use")
    assert bot.state is BotState.CLOSED
    assert bot.session.state is SessionState.CLOSED and bot.publisher.state is PublisherState.CLOSED
    assert cytube.connections == 0
