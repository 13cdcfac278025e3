"""People on the wire: user objects, the userlist, ranks, AFK, leaving, kicks."""

from __future__ import annotations

from typing import Any

import socketio

from tests.support.cytube.core import ServerCore
from tests.support.cytube.model import Conn, User
from tests.support.cytube.wire import SERVER_WHISPER, cloak_ip, now_ms

__all__ = ["People"]


class People(ServerCore):
    """Who is in the channel and how the room hears about it."""

    def _rank_in_channel(self, conn: Conn) -> float:
        assert conn.user is not None
        if conn.registered and self.registered:  # an unregistered channel has no ranks
            return max(conn.user.rank, self._channel_ranks.get(conn.user.lower, 1))
        return conn.user.rank

    async def _kick_duplicates(self, user: User) -> None:
        other = self._members.get(user.lower)
        if other is not None and other is not user:
            await self._kick_user(other, "Duplicate login")

    async def _change_rank(self, user: User, rank: float, *,
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

    def _rank_for_name(self, lower: str) -> float:
        present = self._members.get(lower)
        if present is not None:
            return present.rank
        return self._channel_ranks.get(lower, 0)

    def _pack_user(self, user: User, viewer_rank: float) -> dict[str, Any]:
        # a shadow-muted user looks unmuted to base viewers (cytube-protocol.md 3)
        meta: dict[str, Any] = {"afk": user.afk, "muted": user.muted and not user.smuted}
        if viewer_rank >= 2:
            meta.update(muted=user.muted, smuted=user.smuted, aliases=[user.name],
                        ip=cloak_ip(user.ip))
        return {"name": user.name, "rank": user.rank, "profile": {"image": "", "text": ""},
                "meta": meta}

    async def _send_user_join(self, user: User, *, include_self: bool) -> None:
        for conn in list(self._room_conns):
            if include_self or conn is not user.conn:
                await self._emit(conn, "addUser", self._pack_user(user, conn.rank))
        await self._mod_message(f"{user.name} joined (aliases: {user.name})", exclude=user)

    async def _send_userlist(self, conn: Conn, *, with_leader: bool = True) -> None:
        await self._emit(conn, "userlist",
                         [self._pack_user(u, conn.rank) for u in self._members.values()])
        if with_leader and self._leader is not None:
            await self._emit(conn, "setLeader", self._leader.name)

    async def _send_user_meta(self, user: User, *, min_rank: float = -1) -> None:
        for conn in list(self._room_conns):
            if conn.rank > min_rank:
                await self._emit(conn, "setUserMeta", {
                    "name": user.name, "meta": self._pack_user(user, conn.rank)["meta"]})

    async def _send_usercount(self) -> None:
        simulated = sum(1 for u in self._members.values() if u.conn is None)
        await self._broadcast("usercount", len(self._room_conns) + simulated)

    async def _mod_message(self, text: str, min_rank: float = 2,
                           exclude: User | None = None) -> None:
        msg = {"username": "[server]", "msg": text, "meta": dict(SERVER_WHISPER),
               "time": now_ms()}
        for conn in list(self._room_conns):
            if conn.rank >= min_rank and (exclude is None or conn is not exclude.conn):
                await self._emit(conn, "chatMsg", msg)

    async def _send_chat(self, username: str, msg: str, meta: dict[str, Any], *,
                         keep: bool = True) -> None:
        msgobj = {"username": username, "msg": msg, "meta": meta, "time": now_ms()}
        await self._broadcast("chatMsg", msgobj)
        self._chat_log.append((username, msg))
        if keep:
            self._history.append(msgobj)

    async def _set_afk(self, user: User, afk: bool) -> None:
        if user.afk == afk or self._members.get(user.lower) is not user:
            return
        user.afk = afk
        if afk and user.conn is not None:
            self._votes.discard(user.conn.ip)
            await self._emit(user.conn, "clearVoteskipVote")
        await self._broadcast("setAFK", {"name": user.name, "afk": afk})
        await self._send_user_meta(user)

    async def _part(self, conn: Conn) -> None:
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

    async def _remove_member(self, user: User) -> None:
        del self._members[user.lower]
        await self._broadcast("userLeave", {"name": user.name})
        if user is self._leader:
            self._leader = None
            self._end_lead(user)
            await self._resume_autolead()

    async def _kick_user(self, user: User, reason: str) -> None:
        if user.conn is not None:
            await self._kick_conn(user.conn, reason)
        else:
            self.kicked.append((user.name, reason))
            await self._remove_member(user)
            await self._send_usercount()

    async def _kick_conn(self, conn: Conn, reason: str) -> None:
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

    @staticmethod
    def _end_lead(user: User) -> bool:
        """Give back the rank a leader had before being lifted to 1.5; True if it changed."""
        if user.rank_before_lead is None:
            return False
        user.rank, user.rank_before_lead = user.rank_before_lead, None
        return True
