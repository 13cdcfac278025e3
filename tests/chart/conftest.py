"""Render helm/rosey offline with helm-python-sdk (Helm 4's Go SDK); no cluster, no helm binary.

``render(*values, cluster=...)`` renders as ``helm install`` would against that cluster: Helm
fills ``.Capabilities`` from the API server's discovery, which lists each group/version and each
group/version/kind it serves (``policy/v1/PodDisruptionBudget``). Without a cluster it renders as
``helm template`` does: Helm's own Kubernetes version and group/versions only, no kinds.
"""

from __future__ import annotations

import json
import subprocess
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
WEB = ("Deployment", "rosey-web", "web")

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
         "networking.k8s.io/v1": ("NetworkPolicy", "Ingress")}
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


#: the NATS container's environment as the kubelet gives it (the pod name; no passwords)
NATS_ENV = {"SERVER_NAME": "rosey-nats-0"}


def _pod_spec(rendered: Rendered, kind: str, name: str) -> dict[str, Any]:
    return rendered.get(kind, name)["spec"]["template"]["spec"]


def _mount(container: dict[str, Any], volume: str) -> str:
    return next(m["mountPath"] for m in container["volumeMounts"] if m["name"] == volume)


def secret_data(rendered: Rendered, name: str = "rosey-nats-auth") -> dict[str, bytes]:
    import base64

    return {k: base64.b64decode(v) for k, v in rendered.get("Secret", name)["data"].items()}


def lay_out_nats_pod(rendered: Rendered, root: Path,
                     secret: dict[str, bytes] | None = None) -> subprocess.CompletedProcess[str]:
    """The NATS pod's files under ``root`` as the kubelet lays them out: the Secret's keys
    (``secret``, else the rendered Secret's) as files where its volume is mounted, the
    ConfigMap's nats.conf (paths and ports moved under ``root``) where the config is mounted;
    then the nats-passwords init container's own command, run here with its absolute paths
    under ``root``. Returns that run; nats.conf is at :func:`nats_conf_path`."""
    import sys

    pod = _pod_spec(rendered, *NATS[:2])
    init = next(c for c in pod["initContainers"] if c["name"] == "nats-passwords")
    nats = next(c for c in pod["containers"] if c["name"] == "nats")
    volume = next(v for v in pod["volumes"] if v["name"] == "nats-auth-secret")["secret"]
    data = secret if secret is not None else secret_data(rendered, volume["secretName"])
    secret_dir = root / _mount(init, "nats-auth-secret").lstrip("/")
    secret_dir.mkdir(parents=True)
    for item in volume["items"]:
        if item["key"] in data:
            (secret_dir / item["path"]).write_bytes(data[item["key"]])
    (root / _mount(init, "nats-passwords").lstrip("/")).mkdir(parents=True)
    conf = nats_conf_path(rendered, root)
    conf.parent.mkdir(parents=True)
    conf.write_text(local_nats_conf(rendered, root), encoding="utf-8")
    # the image's PATH has Rosey's entry points; here they are beside this interpreter
    command = [str(Path(sys.executable).parent / init["command"][0])]
    command += [str(root / a.lstrip("/")) if a.startswith("/") else a for a in init["command"][1:]]
    assert _mount(init, "nats-passwords") == _mount(nats, "nats-passwords")
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def lay_out_config_map_volume(rendered: Rendered, kind: str, name: str, container: str,
                              volume: str, root: Path,
                              data: dict[str, str] | None = None) -> Path:
    """A ConfigMap volume under ``root`` as the kubelet lays it out where ``container`` mounts
    it (its atomic writer): the keys' files in a timestamped directory, ``..data`` a symlink to
    it, and each item's path a symlink through ``..data``. An update writes a new directory and
    swaps ``..data`` (call again with the new ``data``); a subPath mount would keep the old file.
    ``data`` is the ConfigMap's (default: the rendered one named by the volume). Returns the
    mount directory."""
    import os
    import time

    spec = _pod_spec(rendered, kind, name)
    c = next(c for c in spec["containers"] if c["name"] == container)
    source = next(v for v in spec["volumes"] if v["name"] == volume)["configMap"]
    if data is None:
        data = rendered.config_data(source["name"])
    items = source.get("items") or [{"key": k, "path": k} for k in data]
    mount = root / _mount(c, volume).lstrip("/")
    mount.mkdir(parents=True, exist_ok=True)
    stamp = mount / f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{time.monotonic_ns()}"
    stamp.mkdir()
    for item in items:
        (stamp / item["path"]).write_text(data[item["key"]], encoding="utf-8")
    tmp = mount / "..data_tmp"
    os.symlink(stamp.name, tmp)
    os.replace(tmp, mount / "..data")
    for item in items:
        link = mount / item["path"]
        if not link.is_symlink():
            os.symlink(f"..data/{item['path']}", link)
    return mount


def nats_conf_path(rendered: Rendered, root: Path) -> Path:
    nats = next(c for c in _pod_spec(rendered, *NATS[:2])["containers"] if c["name"] == "nats")
    return root / _mount(nats, "config").lstrip("/") / "nats.conf"


def chart_passwords(rendered: Rendered) -> dict[str, str]:
    """{user: password} from the rendered NATS Secret."""
    return {user: value.decode() for user, value in secret_data(rendered).items()}


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
    laid_out = lay_out_nats_pod(rendered, tmp_path / "pod")
    assert laid_out.returncode == 0, laid_out.stderr
    server = NatsServer(config_file=nats_conf_path(rendered, tmp_path / "pod"), jetstream=False,
                        env={**os.environ, **NATS_ENV})
    await server.start()
    try:
        yield ChartNats(server.url, rendered, chart_passwords(rendered))
    finally:
        await server.stop()
