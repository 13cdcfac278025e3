"""The resilience suite's nats-server really has authentication on: an anonymous client is
refused, and each identity is held to its permissions (so a test that used the wrong one
would fail, not pass by accident)."""

from __future__ import annotations

import json

import nats
import nats.errors
import pytest

from rosey import contract
from tests.support.wait import eventually


async def test_anonymous_clients_are_refused_and_identities_keep_to_their_permissions(
        secured_nats_server):
    server = secured_nats_server
    with pytest.raises(nats.errors.Error):
        await nats.connect(server.url, allow_reconnect=False, connect_timeout=2,
                           max_reconnect_attempts=0)
    denied: list[Exception] = []

    async def error_cb(exc: Exception) -> None:
        denied.append(exc)

    operator = await nats.connect(server.url, error_cb=error_cb,
                                  **server.client_options("operator"))
    try:
        # an event is the bot's to publish, and consumer info the DatabaseService's
        await operator.publish(contract.MESSAGE_LOG,
                               json.dumps({"username": "x", "message": "y"}).encode())
        await operator.flush()
        with pytest.raises((nats.errors.Error, TimeoutError)):
            await operator.jetstream(timeout=2).consumer_info(contract.STREAM_NAME,
                                                              contract.CONSUMER_NAME)
        await eventually(lambda: len(denied) >= 2, timeout=5, what="both refusals reported")
    finally:
        await operator.close()
    refused = " ".join(str(e) for e in denied).lower()
    assert f'permissions violation for publish to "{contract.MESSAGE_LOG}"' in refused, denied
    assert ('permissions violation for publish to "$js.api.consumer.info.'
            f'{contract.STREAM_NAME}.{contract.CONSUMER_NAME}"'.lower()) in refused, denied
