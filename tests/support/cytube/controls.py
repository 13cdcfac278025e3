"""What a test does to the channel and reads from it (simulated users, logs, waiting)."""

from __future__ import annotations

import asyncio
import copy
import inspect
from collections.abc import Callable
from typing import Any

from tests.support.cytube.chat import Chat
from tests.support.cytube.core import exclusive
from tests.support.cytube.model import User
from tests.support.cytube.options import Options
from tests.support.cytube.wire import CONTROL, MAX_CHAT_LENGTH, js_num
from tests.support.wait import eventually

__all__ = ["TestControls"]


class TestControls(Chat, Options):
    """Simulated users (no socket), server-side actions, and what the server saw."""

    @exclusive
    async def add_user(self, name: str, rank: float = 1.0, *,
                       confirm_after: float | None = None) -> None:
        """A simulated user joins: ``addUser`` (rank 1, or 0 for a guest) + ``setUserRank``.

        ``confirm_after`` sends the ``setUserRank`` that many seconds later, as CyTube does
        when the channel rank lookup is slow: meanwhile everyone sees the provisional rank 1.
        """
        if name.lower() in self._members:
            raise ValueError(f"{name!r} is already in the channel")
        self._sim_ips += 1
        rank = js_num(rank)
        user = User(name=name, rank=min(rank, 1), ip=f"10.0.0.{self._sim_ips}",
                    muted=name.lower() in self.muted,
                    smuted=name.lower() in self.smuted)
        self._members[user.lower] = user
        await self._send_user_join(user, include_self=False)
        if rank >= 1 and confirm_after is not None:
            self._spawn(self._confirm_rank_later(user, rank, confirm_after, self._run))
        elif rank >= 1:
            await self._confirm_rank(user, rank)
        await self._send_usercount()

    async def _confirm_rank(self, user: User, rank: float) -> None:
        user.rank = rank
        await self._broadcast("setUserRank", {"name": user.name, "rank": rank})

    async def _confirm_rank_later(self, user: User, rank: float, delay: float, run: int) -> None:
        await asyncio.sleep(delay)
        async with self._lock:
            if run == self._run and self._members.get(user.lower) is user:
                await self._confirm_rank(user, rank)

    @exclusive
    async def remove_user(self, name: str) -> None:
        """A simulated user leaves: ``userLeave`` + ``usercount``."""
        user = self._simulated(name)
        await self._remove_member(user)
        await self._send_usercount()

    @exclusive
    async def user_chat(self, name: str, msg: str) -> None:
        """A simulated user types ``msg`` in chat (commands such as ``/kick`` work too)."""
        await self._chat(self._simulated(name), msg, {}, None)

    @exclusive
    async def user_pm(self, name: str, to: str, msg: str) -> None:
        """A simulated user PMs a real socket user (``to``), formatted like any PM."""
        sender = self._simulated(name)
        target = self._members.get(to.lower())
        if target is None or target.conn is None:
            raise LookupError(f"no connected socket user {to!r} in the channel "
                              f"(socket users: {self.socket_users}, "
                              f"simulated users: {self._simulated_names()})")
        text = CONTROL.sub(" ", msg[:MAX_CHAT_LENGTH])
        meta = {"addClass": "greentext"} if text.startswith(">") else {}
        await self._deliver_pm(sender, target, text, meta)

    @exclusive
    async def set_rank(self, name: str, rank: float) -> None:
        """Change a channel rank: ``rank`` to that user's socket, ``setUserRank`` to everyone."""
        rank = js_num(rank)
        if name.lower() in self._accounts:
            self._channel_ranks[name.lower()] = rank
        user = self._members.get(name.lower())
        if user is not None:
            await self._change_rank(user, rank)

    @exclusive
    async def unban(self, name: str, by: str) -> None:
        """Moderator ``by`` (in the channel) unbans ``name`` from the banlist, as CyTube's
        ``unban {id, name}``: a ``[server]`` notice and ``banlistRemove``."""
        record = self._ban_records.get(name.lower())
        await self._unban(self._simulated(by), record["id"] if record else 0, name.lower())

    @exclusive
    async def kick(self, name: str, reason: str = "") -> None:
        """Kick someone from the server side (a real socket gets ``kick`` and is dropped)."""
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
    def options(self) -> dict[str, Any]:
        """The channel's options as ``channelOpts`` sends them now (a copy)."""
        return copy.deepcopy(self._opts)

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
    def socket_users(self) -> list[str]:
        """Names of the users in the channel on a real socket (a bot, a test client)."""
        return [u.name for u in self._members.values() if u.conn is not None]

    def _simulated_names(self) -> list[str]:
        return [u.name for u in self._members.values() if u.conn is None]

    @property
    def history(self) -> list[dict[str, Any]]:
        return copy.deepcopy(list(self._history))

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0, *,
                       what: str | None = None) -> Any:
        """Poll ``predicate`` (sync or async) until truthy; return its value.

        Raises AssertionError naming the condition (``what``, else the predicate's source).
        """
        return await eventually(predicate, timeout=timeout, interval=0.01,
                                what=what or describe(predicate))


def describe(predicate: Callable[..., Any]) -> str:
    """A predicate's source (for the failure message of :meth:`TestControls.wait_for`)."""
    try:
        return inspect.getsource(predicate).strip()
    except (OSError, TypeError):
        return getattr(predicate, "__qualname__", repr(predicate))
