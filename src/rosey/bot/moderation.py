"""The moderation commands (``docs/moderation.md``): ``kick``, ``mute``, ``smute``, ``unmute``,
``ban``, ``unban``, ``warn``, ``note``, ``modlog``, ``history``, ``punishments``.

Each handler reads its arguments, acts through the action layer (:mod:`rosey.bot.actions`),
writes the record with CyTube's result either way (:mod:`rosey.bot.record`) and tells the lift
timers (:mod:`rosey.bot.punishments`); what it returns is the reply. A first word of the
arguments that starts with a digit is meant as a duration: one that is not (``1hr``,
``90min``, over 10 years) is refused, never taken as the start of the reason (which would make
the punishment permanent).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

from rosey import contract
from rosey.bot.actions import Actions
from rosey.bot.channel import ChannelState
from rosey.bot.clock import Clock
from rosey.bot.punishments import Punishments, unban, unmute
from rosey.bot.queries import Ask, QueryFailed, unavailable
from rosey.bot.record import ModerationRecord, new_ref
from rosey.bot.text import clock, span, when
from rosey.commands import USAGE
from rosey.config import DURATION_FORMS, BotSettings, looks_like_duration, parse_duration
from rosey.errors import CommandError, CyTubeError

__all__ = ["Moderation", "describe", "punishment_line", "PAST", "Reversal"]


#: (punishment class, name) -> the record fields marking a lift as undoing an automatic action
Reversal = Callable[[str, str], dict[str, Any]]

#: each record action in the past tense, for replies and the modlog
PAST: Final = {"kick": "kicked", "ban": "banned", "unban": "unbanned", "mute": "muted",
               "smute": "shadow-muted", "unmute": "unmuted", "warn": "warned", "note": "noted",
               "remove": "removed", "flag": "flagged"}


class Moderation:
    """The moderation commands' handlers (``Moderation.cmd_<name>``, named by the table).

    Parameters:
        actions, channel: act on CyTube; who is here.
        record: the moderation record.
        punishments: the lift timers.
        query: asks the DatabaseService (raises a ``QueryFailed`` leaf).
        settings: escalation and strike decay.
        clock: reads the time for expiries and strikes.
        reversal: a human lifting a punishment (``mute``/``ban`` class, name) -> the record's
            ``rule`` and ``reason`` when it undoes an automatic one (automod), else nothing.
    """

    def __init__(self, *, actions: Actions, channel: ChannelState, record: ModerationRecord,
                 punishments: Punishments, query: Ask, settings: BotSettings,
                 clock: Clock, reversal: Reversal = lambda kind, name: {}) -> None:
        self._actions = actions
        self._channel = channel
        self._record = record
        self._punishments = punishments
        self._query = query
        self._settings = settings
        self._clock = clock
        self._reversal = reversal
        self._issued: dict[str, dict[str, float]] = {}  #: target -> {ref: time} issued here

    async def _recorded(self, action: str, target: str, caller: str, command: str,
                        run: Callable[[], Awaitable[str]], **kw: Any) -> str:
        """Run an action; record it with CyTube's result either way."""
        try:
            reply = await run()
        except (CommandError, CyTubeError) as exc:
            self._record.record(action, target, actor=caller, error=str(exc), command=command,
                                **kw)
            raise CommandError(str(exc)) from None
        self._record.record(action, target, actor=caller, command=command, **kw)
        return reply

    # --- arguments ------------------------------------------------------------------------------
    def _target(self, verb: str, args: str) -> tuple[str, str]:
        target, _, rest = args.strip().partition(" ")
        if not target:
            raise CommandError("usage: " + USAGE[verb])
        here = self._channel.user(target)
        return (here.name if here else target), rest.strip()

    def _timed(self, verb: str, args: str) -> tuple[str, int | None, str]:
        """``<user> [duration] [reason]``."""
        name, rest = self._target(verb, args)
        first, _, more = rest.partition(" ")
        if not looks_like_duration(first):
            return name, None, rest
        duration = parse_duration(first)
        if duration is None:
            raise CommandError(f'"{first}" is not a duration: use {DURATION_FORMS}')
        return name, duration, more.strip()

    # --- acting ---------------------------------------------------------------------------------
    async def cmd_kick(self, args: str, caller: str) -> str:
        name, reason = self._target("kick", args)
        return await self.kick(name, reason, caller, f"kick {args}")

    async def kick(self, name: str, reason: str, caller: str, command: str, *,
                   origin: str = "command", rule: str | None = None) -> str:
        """Kick ``name``, recorded with CyTube's result; the reply."""
        async def run() -> str:
            await self._actions.kick(name, reason)
            return f"Kicked {name}"
        return await self._recorded("kick", name, caller, command, run, reason=reason,
                                    origin=origin, rule=rule)

    async def cmd_mute(self, args: str, caller: str) -> str:
        name, duration, reason = self._timed("mute", args)
        return await self.punish("mute", name, duration, reason, caller, f"mute {args}",
                                 origin="command")

    async def cmd_smute(self, args: str, caller: str) -> str:
        name, duration, reason = self._timed("smute", args)
        return await self.punish("smute", name, duration, reason, caller, f"smute {args}",
                                 origin="command")

    async def cmd_ban(self, args: str, caller: str) -> str:
        name, duration, reason = self._timed("ban", args)
        return await self.punish("ban", name, duration, reason, caller, f"ban {args}",
                                 origin="command")

    async def punish(self, kind: str, name: str, duration: int | None, reason: str,
                     caller: str, command: str, *, origin: str, rule: str | None = None) -> str:
        """Mute, shadow-mute or ban ``name`` (timed when ``duration``); the reply."""
        expires = None if duration is None else self._clock.time() + duration

        async def run() -> str:
            if kind == "ban":
                await self._actions.ban(name, reason)
            else:
                await self._actions.mute(name, shadow=kind == "smute")
            until = "" if expires is None else f" for {span(duration or 0)} (until {when(expires)})"
            listed = " (on the channel's banlist)" if kind == "ban" else ""
            return f"{PAST[kind].capitalize()} {name}{until}{listed}"
        reply = await self._recorded(kind, name, caller, command, run, origin=origin,
                                     reason=reason, duration=duration, expires_at=expires,
                                     rule=rule)
        self._punishments.started(kind, name, expires, caller)
        return reply

    async def cmd_unmute(self, args: str, caller: str) -> str:
        name, _ = self._target("unmute", args)
        reply = await self._recorded("unmute", name, caller, f"unmute {args}",
                                     lambda: unmute(self._actions, name),
                                     **self._reversal("mute", name))
        self._punishments.ended("mute", name)
        return reply

    async def cmd_unban(self, args: str, caller: str) -> str:
        name, _ = self._target("unban", args)
        reply = await self._recorded("unban", name, caller, f"unban {args}",
                                     lambda: unban(self._actions, name),
                                     **self._reversal("ban", name))
        self._punishments.ended("ban", name)
        return reply

    async def cmd_warn(self, args: str, caller: str) -> str:
        name, reason = self._target("warn", args)
        if not reason:
            raise CommandError("usage: " + USAGE["warn"])
        return await self.warn(name, reason, caller, f"warn {args}")

    async def warn(self, name: str, reason: str, caller: str, command: str, *,
                   origin: str = "command", rule: str | None = None) -> str:
        """PM a warning, add a strike, escalate as configured; the reply."""
        strikes, note = await self._strikes(name)
        delivered = ""
        try:
            await self._actions.pm(name, f"Warning from the moderators: {reason}")
        except CyTubeError as exc:
            delivered = f" (the PM did not go through: {exc})"
        ref = new_ref()
        now = self._clock.time()
        self._record.record("warn", name, actor=caller, reason=reason, command=command,
                            ref=ref, origin=origin, rule=rule)
        issued = self._issued.setdefault(name.lower(), {})
        issued[ref] = now
        strikes.update(issued)  # also a warning issued here while this one waited
        counted = [t for t in strikes.values() if now - t <= self._settings.strike_decay]
        reply = f"Warned {name}{delivered}: {len(counted)} strike(s){note}"
        step = None
        for s in self._settings.escalation:
            if sum(1 for t in counted if now - t <= s.window) >= s.strikes:
                step = s
        if step is None:
            return reply
        why = f"escalation: {step.strikes} strikes in {span(step.window)}"
        try:
            done = await self.punish(step.action, name, step.duration, why, caller, why,
                                     origin="escalation", rule=rule)
        except CommandError as exc:
            return f"{reply}; escalation to {step.action} failed: {exc}"
        return f"{reply}; {why} -> {done}"

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

    async def cmd_note(self, args: str, caller: str) -> str:
        name, text = self._target("note", args)
        if not text:
            raise CommandError("usage: " + USAGE["note"])
        self._record.record("note", name, actor=caller, reason=text, command="note")
        return f"Noted on {name}"

    # --- reading the record ---------------------------------------------------------------------
    async def _ask(self, query: Any) -> Any:
        try:
            return await self._query(query)
        except QueryFailed as exc:
            raise CommandError(unavailable(exc, "the moderation record is unavailable")) \
                from None

    async def cmd_modlog(self, args: str, caller: str) -> str:
        parts = args.split()
        user: str | None = None
        n = 10
        if parts and not parts[0].isdigit():
            user = parts.pop(0)
        if parts:
            if len(parts) > 1 or not parts[0].isdigit():
                raise CommandError("usage: " + USAGE["modlog"])
            n = max(1, min(int(parts[0]), 100))
        reply: contract.ModlogReply = await self._ask(contract.ModlogQuery(user, n))
        if not reply.actions:
            return "No moderation actions recorded" + (f" for {user}" if user else "")
        return "\n".join(describe(a) for a in reply.actions)

    async def cmd_history(self, args: str, caller: str) -> str:
        name = args.split()[0] if args.split() else ""
        if not name:
            raise CommandError("usage: " + USAGE["history"])
        h: contract.HistoryReply = await self._ask(contract.HistoryQuery(name))
        now = self._clock.time()
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
        lines.append("active: " + (", ".join(punishment_line(p, now) for p in active) or "none"))
        lines.append("past: " + (", ".join(punishment_line(p, now) for p in past) or "none"))
        lines.append("notes: " + ("; ".join(f"{when(n.timestamp)} {n.actor}: {n.text}"
                                             for n in h.notes) or "none"))
        return "\n".join(lines)

    async def cmd_punishments(self, args: str, caller: str) -> str:
        reply: contract.PunishmentsReply = await self._ask(contract.PunishmentsQuery())
        if not reply.punishments:
            return "No active punishments"
        now = self._clock.time()
        return "\n".join(punishment_line(p, now) for p in reply.punishments)


def describe(a: contract.ModerationRecord) -> str:
    """One modlog line: ``#12 2026-12-01 15:58:02 UTC alice muted bob for 2h (spam) [command]``;
    an automod rule's: ``... rosey flagged bob (caps) [automod caps] (dry run)``."""
    verb = PAST.get(a.action, a.action)
    text = f"#{a.id} {when(a.timestamp)} {a.actor} {verb} {a.target}"
    if a.duration:
        text += f" for {span(a.duration)}"
    if a.reason:
        text += f" ({a.reason})"
    text += f" [{a.origin} {a.rule}]" if a.origin == "automod" and a.rule else f" [{a.origin}]"
    if a.dry_run:
        text += " (dry run)"
    if a.result != "success":
        text += f" FAILED: {a.error or 'no reason given'}"
    return text


def punishment_line(p: contract.Punishment, now: float | None = None) -> str:
    """One punishment: who, by whom, since when, and when it ends (OVERDUE once past ``now``,
    the machine's time when not given)."""
    now = time.time() if now is None else now
    kind = PAST.get(p.kind, p.kind)
    text = f"{p.target} {kind} by {p.actor} {when(p.started)}"
    if p.ended_at is not None:
        return text + f", {p.ended_how or 'ended'} {when(p.ended_at)}"
    if p.expires_at is None:
        return text + ", until lifted"
    text += f", ends {when(p.expires_at)}"
    if p.expires_at < now:
        text += " (OVERDUE" + (f": {p.last_error}" if p.last_error else "") + ")"
    return text
