"""helm/rosey renders, lints strictly, every object is valid Kubernetes 1.30, and a 1.20 cluster
gets only kinds it serves."""

from __future__ import annotations

import json
import re
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from .conftest import (
    CHART_DIR,
    KUBE_1_20,
    KUBE_1_30,
    MONITORING_API,
    WITH_CHANNEL,
    Cluster,
    deep_merge,
    production_values,
)

KUBE_VERSION = "1.30.0"
#: Prometheus Operator CRDs: no schema in kubernetes-validate; checked by hand below
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}

VALUE_SETS: dict[str, Any] = {
    "default": lambda: {},
    "default+channel": lambda: WITH_CHANNEL,
    "default+channel+automod": lambda: deep_merge(WITH_CHANNEL, {"automod": {"rules": {
        "rules": [{"name": "caps", "kind": "caps", "ratio": 0.8, "action": "warn"}]}}}),
    "production": production_values,
    "production+channel": lambda: deep_merge(production_values(), WITH_CHANNEL),
    "channel+web-ingress": lambda: deep_merge(WITH_CHANNEL, {"web": {
        "publicUrl": "https://other.example.org",
        "ingress": {"enabled": True, "host": "rosey.example.org", "className": "nginx",
                    "tls": {"enabled": True, "secretName": "rosey-tls"}}},
        "networkPolicy": {"webFrom": [{"podSelector": {"matchLabels": {"app": "ingress"}}}]}}),
    "no-web": lambda: deep_merge(WITH_CHANNEL, {"web": {"enabled": False}}),
    "existing-secret+no-persistence": lambda: deep_merge(WITH_CHANNEL, {
        "bot": {"existingSecret": "my-cytube"},
        "automod": {"existingConfigMap": "my-automod-rules"},
        "nats": {"persistence": {"enabled": False}, "podDisruptionBudget": {"enabled": False}},
        "dbservice": {"persistence": {"enabled": False}},
        "networkPolicy": {"enabled": False},
        "metrics": {"serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True},
                    "dashboard": {"enabled": False}},
    }),
}


@pytest.mark.parametrize("kube_version", ["v1.20.2", f"v{KUBE_VERSION}"])
@pytest.mark.parametrize("values_name", ["default", "production", "production+channel"])
def test_strict_lint_reports_nothing_above_info(values_name: str, kube_version: str) -> None:
    report = helm.lint(CHART_DIR, VALUE_SETS[values_name](), strict=True,
                       kube_version=kube_version)
    assert report["errors"] == []
    # severity: 1 info ("icon is recommended"), 2 warning, 3 error
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize("kube_version,admitted", [
    ("1.19.16", False), ("1.20.2", True), ("1.27.0", True), ("1.30.0", True), ("1.34.1", True)])
def test_chart_installs_on_1_20_and_current_clusters(kube_version: str, admitted: bool) -> None:
    """helm install checks Chart.yaml's kubeVersion (render and lint do not): a lower bound."""
    constraint = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())["kubeVersion"]
    match = re.fullmatch(r">=(\d+)\.(\d+)\.(\d+)-0", constraint)
    assert match, f"kubeVersion {constraint!r} is not a plain lower bound"
    minimum = tuple(int(g) for g in match.groups())
    assert (tuple(int(x) for x in kube_version.split(".")) >= minimum) is admitted


#: offline (helm template) and against a 1.30 cluster with the Prometheus Operator
CLUSTERS_1_30 = {"offline": None, "1.30+monitoring": KUBE_1_30.serving(*MONITORING_API)}


@pytest.mark.parametrize("cluster", sorted(CLUSTERS_1_30))
@pytest.mark.parametrize("values_name", sorted(VALUE_SETS))
def test_every_manifest_is_valid_kubernetes_1_30(render, values_name: str, cluster: str) -> None:
    rendered = render(VALUE_SETS[values_name](), cluster=CLUSTERS_1_30[cluster])
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
    {"nats": {"jetstream": {"syncInterval": "sometimes"}}},  # nats-server would not start
    {"dbservice": {"settings": {"jetstream": "on"}}},
    {"dbservice": {"settings": {"batchSize": 0}}},
    {"bot": {"settings": {"logFormat": "xml"}}},
    {"unknownBlock": {}},
])
def test_schema_rejects_values_the_code_or_chart_cannot_use(chart, bad: dict[str, Any]) -> None:
    with pytest.raises(helm.HelmValuesError):
        chart.render(bad, name="rosey")


def test_service_monitor_scrapes_the_metrics_of_every_service(render) -> None:
    rendered = render(production_values(), WITH_CHANNEL, cluster=KUBE_1_30.serving(*MONITORING_API))
    (monitor,) = rendered.of_kind("ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    selector = monitor["spec"]["selector"]
    (expr,) = selector["matchExpressions"]
    selected = [s for s in rendered.of_kind("Service")
                if all(s["metadata"]["labels"].get(k) == v for k, v in selector["matchLabels"].items())
                and s["metadata"]["labels"]["app.kubernetes.io/component"] in expr["values"]]
    assert sorted(s["metadata"]["name"] for s in selected) == ["rosey-bot", "rosey-dbservice",
                                                              "rosey-web"]
    # each endpoint names a port; every selected Service is scraped through exactly one of them
    # (the web page serves /metrics on its one port, `http`)
    ports = [e["port"] for e in monitor["spec"]["endpoints"]]
    assert all(e["path"] == "/metrics" for e in monitor["spec"]["endpoints"])
    for service in selected:
        named = [p["name"] for p in service["spec"]["ports"]]
        assert len([p for p in ports if p in named]) == 1, (service["metadata"]["name"], named)
    without_web = render(production_values(), WITH_CHANNEL, {"web": {"enabled": False}},
                         cluster=KUBE_1_30.serving(*MONITORING_API))
    (monitor,) = without_web.of_kind("ServiceMonitor")
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["metrics"]


def test_prometheus_rule_carries_the_alert_groups_file(render) -> None:
    rendered = render(production_values(), cluster=KUBE_1_30.serving(*MONITORING_API))
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
    rendered = render({}, cluster=KUBE_1_30.serving(*MONITORING_API))
    assert not rendered.of_kind("ServiceMonitor")
    assert not rendered.of_kind("PrometheusRule")


def test_merge_escape_hatch_overrides_the_rendered_workload(render) -> None:
    rendered = render({"dbservice": {"merge": {"spec": {"template": {"spec": {
        "priorityClassName": "rosey-high"}}}}}})
    pod = rendered.get("StatefulSet", "rosey-dbservice")["spec"]["template"]["spec"]
    assert pod["priorityClassName"] == "rosey-high"
    assert pod["containers"][0]["name"] == "dbservice"  # the rest survived the merge


def served_kinds(cluster: Cluster) -> set[tuple[str, str]]:
    """("apps/v1", "StatefulSet") for each group/version/kind the cluster lists."""
    split = [api.rsplit("/", 1) for api in cluster.api_versions]
    return {(gv, kind) for gv, kind in (s for s in split if len(s) == 2) if kind[:1].isupper()}


@pytest.mark.parametrize("values_name", sorted(VALUE_SETS))
def test_a_1_20_cluster_gets_only_kinds_it_serves(render, values_name: str) -> None:
    """scripts/local-k8s is 1.20: no policy/v1, and no Prometheus Operator."""
    rendered = render(VALUE_SETS[values_name](), cluster=KUBE_1_20)
    served = served_kinds(KUBE_1_20)
    for obj in rendered.objects:
        assert (obj["apiVersion"], obj["kind"]) in served, (obj["apiVersion"], obj["kind"])


@pytest.mark.parametrize("cluster,api_version", [(KUBE_1_20, "policy/v1beta1"),
                                                 (KUBE_1_30, "policy/v1"),
                                                 (None, "policy/v1")])
def test_pod_disruption_budget_uses_the_policy_api_the_cluster_serves(
        render, cluster: Cluster | None, api_version: str) -> None:
    (pdb,) = render(production_values(), cluster=cluster).of_kind("PodDisruptionBudget")
    assert pdb["apiVersion"] == api_version
    assert pdb["spec"]["maxUnavailable"] == 1


def test_offline_render_for_1_20_picks_policy_v1beta1(render) -> None:
    """helm template --kube-version 1.20 lists group/versions only: the version decides."""
    (pdb,) = render(production_values(), cluster=Cluster("v1.20.2", ())).of_kind(
        "PodDisruptionBudget")
    assert pdb["apiVersion"] == "policy/v1beta1"


@pytest.mark.parametrize("cluster", [KUBE_1_20, KUBE_1_30, None])
def test_monitoring_objects_need_the_prometheus_operator_api(render, cluster) -> None:
    """values-production.yaml enables them; a cluster without the CRDs must still install."""
    without = render(production_values(), WITH_CHANNEL, cluster=cluster)
    assert not without.of_kind("ServiceMonitor")
    assert not without.of_kind("PrometheusRule")
    assert "NOT installed" in without.notes and "monitoring.coreos.com/v1" in without.notes
    served = cluster.serving(*MONITORING_API) if cluster else KUBE_1_30.serving(*MONITORING_API)
    with_api = render(production_values(), WITH_CHANNEL, cluster=served)
    assert len(with_api.of_kind("ServiceMonitor")) == 1
    assert len(with_api.of_kind("PrometheusRule")) == 1
    assert "NOT installed" not in with_api.notes
    # disabled stays disabled, and says nothing
    off = render({}, cluster=served)
    assert not off.of_kind("ServiceMonitor") and "NOT installed" not in off.notes


@pytest.mark.parametrize("values_name", sorted(VALUE_SETS))
def test_every_port_names_its_protocol(render, values_name: str) -> None:
    """Helm 4's server-side apply on 1.20 rejects a Service port without `protocol`."""
    rendered = render(VALUE_SETS[values_name](), cluster=KUBE_1_20)
    seen = 0
    for obj in rendered.objects:
        if obj["kind"] == "Service":
            for port in obj["spec"]["ports"]:
                assert port.get("protocol") == "TCP", (obj["metadata"]["name"], port)
                seen += 1
        pod = obj["spec"] if obj["kind"] == "Pod" else obj.get("spec", {}).get("template", {}).get(
            "spec", {})
        for c in pod.get("containers", []) + pod.get("initContainers", []):
            for port in c.get("ports", []):
                assert port.get("protocol") == "TCP", (obj["metadata"]["name"], c["name"], port)
                seen += 1
    assert seen >= 7
