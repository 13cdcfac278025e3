"""Moderator commands sent to the bot by PM: parse, authorize, audit, run, reply.

Only users in the live userlist with rank >= 2 are obeyed; anyone else (and the bot itself) is
ignored without a reply (fail closed). A rank of 1 that CyTube has not confirmed yet (``addUser``
comes before ``setUserRank``) is given ``rank_wait`` seconds to be raised. Every obeyed
command is audited twice on ``rosey.db.action.pm_command`` through the outbox, ``pending``
before it runs and ``success``/``error`` after, with the full argument text; the reply never
waits on either.
Replies go out as PMs split at 320 characters (see :mod:`rosey.bot.text`).

Channel actions are confirmed by watching the events CyTube sends back (``queue``,
``delete``, ``setCurrent``, ``userLeave``...), since CyTube acknowledges none of them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import structlog

from rosey import contract
from rosey.bot.channel import MODERATOR, ChannelState
from rosey.bot.cytube import ChatLine, CyTubeSession
from rosey.bot.media import parse_media_link
from rosey.bot.publisher import Publisher
from rosey.bot.queries import QueryFailed
from rosey.contract import ReplyT
from rosey.errors import CyTubeError, RoseyError
from rosey.metrics import BotMetrics, command_label

__all__ = ["Shell", "ShellContext", "CommandError", "REPLY_JOINER", "Expect", "Query", "Predicate",
           "UNAVAILABLE", "USAGE", "SAFE_SLASH"]

log = structlog.get_logger()

UNAVAILABLE = "stats are unavailable right now"
#: between reply lines packed into one PM (CyTube turns a newline into a space)
REPLY_JOINER = " | "
#: chat commands that ``say`` and the outbound queue may send (others could escalate rank)
SAFE_SLASH = ("/me ", "/sp ")

USAGE: dict[str, str] = {
    "help": "help - this list", "info": "info - who and where I am",
    "status": "status - connection, users, playlist", "stats": "stats - channel statistics",
    "users": "users - who is here", "user": "user <name> - one user's details",
    "afk": "afk [on|off] - my AFK flag", "say": "say <msg> - say in chat",
    "pm": "pm <user> <msg> - PM someone", "playlist": "playlist [n] - the next n items",
    "current": "current - what is playing", "add": "add <url> [next] - queue a video",
    "remove": "remove <#> - delete an item", "move": "move <#> <#> - move an item",
    "jump": "jump <#> - play an item now", "next": "next - skip to the next item",
    "pause": "pause - pause playback (takes leader)", "kick": "kick <user> [reason]",
    "voteskip": "voteskip - vote to skip", "ban": "ban <user> [reason]",
    "mute": "mute <user>", "unmute": "unmute <user>",
}

#: (event, data) -> this is the event we wait for
Predicate = Callable[[str, Any], bool]
#: register a predicate before acting; the future resolves with the matching event's data
Expect = Callable[[Predicate], "asyncio.Future[Any]"]


class Query(Protocol):
    """Ask the DatabaseService: the typed reply, or a :class:`QueryFailed` leaf saying why not."""

    def __call__(self, query: contract.QueryOf[ReplyT], /) -> Awaitable[ReplyT]: ...


class CommandError(RoseyError):
    """A command could not do what was asked; the message is the reply."""


@dataclass(frozen=True, slots=True)
class ShellContext:
    """Everything a command may read besides the channel state."""

    channel: str
    started_at: float
    version: str
    nats_connected: Callable[[], bool]
    outbox_depth: Callable[[], int]


class Shell:
    """Runs moderator PMs.

    Parameters:
        session: sends replies, chat and channel requests.
        channel: the live channel (userlist for authorization, playlist for positions).
        publisher: the outbox for audit events.
        query: asks the DatabaseService (``stats``, ``user``); raises a ``QueryFailed`` leaf.
        expect: waits for CyTube's confirmation of an action.
        metrics: command counters and timings.
        context: static facts and live probes for ``info`` and ``status``.
        confirm_timeout: how long to wait for CyTube to confirm an action.
        rank_wait: how long a PM from a user whose rank is still provisional waits for it.
    """

    def __init__(self, *, session: CyTubeSession, channel: ChannelState, publisher: Publisher,
                 query: Query, expect: Expect, metrics: BotMetrics, context: ShellContext,
                 confirm_timeout: float = 5.0, rank_wait: float = 1.5) -> None:
        self._session = session
        self._channel = channel
        self._publisher = publisher
        self._query = query
        self._expect = expect
        self._metrics = metrics
        self._ctx = context
        self._confirm_timeout = confirm_timeout
        self._rank_wait = rank_wait

    # --- entry ----------------------------------------------------------------------------------
    async def handle(self, line: ChatLine) -> None:
        """Handle one PM to the bot (the caller already dropped the bot's own echoes)."""
        text = line.text.strip()
        if not text or line.own:
            return
        if not await self._authorized(line.username):
            log.info("pm_ignored", username=line.username, reason="not_a_moderator")
            return
        name, _, args = text.partition(" ")
        name = name.lower().lstrip("!") or name.lower()  # a lone "!" stays a (bad) name
        args = args.strip()
        started = time.monotonic()
        self._audit(line.username, name, args, "pending")
        result: Literal["success", "error"]
        try:
            reply = await self._run(name, args, line.username)
            result, error = "success", None
        except CommandError as exc:
            reply = str(exc)
            result, error = "error", str(exc)
        except CyTubeError as exc:
            reply = f"{name} failed: {exc}"
            result, error = "error", str(exc)
        except Exception as exc:  # the command boundary: a bug still gets a reply and an audit row
            log.exception("pm_command_crashed", username=line.username, command=command_label(name))
            reply = f"{name} failed: internal error"
            result, error = "error", f"internal error: {type(exc).__name__}"
        self._audit(line.username, name, args, result, error)
        self._metrics.pm_commands.labels(command_label(name), result).inc()
        log.info("pm_command", username=line.username, command=command_label(name), result=result,
                 error=error, duration_ms=round((time.monotonic() - started) * 1000, 2))
        try:
            await self._session.pm(line.username, reply, joiner=REPLY_JOINER)
        finally:
            self._metrics.pm_command_seconds.observe(time.monotonic() - started)

    async def _authorized(self, name: str) -> bool:
        deadline = time.monotonic() + self._rank_wait
        while True:
            if self._channel.is_moderator(name):
                return True
            user = self._channel.user(name)
            # rank from addUser is provisional: give setUserRank a moment to arrive
            if user is None or user.rank_confirmed or time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.05)

    def _audit(self, username: str, command: str, args: str,
               result: Literal["pending", "success", "error"], error: str | None = None) -> None:
        self._publisher.publish(contract.PM_COMMAND, contract.PmCommand(
            username=username, command=command, args=args, result=result,
            timestamp=time.time(), error=error))

    async def _run(self, name: str, args: str, caller: str) -> str:
        if name not in contract.PM_COMMANDS:
            raise CommandError(f"Unknown command: {name}")
        method: Callable[[str, str], Awaitable[str]] = getattr(self, "cmd_" + name)
        return await method(args, caller)

    async def _confirm(self, fut: asyncio.Future[Any], what: str) -> Any:
        try:
            return await asyncio.wait_for(fut, self._confirm_timeout)
        except TimeoutError:
            raise CommandError(f"CyTube did not confirm {what}") from None

    def _position(self, raw: str) -> int:
        try:
            pos = int(raw.lstrip("#"))
        except ValueError:
            raise CommandError(f"not a playlist position: {raw!r}") from None
        if self._channel.item_at(pos) is None:
            raise CommandError(f"no item #{pos} (the playlist has {len(self._channel.playlist)})")
        return pos

    def _present(self, name: str) -> str:
        user = self._channel.user(name)
        if user is None:
            raise CommandError(f"{name} is not in the channel")
        return user.name

    # --- information ------------------------------------------------------------------------------
    async def cmd_help(self, args: str, caller: str) -> str:
        return "Commands:\n" + "\n".join(USAGE[c] for c in contract.PM_COMMANDS)

    async def cmd_info(self, args: str, caller: str) -> str:
        s = self._channel
        uptime = _duration(time.time() - self._ctx.started_at)
        return (f"I am {self._session.bot_name or '(anonymous)'} (rank {_rank(s.my_rank)}) in "
                f"{self._ctx.channel}, Rosey {self._ctx.version}, up {uptime}")

    async def cmd_status(self, args: str, caller: str) -> str:
        s = self._channel
        cur = s.current_media.title if s.current_media else "nothing"
        return "\n".join([
            f"CyTube: {'joined' if self._session.joined else self._session.phase.value}, "
            f"NATS: {'connected' if self._ctx.nats_connected() else 'disconnected'}, "
            f"outbox: {self._ctx.outbox_depth()}",
            f"users: {s.chat_count} in list, {s.usercount} connected",
            f"playlist: {len(s.playlist)} items, playing: {cur}",
            f"uptime: {_duration(time.time() - self._ctx.started_at)}",
        ])

    async def cmd_stats(self, args: str, caller: str) -> str:
        try:
            reply = await self._query(contract.ChannelStatsQuery())
        except QueryFailed as exc:
            raise CommandError(_unavailable(exc)) from None
        top = ", ".join(f"{t.username} ({t.chat_lines})" for t in reply.top_chatters)
        return "\n".join([
            f"Most users: {reply.high_water_mark.users}, "
            f"most connected: {reply.high_water_connected.users}",
            f"Users seen: {reply.total_users_seen}",
            f"Top chatters: {top or 'none yet'}",
        ])

    async def cmd_users(self, args: str, caller: str) -> str:
        users = sorted(self._channel.users.values(), key=lambda u: (-u.rank, u.name.lower()))
        names = ", ".join(f"{u.name} ({_rank(u.rank)}{', afk' if u.afk else ''})" for u in users)
        return f"{len(users)} users ({self._channel.usercount} connected): {names}"

    async def cmd_user(self, args: str, caller: str) -> str:
        if not args:
            raise CommandError("usage: " + USAGE["user"])
        name = args.split()[0]
        live = self._channel.user(name)
        lines = [f"{live.name}: here, rank {_rank(live.rank)}"
                 f"{', afk' if live.afk else ''}{', muted' if live.muted else ''}"
                 if live else f"{name}: not here"]
        try:
            reply = await self._query(contract.UserStatsQuery(name))
        except QueryFailed as exc:
            raise CommandError("\n".join([*lines, _unavailable(exc)])) from None
        if reply.user is None:
            lines.append("never seen before")
        else:
            u = reply.user
            lines.append(f"chat lines: {u.total_chat_lines}, time here: "
                         f"{_duration(u.total_time_connected)}")
            lines.append(f"first seen {_when(u.first_seen)}, last seen {_when(u.last_seen)}")
        return "\n".join(lines)

    async def cmd_playlist(self, args: str, caller: str) -> str:
        try:
            n = int(args) if args else 10
        except ValueError:
            raise CommandError("usage: " + USAGE["playlist"]) from None
        items = self._channel.playlist[:max(1, min(n, 200))]
        if not items:
            return "The playlist is empty"
        lines = [f"{len(self._channel.playlist)} items:"]
        for i, it in enumerate(items, start=1):
            mark = "> " if it.uid == self._channel.current_uid else ""
            lines.append(f"{mark}#{i} {it.media.title} [{it.media.duration}]")
        return "\n".join(lines)

    async def cmd_current(self, args: str, caller: str) -> str:
        s = self._channel
        if s.current_media is None:
            return "Nothing is playing"
        m = s.current_media
        pos = s.position_of(s.current_uid) if s.current_uid is not None else None
        state = "paused" if s.paused else "playing"
        return (f"{state}: {m.title} ({m.type}:{m.id}) at {_duration(max(0.0, s.current_time))}"
                f" of {m.duration}" + (f", #{pos}" if pos else ""))

    # --- chat -------------------------------------------------------------------------------------
    async def cmd_afk(self, args: str, caller: str) -> str:
        me = self._channel.user(self._session.bot_name)
        now = bool(me and me.afk)
        want = {"on": True, "off": False, "": not now}.get(args.lower())
        if want is None:
            raise CommandError("usage: " + USAGE["afk"])
        if want != now:
            fut = self._expect(lambda e, d: e in ("setAFK", "setUserMeta") and isinstance(d, dict)
                               and str(d.get("name", "")).lower() == self._session.bot_name.lower())
            await self._session.say("/afk")
            await self._confirm(fut, "the AFK change")
        return f"AFK is {'on' if want else 'off'}"

    async def cmd_say(self, args: str, caller: str) -> str:
        if not args:
            raise CommandError("usage: " + USAGE["say"])
        if args.startswith("/") and not args.startswith(SAFE_SLASH):
            raise CommandError("say does not send chat commands")
        await self._session.say(args)
        return "Said it"

    async def cmd_pm(self, args: str, caller: str) -> str:
        to, _, msg = args.partition(" ")
        if not to or not msg.strip():
            raise CommandError("usage: " + USAGE["pm"])
        name = self._present(to)
        await self._session.pm(name, msg.strip())
        return f"Sent to {name}"

    # --- playlist ---------------------------------------------------------------------------------
    async def cmd_add(self, args: str, caller: str) -> str:
        parts = args.split()
        if not parts or len(parts) > 2 or (len(parts) == 2 and parts[1].lower() != "next"):
            raise CommandError("usage: " + USAGE["add"])
        ref = parse_media_link(parts[0])
        if ref is None:
            raise CommandError(f"I cannot play {parts[0]}")
        fut = self._expect(lambda e, d: isinstance(d, dict) and (
            (e == "queue" and (d.get("item") or {}).get("media", {}).get("id") == ref.id
             and d["item"]["media"].get("type") == ref.type)
            or (e == "queueFail" and ref.id in (d.get("id"), d.get("link")))))
        pos = "next" if len(parts) == 2 else "end"
        await self._session.emit("queue", {"id": ref.id, "type": ref.type, "pos": pos,
                                           "temp": False})
        data = await self._confirm(fut, "the add")
        if "item" not in data:
            raise CommandError(f"Could not add: {data.get('msg', 'refused')}")
        uid = int(data["item"]["uid"])
        where = self._channel.position_of(uid)
        return f"Added {data['item']['media'].get('title') or ref.id}" + (
            f" at #{where}" if where else "")

    async def cmd_remove(self, args: str, caller: str) -> str:
        item = self._channel.item_at(self._position(args))
        assert item is not None
        fut = self._expect(lambda e, d: e == "delete" and isinstance(d, dict)
                           and d.get("uid") == item.uid)
        await self._session.emit("delete", item.uid)
        await self._confirm(fut, "the removal")
        return f"Removed {item.media.title}"

    async def cmd_move(self, args: str, caller: str) -> str:
        parts = args.split()
        if len(parts) != 2:
            raise CommandError("usage: " + USAGE["move"])
        src, dst = self._position(parts[0]), self._position(parts[1])
        item = self._channel.item_at(src)
        assert item is not None
        if src == dst:
            return f"{item.media.title} is already at #{dst}"
        rest = [it for it in self._channel.playlist if it.uid != item.uid]
        after: int | str = "prepend" if dst == 1 else rest[dst - 2].uid
        fut = self._expect(lambda e, d: e == "moveVideo" and isinstance(d, dict)
                           and d.get("from") == item.uid)
        await self._session.emit("moveMedia", {"from": item.uid, "after": after})
        await self._confirm(fut, "the move")
        return f"Moved {item.media.title} to #{dst}"

    async def cmd_jump(self, args: str, caller: str) -> str:
        item = self._channel.item_at(self._position(args))
        assert item is not None
        fut = self._expect(lambda e, d: e == "setCurrent" and d == item.uid)
        await self._session.emit("jumpTo", item.uid)
        await self._confirm(fut, "the jump")
        return f"Now playing {item.media.title}"

    async def cmd_next(self, args: str, caller: str) -> str:
        if not self._channel.playlist:
            raise CommandError("The playlist is empty")
        before = self._channel.current_uid
        fut = self._expect(lambda e, d: e == "setCurrent" and d != before)
        await self._session.emit("playNext")
        uid = await self._confirm(fut, "the skip")
        item = self._channel.item(int(uid))
        return f"Now playing {item.media.title if item else 'the next item'}"

    async def cmd_pause(self, args: str, caller: str) -> str:
        s = self._channel
        if s.my_rank < MODERATOR:
            raise CommandError("I need moderator rank to take leader and pause")
        media = s.current_media
        if media is None:
            raise CommandError("Nothing is playing")
        me = self._session.bot_name
        if s.leader.lower() != me.lower():
            fut = self._expect(lambda e, d: e == "setLeader" and str(d).lower() == me.lower())
            await self._session.emit("assignLeader", {"name": me})
            await self._confirm(fut, "leader")
        paused = self._expect(lambda e, d: e == "mediaUpdate" and isinstance(d, dict)
                              and bool(d.get("paused")))
        await self._session.emit("mediaUpdate", {"id": media.id, "type": media.type,
                                                 "currentTime": max(0.0, s.current_time),
                                                 "paused": True})
        await self._confirm(paused, "the pause")
        return f"Paused {media.title} (I hold leader until it is taken back)"

    async def cmd_voteskip(self, args: str, caller: str) -> str:
        await self._session.emit("voteskip")
        return "Voted to skip"

    # --- moderation (chat commands) ---------------------------------------------------------------
    def _outranked(self, name: str) -> None:
        user = self._channel.user(name)
        if user is not None and user.rank >= self._channel.my_rank:
            raise CommandError(f"{user.name} has a rank equal to or above mine")

    async def _leave_command(self, verb: str, args: str, must_be_here: bool) -> str:
        target, _, reason = args.partition(" ")
        if not target:
            raise CommandError("usage: " + USAGE[verb])
        here = self._channel.user(target)
        if here is None and must_be_here:
            raise CommandError(f"{target} is not in the channel")
        self._outranked(target)
        name = here.name if here else target
        fut = self._expect(lambda e, d: e == "userLeave" and isinstance(d, dict)
                           and str(d.get("name", "")).lower() == name.lower())
        await self._session.say(f"/{verb} {name} {reason.strip()}".rstrip())
        if here is not None:
            await self._confirm(fut, f"the {verb}")
        else:
            fut.cancel()
        return f"{verb.capitalize()}{'ned' if verb == 'ban' else 'ed'} {name}"

    async def cmd_kick(self, args: str, caller: str) -> str:
        return await self._leave_command("kick", args, must_be_here=True)

    async def cmd_ban(self, args: str, caller: str) -> str:
        return await self._leave_command("ban", args, must_be_here=False)

    async def _mute(self, verb: str, args: str, muted: bool) -> str:
        target = args.split()[0] if args.split() else ""
        if not target:
            raise CommandError("usage: " + USAGE[verb])
        name = self._present(target)
        self._outranked(name)
        await self._session.say(f"/{verb} {name}")
        return f"{verb.capitalize()}d {name}"

    async def cmd_mute(self, args: str, caller: str) -> str:
        return await self._mute("mute", args, True)

    async def cmd_unmute(self, args: str, caller: str) -> str:
        return await self._mute("unmute", args, False)


def _rank(rank: float) -> str:
    return str(int(rank)) if float(rank).is_integer() else str(rank)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


def _when(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(stamp))


def _unavailable(exc: QueryFailed) -> str:
    log.warning("query_failed", outcome=exc.outcome, detail=str(exc)[:300])
    return f"{UNAVAILABLE}: {exc.why}"
