"""The chart's dashboard JSON is exactly what the dashboard-as-code module generates.

``tools/dashboard.py`` builds the dashboard with Grafana's ``grafana-foundation-sdk``; the JSON
in the chart (``helm/rosey/files/dashboards/rosey.json``) is its output, committed so that
Helm can ship it. An edit to either one alone fails here. The panel queries themselves are
checked by ``test_rules.py`` (names) and ``test_prometheus.py`` (a real Prometheus).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.observability.promql import DASHBOARD_FILE
from tools import dashboard

REPO = Path(__file__).resolve().parents[2]
REGENERATE = ".venv/bin/python -m tools.dashboard"


def test_committed_dashboard_json_is_what_the_module_generates() -> None:
    assert dashboard.OUTPUT == DASHBOARD_FILE
    committed = DASHBOARD_FILE.read_text()
    generated = dashboard.render()
    # compare parsed first: the assertion diff then names the panel and key that differ
    assert json.loads(committed) == json.loads(generated), f"stale: run {REGENERATE}"
    assert committed == generated, f"formatting differs: run {REGENERATE}"


def test_every_panel_has_a_unique_id_and_rows_hold_their_panels_in_order() -> None:
    board = dashboard.build()
    ids = [p["id"] for p in board["panels"]]
    assert ids == list(range(1, len(ids) + 1))
    titles = [p["title"] for p in board["panels"] if p["type"] == "row"]
    assert titles == [title for title, _ in dashboard.rows()]


def test_check_mode_tells_a_stale_file_from_a_fresh_one(tmp_path) -> None:
    target = tmp_path / "rosey.json"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tools.dashboard", "--output", str(target),
                               *args], cwd=REPO, capture_output=True, text=True, timeout=120)

    assert run("--check").returncode == 1  # missing
    assert run().returncode == 0
    assert target.read_text() == DASHBOARD_FILE.read_text()
    assert run("--check").returncode == 0
    target.write_text(target.read_text().replace('"p99"', '"p99.9"', 1))
    stale = run("--check")
    assert stale.returncode == 1 and "stale" in stale.stderr
