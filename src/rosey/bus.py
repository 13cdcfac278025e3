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
permission table in :mod:`rosey.nats_auth` gives each user only its own). The entry points set
the process's identity once with :func:`use_identity`; an explicit ``auth`` wins. Secrets are
never logged. The server's refusals are loud: a refused login is an ERROR line
(``nats_auth_refused``) on every attempt, so is a server certificate that does not verify
(``nats_tls_failed``), and each permissions violation (a publish or
subscribe the identity may not make) is an ERROR line ``nats_permission_denied`` and bumps
``rosey_nats_permission_errors_total``; the operation itself fails or times out, it is not
retried in silence.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import random
import re
import ssl
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
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
           "MAX_RETRY_SECONDS", "use_identity", "connect_options", "is_permission_error"]

log = structlog.get_logger()

Hook = Callable[[], Awaitable[None]]
Handler = Callable[[Msg], Awaitable[None]]

FIRST_RETRY_SECONDS = 0.2
MAX_RETRY_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class _Identity:
    auth: NatsAuth | None = None
    permission_errors: Counter | None = None


_identity: contextvars.ContextVar[_Identity | None] = contextvars.ContextVar(
    "rosey_nats_identity", default=None)


def use_identity(auth: NatsAuth | None, permission_errors: Counter | None = None) -> None:
    """Make ``auth`` (and the permission-error counter) what :func:`connect` uses in this
    context when not given explicitly: the entry points call it once with their settings.
    The files it names are checked here (ConfigError), so a bad one stops the process at
    start instead of failing its first connect."""
    connect_options(auth)
    _identity.set(_Identity(auth, permission_errors))


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
        auth: identity and TLS; the context's (:func:`use_identity`) when None.
        permission_errors: bumped on every permissions violation the server reports.
    """
    servers = servers_from_url(url)
    identity = _identity.get() or _Identity()
    auth = auth if auth is not None else identity.auth
    permission_errors = (permission_errors if permission_errors is not None
                         else identity.permission_errors)
    options = connect_options(auth)
    user = auth.user if auth is not None else None
    # errors since the last (re)connection; None until the first connection (the retry loop
    # below reports those failures itself)
    failures: list[int] = []
    first_errors: list[str] = []  # what the servers said during a first-connect round

    async def error_cb(exc: Exception) -> None:
        if is_permission_error(exc):
            if permission_errors is not None:
                permission_errors.inc()
            log.error("nats_permission_denied", user=user, error=str(exc),
                      hint="this NATS identity may not use that subject "
                           "(docs/nats-security.md)")
            return
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
            ping_interval=10, max_outstanding_pings=3, **options,
        ))
        stopping = asyncio.ensure_future((stop or never).wait())
        # bounded: after a failed TLS handshake nats-py's connect() never returns by itself
        await asyncio.wait({connecting, stopping}, return_when=asyncio.FIRST_COMPLETED,
                           timeout=(first_attempt_timeout + 1.0) * 2 * len(servers) + 1.0)
        stopping.cancel()
        if not connecting.done():
            connecting.cancel()
            await asyncio.gather(connecting, return_exceptions=True)
            await nc.close()
            if stop is not None and stop.is_set():
                raise ConnectAborted("stopped before NATS answered")
            connecting = asyncio.ensure_future(_raise(TimeoutError(
                "no answer to the connection attempt")))
            await asyncio.gather(connecting, return_exceptions=True)
        try:
            connecting.result()
            break
        except (TimeoutError, OSError, nats.errors.Error) as exc:
            delay = next(delays)
            error = first_errors[-1] if first_errors else str(exc) or type(exc).__name__
            first_errors.clear()
            if isinstance(exc, nats.errors.AuthorizationError) or "authorization" in error.lower():
                log.error("nats_auth_refused", url=url, user=user, attempt=attempt,
                          retry_in=round(delay, 2),
                          hint="NATS refused this identity: check ROSEY_NATS_USER and "
                               "ROSEY_NATS_PASSWORD(_FILE) or the credentials file")
            elif "certificate" in error.lower() or "ssl" in error.lower():
                log.error("nats_tls_failed", url=url, attempt=attempt, error=error,
                          retry_in=round(delay, 2),
                          hint="the server's certificate is not signed by ROSEY_NATS_TLS_CA, "
                               "or does not name the URL's host (ROSEY_NATS_TLS_HOSTNAME)")
            elif attempt == 1:
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


async def _raise(exc: BaseException) -> None:
    raise exc


async def _sleep_or_stop(seconds: float, stop: asyncio.Event | None) -> None:
    if stop is None:
        await asyncio.sleep(seconds)
        return
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return
    raise ConnectAborted("stopped before NATS answered")

