"""helm/rosey renders, lints strictly, and every object is valid Kubernetes 1.30."""

from __future__ import annotations

import json
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from .conftest import CHART_DIR, WITH_CHANNEL, deep_merge, production_values

KUBE_VERSION = "1.30.0"
#: Prometheus Operator CRDs: no schema in kubernetes-validate; checked by hand below
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}

VALUE_SETS: dict[str, Any] = {
    "default": lambda: {},
    "default+channel": lambda: WITH_CHANNEL,
    "production": production_values,
    "production+channel": lambda: deep_merge(production_values(), WITH_CHANNEL),
    "existing-secret+no-persistence": lambda: deep_merge(WITH_CHANNEL, {
        "bot": {"existingSecret": "my-cytube"},
        "nats": {"persistence": {"enabled": False}, "podDisruptionBudget": {"enabled": False}},
        "dbservice": {"persistence": {"enabled": False}},
        "networkPolicy": {"enabled": False},
        "metrics": {"serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True},
                    "dashboard": {"enabled": False}},
    }),
}


@pytest.mark.parametrize("values_name", ["default", "production", "production+channel"])
def test_strict_lint_reports_nothing_above_info(values_name: str) -> None:
    report = helm.lint(CHART_DIR, VALUE_SETS[values_name](), strict=True,
                       kube_version=f"v{KUBE_VERSION}")
    assert report["errors"] == []
    # severity: 1 info ("icon is recommended"), 2 warning, 3 error
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize("values_name", sorted(VALUE_SETS))
def test_every_manifest_is_valid_kubernetes_1_30(render, values_name: str) -> None:
    rendered = render(VALUE_SETS[values_name]())
    assert rendered.objects
    checked = skipped = 0
    for obj in rendered.objects:
        if obj["kind"] in CRD_KINDS:
            skipped += 1
            continue
        kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
        assert obj["metadata"]["namespace"] == "rosey-test" or obj["kind"] == "Pod"
        checked += 1
    assert checked >= 10


def test_production_values_pass_the_schema_and_defaults_too(chart) -> None:
    chart.validate_schema({})
    chart.validate_schema(production_values())


@pytest.mark.parametrize("bad", [
    {"nats": {"replicas": 2}},
    {"nats": {"replica": 3}},
    {"dbservice": {"settings": {"jetstream": "on"}}},
    {"dbservice": {"settings": {"batchSize": 0}}},
    {"bot": {"settings": {"logFormat": "xml"}}},
    {"unknownBlock": {}},
])
def test_schema_rejects_values_the_code_or_chart_cannot_use(chart, bad: dict[str, Any]) -> None:
    with pytest.raises(helm.HelmValuesError):
        chart.render(bad, name="rosey")


def test_service_monitor_scrapes_the_metrics_port_of_both_services(render) -> None:
    rendered = render(production_values(), WITH_CHANNEL)
    (monitor,) = rendered.of_kind("ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    selector = monitor["spec"]["selector"]
    (expr,) = selector["matchExpressions"]
    selected = [s for s in rendered.of_kind("Service")
                if all(s["metadata"]["labels"].get(k) == v for k, v in selector["matchLabels"].items())
                and s["metadata"]["labels"]["app.kubernetes.io/component"] in expr["values"]]
    assert sorted(s["metadata"]["name"] for s in selected) == ["rosey-bot", "rosey-dbservice"]
    for endpoint in monitor["spec"]["endpoints"]:
        assert endpoint["path"] == "/metrics"
        for service in selected:
            assert endpoint["port"] in [p["name"] for p in service["spec"]["ports"]]


def test_prometheus_rule_carries_the_alert_groups_file(render) -> None:
    rendered = render(production_values())
    (rule,) = rendered.of_kind("PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    source = yaml.safe_load((CHART_DIR / "files/alerts/rosey-rules.yaml").read_text())
    assert rule["spec"]["groups"] == source["groups"]
    for group in rule["spec"]["groups"]:
        assert group["name"] and group["rules"]
        for r in group["rules"]:
            assert ("alert" in r) != ("record" in r) and r["expr"]


def test_dashboard_config_map_is_labelled_for_the_grafana_sidecar(render) -> None:
    rendered = render({})
    dashboard = rendered.get("ConfigMap", "rosey-dashboard")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    shipped = json.loads((CHART_DIR / "files/dashboards/rosey.json").read_text())
    assert json.loads(dashboard["data"]["rosey.json"]) == shipped


def test_monitoring_objects_are_off_by_default(render) -> None:
    rendered = render({})
    assert not rendered.of_kind("ServiceMonitor")
    assert not rendered.of_kind("PrometheusRule")


def test_merge_escape_hatch_overrides_the_rendered_workload(render) -> None:
    rendered = render({"dbservice": {"merge": {"spec": {"template": {"spec": {
        "priorityClassName": "rosey-high"}}}}}})
    pod = rendered.get("StatefulSet", "rosey-dbservice")["spec"]["template"]["spec"]
    assert pod["priorityClassName"] == "rosey-high"
    assert pod["containers"][0]["name"] == "dbservice"  # the rest survived the merge
