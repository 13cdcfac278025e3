"""Fixtures for the cluster suite: a reachable cluster, Rosey's images loaded into it, helpers.

The same tests run on kind and on the local cluster of scripts/local-k8s; the environment picks:

  KUBECONFIG           the cluster. Unset and .build/local-k8s/kubeconfig present (a cluster
                       from `scripts/local-k8s up`): that one, with .build/local-k8s/bin on PATH.
                       No reachable cluster -> every test skips.
  ROSEY_K8S_LOADER     `kind` or `local-k8s`; default: local-k8s when KUBECONFIG is the local
                       cluster's, kind otherwise
  KIND_CLUSTER_NAME    the kind cluster to `kind load` images into (default: chart-testing)
  ROSEY_K8S_IMAGE_TAG  tag for the images (default: kind)
  ROSEY_K8S_SKIP_BUILD set: use rosey-{dbservice,bot,web,nats}:TAG already in the local Docker engine
  ROSEY_K8S_SKIP_LOAD  set: the images are already in the cluster

Images: on kind, `docker build` of the three Dockerfile targets and `kind load docker-image`;
NATS comes from the chart's default image, pulled by the nodes. Locally nothing can be pulled:
scripts/build-images builds the three targets on a stand-in base and rosey-nats:TAG (the pinned
nats-server release from .venv, the chart's image's release), and `scripts/local-k8s load`
imports them, the NATS stand-in under the image name the chart's values.yaml asks for, so the
chart's NATS settings are used unchanged.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
CHART = REPO / "helm" / "rosey"
TAG = os.environ.get("ROSEY_K8S_IMAGE_TAG", "kind")
CLUSTER = os.environ.get("KIND_CLUSTER_NAME", "chart-testing")
LOCAL = REPO / ".build" / "local-k8s"

if "KUBECONFIG" not in os.environ and (LOCAL / "kubeconfig").is_file():
    os.environ["KUBECONFIG"] = str(LOCAL / "kubeconfig")
if Path(os.environ.get("KUBECONFIG", "/nonexistent")) == LOCAL / "kubeconfig":
    os.environ["PATH"] = f"{LOCAL / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
LOADER = os.environ.get("ROSEY_K8S_LOADER") or (
    "local-k8s" if Path(os.environ.get("KUBECONFIG", "/nonexistent")) == LOCAL / "kubeconfig" else "kind")

T = TypeVar("T")
# one dict per resilience scenario (recovery times), printed at the end and written to
# $ROSEY_K8S_RESULTS (default .build/k8s-results.json) for docs/performance.md
RESULTS: list[dict[str, Any]] = []


def run(*cmd: str, timeout: float = 300, check: bool = True,
        stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=stdin)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result


def kubectl(*args: str, namespace: str | None = None, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    ns = ["-n", namespace] if namespace else []
    return run("kubectl", *ns, *args, **kwargs)


def kubectl_json(*args: str, namespace: str | None = None) -> Any:
    return json.loads(kubectl(*args, "-o", "json", namespace=namespace).stdout)


def wait_for(check: Callable[[], T], *, timeout: float, what: str, interval: float = 1.0) -> T:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        time.sleep(interval)


def cluster_unreachable() -> str | None:
    if shutil.which("kubectl") is None:
        return "kubectl is not installed"
    kubeconfig = os.environ.get("KUBECONFIG", str(Path.home() / ".kube" / "config"))
    if not any(Path(p).is_file() for p in kubeconfig.split(os.pathsep)):
        return (f"no kubeconfig at {kubeconfig} (start one: scripts/local-k8s up, or set "
                "KUBECONFIG to a kind cluster's config)")
    try:
        result = run("kubectl", "version", "--request-timeout=10s", "-o", "json", timeout=30,
                     check=False)
    except subprocess.TimeoutExpired:
        return "the cluster in KUBECONFIG did not answer within 30s"
    if result.returncode != 0 or "serverVersion" not in result.stdout:
        return f"no Kubernetes cluster reachable through KUBECONFIG: {result.stderr.strip()[:300]}"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = cluster_unreachable()
    for item in items:
        item.add_marker(pytest.mark.kind)
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))


def chart_nats_image() -> str:
    image = yaml.safe_load((CHART / "values.yaml").read_text())["nats"]["image"]
    return f"{image['repository']}:{image['tag']}"


@pytest.fixture(scope="session")
def images() -> dict[str, str]:
    """The three targets built from the repo's Dockerfile and loaded into the cluster."""
    wanted = {target: f"rosey-{target}:{TAG}" for target in ("dbservice", "bot", "web")}
    if not os.environ.get("ROSEY_K8S_SKIP_BUILD"):
        if LOADER == "local-k8s":
            env = {**os.environ, "TAG": TAG}
            subprocess.run(["bash", str(REPO / "scripts" / "build-images")], check=True, env=env,
                           timeout=3600)
        else:
            for target, image in wanted.items():
                run("docker", "build", "--target", target, "-t", image, str(REPO), timeout=1800)
    if not os.environ.get("ROSEY_K8S_SKIP_LOAD"):
        if LOADER == "local-k8s":
            run("bash", str(REPO / "scripts" / "local-k8s"), "load", *wanted.values(),
                f"rosey-nats:{TAG}={chart_nats_image()}", timeout=900)
        else:
            for image in wanted.values():
                run("kind", "load", "docker-image", "--name", CLUSTER, image, timeout=600)
    return wanted


@pytest.fixture
def namespace() -> Iterator[str]:
    name = f"rosey-k8s-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        for what in ("pods", "pvc", "events"):
            out = kubectl("get", what, "-o", "wide", namespace=name, check=False)
            print(f"--- kubectl get {what} -n {name} ---\n{out.stdout}")
        kubectl("delete", "namespace", name, "--wait=false", check=False)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not RESULTS:
        return
    out = Path(os.environ.get("ROSEY_K8S_RESULTS", str(REPO / ".build" / "k8s-results.json")))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(RESULTS, indent=1) + "\n")
    terminalreporter.section("recovery times (pod deleted -> events committing again)")
    for r in RESULTS:
        terminalreporter.line(
            f"{r['scenario']:<16} NATS x{r['nats']}  {r['events']:>5} events exactly once  "
            f"committing again {r['committing_again_s']:>5.1f}s  replacement Ready "
            f"{r['replacement_ready_s']:>5.1f}s  longest stall {r['longest_stall_s']:>5.1f}s")
    terminalreporter.line(f"(also in {out})")
