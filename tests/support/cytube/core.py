"""The shared core every handler module builds on: state, the one guard, emitting.

Every socket.io handler that acts for a socket runs through :func:`guarded`: it takes the
channel lock, then checks that the socket is still there (not kicked, not dropped), that the
server was not stopped or restarted meanwhile (``run``), and (unless told otherwise) that the
socket has joined the channel. Test-side controls run under :func:`exclusive` (the lock alone).
"""

from __future__ import annotations

import asyncio
import copy
import functools
import math
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

import socketio

from tests.support.cytube.limits import RateLimit, TokenBucket
from tests.support.cytube.model import Conn, Item, LoginReply, User
from tests.support.cytube.wire import NO_DATA

__all__ = ["ServerCore", "guarded", "exclusive", "Handler"]

P = ParamSpec("P")
T = TypeVar("T")
S = TypeVar("S", bound="ServerCore")

#: a socket.io event handler: (socket, payload) -> None
Handler = Callable[[Conn, Any], Awaitable[None]]
_Guarded = Callable[[S, Conn, Any], Awaitable[None]]


def guarded(*, in_channel: bool = True) -> Callable[[_Guarded[S]], Callable[..., Awaitable[None]]]:
    """Run a handler under the lock, only while its socket (and this server run) is alive.

    The wrapped handler takes an optional ``run=``: the server run the caller started in,
    for handlers that waited (a channel load, a password check) before taking the lock.
    """
    def wrap(fn: _Guarded[S]) -> Callable[..., Awaitable[None]]:
        @functools.wraps(fn)
        async def run_guarded(self: S, conn: Conn, data: Any, *, run: int | None = None) -> None:
            async with self._lock:
                if not self._alive(conn, run) or (in_channel and not conn.in_channel):
                    return
                await fn(self, conn, data)
        return run_guarded
    return wrap


def exclusive(fn: Callable[Concatenate[S, P], Awaitable[T]]
              ) -> Callable[Concatenate[S, P], Awaitable[T]]:
    """Run a test-side control under the channel lock, like any handler."""
    async def run_exclusive(self: S, /, *args: P.args, **kwargs: P.kwargs) -> T:
        async with self._lock:
            return await fn(self, *args, **kwargs)
    functools.update_wrapper(run_exclusive, fn)
    return run_exclusive


class ServerCore:
    """State shared by the handler modules (set up by ``CyTubeTestServer.__init__``)."""

    channel: str
    registered: bool
    permissions: dict[str, float]
    open_playlist: bool
    channel_password: str | None
    guest_login_delay: float | None
    port: int | None
    connections: int
    refused_connections: int
    kicked: list[tuple[str, str]]
    errors: list[BaseException]
    banned: set[str]
    _ban_records: dict[str, dict[str, Any]]
    muted: set[str]
    smuted: set[str]
    login_replies: list[LoginReply]
    _accounts: dict[str, tuple[str, str, float]]
    _channel_ranks: dict[str, float]
    _rate_limit: RateLimit | None
    _last_guest_login: dict[str, float]
    _history: deque[dict[str, Any]]
    _chat_log: list[tuple[str, str]]
    _pm_log: list[tuple[str, str, str]]
    _event_log: list[tuple[Conn, str, Any]]
    _items: list[Item]
    _next_uid: int
    _current: Item | None
    _time: float
    _paused: bool
    _anchor: float
    _lead_in_task: asyncio.Task[None] | None
    _votes: set[str]
    _members: dict[str, User]
    _room_conns: list[Conn]
    _conns: dict[str, Conn]
    _leader: User | None
    _buckets: dict[str, TokenBucket]
    _sim_ips: int
    _sio: socketio.AsyncServer | None
    _lock: asyncio.Lock
    _tasks: set[asyncio.Task[Any]]
    _run: int
    _handlers: dict[str, Handler]
    _commands: dict[str, Callable[[User, str, dict[str, Any]], Awaitable[None]]]

    # --- implemented further down the stack (playlist.py, leader.py) ---------------------
    async def _send_playlist(self, conn: Conn) -> None:
        raise NotImplementedError

    async def _resume_autolead(self) -> None:
        raise NotImplementedError


    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.errors.append(task.exception())  # type: ignore[arg-type]

    def _alive(self, conn: Conn, run: int | None = None) -> bool:
        """Whether a handler that just took the lock may still act for ``conn``."""
        return not conn.gone and (run is None or run == self._run) and self._sio is not None

    async def _emit(self, conn: Conn | None, event: str, data: Any = NO_DATA) -> None:
        if conn is None or conn.gone or self._sio is None:
            return
        if data is NO_DATA:
            await self._sio.emit(event, to=conn.sid)
        else:
            await self._sio.emit(event, copy.deepcopy(data), to=conn.sid)

    async def _broadcast(self, event: str, data: Any) -> None:
        for conn in list(self._room_conns):
            await self._emit(conn, event, data)

    async def _emit_user(self, user: User, event: str, data: Any = NO_DATA) -> None:
        await self._emit(user.conn, event, data)

    def _perm(self, conn: Conn, perm: str) -> bool:
        return self._may(conn.rank, perm)

    def _may(self, rank: float, perm: str) -> bool:
        """permissions.js hasPermission: an open playlist also grants ``playlist*`` at the
        ``oplaylist*`` rank; a permission the channel lacks is granted to nobody."""
        if perm.startswith("playlist") and self.open_playlist \
                and rank >= self.permissions.get("o" + perm, math.inf):
            return True
        return rank >= self.permissions.get(perm, math.inf)

    def _needs(self, perm: str) -> float:
        return self.permissions.get(perm, math.inf)

    def _find(self, name: str) -> User | None:
        return self._members.get(name.lower())

    def _simulated(self, name: str) -> User:
        user = self._members.get(name.lower())
        if user is None or user.conn is not None:
            raise LookupError(f"no simulated user {name!r} in the channel (add_user first)")
        return user
