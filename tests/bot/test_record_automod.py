"""The bot's pen for automatic moderation (issue 19): ``record(rule=, dry_run=)`` reaches the
event, and the modlog line names the rule and says when it was a dry run."""

from __future__ import annotations

import json

from prometheus_client import CollectorRegistry

from rosey import contract
from rosey.bot.moderation import PAST, describe
from rosey.bot.publisher import Publisher
from rosey.bot.record import ModerationRecord
from rosey.metrics import BotMetrics


class FixedClock:
    def time(self) -> float:
        return 1_764_600_600.5

    def monotonic(self) -> float:
        return 0.0

    async def sleep(self, seconds: float) -> None:
        return None


def _pen() -> tuple[ModerationRecord, Publisher, BotMetrics]:
    metrics = BotMetrics(CollectorRegistry())
    publisher = Publisher(js=None, metrics=metrics)
    return ModerationRecord(publisher=publisher, metrics=metrics, clock=FixedClock()), \
        publisher, metrics


def test_record_passes_rule_and_dry_run_into_the_event():
    pen, publisher, metrics = _pen()
    pen.record("remove", "bob", actor="rosey", origin="automod", reason="blocked domain",
               command="removed https://example.test/x", rule="links", dry_run=True)
    pen.record("kick", "carol", actor="alice")
    dry, plain = (e.payload for e in publisher._outbox)
    assert dry == contract.ModerationAction(
        "remove", "bob", "rosey", origin="automod", reason="blocked domain",
        command="removed https://example.test/x", ref=dry.ref, timestamp=1_764_600_600.5,
        rule="links", dry_run=True)
    assert json.loads(contract.encode(dry))["dry_run"] is True
    assert (plain.rule, plain.dry_run) == (None, False)
    assert metrics.registry.get_sample_value(
        "rosey_moderation_actions_total",
        {"action": "remove", "origin": "automod", "result": "success"}) == 1
    # the new kinds and origin have their series from the start
    assert metrics.registry.get_sample_value(
        "rosey_moderation_actions_total",
        {"action": "flag", "origin": "automod", "result": "success"}) == 0


def test_the_modlog_line_names_the_rule_and_says_dry_run():
    row = contract.ModerationRecord(41, 1_764_600_600, "remove", "bob", "rosey", "automod",
                                    "success", "blocked domain", rule="links", dry_run=True)
    assert describe(row).endswith(
        "rosey removed bob (blocked domain) [automod links] (dry run)")
    flagged = contract.ModerationRecord(42, 1_764_600_600, "flag", "bob", "rosey", "automod",
                                        "success", "caps", rule="caps")
    assert describe(flagged).endswith("rosey flagged bob (caps) [automod caps]")
    failed = contract.ModerationRecord(43, 1_764_600_600, "mute", "bob", "rosey", "automod",
                                       "error", duration=600, error="refused", rule="flood",
                                       dry_run=False)
    assert describe(failed).endswith("rosey muted bob for 10m [automod flood] FAILED: refused")
    # no rule named, and every other origin, as before
    assert describe(contract.ModerationRecord(
        44, 1_764_600_600, "flag", "bob", "rosey", "automod", "success")).endswith(
        "rosey flagged bob [automod]")
    assert describe(contract.ModerationRecord(
        45, 1_764_600_600, "kick", "bob", "alice", "command", "success")).endswith(
        "alice kicked bob [command]")
    assert {PAST["remove"], PAST["flag"]} == {"removed", "flagged"}
