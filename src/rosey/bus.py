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

Identity and TLS (docs/nats-security.md): ``auth`` (a :class:`~rosey.config.NatsAuth`) gives
the user and password, a credentials or nkey seed file, and the CA the server is verified
against; a service connected as a user takes ``_INBOX_<user>`` as its inbox prefix (the
permission table in :mod:`rosey.nats_auth` gives each user only its own). The identity is a
setting (``DbSettings.nats_auth``, ``BotSettings.nats_auth``) that each service hands to
:func:`connect`; the entry points check its files at start with :func:`check_identity`.
Secrets are never logged. The server's refusals are loud: a refused login is an ERROR line
(``nats_auth_refused``) on every attempt, so is a server certificate that does not verify
(``nats_tls_failed``), and each permissions violation (a publish or
subscribe the identity may not make) is an ERROR line ``nats_permission_denied`` and bumps
``rosey_nats_permission_errors_total``; the operation itself fails or times out, it is not
retried in silence.
"""

from __future__ import annotations

import asyncio
import functools
import random
import re
import ssl
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import nats
import nkeys
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from prometheus_client import Counter, Gauge

from rosey.config import NatsAuth
from rosey.errors import ConfigError, ConnectAborted

__all__ = ["connect", "servers_from_url", "with_message_context", "Client", "FIRST_RETRY_SECONDS",
           "MAX_RETRY_SECONDS", "check_identity", "connect_options", "is_permission_error"]

log = structlog.get_logger()

Hook = Callable[[], Awaitable[None]]
Handler = Callable[[Msg], Awaitable[None]]

FIRST_RETRY_SECONDS = 0.2
MAX_RETRY_SECONDS = 5.0


def check_identity(auth: NatsAuth | None) -> None:
    """Check the files ``auth`` names (ConfigError): the entry points call it at start, so a
    bad seed or TLS file stops the process there instead of failing its first connect."""
    connect_options(auth)


def is_permission_error(exc: BaseException) -> bool:
    return "permissions violation" in str(exc).lower()


def connect_options(auth: NatsAuth | None) -> dict[str, Any]:
    """nats-py ``connect()`` keyword arguments for ``auth`` (none when None)."""
    if auth is None:
        return {}
    out: dict[str, Any] = {}
    if auth.user:
        out["user"] = auth.user
        out["inbox_prefix"] = f"_INBOX_{auth.user}"
        if auth.password:
            out["password"] = auth.password.reveal()
    if auth.creds_file is not None:
        _check_seed("ROSEY_NATS_CREDS_FILE", auth.creds_file, creds=True)
        out["user_credentials"] = str(auth.creds_file)
    if auth.nkey_seed_file is not None:
        _check_seed("ROSEY_NATS_NKEY_SEED_FILE", auth.nkey_seed_file, creds=False)
        out["nkeys_seed"] = str(auth.nkey_seed_file)
    if auth.tls:
        try:
            context = ssl.create_default_context(
                cafile=str(auth.tls_ca) if auth.tls_ca is not None else None)
            if auth.tls_cert is not None and auth.tls_key is not None:
                context.load_cert_chain(str(auth.tls_cert), str(auth.tls_key))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"NATS TLS files cannot be loaded: {exc}") from None
        out["tls"] = context
        if auth.tls_hostname:
            out["tls_hostname"] = auth.tls_hostname
    return out


_CREDS_SEED = re.compile(r"-----BEGIN USER NKEY SEED-----\s*(\S+)\s*------END USER NKEY SEED------")


def _check_seed(name: str, path: Path, *, creds: bool) -> None:
    """Refuse a seed (or credentials) file nats-py would crash on at connect, without ever
    showing the seed: a ConfigError names only the setting and the file."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if creds:
        found = _CREDS_SEED.search(text)
        if "-----BEGIN NATS USER JWT-----" not in text or found is None:
            raise ConfigError(f"{name}={str(path)!r} is not a NATS credentials file "
                              "(a user JWT, then a user nkey seed)")
        seed = found.group(1)
    else:
        seed = text.strip()
    try:
        nkeys.from_seed(bytearray(seed.encode()))
    except (nkeys.NkeysError, ValueError):
        raise ConfigError(f"{name}={str(path)!r} does not hold a valid nkey seed") from None


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


class _Watch:
    """The connection's callbacks: every transition logged once, the gauge and counter kept,
    permission violations counted; ``established`` once the first connection is made."""

    def __init__(self, *, user: str | None, connected: Gauge | None, reconnects: Counter | None,
                 on_reconnected: Hook | None, permission_errors: Counter | None) -> None:
        self.user = user
        self.connected = connected
        self.reconnects = reconnects
        self.on_reconnected = on_reconnected
        self.permission_errors = permission_errors
        self.nc: Client | None = None
        self.established = False
        # errors since the last (re)connection; empty until an outage (before the first
        # connection the retry loop reports failures itself)
        self.failures: list[int] = []
        self.first_errors: list[str] = []  # what the servers said during a first-connect round

    async def error(self, exc: Exception) -> None:
        if is_permission_error(exc):
            if self.permission_errors is not None:
                self.permission_errors.inc()
            log.error("nats_permission_denied", user=self.user, error=str(exc),
                      hint="this NATS identity may not use that subject "
                           "(docs/nats-security.md)")
            return
        text = str(exc) or type(exc).__name__
        if not self.failures:
            if self.established:
                log.warning("nats_error", error=text)
            else:
                self.first_errors.append(text)
        else:
            self.failures[0] += 1
            (log.warning if self.failures[0] == 1 else log.debug)(
                "nats_reconnect_failed", attempt=self.failures[0], error=text)

    async def disconnected(self) -> None:
        if self.connected is not None:
            self.connected.set(0)
        self.failures[:] = [0]
        log.warning("nats_disconnected")

    async def reconnected(self) -> None:
        if self.connected is not None:
            self.connected.set(1)
        if self.reconnects is not None:
            self.reconnects.inc()
        log.info("nats_reconnected", failed_attempts=self.failures[0] if self.failures else 0,
                 server=_server(self.nc))
        self.failures.clear()
        if self.on_reconnected is not None:
            await self.on_reconnected()

    async def closed(self) -> None:
        if self.connected is not None:
            self.connected.set(0)
        log.info("nats_closed")

    def first_error(self, exc: BaseException) -> str:
        """What the last failed round's servers said (or the exception), then forget it."""
        error = self.first_errors[-1] if self.first_errors else str(exc) or type(exc).__name__
        self.first_errors.clear()
        return error


def _server(nc: Client | None) -> str | None:
    return str(nc.connected_url.netloc) if nc is not None and nc.connected_url else None


async def connect(url: str, *, name: str, connected: Gauge | None = None,
                  reconnects: Counter | None = None, on_reconnected: Hook | None = None,
                  stop: asyncio.Event | None = None, first_attempt_timeout: float = 2.0,
                  auth: NatsAuth | None = None, permission_errors: Counter | None = None,
                  ) -> Client:
    """Connect to NATS, retrying with capped backoff until it answers or ``stop`` is set.

    Parameters:
        url: comma-separated server URLs.
        name: the client name shown by the server's monitoring.
        connected: a gauge set to 1/0 as the connection comes and goes.
        reconnects: a counter bumped on every reconnection.
        on_reconnected: an async hook called after a reconnection is logged.
        stop: when set while still trying, raise :class:`~rosey.errors.ConnectAborted`.
        auth: identity and TLS (the service's ``nats_auth`` setting); None: anonymous.
        permission_errors: bumped on every permissions violation the server reports.
    """
    servers = servers_from_url(url)
    options = connect_options(auth)
    user = auth.user if auth is not None else None
    watch = _Watch(user=user, connected=connected, reconnects=reconnects,
                   on_reconnected=on_reconnected, permission_errors=permission_errors)
    delays = retry_delays()
    attempt = 0
    while True:
        attempt += 1
        nc = watch.nc = Client()
        try:
            await _one_round(nc, servers, name=name, watch=watch, options=options,
                             timeout=first_attempt_timeout, stop=stop)
            break
        except (TimeoutError, OSError, nats.errors.Error) as exc:
            delay = next(delays)
            _report_failure(exc, watch.first_error(exc), url=url, user=user, attempt=attempt,
                            delay=delay)
            if stop is not None and stop.is_set():
                raise ConnectAborted("stopped before NATS answered") from exc
            await _sleep_or_stop(delay, stop)
    watch.established = True
    # from now on nats-py reconnects by itself, forever (it reads this option on each outage)
    nc.options["max_reconnect_attempts"] = -1
    if connected is not None:
        connected.set(1)
    log.info("nats_connected", server=_server(nc))
    return nc


async def _one_round(nc: Client, servers: list[str], *, name: str, watch: _Watch,
                     options: dict[str, Any], timeout: float, stop: asyncio.Event | None) -> None:
    """One round over the servers (nats-py tries each twice, then gives up:
    max_reconnect_attempts=1); the backoff between rounds is the caller's. Raced against the
    stop event: shutdown must not wait for a server to appear."""
    connecting = asyncio.ensure_future(nc.connect(
        servers=servers, name=name, error_cb=watch.error, disconnected_cb=watch.disconnected,
        reconnected_cb=watch.reconnected, closed_cb=watch.closed,
        connect_timeout=timeout, allow_reconnect=True,  # type: ignore[arg-type]
        max_reconnect_attempts=1, reconnect_time_wait=0.5,  # type: ignore[arg-type]
        ping_interval=10, max_outstanding_pings=3, **options,
    ))
    stopping = asyncio.ensure_future((stop or asyncio.Event()).wait())
    # bounded: after a failed TLS handshake nats-py's connect() never returns by itself
    await asyncio.wait({connecting, stopping}, return_when=asyncio.FIRST_COMPLETED,
                       timeout=(timeout + 1.0) * 2 * len(servers) + 1.0)
    stopping.cancel()
    if not connecting.done():
        connecting.cancel()
        await asyncio.gather(connecting, return_exceptions=True)
        await nc.close()
        if stop is not None and stop.is_set():
            raise ConnectAborted("stopped before NATS answered")
        raise TimeoutError("no answer to the connection attempt")
    connecting.result()


def _report_failure(exc: BaseException, error: str, *, url: str, user: str | None,
                    attempt: int, delay: float) -> None:
    """One line for a failed round: a refused identity or certificate is an ERROR every
    time, an unreachable server a WARNING with a hint the first time."""
    retry_in = round(delay, 2)
    if isinstance(exc, nats.errors.AuthorizationError) or "authorization" in error.lower():
        log.error("nats_auth_refused", url=url, user=user, attempt=attempt, retry_in=retry_in,
                  hint="NATS refused this identity: check ROSEY_NATS_USER and "
                       "ROSEY_NATS_PASSWORD(_FILE) or the credentials file")
    elif "certificate" in error.lower() or "ssl" in error.lower():
        log.error("nats_tls_failed", url=url, attempt=attempt, error=error, retry_in=retry_in,
                  hint="the server's certificate is not signed by ROSEY_NATS_TLS_CA, "
                       "or does not name the URL's host (ROSEY_NATS_TLS_HOSTNAME)")
    elif attempt == 1:
        log.warning("nats_unreachable", url=url, error=error, retry_in=retry_in,
                    hint=f"is nats-server running at {url}? Retrying until it answers.")
    else:
        log.warning("nats_connect_failed", attempt=attempt, retry_in=retry_in, error=error)


async def _sleep_or_stop(seconds: float, stop: asyncio.Event | None) -> None:
    if stop is None:
        await asyncio.sleep(seconds)
        return
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return
    raise ConnectAborted("stopped before NATS answered")

