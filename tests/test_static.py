"""Strict where it ships: mypy --strict on pyproject's files (src, bench, tools); ruff on all code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


def test_mypy_strict_passes_on_the_package():
    run = _run("mypy")  # the files are pyproject's [tool.mypy] files
    assert run.returncode == 0, run.stdout + run.stderr


def test_ruff_passes_on_code_tests_and_benchmarks():
    run = _run("ruff", "check", "src", "tests", "bench", "tools", "k8s-tests")
    assert run.returncode == 0, run.stdout + run.stderr
