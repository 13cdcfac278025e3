"""Joining the channel (the join burst, the channel password) and logging in."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.support.cytube.core import guarded
from tests.support.cytube.model import Conn, LoginReply, User
from tests.support.cytube.options import Options
from tests.support.cytube.playlist import Playlist
from tests.support.cytube.wire import CHANNEL_NAME, EMPTY_MD5, RESERVED_NAMES, USER_NAME, js_num

__all__ = ["Joining"]


class Joining(Options, Playlist):
    """``joinChannel``, ``channelPassword`` and ``login``, with CyTube's timing and texts."""

    JOIN_DELAY = 0.01
    PASSWORD_CHECK_DELAY = 0.05

    async def _on_join(self, conn: Conn, data: Any) -> None:
        if conn.join_started or not isinstance(data, dict) or not isinstance(
                data.get("name"), str):
            return
        conn.join_started = True
        run = self._run
        await asyncio.sleep(self.JOIN_DELAY)  # the channel "loads"
        await self._join_loaded(conn, data, run=run)

    @guarded(in_channel=False)
    async def _join_loaded(self, conn: Conn, data: dict[str, Any]) -> None:
        name = data["name"].lower()
        if not CHANNEL_NAME.match(name):
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

    @guarded(in_channel=False)
    async def _on_channel_password(self, conn: Conn, data: Any) -> None:
        if not conn.awaiting_password:
            return
        if data != self.channel_password:
            await self._emit(conn, "needPassword", True)
            return
        conn.awaiting_password = False
        await self._emit(conn, "cancelNeedPassword")
        await self._accept(conn)

    async def _accept(self, conn: Conn) -> None:
        """CyTube's acceptUser: the join burst, in the recorded order."""
        user = conn.user
        if user is not None:
            global_rank = user.rank
            user.rank = self._rank_in_channel(conn)
            if user.rank != global_rank:
                await self._emit(conn, "rank", user.rank)
            await self._kick_duplicates(user)
            user.muted = user.lower in self.muted
            user.smuted = user.lower in self.smuted
            self._members[user.lower] = user
            await self._send_user_join(user, include_self=False)
        conn.in_channel = True
        self._room_conns.append(conn)
        await self._emit(conn, "setPermissions", self.permissions)
        await self._emit(conn, "setPlaylistLocked", not self.open_playlist)
        await self._emit(conn, "emoteList", [])
        if user is not None and user.muted:
            await self._send_user_meta(user, min_rank=self._needs("mute"))
        for msg in list(self._history):
            await self._emit(conn, "chatMsg", msg)
        await self._emit(conn, "drinkCount", 0)
        await self._emit(conn, "channelCSSJS", {"css": "", "cssHash": EMPTY_MD5, "js": "",
                                                "jsHash": EMPTY_MD5})
        await self._emit(conn, "setMotd", "")
        await self._emit(conn, "channelOpts", self._opts)
        await self._send_playlist(conn)
        if self._current is not None:
            await self._emit(conn, "setCurrent", self._current.uid)
            await self._emit(conn, "changeMedia", self._full_update())
        await self._send_userlist(conn)
        await self._send_usercount()
        if not self.registered:
            await self._emit(conn, "channelNotRegistered")

    async def _on_login(self, conn: Conn, data: Any) -> None:
        if not isinstance(data, dict):
            await self._refuse_login_frame(conn, data)
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
            await self._login_checked(conn, (name, pw), run=run)
        finally:
            conn.login_busy = False

    @guarded(in_channel=False)
    async def _refuse_login_frame(self, conn: Conn, data: Any) -> None:
        await self._emit(conn, "errorMsg", {"msg": "Invalid login frame"})

    @guarded(in_channel=False)
    async def _login_checked(self, conn: Conn, credentials: tuple[str, str]) -> None:
        name, pw = credentials
        if pw:
            await self._login_registered(conn, name, pw)
        else:
            await self._login_guest(conn, name)

    async def _login_registered(self, conn: Conn, name: str, pw: str) -> None:
        account = self._accounts.get(name.lower())
        if not USER_NAME.match(name):
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
        conn.user = User(name=real_name, rank=global_rank, ip=conn.ip, conn=conn)
        conn.registered = True
        await self._emit(conn, "rank", global_rank)
        await self._login_reply(conn, {"success": True, "name": real_name})
        await self._after_login(conn)

    async def _login_reply(self, conn: Conn, reply: dict[str, Any]) -> None:
        if not conn.gone and self._sio is not None:
            self.login_replies.append(LoginReply(at=time.monotonic(), sid=conn.sid,
                                                 name=conn.attempted_name, reply=dict(reply)))
        await self._emit(conn, "login", reply)

    async def _login_guest(self, conn: Conn, name: str) -> None:
        delay = self.guest_login_delay
        last = self._last_guest_login.get(conn.ip)
        if delay is not None and last is not None and time.monotonic() - last < delay:
            # user.js guestLogin: checked first, with the configured number in the text
            await self._login_reply(conn, {
                "success": False, "error": "Guest logins are restricted to one per IP "
                                           f"address per {js_num(delay)} seconds."})
            return
        if not USER_NAME.match(name):
            error: str | None = (
                "Invalid username.  Usernames must be 1-20 characters long and consist only "
                "of characters a-z, A-Z, 0-9, -, or _.")
        elif any(rx.match(name) for rx in RESERVED_NAMES):
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
        conn.user = User(name=name, rank=0, ip=conn.ip, conn=conn)
        await self._emit(conn, "rank", 0)
        await self._login_reply(conn, {"success": True, "name": name, "guest": True})
        await self._after_login(conn)

    async def _after_login(self, conn: Conn) -> None:
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
        user.smuted = user.lower in self.smuted
        self._members[user.lower] = user
        await self._send_user_join(user, include_self=True)
        if user.muted:
            await self._send_user_meta(user, min_rank=self._needs("mute"))
        if user.lower in self.banned:
            await self._mod_message(f"{user.name} was kicked (name is banned)")
            await self._kick_user(user, "You are banned from this channel.")
            return
        if conn.registered:
            await self._change_rank(user, self._rank_in_channel(conn), resend_playlist=True)
