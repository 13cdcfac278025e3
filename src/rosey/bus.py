"""NATS connection and lifecycle, shared by the bot and the DatabaseService.

:func:`connect` keeps trying until a server answers (a pod may start before NATS does), with
exponential backoff and jitter capped at :data:`MAX_RETRY_SECONDS`, and says once, on the
first failure, that nats-server may not be running at that URL. Once connected it leaves
reconnection to nats-py with unlimited attempts. Its callbacks log every transition once (the
first failed reconnect attempt of an outage at WARNING, the rest at DEBUG), keep a
``rosey_nats_connected`` gauge true, and call an optional ``on_reconnected`` hook (the
DatabaseService recreates its pull subscription there).

:func:`with_message_context` wraps a message handler so that every line logged while it runs
carries the message's ``subject``.
"""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Awaitable, Callable, Iterator

import nats
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from prometheus_client import Counter, Gauge

from rosey.errors import ConnectAborted

__all__ = ["connect", "servers_from_url", "with_message_context", "Client", "FIRST_RETRY_SECONDS",
           "MAX_RETRY_SECONDS"]

log = structlog.get_logger()

Hook = Callable[[], Awaitable[None]]
Handler = Callable[[Msg], Awaitable[None]]

FIRST_RETRY_SECONDS = 0.2
MAX_RETRY_SECONDS = 5.0


def with_message_context(handler: Handler) -> Handler:
    """``handler`` with the message's subject bound (``structlog.contextvars``) while it runs."""

    @functools.wraps(handler)
    async def bound(msg: Msg) -> None:
        with structlog.contextvars.bound_contextvars(subject=msg.subject):
            await handler(msg)

    return bound


def retry_delays(first: float = FIRST_RETRY_SECONDS, cap: float = MAX_RETRY_SECONDS,
                 rng: random.Random | None = None) -> Iterator[float]:
    """Exponential backoff with +-20 % jitter: ``first``, about twice that, ..., about ``cap``."""
    rand = rng or random.Random()
    delay = first
    while True:
        yield min(cap, delay * (0.8 + 0.4 * rand.random()))
        delay = min(delay * 2, cap)


def servers_from_url(url: str) -> list[str]:
    """``"nats://a:4222,nats://b:4222"`` -> a list of server URLs."""
    return [part.strip() for part in url.split(",") if part.strip()]


async def connect(url: str, *, name: str, connected: Gauge | None = None,
                  reconnects: Counter | None = None, on_reconnected: Hook | None = None,
                  stop: asyncio.Event | None = None, first_attempt_timeout: float = 2.0) -> Client:
    """Connect to NATS, retrying with capped backoff until it answers or ``stop`` is set.

    Parameters:
        url: comma-separated server URLs.
        name: the client name shown by the server's monitoring.
        connected: a gauge set to 1/0 as the connection comes and goes.
        reconnects: a counter bumped on every reconnection.
        on_reconnected: an async hook called after a reconnection is logged.
        stop: when set while still trying, raise :class:`~rosey.errors.ConnectAborted`.
    """
    servers = servers_from_url(url)
    # errors since the last (re)connection; None until the first connection (the retry loop
    # below reports those failures itself)
    failures: list[int] = []
    first_errors: list[str] = []  # what the servers said during a first-connect round

    async def error_cb(exc: Exception) -> None:
        if not failures:
            if established:
                log.warning("nats_error", error=str(exc) or type(exc).__name__)
            else:
                first_errors.append(str(exc) or type(exc).__name__)
        else:
            failures[0] += 1
            (log.warning if failures[0] == 1 else log.debug)(
                "nats_reconnect_failed", attempt=failures[0], error=str(exc) or type(exc).__name__)

    async def disconnected_cb() -> None:
        if connected is not None:
            connected.set(0)
        failures[:] = [0]
        log.warning("nats_disconnected")

    async def reconnected_cb() -> None:
        if connected is not None:
            connected.set(1)
        if reconnects is not None:
            reconnects.inc()
        log.info("nats_reconnected", failed_attempts=failures[0] if failures else 0,
                 server=str(nc.connected_url.netloc) if nc.connected_url else None)
        failures.clear()
        if on_reconnected is not None:
            await on_reconnected()

    async def closed_cb() -> None:
        if connected is not None:
            connected.set(0)
        log.info("nats_closed")

    delays = retry_delays()
    attempt = 0
    established = False
    never = asyncio.Event()
    while True:
        attempt += 1
        nc = Client()
        # One round over the servers per attempt (nats-py tries each twice, then gives up:
        # max_reconnect_attempts=1); the backoff between rounds is ours. Raced against the
        # stop event: shutdown must not wait for a server to appear.
        connecting = asyncio.ensure_future(nc.connect(
            servers=servers, name=name, error_cb=error_cb, disconnected_cb=disconnected_cb,
            reconnected_cb=reconnected_cb, closed_cb=closed_cb,
            connect_timeout=first_attempt_timeout, allow_reconnect=True,  # type: ignore[arg-type]
            max_reconnect_attempts=1, reconnect_time_wait=0.5,  # type: ignore[arg-type]
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
            delay = next(delays)
            error = first_errors[-1] if first_errors else str(exc) or type(exc).__name__
            first_errors.clear()
            if attempt == 1:
                log.warning("nats_unreachable", url=url, error=error, retry_in=round(delay, 2),
                            hint=f"is nats-server running at {url}? Retrying until it answers.")
            else:
                log.warning("nats_connect_failed", attempt=attempt, retry_in=round(delay, 2),
                            error=error)
            if stop is not None and stop.is_set():
                raise ConnectAborted("stopped before NATS answered") from exc
            await _sleep_or_stop(delay, stop)
    established = True
    # from now on nats-py reconnects by itself, forever (it reads this option on each outage)
    nc.options["max_reconnect_attempts"] = -1
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

