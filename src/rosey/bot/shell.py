"""Moderator commands sent to the bot by PM: parse, authorize, audit, dispatch, reply.

Only users in the live userlist with rank >= 2 are obeyed; anyone else (and the bot itself) is
ignored without a reply (fail closed). A rank of 1 that CyTube has not confirmed yet (``addUser``
comes before ``setUserRank``) is given ``rank_wait`` seconds to be raised. Every obeyed
command is audited twice on ``rosey.db.action.pm_command`` through the outbox, ``pending``
before it runs and ``success``/``error`` after, with the full argument text; the reply never
waits on either.

The table of commands (:mod:`rosey.commands`) names each command's handler: its owner's
``cmd_<name>`` (:class:`~rosey.bot.channel_commands.ChannelCommands`,
:class:`~rosey.bot.moderation.Moderation` or
:class:`~rosey.bot.automod_commands.AutoModCommands`). Before a handler runs, the shell checks the
caller's rank (``ROSEY_COMMAND_RANKS``) and the bot's own (a command the bot's rank does not
allow here is answered with the reason, and nothing is sent). Replies go out as PMs split at
320 characters (see :mod:`rosey.bot.text`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Literal

import structlog

from rosey import contract
from rosey.bot.actions import Actions
from rosey.bot.automod_commands import AutoModCommands
from rosey.bot.capabilities import rank_text, refusals
from rosey.bot.channel import ChannelState
from rosey.bot.channel_commands import ChannelCommands
from rosey.bot.clock import Clock
from rosey.bot.frames import ChatLine
from rosey.bot.moderation import Moderation
from rosey.bot.publisher import Publisher
from rosey.bot.weblogin import WebLogin
from rosey.commands import BY_NAME, MODERATOR_RANK, USAGE
from rosey.config import BotSettings
from rosey.errors import ActionFailed, CommandError, CyTubeError
from rosey.metrics import BotMetrics, command_label

__all__ = ["Shell", "REPLY_JOINER", "USAGE"]

log = structlog.get_logger()

#: between reply lines packed into one PM (CyTube turns a newline into a space)
REPLY_JOINER = " | "

Handler = Callable[[str, str], Awaitable[str]]


class Shell:
    """Runs moderator PMs.

    Parameters:
        actions: sends the replies.
        channel: the live channel (userlist for authorization, the bot's rank).
        publisher: the outbox for audit events.
        metrics: command counters and timings.
        handlers: who runs the commands, by the table's owner.
        settings: per-command ranks.
        rank_wait: how long a PM from a user whose rank is still provisional waits for it.
        clock: the audit's timestamps.
    """

    def __init__(self, *, actions: Actions, channel: ChannelState, publisher: Publisher,
                 metrics: BotMetrics, channel_commands: ChannelCommands, moderation: Moderation,
                 automod: AutoModCommands, settings: BotSettings, clock: Clock,
                 weblogin: WebLogin, rank_wait: float = 1.5) -> None:
        self._actions = actions
        self._channel = channel
        self._publisher = publisher
        self._metrics = metrics
        self._owners: dict[str, object] = {"channel": channel_commands,
                                           "moderation": moderation, "automod": automod,
                                           "web": weblogin}
        self._ranks = dict(settings.command_ranks)
        self._clock = clock
        self._rank_wait = rank_wait

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
        except (CommandError, ActionFailed) as exc:
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
            await self._actions.tell(caller, reply, joiner=REPLY_JOINER)
        finally:
            self._metrics.pm_command_seconds.observe(time.monotonic() - started)

    async def _authorized(self, name: str) -> bool:
        # real time: this waits for CyTube's setUserRank, not for a schedule
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
        self._publisher.publish(contract.PmCommand(
            username=username, command=command, args=args, result=result,
            timestamp=self._clock.time(), error=error))

    def handler(self, name: str) -> Handler:
        """The table's handler for command ``name`` (KeyError for a name not in the table)."""
        command = BY_NAME[name]
        fn: Handler = getattr(self._owners[command.owner], "cmd_" + name)
        return fn

    async def _run(self, name: str, args: str, caller: str) -> str:
        if name not in BY_NAME:
            raise CommandError(f"Unknown command: {name}")
        need = self._ranks.get(name, MODERATOR_RANK)
        user = self._channel.user(caller)
        if need > MODERATOR_RANK and (user is None or user.rank < need):
            raise CommandError(f"{name} needs rank {rank_text(need)} here")
        why = refusals(self._channel).get(name)
        if why is not None:
            raise CommandError(f"I can't {name} here: {why}")
        return await self.handler(name)(args, caller)
