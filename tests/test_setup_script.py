"""scripts/setup and a running Prometheus, with the system tools replaced by recording stubs:
it stops only the service its own apt-get install just started, says so, and leaves an
already-installed Prometheus alone."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RECORD = '#!/bin/sh\necho "$(basename "$0") $*" >> "$CALLS"\n'


def _tree(tmp_path: Path, *, prometheus_installed: bool) -> tuple[Path, Path]:
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "setup", tmp_path / "scripts" / "setup")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dirname", "basename", "id"):
        os.symlink(shutil.which(tool), bin_dir / tool)
    stubs = {"apt-get": RECORD, "python3": RECORD, "fusermount3": RECORD,
             "service": RECORD + "exit 0\n",  # `service prometheus status`: running
             "pgrep": RECORD + "exit 0\n"}    # a prometheus process is running
    if prometheus_installed:
        stubs["prometheus"] = RECORD
    venv = tmp_path / ".venv" / "bin"
    venv.mkdir(parents=True)
    for path, body in [*((bin_dir / n, b) for n, b in stubs.items()), (venv / "python", RECORD)]:
        path.write_text(body)
        path.chmod(0o755)
    return bin_dir, tmp_path / "calls"


def _run(tmp_path: Path, bin_dir: Path, calls: Path) -> tuple[str, list[str]]:
    calls.write_text("")
    done = subprocess.run(["/bin/bash", str(tmp_path / "scripts" / "setup")], capture_output=True,
                          text=True, timeout=60, env={"PATH": str(bin_dir), "CALLS": str(calls)})
    assert done.returncode == 0, done.stderr
    return done.stdout, calls.read_text().splitlines()


@pytest.mark.skipif(os.geteuid() != 0, reason="the script uses sudo when not root")
def test_stops_only_the_prometheus_it_just_installed_and_says_so(tmp_path):
    bin_dir, calls = _tree(tmp_path, prometheus_installed=False)
    out, called = _run(tmp_path, bin_dir, calls)
    assert any(c.startswith("apt-get install") and "prometheus" in c for c in called)
    assert "service prometheus stop" in called
    assert "stopping the prometheus service apt just started" in out


@pytest.mark.skipif(os.geteuid() != 0, reason="the script uses sudo when not root")
def test_leaves_an_already_running_prometheus_alone(tmp_path):
    bin_dir, calls = _tree(tmp_path, prometheus_installed=True)
    out, called = _run(tmp_path, bin_dir, calls)
    assert not [c for c in called if c.startswith(("service", "apt-get"))]
    assert "prometheus" not in out
