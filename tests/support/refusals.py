"""Watching Rosey's own connect be refused: ``rosey.bus.connect`` keeps retrying and logs each
refusal, so a test runs it until the lines it expects are there, then stops it."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Any

import pytest
import structlog

from rosey import bus
from rosey.config import NatsAuth
from rosey.errors import ConnectAborted
from tests.support.wait import eventually


async def refused_connect(url: str, auth: NatsAuth | None, *,
                          events: Collection[str] = ("nats_auth_refused",), times: int = 1,
                          timeout: float = 15.0,
                          first_attempt_timeout: float | None = None) -> list[dict[str, Any]]:
    """Run ``bus.connect(url, auth=auth)`` until ``times`` log lines named one of ``events``
    were written, stop it (it must end in ConnectAborted: it never connected), and return
    every line it logged. ``first_attempt_timeout`` goes to ``bus.connect`` (its default when
    None): a round that hangs (a failed TLS handshake) is given up after a few times it."""
    stop = asyncio.Event()
    options = {} if first_attempt_timeout is None else {
        "first_attempt_timeout": first_attempt_timeout}
    with structlog.testing.capture_logs() as logs:
        task = asyncio.create_task(bus.connect(url, name="t", auth=auth, stop=stop, **options))
        await eventually(lambda: sum(e["event"] in events for e in logs) >= times,
                         timeout=timeout, what=f"{times} x {' or '.join(events)}")
        stop.set()
        with pytest.raises(ConnectAborted):
            await task
    return logs
