"""The web page in the chart (issue 20): a Deployment and a Service on 8080 probed on /healthz and
/readyz, the NATS identity `web` from the auth Secret, an optional Ingress whose host becomes the
bot's ROSEY_WEB_URL, its own NetworkPolicy, scraped like the others, a `helm test` pod that
reaches it through its Service, and NOTES that say how to open it."""

from __future__ import annotations

import asyncio
import inspect
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest

import rosey.cli
import rosey.config
import rosey.web.cli
import rosey.web.settings
from rosey import contract
from rosey.config import NatsAuth, Secret, bot_settings
from rosey.contract import web as web_contract
from rosey.web.settings import DEFAULT_WEB_PORT, web_settings
from tests.support.procs import free_port, http_status, reaped
from tests.support.wait import eventually
from tests.test_nats_auth import Identity

from .conftest import BOT, WEB, WITH_CHANNEL, ChartNats, Rendered
from .test_chart_wiring import bot_process_env, container_env, port_number, process_env

INGRESS: dict[str, Any] = {"web": {"ingress": {
    "enabled": True, "host": "rosey.example.org", "className": "nginx",
    "annotations": {"nginx.ingress.kubernetes.io/proxy-body-size": "64k"},
    "tls": {"enabled": True, "secretName": "rosey-example-tls"}}}}


def _pod(rendered: Rendered, workload: tuple[str, str, str] = WEB) -> dict[str, Any]:
    return rendered.get(workload[0], workload[1])["spec"]["template"]["spec"]


# --- what is deployed ----------------------------------------------------------------------------
def test_the_web_page_is_deployed_by_default_even_without_a_channel(render) -> None:
    rendered = render({})
    deployment = rendered.get("Deployment", "rosey-web")
    assert deployment["spec"]["replicas"] == 1
    # a new pod is Ready before the old one goes: the page stays up through an upgrade
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    assert rendered.has("Service", "rosey-web") and rendered.has("ConfigMap", "rosey-web-config")
    assert rendered.has("Pod", "rosey-web-healthz")
    assert not rendered.of_kind("Ingress")  # off by default


def test_web_enabled_false_leaves_out_every_web_object_and_the_bots_url(render) -> None:
    rendered = render(WITH_CHANNEL, {"web": {"enabled": False,
                                             "publicUrl": "https://rosey.example.org"}}, INGRESS)
    web_objects = [(o["kind"], o["metadata"]["name"]) for o in rendered.objects
                   if "web" in o["metadata"]["name"]]
    assert web_objects == []
    assert "ROSEY_WEB_URL" not in container_env(rendered, *BOT)
    assert "port-forward" not in rendered.notes


def test_the_service_reaches_the_port_the_process_serves(render) -> None:
    rendered = render({})
    service = rendered.get("Service", "rosey-web")
    assert service["spec"]["type"] == "ClusterIP"
    (port,) = service["spec"]["ports"]
    assert (port["name"], port["port"], port["protocol"]) == ("http", DEFAULT_WEB_PORT, "TCP")
    container = rendered.workload_container(*WEB)
    served = int(container_env(rendered, *WEB)["ROSEY_WEB_PORT"])
    assert port_number(container, port["targetPort"]) == served == DEFAULT_WEB_PORT
    labels = rendered.get(*WEB[:2])["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert labels["app.kubernetes.io/component"] == "web"
    # a NotReady page leaves the endpoints (unlike the bot's metrics-only Service)
    assert "publishNotReadyAddresses" not in service["spec"]


def test_the_service_port_moves_the_process_with_it(render, tmp_path) -> None:
    rendered = render({"web": {"service": {"port": 9000}}})
    (port,) = rendered.get("Service", "rosey-web")["spec"]["ports"]
    container = rendered.workload_container(*WEB)
    settings = web_settings(process_env(rendered, *WEB, tmp_path))
    assert port["port"] == port_number(container, port["targetPort"]) == settings.port == 9000
    probe_ports = {port_number(container, container[p]["httpGet"]["port"])
                   for p in ("startupProbe", "livenessProbe", "readinessProbe")}
    assert probe_ports == {9000}


def test_web_settings_from_the_chart_reach_web_settings(render, tmp_path) -> None:
    rendered = render({"web": {"settings": {"logLevel": "debug"}}})
    env = process_env(rendered, *WEB, tmp_path)
    settings = web_settings(env)
    assert (settings.host, settings.port) == ("0.0.0.0", DEFAULT_WEB_PORT)
    assert settings.nats_url == "nats://rosey-nats:4222"
    # its own identity, its own key of the auth Secret, and nothing of the bot's
    assert settings.nats_auth.user == "web"
    assert settings.nats_auth.password is not None
    secret = rendered.get("Secret", "rosey-nats-auth")["data"]
    import base64
    assert settings.nats_auth.password.reveal() == base64.b64decode(secret["web"]).decode()
    assert env["ROSEY_LOG_LEVEL"] == "debug"
    assert not [k for k in env if k.startswith("ROSEY_CYTUBE_")]
    # every variable the chart sets is one the web process reads
    source = "".join(inspect.getsource(m) for m in (rosey.web.settings, rosey.web.cli,
                                                    rosey.config, rosey.cli))
    for name in container_env(rendered, *WEB):
        assert f'"{name.removesuffix("_FILE")}"' in source or f'"{name}"' in source, name


def test_probes_are_healthz_for_life_and_readyz_for_traffic(render) -> None:
    rendered = render({})
    container = rendered.workload_container(*WEB)
    paths = {p: container[p]["httpGet"]["path"] for p in
             ("startupProbe", "livenessProbe", "readinessProbe")}
    assert paths == {"startupProbe": "/healthz", "livenessProbe": "/healthz",
                     "readinessProbe": "/readyz"}
    assert all(container[p]["httpGet"]["port"] == "http" for p in paths)


def test_the_web_pod_follows_the_bots_hardening_and_resources(render) -> None:
    rendered = render(WITH_CHANNEL)
    web, bot = _pod(rendered), _pod(rendered, BOT)
    assert web["securityContext"] == bot["securityContext"]
    for key in ("automountServiceAccountToken", "enableServiceLinks",
                "terminationGracePeriodSeconds"):
        assert web[key] == bot[key], key
    (container,) = web["containers"]
    (bot_container,) = bot["containers"]
    assert container["securityContext"] == bot_container["securityContext"]
    assert container["resources"] == bot_container["resources"]
    # the root filesystem is read-only: /tmp is an emptyDir
    tmp = next(m for m in container["volumeMounts"] if m["name"] == "tmp")
    assert tmp["mountPath"] == "/tmp"
    assert "emptyDir" in next(v for v in web["volumes"] if v["name"] == "tmp")


@pytest.mark.parametrize("change", [{"web": {"settings": {"logLevel": "debug"}}},
                                    {"web": {"service": {"port": 8081}}},
                                    {"nats": {"service": {"port": 4223}}}])
def test_config_changes_roll_the_web_pod(render, change) -> None:
    def annotations(values: dict[str, Any]) -> dict[str, str]:
        template = render(values).get(*WEB[:2])["spec"]["template"]
        return dict(template["metadata"]["annotations"])
    before = annotations({})
    assert before["checksum/config"] and before == annotations({})
    assert annotations(change) != before


# --- the bot's ROSEY_WEB_URL ---------------------------------------------------------------------
@pytest.mark.parametrize("values,url", [
    ({}, None),
    ({"web": {"publicUrl": "https://rosey.example.org/"}}, "https://rosey.example.org"),
    ({"web": {"publicUrl": "http://10.0.0.5:8080/rosey"}}, "http://10.0.0.5:8080/rosey"),
    ({"web": {"ingress": {"enabled": True, "host": "rosey.example.org"}}},
     "http://rosey.example.org"),
    ({"web": {"publicUrl": "https://other.example.org", **INGRESS["web"]}},
     "https://rosey.example.org"),
])
def test_the_bot_gets_the_web_pages_public_url(render, tmp_path, values, url) -> None:
    rendered = render(WITH_CHANNEL, values)
    env = container_env(rendered, *BOT)
    assert env.get("ROSEY_WEB_URL") == url
    settings = bot_settings(bot_process_env(rendered, tmp_path))
    assert settings.web_url == (url or "")


def test_a_new_public_url_rolls_the_bot(render) -> None:
    def checksum(values: dict[str, Any]) -> str:
        template = render(WITH_CHANNEL, values).get(*BOT[:2])["spec"]["template"]
        return str(template["metadata"]["annotations"]["checksum/config"])
    assert checksum({}) != checksum({"web": {"publicUrl": "https://rosey.example.org"}})


# --- the Ingress ---------------------------------------------------------------------------------
def test_the_ingress_routes_its_host_to_the_web_service(render) -> None:
    rendered = render(INGRESS)
    (ingress,) = rendered.of_kind("Ingress")
    kubernetes_validate.validate(ingress, "1.30.0", strict=True)
    assert ingress["apiVersion"] == "networking.k8s.io/v1"  # served since 1.19
    spec = ingress["spec"]
    assert spec["ingressClassName"] == "nginx"
    assert ingress["metadata"]["annotations"] == INGRESS["web"]["ingress"]["annotations"]
    assert spec["tls"] == [{"hosts": ["rosey.example.org"], "secretName": "rosey-example-tls"}]
    (rule,) = spec["rules"]
    assert rule["host"] == "rosey.example.org"
    (path,) = rule["http"]["paths"]
    assert (path["path"], path["pathType"]) == ("/", "Prefix")
    backend = path["backend"]["service"]
    service = rendered.get("Service", backend["name"])
    assert backend["port"]["name"] in [p["name"] for p in service["spec"]["ports"]]


def test_an_ingress_without_tls_or_class_leaves_them_out(render) -> None:
    (ingress,) = render({"web": {"ingress": {"enabled": True, "host": "h.example"}}}).of_kind(
        "Ingress")
    assert "tls" not in ingress["spec"] and "ingressClassName" not in ingress["spec"]
    assert "annotations" not in ingress["metadata"]


@pytest.mark.parametrize("bad", [
    {"web": {"ingress": {"enabled": True}}},  # no host
    {"web": {"ingress": {"enabled": True, "host": "https://rosey.example.org"}}},
    {"web": {"ingress": {"enabled": True, "host": "h.example", "tls": {"enabled": True}}}},
    {"web": {"ingress": {"enabled": True, "host": "h.example", "pathType": "Regex"}}},
    {"web": {"publicUrl": "rosey.example.org"}},  # no scheme: the bot would refuse it
    {"web": {"publicUrl": "ftp://rosey.example.org"}},
    {"web": {"service": {"port": 0}}},
    {"web": {"settings": {"logFormat": "xml"}}},
    {"web": {"replicas": 2}},
    {"networkPolicy": {"webFrom": {"podSelector": {}}}},
])
def test_schema_rejects_web_values_the_chart_or_the_code_cannot_use(chart, bad) -> None:
    with pytest.raises(helm.HelmValuesError):
        chart.render(bad, name="rosey")


# --- network policy, metrics -------------------------------------------------------------------
def test_the_web_port_is_open_to_anyone_unless_webfrom_says(render) -> None:
    rendered = render({})
    policy = rendered.get("NetworkPolicy", "rosey-web")
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= (
        rendered.get(*WEB[:2])["spec"]["template"]["metadata"]["labels"].items())
    (rule,) = policy["spec"]["ingress"]
    assert rule == {"ports": [{"port": "http", "protocol": "TCP"}]}  # no `from`: anyone
    peers = [{"namespaceSelector": {"matchLabels": {"name": "ingress-nginx"}}}]
    restricted = render({"networkPolicy": {"webFrom": peers}})
    (rule,) = restricted.get("NetworkPolicy", "rosey-web")["spec"]["ingress"]
    # the release's own pods (the helm test) stay allowed beside the given peers
    release = rule["from"][0]["podSelector"]["matchLabels"]
    test_pod = restricted.get("Pod", "rosey-web-healthz")
    assert release.items() <= test_pod["metadata"]["labels"].items()
    assert rule["from"][1:] == peers
    # and NATS lets the web pod in (its client rule admits the release's pods)
    nats_policy = rendered.get("NetworkPolicy", "rosey-nats")
    allowed = nats_policy["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"]
    assert allowed.items() <= rendered.get(*WEB[:2])["spec"]["template"]["metadata"][
        "labels"].items()
    assert not render({"networkPolicy": {"enabled": False}}).has("NetworkPolicy", "rosey-web")


# --- NOTES -------------------------------------------------------------------------------------
def test_notes_say_how_to_reach_the_page(render) -> None:
    notes = render({}).notes
    assert "port-forward svc/rosey-web 8080:8080" in notes
    assert "http://127.0.0.1:8080/" in notes
    assert "web.publicUrl" in notes  # no address for login links yet: says how to give one
    with_ingress = render(INGRESS).notes
    assert "https://rosey.example.org/" in with_ingress
    assert "login links" in with_ingress.lower() and "web.publicUrl" not in with_ingress


# --- the rendered NATS: the web identity's rights ----------------------------------------------
async def test_the_chart_nats_lets_web_ask_its_queries_and_nothing_else(chart_nats: ChartNats) -> None:
    db = Identity(chart_nats.url, NatsAuth(user="dbservice",
                                           password=Secret(chart_nats.passwords["dbservice"])))
    async with db as db_nc:
        async def answer(msg) -> None:  # type: ignore[no-untyped-def]
            await msg.respond(b'{"success": true}')
        for subject in web_contract.WEB_DB_QUERIES:
            await db_nc.subscribe(subject, queue=contract.QUEUE_GROUP, cb=answer)
        await db_nc.flush()
        web = Identity(chart_nats.url, NatsAuth(user="web",
                                                password=Secret(chart_nats.passwords["web"])))
        async with web as nc:
            for subject in web_contract.WEB_DB_QUERIES:
                reply = await nc.request(subject, b"{}", timeout=5)
                assert reply.data == b'{"success": true}'
            assert web.refusals == 0
            await web.refused(lambda: nc.publish(contract.MESSAGE_LOG, b"{}"))
            await web.refused(lambda: nc.publish(contract.MODERATION_ACTION, b"{}"))
            await web.refused(lambda: nc.subscribe(web_contract.WEB_REDEEM))


# --- helm test: the web Service answers ------------------------------------------------------------
def _web_test_pod(rendered: Rendered) -> dict[str, Any]:
    pod = rendered.get("Pod", "rosey-web-healthz")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    return pod


async def _run_web_test_pod(pod: dict[str, Any], url: str,
                            deadline: str | None = None) -> subprocess.CompletedProcess[str]:
    container = pod["spec"]["containers"][0]
    assert container["command"][:2] == ["python3", "-c"]
    env = {**os.environ, **{e["name"]: e["value"] for e in container["env"]}, "WEB_URL": url}
    if deadline is not None:
        env["DEADLINE_SECONDS"] = deadline
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", container["command"][2], env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=120)
    return subprocess.CompletedProcess(container["command"], proc.returncode or 0, out.decode())


def test_the_helm_test_pod_asks_the_web_service(render) -> None:
    rendered = render({"web": {"service": {"port": 8081}}})
    pod = _web_test_pod(rendered)
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    service = rendered.get("Service", "rosey-web")
    assert env["WEB_URL"] == f"http://{service['metadata']['name']}:8081"
    assert env["DEADLINE_SECONDS"] == "60"
    # it runs like the other pods: non-root, read-only, no capabilities, the web image
    assert pod["spec"]["containers"][0]["image"] == rendered.workload_container(*WEB)["image"]
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True


async def test_the_helm_test_pod_passes_against_the_real_web_process(
        render, chart_nats: ChartNats, tmp_path: Path) -> None:
    """The web process as the chart runs it (its env, the `web` identity's mounted password)
    on the chart's own nats.conf; the helm test pod's script gets 200 from /healthz and
    /readyz."""
    rendered = chart_nats.rendered
    env = process_env(rendered, *WEB, tmp_path)
    port = free_port()
    env.update(ROSEY_NATS_URL=chart_nats.url, ROSEY_WEB_HOST="127.0.0.1",
               ROSEY_WEB_PORT=str(port), ROSEY_LOG_FORMAT="json")
    log_path = tmp_path / "web.log"
    with open(log_path, "wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "rosey.web", env={**os.environ, **env}, stdout=out,
            stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL)
    async with reaped(proc):
        await eventually(lambda: http_status(port, "/healthz") == 200, timeout=30,
                         what="rosey-web serving")
        result = await _run_web_test_pod(_web_test_pod(rendered), f"http://127.0.0.1:{port}")
        assert result.returncode == 0, result.stdout + log_path.read_text()
        assert f"http://127.0.0.1:{port}/healthz -> 200" in result.stdout
        assert f"http://127.0.0.1:{port}/readyz -> 200" in result.stdout
    assert "nats_permission_denied" not in log_path.read_text()
    assert "nats_auth_refused" not in log_path.read_text()


async def test_the_helm_test_pod_fails_when_nothing_answers(render) -> None:
    result = await _run_web_test_pod(_web_test_pod(render({})),
                                     f"http://127.0.0.1:{free_port()}", deadline="2")
    assert result.returncode != 0
    assert "did not answer 200 within 2s" in result.stdout
