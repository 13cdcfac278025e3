"""Chat and PMs: formatting, the flood limiter, mutes, and the chat commands."""

from __future__ import annotations

from typing import Any

from tests.support.cytube.core import guarded
from tests.support.cytube.limits import Limiter
from tests.support.cytube.model import Conn, User
from tests.support.cytube.people import People
from tests.support.cytube.wire import (
    CONTROL,
    MAX_CHAT_LENGTH,
    USER_NAME,
    format_chat,
    js_num,
    now_ms,
)

__all__ = ["Chat"]


class Chat(People):
    """``chatMsg``, ``pm`` and ``/kick``, ``/ban``, ``/mute``, ``/smute``, ``/unmute``, ``/afk``,
    ``/me``, ``/sp``; ``requestBanlist``, ``unban``."""

    @guarded()
    async def _on_chat(self, conn: Conn, data: Any) -> None:
        if not isinstance(data, dict) or not isinstance(data.get("msg"), str):
            await self._emit(conn, "errorMsg", {
                "msg": "Unexpected error for message chatMsg: msg must be a string"})
            return
        user = conn.user
        if user is None or not self._may(user.rank, "chat"):
            return
        meta = data.get("meta")
        await self._chat(user, data["msg"], meta if isinstance(meta, dict) else {},
                         conn.chat_limiter)

    async def _chat(self, user: User, msg: str, meta_in: dict[str, Any],
                    limiter: Limiter | None) -> None:
        msg = CONTROL.sub(" ", msg[:MAX_CHAT_LENGTH])
        if not msg.strip():
            return
        meta: dict[str, Any] = {}
        if user.rank >= 2 and meta_in.get("modflair") == user.rank:
            meta["modflair"] = user.rank
        await self._process_chat(user, msg, meta, limiter)

    async def _process_chat(self, user: User, msg: str, meta: dict[str, Any],
                            limiter: Limiter | None) -> None:
        if "/afk" not in msg:
            await self._set_afk(user, False)
        if limiter is not None and limiter.throttle():
            await self._emit_user(user, "cooldown", js_num(1000 / limiter.sustained))
            return
        if msg.startswith(">"):
            meta["addClass"] = "greentext"
        if msg.startswith("/"):
            command = self._commands.get(msg[1:].split(" ", 1)[0])
            if command is not None:
                await command(user, msg, meta)
                return
        if user.smuted:
            # cytube-protocol.md 4: only shadow-muted users (the sender too), anonymous sockets
            # and, marked ``shadow``, moderators see it
            msgobj = {"username": user.name, "msg": format_chat(msg), "meta": meta,
                      "time": now_ms()}
            for conn in list(self._room_conns):
                if conn.rank >= 2:
                    await self._emit(conn, "chatMsg",
                                     {**msgobj, "meta": {**meta, "shadow": True}})
                elif conn.user is None or conn.user.smuted:
                    await self._emit(conn, "chatMsg", msgobj)
            return
        if user.muted:
            await self._emit_user(user, "noflood", {
                "action": "chat", "msg": "You have been muted on this channel."})
            return
        await self._send_chat(user.name, format_chat(msg), meta)

    @guarded()
    async def _on_pm(self, conn: Conn, data: Any) -> None:
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
        if not USER_NAME.match(to):
            await self._emit(conn, "errorMsg",
                             {"msg": f"PM failed: {to} isn't a valid username."})
            return
        if conn.chat_limiter.throttle():
            await self._emit(conn, "cooldown", js_num(1000 / conn.chat_limiter.sustained))
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

    async def _deliver_pm(self, sender: User, target: User, text: str,
                          meta: dict[str, Any]) -> None:
        formatted = format_chat(text)
        msgobj = {"username": sender.name, "msg": formatted, "meta": meta, "time": now_ms(),
                  "to": target.name}
        self._pm_log.append((sender.name, target.name, formatted))
        await self._emit_user(target, "pm", msgobj)
        await self._emit_user(sender, "pm", msgobj)

    async def _cmd_kick(self, actor: User, msg: str, meta: dict[str, Any]) -> None:
        if not self._may(actor.rank, "kick"):
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

    async def _cmd_ban(self, actor: User, msg: str, meta: dict[str, Any]) -> None:
        args = msg.split(" ")[1:]
        if not args or not args[0].strip():
            await self._emit_user(actor, "errorMsg", {"msg": "No ban target specified."})
            return
        name = args[0].lower()
        if not self._may(actor.rank, "ban"):
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
        self._ban_records[name] = {"id": len(self._ban_records) + 1, "ip": "*", "name": name,
                                   "reason": " ".join(args[1:])[:255], "bannedby": actor.name}
        await self._mod_message(f"{actor.name} namebanned {name}", self._needs("ban"))
        target = self._find(name)
        if target is not None:
            await self._kick_user(target, "You're banned!")

    @guarded()
    async def _on_request_banlist(self, conn: Conn, data: Any) -> None:
        """kickban.js sendBanlist: registered channels only, to users with ``ban``."""
        if not self.registered or not self._perm(conn, "ban"):
            return
        await self._emit(conn, "banlist", [
            self._ban_records.get(name) or {"id": 0, "ip": "*", "name": name, "reason": "",
                                            "bannedby": ""}
            for name in sorted(self.banned)])

    @guarded()
    async def _on_unban(self, conn: Conn, data: Any) -> None:
        """kickban.js handleUnban: ``{id, name}`` from a user with ``ban``."""
        actor = conn.user
        if actor is None or not self.registered or not self._perm(conn, "ban"):
            return
        if not isinstance(data, dict) or not isinstance(data.get("id"), int):
            return
        await self._unban(actor, data["id"], str(data.get("name", "")).lower())

    async def _unban(self, actor: User, ban_id: int, name: str) -> None:
        record = self._ban_records.get(name)
        if name not in self.banned or (record is not None and record["id"] != ban_id):
            return
        self.banned.discard(name)
        self._ban_records.pop(name, None)
        await self._mod_message(f"{actor.name} unbanned {name}", self._needs("ban"))
        for other in list(self._room_conns):
            if self._perm(other, "ban"):
                await self._emit(other, "banlistRemove", {"id": ban_id, "name": name})

    async def _cmd_smute(self, actor: User, msg: str, meta: dict[str, Any]) -> None:
        await self._cmd_mute(actor, msg, meta, shadow=True)

    async def _cmd_mute(self, actor: User, msg: str, meta: dict[str, Any], *,
                        shadow: bool = False) -> None:
        if not self._may(actor.rank, "mute"):
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
        target.smuted = shadow
        self.muted.add(name)
        if shadow:
            self.smuted.add(name)
            await self._send_user_meta(target, min_rank=self._needs("mute") - 0.001)
        else:
            await self._send_user_meta(target)
        verb = "shadowmuted" if shadow else "muted"
        await self._mod_message(f"{actor.name} {verb} {target.name}", self._needs("mute"))

    async def _cmd_unmute(self, actor: User, msg: str, meta: dict[str, Any]) -> None:
        if not self._may(actor.rank, "mute"):
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
        self.smuted.discard(name)
        target = self._find(name)
        if target is None:
            return
        target.muted = target.smuted = False
        await self._send_user_meta(target)
        await self._mod_message(f"{actor.name} unmuted {target.name}",
                                self._needs("mute"))

    async def _cmd_afk(self, actor: User, msg: str, meta: dict[str, Any]) -> None:
        await self._set_afk(actor, not actor.afk)

    async def _cmd_me(self, actor: User, msg: str, meta: dict[str, Any]) -> None:
        meta.update(addClass="action", action=True)
        await self._process_chat(actor, " ".join(msg.split(" ")[1:]), meta,
                                 actor.conn.chat_limiter if actor.conn else None)

    async def _cmd_sp(self, actor: User, msg: str, meta: dict[str, Any]) -> None:
        meta["addClass"] = "spoiler"
        await self._process_chat(actor, " ".join(msg.split(" ")[1:]), meta,
                                 actor.conn.chat_limiter if actor.conn else None)
