"""The chart's dashboard and alert files as data: their PromQL, and the metric names in it.

There is no PromQL parser in Python (and Debian's promtool 2.42 has no ``promql`` command), so
:func:`metric_names` strips what cannot be a metric (strings, label matchers, range
selectors, grouping clauses, function calls, keywords) and keeps the identifiers left over. Its
own tests pin that down, so a regression shows up as a failing test rather than a silent pass.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry

from rosey.metrics import BotMetrics, DbMetrics

__all__ = [
    "CHART_DIR", "DASHBOARD_FILE", "RULES_FILE", "RULES_TEST_FILE", "BUILTIN_SERIES",
    "load_dashboard", "dashboard_panels", "dashboard_exprs", "load_rules", "alert_rules",
    "grafana_to_promql", "metric_names", "declared_metric_names", "declared_families",
]

REPO = Path(__file__).resolve().parents[2]
CHART_DIR = REPO / "helm" / "rosey"
DASHBOARD_FILE = CHART_DIR / "files" / "dashboards" / "rosey.json"
RULES_FILE = CHART_DIR / "files" / "alerts" / "rosey-rules.yaml"
RULES_TEST_FILE = CHART_DIR / "files" / "alerts" / "rosey-rules.test.yaml"

#: series Prometheus makes itself; rules may use them (dashboards only use Rosey's metrics)
BUILTIN_SERIES = frozenset({"up"})

#: Grafana's built-in interval variables, with the values the tests give them
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "5s", "$__range": "10m"}

_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "inf", "nan"})
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE)
_FUNCTION = re.compile(r"\b[a-zA-Z_][a-zA-Z0-9_]*\s*\(")
_IDENT = re.compile(r"(?<![\w.$])[a-zA-Z_:][a-zA-Z0-9_:]*")


def load_dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD_FILE.read_text())  # type: ignore[no-any-return]


def dashboard_panels(dashboard: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every panel that shows data (rows are layout, not panels), nested rows included."""
    dashboard = dashboard or load_dashboard()
    found: list[dict[str, Any]] = []
    for panel in dashboard["panels"]:
        if panel.get("type") == "row":
            found.extend(p for p in panel.get("panels", []) if p.get("type") != "row")
        else:
            found.append(panel)
    return found


def dashboard_exprs() -> list[tuple[str, str]]:
    """``(panel title / refId, expr)`` for every target, as written (Grafana variables kept)."""
    return [(f"{p['title']} / {t['refId']}", t["expr"])
            for p in dashboard_panels() for t in p.get("targets", [])]


def load_rules() -> dict[str, Any]:
    return yaml.safe_load(RULES_FILE.read_text())  # type: ignore[no-any-return]


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load_rules()["groups"] for rule in group["rules"]
            if "alert" in rule]


def grafana_to_promql(expr: str) -> str:
    """Replace Grafana's interval variables with fixed durations (what Grafana does)."""
    for name, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(name, value)
    if "$" in expr:
        raise ValueError(f"unhandled Grafana variable in {expr!r}")
    return expr


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects."""
    text = _STRING.sub(" ", expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _FUNCTION.sub(" ", text)
    text = re.sub(r"\b\d+(?:\.\d+)?(?:e[+-]?\d+)?\b", " ", text)  # numbers
    return {word for word in _IDENT.findall(text) if word.lower() not in _KEYWORDS}


def declared_families() -> dict[str, str]:
    """``{family name: type}`` for every metric DbMetrics and BotMetrics declare."""
    families: dict[str, str] = {}
    for registry in (DbMetrics(CollectorRegistry()).registry,
                     BotMetrics(CollectorRegistry()).registry):
        for family in registry.collect():
            families[family.name] = family.type
    return families


def declared_metric_names() -> set[str]:
    """Every series name the two processes can expose, suffixes included.

    Taken from the families' types (a labelled histogram with no children yet has no samples)
    and from the samples themselves.
    """
    suffixes = {"counter": ("_total", "_created"), "gauge": ("",),
                "histogram": ("_bucket", "_sum", "_count", "_created"),
                "summary": ("", "_sum", "_count", "_created"), "info": ("_info",)}
    names: set[str] = set()
    for name, kind in declared_families().items():
        names.update(name + suffix for suffix in suffixes.get(kind, ("",)))
    for registry in (DbMetrics(CollectorRegistry()).registry,
                     BotMetrics(CollectorRegistry()).registry):
        for family in registry.collect():
            names.update(sample.name for sample in family.samples)
    return names
