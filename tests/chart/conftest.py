"""Render helm/rosey offline with helm-python-sdk (Helm 4's Go SDK); no cluster, no helm binary."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

CHART_DIR = Path(__file__).resolve().parents[2] / "helm" / "rosey"
PRODUCTION_VALUES = CHART_DIR / "values-production.yaml"
RELEASE = "rosey"
NAMESPACE = "rosey-test"

#: a channel, so the bot is deployed (without one the chart leaves it out on purpose)
WITH_CHANNEL: dict[str, Any] = {"cytube": {"channel": "testchannel", "user": "RoseyBot",
                                           "password": "hunter2", "channelPassword": "open"}}


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
    def _render(*values: dict[str, Any]) -> Rendered:
        return Rendered(chart.render(deep_merge({}, *values), name=RELEASE, namespace=NAMESPACE,
                                     is_install=True))
    return _render
