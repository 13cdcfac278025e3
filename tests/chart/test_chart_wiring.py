"""The chart wires the processes the way the code reads its settings and serves its endpoints."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import nats
import pytest
import yaml

import rosey.cli
import rosey.config
from rosey import contract
from rosey.config import (
    DEFAULT_BOT_METRICS_PORT,
    DEFAULT_DB_METRICS_PORT,
    bot_settings,
    db_settings,
    stream_settings,
)
from rosey.metrics import BotMetrics, MetricsServer
from rosey.natsd import NatsServer

from .conftest import (
    BOT,
    DB,
    NATS,
    NATS_ENV,
    WITH_CHANNEL,
    ChartNats,
    Rendered,
    chart_passwords,
    lay_out_config_map_volume,
    lay_out_nats_pod,
    nats_conf_path,
    production_values,
)


def container_env(rendered: Rendered, kind: str, name: str, container: str) -> dict[str, str]:
    """What the process sees: envFrom ConfigMaps, then env (values only)."""
    c = rendered.workload_container(kind, name, container)
    env: dict[str, str] = {}
    for source in c.get("envFrom", []):
        env.update(rendered.config_data(source["configMapRef"]["name"]))
    for item in c.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
    return env


def process_env(rendered: Rendered, kind: str, name: str, container: str,
                tmp_path: Path) -> dict[str, str]:
    """:func:`container_env` with the NATS password mounted as the kubelet mounts it, under
    ``tmp_path`` instead of the mount path (the settings read the identity from it)."""
    import base64

    env = container_env(rendered, kind, name, container)
    c = rendered.workload_container(kind, name, container)
    mount = next(m for m in c["volumeMounts"] if m["name"] == "nats-credentials")
    pod = rendered.get(kind, name)["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == "nats-credentials")["secret"]
    data = rendered.get("Secret", volume["secretName"])["data"]
    (item,) = volume["items"]
    assert env["ROSEY_NATS_PASSWORD_FILE"] == f"{mount['mountPath']}/{item['path']}"
    password = tmp_path / f"{name}-{item['path']}"
    password.write_bytes(base64.b64decode(data[item["key"]]))
    env["ROSEY_NATS_PASSWORD_FILE"] = str(password)
    return env


def port_number(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    return next(p["containerPort"] for p in container["ports"] if p["name"] == port)


#: automatic moderation rules, as the chart takes them (tests/chart/test_chart_automod.py)
AUTOMOD: dict[str, Any] = {"automod": {"rules": {"rules": [
    {"name": "caps", "kind": "caps", "ratio": 0.8, "action": "warn"}]}}}


# --- names -------------------------------------------------------------------------------------
def test_every_rosey_variable_the_chart_sets_is_one_the_code_reads(render) -> None:
    source = inspect.getsource(rosey.config) + inspect.getsource(rosey.cli)
    for rendered in (render(WITH_CHANNEL), render(WITH_CHANNEL, AUTOMOD)):
        for workload in (DB, BOT):
            for name in container_env(rendered, *workload):
                assert name.startswith("ROSEY_")
                read_as = name.removesuffix("_FILE")  # *_FILE is read by config._read for any name
                assert f'"{read_as}"' in source or f'"{name}"' in source, \
                    f"{name} is set by the chart but never read"


def test_dbservice_settings_from_the_chart_reach_db_settings(render, tmp_path) -> None:
    rendered = render({"nats": {"replicas": 3}, "dbservice": {"settings": {"batchSize": 64}}})
    settings = db_settings(process_env(rendered, *DB, tmp_path))
    assert settings.nats_auth.user == "dbservice"  # the identity is a setting too
    assert settings.nats_auth.password is not None
    assert settings.nats_auth.password.reveal() == chart_passwords(rendered)["dbservice"]
    assert settings.db_path == Path("/data/rosey.db")
    assert settings.nats_url == "nats://rosey-nats:4222"
    assert settings.metrics_port == DEFAULT_DB_METRICS_PORT
    assert settings.batch_size == 64
    assert settings.jetstream == "auto"
    assert settings.stream.replicas == 3
    assert settings.stream.duplicate_window_seconds == 120.0


def bot_process_env(rendered: Rendered, tmp_path: Path) -> dict[str, str]:
    """:func:`process_env` of the bot with its CyTube Secret laid out as the kubelet would,
    under ``tmp_path`` instead of the mount path."""
    env = process_env(rendered, *BOT, tmp_path)
    container = rendered.workload_container(*BOT)
    pod = rendered.get("Deployment", "rosey-bot")["spec"]["template"]["spec"]
    mount = next(m for m in container["volumeMounts"] if m["name"] == "cytube-credentials")
    volume = next(v for v in pod["volumes"] if v["name"] == "cytube-credentials")
    secret = rendered.get("Secret", volume["secret"]["secretName"])
    import base64
    files = {item["path"]: base64.b64decode(secret["data"][item["key"]]).decode()
             for item in volume["secret"]["items"]}
    for path, text in files.items():
        (tmp_path / path).write_text(text)
    for name in ("ROSEY_CYTUBE_PASSWORD_FILE", "ROSEY_CYTUBE_CHANNEL_PASSWORD_FILE"):
        assert os.path.dirname(env[name]) == mount["mountPath"]
        env[name] = str(tmp_path / os.path.basename(env[name]))
    return env


@pytest.mark.parametrize("automod", [False, True])
def test_bot_settings_from_the_chart_and_mounted_secret_reach_bot_settings(
        render, tmp_path, automod: bool) -> None:
    rendered = render(WITH_CHANNEL, AUTOMOD if automod else {})
    env = bot_process_env(rendered, tmp_path)
    assert "ROSEY_CYTUBE_PASSWORD" not in env  # the password never sits in the pod spec
    settings = bot_settings(env)
    assert settings.channel == "testchannel"
    assert settings.user == "RoseyBot"
    assert settings.domain == "https://cytu.be"
    assert settings.password.reveal() == "hunter2"
    assert settings.channel_password.reveal() == "open"
    assert settings.metrics_port == DEFAULT_BOT_METRICS_PORT
    assert settings.nats_url == "nats://rosey-nats:4222"
    assert settings.nats_auth.user == "bot"
    if not automod:
        assert settings.automod_file == ""  # no rules: no automatic moderation
        return
    # the rules file is read where the chart mounts its ConfigMap (a directory, no subPath)
    container = rendered.workload_container(*BOT)
    pod = rendered.get("Deployment", "rosey-bot")["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == "automod")
    mount = next(m for m in container["volumeMounts"] if m["name"] == "automod")
    assert "subPath" not in mount
    (item,) = volume["configMap"]["items"]
    assert settings.automod_file == f"{mount['mountPath']}/{item['path']}"
    # laid out as the kubelet does (..data symlinks), the file there is the chart's rules
    lay_out_config_map_volume(rendered, *BOT, "automod", tmp_path / "pod")
    local = tmp_path / "pod" / settings.automod_file.lstrip("/")
    assert yaml.safe_load(local.read_text()) == AUTOMOD["automod"]["rules"]


def test_existing_secret_replaces_the_chart_secret(render) -> None:
    rendered = render(WITH_CHANNEL, {"bot": {"existingSecret": "my-cytube"}})
    assert [s["metadata"]["name"] for s in rendered.of_kind("Secret")] == ["rosey-nats-auth"]
    pod = rendered.get("Deployment", "rosey-bot")["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == "cytube-credentials")
    assert volume["secret"]["secretName"] == "my-cytube"
    assert {i["key"] for i in volume["secret"]["items"]} == {"password", "channel-password"}


def test_bot_is_left_out_without_a_channel_and_notes_say_so(render) -> None:
    rendered = render({})
    assert [d["metadata"]["name"] for d in rendered.of_kind("Deployment")] == ["rosey-web"]
    assert [s["metadata"]["name"] for s in rendered.of_kind("Secret")] == ["rosey-nats-auth"]
    assert "cytube.channel" in rendered.notes
    assert "cytube.channel" not in render(WITH_CHANNEL).notes


def test_bot_is_one_replica_replaced_with_recreate(render) -> None:
    spec = render(WITH_CHANNEL).get("Deployment", "rosey-bot")["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}


# --- storage -----------------------------------------------------------------------------------
@pytest.mark.parametrize("values", [{}, "production"])
def test_sqlite_file_lives_on_the_dbservice_pvc(render, values) -> None:
    rendered = render(production_values() if values == "production" else {})
    sts = rendered.get("StatefulSet", "rosey-dbservice")
    assert sts["spec"]["replicas"] == 1
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    size = (production_values()["dbservice"]["persistence"]["size"] if values == "production"
            else "1Gi")
    assert claim["spec"]["resources"]["requests"]["storage"] == size
    container = rendered.workload_container(*DB)
    mount = next(m for m in container["volumeMounts"] if m["name"] == claim["metadata"]["name"])
    db_path = container_env(rendered, *DB)["ROSEY_DB_PATH"]
    assert Path(db_path).parent == Path(mount["mountPath"])


def test_jetstream_store_lives_on_the_nats_pvc(render) -> None:
    rendered = render({})
    sts = rendered.get("StatefulSet", "rosey-nats")
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    container = rendered.workload_container(*NATS)
    mount = next(m for m in container["volumeMounts"] if m["name"] == claim["metadata"]["name"])
    conf = rendered.config_data("rosey-nats-config")["nats.conf"]
    assert f"store_dir: {mount['mountPath']}" in conf


@pytest.mark.parametrize(("values", "synced"), [({}, "always"),
                                               ({"syncInterval": "2m"}, "2m")])
def test_jetstream_flushes_before_acknowledging_unless_told_otherwise(render, values,
                                                                     synced) -> None:
    # docs/durability.md; a real nats-server takes this file in
    # test_rendered_nats_conf_starts_a_real_nats_server
    conf = render({"nats": {"jetstream": values}}).config_data("rosey-nats-config")["nats.conf"]
    assert f"\n  sync_interval: {synced}\n" in conf


# --- probes ------------------------------------------------------------------------------------
#: the DatabaseService is Ready when it ingests (NATS is in the release); the bot, which nobody
#: sends traffic to, when it serves: helm install --wait must not hang on an unreachable CyTube
READINESS_PATH = {DB: "/readyz", BOT: "/healthz"}


@pytest.mark.parametrize("workload,default_port", [(DB, DEFAULT_DB_METRICS_PORT),
                                                   (BOT, DEFAULT_BOT_METRICS_PORT)])
def test_probes_target_the_metrics_server_the_process_starts(render, workload, default_port) -> None:
    rendered = render(WITH_CHANNEL)
    container = rendered.workload_container(*workload)
    env = container_env(rendered, *workload)
    served = int(env["ROSEY_METRICS_PORT"])
    assert served == default_port
    paths = {}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        get = container[probe]["httpGet"]
        assert port_number(container, get["port"]) == served
        paths[probe] = get["path"]
    assert paths == {"startupProbe": "/healthz", "livenessProbe": "/healthz",
                     "readinessProbe": READINESS_PATH[workload]}
    # and the metrics server really answers those paths (ready and not ready)
    for ready, readyz_status in ((True, 200), (False, 503)):
        server = MetricsServer(registry=BotMetrics().registry,
                               ready=lambda r=ready: (r, {"nats": r}), host="127.0.0.1").start()
        try:
            for path, expected in (("/healthz", 200), ("/readyz", readyz_status),
                                   ("/metrics", 200)):
                try:
                    status = urllib.request.urlopen(
                        f"http://127.0.0.1:{server.port}{path}", timeout=5).status
                except urllib.error.HTTPError as exc:
                    status = exc.code
                assert status == expected, path
        finally:
            server.stop()


def test_metrics_services_expose_the_served_ports(render) -> None:
    rendered = render(WITH_CHANNEL)
    for kind, name, container_name in (DB, BOT):
        service = rendered.get("Service", name)
        # a NotReady pod stays scraped: its rosey_ready 0 is what the NotReady alerts read
        assert service["spec"]["publishNotReadyAddresses"] is True
        (port,) = service["spec"]["ports"]
        container = rendered.workload_container(kind, name, container_name)
        assert port_number(container, port["targetPort"]) == port["port"]
        assert service["spec"]["selector"].items() <= (
            rendered.get(kind, name)["spec"]["template"]["metadata"]["labels"].items())


def test_nats_probes_use_the_monitoring_healthz(render) -> None:
    rendered = render({})
    container = rendered.workload_container(*NATS)
    monitor = port_number(container, "monitor")
    assert monitor == 8222
    assert "http_port: 8222" in rendered.config_data("rosey-nats-config")["nats.conf"]
    paths = {p: container[p]["httpGet"]["path"] for p in
             ("startupProbe", "readinessProbe", "livenessProbe")}
    assert all(path.startswith("/healthz") for path in paths.values())
    assert paths["livenessProbe"] == "/healthz?js-enabled-only=true"


def test_lame_duck_only_where_there_is_another_server_to_move_to(render) -> None:
    single = render({}).workload_container(*NATS)
    assert "lifecycle" not in single  # nowhere to move clients: SIGTERM stops it at once
    rendered = render({"nats": {"replicas": 3}})
    container = rendered.workload_container(*NATS)
    assert container["lifecycle"]["preStop"]["exec"]["command"] == [
        "nats-server", "--signal", "ldm=/var/run/nats/nats.pid"]
    conf = rendered.config_data("rosey-nats-config")["nats.conf"]
    assert "pid_file: /var/run/nats/nats.pid" in conf
    assert "lame_duck_duration: 30s" in conf
    grace = rendered.get("StatefulSet", "rosey-nats")["spec"]["template"]["spec"][
        "terminationGracePeriodSeconds"]
    assert grace > 30 + 10  # lame duck duration + grace period fit before SIGKILL


# --- NATS cluster ------------------------------------------------------------------------------
@pytest.mark.parametrize("replicas", [1, 3, 5])
def test_stream_replicas_follow_nats_replicas(render, tmp_path, replicas: int) -> None:
    rendered = render({**WITH_CHANNEL, "nats": {"replicas": replicas}})
    assert rendered.get("StatefulSet", "rosey-nats")["spec"]["replicas"] == replicas
    stream = db_settings(process_env(rendered, *DB, tmp_path)).stream
    assert stream.replicas == replicas
    # the bot creates the stream when it finds none: with the same settings
    bot_env = container_env(rendered, *BOT)
    assert stream_settings(bot_env) == stream and "ROSEY_STREAM_REPLICAS" in bot_env


def test_three_nats_replicas_route_to_each_other_over_the_headless_service(render) -> None:
    rendered = render({"nats": {"replicas": 3}})
    sts = rendered.get("StatefulSet", "rosey-nats")
    headless = rendered.get("Service", sts["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True
    assert sts["spec"]["podManagementPolicy"] == "Parallel"
    cluster_port = next(p["port"] for p in headless["spec"]["ports"] if p["name"] == "cluster")
    conf = rendered.config_data("rosey-nats-config")["nats.conf"]
    routes = re.findall(r"nats://(\S+)", conf)
    assert routes == [f"rosey-nats-{i}.{headless['metadata']['name']}:{cluster_port}"
                      for i in range(3)]
    container = rendered.workload_container(*NATS)
    assert port_number(container, "cluster") == cluster_port
    pdb = rendered.get("PodDisruptionBudget", "rosey-nats")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"].items() <= (
        sts["spec"]["template"]["metadata"]["labels"].items())


def test_single_nats_has_no_cluster_block(render) -> None:
    conf = render({}).config_data("rosey-nats-config")["nats.conf"]
    assert "cluster {" not in conf and "routes" not in conf


@pytest.mark.parametrize("replicas", [1, 3])
async def test_rendered_nats_conf_starts_a_real_nats_server(render, tmp_path, replicas: int) -> None:
    rendered = render({"nats": {"replicas": replicas}})
    assert lay_out_nats_pod(rendered, tmp_path).returncode == 0
    # jetstream=False: no -js flag, the file itself must turn JetStream on. A rejected config
    # raises NatsServerError with nats-server's fatal lines.
    server = NatsServer(config_file=nats_conf_path(rendered, tmp_path), jetstream=False,
                        ready_timeout=20, env={**os.environ, **NATS_ENV})
    async with server:
        assert "rosey-nats-0" in server.log_text
        assert "Starting JetStream" in server.log_text
    assert server.stopped is not None and server.stopped.code == 0


# --- hardening and rollouts --------------------------------------------------------------------
def test_every_pod_runs_non_root_read_only_with_no_capabilities(render) -> None:
    rendered = render(WITH_CHANNEL)
    pods = [o["spec"]["template"]["spec"] for o in rendered.objects
            if o["kind"] in ("StatefulSet", "Deployment")]
    pods += [o["spec"] for o in rendered.of_kind("Pod")]
    assert len(pods) == 6  # nats, dbservice, bot, web, the two helm test pods
    for pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]


@pytest.mark.parametrize("workload,change", [
    (DB, {"dbservice": {"settings": {"batchSize": 32}}}),
    (BOT, {"cytube": {"channel": "other"}}),
    (BOT, {"cytube": {"password": "changed"}}),
    (NATS, {"nats": {"lameDuckDuration": "45s"}}),
])
def test_config_changes_roll_the_pods(render, workload, change) -> None:
    def annotations(values: dict[str, Any]) -> dict[str, str]:
        obj = render(WITH_CHANNEL, values).get(workload[0], workload[1])
        return obj["spec"]["template"]["metadata"]["annotations"]
    before, after = annotations({}), annotations(change)
    assert any(k.startswith("checksum/") for k in before)
    assert before != after
    assert annotations({}) == before  # stable when nothing changed


def test_network_policy_lets_release_pods_reach_nats(render) -> None:
    rendered = render(WITH_CHANNEL)
    policy = rendered.get("NetworkPolicy", "rosey-nats")
    client_rule = next(r for r in policy["spec"]["ingress"]
                       if r["ports"] == [{"port": 4222, "protocol": "TCP"}])
    allowed = client_rule["from"][0]["podSelector"]["matchLabels"]
    for kind, name, _ in (DB, BOT):
        labels = rendered.get(kind, name)["spec"]["template"]["metadata"]["labels"]
        assert allowed.items() <= labels.items()
    test_pod = rendered.of_kind("Pod")[0]
    assert allowed.items() <= test_pod["metadata"]["labels"].items()


# --- helm test ---------------------------------------------------------------------------------
def _test_pod(rendered: Rendered) -> dict[str, Any]:
    pod = rendered.get("Pod", "rosey-request-reply")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    return pod


async def _run_test_pod_script(pod: dict[str, Any], url: str,
                               password_file: Path) -> subprocess.CompletedProcess[str]:
    """The pod's script with its env, the URL and its mounted password file moved here."""
    import asyncio
    container = pod["spec"]["containers"][0]
    assert container["command"][:2] == ["python3", "-c"]
    env = {**os.environ, **{e["name"]: e["value"] for e in container["env"]}, "ROSEY_NATS_URL": url,
           "ROSEY_NATS_PASSWORD_FILE": str(password_file)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", container["command"][2], env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    return subprocess.CompletedProcess(container["command"], proc.returncode or 0, out.decode())


async def _helm_test_against(chart_nats: ChartNats, tmp_path: Path,
                             reply: bytes) -> subprocess.CompletedProcess[str]:
    """Run the helm test pod as the operator against the chart's own NATS config, with a
    stand-in DatabaseService (connected as dbservice) answering ``reply``."""
    pod = _test_pod(chart_nats.rendered)
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    assert env["ROSEY_NATS_USER"] == "operator"
    mount = next(m for m in pod["spec"]["containers"][0]["volumeMounts"]
                 if m["name"] == "nats-credentials")
    assert env["ROSEY_NATS_PASSWORD_FILE"] == f"{mount['mountPath']}/password"
    volume = next(v for v in pod["spec"]["volumes"] if v["name"] == "nats-credentials")
    assert volume["secret"]["items"] == [{"key": "operator", "path": "password"}]
    password_file = tmp_path / "operator.password"
    password_file.write_text(chart_nats.passwords["operator"])
    nc = await nats.connect(chart_nats.url, user="dbservice",
                            password=chart_nats.passwords["dbservice"])
    try:
        async def answer(msg):
            await msg.respond(reply)
        await nc.subscribe(contract.QUERY_CHANNEL_STATS, queue=contract.QUEUE_GROUP, cb=answer)
        await nc.flush()
        return await _run_test_pod_script(pod, chart_nats.url, password_file)
    finally:
        await nc.close()


async def test_helm_test_pod_passes_when_the_dbservice_answers(render, chart_nats, tmp_path) -> None:
    pod = _test_pod(render({}))
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    assert env["ROSEY_NATS_URL"] == "nats://rosey-nats:4222"
    assert env["QUERY_SUBJECT"] == contract.QUERY_CHANNEL_STATS
    script = pod["spec"]["containers"][0]["command"][2]
    assert contract.QUERY_CHANNEL_STATS not in script  # typed once, in the chart's helper
    result = await _helm_test_against(chart_nats, tmp_path, contract.encode({
        "success": True, "high_water_mark": {"users": 0, "timestamp": None},
        "high_water_connected": {"users": 0, "timestamp": None},
        "top_chatters": [], "total_users_seen": 0}))
    assert result.returncode == 0, result.stdout
    assert contract.QUERY_CHANNEL_STATS in result.stdout


async def test_helm_test_pod_fails_when_the_dbservice_answers_an_error(chart_nats, tmp_path) -> None:
    result = await _helm_test_against(chart_nats, tmp_path, contract.error_reply(
        contract.QUERY_CHANNEL_STATS, "database unavailable"))
    assert result.returncode != 0
    assert "error" in result.stdout
