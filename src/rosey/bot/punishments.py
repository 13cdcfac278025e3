"""Timed punishments: one lift timer per (class, name), kept in step with the record.

Active punishments live in the DatabaseService. The bot reads them when it joins and every
``punishment_sync`` seconds, and keeps one timer per (class, name) (classes:
``contract.PUNISHMENT_CLASS``, shared with the store): a lift runs at the expiry, or at once
when the expiry passed while the bot was away. A lift acts on the name, as CyTube does (mutes
and bans are by name), so the user need not be present. A lift the bot cannot do (its rank no
longer allows it, CyTube refused) is recorded with the error, logged, counted, PMed to the
moderator who imposed it when present, and tried again at the next sync: it stays active
(``punishments`` shows it overdue) until it is lifted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import structlog

from rosey import contract
from rosey.bot.actions import Actions
from rosey.bot.capabilities import lacking
from rosey.bot.channel import ChannelState
from rosey.bot.clock import Clock
from rosey.bot.queries import Ask, QueryFailed
from rosey.bot.record import ModerationRecord
from rosey.bot.text import when
from rosey.config import BotSettings
from rosey.errors import CommandError, CyTubeError
from rosey.metrics import BotMetrics

__all__ = ["Punishments", "LIFT", "unmute", "unban"]

log = structlog.get_logger()

#: the action that lifts each kind of punishment
LIFT = {"mute": "unmute", "smute": "unmute", "ban": "unban"}
Key = tuple[str, str]  # (class, lower-case name)


@dataclass(slots=True)
class _Timer:
    kind: str
    target: str
    expires_at: float
    actor: str
    added: float
    task: asyncio.Task[None] | None = None


async def unmute(actions: Actions, name: str) -> str:
    """Unmute ``name``; what CyTube's answer means, in words (a moderator's or a lift's)."""
    if not await actions.unmute(name):
        return (f"CyTube says nothing when unmuting someone who is not here: {name} "
                "is unmuted if they were muted")
    return f"Unmuted {name}"


async def unban(actions: Actions, name: str) -> str:
    """Unban ``name``; what CyTube's answer means, in words (a moderator's or a lift's)."""
    if not await actions.unban(name):
        return f"{name} is not on the banlist (nothing to lift)"
    return f"Unbanned {name}"


def key_of(kind: str, name: str) -> Key:
    return contract.PUNISHMENT_CLASS[kind], name.lower()


class Punishments:
    """The lift timers.

    Parameters:
        actions: lifts (unmute, unban) and reports (a PM to the moderator).
        channel: who is here; why the bot's rank may no longer lift.
        record: where lifts and failed lifts are written.
        query: reads the active punishments.
        metrics, settings: the bot's (lift grace, sync interval).
        spawn: starts a task the bot stops on close.
        clock: the timers' clock.
    """

    def __init__(self, *, actions: Actions, channel: ChannelState, record: ModerationRecord,
                 query: Ask, metrics: BotMetrics, settings: BotSettings,
                 spawn: Callable[[Coroutine[Any, Any, None], str], Any], clock: Clock) -> None:
        self._actions = actions
        self._channel = channel
        self._record = record
        self._query = query
        self._metrics = metrics
        self._settings = settings
        self._spawn = spawn
        self._clock = clock
        self._timers: dict[Key, _Timer] = {}
        self._lifted: dict[Key, float] = {}  #: key -> the expiry lifted

    # --- what the commands and the watcher tell it --------------------------------------------
    def started(self, kind: str, name: str, expires_at: float | None, actor: str) -> None:
        """A punishment took effect: time its lift, or (no end) drop a timed one it replaces."""
        if expires_at is not None:
            self._schedule(kind, name, expires_at, actor)
        else:
            self.ended(kind, name)

    def ended(self, kind: str, name: str) -> None:
        """The punishment of ``kind``'s class on ``name`` ended (lifted, or replaced)."""
        self._cancel(key_of(kind, name))

    # --- timers ---------------------------------------------------------------------------------
    def _schedule(self, kind: str, target: str, expires_at: float, actor: str) -> None:
        key = key_of(kind, target)
        old = self._timers.get(key)
        if old is not None and old.kind == kind and old.expires_at == expires_at:
            return
        self._cancel(key)
        timer = _Timer(kind, target, expires_at, actor, self._clock.time())
        self._timers[key] = timer
        timer.task = self._spawn(self._lift_at(key, timer), f"bot-lift-{key[0]}")
        self._gauge()

    def _cancel(self, key: Key) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None and timer.task is not None \
                and timer.task is not asyncio.current_task():
            timer.task.cancel()
        self._gauge()

    def _gauge(self) -> None:
        for kind in contract.PUNISHMENT_KINDS:
            self._metrics.punishments_active.labels(kind).set(
                sum(1 for t in self._timers.values() if t.kind == kind))

    async def _lift_at(self, key: Key, timer: _Timer) -> None:
        # a timer started by a command must not log as that command (the task copied its context)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(lift=timer.kind, target=timer.target)
        await self._clock.sleep(max(0.0, timer.expires_at - self._clock.time()))
        while not self._actions.ready:  # away: lift as soon as the bot is back in
            await asyncio.sleep(0.1)  # (real time: this waits for CyTube, not for a schedule)
        await self._lift(key, timer)

    async def _do_lift(self, lift: str, target: str) -> str:
        why = lacking(self._channel, "ban" if lift == "unban" else "mute")
        if why is not None:
            raise CommandError(f"I can't {lift} any more: {why}")
        if lift == "unban":
            return await unban(self._actions, target)
        try:
            return await unmute(self._actions, target)
        except CyTubeError as exc:
            if "is not muted" in str(exc):  # someone was quicker: nothing to lift
                return f"{target} was not muted any more (nothing to lift)"
            raise

    async def _lift(self, key: Key, timer: _Timer) -> None:
        lift = LIFT[timer.kind]
        me = self._channel.bot_name
        late = self._clock.time() - timer.expires_at
        command = f"{timer.kind} ran out {when(timer.expires_at)}"
        try:
            done = await self._do_lift(lift, timer.target)
        except (CommandError, CyTubeError) as exc:
            self._record.record(lift, timer.target, actor=me, origin="expiry", error=str(exc),
                                command=command)
            self._metrics.punishment_lifts.labels("failed").inc()
            log.warning("punishment_lift_failed", kind=timer.kind, target=timer.target,
                        error=str(exc), retry_seconds=self._settings.punishment_sync)
            self._timers.pop(key, None)  # the next sync schedules it again
            self._gauge()
            await self._report(timer, str(exc))
            return
        self._record.record(lift, timer.target, actor=me, origin="expiry", command=command,
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
        if self._channel.user(timer.actor) is None or \
                timer.actor.lower() == self._channel.bot_name.lower():
            return
        try:
            await self._actions.tell(timer.actor, f"I could not lift the {timer.kind} of "
                                     f"{timer.target}: {error}. I will try again.")
        except CyTubeError as exc:
            log.warning("punishment_report_failed", error=str(exc))

    # --- keeping in step with the record --------------------------------------------------------
    async def sync(self) -> bool:
        """Read the active punishments and (re)schedule their lifts; False if unavailable."""
        try:
            reply: contract.PunishmentsReply = await self._query(contract.PunishmentsQuery())
        except QueryFailed as exc:
            log.info("punishments_sync_failed", outcome=exc.outcome)
            return False
        seen = set()
        for p in reply.punishments:
            if p.expires_at is None or p.kind not in contract.PUNISHMENT_CLASS:
                continue
            key = key_of(p.kind, p.target)
            seen.add(key)
            if self._lifted.get(key) == float(p.expires_at):
                continue  # lifted here already; the record is on its way
            timer = self._timers.get(key)
            if timer is None or contract.expiry_second(timer.expires_at) != p.expires_at:
                self._schedule(p.kind, p.target, float(p.expires_at), p.actor)
        stale = self._clock.time() - max(30.0, self._settings.punishment_sync)
        for key, timer in list(self._timers.items()):
            if key not in seen and timer.added < stale:  # ended elsewhere (by a moderator)
                self._cancel(key)
        return True

    async def run(self, stop: asyncio.Event) -> None:
        """Sync when ready, then every ``punishment_sync`` seconds (1 s while it fails)."""
        while not stop.is_set():
            ok = await self.sync() if self._actions.ready else False
            delay = self._settings.punishment_sync if ok else min(
                1.0, self._settings.punishment_sync)
            try:
                await asyncio.wait_for(stop.wait(), delay)
            except TimeoutError:
                pass
