"""A stand-in CyTube server for tests: the real socket.io protocol, CyTube's behaviour.

The package, by module: ``wire`` (names, text formatting, JavaScript-shaped numbers),
``limits`` (CyTube's rate limiters), ``model`` (sockets, users, items, permissions), ``core``
(shared state, the one lock-and-guard wrapper every handler runs in, emitting), then one module
per area of handlers (``people``, ``joining``, ``options``, ``chat``, ``playlist``, ``leader``),
``controls`` (what tests do and read) and ``server`` (lifecycle, HTTP and socket.io plumbing,
the event table). A handler that raises is recorded in ``errors`` and fails the test at ``stop()``.

No real CyTube server is reachable from the test suite, so this is the one stand-in the tests
use. It runs python-socketio's ``AsyncServer`` (asyncio, Engine.IO v4 / Socket.IO v5, like
CyTube 3.86's socket.io 4.5) inside an aiohttp app on ``127.0.0.1`` and a free port, and copies
CyTube's event names, payload shapes and event order as ``shared/cytube-protocol.md`` describes
and the recordings in ``shared/cytube-transcripts/`` show. One channel is hosted.

Modelled:

- ``GET /socketconfig/<channel>.json`` (404 for a name failing ``^[\\w-]{1,30}$``); socket.io at
  ``/socket.io/``; the per-IP connect bucket (5, refilled at 0.1/s: ``connect_error`` "Rate
  limit exceeded"; see ``RateLimit``); ``rank -1`` on connect.
- ``joinChannel`` (once per socket; the join burst in the recorded order; name bans; the channel
  password with ``needPassword`` / ``channelPassword`` / ``cancelNeedPassword``).
- ``login``: registered accounts and guests with CyTube's error texts; "Duplicate login";
  optionally (``guest_login_delay``) the per-IP guest-login delay: a guest login from an IP
  whose last *successful* guest login is younger than the delay is refused ("Guest logins are
  restricted to one per IP address per N seconds."), checked before any other guest check;
  failed logins and registered logins are not recorded; like CyTube's in-memory
  ``lastguestlogin``, the record is lost on ``stop()``/``restart()``. Every ``login`` reply is
  logged with its time and socket in ``login_replies``;
  the two-step rank (``addUser`` with rank 1, then ``setUserRank`` with the channel rank);
  moderators' user objects with ``smuted``/``aliases``/``ip`` and the ``[server]`` join notice.
  Timing follows the recordings: the channel "loads" for ``JOIN_DELAY`` and a password check
  takes ``PASSWORD_CHECK_DELAY``, so a guest login sent with ``joinChannel`` lands before the
  join burst and a registered one after it.
- Chat: 320-character cut, control characters to spaces, xss.js escaping, the five default
  chat filters of a new channel (`` `x` `` ``*x*`` ``_x_`` ``~~x~~`` ``[sp]x[/sp]`` to
  ``<code>`` ``<strong>`` ``<em>`` ``<s>`` ``<span class="spoiler">``; links are set aside
  while they run, as ``chat.js`` filterMessage does, so a URL is never rewritten), link wrapping,
  greentext, the per-socket flood limiter (burst 20, 10/s, reset after 2 s quiet: ``cooldown
  100``), 15 messages of history replayed on join, mutes (``noflood``), AFK (``/afk`` toggles;
  chatting clears it). Commands: ``/kick``, ``/ban``, ``/mute``, ``/smute`` (the shadow-muted
  user's chat reaches only moderators and themself), ``/unmute`` (``/unsmute``), ``/afk``,
  ``/me``, ``/sp``; any other ``/word`` is plain chat.
- PMs with CyTube's errors, escaped and filtered like chat, echoed to the sender; they share
  the flood limiter.
- Moderation answers as CyTube gives them: ``errorMsg`` refusals, ``[server]`` notices to
  those with the permission, ``requestBanlist`` -> ``banlist`` (registered channels, ``ban``
  permission), ``unban {id, name}`` -> ``[server]`` "X unbanned Y" and ``banlistRemove`` to
  those with ``ban``; permissions as sent in ``setPermissions`` are enforced (``permissions=`` changes
  them; ``registered=False`` hosts an unregistered channel with ``loadUnregistered``'s set and
  ``channelNotRegistered``).
- Playlist: ``queue`` (permissions, queue rate limit, duplicates, ``after``, the first item
  starting with a 3 s lead-in and one ``mediaUpdate`` when it ends), ``delete``, ``moveMedia``,
  ``jumpTo``, ``playNext``, ``clearPlaylist`` (``playlist []``), ``voteskip`` (per IP; every vote,
  a repeated one too, answers ``voteskip {count, need}`` to those with ``viewvoteskip``;
  passing posts a ``[voteskip]`` chat and plays the next item), ``assignLeader`` (kicks a
  sender without ``leaderctl``), the leader's ``mediaUpdate``.
  Titles are the media id; live types (``li tw rt cu hl``) last 0 s, others
  ``DEFAULT_MEDIA_SECONDS``. Raw files (``fi``) are refused as on the recorded server.
- Channel options: ``channelOpts`` is server state (``options`` reads it). ``setOptions``
  follows opts.js handleSetOptions: below rank 2 a kick ("Attempted setOptions as a
  non-moderator"); the admin-only fields (rank 3) silently ignored for a moderator; each
  field coerced, clamped or refused (``validationError``/``validationPassed``/``errorMsg``)
  as there; the whole options object broadcast as ``channelOpts`` when something was set.
  ``password`` is the channel password ``joinChannel`` checks; the other options are only
  stored and sent (see ``options.py``).
- ``stop()`` drops every TCP connection with no goodbye, like a crashed or restarted process;
  ``restart()`` comes back on the same port keeping chat history, playlist (uids reassigned as
  on a reload), mutes, bans, channel options and simulated users.

Not modelled: other channels, cookies and web logins, IP bans, what the channel options do
beyond the password (the new-account chat delay, the channel's chat antiflood, blocked
anonymous users, duplicates allowed, auto-AFK, ...), per-IP socket limit, polls, emotes,
editing filters, drinks (always 0), ``/clear``,
``/kickanons``, ``/ipban``, ``/say``, ``setTemp``, ``requestPlaylist``,
shuffle/lock of the playlist, user playlists, the server's playback timer beyond the
lead-in (no periodic ``mediaUpdate``, no advancing at the end of an item), ``usercount``
throttling (sent at once).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import socketio
from aiohttp import web

from tests.support.cytube.controls import TestControls
from tests.support.cytube.core import Handler
from tests.support.cytube.joining import Joining
from tests.support.cytube.leader import Leader
from tests.support.cytube.limits import RateLimit, TokenBucket
from tests.support.cytube.model import (
    DEFAULT_PERMISSIONS,
    UNREGISTERED_PERMISSIONS,
    Conn,
    Item,
    LoginReply,
    User,
)
from tests.support.cytube.options import default_options
from tests.support.cytube.wire import CHANNEL_NAME, HISTORY_LENGTH, format_chat, js_num, now_ms

__all__ = ["CyTubeTestServer", "HandlerErrors", "release_polls_on_close"]

_log = logging.getLogger(__name__)

#: a chat command: (actor, the typed message, the message's meta) -> None
Command = Callable[[User, str, dict[str, Any]], Awaitable[None]]


class HandlerErrors(AssertionError):
    """A handler of the stand-in raised: a bug in the test server, or a payload it cannot take."""


class CyTubeTestServer(TestControls, Joining, Leader):
    """One CyTube channel behind real socket.io; see the module docstring for the scope.

    Parameters:
        channel: the hosted channel's name.
        accounts: registered accounts, ``{"name": ("password", channel_rank)}``. A rank of
            255 or more is a site admin (global rank too); otherwise the global rank is 1.
        channel_password: the channel password (``None``: no password); it is the options'
            ``password``, so a ``setOptions`` from a channel admin changes it.
        rate_limit: the per-IP connect bucket: ``True`` (CyTube's 5 and 0.1/s), ``False``
            (off), a ``RateLimit`` or a ``(burst, per_second)`` tuple.
        history: chat already in the buffer: ``(username, typed_text)`` or
            ``(username, typed_text, time_ms)`` tuples (formatted like chat) or ready
            ``chatMsg`` dicts (sent as given). Only the last 15 are kept.
        guest_login_delay: CyTube's ``guest-login-delay`` in seconds (60 there); ``None``
            (the default) leaves it out, so any number of guests may log in.
        permissions: changes to the default permissions (``{"kick": 3}``), sent in
            ``setPermissions`` and enforced.
        registered: ``False`` hosts an unregistered channel: ``loadUnregistered``'s open
            permission set (no kick, mute or ban), an open playlist, no channel ranks (the
            accounts' ranks are ignored), and ``channelNotRegistered`` at the end of the join.

    What tests read: ``url``, ``port``, ``users``, ``socket_users`` (the names on a real
    socket), ``options`` (the channel options, as ``channelOpts`` sends them),
    ``playlist``, ``current_uid``, ``leader``
    (None when the server leads), ``kicked``, ``banned`` and ``muted`` (lowercased names),
    ``login_replies`` (every ``login`` reply, a :class:`LoginReply`),
    ``connections`` (sockets ever accepted), ``refused_connections`` (connects refused by the
    rate limit), ``history`` (the replay buffer), ``errors`` (exceptions raised inside this
    stand-in's handlers: ``stop()`` raises :class:`HandlerErrors` when there are new ones, so
    every test that runs the server fails on them), and the methods
    ``chat_texts()``, ``pms_to()``, ``events_from()`` and ``wait_for()``. Simulated users
    (``add_user``) have no socket; they survive ``stop()``/``restart()`` as if their clients
    reconnected at once, and their chat goes through the same command handling, without the
    flood limiter.
    """

    def __init__(self, *, channel: str = "testchan",
                 accounts: Mapping[str, tuple[str, float]] | None = None,
                 channel_password: str | None = None,
                 rate_limit: bool | RateLimit | tuple[float, float] = True,
                 history: Iterable[Mapping[str, Any] | tuple[Any, ...]] | None = None,
                 guest_login_delay: float | None = None,
                 permissions: Mapping[str, float] | None = None,
                 registered: bool = True) -> None:
        assert CHANNEL_NAME.match(channel), f"invalid channel name {channel!r}"
        self.registered = registered
        self.permissions = dict(DEFAULT_PERMISSIONS if registered else UNREGISTERED_PERMISSIONS)
        self.permissions.update(permissions or {})
        self.open_playlist = not registered
        assert guest_login_delay is None or guest_login_delay > 0, "delay must be positive"
        self.guest_login_delay = guest_login_delay
        self.channel = channel.lower()
        self._accounts = {name.lower(): (name, pw, js_num(rank))
                          for name, (pw, rank) in (accounts or {}).items()}
        self._channel_ranks = {lower: rank for lower, (_, _, rank) in self._accounts.items()}
        self._opts = default_options(self.channel)  # what channelOpts sends
        self.channel_password = channel_password  # kept in the options' "password"
        if rate_limit is True:
            self._rate_limit: RateLimit | None = RateLimit()
        elif rate_limit is False or rate_limit is None:
            self._rate_limit = None
        elif isinstance(rate_limit, RateLimit):
            self._rate_limit = rate_limit
        else:
            self._rate_limit = RateLimit(*rate_limit)
        self.port: int | None = None
        self.connections = 0
        self.refused_connections = 0
        self._errors_reported = 0
        self.kicked: list[tuple[str, str]] = []
        self.errors: list[BaseException] = []
        self.banned: set[str] = set()
        self._ban_records: dict[str, dict[str, Any]] = {}
        self.muted: set[str] = set()
        self.smuted: set[str] = set()
        self.login_replies: list[LoginReply] = []
        self._last_guest_login: dict[str, float] = {}  # ip -> monotonic time of a success
        self._history: deque[dict[str, Any]] = deque(maxlen=HISTORY_LENGTH)
        self._chat_log: list[tuple[str, str]] = []
        self._pm_log: list[tuple[str, str, str]] = []
        self._event_log: list[tuple[Conn, str, Any]] = []
        start_ms = now_ms() - 60_000
        for i, entry in enumerate(history or ()):
            if isinstance(entry, Mapping):
                self._history.append(dict(entry))
            else:
                username, text, *rest = entry
                when = rest[0] if rest else start_ms + i
                self._history.append({"username": username, "msg": format_chat(text),
                                      "meta": {}, "time": when})
        # playlist
        self._items: list[Item] = []
        self._next_uid = 0
        self._current: Item | None = None
        self._time = 0.0
        self._paused = True
        self._anchor = time.monotonic()
        self._lead_in_task: asyncio.Task[None] | None = None
        self._votes: set[str] = set()
        # people
        self._members: dict[str, User] = {}
        self._room_conns: list[Conn] = []
        self._conns: dict[str, Conn] = {}
        self._leader: User | None = None
        self._buckets: dict[str, TokenBucket] = {}
        self._sim_ips = 0
        # machinery
        self._sio: socketio.AsyncServer | None = None
        self._runner: web.AppRunner | None = None
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._run = 0
        self._handlers: dict[str, Handler] = {
            "joinChannel": self._on_join, "channelPassword": self._on_channel_password,
            "login": self._on_login, "chatMsg": self._on_chat, "pm": self._on_pm,
            "queue": self._on_queue, "delete": self._on_delete, "moveMedia": self._on_move,
            "jumpTo": self._on_jump, "playNext": self._on_play_next,
            "voteskip": self._on_voteskip, "assignLeader": self._on_assign_leader,
            "mediaUpdate": self._on_media_update, "clearPlaylist": self._on_clear_playlist,
            "requestBanlist": self._on_request_banlist, "unban": self._on_unban,
            "setOptions": self._on_set_options,
        }
        self._commands: dict[str, Command] = {
            "kick": self._cmd_kick, "ban": self._cmd_ban, "mute": self._cmd_mute,
            "unmute": self._cmd_unmute, "smute": self._cmd_smute,
            "unsmute": self._cmd_unmute, "afk": self._cmd_afk, "me": self._cmd_me,
            "sp": self._cmd_sp,
        }

    @property
    def url(self) -> str:
        assert self.port is not None, "server not started"
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._runner is not None

    async def start(self) -> CyTubeTestServer:
        """Listen on 127.0.0.1 (a free port the first time, the same port afterwards)."""
        if self._runner is not None:
            raise RuntimeError("CyTubeTestServer is already running")
        self._run += 1
        self._buckets.clear()
        self._last_guest_login.clear()  # CyTube keeps it in memory only
        sio = socketio.AsyncServer(async_mode="aiohttp", ping_interval=25, ping_timeout=120,
                                   max_http_buffer_size=1 << 20, logger=False,
                                   engineio_logger=False)
        sio.on("connect", self._on_connect)
        sio.on("disconnect", self._on_disconnect)
        sio.on("*", self._on_event)
        release_polls_on_close(sio)
        app = web.Application()
        app.router.add_get("/socketconfig/{channel}.json", self._socketconfig)
        sio.attach(app)
        runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self.port or 0)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        if self.port is None:
            self.port = int(runner.addresses[0][1])
        self._sio, self._runner = sio, runner
        return self

    async def stop(self) -> None:
        """Drop every connection at once, like a server process going away (no goodbye).

        Then raise :class:`HandlerErrors` if a handler raised since the last check, so a test
        that hit a bug in the stand-in fails, whoever started the server.
        """
        runner, sio = self._runner, self._sio
        if runner is None or sio is None:
            return
        self._runner = self._sio = None
        self._run += 1
        for conn in self._conns.values():
            conn.gone = True
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        # Like a process exit: TCP connections just close, no socket.io or engine.io goodbye.
        server = runner.server
        for handler in server.connections if server is not None else ():
            if handler.transport is not None:
                handler.transport.abort()
        for eio_socket in list(sio.eio.sockets.values()):
            await eio_socket.close(wait=False, abort=True)
        await sio.shutdown()
        await runner.cleanup()
        async with self._lock:
            self._conns.clear()
            self._room_conns.clear()
            self._members = {k: u for k, u in self._members.items() if u.conn is None}
            if self._leader is not None:
                self._end_lead(self._leader)
            self._leader = None
            self._lead_in_task = None
            self._votes.clear()
        self.check_errors()

    def check_errors(self) -> None:
        """Raise :class:`HandlerErrors` for handler errors not reported yet."""
        new = self.errors[self._errors_reported:]
        self._errors_reported = len(self.errors)
        if new:
            raise HandlerErrors(f"{len(new)} handler error(s) in the test CyTube server: "
                                + "; ".join(repr(e) for e in new)) from new[0]

    async def restart(self) -> None:
        """Stop, reload the channel state (new playlist uids), start again on the same port."""
        await self.stop()
        self._reload_playlist()
        await self.start()

    async def __aenter__(self) -> CyTubeTestServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _socketconfig(self, request: web.Request) -> web.Response:
        name = request.match_info["channel"]
        if not CHANNEL_NAME.match(name):
            return web.json_response({"error": f'Channel "{name}" does not exist.'},
                                     status=404)
        return web.json_response({"servers": [{"url": self.url, "secure": False}]})

    async def _on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        request = environ.get("aiohttp.request")
        ip = (request.remote if request is not None else None) or "127.0.0.1"
        if self._rate_limit is not None:
            bucket = self._buckets.setdefault(ip, TokenBucket(self._rate_limit))
            if not bucket.take():
                self.refused_connections += 1
                raise socketio.exceptions.ConnectionRefusedError("Rate limit exceeded")
        conn = Conn(sid=sid, ip=ip)
        self._conns[sid] = conn
        self.connections += 1
        # After the CONNECT ack has gone out, like CyTube's first emit.
        self._spawn(self._emit(conn, "rank", -1))

    async def _on_disconnect(self, sid: str, reason: Any = None) -> None:
        conn = self._conns.pop(sid, None)
        if conn is None or conn.gone:
            return
        run = self._run
        async with self._lock:
            if conn.gone or run != self._run:
                return
            conn.gone = True
            await self._part(conn)

    async def _on_event(self, event: str, sid: str, *args: Any) -> None:
        conn = self._conns.get(sid)
        if conn is None or conn.gone:
            return
        data = args[0] if args else None
        self._event_log.append((conn, event, copy.deepcopy(data)))
        handler = self._handlers.get(event)
        if handler is None:
            return
        try:
            await handler(conn, data)
        except Exception as exc:  # a bug in the stand-in: keep it visible to the tests
            self.errors.append(exc)
            _log.exception("cytube_test_server_handler_failed", exc_info=exc)


def release_polls_on_close(sio: socketio.AsyncServer) -> None:
    """Answer a pending long-poll when an Engine.IO session closes, as engine.io does.

    python-engineio leaves the poll waiting for ping_interval + ping_timeout, so a polling
    client's ``disconnect()`` (or a kicked polling client) would hang for minutes. The None
    sentinel is what python-engineio itself uses to end a session's packet stream: a pending
    poll returns empty and a websocket writer closes the socket after the queued packets.
    """
    handle = sio._handle_eio_disconnect

    async def on_eio_disconnect(eio_sid: str, reason: Any = None) -> None:
        await handle(eio_sid, reason)
        eio_socket = sio.eio.sockets.get(eio_sid)
        if eio_socket is not None:
            eio_socket.queue.put_nowait(None)

    sio.eio.on("disconnect", on_eio_disconnect)
