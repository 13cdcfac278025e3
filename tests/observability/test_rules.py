"""The chart's alert rules and dashboard, checked offline: promtool, unit tests, metric names.

``promtool check rules`` and ``promtool test rules`` are Debian's promtool (scripts/setup
installs it). The dashboard is plain JSON; every name any expression selects must be one
``rosey.metrics`` declares, so a renamed metric breaks this test instead of a panel.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from tests.observability.promql import (
    BUILTIN_SERIES,
    RULES_FILE,
    RULES_TEST_FILE,
    alert_rules,
    dashboard_exprs,
    dashboard_panels,
    declared_families,
    declared_metric_names,
    grafana_to_promql,
    load_dashboard,
    load_rules,
    metric_names,
)

SEVERITIES = {"critical", "warning", "info"}


@pytest.fixture(scope="module")
def promtool() -> str:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool is not installed: run scripts/setup (apt-get install prometheus)")
    return binary


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)


# --- the rules file -----------------------------------------------------------------------------
def test_promtool_check_rules_accepts_the_rules_file(promtool) -> None:
    result = _run(promtool, "check", "rules", str(RULES_FILE))
    assert result.returncode == 0, result.stdout + result.stderr
    count = sum(len(group["rules"]) for group in load_rules()["groups"])
    assert f"SUCCESS: {count} rules found" in result.stdout


def test_promtool_unit_tests_of_the_alerts_pass(promtool) -> None:
    result = _run(promtool, "test", "rules", str(RULES_TEST_FILE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    tests = yaml.safe_load(RULES_TEST_FILE.read_text())
    assert tests["rule_files"] == [RULES_FILE.name]
    fires: set[str] = set()
    quiet: set[str] = set()
    for case in tests["tests"]:
        for check in case["alert_rule_test"]:
            (fires if check["exp_alerts"] else quiet).add(check["alertname"])
    alerts = {rule["alert"] for rule in alert_rules()}
    assert alerts - fires == set(), "alerts never shown to fire"
    assert alerts - quiet == set(), "alerts never shown to stay quiet"
    assert (fires | quiet) - alerts == set(), "unit tests name alerts that do not exist"


def test_every_alert_has_severity_summary_description_and_runbook() -> None:
    names = [rule["alert"] for rule in alert_rules()]
    assert len(names) == len(set(names)), "duplicate alert names"
    for rule in alert_rules():
        assert rule["labels"]["severity"] in SEVERITIES, rule["alert"]
        assert rule["labels"]["component"] in {"bot", "dbservice"}, rule["alert"]
        for key in ("summary", "description", "runbook"):
            assert rule["annotations"].get(key, "").strip(), f"{rule['alert']}: no {key}"


def test_no_rule_depends_on_scrape_job_names() -> None:
    for rule in alert_rules():
        assert "job=" not in rule["expr"].replace(" ", ""), rule["alert"]
        assert "job!" not in rule["expr"].replace(" ", ""), rule["alert"]


# --- the dashboard ------------------------------------------------------------------------------
def test_dashboard_uses_a_prometheus_datasource_variable_everywhere() -> None:
    dashboard = load_dashboard()
    (variable,) = [v for v in dashboard["templating"]["list"] if v["name"] == "datasource"]
    assert variable["type"] == "datasource" and variable["query"] == "prometheus"
    assert dashboard["uid"] == "rosey" and dashboard["title"]
    for panel in dashboard_panels(dashboard):
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, \
            panel["title"]
        for target in panel["targets"]:
            assert target.get("datasource", panel["datasource"]) == panel["datasource"]


def test_every_dashboard_panel_has_a_target_expr_and_a_place() -> None:
    dashboard = load_dashboard()
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    panels = dashboard_panels(dashboard)
    assert len(panels) >= 10
    for panel in panels:
        assert panel["title"] and panel.get("description"), panel
        assert panel["targets"], f"{panel['title']}: no targets"
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip(), f"{panel['title']}: empty expr"
            grafana_to_promql(target["expr"])  # no variable the tests cannot fill in
        grid = panel["gridPos"]
        assert grid["w"] > 0 and grid["h"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]


def test_dashboard_covers_what_the_issue_asks_for() -> None:
    used = set().union(*(metric_names(expr) for _, expr in dashboard_exprs()))
    for name in ("rosey_event_publish_seconds_bucket", "rosey_events_dropped_total",
                 "rosey_events_processed_total", "rosey_event_e2e_seconds_bucket",
                 "rosey_consumer_pending", "rosey_db_commit_seconds_bucket",
                 "rosey_db_batch_size_bucket", "rosey_events_rejected_total",
                 "rosey_nats_connected", "rosey_cytube_connected", "rosey_jetstream_enabled",
                 "rosey_pm_commands_total", "rosey_outbox_depth"):
        assert name in used, name
    exprs = [expr for _, expr in dashboard_exprs()]
    for q in ("0.5", "0.95", "0.99"):
        assert any(f"histogram_quantile({q}, " in e and "rosey_event_publish_seconds" in e
                   for e in exprs), q
    assert any("by (reason)" in e and "rosey_events_dropped_total" in e for e in exprs)
    assert any("by (result)" in e and "rosey_pm_commands_total" in e for e in exprs)


def test_every_declared_metric_is_on_the_dashboard() -> None:
    used = set().union(*(metric_names(expr) for _, expr in dashboard_exprs()))
    families = declared_families()
    shown = {family for family in families
             if any(name == family or name.startswith(family + "_") for name in used)}
    assert set(families) - shown == set(), "metrics nobody can see"


# --- names ------------------------------------------------------------------------------------
def test_metric_name_extraction_finds_names_and_only_names() -> None:
    assert metric_names(
        'histogram_quantile(0.95, sum by (le, instance) (rate(rosey_x_bucket{job=~"a.*"}'
        '[$__rate_interval])))') == {"rosey_x_bucket"}
    assert metric_names("(up == 0 and on (job, instance) last_over_time(rosey_a[1d])) "
                        "or on () absent(rosey_b)") == {"up", "rosey_a", "rosey_b"}
    assert metric_names("sum without (subject, reason) (increase(rosey_c_total[5m])) > 1e3"
                        " unless rosey_d offset 5m") == {"rosey_c_total", "rosey_d"}
    assert metric_names('sort_desc(sum by (a) (rosey_e{reason="x y"}) > bool 0)') == {"rosey_e"}


def test_every_metric_name_in_dashboard_and_rules_is_declared_in_rosey_metrics() -> None:
    declared = declared_metric_names()
    assert {"rosey_event_publish_seconds_bucket", "rosey_events_dropped_total",
            "rosey_db_batch_size_sum", "rosey_outbox_depth"} <= declared
    used = [(where, name) for where, expr in dashboard_exprs() for name in metric_names(expr)]
    assert used
    unknown = [(where, name) for where, name in used if name not in declared]
    assert unknown == [], "dashboard selects metrics rosey.metrics does not declare"
    for rule in alert_rules():
        names = metric_names(rule["expr"])
        assert names, rule["alert"]
        assert names - declared - BUILTIN_SERIES == set(), rule["alert"]
