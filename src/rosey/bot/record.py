"""The bot's pen for the moderation record (``docs/moderation.md``).

Every action the bot takes or sees is published on ``rosey.db.moderation.action`` through
the outbox (so a record waits for NATS like every other event), counted in
``rosey_moderation_actions_total`` and logged.
"""

from __future__ import annotations

import uuid

import structlog

from rosey import contract
from rosey.bot.clock import Clock
from rosey.bot.publisher import Publisher
from rosey.metrics import BotMetrics

__all__ = ["ModerationRecord", "new_ref"]

log = structlog.get_logger()


def new_ref() -> str:
    """A fresh ``ref`` for a record (the store deduplicates on it)."""
    return uuid.uuid4().hex


class ModerationRecord:
    def __init__(self, *, publisher: Publisher, metrics: BotMetrics, clock: Clock) -> None:
        self._publisher = publisher
        self._metrics = metrics
        self._clock = clock

    def record(self, action: str, target: str, *, actor: str, origin: str = "command",
               error: str | None = None, reason: str = "", duration: int | None = None,
               expires_at: float | None = None, command: str | None = None,
               ref: str | None = None, rule: str | None = None,
               dry_run: bool = False) -> None:
        """Publish, count and log one action. ``rule``: the automod rule that acted (origin
        ``automod``); ``dry_run``: it only records what it would have done (the
        DatabaseService opens, ends and adds nothing for it)."""
        result = "error" if error is not None else "success"
        self._publisher.publish(contract.ModerationAction(
            action=action, target=target, actor=actor, origin=origin, result=result,
            reason=reason, duration=duration, expires_at=expires_at, command=command,
            error=error, ref=ref or new_ref(), timestamp=self._clock.time(), rule=rule,
            dry_run=dry_run))
        self._metrics.moderation_actions.labels(action, origin, result).inc()
        log.info("moderation_action", action=action, target=target, actor=actor, origin=origin,
                 result=result, error=error, duration=duration, rule=rule, dry_run=dry_run)
