"""Helpers for the automod tests: rules files written as Python data."""

from __future__ import annotations

from typing import Any

import yaml

from rosey.automod.rules import parse_rules

SOURCE = "/etc/rosey/automod.yaml"


def rules_text(*rules: dict[str, Any], **top: Any) -> str:
    return yaml.safe_dump({**top, "rules": list(rules)}, sort_keys=False, allow_unicode=True)


def one_rule(kind: str, action: str = "warn", name: str = "r", **fields: Any):
    """The single rule of a file holding only it (defaults: cooldown off)."""
    ruleset = parse_rules(rules_text({"name": name, "kind": kind, "action": action, **fields},
                                     defaults={"cooldown": "off"}), SOURCE)
    (rule,) = ruleset.rules
    return rule
