"""Automatic moderation in the bot: rules judged on chat and on the playlist, hits acted on.

The rules (``docs/automod.md``) come from ``ROSEY_AUTOMOD_FILE``, checked at start, reloaded
when the file changes (a ConfigMap update reaches the mounted file) and on SIGHUP; a bad
reload keeps the rules in force and says why (log line ``automod_reload_failed``,
``rosey_automod_reloads_total{result="failed"}``, and the ``automod`` command).

Each hit passes three gates in order: exemptions (rank at least ``exempt_rank``, named users),
the rule's per-user cooldown, and dry run (the rule's own, or ``automod dry|live <rule>``).
A dry hit is recorded with ``dry_run`` and acts on nothing. A live hit acts through the
moderation commands' own steps, so it is recorded, timed and escalated like a moderator's
(origin ``automod``, the rule's name in ``rule``): ``log`` records a ``flag``; ``warn`` adds a
strike that escalates; ``mute``/``smute``/``ban`` (timed or not), ``kick``; playlist rules
``remove`` the item (recorded as ``remove``) and may add one of the others. Acting runs in its
own task: judging never waits on CyTube.

A moderator lifting an automatic punishment within ``reversal_window`` is a reversal of its
rule: the lift's record names the rule, and ``rosey_automod_reversals_total{rule}`` counts it.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from rosey import contract
from rosey.automod.chat import ChatJudge, Message
from rosey.automod.playlist import Item, PlaylistJudge
from rosey.automod.rules import Hit, Rule, RuleSet, load_rules
from rosey.bot import frames
from rosey.bot.actions import Actions
from rosey.bot.channel import ChannelState
from rosey.bot.clock import Clock
from rosey.bot.moderation import Moderation
from rosey.bot.record import ModerationRecord
from rosey.bot.text import span
from rosey.errors import ConfigError, CyTubeError, RoseyError
from rosey.metrics import BotMetrics

__all__ = ["AutoMod", "Reversals", "HOUR"]

log = structlog.get_logger()

HOUR = 3600.0
#: how often the rules file is looked at for a change
WATCH_SECONDS = 2.0


class Reversals:
    """Automatic punishments, remembered for ``window`` seconds so a human lift can be
    recognised as undoing one."""

    def __init__(self, *, metrics: BotMetrics, clock: Clock, window: Callable[[], float]) -> None:
        self._metrics = metrics
        self._clock = clock
        self._window = window
        self._recent: dict[tuple[str, str], tuple[str, float]] = {}

    def punished(self, klass: str, name: str, rule: str) -> None:
        self._recent[(klass, name.lower())] = (rule, self._clock.time())

    def __call__(self, klass: str, name: str) -> dict[str, Any]:
        """The record fields of a lift of ``klass`` on ``name``: the rule it undoes, if any."""
        hit = self._recent.pop((klass, name.lower()), None)
        if hit is None or self._clock.time() - hit[1] > self._window():
            return {}
        self._metrics.automod_reversals.labels(hit[0]).inc()
        log.info("automod_reversal", rule=hit[0], target=name)
        return {"rule": hit[0], "reason": f"undoes automod rule {hit[0]}"}


@dataclass(frozen=True, slots=True)
class _Stamp:
    """What the rules file looked like when read (a ConfigMap update swaps a symlink)."""

    mtime: float
    size: int
    digest: str


def _stamp(path: str) -> _Stamp | None:
    try:
        data = Path(path).read_bytes()
        st = Path(path).stat()
    except OSError:
        return None
    return _Stamp(st.st_mtime, st.st_size, hashlib.sha256(data).hexdigest())


class AutoMod:
    """The engine (see the module's docstring).

    Parameters:
        path: the rules file ("" for none: nothing is judged).
        actions, channel, moderation, record: act, read, and write the record.
        reversals: where automatic punishments are remembered.
        metrics, clock: the bot's.
        spawn: starts a task the bot stops on close.
    """

    def __init__(self, *, path: str, actions: Actions, channel: ChannelState,
                 moderation: Moderation, record: ModerationRecord, reversals: Reversals,
                 metrics: BotMetrics, clock: Clock,
                 spawn: Callable[[Coroutine[Any, Any, None], str], Any]) -> None:
        self.path = path
        self._actions = actions
        self._channel = channel
        self._moderation = moderation
        self._record = record
        self._reversals = reversals
        self._metrics = metrics
        self._clock = clock
        self._spawn = spawn
        self.rules = load_rules(path) if path else RuleSet.empty()
        self._stamp = _stamp(path) if path else None
        self.reload_error = ""
        self._overrides: dict[str, bool] = {}  #: rule -> dry (``automod dry|live``)
        self._cooldowns: dict[tuple[str, str], float] = {}
        self._hits: deque[tuple[float, str, bool]] = deque()
        self._first_seen: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._judges()

    def _judges(self) -> None:
        self._chat = ChatJudge(self.rules)
        self._playlist = PlaylistJudge(self.rules)
        self._metrics.automod_rules.set(len(self.rules.rules))
        for rule in self.rules.rules:  # every series from the start: increase() sees hit one
            self._metrics.automod_reversals.labels(rule.name)
            for mode in ("live", "dry"):
                self._metrics.automod_hits.labels(rule.name, rule.action.kind, mode)

    @property
    def reversal_window(self) -> float:
        return self.rules.reversal_window

    # --- the rules file -------------------------------------------------------------------------
    def reload(self, why: str) -> bool:
        """Read the rules file again; on a bad file keep the rules in force and say why."""
        if not self.path:
            return False
        try:
            rules = load_rules(self.path)
        except ConfigError as exc:
            self.reload_error = str(exc)
            self._metrics.automod_reloads.labels("failed").inc()
            log.error("automod_reload_failed", why=why, error=str(exc),
                      kept=len(self.rules.rules))
            return False
        self.rules, self.reload_error = rules, ""
        self._overrides = {k: v for k, v in self._overrides.items()
                           if any(r.name == k for r in rules.rules)}
        self._judges()
        self._metrics.automod_reloads.labels("ok").inc()
        log.info("automod_reloaded", why=why, rules=len(rules.rules))
        return True

    async def watch(self, stop: asyncio.Event) -> None:
        """Reload when the file changes (polled: a ConfigMap update swaps a symlink)."""
        while self.path and not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), WATCH_SECONDS)
            except TimeoutError:
                pass
            stamp = _stamp(self.path)
            if stamp is not None and stamp != self._stamp:
                self._stamp = stamp
                self.reload("file changed")

    # --- judging (synchronous, from the service's handlers) -------------------------------------
    def seen(self, name: str) -> bool:
        """The bot sees ``name`` (userlist or join); True the first time since it started
        (raid mode's first-time users read this too)."""
        key = name.lower()
        if key in self._first_seen:
            return False
        self._first_seen[key] = self._clock.time()
        return True

    def on_chat(self, line: frames.ChatLine) -> None:
        if not self.rules.rules or line.own or not line.username:
            return
        user = self._channel.user(line.username)
        started = time.perf_counter()
        hits = self._chat.judge(Message(
            user=line.username, text=line.text, time=self._clock.time(),
            rank=user.rank if user is not None else 0.0,
            guest=user is not None and user.rank == 0,
            first_seen=self._first_seen.get(line.username.lower()),
            present=self._channel.users))  # lower-case names; read, never copied
        self._metrics.automod_eval_seconds.observe(time.perf_counter() - started)
        for hit in hits:
            self._handle(hit, None)

    def on_queue(self, frame: frames.Queue) -> None:
        if not self.rules.rules:
            return
        item = frame.item
        queued = sum(1 for it in self._channel.playlist  # already there: not this one
                     if it.queueby.lower() == item.queueby.lower() and it.uid != item.uid)
        started = time.perf_counter()
        hits = self._playlist.judge(Item(
            user=item.queueby, media_type=item.media.type, media_id=item.media.id,
            title=item.media.title, seconds=item.media.seconds), queued)
        self._metrics.automod_eval_seconds.observe(time.perf_counter() - started)
        for hit in hits:
            self._handle(hit, item)

    def _exempt(self, rule: Rule, name: str) -> bool:
        user = self._channel.user(name)
        rank = user.rank if user is not None else 0.0
        if rule.exempt_rank is not None and rank >= rule.exempt_rank:
            return True
        return name.lower() in rule.exempt_users or name.lower() == \
            self._channel.bot_name.lower()

    def dry(self, rule: Rule) -> bool:
        return self._overrides.get(rule.name, rule.dry_run)

    def _handle(self, hit: Hit, item: frames.PlaylistItem | None) -> None:
        rule, name = hit.rule, hit.user
        if self._exempt(rule, name):
            return
        now = self._clock.time()
        key = (rule.name, name.lower())
        if now < self._cooldowns.get(key, 0.0):
            return
        self._cooldowns[key] = now + rule.cooldown
        if len(self._cooldowns) > 20_000:  # bounded: forget cooldowns that ran out
            self._cooldowns = {k: t for k, t in self._cooldowns.items() if t > now}
        dry = self.dry(rule)
        self._hits.append((now, rule.name, dry))
        while self._hits and now - self._hits[0][0] > HOUR:
            self._hits.popleft()
        self._metrics.automod_hits.labels(rule.name, rule.action.kind,
                                          "dry" if dry else "live").inc()
        log.info("automod_hit", rule=rule.name, user=name, detail=hit.detail,
                 action=rule.action.text, dry_run=dry)
        self._spawn(self._act(hit, item, dry), f"bot-automod-{rule.name}"[:60])

    # --- acting ---------------------------------------------------------------------------------
    async def _act(self, hit: Hit, item: frames.PlaylistItem | None, dry: bool) -> None:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(rule=hit.rule.name, target=hit.user)
        key = hit.user.lower()
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:  # one user's hits are acted on one after the other
                await self._act_on(hit, item, dry)
        except (RoseyError, CyTubeError) as exc:  # recorded by the step that failed
            log.warning("automod_action_failed", error=str(exc))
        finally:
            if not lock.locked() and self._locks.get(key) is lock:
                del self._locks[key]

    async def _act_on(self, hit: Hit, item: frames.PlaylistItem | None, dry: bool) -> None:
        rule, name, action = hit.rule, hit.user, hit.rule.action
        me = self._channel.bot_name or "rosey"
        why = f"{rule.name}: {hit.detail}"
        command = f"automod {why}"[:1000]
        record: dict[str, Any] = dict(actor=me, origin="automod", reason=why, command=command,
                                      rule=rule.name)
        if item is not None and action.remove:
            await self._remove(name, item, dry, record)
        if action.kind == "log" and action.remove:
            return  # a plain remove: recorded as the removal
        if dry:  # what it would have done, recorded; nothing acted on, no strike
            self._record.record("flag" if action.kind == "log" else action.kind, name,
                                duration=action.duration, dry_run=True, **record)
        elif action.kind == "log":
            self._record.record("flag", name, **record)
        elif action.kind == "warn":
            await self._moderation.warn(name, why, me, command, origin="automod",
                                        rule=rule.name)
        elif action.kind == "kick":
            await self._moderation.kick(name, why, me, command, origin="automod",
                                        rule=rule.name)
        elif action.kind in contract.PUNISHMENT_KINDS:
            await self._moderation.punish(action.kind, name, action.duration, why, me, command,
                                          origin="automod", rule=rule.name)
            self._reversals.punished(contract.PUNISHMENT_CLASS[action.kind], name, rule.name)

    async def _remove(self, name: str, item: frames.PlaylistItem, dry: bool,
                      record: dict[str, Any]) -> None:
        if dry:
            self._record.record("remove", name, dry_run=True, **record)
            return
        try:
            await self._actions.delete(item)
        except CyTubeError as exc:
            self._record.record("remove", name, error=str(exc), **record)
            raise
        self._record.record("remove", name, **record)

    # --- what the ``automod`` command shows ---------------------------------------------------
    def set_mode(self, name: str, dry: bool) -> str:
        rule = next((r for r in self.rules.rules if r.name.lower() == name.lower()), None)
        if rule is None:
            known = ", ".join(r.name for r in self.rules.rules) or "none"
            return f"No rule {name!r} (rules: {known})"
        self._overrides[rule.name] = dry
        log.warning("automod_mode_changed", rule=rule.name, dry_run=dry)
        return f"Rule {rule.name} is {'dry (records only)' if dry else 'live (acts)'}" + \
            " until the rules file is reloaded without it or the bot restarts"

    def summary(self) -> list[str]:
        now = self._clock.time()
        counts: dict[str, int] = {}
        for at, rule, _ in self._hits:
            if now - at <= HOUR:
                counts[rule] = counts.get(rule, 0) + 1
        if not self.path:
            return ["Automatic moderation is off (no rules file: ROSEY_AUTOMOD_FILE)"]
        lines = [f"{len(self.rules.rules)} rules from {self.path}"
                 + (f"; LAST RELOAD FAILED, old rules kept: {self.reload_error}"
                    if self.reload_error else "")]
        for r in self.rules.rules:
            lines.append(f"{r.name} ({r.kind}): {r.action.text}, "
                         f"{'dry' if self.dry(r) else 'live'}, {counts.get(r.name, 0)} hits "
                         f"in the last hour" + (f", cooldown {span(int(r.cooldown))}"
                                                 if r.cooldown else ""))
        return lines
