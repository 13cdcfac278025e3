"""NATS connection and lifecycle, shared by the bot and the DatabaseService.

:func:`connect` keeps trying until a server answers (a pod may start before NATS does), then
leaves reconnection to nats-py with unlimited attempts. Its callbacks log every transition
once, keep a ``rosey_nats_connected`` gauge true, and call an optional ``on_reconnected``
hook (the DatabaseService recreates its pull subscription there).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

import nats
import structlog
from nats.aio.client import Client
from prometheus_client import Counter, Gauge

from rosey.errors import ConnectAborted

__all__ = ["connect", "servers_from_url", "Client"]

log = structlog.get_logger()

Hook = Callable[[], Awaitable[None]]


def servers_from_url(url: str) -> list[str]:
    """``"nats://a:4222,nats://b:4222"`` -> a list of server URLs."""
    return [part.strip() for part in url.split(",") if part.strip()]


async def connect(url: str, *, name: str, connected: Gauge | None = None,
                  reconnects: Counter | None = None, on_reconnected: Hook | None = None,
                  on_disconnected: Hook | None = None, stop: asyncio.Event | None = None,
                  first_attempt_timeout: float = 2.0) -> Client:
    """Connect to NATS, retrying with capped backoff until it answers or ``stop`` is set.

    Parameters:
        url: comma-separated server URLs.
        name: the client name shown by the server's monitoring.
        connected: a gauge set to 1/0 as the connection comes and goes.
        reconnects: a counter bumped on every reconnection.
        on_reconnected / on_disconnected: async hooks called after the transition is logged.
        stop: when set while still trying, raise :class:`~rosey.errors.ConnectAborted`.
    """
    servers = servers_from_url(url)

    async def error_cb(exc: Exception) -> None:
        log.warning("nats_error", error=str(exc) or type(exc).__name__)

    async def disconnected_cb() -> None:
        if connected is not None:
            connected.set(0)
        log.warning("nats_disconnected")
        if on_disconnected is not None:
            await on_disconnected()

    async def reconnected_cb() -> None:
        if connected is not None:
            connected.set(1)
        if reconnects is not None:
            reconnects.inc()
        log.info("nats_reconnected", server=str(nc.connected_url.netloc) if nc.connected_url else None)
        if on_reconnected is not None:
            await on_reconnected()

    async def closed_cb() -> None:
        if connected is not None:
            connected.set(0)
        log.info("nats_closed")

    delay = 0.2
    attempt = 0
    never = asyncio.Event()
    while True:
        attempt += 1
        nc = Client()
        # nats-py keeps retrying a first connect by itself (max_reconnect_attempts=-1), so
        # race it against the stop event: shutdown must not wait for a server to appear.
        connecting = asyncio.ensure_future(nc.connect(
            servers=servers, name=name, error_cb=error_cb, disconnected_cb=disconnected_cb,
            reconnected_cb=reconnected_cb, closed_cb=closed_cb,
            connect_timeout=first_attempt_timeout, allow_reconnect=True,  # type: ignore[arg-type]
            max_reconnect_attempts=-1, reconnect_time_wait=0.5,  # type: ignore[arg-type]
            ping_interval=10, max_outstanding_pings=3,
        ))
        stopping = asyncio.ensure_future((stop or never).wait())
        await asyncio.wait({connecting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not connecting.done():
            connecting.cancel()
            await asyncio.gather(connecting, return_exceptions=True)
            await nc.close()
            raise ConnectAborted("stopped before NATS answered")
        try:
            connecting.result()
            break
        except (TimeoutError, OSError, nats.errors.Error) as exc:
            log.warning("nats_connect_failed", attempt=attempt, retry_in=round(delay, 2),
                        error=str(exc) or type(exc).__name__)
            if stop is not None and stop.is_set():
                raise ConnectAborted("stopped before NATS answered") from exc
            await _sleep_or_stop(delay * (0.8 + 0.4 * random.random()), stop)
            delay = min(delay * 2, 5.0)
    if connected is not None:
        connected.set(1)
    log.info("nats_connected", server=str(nc.connected_url.netloc) if nc.connected_url else None)
    return nc


async def _sleep_or_stop(seconds: float, stop: asyncio.Event | None) -> None:
    if stop is None:
        await asyncio.sleep(seconds)
        return
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return
    raise ConnectAborted("stopped before NATS answered")

