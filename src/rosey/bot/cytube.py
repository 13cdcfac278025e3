"""The socket.io session with a CyTube server: discover, connect, join, log in, reconnect.

:class:`CyTubeSession` owns one python-socketio ``AsyncClient`` per connection (a fresh one
each time, since CyTube starts every socket from scratch) and reconnects by itself, so every
attempt goes through the same two gates: a connect bucket a little inside CyTube's
per-address limit (5, then 1 per 10 s), emptied when CyTube still answers "Rate limit
exceeded", and a capped, jittered exponential backoff. After *every* connect it sends
``joinChannel`` and ``login`` again. ``state`` is the lifecycle (:class:`SessionState`);
``phase`` says where an open session is with CyTube (:class:`SessionPhase`).

Kicks are read, not blindly retried: a duplicate login, a ban or a channel that cannot be
loaded waits ``fatal_kick_delay``; other kicks wait ``kick_delay``. Refused guest logins
("one per IP per 60 seconds", "name already in use") are retried on the same socket later.

Outgoing chat and PMs share one flood budget (:class:`~rosey.bot.limits.SendPolicy`) and
honour ``cooldown``; every message is split to CyTube's 320 characters first. Incoming chat
is turned into :class:`ChatLine` (plain text, ``history`` and ``own`` flags) before the
listener sees it. Server events reach the listener in the order they arrived, synchronously:
the listener must never await.
"""

from __future__ import annotations

import asyncio
import enum
import random
import time
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

import aiohttp
import socketio  # type: ignore[import-untyped]
import structlog

from rosey.bot import frames
from rosey.bot.frames import ChatLine
from rosey.bot.limits import ConnectPolicy, Pacer, SendPolicy, TokenBucket
from rosey.bot.text import plain_text, split_message
from rosey.config import BotSettings
from rosey.errors import DiscoveryError, Kicked, LifecycleError, NotJoined
from rosey.metrics import BotMetrics

__all__ = ["CyTubeSession", "SessionState", "SessionPhase", "ChatLine", "Listener", "discover",
           "kick_is_fatal", "NotJoined", "cancel_and_wait"]

log = structlog.get_logger()

_FATAL_KICKS = (
    "Duplicate login", "You are banned", "You're banned", "Channel was banned",
    "Channel could not be loaded", "Invalid channel name", "This channel has banned",
)
_GUEST_WAIT = ("Guest logins are restricted", "That name is already in use")


async def cancel_and_wait(tasks: set[asyncio.Task[Any]], owner: str,
                          timeout: float = 5.0) -> None:
    """Cancel ``tasks`` and wait for them, bounded; a task that ignores cancellation is logged."""
    pending = [t for t in tasks if not t.done()]
    for task in pending:
        task.cancel()
    if not pending:
        return
    _, stuck = await asyncio.wait(pending, timeout=timeout)
    for task in stuck:
        log.error("task_did_not_stop", owner=owner, task=task.get_name())


def kick_is_fatal(reason: str) -> bool:
    """Kicks after which reconnecting at once would loop or fail again."""
    return reason.startswith(_FATAL_KICKS)


class SessionState(enum.Enum):
    """The session's lifecycle, held in :attr:`CyTubeSession.state`."""

    UNOPENED = "unopened"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


class SessionPhase(enum.Enum):
    """Where an open session is with CyTube, held in :attr:`CyTubeSession.phase`."""

    IDLE = "idle"  # not open (before ``__aenter__``, after ``aclose``)
    CONNECTING = "connecting"  # discovery and the socket.io connect
    JOINING = "joining"  # connected; joinChannel sent, the userlist not seen yet
    JOINED = "joined"  # in the channel
    WAITING = "waiting"  # between attempts (backoff, kick delay)


class Listener(Protocol):
    """What the session tells the service. None of these may await or raise."""

    def on_connected(self) -> None: ...
    def on_joined(self) -> None: ...
    def on_disconnected(self) -> None: ...
    def on_frame(self, frame: frames.Frame) -> None: ...
    def on_chat(self, line: ChatLine) -> None: ...
    def on_pm(self, line: ChatLine) -> None: ...


async def discover(http: aiohttp.ClientSession, domain: str, channel: str, *,
                   timeout: float = 10.0) -> str:
    """``GET {domain}/socketconfig/{channel}.json`` -> the socket.io URL, secure preferred."""
    base = domain if "://" in domain else f"https://{domain}"
    url = f"{base.rstrip('/')}/socketconfig/{channel}.json"
    try:
        async with http.get(url, timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            body = await resp.json(content_type=None)
            status = resp.status
    except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
        raise DiscoveryError(f"{url}: {exc or type(exc).__name__}") from exc
    if status != 200 or not isinstance(body, dict):
        error = body.get("error") if isinstance(body, dict) else None
        raise DiscoveryError(f"{url}: HTTP {status} {error or ''}".strip())
    servers = [s for s in body.get("servers") or [] if isinstance(s, dict) and s.get("url")]
    usable = [s for s in servers if not s.get("ipv6Only") and not s.get("ipv6")] or servers
    if not usable:
        raise DiscoveryError(f"{url}: no socket server listed")
    secure = [s for s in usable if s.get("secure")]
    return str((secure or usable)[0]["url"])


class CyTubeSession:
    """One bot's presence in one CyTube channel, kept up until closed.

    Parameters:
        settings: domain, channel, account and channel password.
        listener: receives events (see :class:`Listener`).
        metrics: ``rosey_cytube_connected`` and ``rosey_cytube_reconnects`` are kept here.
        connect_policy: reconnect and login timings (tests shorten them).
        send_policy: the chat/PM flood budget.
    """

    def __init__(self, *, settings: BotSettings, listener: Listener,
                 metrics: BotMetrics | None = None,
                 connect_policy: ConnectPolicy | None = None,
                 send_policy: SendPolicy | None = None) -> None:
        self._settings = settings
        self._listener = listener
        self._metrics = metrics
        self._policy = connect_policy or ConnectPolicy()
        send = send_policy or SendPolicy()
        self._send_policy = send
        self._connect_bucket = TokenBucket(capacity=self._policy.burst,
                                           rate=1.0 / self._policy.refill_seconds)
        self._send_pacer = Pacer(burst=send.burst, per_second=send.per_second,
                                 quiet=send.quiet_seconds)
        self.state = SessionState.UNOPENED
        self.phase = SessionPhase.IDLE
        self.bot_name = settings.user
        self.last_kick: Kicked | None = None
        self.last_kick_generation = 0
        #: chat messages and PMs sent so far (each part of a split message counts)
        self.sent: dict[str, int] = {"chatMsg": 0, "pm": 0}
        self._sio: socketio.AsyncClient | None = None
        self._http: aiohttp.ClientSession | None = None
        self._generation = 0
        self._logged_in = False
        self._refusal = ""  # the server's connect_error message for the current attempt
        self._join_sent_at = 0.0
        self._connects = 0
        self._can_send = asyncio.Event()
        self._dropped = asyncio.Event()
        self._outq: asyncio.Queue[tuple[str, dict[str, Any], asyncio.Future[None]]] = \
            asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()

    # --- lifecycle ------------------------------------------------------------------------------
    async def __aenter__(self) -> CyTubeSession:
        if self.state is not SessionState.UNOPENED:
            raise LifecycleError(f"a CyTube session cannot be opened twice (state {self.state.value})")
        self._http = aiohttp.ClientSession()
        self.state = SessionState.OPEN
        self.phase = SessionPhase.CONNECTING
        self._spawn(self._run(), "cytube-run")
        self._spawn(self._send_loop(), "cytube-send")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Leave the channel (disconnect), stop reconnecting, fail pending sends. Idempotent."""
        if self.state is not SessionState.OPEN:
            if self.state is SessionState.UNOPENED:
                self.state = SessionState.CLOSED
            return
        self.state = SessionState.CLOSING
        self._can_send.clear()
        await cancel_and_wait(self._tasks, "cytube")
        await self._drop_socket()
        while not self._outq.empty():
            _, _, fut = self._outq.get_nowait()
            fut.cancel()
        if self._http is not None:
            await self._http.close()
        self.state, self.phase = SessionState.CLOSED, SessionPhase.IDLE
        log.info("cytube_closed", channel=self._settings.channel)

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def joined(self) -> bool:
        return self.phase is SessionPhase.JOINED

    @property
    def logged_in(self) -> bool:
        """Logged in as the configured user (always true for an anonymous watcher)."""
        return self._logged_in or not self._settings.user

    # --- sending --------------------------------------------------------------------------------
    async def say(self, text: str, *, joiner: str = "\n") -> None:
        """Say ``text`` in chat (split at 320), waiting until every part was sent."""
        await self._send_all("chatMsg", [{"msg": part, "meta": {}}
                                         for part in split_message(text, joiner=joiner)])

    async def pm(self, to: str, text: str, *, joiner: str = "\n") -> None:
        """PM ``text`` to ``to`` (split at 320), waiting until every part was sent."""
        await self._send_all("pm", [{"to": to, "msg": part, "meta": {}}
                                    for part in split_message(text, joiner=joiner)])

    async def _send_all(self, event: str, payloads: list[dict[str, Any]]) -> None:
        loop = asyncio.get_running_loop()
        futures = []
        for payload in payloads:
            fut: asyncio.Future[None] = loop.create_future()
            self._outq.put_nowait((event, payload, fut))
            futures.append(fut)
        await asyncio.gather(*futures)

    async def emit(self, event: str, data: Any = None) -> None:
        """Send a non-chat event (``queue``, ``delete``, ...) now; NotJoined when away."""
        sio = self._sio
        if sio is None or not self.joined:
            raise NotJoined(f"not in the channel, cannot send {event}")
        try:
            await sio.emit(event, data)
        except socketio.exceptions.SocketIOError as exc:
            raise NotJoined(f"connection lost while sending {event}") from exc

    async def _send_loop(self) -> None:
        while True:
            event, payload, fut = await self._outq.get()
            while not fut.done():
                await self._can_send.wait()
                await self._send_pacer.acquire()
                sio = self._sio
                if fut.done():  # given up while it waited (an action's deadline): never sent
                    break
                if sio is None or not self._can_send.is_set():
                    continue
                try:
                    await sio.emit(event, payload)
                except socketio.exceptions.SocketIOError:
                    await asyncio.sleep(0.05)  # the disconnect handler clears _can_send
                    continue
                self.sent[event] = self.sent.get(event, 0) + 1
                if not fut.done():
                    fut.set_result(None)

    # --- connecting -------------------------------------------------------------------------------
    def _backoff(self, attempt: int) -> float:
        p = self._policy
        # min() first: 2 ** attempt overflows a float long before an outage ends
        exponent = min(max(0, attempt - 1), 64)
        base = min(p.max_delay, p.initial_delay * 2.0 ** exponent)
        return base * random.uniform(1 - p.jitter, 1)

    async def _pause(self, seconds: float, why: str) -> None:
        self.phase = SessionPhase.WAITING
        log.info("cytube_reconnecting", retry_in=round(seconds, 2), reason=why)
        await asyncio.sleep(seconds)

    async def _run(self) -> None:
        attempt = 0
        while True:
            await self._connect_bucket.acquire()
            self.phase = SessionPhase.CONNECTING
            try:
                await self._connect()
            except (TimeoutError, DiscoveryError, socketio.exceptions.ConnectionError) as exc:
                # socket.io says only "namespaces failed to connect"; the reason came as
                # the connect_error event (reserved, so the "*" handler never sees it)
                text = self._refusal or str(exc) or type(exc).__name__
                if "Rate limit exceeded" in text:
                    self._connect_bucket.empty()
                attempt += 1
                log.warning("cytube_connect_failed", attempt=attempt, error=text)
                await self._drop_socket()
                await self._pause(self._backoff(attempt), "connect_failed")
                continue
            started = time.monotonic()
            await self._dropped.wait()
            await self._drop_socket()
            if time.monotonic() - started >= self._policy.stable_after:
                attempt = 0
            attempt += 1
            kick = self.last_kick if self.last_kick is not None and \
                self.last_kick_generation == self._generation else None
            if kick is not None and not kick.retry:
                await self._pause(self._policy.fatal_kick_delay, "kicked:" + kick.reason)
            elif kick is not None:
                await self._pause(max(self._policy.kick_delay, self._backoff(attempt)),
                                  "kicked:" + kick.reason)
            else:
                await self._pause(self._backoff(attempt), "disconnected")

    async def _connect(self) -> None:
        assert self._http is not None
        url = await discover(self._http, self._settings.domain, self._settings.channel,
                             timeout=self._policy.connect_timeout)
        self._generation += 1
        self._logged_in = False
        self._dropped.clear()
        self._refusal = ""
        sio = socketio.AsyncClient(reconnection=False, handle_sigint=False,
                                   http_session=self._http, ssl_verify=True)
        generation = self._generation
        sio.on("connect", lambda: self._on_connect(generation))
        sio.on("disconnect", lambda *_: self._on_disconnect(generation))
        sio.on("connect_error", lambda data=None: self._on_connect_error(generation, data))
        sio.on("*", lambda event, *args: self._on_any(generation, event, *args))
        self._sio = sio
        log.info("cytube_connecting", url=url, channel=self._settings.channel)
        await asyncio.wait_for(
            sio.connect(url, transports=["websocket"], wait_timeout=self._policy.connect_timeout),
            self._policy.connect_timeout + 1)
        self._connects += 1
        if self._connects > 1 and self._metrics is not None:
            self._metrics.cytube_reconnects.inc()
        join: dict[str, Any] = {"name": self._settings.channel}
        if self._settings.channel_password:
            join["pw"] = self._settings.channel_password.reveal()
        self._join_sent_at = time.time()
        await sio.emit("joinChannel", join)
        await self._send_login(sio)

    async def _send_login(self, sio: socketio.AsyncClient) -> None:
        if not self._settings.user:
            return
        login: dict[str, Any] = {"name": self._settings.user}
        if self._settings.password:
            login["pw"] = self._settings.password.reveal()
        await sio.emit("login", login)

    async def _drop_socket(self, timeout: float = 3.0) -> None:
        """Disconnect the current socket; bounded, so a stuck transport cannot hang us."""
        sio, self._sio = self._sio, None
        self._can_send.clear()
        if sio is None:
            return
        try:
            await asyncio.wait_for(sio.disconnect(), timeout)
        except TimeoutError:
            log.warning("cytube_disconnect_timeout", timeout=timeout)
            try:
                await asyncio.wait_for(sio.eio.disconnect(abort=True), timeout)
            except (TimeoutError, OSError, aiohttp.ClientError):
                pass
        except (socketio.exceptions.SocketIOError, OSError, aiohttp.ClientError):
            pass

    def _retry_login_later(self, delay: float, generation: int) -> None:
        async def later() -> None:
            await asyncio.sleep(delay)
            sio = self._sio
            if sio is not None and generation == self._generation and not self._logged_in:
                log.info("cytube_login_retry")
                try:
                    await self._send_login(sio)
                except socketio.exceptions.SocketIOError:
                    pass
        self._spawn(later(), "cytube-login-retry")

    # --- socket.io handlers (synchronous: events stay in order) ---------------------------------
    def _on_connect(self, generation: int) -> None:
        if generation != self._generation:
            return
        self.phase = SessionPhase.JOINING
        log.info("cytube_connected", channel=self._settings.channel)
        self._safe(self._listener.on_connected)

    def _on_connect_error(self, generation: int, data: Any) -> None:
        if generation == self._generation:
            message = data.get("message") if isinstance(data, dict) else data
            self._refusal = str(message or "")[:300]

    def _on_disconnect(self, generation: int) -> None:
        if generation != self._generation:
            return
        was_joined = self.joined
        self._logged_in = False
        self.phase = SessionPhase.WAITING
        self._can_send.clear()
        self._dropped.set()
        if self._metrics is not None:
            self._metrics.cytube_connected.set(0)
        log.warning("cytube_disconnected", was_joined=was_joined)
        self._safe(self._listener.on_disconnected)

    def _on_any(self, generation: int, event: str, *args: Any) -> None:
        if generation != self._generation:
            return
        data = args[0] if args else None
        if event in ("chatMsg", "pm"):
            line = self._chat_line(data, pm=event == "pm")
            if line is None:
                self._bad_frame(frames.Malformed(event, "no msg text"))
            else:
                self._safe(self._listener.on_pm if event == "pm" else self._listener.on_chat, line)
            return
        frame = frames.decode(event, data)
        if isinstance(frame, frames.Malformed):
            self._bad_frame(frame)
        special = self._SPECIAL.get(type(frame))
        if special is not None:
            special(self, frame, generation)
        self._safe(self._listener.on_frame, frame)
        if isinstance(frame, frames.Userlist) and not self.joined:
            self.phase = SessionPhase.JOINED
            self._update_can_send()
            if self._metrics is not None:
                self._metrics.cytube_connected.set(1)
            log.info("cytube_joined", channel=self._settings.channel, users=len(frame.users))
            self._safe(self._listener.on_joined)

    def _bad_frame(self, frame: frames.Malformed) -> None:
        log.warning("cytube_bad_frame", cytube_event=frame.name, error=frame.error)
        if self._metrics is not None:
            self._metrics.cytube_bad_frames.labels(frame.name).inc()

    def _update_can_send(self) -> None:
        if self.joined and self._logged_in:
            self._can_send.set()

    def _chat_line(self, data: Any, *, pm: bool) -> ChatLine | None:
        if not isinstance(data, dict) or not isinstance(data.get("msg"), str):
            return None
        username = str(data.get("username") or "")
        stamp = data.get("time")
        when = float(stamp) / 1000.0 if isinstance(stamp, (int, float)) else time.time()
        history = not pm and (not self.joined or when < self._join_sent_at)
        own = bool(self.bot_name) and username.lower() == self.bot_name.lower()
        return ChatLine(username=username, text=plain_text(data["msg"]), time=when,
                        history=history, own=own, to=data.get("to") if pm else None)

    def _safe(self, fn: Any, *args: Any) -> None:
        try:
            fn(*args)
        except Exception:  # a listener bug must not break the socket
            log.exception("cytube_listener_failed", handler=getattr(fn, "__name__", "?"))

    def _ev_login(self, f: frames.Login, generation: int) -> None:
        if f.success:
            self._logged_in = True
            self.bot_name = f.name or self.bot_name
            log.info("cytube_logged_in", username=self.bot_name, guest=f.guest)
            self._update_can_send()
            return
        if f.error.startswith(_GUEST_WAIT):
            delay = self._policy.guest_login_delay
        else:
            delay = self._policy.login_retry_delay
        log.error("cytube_login_failed", username=self._settings.user, error=f.error,
                  retry_in=delay)
        self._retry_login_later(delay, generation)

    def _ev_kick(self, f: frames.Kick, generation: int) -> None:
        self.last_kick = Kicked(f.reason, retry=not kick_is_fatal(f.reason))
        self.last_kick_generation = generation
        log.error("cytube_kicked", reason=f.reason, retry=self.last_kick.retry)

    def _ev_need_password(self, f: frames.NeedPassword, generation: int) -> None:
        if f.wrong or not self._settings.channel_password:
            log.error("cytube_channel_password_refused" if f.wrong
                      else "cytube_channel_password_needed", channel=self._settings.channel)
            return
        sio = self._sio
        if sio is not None:
            self._spawn(sio.emit("channelPassword", self._settings.channel_password.reveal()),
                        "cytube-channel-password")

    def _ev_error_msg(self, f: frames.ErrorMsg, generation: int) -> None:
        log.warning("cytube_error_message", msg=f.msg[:300])

    def _ev_cooldown(self, f: frames.Cooldown, generation: int) -> None:
        self._send_pacer.block_for(f.ms / 1000.0 + self._send_policy.cooldown_margin)
        log.warning("cytube_cooldown", ms=f.ms)

    def _ev_noflood(self, f: frames.Noflood, generation: int) -> None:
        log.warning("cytube_noflood", detail=f.msg[:300])

    def _ev_spam_filtered(self, f: frames.SpamFiltered, generation: int) -> None:
        log.warning("cytube_spam_filtered", detail=f.msg[:300])

    def _ev_partition_change(self, f: frames.PartitionChange, generation: int) -> None:
        log.info("cytube_partition_change")
        sio = self._sio
        if sio is not None:
            self._spawn(sio.disconnect(), "cytube-partition-change")

    #: frames the session itself acts on, before the listener sees them
    _SPECIAL: ClassVar[dict[type[Any], Callable[[CyTubeSession, Any, int], None]]] = {
        frames.Login: _ev_login, frames.Kick: _ev_kick, frames.NeedPassword: _ev_need_password,
        frames.ErrorMsg: _ev_error_msg, frames.Cooldown: _ev_cooldown,
        frames.Noflood: _ev_noflood, frames.SpamFiltered: _ev_spam_filtered,
        frames.PartitionChange: _ev_partition_change,
    }
