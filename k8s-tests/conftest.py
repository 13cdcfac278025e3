"""Fixtures for the kind suite: a reachable cluster, Rosey's images loaded into it, a release.

Environment:
  KUBECONFIG           the cluster (default ~/.kube/config); no reachable cluster -> every test skips
  KIND_CLUSTER_NAME    the kind cluster to `kind load` images into (default: chart-testing,
                       helm/kind-action's default)
  ROSEY_K8S_IMAGE_TAG  tag for the images (default: kind)
  ROSEY_K8S_SKIP_BUILD set to use images already loaded into the cluster
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
CHART = REPO / "helm" / "rosey"
TAG = os.environ.get("ROSEY_K8S_IMAGE_TAG", "kind")
CLUSTER = os.environ.get("KIND_CLUSTER_NAME", "chart-testing")


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


def cluster_unreachable() -> str | None:
    if shutil.which("kubectl") is None:
        return "kubectl is not installed"
    kubeconfig = os.environ.get("KUBECONFIG", str(Path.home() / ".kube" / "config"))
    if not any(Path(p).is_file() for p in kubeconfig.split(os.pathsep)):
        return f"no kubeconfig at {kubeconfig} (set KUBECONFIG to a kind cluster's config)"
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


@pytest.fixture(scope="session")
def images() -> dict[str, str]:
    """Both targets built from the repo's Dockerfile and loaded into the kind nodes."""
    wanted = {target: f"rosey-{target}:{TAG}" for target in ("dbservice", "bot")}
    if os.environ.get("ROSEY_K8S_SKIP_BUILD"):
        return wanted
    for target, image in wanted.items():
        run("docker", "build", "--target", target, "-t", image, str(REPO), timeout=1800)
        run("kind", "load", "docker-image", "--name", CLUSTER, image, timeout=600)
    return wanted


@pytest.fixture
def namespace() -> Iterator[str]:
    name = f"rosey-kind-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        for what in ("pods", "events"):
            out = kubectl("get", what, "-o", "wide", namespace=name, check=False)
            print(f"--- kubectl get {what} -n {name} ---\n{out.stdout}")
        kubectl("delete", "namespace", name, "--wait=false", check=False)
