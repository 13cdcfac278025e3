"""The chart's escape hatches and opt-ins: per-object merge/patch, ports, volume permissions."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest

from .conftest import BOT, DB, NATS, WEB, WITH_CHANNEL, Rendered, production_values

WORKLOADS = {"nats": NATS, "dbservice": DB, "bot": BOT, "web": WEB}


def pod_spec(rendered: Rendered, workload: tuple[str, str, str]) -> dict[str, Any]:
    return rendered.get(workload[0], workload[1])["spec"]["template"]["spec"]


# --- merge and patch, one per object -----------------------------------------------------------
@pytest.mark.parametrize("block", sorted(WORKLOADS))
def test_container_merge_changes_the_container_and_keeps_the_rest_of_it(render, block) -> None:
    workload = WORKLOADS[block]
    before = render(WITH_CHANNEL).workload_container(*workload)
    limits = {"cpu": "750m", "memory": "300Mi"}
    after = render(WITH_CHANNEL, {block: {"container": {"merge": {
        "resources": {"limits": limits}}}}}).workload_container(*workload)
    assert after["resources"]["limits"] == limits
    assert after["resources"]["requests"] == before["resources"]["requests"]  # deep-merged
    # nothing else of the container was lost (the old chart could only merge the whole
    # workload, and merging spec.template.spec.containers left [{"resources": ...}])
    assert {k: v for k, v in after.items() if k != "resources"} == {
        k: v for k, v in before.items() if k != "resources"}
    for key in ("name", "image", "readinessProbe", "livenessProbe", "startupProbe",
                "securityContext", "volumeMounts", "ports"):
        assert after[key], key
    assert after.get("env") or after.get("envFrom")


@pytest.mark.parametrize("block", sorted(WORKLOADS))
def test_pod_template_merge_keeps_the_containers(render, block) -> None:
    workload = WORKLOADS[block]
    before = pod_spec(render(WITH_CHANNEL), workload)
    rendered = render(WITH_CHANNEL, {block: {"podTemplate": {"merge": {
        "metadata": {"annotations": {"example.com/owner": "ops"}},
        "spec": {"priorityClassName": "rosey-high"}}}}})
    template = rendered.get(workload[0], workload[1])["spec"]["template"]
    assert template["spec"]["priorityClassName"] == "rosey-high"
    assert template["metadata"]["annotations"]["example.com/owner"] == "ops"
    assert any(k.startswith("checksum/") for k in template["metadata"]["annotations"])
    assert template["spec"]["containers"] == before["containers"]
    assert template["spec"]["volumes"] == before["volumes"]


def test_patch_adds_a_sidecar_and_an_env_entry_and_removes_a_key(render) -> None:
    sidecar = {"name": "litestream", "image": "litestream/litestream:0.3",
               "volumeMounts": [{"name": "data", "mountPath": "/data"}]}
    rendered = render({"dbservice": {
        "podTemplate": {"patch": [{"op": "add", "path": "/spec/containers/-", "value": sidecar}]},
        "container": {"patch": [
            {"op": "add", "path": "/env", "value": [{"name": "TZ", "value": "UTC"}]},
            {"op": "add", "path": "/env/0", "value": {"name": "LANG", "value": "C.UTF-8"}},
            {"op": "replace", "path": "/readinessProbe/periodSeconds", "value": 15},
            {"op": "remove", "path": "/startupProbe"}]},
        "patch": [{"op": "replace", "path": "/metadata/labels/app.kubernetes.io~1part-of",
                   "value": "rosey-prod"}]}})
    sts = rendered.get("StatefulSet", "rosey-dbservice")
    containers = sts["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["dbservice", "litestream"]
    assert containers[1] == sidecar
    main = containers[0]
    assert main["env"] == [{"name": "LANG", "value": "C.UTF-8"}, {"name": "TZ", "value": "UTC"}]
    assert main["readinessProbe"]["periodSeconds"] == 15
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert "startupProbe" not in main
    assert main["ports"] == [{"name": "metrics", "containerPort": 9101, "protocol": "TCP"}]
    assert sts["metadata"]["labels"]["app.kubernetes.io/part-of"] == "rosey-prod"


def test_merge_then_patch_on_the_workload_itself(render) -> None:
    rendered = render({"nats": {
        "merge": {"spec": {"minReadySeconds": 5}},
        "patch": [{"op": "add", "path": "/spec/volumeClaimTemplates/0/metadata/annotations",
                   "value": {"backup.example.com/enabled": "true"}}]}})
    sts = rendered.get("StatefulSet", "rosey-nats")
    assert sts["spec"]["minReadySeconds"] == 5
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["annotations"] == {"backup.example.com/enabled": "true"}
    assert claim["metadata"]["name"] == "data"


@pytest.mark.parametrize("op,message", [
    ({"op": "replace", "path": "/nope", "value": 1}, 'no key "nope"'),
    ({"op": "remove", "path": "/ports/3"}, "out of range"),
    ({"op": "add", "path": "/ports/x", "value": {}}, "is not a list index"),
    ({"op": "add", "path": "/name/deeper", "value": 1}, "not a map or list"),
])
def test_a_patch_that_does_not_fit_fails_the_render_naming_the_file(render, op, message) -> None:
    with pytest.raises(helm.HelmError) as caught:
        render({"nats": {"container": {"patch": [op]}}})
    assert "files/nats/nats-container.yaml" in str(caught.value)
    assert message in str(caught.value)


@pytest.mark.parametrize("bad", [
    {"nats": {"container": {"patch": [{"op": "move", "path": "/a", "from": "/b"}]}}},
    {"bot": {"container": {"patch": [{"op": "add", "path": "env"}]}}},
    {"dbservice": {"podTemplate": {"merge": [], "patch": []}}},
    {"dbservice": {"container": {"mrege": {}}}},
    {"nats": {"service": {"clusterPort": 6222}}},
])
def test_schema_rejects_malformed_overrides(chart, bad: dict[str, Any]) -> None:
    with pytest.raises(helm.HelmValuesError):
        chart.render(bad, name="rosey")


# --- NATS: the pods' listen ports apart from the Service's -------------------------------------
def test_nats_service_port_moves_without_moving_the_server(render) -> None:
    rendered = render(WITH_CHANNEL, {"nats": {"replicas": 3, "service": {"port": 14222}}})
    service = rendered.get("Service", "rosey-nats")
    client = next(p for p in service["spec"]["ports"] if p["name"] == "nats")
    assert client == {"name": "nats", "port": 14222, "targetPort": "nats", "protocol": "TCP",
                      "appProtocol": "tcp"}
    container = rendered.workload_container(*NATS)
    assert {"name": "nats", "containerPort": 4222, "protocol": "TCP"} in container["ports"]
    assert "listen: 0.0.0.0:4222" in rendered.config_data("rosey-nats-config")["nats.conf"]
    for config in ("rosey-dbservice-config", "rosey-bot-config"):
        assert rendered.config_data(config)["ROSEY_NATS_URL"] == "nats://rosey-nats:14222"
    # NetworkPolicy ports are the pods' ports
    policy = rendered.get("NetworkPolicy", "rosey-nats")
    assert [r["ports"] for r in policy["spec"]["ingress"]][0] == [{"port": 4222, "protocol": "TCP"}]


def test_nats_listen_ports_move_everything_that_reaches_the_pods(render) -> None:
    rendered = render({"nats": {"replicas": 3,
                                "ports": {"client": 5222, "monitor": 9222, "cluster": 7222}}})
    conf = rendered.config_data("rosey-nats-config")["nats.conf"]
    assert "listen: 0.0.0.0:5222" in conf and "http_port: 9222" in conf
    assert "listen: 0.0.0.0:7222" in conf and conf.count(":7222") == 4  # listen + 3 routes
    container = rendered.workload_container(*NATS)
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {
        "nats": 5222, "monitor": 9222, "cluster": 7222}
    headless = rendered.get("Service", "rosey-nats-headless")
    assert {p["name"]: p["port"] for p in headless["spec"]["ports"]} == {
        "nats": 5222, "monitor": 9222, "cluster": 7222}
    service = rendered.get("Service", "rosey-nats")
    assert {p["name"]: (p["port"], p["targetPort"]) for p in service["spec"]["ports"]} == {
        "nats": (4222, "nats"), "monitor": (8222, "monitor")}
    policy = rendered.get("NetworkPolicy", "rosey-nats")
    assert sorted(r["ports"][0]["port"] for r in policy["spec"]["ingress"]) == [5222, 7222, 9222]
    assert rendered.config_data("rosey-dbservice-config")["ROSEY_NATS_URL"] == (
        "nats://rosey-nats:4222")


# --- volume permissions ------------------------------------------------------------------------
def test_volume_permissions_are_off_by_default(render) -> None:
    rendered = render(production_values(), WITH_CHANNEL)
    for workload in WORKLOADS.values():
        assert "volume-permissions" not in _init_names(pod_spec(rendered, workload))


def _init_names(pod: dict) -> list[str]:
    """The pod's init containers (the NATS pod always has nats-passwords, with NATS auth on)."""
    return [c["name"] for c in pod.get("initContainers", [])]


@pytest.mark.parametrize("block,owner", [("nats", "1000:1000"), ("dbservice", "10001:10001")])
def test_volume_permissions_chown_the_data_volume_with_chown_only(render, block, owner) -> None:
    rendered = render(WITH_CHANNEL, {"volumePermissions": {"enabled": True}})
    workload = WORKLOADS[block]
    pod = pod_spec(rendered, workload)
    init = pod["initContainers"][0]  # first: the data is its user's before anything else runs
    main = rendered.workload_container(*workload)
    assert init["name"] == "volume-permissions"
    # then the NATS passwords, or the DatabaseService's restore of a lost volume (which needs
    # /data to be its user's)
    assert _init_names(pod)[1:] == (["nats-passwords"] if block == "nats" else ["restore"])
    assert init["image"] == main["image"]  # the component's own image: nothing else to pull
    data = next(m for m in main["volumeMounts"] if m["name"] == "data")
    assert init["volumeMounts"] == [{"name": "data", "mountPath": data["mountPath"]}]
    assert f"chown -R {owner} /data" in init["command"][2]
    uid, gid = (int(x) for x in owner.split(":"))
    assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == (uid, gid)
    sc = init["securityContext"]
    assert sc["runAsUser"] == 0 and sc["runAsNonRoot"] is False
    assert sc["capabilities"] == {"drop": ["ALL"], "add": ["CHOWN"]}
    assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
    assert init["resources"]["limits"]["memory"]
    # the bot has no volume; the main containers stay as they were
    assert "initContainers" not in pod_spec(rendered, BOT)
    assert main == render(WITH_CHANNEL).workload_container(*workload)


def test_volume_permissions_follow_the_pod_user_and_skip_emptydir(render) -> None:
    rendered = render({"volumePermissions": {"enabled": True},
                       "dbservice": {"podSecurityContext": {"runAsUser": 20000,
                                                            "runAsGroup": 20001}},
                       "nats": {"persistence": {"enabled": False}}})
    init, restore = pod_spec(rendered, DB)["initContainers"]
    assert "chown -R 20000:20001 /data" in init["command"][2]
    assert restore["name"] == "restore"
    assert _init_names(pod_spec(rendered, NATS)) == ["nats-passwords"]


def _run_as_the_init_container(command: list[str], data: Path) -> subprocess.CompletedProcess[str]:
    """The init container's shell command against `data`, as root with CAP_CHOWN only."""
    script = command[2].replace("/data", str(data))
    return subprocess.run(["setpriv", "--bounding-set=-all,+chown", "--inh-caps=-all",
                           "--", *command[:2], script],
                          capture_output=True, text=True, timeout=30, check=False)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="chown to another uid needs root (CI runs as root)")
def test_volume_permissions_script_hands_a_root_owned_volume_over_once(render, tmp_path) -> None:
    init = pod_spec(render({"volumePermissions": {"enabled": True}}), NATS)["initContainers"][0]
    assert init["name"] == "volume-permissions"
    data = tmp_path / "volume"
    (data / "jetstream").mkdir(parents=True)
    (data / "jetstream" / "meta.inf").write_text("x")
    os.chown(data, 0, 0)
    first = _run_as_the_init_container(init["command"], data)
    assert first.returncode == 0, first.stderr
    assert "belongs to 0:0: chown -R 1000:1000" in first.stdout
    for path in (data, data / "jetstream", data / "jetstream" / "meta.inf"):
        assert (path.stat().st_uid, path.stat().st_gid) == (1000, 1000), path
    # once handed over, a restart changes nothing (and needs no capability to say so)
    (data / "jetstream" / "meta.inf").chmod(0o600)
    os.chown(data / "jetstream" / "meta.inf", 0, 0)
    again = _run_as_the_init_container(init["command"], data)
    assert again.returncode == 0, again.stderr
    assert "already belongs to 1000:1000" in again.stdout
    assert (data / "jetstream" / "meta.inf").stat().st_uid == 0


# --- helm test ---------------------------------------------------------------------------------
def test_helm_test_pods_stay_until_the_next_run_for_their_logs(render) -> None:
    pods = render({}).of_kind("Pod")
    assert sorted(p["metadata"]["name"] for p in pods) == ["rosey-request-reply",
                                                          "rosey-web-healthz"]
    for pod in pods:
        annotations = pod["metadata"]["annotations"]
        assert annotations["helm.sh/hook"] == "test"
        # hook-succeeded would delete it before `helm test --logs` reads it
        assert annotations["helm.sh/hook-delete-policy"] == "before-hook-creation"
