"""The channel's commands: information, chat, the playlist and playback.

Handlers are ``ChannelCommands.cmd_<name>``, named by the table of commands
(:mod:`rosey.commands`); each returns the reply or raises :class:`~rosey.errors.CommandError`
(the reply) or an :class:`~rosey.errors.ActionFailed` from the action layer. Every reply about
an action comes from what CyTube answered, never from having sent the request; where CyTube
stays silent, the reply says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rosey import contract
from rosey.bot.actions import Actions
from rosey.bot.capabilities import capabilities, lacking, rank_text
from rosey.bot.channel import ChannelState
from rosey.bot.clock import Clock
from rosey.bot.cytube import CyTubeSession
from rosey.bot.media import parse_media_link
from rosey.bot.playback import Leader
from rosey.bot.queries import Ask, QueryFailed, unavailable
from rosey.bot.text import clock, when
from rosey.commands import COMMAND_NAMES, USAGE
from rosey.errors import CommandError

__all__ = ["ChannelCommands", "ShellContext", "UNAVAILABLE", "SAFE_SLASH"]

UNAVAILABLE = "stats are unavailable right now"
#: chat commands that ``say`` and the outbound queue may send (others could escalate rank)
SAFE_SLASH = ("/me ", "/sp ")


@dataclass(frozen=True, slots=True)
class ShellContext:
    """Everything ``info`` and ``status`` read besides the channel state."""

    channel: str
    started_at: float
    version: str
    nats_connected: Callable[[], bool]
    outbox_depth: Callable[[], int]


class ChannelCommands:
    """The handlers of the channel's commands.

    Parameters:
        actions, channel, session: act on CyTube; the channel; the connection's phase.
        query: asks the DatabaseService (``stats``, ``user``).
        leader: the pause limit and the hand-back.
        context: static facts and live probes for ``info`` and ``status``.
        clock: reads the time (uptime).
    """

    def __init__(self, *, actions: Actions, channel: ChannelState, session: CyTubeSession,
                 query: Ask, leader: Leader,
                 context: ShellContext, clock: Clock) -> None:
        self._actions = actions
        self._channel = channel
        self._session = session
        self._query = query
        self._leader = leader
        self._ctx = context
        self._clock = clock

    def _position(self, raw: str) -> int:
        try:
            pos = int(raw.lstrip("#"))
        except ValueError:
            raise CommandError(f"not a playlist position: {raw!r}") from None
        if self._channel.item_at(pos) is None:
            raise CommandError(f"no item #{pos} (the playlist has {len(self._channel.playlist)})")
        return pos

    def _uptime(self) -> str:
        return clock(self._clock.time() - self._ctx.started_at)

    # --- information ------------------------------------------------------------------------------
    async def cmd_help(self, args: str, caller: str) -> str:
        return "Commands:\n" + "\n".join(USAGE[c] for c in COMMAND_NAMES)

    async def cmd_info(self, args: str, caller: str) -> str:
        return (f"I am {self._channel.bot_name or '(anonymous)'} (rank "
                f"{rank_text(self._channel.my_rank)}) in {self._ctx.channel}, Rosey "
                f"{self._ctx.version}, up {self._uptime()}")

    async def cmd_status(self, args: str, caller: str) -> str:
        s = self._channel
        cur = s.current_media.title if s.current_media else "nothing"
        return "\n".join([
            f"CyTube: {'joined' if self._session.joined else self._session.phase.value}, "
            f"NATS: {'connected' if self._ctx.nats_connected() else 'disconnected'}, "
            f"outbox: {self._ctx.outbox_depth()}",
            f"users: {s.chat_count} in list, {s.usercount} connected",
            f"playlist: {len(s.playlist)} items, playing: {cur}",
            f"me: {capabilities(s)}",
            f"uptime: {self._uptime()}",
        ])

    async def cmd_stats(self, args: str, caller: str) -> str:
        try:
            reply = await self._query(contract.ChannelStatsQuery())
        except QueryFailed as exc:
            raise CommandError(unavailable(exc, UNAVAILABLE)) from None
        top = ", ".join(f"{t.username} ({t.chat_lines})" for t in reply.top_chatters)
        return "\n".join([
            f"Most users: {reply.high_water_mark.users}, "
            f"most connected: {reply.high_water_connected.users}",
            f"Users seen: {reply.total_users_seen}",
            f"Top chatters: {top or 'none yet'}",
        ])

    async def cmd_users(self, args: str, caller: str) -> str:
        users = sorted(self._channel.users.values(), key=lambda u: (-u.rank, u.name.lower()))
        names = ", ".join(f"{u.name} ({rank_text(u.rank)}{', afk' if u.afk else ''})"
                          for u in users)
        return f"{len(users)} users ({self._channel.usercount} connected): {names}"

    async def cmd_user(self, args: str, caller: str) -> str:
        if not args:
            raise CommandError("usage: " + USAGE["user"])
        name = args.split()[0]
        live = self._channel.user(name)
        lines = [f"{live.name}: here, rank {rank_text(live.rank)}"
                 f"{', afk' if live.afk else ''}{', muted' if live.muted else ''}"
                 if live else f"{name}: not here"]
        try:
            reply = await self._query(contract.UserStatsQuery(name))
        except QueryFailed as exc:
            raise CommandError("\n".join([*lines, unavailable(exc, UNAVAILABLE)])) from None
        if reply.user is None:
            lines.append("never seen before")
        else:
            u = reply.user
            lines.append(f"chat lines: {u.total_chat_lines}, time here: "
                         f"{clock(u.total_time_connected)}")
            lines.append(f"first seen {when(u.first_seen)}, last seen {when(u.last_seen)}")
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
        return (f"{state}: {m.title} ({m.type}:{m.id}) at {clock(max(0.0, s.current_time))}"
                f" of {m.duration}" + (f", #{pos}" if pos else ""))

    # --- chat -------------------------------------------------------------------------------------
    async def cmd_afk(self, args: str, caller: str) -> str:
        me = self._channel.user(self._channel.bot_name)
        now = bool(me and me.afk)
        want = {"on": True, "off": False, "": not now}.get(args.lower())
        if want is None:
            raise CommandError("usage: " + USAGE["afk"])
        if want != now:
            await self._actions.set_afk()
        return f"AFK is {'on' if want else 'off'}"

    async def cmd_say(self, args: str, caller: str) -> str:
        if not args:
            raise CommandError("usage: " + USAGE["say"])
        if args.startswith("/") and not args.startswith(SAFE_SLASH):
            raise CommandError("say does not send chat commands")
        await self._actions.say(args)
        return "Said it"

    async def cmd_pm(self, args: str, caller: str) -> str:
        to, _, msg = args.partition(" ")
        if not to or not msg.strip():
            raise CommandError("usage: " + USAGE["pm"])
        echo = await self._actions.pm(to, msg.strip())
        return f"Sent to {echo.to or to}"

    # --- playlist ---------------------------------------------------------------------------------
    async def cmd_add(self, args: str, caller: str) -> str:
        parts = args.split()
        if not parts or len(parts) > 2 or (len(parts) == 2 and parts[1].lower() != "next"):
            raise CommandError("usage: " + USAGE["add"])
        ref = parse_media_link(parts[0])
        if ref is None:
            raise CommandError(f"{parts[0]} is not a link CyTube can play")
        if len(parts) == 2 and (why := lacking(self._channel, "playlistnext")) is not None:
            raise CommandError(f"I can't add next here: {why}")
        frame = await self._actions.queue(ref, next=len(parts) == 2, link=parts[0])
        where = self._channel.position_of(frame.item.uid)
        return f"Added {frame.item.media.title or ref.id}" + (f" at #{where}" if where else "")

    async def cmd_remove(self, args: str, caller: str) -> str:
        item = self._channel.item_at(self._position(args))
        assert item is not None
        await self._actions.delete(item)
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
        await self._actions.move(item, "prepend" if dst == 1 else rest[dst - 2].uid)
        return f"Moved {item.media.title} to #{dst}"

    async def cmd_jump(self, args: str, caller: str) -> str:
        item = self._channel.item_at(self._position(args))
        assert item is not None
        await self._actions.jump(item)
        return f"Now playing {item.media.title}"

    async def cmd_next(self, args: str, caller: str) -> str:
        if not self._channel.playlist:
            raise CommandError("The playlist is empty")
        item = self._channel.item(await self._actions.play_next())
        return f"Now playing {item.media.title if item else 'the next item'}"

    # --- playback ---------------------------------------------------------------------------------
    async def cmd_pause(self, args: str, caller: str) -> str:
        s = self._channel
        media = s.current_media
        if media is None:
            raise CommandError("Nothing is playing")
        if not s.i_lead():
            if s.leader:
                raise CommandError(f"{s.leader} leads playback; I will not take it from them")
            await self._actions.take_leader()
        await self._actions.pause(media, max(0.0, s.current_time))
        self._leader.arm()
        return (f"Paused {media.title} (I lead playback until resume, a media change, or "
                f"{clock(self._leader.pause_limit)})")

    async def cmd_resume(self, args: str, caller: str) -> str:
        s = self._channel
        if not s.i_lead():
            if s.leader:
                raise CommandError(f"{s.leader} leads playback, not me: only they or a "
                                   "moderator in CyTube can resume")
            raise CommandError("I do not lead playback: CyTube's own clock is running it")
        media = s.current_media
        self._leader.disarm()
        await self._actions.give_leader(playing=media is not None)
        if media is None:
            return "Gave back leader (nothing is playing)"
        return f"Resumed {media.title}: CyTube's clock runs it again"

    async def cmd_voteskip(self, args: str, caller: str) -> str:
        s = self._channel
        before_uid = s.current_uid
        before = s.voteskip[0] if s.voteskip else 0
        counts = await self._actions.voteskip()
        if s.current_uid != before_uid:
            item = s.item(s.current_uid) if s.current_uid is not None else None
            return f"The voteskip passed: now playing {item.media.title if item else 'nothing'}"
        if counts.count <= before:
            raise CommandError(f"CyTube counted no new vote ({counts.count} of {counts.need} "
                               "needed): a vote from my address is already in")
        return f"Voted to skip ({counts.count} of {counts.need} needed)"
