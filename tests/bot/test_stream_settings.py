"""The bot creates the event stream when it finds none (its outbox drains before the
DatabaseService's first start), and then with the stream settings the DatabaseService would
use: ROSEY_STREAM_* (in the chart, the same values for both), not the built-in defaults."""

from __future__ import annotations

import nats

from rosey import contract
from rosey.config import StreamSettings, bot_settings
from tests.bot.conftest import running_bot
from tests.support.wait import eventually


def test_the_bot_reads_the_same_stream_variables_as_the_database_service():
    env = {"ROSEY_CYTUBE_DOMAIN": "https://cytu.be", "ROSEY_CYTUBE_CHANNEL": "c",
           "ROSEY_STREAM_REPLICAS": "3", "ROSEY_STREAM_MAX_AGE_SECONDS": "3600",
           "ROSEY_STREAM_MAX_BYTES": "1048576", "ROSEY_STREAM_DUPLICATE_WINDOW_SECONDS": "60"}
    assert bot_settings(env).stream == StreamSettings(
        replicas=3, max_age_seconds=3600.0, max_bytes=1048576, duplicate_window_seconds=60.0)


async def test_a_stream_the_bot_creates_has_the_configured_settings(cytube, nats_server):
    wanted = StreamSettings(max_age_seconds=3600.0, max_bytes=64 * 1024 * 1024,
                            duplicate_window_seconds=30.0)
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()

        async def created() -> bool:
            try:
                await js.stream_info(contract.STREAM_NAME)
                return True
            except nats.js.errors.NotFoundError:
                return False

        async with running_bot(cytube, nats_server.url, stream=wanted):
            await eventually(created, timeout=10, what="the bot's first event creates the stream")
        config = (await js.stream_info(contract.STREAM_NAME)).config
        assert (config.max_age, config.max_bytes, config.duplicate_window) == (3600.0,
                                                                              64 * 1024 * 1024,
                                                                              30.0)
    finally:
        await nc.close()
