"""The bot's side of the moderation record (``docs/moderation.md``).

:class:`Moderation` runs the moderation commands (``kick``, ``mute``, ``smute``, ``unmute``,
``ban``, ``unban``, ``warn``, ``note``, ``modlog``, ``history``, ``punishments``), records every
action it takes or sees on ``rosey.db.moderation.action`` (through the outbox, so a record
waits for NATS like every other event), and lifts timed punishments.

Active punishments live in the DatabaseService. The bot reads them when it joins and every
``punishment_sync`` seconds, and keeps one timer per (class, name): a lift runs at the expiry,
or at once when the expiry passed while the bot was away. A lift acts on the name, as CyTube
does (mutes and bans are by name), so the user need not be present. A lift the bot cannot do
(its rank no longer allows it, CyTube refused) is recorded with the error, logged, counted,
PMed to the moderator who imposed it when present, and tried again at the next sync: it stays
active (``punishments`` shows it overdue) until it is lifted.

Native actions by human moderators are read from CyTube's ``[server]`` notices to moderators
(``X kicked Y``, ``X namebanned Y``, ``X muted Y``, ``X shadowmuted Y``, ``X unmuted Y``) and
from ``banlistRemove`` (an unban; its moderator from an ``X unbanned Y`` notice before it, else
``(unknown)``). The bot's own notices are
skipped: its commands record themselves with more detail.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import structlog

from rosey import contract
from rosey.bot.channel import ChannelState
from rosey.bot.cytube import ChatLine, CyTubeSession
from rosey.bot.publisher import Publisher
from rosey.bot.queries import QueryFailed
from rosey.bot.text import clock, span, when
from rosey.commands import COMMANDS
from rosey.config import DURATION_FORMS, BotSettings, looks_like_duration, parse_duration
from rosey.errors import CyTubeError, RoseyError
from rosey.metrics import BotMetrics

__all__ = ["Moderation", "CommandError", "describe", "punishment_line", "span", "NATIVE_NOTICE",
           "MODERATION_USAGE"]

log = structlog.get_logger()

#: the usage lines of the commands this module handles (from the table of rosey.commands)
MODERATION_USAGE: dict[str, str] = {c.name: c.usage for c in COMMANDS if c.owner == "moderation"}

#: a moderator notice CyTube sends to rank >= 2: (actor, verb, target)
NATIVE_NOTICE = re.compile(
    r"^(\S+) (kicked|namebanned|muted|shadowmuted|unmuted|unbanned) (\S+)$")
_NATIVE_KIND = {"kicked": "kick", "namebanned": "ban", "muted": "mute", "shadowmuted": "smute",
                "unmuted": "unmute"}
_LIFT = {"mute": "unmute", "smute": "unmute", "ban": "unban"}
_CLASS = {kind: contract.PUNISHMENT_CLASS[kind] for kind in contract.PUNISHMENT_KINDS}
_PAST = {"kick": "kicked", "ban": "banned", "unban": "unbanned", "mute": "muted",
         "smute": "shadow-muted", "unmute": "unmuted", "warn": "warned", "note": "noted"}

Predicate = Callable[[str, Any], bool]
Answer = Callable[[Callable[[], Awaitable[None]], Predicate, Predicate, str], Awaitable[Any]]
Query = Callable[[Any], Awaitable[Any]]


class CommandError(RoseyError):
    """A command could not do what was asked; the message is the reply."""


@dataclass(slots=True)
class _Timer:
    kind: str
    target: str
    expires_at: float
    actor: str
    added: float
    task: asyncio.Task[None] | None = None


def _error(data: Any) -> str:
    return str(data.get("msg", "") if isinstance(data, dict) else data or "")


def _named(data: Any, name: str) -> bool:
    return isinstance(data, dict) and str(data.get("name", "")).lower() == name.lower()


def _mentions(data: Any, name: str) -> bool:
    return name.lower() in _error(data).lower()


def _notice(e: str, d: Any, text: str) -> bool:
    return (e == "chatMsg" and isinstance(d, ChatLine) and d.username == "[server]"
            and d.text.lower() == text.lower())


class Moderation:
    """Moderation commands, the record, and the lift timers.

    Parameters:
        session, channel, publisher, metrics: the bot's.
        query: asks the DatabaseService (raises a ``QueryFailed`` leaf).
        answer: sends and waits for CyTube's confirmation or refusal (the shell's).
        settings: escalation, strike decay, lift grace, sync interval.
        spawn: starts a task the bot stops on close.
        refused: why the bot's rank does not allow a permission now, or None.
    """

    def __init__(self, *, session: CyTubeSession, channel: ChannelState, publisher: Publisher,
                 query: Query, answer: Answer, metrics: BotMetrics, settings: BotSettings,
                 spawn: Callable[[Coroutine[Any, Any, None], str], Any],
                 refused: Callable[[str], str | None]) -> None:
        self._session = session
        self._channel = channel
        self._publisher = publisher
        self._query = query
        self._answer = answer
        self._metrics = metrics
        self._settings = settings
        self._spawn = spawn
        self._refused = refused
        self._timers: dict[tuple[str, str], _Timer] = {}
        self._lifted: dict[tuple[str, str], float] = {}  #: key -> the expiry lifted
        self._issued: dict[str, dict[str, float]] = {}  #: target -> {ref: time} issued here
        self._unbanning: set[str] = set()
        self._unbanned_by: dict[str, str] = {}  #: name -> moderator, from the notice

    # --- the record -----------------------------------------------------------------------------
    def record(self, action: str, target: str, *, actor: str, origin: str = "command",
               error: str | None = None, reason: str = "", duration: int | None = None,
               expires_at: float | None = None, command: str | None = None,
               ref: str | None = None) -> None:
        result = "error" if error is not None else "success"
        self._publisher.publish(contract.MODERATION_ACTION, contract.ModerationAction(
            action=action, target=target, actor=actor, origin=origin, result=result,
            reason=reason, duration=duration, expires_at=expires_at, command=command,
            error=error, ref=ref or uuid.uuid4().hex, timestamp=time.time()))
        self._metrics.moderation_actions.labels(action, origin, result).inc()
        log.info("moderation_action", action=action, target=target, actor=actor, origin=origin,
                 result=result, error=error, duration=duration)

    async def _recorded(self, action: str, target: str, caller: str, command: str,
                        run: Callable[[], Awaitable[str]], **kw: Any) -> str:
        """Run an action; record it with CyTube's result either way."""
        try:
            reply = await run()
        except (CommandError, CyTubeError) as exc:
            self.record(action, target, actor=caller, error=str(exc), command=command, **kw)
            raise CommandError(str(exc)) from None
        self.record(action, target, actor=caller, command=command, **kw)
        return reply

    # --- native actions -------------------------------------------------------------------------
    def observe(self, event: str, data: Any) -> None:
        """A live CyTube event: record native moderator actions (never the bot's own)."""
        if event == "chatMsg" and isinstance(data, ChatLine) and data.username == "[server]":
            m = NATIVE_NOTICE.match(data.text.strip())
            if m is None or m.group(1).lower() == self._session.bot_name.lower():
                return
            if m.group(2) == "unbanned":  # recorded with its banlistRemove, which always comes
                self._unbanned_by[m.group(3).lower()] = m.group(1)
                return
            kind, target = _NATIVE_KIND[m.group(2)], m.group(3)
            self.record(kind, target, actor=m.group(1), origin="native",
                        command=f"[server] {data.text.strip()}"[:300])
            if kind in _CLASS or kind == "unmute":  # a human took over: the bot's timer goes
                self._cancel(("mute" if kind == "unmute" else _CLASS[kind], target.lower()))
        elif event == "banlistRemove" and isinstance(data, dict) and data.get("name"):
            name = str(data["name"])
            if name.lower() in self._unbanning:
                return
            self.record("unban", name, origin="native", command="banlistRemove",
                        actor=self._unbanned_by.pop(name.lower(), "(unknown)"))
            self._cancel(("ban", name.lower()))

    # --- commands ---------------------------------------------------------------------------------
    def _target(self, verb: str, args: str) -> tuple[str, str]:
        target, _, rest = args.strip().partition(" ")
        if not target:
            raise CommandError("usage: " + MODERATION_USAGE[verb])
        here = self._channel.user(target)
        return (here.name if here else target), rest.strip()

    def _timed(self, verb: str, args: str) -> tuple[str, int | None, str]:
        """``<user> [duration] [reason]``. A first word that starts with a digit is meant as
        a duration: one that is not (``1hr``, ``90min``, over 10 years) is refused, never taken
        as the start of the reason (which would make the punishment permanent)."""
        name, rest = self._target(verb, args)
        first, _, more = rest.partition(" ")
        if not looks_like_duration(first):
            return name, None, rest
        duration = parse_duration(first)
        if duration is None:
            raise CommandError(f'"{first}" is not a duration: use {DURATION_FORMS}')
        return name, duration, more.strip()

    async def kick(self, args: str, caller: str) -> str:
        name, reason = self._target("kick", args)

        async def run() -> str:
            if self._channel.user(name) is None:  # CyTube ignores an unknown name silently
                raise CommandError(f"{name} is not in the channel")
            await self._answer(
                lambda: self._session.say(f"/kick {name} {reason}".rstrip()),
                lambda e, d: e == "userLeave" and _named(d, name),
                lambda e, d: e == "errorMsg" and _mentions(d, name),
                f"CyTube did not confirm the kick of {name}")
            return f"Kicked {name}"
        return await self._recorded("kick", name, caller, f"kick {args}", run, reason=reason)

    async def mute(self, args: str, caller: str, *, kind: str = "mute") -> str:
        name, duration, reason = self._timed(kind, args)
        return await self._punish(kind, name, duration, reason, caller, f"{kind} {args}",
                                  origin="command")

    async def smute(self, args: str, caller: str) -> str:
        return await self.mute(args, caller, kind="smute")

    async def ban(self, args: str, caller: str) -> str:
        name, duration, reason = self._timed("ban", args)
        return await self._punish("ban", name, duration, reason, caller, f"ban {args}",
                                  origin="command")

    async def _punish(self, kind: str, name: str, duration: int | None, reason: str,
                      caller: str, command: str, *, origin: str) -> str:
        expires = None if duration is None else time.time() + duration

        async def run() -> str:
            await (self._do_ban(name, reason) if kind == "ban" else self._do_mute(kind, name))
            until = "" if expires is None else f" for {span(duration or 0)} (until {when(expires)})"
            listed = " (on the channel's banlist)" if kind == "ban" else ""
            return f"{_PAST[kind].capitalize()} {name}{until}{listed}"
        reply = await self._recorded(kind, name, caller, command, run, origin=origin,
                                     reason=reason, duration=duration, expires_at=expires)
        key = (_CLASS[kind], name.lower())
        if expires is not None:
            self._schedule(kind, name, expires, caller)
        elif key in self._timers:  # a punishment without an end replaces the timed one
            self._cancel(key)
        return reply

    async def _do_mute(self, kind: str, name: str) -> None:
        flag = "smuted" if kind == "smute" else "muted"
        await self._answer(
            lambda: self._session.say(f"/{kind} {name}"),
            lambda e, d: e == "setUserMeta" and _named(d, name)
            and bool((d.get("meta") or {}).get(flag)),
            lambda e, d: e == "errorMsg" and _mentions(d, name),
            f"CyTube did not confirm the {kind} of {name}")

    async def _do_ban(self, name: str, reason: str) -> None:
        lower = name.lower()
        await self._answer(
            lambda: self._session.say(f"/ban {name} {reason}".rstrip()),
            lambda e, d: e == "chatMsg" and isinstance(d, ChatLine) and d.username == "[server]"
            and d.text.lower().endswith(f" namebanned {lower}"),
            lambda e, d: e == "errorMsg" and (_mentions(d, name) or "ban" in _error(d)),
            f"CyTube did not confirm the ban of {name}")
        if self._find_ban(await self._banlist(f"CyTube announced the ban of {name} but sent "
                                              "no banlist"), name) is None:
            raise CommandError(f"CyTube announced the ban but {name} is not on the banlist")

    async def _banlist(self, silent: str) -> list[Any]:
        banlist: list[Any] = await self._answer(
            lambda: self._session.emit("requestBanlist"),
            lambda e, d: e == "banlist" and isinstance(d, list), lambda e, d: False, silent)
        return banlist

    @staticmethod
    def _find_ban(banlist: list[Any], name: str) -> dict[str, Any] | None:
        for b in banlist:
            if isinstance(b, dict) and str(b.get("name", "")).lower() == name.lower():
                return b
        return None

    async def unmute(self, args: str, caller: str) -> str:
        name, _ = self._target("unmute", args)

        async def run() -> str:
            return await self._do_unmute(name)
        reply = await self._recorded("unmute", name, caller, f"unmute {args}", run)
        self._cancel(("mute", name.lower()))
        return reply

    async def _do_unmute(self, name: str, *, lifting: bool = False) -> str:
        here = self._channel.user(name) is not None
        try:
            await self._answer(
                lambda: self._session.say(f"/unmute {name}"),
                lambda e, d: e == "setUserMeta" and _named(d, name)
                and not (d.get("meta") or {}).get("muted")
                and not (d.get("meta") or {}).get("smuted"),
                lambda e, d: e == "errorMsg" and _mentions(d, name),
                "" if not here else f"CyTube did not confirm the unmute of {name}")
        except CommandError as exc:
            if not str(exc):  # CyTube answers nothing for an absent name: the name is unmuted
                return (f"CyTube says nothing when unmuting someone who is not here: {name} "
                        "is unmuted if they were muted")
            if lifting and "is not muted" in str(exc):  # someone was quicker: nothing to lift
                return f"{name} was not muted any more (nothing to lift)"
            raise
        return f"Unmuted {name}"

    async def unban(self, args: str, caller: str) -> str:
        name, _ = self._target("unban", args)

        async def run() -> str:
            return await self._do_unban(name)
        reply = await self._recorded("unban", name, caller, f"unban {args}", run)
        self._cancel(("ban", name.lower()))
        return reply

    async def _do_unban(self, name: str) -> str:
        entry = self._find_ban(await self._banlist("CyTube sent no banlist"), name)
        if entry is None:
            return f"{name} is not on the banlist (nothing to lift)"
        self._unbanning.add(name.lower())
        try:
            await self._answer(
                lambda: self._session.emit("unban", {"id": entry.get("id"),
                                                     "name": entry.get("name")}),
                lambda e, d: e == "banlistRemove" and _named(d, name),
                lambda e, d: e == "errorMsg", f"CyTube did not confirm the unban of {name}")
        finally:
            self._unbanning.discard(name.lower())
        return f"Unbanned {name}"

    async def warn(self, args: str, caller: str) -> str:
        name, reason = self._target("warn", args)
        if not reason:
            raise CommandError("usage: " + MODERATION_USAGE["warn"])
        strikes, note = await self._strikes(name)
        delivered = ""
        try:
            await self._answer(
                lambda: self._session.pm(name, f"Warning from the moderators: {reason}"),
                lambda e, d: e == "pm" and isinstance(d, ChatLine) and d.own
                and str(d.to or "").lower() == name.lower(),
                lambda e, d: e == "errorMsg", f"CyTube did not confirm the PM to {name}")
        except (CommandError, CyTubeError) as exc:
            delivered = f" (the PM did not go through: {exc})"
        ref = uuid.uuid4().hex
        now = time.time()
        self.record("warn", name, actor=caller, reason=reason, command=f"warn {args}", ref=ref)
        self._issued.setdefault(name.lower(), {})[ref] = now
        strikes[ref] = now
        counted = [t for t in strikes.values() if now - t <= self._settings.strike_decay]
        reply = f"Warned {name}{delivered}: {len(counted)} strike(s){note}"
        step = None
        for s in self._settings.escalation:
            if sum(1 for t in counted if now - t <= s.window) >= s.strikes:
                step = s
        if step is None:
            return reply
        rule = f"escalation: {step.strikes} strikes in {span(step.window)}"
        try:
            done = await self._punish(step.action, name, step.duration, rule, caller, rule,
                                      origin="escalation")
        except CommandError as exc:
            return f"{reply}; escalation to {step.action} failed: {exc}"
        return f"{reply}; {rule} -> {done}"

    async def _strikes(self, name: str) -> tuple[dict[str, float], str]:
        """The target's strikes by ref: the database's, and those this bot issued."""
        strikes = dict(self._issued.get(name.lower(), {}))
        try:
            reply: contract.HistoryReply = await self._query(contract.HistoryQuery(name, 1))
        except QueryFailed as exc:
            return strikes, f" (counted without the database: {exc.why})"
        for s in reply.strikes:
            strikes.setdefault(s.ref or f"db-{s.timestamp}-{s.actor}", float(s.timestamp))
        return strikes, ""

    async def note(self, args: str, caller: str) -> str:
        name, text = self._target("note", args)
        if not text:
            raise CommandError("usage: " + MODERATION_USAGE["note"])
        self.record("note", name, actor=caller, reason=text, command="note")
        return f"Noted on {name}"

    # --- reading the record ---------------------------------------------------------------------
    async def _ask(self, query: Any) -> Any:
        try:
            return await self._query(query)
        except QueryFailed as exc:
            log.warning("query_failed", outcome=exc.outcome, detail=str(exc)[:300])
            raise CommandError(f"the moderation record is unavailable: {exc.why}") from None

    async def modlog(self, args: str, caller: str) -> str:
        parts = args.split()
        user: str | None = None
        n = 10
        if parts and not parts[0].isdigit():
            user = parts.pop(0)
        if parts:
            if len(parts) > 1 or not parts[0].isdigit():
                raise CommandError("usage: " + MODERATION_USAGE["modlog"])
            n = max(1, min(int(parts[0]), 100))
        reply: contract.ModlogReply = await self._ask(contract.ModlogQuery(user, n))
        if not reply.actions:
            return "No moderation actions recorded" + (f" for {user}" if user else "")
        return "\n".join(describe(a) for a in reply.actions)

    async def history(self, args: str, caller: str) -> str:
        name = args.split()[0] if args.split() else ""
        if not name:
            raise CommandError("usage: " + MODERATION_USAGE["history"])
        h: contract.HistoryReply = await self._ask(contract.HistoryQuery(name))
        now = time.time()
        lines = []
        if h.user is None:
            lines.append(f"{h.username}: never seen in chat")
        else:
            u = h.user
            lines.append(f"{u.username}: first seen {when(u.first_seen)}, last seen "
                         f"{when(u.last_seen)}, {u.total_chat_lines} chat lines, "
                         f"{clock(u.total_time_connected)} in channel")
        live = [s for s in h.strikes if now - s.timestamp <= self._settings.strike_decay]
        lines.append(f"strikes: {len(live)} counting, {len(h.strikes)} in all"
                     + "".join(f"; {when(s.timestamp)} by {s.actor}: {s.reason}"
                               for s in h.strikes[:3]))
        active = [p for p in h.punishments if p.ended_at is None]
        past = [p for p in h.punishments if p.ended_at is not None]
        lines.append("active: " + (", ".join(punishment_line(p) for p in active) or "none"))
        lines.append("past: " + (", ".join(punishment_line(p) for p in past) or "none"))
        lines.append("notes: " + ("; ".join(f"{when(n.timestamp)} {n.actor}: {n.text}"
                                             for n in h.notes) or "none"))
        return "\n".join(lines)

    async def punishments(self, args: str, caller: str) -> str:
        reply: contract.PunishmentsReply = await self._ask(contract.PunishmentsQuery())
        if not reply.punishments:
            return "No active punishments"
        return "\n".join(punishment_line(p) for p in reply.punishments)

    # --- lifting ----------------------------------------------------------------------------------
    def _schedule(self, kind: str, target: str, expires_at: float, actor: str) -> None:
        key = (_CLASS[kind], target.lower())
        old = self._timers.get(key)
        if old is not None and old.kind == kind and old.expires_at == expires_at:
            return
        self._cancel(key)
        timer = _Timer(kind, target, expires_at, actor, time.time())
        self._timers[key] = timer
        timer.task = self._spawn(self._lift_at(key, timer), f"bot-lift-{key[0]}")
        self._gauge()

    def _cancel(self, key: tuple[str, str]) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None and timer.task is not None \
                and timer.task is not asyncio.current_task():
            timer.task.cancel()
        self._gauge()

    def _gauge(self) -> None:
        for kind in contract.PUNISHMENT_KINDS:
            self._metrics.punishments_active.labels(kind).set(
                sum(1 for t in self._timers.values() if t.kind == kind))

    async def _lift_at(self, key: tuple[str, str], timer: _Timer) -> None:
        # a timer started by a command must not log as that command (the task copied its context)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(lift=timer.kind, target=timer.target)
        await asyncio.sleep(max(0.0, timer.expires_at - time.time()))
        while not (self._session.joined and self._session.logged_in
                   and self._channel.permissions):
            await asyncio.sleep(0.1)  # away: lift as soon as the bot is back in
        await self._lift(key, timer)

    async def _lift(self, key: tuple[str, str], timer: _Timer) -> None:
        lift = _LIFT[timer.kind]
        me = self._session.bot_name
        late = time.time() - timer.expires_at
        why = self._refused("ban" if lift == "unban" else "mute")
        try:
            if why is not None:
                raise CommandError(f"I can't {lift} any more: {why}")
            done = await (self._do_unban(timer.target) if lift == "unban"
                          else self._do_unmute(timer.target, lifting=True))
        except (CommandError, CyTubeError) as exc:
            self.record(lift, timer.target, actor=me, origin="expiry", error=str(exc),
                        command=f"{timer.kind} ran out {when(timer.expires_at)}")
            self._metrics.punishment_lifts.labels("failed").inc()
            log.warning("punishment_lift_failed", kind=timer.kind, target=timer.target,
                        error=str(exc), retry_seconds=self._settings.punishment_sync)
            self._timers.pop(key, None)  # the next sync schedules it again
            self._gauge()
            await self._report(timer, str(exc))
            return
        self.record(lift, timer.target, actor=me, origin="expiry",
                    command=f"{timer.kind} ran out {when(timer.expires_at)}",
                    reason=done if "not" in done else "")
        timing = "on_time" if late <= self._settings.lift_grace else "late"
        self._metrics.punishment_lifts.labels(timing).inc()
        log.info("punishment_lifted", kind=timer.kind, target=timer.target, timing=timing,
                 late_seconds=round(late, 3))
        self._lifted[key] = timer.expires_at
        if self._timers.get(key) is timer:
            self._timers.pop(key)
        self._gauge()

    async def _report(self, timer: _Timer, error: str) -> None:
        """Tell the moderator who imposed it, when they are here (besides log and record)."""
        if self._channel.user(timer.actor) is None or timer.actor.lower() == \
                self._session.bot_name.lower():
            return
        try:
            await self._session.pm(timer.actor, f"I could not lift the {timer.kind} of "
                                   f"{timer.target}: {error}. I will try again.")
        except CyTubeError as exc:
            log.warning("punishment_report_failed", error=str(exc))

    async def sync(self) -> bool:
        """Read the active punishments and (re)schedule their lifts; False if unavailable."""
        try:
            reply: contract.PunishmentsReply = await self._query(contract.PunishmentsQuery())
        except QueryFailed as exc:
            log.info("punishments_sync_failed", outcome=exc.outcome)
            return False
        seen = set()
        for p in reply.punishments:
            if p.expires_at is None or p.kind not in _CLASS:
                continue
            key = (_CLASS[p.kind], p.target.lower())
            seen.add(key)
            if self._lifted.get(key) == float(p.expires_at):
                continue  # lifted here already; the record is on its way
            timer = self._timers.get(key)
            if timer is None or math.ceil(timer.expires_at) != p.expires_at:
                self._schedule(p.kind, p.target, float(p.expires_at), p.actor)
        stale = time.time() - max(30.0, self._settings.punishment_sync)
        for key, timer in list(self._timers.items()):
            if key not in seen and timer.added < stale:  # ended elsewhere (by a moderator)
                self._cancel(key)
        return True

    async def run_sync(self, stop: asyncio.Event) -> None:
        """Sync when joined, then every ``punishment_sync`` seconds (1 s while it fails)."""
        while not stop.is_set():
            ok = False
            if self._session.joined and self._session.logged_in and self._channel.permissions:
                ok = await self.sync()
            delay = self._settings.punishment_sync if ok else min(
                1.0, self._settings.punishment_sync)
            try:
                await asyncio.wait_for(stop.wait(), delay)
            except TimeoutError:
                pass


def describe(a: contract.ModerationRecord) -> str:
    """One modlog line: ``#12 2026-12-01 15:58:02 UTC alice muted bob for 2h (spam) [command]``."""
    verb = _PAST.get(a.action, a.action)
    text = f"#{a.id} {when(a.timestamp)} {a.actor} {verb} {a.target}"
    if a.duration:
        text += f" for {span(a.duration)}"
    if a.reason:
        text += f" ({a.reason})"
    text += f" [{a.origin}]"
    if a.result != "success":
        text += f" FAILED: {a.error or 'no reason given'}"
    return text


def punishment_line(p: contract.Punishment) -> str:
    kind = _PAST.get(p.kind, p.kind)
    text = f"{p.target} {kind} by {p.actor} {when(p.started)}"
    if p.ended_at is not None:
        return text + f", {p.ended_how or 'ended'} {when(p.ended_at)}"
    if p.expires_at is None:
        return text + ", until lifted"
    text += f", ends {when(p.expires_at)}"
    if p.expires_at < time.time():
        text += " (OVERDUE" + (f": {p.last_error}" if p.last_error else "") + ")"
    return text
