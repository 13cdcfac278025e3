"""The leader the bot takes to pause, and always gives back.

``pause`` makes the bot leader, which stops CyTube's own clock; a new item would then sit at
0 s. So the bot hands the leader back on ``resume``, on a media change (the service calls
:meth:`Leader.hand_back`), and when a pause outlives ``pause_limit``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import structlog

from rosey.bot.actions import Actions
from rosey.bot.channel import ChannelState
from rosey.bot.clock import Clock
from rosey.errors import CyTubeError

__all__ = ["Leader"]

log = structlog.get_logger()


class Leader:
    """The pause limit's timer and the hand-back.

    Parameters:
        actions: gives the leader back.
        channel: who leads.
        pause_limit: how long a pause may hold the leader.
        spawn: starts a task the bot stops on close.
        clock: the timer's clock.
    """

    def __init__(self, *, actions: Actions, channel: ChannelState, pause_limit: float,
                 spawn: Callable[[Coroutine[Any, Any, None], str], Any], clock: Clock) -> None:
        self._actions = actions
        self._channel = channel
        self.pause_limit = pause_limit
        self._spawn = spawn
        self._clock = clock
        self._timer: asyncio.Task[None] | None = None

    def arm(self) -> None:
        """A pause began: hand the leader back after ``pause_limit``."""
        self.disarm()
        self._timer = self._spawn(self._expires(), "bot-pause-limit")

    def disarm(self) -> None:
        if self._timer is not None and self._timer is not asyncio.current_task():
            self._timer.cancel()
        self._timer = None

    async def _expires(self) -> None:
        await self._clock.sleep(self.pause_limit)
        self._timer = None
        await self.hand_back("pause_limit")

    async def hand_back(self, reason: str) -> None:
        """Give the leader back to CyTube if the bot holds it, so its clock runs again."""
        if not self._channel.i_lead():
            return
        self.disarm()
        log.warning("leader_handed_back", reason=reason, limit_seconds=self.pause_limit)
        try:
            await self._actions.release_leader()
        except CyTubeError as exc:  # not joined: CyTube drops a leaving leader by itself
            log.warning("leader_hand_back_failed", reason=reason, error=str(exc))
