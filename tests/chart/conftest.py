"""Render helm/rosey offline with helm-python-sdk (Helm 4's Go SDK); no cluster, no helm binary.

``render(*values, cluster=...)`` renders as ``helm install`` would against that cluster: Helm
fills ``.Capabilities`` from the API server's discovery, which lists each group/version and each
group/version/kind it serves (``policy/v1/PodDisruptionBudget``). Without a cluster it renders as
``helm template`` does: Helm's own Kubernetes version and group/versions only, no kinds.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml
from helm_python import _native

CHART_DIR = Path(__file__).resolve().parents[2] / "helm" / "rosey"
PRODUCTION_VALUES = CHART_DIR / "values-production.yaml"
RELEASE = "rosey"
NAMESPACE = "rosey-test"

#: (kind, name, container) of each workload, for Rendered.workload_container
DB = ("StatefulSet", "rosey-dbservice", "dbservice")
BOT = ("Deployment", "rosey-bot", "bot")
NATS = ("StatefulSet", "rosey-nats", "nats")

#: a channel, so the bot is deployed (without one the chart leaves it out on purpose)
WITH_CHANNEL: dict[str, Any] = {"cytube": {"channel": "testchannel", "user": "RoseyBot",
                                           "password": "hunter2", "channelPassword": "open"}}


@dataclass(frozen=True)
class Cluster:
    """What a cluster's discovery tells Helm: its version and the APIs it serves."""

    kube_version: str
    api_versions: tuple[str, ...]

    def serving(self, *apis: str) -> Cluster:
        return Cluster(self.kube_version, self.api_versions + apis)


def _served(*group_versions: str, kinds: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    return group_versions + tuple(f"{gv}/{kind}" for gv, ks in kinds.items() for kind in ks)


_CORE = {"v1": ("ConfigMap", "Secret", "Service", "Pod", "PersistentVolumeClaim"),
         "apps/v1": ("StatefulSet", "Deployment"),
         "networking.k8s.io/v1": ("NetworkPolicy",)}
#: the cluster scripts/local-k8s builds from Debian's source: PodDisruptionBudget is v1beta1 only
KUBE_1_20 = Cluster("v1.20.2", _served("v1", "apps/v1", "networking.k8s.io/v1", "policy/v1beta1",
                                       kinds={**_CORE, "policy/v1beta1": ("PodDisruptionBudget",)}))
#: a current cluster: policy/v1beta1 is gone (removed in 1.25)
KUBE_1_30 = Cluster("v1.30.0", _served("v1", "apps/v1", "networking.k8s.io/v1", "policy/v1",
                                       kinds={**_CORE, "policy/v1": ("PodDisruptionBudget",)}))
#: the Prometheus Operator's CRDs, as a cluster with them installed serves them
MONITORING_API = _served("monitoring.coreos.com/v1",
                         kinds={"monitoring.coreos.com/v1": ("ServiceMonitor", "PrometheusRule")})


def deep_merge(*dicts: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for d in dicts:
        for key, value in d.items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = deep_merge(out[key], value)
            else:
                out[key] = value
    return out


def production_values() -> dict[str, Any]:
    return yaml.safe_load(PRODUCTION_VALUES.read_text())


class Rendered:
    """The objects one render produced, with lookups by kind and name."""

    def __init__(self, manifests: dict[str, str]) -> None:
        self.notes = ""
        self.objects: list[dict[str, Any]] = []
        self.source: dict[int, str] = {}
        for path, text in sorted(manifests.items()):
            if path.endswith("NOTES.txt"):
                self.notes = text
                continue
            for doc in yaml.safe_load_all(text):
                if doc:
                    self.source[len(self.objects)] = path
                    self.objects.append(doc)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        found = [o for o in self.of_kind(kind) if o["metadata"]["name"] == name]
        have = [(o["kind"], o["metadata"]["name"]) for o in self.objects]
        assert found, f"no {kind} named {name}; have {have}"
        return found[0]

    def has(self, kind: str, name: str) -> bool:
        return any(o["metadata"]["name"] == name for o in self.of_kind(kind))

    def workload_container(self, kind: str, name: str, container: str) -> dict[str, Any]:
        pod = self.get(kind, name)["spec"]["template"]["spec"]
        return next(c for c in pod["containers"] if c["name"] == container)

    def config_data(self, name: str) -> dict[str, str]:
        return self.get("ConfigMap", name)["data"]


@pytest.fixture(scope="session")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(CHART_DIR) as loaded:
        yield loaded


@pytest.fixture(scope="session")
def render(chart: helm.Chart) -> Callable[..., Rendered]:
    def _render(*values: dict[str, Any], cluster: Cluster | None = None) -> Rendered:
        merged = deep_merge({}, *values)
        if cluster is None:
            return Rendered(chart.render(merged, name=RELEASE, namespace=NAMESPACE,
                                         is_install=True))
        # Chart.render has no keywords for these yet; its native call takes them as options
        opts = {"name": RELEASE, "namespace": NAMESPACE, "is_install": True,
                "kube_version": cluster.kube_version, "api_versions": list(cluster.api_versions)}
        text = _native.call_string("helm_render", chart._raw(), json.dumps(merged),
                                   json.dumps(opts))
        return Rendered(json.loads(text))
    return _render


# --- the rendered NATS, run on this machine ----------------------------------------------------
def local_nats_conf(rendered: Rendered, tmp_path: Path) -> str:
    """The chart's nats.conf with its paths and ports moved somewhere this machine can use."""
    conf = rendered.config_data("rosey-nats-config")["nats.conf"]
    return (conf.replace("store_dir: /data", f"store_dir: {tmp_path / 'js'}")
                .replace("/var/run/nats/nats.pid", str(tmp_path / "nats.pid"))
                .replace("listen: 0.0.0.0:4222", "listen: 127.0.0.1:-1")
                .replace("listen: 0.0.0.0:6222", "listen: 127.0.0.1:-1")
                .replace("http_port: 8222", "http_port: -1"))


def nats_secret_env(rendered: Rendered) -> dict[str, str]:
    """The NATS container's environment as the kubelet gives it: the pod name, and each
    secretKeyRef read from the rendered Secret."""
    import base64

    env = {"SERVER_NAME": "rosey-nats-0"}
    for item in rendered.workload_container(*NATS).get("env", []):
        ref = item.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            data = rendered.get("Secret", ref["name"])["data"]
            env[item["name"]] = base64.b64decode(data[ref["key"]]).decode()
    return env


def chart_passwords(rendered: Rendered) -> dict[str, str]:
    """{user: password} from the rendered NATS Secret."""
    import base64

    data = rendered.get("Secret", "rosey-nats-auth")["data"]
    return {user: base64.b64decode(value).decode() for user, value in data.items()}


@dataclass
class ChartNats:
    """A real nats-server running the chart's rendered nats.conf with its Secret's passwords."""

    url: str
    rendered: Rendered
    passwords: dict[str, str]


@pytest.fixture
async def chart_nats(render: Callable[..., Rendered], tmp_path: Path) -> AsyncIterator[ChartNats]:
    import os

    from rosey.natsd import NatsServer

    rendered = render({})
    conf = tmp_path / "nats.conf"
    conf.write_text(local_nats_conf(rendered, tmp_path))
    server = NatsServer(config_file=conf, jetstream=False,
                        env={**os.environ, **nats_secret_env(rendered)})
    await server.start()
    try:
        yield ChartNats(server.url, rendered, chart_passwords(rendered))
    finally:
        await server.stop()
