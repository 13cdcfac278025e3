"""Moderator commands sent to the bot by PM: parse, authorize, audit, run, reply.

Only users in the live userlist with rank >= 2 are obeyed; anyone else (and the bot itself) is
ignored without a reply (fail closed). A rank of 1 that CyTube has not confirmed yet (``addUser``
comes before ``setUserRank``) is given ``rank_wait`` seconds to be raised. Every obeyed
command is audited twice on ``rosey.db.action.pm_command`` through the outbox, ``pending``
before it runs and ``success``/``error`` after, with the full argument text; the reply never
waits on either.
Replies go out as PMs split at 320 characters (see :mod:`rosey.bot.text`).

Every action's reply and audit result come from what CyTube answered, never from having sent
the request: a confirmation (``queue``, ``delete``, ``setCurrent``, ``userLeave``, the PM's
echo, a ``[server]`` notice and the banlist, the ``voteskip`` count...) or a refusal
(``errorMsg``, ``queueFail``, ``noflood``). Where CyTube stays silent, the reply says so.
A command the bot's own rank does not allow in this channel (``setPermissions``) is answered
with that reason before anything is sent. ``pause`` makes the bot leader, which stops CyTube's
own clock, so the bot hands the leader back on ``resume``, on a media change, and when a pause
outlives ``pause_limit``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import structlog

from rosey import contract
from rosey.bot.channel import ChannelState
from rosey.bot.cytube import ChatLine, CyTubeSession
from rosey.bot.media import parse_media_link
from rosey.bot.moderation import CommandError, Moderation
from rosey.bot.publisher import Publisher
from rosey.bot.queries import QueryFailed
from rosey.bot.text import clock, when
from rosey.commands import BY_NAME, COMMAND_NAMES, MODERATOR_RANK, NEEDS, USAGE
from rosey.config import BOT_DEFAULTS, BotSettings
from rosey.contract import ReplyT
from rosey.errors import CyTubeError
from rosey.metrics import BotMetrics, command_label

__all__ = ["Shell", "ShellContext", "CommandError", "REPLY_JOINER", "Expect", "Query", "Predicate",
           "UNAVAILABLE", "USAGE", "SAFE_SLASH", "NEEDS", "refusals", "capabilities"]

log = structlog.get_logger()

UNAVAILABLE = "stats are unavailable right now"
#: between reply lines packed into one PM (CyTube turns a newline into a space)
REPLY_JOINER = " | "
#: chat commands that ``say`` and the outbound queue may send (others could escalate rank)
SAFE_SLASH = ("/me ", "/sp ")

def _lacking(channel: ChannelState, permission: str) -> str | None:
    """Why the bot may not use ``permission`` here, or None when it may."""
    if channel.may(permission):
        return None
    need = channel.needs(permission)
    if need is None:
        why = "" if channel.registered else " (the channel is not registered)"
        return f"this channel gives nobody the {permission} permission{why}"
    return f"it needs rank {_rank(need)} ({permission}) and mine is {_rank(channel.my_rank)}"


def refusals(channel: ChannelState) -> dict[str, str]:
    """Commands the bot's rank does not allow in ``channel``, each with the reason."""
    out: dict[str, str] = {}
    for command, permissions in NEEDS.items():
        for permission in permissions:
            why = _lacking(channel, permission)
            if why is not None:
                out[command] = why
                break
    return out


def capabilities(channel: ChannelState) -> str:
    """One line: the bot's rank and what it cannot do here."""
    cannot = refusals(channel)
    head = f"rank {_rank(channel.my_rank)}" + ("" if channel.registered else ", unregistered channel")
    if not channel.permissions:
        return f"{head}, channel permissions not received yet"
    if not cannot:
        return f"{head}, every command allowed"
    return f"{head}, cannot: {', '.join(cannot)}"


#: (event, data) -> this is the event we wait for
Predicate = Callable[[str, Any], bool]
#: register a predicate before acting; the future resolves with the matching event's data
Expect = Callable[[Predicate], "asyncio.Future[Any]"]


class Query(Protocol):
    """Ask the DatabaseService: the typed reply, or a :class:`QueryFailed` leaf saying why not."""

    def __call__(self, query: contract.QueryOf[ReplyT], /) -> Awaitable[ReplyT]: ...


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
        pause_limit: how long a pause may hold the leader before the bot hands it back.
        spawn: starts a background task the owner stops on close (the pause limit's timer).
        settings: escalation, per-command ranks and lift timings (:mod:`rosey.bot.moderation`).
    """

    def __init__(self, *, session: CyTubeSession, channel: ChannelState, publisher: Publisher,
                 query: Query, expect: Expect, metrics: BotMetrics, context: ShellContext,
                 confirm_timeout: float = 5.0, rank_wait: float = 1.5,
                 pause_limit: float = BOT_DEFAULTS.pause_limit,
                 spawn: Callable[[Coroutine[Any, Any, None], str], Any] | None = None,
                 settings: BotSettings | None = None) -> None:
        self._session = session
        self._channel = channel
        self._publisher = publisher
        self._query = query
        self._expect = expect
        self._metrics = metrics
        self._ctx = context
        self._confirm_timeout = confirm_timeout
        self._rank_wait = rank_wait
        self._pause_limit = pause_limit
        self._spawn = spawn or (lambda coro, name: asyncio.create_task(coro, name=name))
        self._pause_timer: asyncio.Task[None] | None = None
        self._settings = settings or BotSettings(domain="", channel=context.channel)
        self._ranks = dict(self._settings.command_ranks)
        self.moderation = Moderation(
            session=session, channel=channel, publisher=publisher, query=query,
            answer=self._answer, metrics=metrics, settings=self._settings, spawn=self._spawn,
            refused=lambda permission: _lacking(channel, permission))

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
        # every log line while the command runs says which command and whose
        with structlog.contextvars.bound_contextvars(command=command_label(name),
                                                     moderator=line.username):
            await self._handle(line.username, name, args.strip())

    async def _handle(self, caller: str, name: str, args: str) -> None:
        started = time.monotonic()
        self._audit(caller, name, args, "pending")
        result: Literal["success", "error"]
        try:
            reply = await self._run(name, args, caller)
            result, error = "success", None
        except CommandError as exc:
            reply = str(exc)
            result, error = "error", str(exc)
        except CyTubeError as exc:
            reply = f"{name} failed: {exc}"
            result, error = "error", str(exc)
        except Exception as exc:  # the command boundary: a bug still gets a reply and an audit row
            log.exception("pm_command_crashed", username=caller, command=command_label(name))
            reply = f"{name} failed: internal error"
            result, error = "error", f"internal error: {type(exc).__name__}"
        self._audit(caller, name, args, result, error)
        self._metrics.pm_commands.labels(command_label(name), result).inc()
        log.info("pm_command", username=caller, command=command_label(name), result=result,
                 error=error, duration_ms=round((time.monotonic() - started) * 1000, 2))
        try:
            await self._session.pm(caller, reply, joiner=REPLY_JOINER)
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
        command = BY_NAME.get(name)
        if command is None:
            raise CommandError(f"Unknown command: {name}")
        need = self._ranks.get(name, MODERATOR_RANK)
        user = self._channel.user(caller)
        if need > MODERATOR_RANK and (user is None or user.rank < need):
            raise CommandError(f"{name} needs rank {_rank(need)} here")
        why = refusals(self._channel).get(name)
        if why is not None:
            raise CommandError(f"I can't {name} here: {why}")
        # the table names the handler: Shell.cmd_<name>, or Moderation.<name>
        handler: Callable[[str, str], Awaitable[str]] = (
            getattr(self, "cmd_" + name) if command.owner == "shell"
            else getattr(self.moderation, name))
        return await handler(args, caller)

    async def _confirm(self, fut: asyncio.Future[Any], what: str) -> Any:
        try:
            return await asyncio.wait_for(fut, self._confirm_timeout)
        except TimeoutError:
            raise CommandError(f"CyTube did not confirm {what}") from None

    async def _answer(self, send: Callable[[], Awaitable[None]], ok: Predicate,
                      refused: Predicate, silent: str) -> Any:
        """Send, then wait for CyTube's confirmation (its data is returned) or its refusal
        (a CommandError quoting it); ``silent`` is the reply when CyTube says neither."""
        good, bad = self._expect(ok), self._expect(refused)
        try:
            await send()
            await asyncio.wait({good, bad}, timeout=self._confirm_timeout,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            for fut in (good, bad):
                if not fut.done():
                    fut.cancel()
        if not good.cancelled():
            return good.result()
        if not bad.cancelled():
            raise CommandError(f"CyTube refused: {_refusal_text(bad.result())}")
        raise CommandError(silent)

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
        return "Commands:\n" + "\n".join(USAGE[c] for c in COMMAND_NAMES)

    async def cmd_info(self, args: str, caller: str) -> str:
        s = self._channel
        uptime = clock(time.time() - self._ctx.started_at)
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
            f"me: {capabilities(s)}",
            f"uptime: {clock(time.time() - self._ctx.started_at)}",
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
        await self._answer(
            lambda: self._session.say(args),
            lambda e, d: e == "chatMsg" and isinstance(d, ChatLine) and d.own,
            lambda e, d: e in ("noflood", "spamFiltered"),
            "CyTube did not show it in chat (no echo came back)")
        return "Said it"

    async def cmd_pm(self, args: str, caller: str) -> str:
        to, _, msg = args.partition(" ")
        if not to or not msg.strip():
            raise CommandError("usage: " + USAGE["pm"])
        echo: ChatLine = await self._answer(
            lambda: self._session.pm(to, msg.strip()),
            lambda e, d: e == "pm" and isinstance(d, ChatLine) and d.own
            and str(d.to or "").lower() == to.lower(),
            lambda e, d: e == "errorMsg" and _error(d).startswith(_PM_ERRORS),
            f"CyTube did not confirm the PM to {to}")
        return f"Sent to {echo.to or to}"

    # --- playlist ---------------------------------------------------------------------------------
    async def cmd_add(self, args: str, caller: str) -> str:
        parts = args.split()
        if not parts or len(parts) > 2 or (len(parts) == 2 and parts[1].lower() != "next"):
            raise CommandError("usage: " + USAGE["add"])
        ref = parse_media_link(parts[0])
        if ref is None:
            raise CommandError(f"{parts[0]} is not a link CyTube can play")
        if len(parts) == 2 and (why := _lacking(self._channel, "playlistnext")) is not None:
            raise CommandError(f"I can't add next here: {why}")
        pos = "next" if len(parts) == 2 else "end"
        data = await self._answer(
            lambda: self._session.emit("queue", {"id": ref.id, "type": ref.type, "pos": pos,
                                                 "temp": False}),
            lambda e, d: e == "queue" and isinstance(d, dict)
            and (d.get("item") or {}).get("media", {}).get("id") == ref.id
            and d["item"]["media"].get("type") == ref.type,
            lambda e, d: e == "queueFail" and isinstance(d, dict)
            and ref.id in (d.get("id"), d.get("link")),
            f"CyTube did not confirm the add of {parts[0]}")
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
        media = s.current_media
        if media is None:
            raise CommandError("Nothing is playing")
        me = self._session.bot_name
        if not s.leads(me):
            if s.leader:
                raise CommandError(f"{s.leader} leads playback; I will not take it from them")
            fut = self._expect(lambda e, d: e == "setLeader" and str(d).lower() == me.lower())
            await self._session.emit("assignLeader", {"name": me})
            await self._confirm(fut, "leader")
        paused = self._expect(lambda e, d: e == "mediaUpdate" and isinstance(d, dict)
                              and bool(d.get("paused")))
        await self._session.emit("mediaUpdate", {"id": media.id, "type": media.type,
                                                 "currentTime": max(0.0, s.current_time),
                                                 "paused": True})
        await self._confirm(paused, "the pause")
        self._arm_pause_limit()
        return (f"Paused {media.title} (I lead playback until resume, a media change, or "
                f"{clock(self._pause_limit)})")

    async def cmd_resume(self, args: str, caller: str) -> str:
        s = self._channel
        if not s.leads(self._session.bot_name):
            if s.leader:
                raise CommandError(f"{s.leader} leads playback, not me: only they or a "
                                   "moderator in CyTube can resume")
            raise CommandError("I do not lead playback: CyTube's own clock is running it")
        media = s.current_media
        left = self._expect(lambda e, d: e == "setLeader" and not d)
        running = self._expect(lambda e, d: e == "mediaUpdate" and isinstance(d, dict)
                               and not d.get("paused"))
        self._disarm_pause_limit()
        await self._session.emit("assignLeader", {"name": ""})
        await self._confirm(left, "giving back leader")
        if media is None:
            running.cancel()
            return "Gave back leader (nothing is playing)"
        await self._confirm(running, "the resume")
        return f"Resumed {media.title}: CyTube's clock runs it again"

    def _arm_pause_limit(self) -> None:
        self._disarm_pause_limit()
        self._pause_timer = self._spawn(self._pause_expires(), "bot-pause-limit")

    def _disarm_pause_limit(self) -> None:
        if self._pause_timer is not None and self._pause_timer is not asyncio.current_task():
            self._pause_timer.cancel()
        self._pause_timer = None

    async def _pause_expires(self) -> None:
        await asyncio.sleep(self._pause_limit)
        self._pause_timer = None
        await self.hand_back("pause_limit")

    async def hand_back(self, reason: str) -> None:
        """Give the leader back to CyTube if the bot holds it, so its clock runs again."""
        if not self._channel.leads(self._session.bot_name):
            return
        self._disarm_pause_limit()
        log.warning("leader_handed_back", reason=reason, limit_seconds=self._pause_limit)
        try:
            await self._session.emit("assignLeader", {"name": ""})
        except CyTubeError as exc:  # not joined: CyTube drops a leaving leader by itself
            log.warning("leader_hand_back_failed", reason=reason, error=str(exc))

    async def cmd_voteskip(self, args: str, caller: str) -> str:
        s = self._channel
        before_uid = s.current_uid
        before = s.voteskip[0] if s.voteskip else 0
        counts = await self._answer(
            lambda: self._session.emit("voteskip"),
            lambda e, d: e == "voteskip" and isinstance(d, dict),
            lambda e, d: False,
            "CyTube did not say whether my vote counted (it sends counts only where "
            "voteskip is allowed and I may see them)")
        if s.current_uid != before_uid:
            item = s.item(s.current_uid) if s.current_uid is not None else None
            return f"The voteskip passed: now playing {item.media.title if item else 'nothing'}"
        count, need = int(counts.get("count", 0)), int(counts.get("need", 0))
        if count <= before:
            raise CommandError(f"CyTube counted no new vote ({count} of {need} needed): "
                               "a vote from my address is already in")
        return f"Voted to skip ({count} of {need} needed)"


_PM_ERRORS = ("You can't PM yourself", "PM failed", "You must be signed in")


def _error(data: Any) -> str:
    return str(data.get("msg", "") if isinstance(data, dict) else data or "")


def _refusal_text(data: Any) -> str:
    if isinstance(data, ChatLine):
        return data.text
    return _error(data) or str(data)


def _rank(rank: float) -> str:
    return str(int(rank)) if float(rank).is_integer() else str(rank)


def _unavailable(exc: QueryFailed) -> str:
    log.warning("query_failed", outcome=exc.outcome, detail=str(exc)[:300])
    return f"{UNAVAILABLE}: {exc.why}"
