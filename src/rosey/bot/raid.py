"""Raid mode: CyTube's own protections switched on when a raid starts, and off again after.

Triggers (each per minute, any of them): joins, guest joins, first-time users (not seen by this
bot before), and one line said by K different users. When one fires, the bot keeps the current
values of the options it is about to change in the DatabaseService (``rosey.db.automod.raid``)
*before* changing them, sets the raid options through ``setOptions``, and says so in chat.
After ``calm`` seconds without a trigger it restores exactly the values that were there before
and says so. A restart mid-raid never leaves the channel locked: on start the bot reads the
kept values (``rosey.db.query.raid``) and restores them. Moderators can say
``raid on|off|status``. Off unless the rules file has a ``raid`` section.

Options only rank 3 may change (``block_anonymous_users``...) are left out, with a warning,
when the bot's rank is 2: CyTube would ignore them silently.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

import structlog

from rosey import contract
from rosey.automod.model import RaidConfig
from rosey.bot.actions import ADMIN_OPTIONS, Actions
from rosey.bot.channel import ChannelState
from rosey.bot.clock import Clock
from rosey.bot.publisher import Publisher
from rosey.bot.queries import Ask, QueryFailed
from rosey.bot.text import clock as clock_text
from rosey.errors import CyTubeError
from rosey.metrics import BotMetrics

__all__ = ["Raid"]

log = structlog.get_logger()

WINDOW = 60.0  # triggers count per minute


class Raid:
    """The raid state machine (see the module's docstring)."""

    def __init__(self, *, actions: Actions, channel: ChannelState, publisher: Publisher,
                 query: Ask, metrics: BotMetrics, clock: Clock,
                 config: Callable[[], RaidConfig | None],
                 spawn: Callable[[Coroutine[Any, Any, None], str], Any]) -> None:
        self._actions = actions
        self._channel = channel
        self._publisher = publisher
        self._query = query
        self._metrics = metrics
        self._clock = clock
        self._config = config
        self._spawn = spawn
        self.active = False
        self.reason = ""
        self.started_at: float | None = None
        self._saved: dict[str, Any] = {}
        self._last_trigger = 0.0
        self._events: dict[str, deque[float]] = {k: deque() for k in ("joins", "guests", "new")}
        self._lines: dict[str, dict[str, float]] = {}  # normalised line -> {user: time}
        self._busy = asyncio.Lock()
        self._recovered = False

    # --- triggers (synchronous, from the service's handlers) -----------------------------------
    def joined(self, *, guest: bool, new: bool) -> None:
        """A live join (``addUser`` of someone not in the userlist; the userlist of a
        (re)join is no join: a reconnect is not a raid); ``new``: the bot never saw them."""
        now = self._clock.time()
        self._count("joins", now)
        if guest:
            self._count("guests", now)
        if new:
            self._count("new", now)

    def said(self, name: str, text: str) -> None:
        config = self._config()
        if config is None or not config.same_line_users:
            return
        now = self._clock.time()
        key = " ".join(text.casefold().split())[:500]
        users = self._lines.setdefault(key, {})
        users[name.lower()] = now
        for old in [u for u, t in users.items() if now - t > WINDOW]:
            del users[old]
        if len(self._lines) > 2000:  # bounded: forget the oldest lines
            for k in list(self._lines)[:1000]:
                del self._lines[k]
        if len(users) >= config.same_line_users:
            self._trigger(f"the same line from {len(users)} users within a minute")

    def _count(self, what: str, now: float) -> None:
        config = self._config()
        if config is None:
            return
        q = self._events[what]
        q.append(now)
        while q and now - q[0] > WINDOW:
            q.popleft()
        limit = {"joins": config.joins_per_minute, "guests": config.guests_per_minute,
                 "new": config.new_users_per_minute}[what]
        if limit and len(q) >= limit:
            words = {"joins": "joins", "guests": "guest joins", "new": "first-time users"}
            self._trigger(f"{len(q)} {words[what]} within a minute")

    def _trigger(self, reason: str) -> None:
        self._last_trigger = self._clock.time()
        if not self.active and not self._busy.locked():
            self._spawn(self._auto_start(reason), "bot-raid-on")

    async def _auto_start(self, reason: str) -> None:
        log.info("raid_triggered", reason=reason)
        await self.start(reason, actor="automod")

    # --- switching --------------------------------------------------------------------------------
    def _wanted(self, config: RaidConfig) -> dict[str, Any]:
        wanted = dict(config.options)
        if self._channel.my_rank < 3:
            skipped = sorted(k for k in wanted if k in ADMIN_OPTIONS)
            if skipped:
                log.warning("raid_options_skipped", options=skipped, rank=self._channel.my_rank,
                            why="rank 3 needed")
            wanted = {k: v for k, v in wanted.items() if k not in ADMIN_OPTIONS}
        return wanted

    def _keep(self, active: bool) -> None:
        self._publisher.publish(contract.RaidState(
            active=active, saved_options=dict(self._saved) if active else None,
            reason=self.reason, started_at=self.started_at, timestamp=self._clock.time()))

    async def start(self, reason: str, *, actor: str) -> str:
        """Switch raid mode on; the reply for ``raid on``."""
        config = self._config()
        if config is None:
            return "Raid mode is not configured (no raid section in the rules file)"
        async with self._busy:
            if self.active:
                return f"Raid mode is already on ({self.reason})"
            wanted = self._wanted(config)
            options = self._channel.options
            self._saved = {k: options[k] for k in wanted if k in options}
            self.active, self.reason, self.started_at = True, reason, self._clock.time()
            self._last_trigger = self._clock.time()
            self._keep(True)  # kept before anything changes: a crash after still restores
            self._metrics.raid_active.set(1)
            log.warning("raid_mode_on", reason=reason, actor=actor, options=sorted(wanted))
            try:
                await self._actions.set_options(wanted)
            except CyTubeError as exc:
                log.error("raid_options_failed", error=str(exc))
                return f"Raid mode is on ({reason}) but the options failed: {exc}"
            await self._announce(config.announce_on)
            self._spawn(self._calm_watch(), "bot-raid-calm")
            return f"Raid mode is on ({reason}): {', '.join(sorted(wanted)) or 'no options'}"

    async def stop(self, why: str) -> str:
        """Restore the options kept when raid mode began; the reply for ``raid off``."""
        async with self._busy:
            if not self.active:
                return "Raid mode is off"
            try:
                await self._actions.set_options(self._saved)
            except CyTubeError as exc:
                log.error("raid_restore_failed", error=str(exc))
                return f"Raid mode stays on: restoring the options failed: {exc}"
            restored = sorted(self._saved)
            self.active, self._saved = False, {}
            self._keep(False)
            self._metrics.raid_active.set(0)
            log.warning("raid_mode_off", why=why, restored=restored)
            config = self._config()
            if config is not None:
                await self._announce(config.announce_off)
            self.reason, self.started_at = "", None
            return f"Raid mode is off ({why}): restored {', '.join(restored) or 'nothing'}"

    async def _announce(self, text: str) -> None:
        if not text:
            return
        try:
            await self._actions.say(text)
        except CyTubeError as exc:
            log.warning("raid_announce_failed", error=str(exc))

    async def _calm_watch(self) -> None:
        while self.active:
            config = self._config()
            calm = config.calm if config is not None else 0.0
            left = self._last_trigger + calm - self._clock.time()
            if left <= 0:
                await self.stop(f"calm for {clock_text(calm)}")
                return
            await self._clock.sleep(left)

    def status(self) -> str:
        if self._config() is None:
            return "Raid mode is not configured (no raid section in the rules file)"
        if not self.active:
            return "Raid mode is off"
        since = clock_text(self._clock.time() - (self.started_at or self._clock.time()))
        return f"Raid mode is on for {since} ({self.reason}); will restore {sorted(self._saved)}"

    # --- a restart mid-raid -----------------------------------------------------------------
    async def recover(self, stop: asyncio.Event) -> None:
        """Once ready, restore what a raid in progress when the bot stopped had changed."""
        while not stop.is_set() and not self._recovered:
            if self._actions.ready:
                self._recovered = await self._recover_once()
            if not self._recovered:
                await asyncio.sleep(1.0)

    async def _recover_once(self) -> bool:
        try:
            reply = await self._query(contract.RaidQuery())
        except QueryFailed as exc:
            log.info("raid_state_unavailable", outcome=exc.outcome)
            return False
        if reply.active and reply.saved_options is not None and not self.active:
            self.active, self._saved = True, dict(reply.saved_options)
            self.reason, self.started_at = reply.reason, reply.started_at
            log.warning("raid_mode_recovered", started_at=reply.started_at,
                        options=sorted(self._saved))
            result = await self.stop("restored after a restart")
            return not self.active or result.startswith("Raid mode is off")
        return True
