"""A stand-in CyTube server for tests: the real socket.io protocol, CyTube's behaviour.

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
- Chat: 320-character cut, control characters to spaces, xss.js escaping, link wrapping,
  greentext, the per-socket flood limiter (burst 20, 10/s, reset after 2 s quiet: ``cooldown
  100``), 15 messages of history replayed on join, mutes (``noflood``), AFK (``/afk`` toggles;
  chatting clears it). Commands: ``/kick``, ``/ban``, ``/mute``, ``/unmute``, ``/afk``, ``/me``,
  ``/sp``; any other ``/word`` is plain chat.
- PMs with CyTube's errors, echoed to the sender; they share the flood limiter.
- Playlist: ``queue`` (permissions, queue rate limit, duplicates, ``after``, the first item
  starting with a 3 s lead-in and one ``mediaUpdate`` when it ends), ``delete``, ``moveMedia``,
  ``jumpTo``, ``playNext``, ``voteskip`` (per IP; passing posts a ``[voteskip]`` chat and plays
  the next item), ``assignLeader`` (kicks a sender below rank 2), the leader's ``mediaUpdate``,
  ``requestPlaylist``. Titles are the media id; live types (``li tw rt cu hl``) last 0 s, others
  ``DEFAULT_MEDIA_SECONDS``. Raw files (``fi``) are refused as on the recorded server.
- ``stop()`` drops every TCP connection with no goodbye, like a crashed or restarted process;
  ``restart()`` comes back on the same port keeping chat history, playlist (uids reassigned as
  on a reload), mutes, bans and simulated users.

Not modelled: other channels, cookies and web logins, IP bans, the
new-account chat delay, per-IP socket limit, polls, emotes, filters, drinks (always 0), ``/clear``,
``/smute``, ``/kickanons``, ``/ipban``, ``/say``, ``setTemp``, shuffle/clear/lock of the playlist,
user playlists, the server's playback timer beyond the lead-in (no periodic ``mediaUpdate``, no
advancing at the end of an item), ``usercount`` throttling (sent at once), and
``channelNotRegistered`` (the channel counts as registered).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import inspect
import logging
import math
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import socketio
from aiohttp import web

from tests.support.wait import eventually

__all__ = ["CyTubeTestServer", "LoginReply", "RateLimit", "escape_text", "format_chat"]

MAX_CHAT_LENGTH = 320
HISTORY_LENGTH = 15
DEFAULT_MEDIA_SECONDS = 60
LEAD_IN_SECONDS = 3.0
LIVE_TYPES = frozenset({"li", "tw", "rt", "cu", "hl"})
KNOWN_TYPES = frozenset(
    "yt yp vi dm sc li tw tv tc rt hl cu gd fi sb pt cm bc od bn nv".split())

_log = logging.getLogger(__name__)

_CHANNEL_NAME = re.compile(r"^[\w-]{1,30}$", re.ASCII)
_USER_NAME = re.compile(r"^[\w-]{1,20}$", re.ASCII)
_RESERVED_NAMES = (re.compile(r"^(.*?[-_])?admin(istrator)?([-_].*)?$", re.I),
                   re.compile(r"^(.*?[-_])?owner([-_].*)?$", re.I))
# src/channel/chat.js LINK, applied to the already escaped text as CyTube does.
_LINK = re.compile(r"(\w+://(?:[^:/\[\]\s]+|\[[0-9a-f:]+\])(?::\d+)?(?:/[^/\s]*)*)", re.I)
_CONTROL = re.compile(r"[\x00-\x1f]+")
_ESCAPES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"), ("'", "&#39;"),
            ("(", "&#40;"), (")", "&#41;"))

# As recorded from CyTube 3.86 (a registered channel with default settings).
DEFAULT_PERMISSIONS: dict[str, float] = {
    "seeplaylist": -1, "playlistadd": 1.5, "playlistnext": 1.5, "playlistmove": 1.5,
    "playlistdelete": 2, "playlistjump": 1.5, "playlistaddlist": 1.5, "oplaylistadd": -1,
    "oplaylistnext": 1.5, "oplaylistmove": 1.5, "oplaylistdelete": 2, "oplaylistjump": 1.5,
    "oplaylistaddlist": 1.5, "playlistaddcustom": 3, "playlistaddrawfile": 2,
    "playlistaddlive": 1.5, "exceedmaxlength": 2, "addnontemp": 2, "settemp": 2,
    "playlistshuffle": 2, "playlistclear": 2, "pollctl": 1.5, "pollvote": -1,
    "viewhiddenpoll": 1.5, "voteskip": -1, "viewvoteskip": 1.5, "mute": 1.5, "kick": 1.5,
    "ban": 2, "motdedit": 3, "filteredit": 3, "filterimport": 3, "emoteedit": 3,
    "emoteimport": 3, "playlistlock": 2, "leaderctl": 2, "drink": 1.5, "chat": 0,
    "chatclear": 2, "exceedmaxitems": 2, "deletefromchannellib": 2,
    "exceedmaxdurationperuser": 2,
}
_EMPTY_MD5 = base64.b64encode(hashlib.md5(b"").digest()).decode()
_SERVER_WHISPER = {"addClass": "server-whisper", "addClassToNameAndTimestamp": True}


def escape_text(text: str) -> str:
    """Escape like CyTube's ``xss.js`` sanitizeText: ``& < > " ' ( )`` become entities."""
    for raw, entity in _ESCAPES:
        text = text.replace(raw, entity)
    return text


def format_chat(text: str) -> str:
    """The ``msg`` CyTube sends for typed ``text``: escaped, then links wrapped in ``<a>``."""
    return _LINK.sub(
        lambda m: f'<a href="{m[1]}" target="_blank" rel="noopener noreferrer">{m[1]}</a>',
        escape_text(text))


def _num(value: float) -> float:
    """A number as JavaScript would put it in JSON: ``1`` rather than ``1.0``."""
    return int(value) if float(value).is_integer() else float(value)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _format_time(seconds: float) -> str:
    sec = int(seconds)
    h, rem = divmod(sec, 3600)
    m, s = divmod(rem, 60)
    return f"{h:02d}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def _format_link(media_id: str, media_type: str) -> str:
    prefix = {"yt": "https://youtu.be/", "vi": "https://vimeo.com/",
              "dm": "https://dailymotion.com/video/", "li": "https://livestream.com/",
              "tw": "https://twitch.tv/", "gd": "https://docs.google.com/file/d/",
              "sb": "https://streamable.com/", "tc": "https://clips.twitch.tv/",
              "tv": "https://www.twitch.tv/videos/",
              "yp": "https://youtube.com/playlist?list="}
    if media_type in prefix:
        return prefix[media_type] + media_id
    return media_id if media_type in {"sc", "rt", "fi", "cm", "hl"} else ""


def _cloak_ip(ip: str) -> str:
    """CyTube's cloakIP for IPv4: every octet replaced by 3 characters of an md5."""
    parts, acc, out = ip.split("."), "", []
    for i, segment in enumerate(parts):
        digest = hashlib.md5(f"{acc}{segment}{i}".encode()).digest()
        out.append(base64.b64encode(digest).decode()[:3])
        acc += segment
    return ".".join(out)


@dataclass(frozen=True)
class RateLimit:
    """The per-IP connection bucket: ``burst`` attempts, refilled at ``per_second``."""

    burst: float = 5
    per_second: float = 0.1


@dataclass(frozen=True)
class LoginReply:
    """One ``login`` reply the server sent: when (``time.monotonic()``), to which socket."""

    at: float
    sid: str
    name: str  # the name the login asked for
    reply: dict[str, Any]

    @property
    def success(self) -> bool:
        return bool(self.reply.get("success"))

    @property
    def error(self) -> str | None:
        return self.reply.get("error")


class _TokenBucket:
    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self.tokens = float(limit.burst)
        self.last = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.limit.burst,
                          self.tokens + (now - self.last) * self.limit.per_second)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class _Limiter:
    """CyTube's ``newRateLimiter`` (src/utilities.js); ``throttle()`` True means refuse."""

    def __init__(self, burst: int, sustained: float, cooldown: float | None = None) -> None:
        self.burst, self.sustained = burst, sustained
        self.cooldown = burst / sustained if cooldown is None else cooldown
        self.count = 0
        self.last = -math.inf

    def throttle(self) -> bool:
        now = time.monotonic() * 1000
        if self.last < now - self.cooldown * 1000:
            self.count, self.last = 1, now
            return False
        if self.count < self.burst:
            self.count, self.last = self.count + 1, now
            return False
        if self.sustained <= 0 or now - self.last < 1000 / self.sustained:
            return True
        self.last = now
        return False


@dataclass(eq=False)
class _Conn:
    """One socket.io connection (a real client)."""

    sid: str
    ip: str
    user: _User | None = None
    attempted_name: str = ""
    registered: bool = False
    login_busy: bool = False
    join_started: bool = False
    awaiting_password: bool = False
    in_channel: bool = False
    gone: bool = False
    chat_limiter: _Limiter = field(default_factory=lambda: _Limiter(20, 10))
    queue_limiter_user: _Limiter = field(default_factory=lambda: _Limiter(3, 1))
    queue_limiter_mod: _Limiter = field(default_factory=lambda: _Limiter(10, 2))
    playlist_limiter: _Limiter = field(default_factory=lambda: _Limiter(1, 0, 60))

    @property
    def rank(self) -> float:
        return self.user.rank if self.user else -1

    @property
    def name(self) -> str:
        return self.user.name if self.user else ""


@dataclass(eq=False)
class _User:
    """Someone logged in: a real socket (``conn``) or a simulated user (``conn is None``)."""

    name: str
    rank: float
    ip: str
    conn: _Conn | None = None
    afk: bool = False
    muted: bool = False
    rank_before_lead: float | None = None

    @property
    def lower(self) -> str:
        return self.name.lower()


@dataclass(eq=False)
class _Item:
    uid: int
    temp: bool
    queueby: str
    media: dict[str, Any]

    def pack(self) -> dict[str, Any]:
        return {"media": copy.deepcopy(self.media), "uid": self.uid, "temp": self.temp,
                "queueby": self.queueby}


Handler = Callable[[_Conn, Any], Awaitable[None]]
_NO_DATA = object()


class CyTubeTestServer:
    """One CyTube channel behind real socket.io; see the module docstring for the scope.

    Parameters:
        channel: the hosted channel's name.
        accounts: registered accounts, ``{"name": ("password", channel_rank)}``. A rank of
            255 or more is a site admin (global rank too); otherwise the global rank is 1.
        channel_password: the channel password (``None``: no password).
        rate_limit: the per-IP connect bucket: ``True`` (CyTube's 5 and 0.1/s), ``False``
            (off), a ``RateLimit`` or a ``(burst, per_second)`` tuple.
        history: chat already in the buffer: ``(username, typed_text)`` or
            ``(username, typed_text, time_ms)`` tuples (formatted like chat) or ready
            ``chatMsg`` dicts (sent as given). Only the last 15 are kept.
        guest_login_delay: CyTube's ``guest-login-delay`` in seconds (60 there); ``None``
            (the default) leaves it out, so any number of guests may log in.

    What tests read: ``url``, ``port``, ``users``, ``playlist``, ``current_uid``, ``leader``
    (None when the server leads), ``kicked``, ``banned`` and ``muted`` (lowercased names),
    ``login_replies`` (every ``login`` reply, a :class:`LoginReply`),
    ``connections`` (sockets ever accepted), ``history`` (the replay buffer), ``errors``
    (exceptions raised inside this stand-in's handlers; should stay empty), and the methods
    ``chat_texts()``, ``pms_to()``, ``events_from()`` and ``wait_for()``. Simulated users
    (``add_user``) have no socket; they survive ``stop()``/``restart()`` as if their clients
    reconnected at once, and their chat goes through the same command handling, without the
    flood limiter.
    """

    JOIN_DELAY = 0.01
    PASSWORD_CHECK_DELAY = 0.05

    def __init__(self, *, channel: str = "testchan",
                 accounts: Mapping[str, tuple[str, float]] | None = None,
                 channel_password: str | None = None,
                 rate_limit: bool | RateLimit | tuple[float, float] = True,
                 history: Iterable[Mapping[str, Any] | tuple[Any, ...]] | None = None,
                 guest_login_delay: float | None = None) -> None:
        assert _CHANNEL_NAME.match(channel), f"invalid channel name {channel!r}"
        assert guest_login_delay is None or guest_login_delay > 0, "delay must be positive"
        self.guest_login_delay = guest_login_delay
        self.channel = channel.lower()
        self._accounts = {name.lower(): (name, pw, _num(rank))
                          for name, (pw, rank) in (accounts or {}).items()}
        self._channel_ranks = {lower: rank for lower, (_, _, rank) in self._accounts.items()}
        self.channel_password = channel_password
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
        self.kicked: list[tuple[str, str]] = []
        self.errors: list[BaseException] = []
        self.banned: set[str] = set()
        self.muted: set[str] = set()
        self.login_replies: list[LoginReply] = []
        self._last_guest_login: dict[str, float] = {}  # ip -> monotonic time of a success
        self._history: deque[dict[str, Any]] = deque(maxlen=HISTORY_LENGTH)
        self._chat_log: list[tuple[str, str]] = []
        self._pm_log: list[tuple[str, str, str]] = []
        self._event_log: list[tuple[_Conn, str, Any]] = []
        start_ms = _now_ms() - 60_000
        for i, entry in enumerate(history or ()):
            if isinstance(entry, Mapping):
                self._history.append(dict(entry))
            else:
                username, text, *rest = entry
                when = rest[0] if rest else start_ms + i
                self._history.append({"username": username, "msg": format_chat(text),
                                      "meta": {}, "time": when})
        # playlist
        self._items: list[_Item] = []
        self._next_uid = 0
        self._current: _Item | None = None
        self._time = 0.0
        self._paused = True
        self._anchor = time.monotonic()
        self._lead_in_task: asyncio.Task[None] | None = None
        self._votes: set[str] = set()
        # people
        self._members: dict[str, _User] = {}
        self._room_conns: list[_Conn] = []
        self._conns: dict[str, _Conn] = {}
        self._leader: _User | None = None
        self._buckets: dict[str, _TokenBucket] = {}
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
            "mediaUpdate": self._on_media_update, "requestPlaylist": self._on_request_playlist,
        }
        self._commands: dict[str, Callable[[_User, str, dict[str, Any]], Awaitable[None]]] = {
            "kick": self._cmd_kick, "ban": self._cmd_ban, "mute": self._cmd_mute,
            "unmute": self._cmd_unmute, "afk": self._cmd_afk, "me": self._cmd_me,
            "sp": self._cmd_sp,
        }

    # ------------------------------------------------------------------ lifecycle

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
        _release_polls_on_close(sio)
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
        """Drop every connection at once, like a server process going away (no goodbye)."""
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

    async def restart(self) -> None:
        """Stop, reload the channel state (new playlist uids), start again on the same port."""
        await self.stop()
        self._reload_playlist()
        await self.start()

    async def __aenter__(self) -> CyTubeTestServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ test-side controls

    async def add_user(self, name: str, rank: float = 1.0) -> None:
        """A simulated user joins: ``addUser`` (rank 1, or 0 for a guest) + ``setUserRank``."""
        async with self._lock:
            if name.lower() in self._members:
                raise ValueError(f"{name!r} is already in the channel")
            self._sim_ips += 1
            rank = _num(rank)
            user = _User(name=name, rank=min(rank, 1), ip=f"10.0.0.{self._sim_ips}",
                         muted=name.lower() in self.muted)
            self._members[user.lower] = user
            await self._send_user_join(user, include_self=False)
            if rank >= 1:
                user.rank = rank
                await self._broadcast("setUserRank", {"name": name, "rank": rank})
            await self._send_usercount()

    async def remove_user(self, name: str) -> None:
        """A simulated user leaves: ``userLeave`` + ``usercount``."""
        async with self._lock:
            user = self._simulated(name)
            await self._remove_member(user)
            await self._send_usercount()

    async def user_chat(self, name: str, msg: str) -> None:
        """A simulated user types ``msg`` in chat (commands such as ``/kick`` work too)."""
        async with self._lock:
            await self._chat(self._simulated(name), msg, {}, None)

    async def user_pm(self, name: str, to: str, msg: str) -> None:
        """A simulated user PMs a real socket user (``to``), formatted like any PM."""
        async with self._lock:
            sender = self._simulated(name)
            target = self._members.get(to.lower())
            if target is None or target.conn is None:
                raise LookupError(f"no connected socket user {to!r} in the channel")
            text = _CONTROL.sub(" ", msg[:MAX_CHAT_LENGTH])
            meta = {"addClass": "greentext"} if text.startswith(">") else {}
            await self._deliver_pm(sender, target, text, meta)

    async def set_rank(self, name: str, rank: float) -> None:
        """Change a channel rank: ``rank`` to that user's socket, ``setUserRank`` to everyone."""
        async with self._lock:
            rank = _num(rank)
            if name.lower() in self._accounts:
                self._channel_ranks[name.lower()] = rank
            user = self._members.get(name.lower())
            if user is not None:
                await self._change_rank(user, rank)

    async def kick(self, name: str, reason: str = "") -> None:
        """Kick someone from the server side (a real socket gets ``kick`` and is dropped)."""
        async with self._lock:
            user = self._members.get(name.lower())
            if user is None:
                raise LookupError(f"{name!r} is not in the channel")
            await self._kick_user(user, reason)

    def pms_to(self, name: str) -> list[str]:
        """Texts PM'd to ``name`` by anyone, as sent on the wire (escaped)."""
        return [msg for _, to, msg in self._pm_log if to.lower() == name.lower()]

    def chat_texts(self) -> list[tuple[str, str]]:
        """``(username, msg)`` of every chat message broadcast to the room (escaped)."""
        return list(self._chat_log)

    def events_from(self, name: str) -> list[tuple[str, object]]:
        """Every event the real socket(s) named ``name`` emitted, in order."""
        lower = name.lower()
        return [(event, copy.deepcopy(data)) for conn, event, data in self._event_log
                if (conn.name or conn.attempted_name).lower() == lower]

    @property
    def playlist(self) -> list[dict[str, Any]]:
        return [item.pack() for item in self._items]

    @property
    def current_uid(self) -> int | None:
        return self._current.uid if self._current else None

    @property
    def leader(self) -> str | None:
        """The leader's name, or None when the server leads."""
        return self._leader.name if self._leader else None

    @property
    def users(self) -> dict[str, dict[str, Any]]:
        return {u.name: {"name": u.name, "rank": u.rank,
                         "meta": {"afk": u.afk, "muted": u.muted}}
                for u in self._members.values()}

    @property
    def history(self) -> list[dict[str, Any]]:
        return copy.deepcopy(list(self._history))

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0, *,
                       what: str | None = None) -> Any:
        """Poll ``predicate`` (sync or async) until truthy; return its value.

        Raises AssertionError naming the condition (``what``, else the predicate's source).
        """
        return await eventually(predicate, timeout=timeout, interval=0.01,
                                what=what or _describe(predicate))

    # ------------------------------------------------------------------ HTTP

    async def _socketconfig(self, request: web.Request) -> web.Response:
        name = request.match_info["channel"]
        if not _CHANNEL_NAME.match(name):
            return web.json_response({"error": f'Channel "{name}" does not exist.'},
                                     status=404)
        return web.json_response({"servers": [{"url": self.url, "secure": False}]})

    # ------------------------------------------------------------------ socket.io plumbing

    async def _on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        request = environ.get("aiohttp.request")
        ip = (request.remote if request is not None else None) or "127.0.0.1"
        if self._rate_limit is not None:
            bucket = self._buckets.setdefault(ip, _TokenBucket(self._rate_limit))
            if not bucket.take():
                raise socketio.exceptions.ConnectionRefusedError("Rate limit exceeded")
        conn = _Conn(sid=sid, ip=ip)
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

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _alive(self, conn: _Conn, run: int | None = None) -> bool:
        """Whether a handler that just took the lock may still act for ``conn``."""
        return not conn.gone and (run is None or run == self._run) and self._sio is not None

    async def _emit(self, conn: _Conn | None, event: str, data: Any = _NO_DATA) -> None:
        if conn is None or conn.gone or self._sio is None:
            return
        if data is _NO_DATA:
            await self._sio.emit(event, to=conn.sid)
        else:
            await self._sio.emit(event, copy.deepcopy(data), to=conn.sid)

    async def _broadcast(self, event: str, data: Any) -> None:
        for conn in list(self._room_conns):
            await self._emit(conn, event, data)

    async def _emit_user(self, user: _User, event: str, data: Any = _NO_DATA) -> None:
        await self._emit(user.conn, event, data)

    # ------------------------------------------------------------------ joining

    async def _on_join(self, conn: _Conn, data: Any) -> None:
        if conn.join_started or not isinstance(data, dict) or not isinstance(
                data.get("name"), str):
            return
        conn.join_started = True
        run = self._run
        name = data["name"].lower()
        await asyncio.sleep(self.JOIN_DELAY)  # the channel "loads"
        async with self._lock:
            if not self._alive(conn, run):
                return
            if not _CHANNEL_NAME.match(name):
                await self._emit(conn, "errorMsg", {
                    "msg": "Invalid channel name.  Channel names may consist of 1-30 "
                           "characters in the set a-z, A-Z, 0-9, -, and _"})
                await self._kick_conn(conn, "Invalid channel name")
                return
            if name != self.channel:
                await self._kick_conn(conn, "Channel could not be loaded: this test server "
                                            f"hosts only #{self.channel}")
                return
            if conn.user is not None and conn.user.lower in self.banned:
                await self._kick_conn(conn, "You are banned from this channel.")
                return
            pw = data.get("pw")
            if self.channel_password is not None and pw != self.channel_password:
                if conn.user is not None and self._rank_in_channel(conn) >= 2:
                    await self._emit(conn, "cancelNeedPassword")
                else:
                    conn.awaiting_password = True
                    await self._emit(conn, "needPassword", isinstance(pw, str) and pw != "")
                    return
            await self._accept(conn)

    async def _on_channel_password(self, conn: _Conn, data: Any) -> None:
        async with self._lock:
            if not self._alive(conn) or not conn.awaiting_password:
                return
            if data != self.channel_password:
                await self._emit(conn, "needPassword", True)
                return
            conn.awaiting_password = False
            await self._emit(conn, "cancelNeedPassword")
            await self._accept(conn)

    def _rank_in_channel(self, conn: _Conn) -> float:
        assert conn.user is not None
        if conn.registered:
            return max(conn.user.rank, self._channel_ranks.get(conn.user.lower, 1))
        return conn.user.rank

    async def _accept(self, conn: _Conn) -> None:
        """CyTube's acceptUser: the join burst, in the recorded order."""
        user = conn.user
        if user is not None:
            global_rank = user.rank
            user.rank = self._rank_in_channel(conn)
            if user.rank != global_rank:
                await self._emit(conn, "rank", user.rank)
            await self._kick_duplicates(user)
            user.muted = user.lower in self.muted
            self._members[user.lower] = user
            await self._send_user_join(user, include_self=False)
        conn.in_channel = True
        self._room_conns.append(conn)
        await self._emit(conn, "setPermissions", DEFAULT_PERMISSIONS)
        await self._emit(conn, "setPlaylistLocked", True)
        await self._emit(conn, "emoteList", [])
        if user is not None and user.muted:
            await self._send_user_meta(user, min_rank=DEFAULT_PERMISSIONS["mute"])
        for msg in list(self._history):
            await self._emit(conn, "chatMsg", msg)
        await self._emit(conn, "drinkCount", 0)
        await self._emit(conn, "channelCSSJS", {"css": "", "cssHash": _EMPTY_MD5, "js": "",
                                                "jsHash": _EMPTY_MD5})
        await self._emit(conn, "setMotd", "")
        await self._emit(conn, "channelOpts", self._channel_opts())
        await self._send_playlist(conn)
        if self._current is not None:
            await self._emit(conn, "setCurrent", self._current.uid)
            await self._emit(conn, "changeMedia", self._full_update())
        await self._send_userlist(conn)
        await self._send_usercount()

    def _channel_opts(self) -> dict[str, Any]:
        return {
            "allow_voteskip": True, "voteskip_ratio": 0.5, "afk_timeout": 600,
            "pagetitle": self.channel, "maxlength": 0, "externalcss": "", "externaljs": "",
            "chat_antiflood": False,
            "chat_antiflood_params": {"burst": 4, "sustained": 1, "cooldown": 4},
            "show_public": False, "enable_link_regex": True,
            "password": self.channel_password if self.channel_password is not None else False,
            "allow_dupes": False, "torbanned": False, "block_anonymous_users": False,
            "allow_ascii_control": False, "playlist_max_per_user": 0,
            "new_user_chat_delay": 0, "new_user_chat_link_delay": 0,
            "playlist_max_duration_per_user": 0,
        }

    # ------------------------------------------------------------------ login

    async def _on_login(self, conn: _Conn, data: Any) -> None:
        if not isinstance(data, dict):
            async with self._lock:
                await self._emit(conn, "errorMsg", {"msg": "Invalid login frame"})
            return
        if conn.login_busy or conn.user is not None:
            return
        name = data.get("name")
        if not isinstance(name, str):
            return
        pw = data.get("pw")
        pw = pw[:100] if isinstance(pw, str) else ""
        conn.attempted_name = name
        conn.login_busy = True
        run = self._run
        try:
            if pw:
                await asyncio.sleep(self.PASSWORD_CHECK_DELAY)  # bcrypt takes a while
            async with self._lock:
                if not self._alive(conn, run):
                    return
                if pw:
                    await self._login_registered(conn, name, pw)
                else:
                    await self._login_guest(conn, name)
        finally:
            conn.login_busy = False

    async def _login_registered(self, conn: _Conn, name: str, pw: str) -> None:
        account = self._accounts.get(name.lower())
        if not _USER_NAME.match(name):
            error = f'Invalid username "{name}"'
        elif account is None:
            error = "User does not exist"
        elif account[1] != pw:
            error = "Invalid username/password combination"
        else:
            error = None
        if error is not None or account is None:
            await self._login_reply(conn, {"success": False, "error": error})
            return
        real_name, _, rank = account
        global_rank = rank if rank >= 255 else 1
        conn.user = _User(name=real_name, rank=global_rank, ip=conn.ip, conn=conn)
        conn.registered = True
        await self._emit(conn, "rank", global_rank)
        await self._login_reply(conn, {"success": True, "name": real_name})
        await self._after_login(conn)

    async def _login_reply(self, conn: _Conn, reply: dict[str, Any]) -> None:
        if not conn.gone and self._sio is not None:
            self.login_replies.append(LoginReply(at=time.monotonic(), sid=conn.sid,
                                                 name=conn.attempted_name, reply=dict(reply)))
        await self._emit(conn, "login", reply)

    async def _login_guest(self, conn: _Conn, name: str) -> None:
        delay = self.guest_login_delay
        last = self._last_guest_login.get(conn.ip)
        if delay is not None and last is not None and time.monotonic() - last < delay:
            # user.js guestLogin: checked first, with the configured number in the text
            await self._login_reply(conn, {
                "success": False, "error": "Guest logins are restricted to one per IP "
                                           f"address per {_num(delay)} seconds."})
            return
        if not _USER_NAME.match(name):
            error: str | None = (
                "Invalid username.  Usernames must be 1-20 characters long and consist only "
                "of characters a-z, A-Z, 0-9, -, or _.")
        elif any(rx.match(name) for rx in _RESERVED_NAMES):
            error = "That username is reserved."
        elif name.lower() in self._accounts:
            error = "That username is registered."
        elif conn.in_channel and name.lower() in self._members:
            error = "That name is already in use on this channel."
        else:
            error = None
        if error is not None:
            await self._login_reply(conn, {"success": False, "error": error})
            return
        self._last_guest_login[conn.ip] = time.monotonic()  # recorded only on success
        conn.user = _User(name=name, rank=0, ip=conn.ip, conn=conn)
        await self._emit(conn, "rank", 0)
        await self._login_reply(conn, {"success": True, "name": name, "guest": True})
        await self._after_login(conn)

    async def _after_login(self, conn: _Conn) -> None:
        user = conn.user
        assert user is not None
        if conn.awaiting_password and self._rank_in_channel(conn) >= 2:
            conn.awaiting_password = False
            await self._emit(conn, "cancelNeedPassword")
            await self._accept(conn)
            return
        if not conn.in_channel:
            return
        await self._kick_duplicates(user)
        user.muted = user.lower in self.muted
        self._members[user.lower] = user
        await self._send_user_join(user, include_self=True)
        if user.muted:
            await self._send_user_meta(user, min_rank=DEFAULT_PERMISSIONS["mute"])
        if user.lower in self.banned:
            await self._mod_message(f"{user.name} was kicked (name is banned)")
            await self._kick_user(user, "You are banned from this channel.")
            return
        if conn.registered:
            await self._change_rank(user, self._rank_in_channel(conn), resend_playlist=True)

    async def _kick_duplicates(self, user: _User) -> None:
        other = self._members.get(user.lower)
        if other is not None and other is not user:
            await self._kick_user(other, "Duplicate login")

    async def _change_rank(self, user: _User, rank: float, *,
                           resend_playlist: bool = False) -> None:
        old = user.rank
        user.rank = rank
        if user is self._leader and rank < 1.5:
            user.rank_before_lead, user.rank = rank, 1.5
        conn = user.conn
        if conn is not None:
            await self._emit(conn, "rank", user.rank)
            if (old >= 2) != (user.rank >= 2):
                await self._send_userlist(conn, with_leader=False)
            if resend_playlist:
                await self._send_playlist(conn)
        await self._broadcast("setUserRank", {"name": user.name, "rank": user.rank})

    # ------------------------------------------------------------------ users on the wire

    def _pack_user(self, user: _User, viewer_rank: float) -> dict[str, Any]:
        meta: dict[str, Any] = {"afk": user.afk, "muted": user.muted}
        if viewer_rank >= 2:
            meta.update(smuted=False, aliases=[user.name], ip=_cloak_ip(user.ip))
        return {"name": user.name, "rank": user.rank, "profile": {"image": "", "text": ""},
                "meta": meta}

    async def _send_user_join(self, user: _User, *, include_self: bool) -> None:
        for conn in list(self._room_conns):
            if include_self or conn is not user.conn:
                await self._emit(conn, "addUser", self._pack_user(user, conn.rank))
        await self._mod_message(f"{user.name} joined (aliases: {user.name})", exclude=user)

    async def _send_userlist(self, conn: _Conn, *, with_leader: bool = True) -> None:
        await self._emit(conn, "userlist",
                         [self._pack_user(u, conn.rank) for u in self._members.values()])
        if with_leader and self._leader is not None:
            await self._emit(conn, "setLeader", self._leader.name)

    async def _send_user_meta(self, user: _User, *, min_rank: float = -1) -> None:
        for conn in list(self._room_conns):
            if conn.rank > min_rank:
                await self._emit(conn, "setUserMeta", {
                    "name": user.name, "meta": self._pack_user(user, conn.rank)["meta"]})

    async def _send_usercount(self) -> None:
        simulated = sum(1 for u in self._members.values() if u.conn is None)
        await self._broadcast("usercount", len(self._room_conns) + simulated)

    async def _mod_message(self, text: str, min_rank: float = 2,
                           exclude: _User | None = None) -> None:
        msg = {"username": "[server]", "msg": text, "meta": dict(_SERVER_WHISPER),
               "time": _now_ms()}
        for conn in list(self._room_conns):
            if conn.rank >= min_rank and (exclude is None or conn is not exclude.conn):
                await self._emit(conn, "chatMsg", msg)

    def _simulated(self, name: str) -> _User:
        user = self._members.get(name.lower())
        if user is None or user.conn is not None:
            raise LookupError(f"no simulated user {name!r} in the channel (add_user first)")
        return user

    # ------------------------------------------------------------------ leaving and kicks

    async def _part(self, conn: _Conn) -> None:
        """CyTube's partUser: forget the socket, tell the room."""
        if not conn.in_channel:
            return
        conn.in_channel = False
        self._room_conns.remove(conn)
        user = conn.user
        if user is not None and self._members.get(user.lower) is user:
            await self._remove_member(user)
        if not any(c.ip == conn.ip for c in self._room_conns):
            self._votes.discard(conn.ip)
        await self._send_usercount()

    async def _remove_member(self, user: _User) -> None:
        del self._members[user.lower]
        await self._broadcast("userLeave", {"name": user.name})
        if user is self._leader:
            self._leader = None
            self._end_lead(user)
            await self._resume_autolead()

    async def _kick_user(self, user: _User, reason: str) -> None:
        if user.conn is not None:
            await self._kick_conn(user.conn, reason)
        else:
            self.kicked.append((user.name, reason))
            await self._remove_member(user)
            await self._send_usercount()

    async def _kick_conn(self, conn: _Conn, reason: str) -> None:
        """``kick {reason}``, then the socket is disconnected (no reconnect for the client)."""
        self.kicked.append((conn.name, reason))
        await self._emit(conn, "kick", {"reason": reason})
        sio = self._sio
        conn.gone = True
        await self._part(conn)
        if sio is not None:
            self._spawn(self._disconnect(sio, conn.sid))

    async def _disconnect(self, sio: socketio.AsyncServer, sid: str) -> None:
        """``socket.disconnect(true)``: a socket.io DISCONNECT, then the transport closes."""
        eio_sid = sio.manager.eio_sid_from_sid(sid, "/")
        await sio.disconnect(sid)
        eio_socket = sio.eio.sockets.get(eio_sid) if eio_sid is not None else None
        if eio_socket is not None and not eio_socket.closed:
            await eio_socket.close(wait=False, abort=True)

    # ------------------------------------------------------------------ chat

    async def _on_chat(self, conn: _Conn, data: Any) -> None:
        async with self._lock:
            if not self._alive(conn) or not conn.in_channel:
                return
            if not isinstance(data, dict) or not isinstance(data.get("msg"), str):
                await self._emit(conn, "errorMsg", {
                    "msg": "Unexpected error for message chatMsg: msg must be a string"})
                return
            user = conn.user
            if user is None or user.rank < DEFAULT_PERMISSIONS["chat"]:
                return
            meta = data.get("meta")
            await self._chat(user, data["msg"], meta if isinstance(meta, dict) else {},
                             conn.chat_limiter)

    async def _chat(self, user: _User, msg: str, meta_in: dict[str, Any],
                    limiter: _Limiter | None) -> None:
        msg = _CONTROL.sub(" ", msg[:MAX_CHAT_LENGTH])
        if not msg.strip():
            return
        meta: dict[str, Any] = {}
        if user.rank >= 2 and meta_in.get("modflair") == user.rank:
            meta["modflair"] = user.rank
        await self._process_chat(user, msg, meta, limiter)

    async def _process_chat(self, user: _User, msg: str, meta: dict[str, Any],
                            limiter: _Limiter | None) -> None:
        if "/afk" not in msg:
            await self._set_afk(user, False)
        if limiter is not None and limiter.throttle():
            await self._emit_user(user, "cooldown", _num(1000 / limiter.sustained))
            return
        if msg.startswith(">"):
            meta["addClass"] = "greentext"
        if msg.startswith("/"):
            command = self._commands.get(msg[1:].split(" ", 1)[0])
            if command is not None:
                await command(user, msg, meta)
                return
        if user.muted:
            await self._emit_user(user, "noflood", {
                "action": "chat", "msg": "You have been muted on this channel."})
            return
        await self._send_chat(user.name, format_chat(msg), meta)

    async def _send_chat(self, username: str, msg: str, meta: dict[str, Any], *,
                         keep: bool = True) -> None:
        msgobj = {"username": username, "msg": msg, "meta": meta, "time": _now_ms()}
        await self._broadcast("chatMsg", msgobj)
        self._chat_log.append((username, msg))
        if keep:
            self._history.append(msgobj)

    async def _on_pm(self, conn: _Conn, data: Any) -> None:
        async with self._lock:
            if not self._alive(conn) or not conn.in_channel:
                return
            if not isinstance(data, dict) or not isinstance(data.get("msg"), str) \
                    or not isinstance(data.get("to"), str):
                await self._emit(conn, "errorMsg", {
                    "msg": "Unexpected error for message pm: msg and to must be strings"})
                return
            user = conn.user
            if user is None:
                await self._emit(conn, "errorMsg", {"msg": "You must be signed in to send PMs"})
                return
            to = data["to"].lower()
            if to == user.lower:
                await self._emit(conn, "errorMsg", {"msg": "You can't PM yourself!"})
                return
            if not _USER_NAME.match(to):
                await self._emit(conn, "errorMsg",
                                 {"msg": f"PM failed: {to} isn't a valid username."})
                return
            if conn.chat_limiter.throttle():
                await self._emit(conn, "cooldown", _num(1000 / conn.chat_limiter.sustained))
                return
            target = self._members.get(to)
            if target is None:
                await self._emit(conn, "errorMsg",
                                 {"msg": f"PM failed: {to} isn't connected to this channel."})
                return
            text = data["msg"][:MAX_CHAT_LENGTH]
            meta: dict[str, Any] = {}
            meta_in = data.get("meta")
            if user.rank >= 2 and isinstance(meta_in, dict) \
                    and meta_in.get("modflair") == user.rank:
                meta["modflair"] = user.rank
            if text.startswith(">"):
                meta["addClass"] = "greentext"
            await self._deliver_pm(user, target, text, meta)

    async def _deliver_pm(self, sender: _User, target: _User, text: str,
                          meta: dict[str, Any]) -> None:
        msgobj = {"username": sender.name, "msg": format_chat(text), "meta": meta,
                  "time": _now_ms(), "to": target.name}
        self._pm_log.append((sender.name, target.name, msgobj["msg"]))
        await self._emit_user(target, "pm", msgobj)
        await self._emit_user(sender, "pm", msgobj)

    # ------------------------------------------------------------------ chat commands

    def _find(self, name: str) -> _User | None:
        return self._members.get(name.lower())

    async def _cmd_kick(self, actor: _User, msg: str, meta: dict[str, Any]) -> None:
        if actor.rank < DEFAULT_PERMISSIONS["kick"]:
            return
        args = msg.split(" ")[1:]
        if not args or not args[0].strip():
            await self._emit_user(actor, "errorMsg", {
                "msg": "No kick target specified.  If you're trying to kick anonymous users, "
                       "use /kickanons"})
            return
        target = self._find(args[0])
        if target is None:
            return
        if target.rank >= actor.rank:
            await self._emit_user(actor, "errorMsg",
                                  {"msg": f"You do not have permission to kick {target.name}"})
            return
        await self._kick_user(target, " ".join(args[1:]))
        await self._mod_message(f"{actor.name} kicked {target.name}")

    async def _cmd_ban(self, actor: _User, msg: str, meta: dict[str, Any]) -> None:
        args = msg.split(" ")[1:]
        if not args or not args[0].strip():
            await self._emit_user(actor, "errorMsg", {"msg": "No ban target specified."})
            return
        name = args[0].lower()
        if actor.rank < DEFAULT_PERMISSIONS["ban"]:
            error = "You do not have ban permissions on this channel"
        elif name == actor.lower:
            await self._emit_user(actor, "costanza", {"msg": "You can't ban yourself"})
            error = "You cannot ban yourself"
        elif self._rank_for_name(name) >= actor.rank:
            error = f"You don't have permission to ban {name}"
        elif name in self.banned:
            error = f"{name} is already banned"
        else:
            error = None
        if error is not None:
            await self._emit_user(actor, "errorMsg", {"msg": error})
            return
        self.banned.add(name)
        await self._mod_message(f"{actor.name} namebanned {name}", DEFAULT_PERMISSIONS["ban"])
        target = self._find(name)
        if target is not None:
            await self._kick_user(target, "You're banned!")

    def _rank_for_name(self, lower: str) -> float:
        present = self._members.get(lower)
        if present is not None:
            return present.rank
        return self._channel_ranks.get(lower, 0)

    async def _cmd_mute(self, actor: _User, msg: str, meta: dict[str, Any]) -> None:
        if actor.rank < DEFAULT_PERMISSIONS["mute"]:
            return
        args = msg.split(" ")[1:]
        if not args:
            await self._emit_user(actor, "errorMsg", {"msg": "/mute requires a target name"})
            return
        name = args[0].lower()
        target = self._find(name)
        if target is None:
            await self._emit_user(actor, "errorMsg",
                                  {"msg": f"/mute target {name} not present in channel."})
            return
        if target.rank >= actor.rank:
            await self._emit_user(actor, "errorMsg", {
                "msg": f"/mute failed - {target.name} has equal or higher rank than you."})
            return
        target.muted = True
        self.muted.add(name)
        await self._send_user_meta(target)
        await self._mod_message(f"{actor.name} muted {target.name}",
                                DEFAULT_PERMISSIONS["mute"])

    async def _cmd_unmute(self, actor: _User, msg: str, meta: dict[str, Any]) -> None:
        if actor.rank < DEFAULT_PERMISSIONS["mute"]:
            return
        args = msg.split(" ")[1:]
        if not args:
            await self._emit_user(actor, "errorMsg", {"msg": "/unmute requires a target name"})
            return
        name = args[0].lower()
        if name not in self.muted:
            await self._emit_user(actor, "errorMsg", {"msg": f"{name} is not muted."})
            return
        self.muted.discard(name)
        target = self._find(name)
        if target is None:
            return
        target.muted = False
        await self._send_user_meta(target)
        await self._mod_message(f"{actor.name} unmuted {target.name}",
                                DEFAULT_PERMISSIONS["mute"])

    async def _cmd_afk(self, actor: _User, msg: str, meta: dict[str, Any]) -> None:
        await self._set_afk(actor, not actor.afk)

    async def _cmd_me(self, actor: _User, msg: str, meta: dict[str, Any]) -> None:
        meta.update(addClass="action", action=True)
        await self._process_chat(actor, " ".join(msg.split(" ")[1:]), meta,
                                 actor.conn.chat_limiter if actor.conn else None)

    async def _cmd_sp(self, actor: _User, msg: str, meta: dict[str, Any]) -> None:
        meta["addClass"] = "spoiler"
        await self._process_chat(actor, " ".join(msg.split(" ")[1:]), meta,
                                 actor.conn.chat_limiter if actor.conn else None)

    async def _set_afk(self, user: _User, afk: bool) -> None:
        if user.afk == afk or self._members.get(user.lower) is not user:
            return
        user.afk = afk
        if afk and user.conn is not None:
            self._votes.discard(user.conn.ip)
            await self._emit(user.conn, "clearVoteskipVote")
        await self._broadcast("setAFK", {"name": user.name, "afk": afk})
        await self._send_user_meta(user)

    # ------------------------------------------------------------------ playlist

    def _full_update(self) -> dict[str, Any]:
        assert self._current is not None
        return {**copy.deepcopy(self._current.media), **self._time_update()}

    def _time_update(self) -> dict[str, Any]:
        current = self._time
        if not self._paused and self._leader is None and self._current is not None \
                and self._current.media["seconds"] > 0:
            current += time.monotonic() - self._anchor
        return {"currentTime": _num(current), "paused": self._paused}

    def _meta(self) -> dict[str, Any]:
        raw = sum(item.media["seconds"] for item in self._items)
        return {"count": len(self._items), "rawTime": raw, "time": _format_time(raw)}

    async def _send_playlist(self, conn: _Conn) -> None:
        await self._emit(conn, "setPlaylistMeta", self._meta())
        await self._emit(conn, "playlist", [item.pack() for item in self._items])
        if self._current is not None:
            await self._emit(conn, "setCurrent", self._current.uid)

    def _find_item(self, uid: Any) -> _Item | None:
        if isinstance(uid, bool):
            return None
        if isinstance(uid, str) and uid.strip().lstrip("-").isdigit():
            uid = int(uid)
        return next((item for item in self._items if item.uid == uid), None)

    def _perm(self, conn: _Conn, perm: str) -> bool:
        return conn.rank >= DEFAULT_PERMISSIONS[perm]

    async def _on_queue(self, conn: _Conn, data: Any) -> None:
        async with self._lock:
            if not self._alive(conn) or not conn.in_channel:
                return
            if not isinstance(data, dict) or not isinstance(data.get("id"), str) \
                    or not isinstance(data.get("type"), str) \
                    or not isinstance(data.get("pos"), str):
                await self._emit(conn, "errorMsg", {
                    "msg": "Unexpected error for message queue: id, type and pos must be "
                           "strings"})
                return
            media_id, media_type, pos = data["id"], data["type"], data["pos"]
            if pos not in ("next", "end") or not self._perm(conn, "playlistadd"):
                return
            if pos == "next" and not self._perm(conn, "playlistnext"):
                return
            link = _format_link(media_id, media_type)

            async def fail(msg: str) -> None:
                await self._emit(conn, "queueFail", {"msg": msg, "link": link, "id": media_id})

            if media_type == "yp" and not self._perm(conn, "playlistaddlist"):
                return await fail("You don't have permission to add playlists")
            if media_type in LIVE_TYPES and not self._perm(conn, "playlistaddlive"):
                return await fail("You don't have permission to add live media")
            if media_type == "cu" and not self._perm(conn, "playlistaddcustom"):
                return await fail("You don't have permission to add custom embeds")
            if media_type in ("fi", "cm") and not self._perm(conn, "playlistaddrawfile"):
                return await fail("You don't have permission to add raw video files")
            limiter = conn.queue_limiter_mod if conn.rank >= 2 else conn.queue_limiter_user
            if limiter.throttle():
                return await fail("You are adding videos too quickly")
            if media_type not in KNOWN_TYPES:
                return await fail(f"Unknown media type '{media_type}'")
            if media_type == "fi":
                return await fail("Raw file playback is not enabled on this server")
            if media_type == "yp":
                return await fail("YouTube playlists are not modelled by the test server")
            temp = bool(data.get("temp")) or not self._perm(conn, "addnontemp")
            live = media_type in LIVE_TYPES
            seconds = 0 if live else DEFAULT_MEDIA_SECONDS
            duration = data.get("duration")
            if live and isinstance(duration, (int, float)) and not isinstance(duration, bool):
                seconds = int(duration)
            media = {"id": media_id, "title": media_id[:100], "seconds": seconds,
                     "duration": _format_time(seconds) if seconds else "--:--",
                     "type": media_type, "meta": {}}
            existing = next((i for i in self._items if i.media["id"] == media_id), None)
            if existing is not None and (pos == "end" or existing is self._current):
                return await fail("This item is already on the playlist")
            item = _Item(uid=self._next_uid, temp=temp, queueby=conn.name, media=media)
            self._next_uid += 1
            if pos == "end" or self._current is None:
                self._items.append(item)
            else:
                self._items.insert(self._items.index(self._current) + 1, item)
                if existing is not None:  # "next" moves an existing copy (new uid)
                    item.temp = existing.temp
                    await self._delete_item(existing)
            index = self._items.index(item)
            after: int | str = self._items[index - 1].uid if index > 0 else "prepend"
            await self._broadcast("queue", {"item": item.pack(), "after": after})
            await self._broadcast("setPlaylistMeta", self._meta())
            if len(self._items) == 1:
                self._current = item
                await self._start_playback()

    async def _on_delete(self, conn: _Conn, data: Any) -> None:
        async with self._lock:
            if not self._alive(conn) or not conn.in_channel:
                return
            if not self._perm(conn, "playlistdelete") or isinstance(data, bool) \
                    or not isinstance(data, int):
                return
            item = self._find_item(data)
            if item is not None:
                await self._delete_item(item)

    async def _delete_item(self, item: _Item) -> None:
        index = self._items.index(item)
        following = self._items[index + 1] if index + 1 < len(self._items) else self._items[0]
        self._items.remove(item)
        await self._broadcast("delete", {"uid": item.uid})
        await self._broadcast("setPlaylistMeta", self._meta())
        if self._current is item:
            if following is item:
                self._current = None
            else:
                self._current = following
                await self._start_playback()

    async def _on_move(self, conn: _Conn, data: Any) -> None:
        async with self._lock:
            if not self._alive(conn) or not conn.in_channel:
                return
            if not isinstance(data, dict) or not self._perm(conn, "playlistmove"):
                return
            moving = self._find_item(data.get("from"))
            after = data.get("after")
            anchor = self._find_item(after) if after not in ("prepend", "append") else None
            if moving is None or moving is anchor or (
                    after not in ("prepend", "append") and anchor is None):
                return
            self._items.remove(moving)
            if after == "prepend":
                self._items.insert(0, moving)
            elif after == "append":
                self._items.append(moving)
            else:
                assert anchor is not None
                self._items.insert(self._items.index(anchor) + 1, moving)
            await self._broadcast("moveVideo", {"from": data.get("from"), "after": after})

    async def _on_jump(self, conn: _Conn, data: Any) -> None:
        async with self._lock:
            if not self._alive(conn) or not conn.in_channel:
                return
            if not isinstance(data, (str, int)) or not self._perm(conn, "playlistjump"):
                return
            target = self._find_item(data)
            if target is None:
                return
            old = self._current
            self._current = target
            await self._start_playback()
            if old is not None and old.temp and old is not target and old in self._items:
                await self._delete_item(old)

    async def _on_play_next(self, conn: _Conn, data: Any) -> None:
        async with self._lock:
            if self._alive(conn) and conn.in_channel \
                    and self._perm(conn, "playlistjump"):
                await self._play_next()

    async def _play_next(self) -> None:
        current = self._current
        if current is None:
            return
        if current.temp:
            await self._delete_item(current)
            return
        index = self._items.index(current)
        self._current = self._items[(index + 1) % len(self._items)]
        await self._start_playback()

    async def _start_playback(self, at: float | None = None) -> None:
        if self._current is None:
            return
        if self._lead_in_task is not None:
            self._lead_in_task.cancel()
            self._lead_in_task = None
        seconds = self._current.media["seconds"]
        if self._leader is not None:
            self._time, self._paused = at or 0.0, False
        else:
            self._time = at if at else (-LEAD_IN_SECONDS if seconds > 0 else 0.0)
            self._paused = self._time < 0
        self._anchor = time.monotonic()
        await self._broadcast("setCurrent", self._current.uid)
        await self._broadcast("changeMedia", self._full_update())
        await self._broadcast("drinkCount", 0)
        self._votes.clear()
        await self._send_voteskip()
        if self._paused and self._time < 0 and self._sio is not None:
            self._lead_in_task = asyncio.ensure_future(self._lead_in(self._current, self._run))
            self._tasks.add(self._lead_in_task)
            self._lead_in_task.add_done_callback(self._tasks.discard)

    async def _lead_in(self, item: _Item, run: int) -> None:
        await asyncio.sleep(-self._time)
        async with self._lock:
            if run != self._run or self._current is not item or self._leader is not None:
                return
            self._lead_in_task = None
            self._time, self._paused, self._anchor = 0.0, False, time.monotonic()
            await self._broadcast("mediaUpdate", self._time_update())

    def _reload_playlist(self) -> None:
        """What a channel reload does: uids renumbered from 0, position kept."""
        position = self._time_update()["currentTime"] if self._current else 0.0
        index = self._items.index(self._current) if self._current in self._items else None
        for uid, item in enumerate(self._items):
            item.uid = uid
            if item.media["seconds"] == 0:
                item.media["duration"] = _format_time(0)
        self._next_uid = len(self._items)
        self._current = self._items[index] if index is not None else None
        self._time, self._paused = (max(position, 0.0), False) if self._current else (0.0, True)
        self._anchor = time.monotonic()

    async def _on_request_playlist(self, conn: _Conn, data: Any) -> None:
        async with self._lock:
            if not self._alive(conn) or not conn.in_channel:
                return
            if conn.playlist_limiter.throttle():
                await self._emit(conn, "errorMsg", {
                    "msg": "Get Playlist URLs is limited to 1 usage every 60 seconds.  "
                           "Please try again later.",
                    "code": "REQ_PLAYLIST_LIMIT_REACHED"})
            else:
                await self._send_playlist(conn)

    # ------------------------------------------------------------------ voteskip

    def _voteskip_counts(self) -> tuple[int, int, int]:
        total = len(self._room_conns) + sum(1 for u in self._members.values() if u.conn is None)
        afk = sum(1 for u in self._members.values() if u.afk)
        return total, afk, total - afk

    async def _send_voteskip(self) -> None:
        _, _, eligible = self._voteskip_counts()
        data = {"count": len(self._votes), "need": math.ceil(eligible * 0.5)} \
            if self._votes else {"count": 0, "need": 0}
        for conn in list(self._room_conns):
            if self._perm(conn, "viewvoteskip"):
                await self._emit(conn, "voteskip", data)

    async def _on_voteskip(self, conn: _Conn, data: Any) -> None:
        async with self._lock:
            if not self._alive(conn) or not conn.in_channel or conn.ip in self._votes:
                return
            self._votes.add(conn.ip)
            if conn.user is not None:
                await self._set_afk(conn.user, False)
            if not self._items:
                return
            total, afk, eligible = self._voteskip_counts()
            need = max(1, math.ceil(eligible * 0.5))
            if len(self._votes) >= need:
                info = (f"{len(self._votes)}/{eligible} skipped; eligible voters: {eligible} = "
                        f"total ({total}) - AFK ({afk}) - no permission (0); ratio = 0.5")
                await self._send_chat("[voteskip]", f"Voteskip passed: {info}",
                                      dict(_SERVER_WHISPER), keep=False)
                self._votes.clear()
                await self._send_voteskip()
                await self._play_next()
            else:
                await self._send_voteskip()

    # ------------------------------------------------------------------ leader

    async def _on_assign_leader(self, conn: _Conn, data: Any) -> None:
        async with self._lock:
            if not self._alive(conn) or not conn.in_channel:
                return
            if not isinstance(data, dict) or not isinstance(data.get("name"), str):
                await self._emit(conn, "errorMsg", {
                    "msg": "Unexpected error for message assignLeader: name must be a string"})
                return
            if not self._perm(conn, "leaderctl"):
                await self._kick_conn(conn, "Attempted assignLeader without sufficient "
                                            "permission")
                return
            name = data["name"]
            old = self._leader
            if old is not None:
                self._leader = None
                if self._end_lead(old):
                    await self._emit_user(old, "rank", old.rank)
                await self._broadcast("setUserRank", {"name": old.name, "rank": old.rank})
            if not name:
                await self._resume_autolead()
                return
            target = next((u for u in self._members.values() if u.name == name), None)
            if target is None:
                await self._emit(conn, "errorMsg",
                                 {"msg": f"Unable to assign leader: could not find user {name}"})
                return
            self._leader = target
            self._time = self._time_update()["currentTime"] if self._current else 0.0
            if self._lead_in_task is not None:
                self._lead_in_task.cancel()
                self._lead_in_task = None
            if target.rank < 1.5:
                target.rank_before_lead, target.rank = target.rank, 1.5
                await self._emit_user(target, "rank", 1.5)
            await self._broadcast("setLeader", name)
            if target.rank == 1.5:
                await self._broadcast("setUserRank", {"name": name, "rank": 1.5})

    @staticmethod
    def _end_lead(user: _User) -> bool:
        """Give back the rank a leader had before being lifted to 1.5; True if it changed."""
        if user.rank_before_lead is None:
            return False
        user.rank, user.rank_before_lead = user.rank_before_lead, None
        return True

    async def _resume_autolead(self) -> None:
        await self._broadcast("setLeader", "")
        if self._current is not None:
            self._paused, self._anchor = False, time.monotonic()
            self._time = max(self._time, 0.0)
            await self._broadcast("mediaUpdate", self._time_update())

    async def _on_media_update(self, conn: _Conn, data: Any) -> None:
        async with self._lock:
            if not self._alive(conn) or conn.user is None \
                    or conn.user is not self._leader or self._current is None:
                return
            if not isinstance(data, dict) or self._current.media["type"] in LIVE_TYPES:
                return
            current_time = data.get("currentTime")
            if data.get("id") != self._current.media["id"] or isinstance(current_time, bool) \
                    or not isinstance(current_time, (int, float)) or math.isnan(current_time):
                return
            self._time, self._paused = float(current_time), bool(data.get("paused"))
            current_time = _num(current_time)
            self._anchor = time.monotonic()
            await self._broadcast("mediaUpdate", {"currentTime": current_time,
                                                  "paused": self._paused})


def _release_polls_on_close(sio: socketio.AsyncServer) -> None:
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


def _describe(predicate: Callable[..., Any]) -> str:
    try:
        return inspect.getsource(predicate).strip()
    except (OSError, TypeError):
        return getattr(predicate, "__qualname__", repr(predicate))
