"""``python -m bench.automod`` still runs to its table (tests/test_bench.py runs bench.run's
parts only). Its figures are not asserted here: a run this small on a shared machine means
little; the bench is for reading by hand."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROWS = ("automod: judge one chat line p99", "at 10,000 lines/s from 500 users",
        "this machine's noise", "automod: chat lines judged per second",
        "automod: judge one playlist item p99", "automod: read and compile the rules file")


def test_the_automod_bench_runs_to_its_table() -> None:
    run = subprocess.run([sys.executable, "-m", "bench.automod", "--lines", "1000"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert "Traceback" not in run.stderr, run.stderr
    assert run.returncode in (0, 1), run.stderr  # 1: a target missed
    missing = [row for row in ROWS if row not in run.stdout]
    assert missing == [], run.stdout + run.stderr


def test_the_bench_rule_set_is_what_it_says() -> None:
    from bench.automod import CHAT_RULES, rules_text
    from rosey.automod.rules import parse_rules

    text, words, pats = rules_text()
    rules = parse_rules(text, "bench")
    assert len(rules.chat) == CHAT_RULES and len(words) == 2_000 and len(pats) == 50
    assert {r.kind for r in rules.chat} == {"flood", "repeats", "caps", "links", "words",
                                            "mentions", "walls", "zalgo"}
