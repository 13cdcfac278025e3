"""The three commands as real processes: --version, and first-run mistakes that must end in one
clear line and exit code 2 (never a traceback, never a silently replaced setting)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from rosey import __version__
from tests.support.procs import free_port

COMMANDS = {
    "rosey-db": ["rosey.db"],
    "rosey-bot": ["rosey.bot", "--domain", "http://127.0.0.1:9", "--channel", "c"],
    "rosey up": ["rosey.cli", "up", "--domain", "http://127.0.0.1:9", "--channel", "c"],
}


def run(module_and_args: list[str], env: dict[str, str] | None = None, cwd=None,
        timeout: float = 30) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ROSEY_")}
    return subprocess.run([sys.executable, "-m", *module_and_args], capture_output=True,
                          text=True, env={**base, **(env or {})}, cwd=cwd, timeout=timeout)


def one_clear_line(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr + done.stdout, done.stderr
    assert lines[0].startswith(("rosey-db: ", "rosey-bot: ", "rosey up: ")), lines[0]
    for word in words:
        assert word in lines[0]


@pytest.mark.parametrize("module,prog", [("rosey.cli", "rosey"), ("rosey.db", "rosey-db"),
                                         ("rosey.bot", "rosey-bot")])
def test_every_command_tells_its_version(module, prog):
    done = run([module, "--version"])
    assert done.returncode == 0 and done.stdout.strip() == f"{prog} {__version__}"


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("variable,value", [("ROSEY_LOG_LEVEL", "verbose"),
                                            ("ROSEY_LOG_FORMAT", "jsn")])
def test_a_bad_log_setting_is_refused_not_replaced(tmp_path, command, variable, value):
    done = run(COMMANDS[command], {variable: value, "ROSEY_METRICS_PORT": "0"}, cwd=tmp_path)
    one_clear_line(done, "configuration error", variable, repr(value))


@pytest.mark.parametrize("command", ["rosey-db", "rosey-bot"])
def test_a_metrics_port_in_use_is_one_clear_line(tmp_path, command):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run([*COMMANDS[command], "--metrics-port", str(port)],
                   {"ROSEY_METRICS_HOST": "127.0.0.1", "ROSEY_NATS_URL": f"nats://127.0.0.1:{free_port()}",
                    "ROSEY_LOG_FORMAT": "json"}, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    [line] = done.stderr.strip().splitlines()
    assert f"cannot serve metrics on 127.0.0.1:{port}: Address already in use" in line


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_a_db_path_in_a_missing_directory_is_refused_and_nothing_is_created(tmp_path, how):
    typo = tmp_path / "rosey-dta" / "rosey.db"
    args, env = (["--db-path", str(typo)], {}) if how == "flag" else ([], {"ROSEY_DB_PATH": str(typo)})
    done = run([*COMMANDS["rosey-db"], *args], {**env, "ROSEY_METRICS_PORT": "0"}, cwd=tmp_path)
    one_clear_line(done, "--db-path/ROSEY_DB_PATH", "rosey-dta' does not exist")
    assert not typo.parent.exists()


def test_a_db_path_under_a_file_is_refused(tmp_path):
    (tmp_path / "plain-file").write_text("")
    done = run([*COMMANDS["rosey-db"], "--db-path", str(tmp_path / "plain-file" / "r.db")],
               {"ROSEY_METRICS_PORT": "0"})
    one_clear_line(done, "is not a directory")


def test_rosey_up_refuses_a_data_dir_under_a_missing_directory(tmp_path):
    data_dir = tmp_path / "missing" / "rosey-data"
    done = run([*COMMANDS["rosey up"]], {"ROSEY_DATA_DIR": str(data_dir)})
    one_clear_line(done, "--data-dir/ROSEY_DATA_DIR", "does not exist")
    assert not data_dir.parent.exists()


def test_rosey_up_help_names_a_variable_for_every_flag():
    out = run(["rosey.cli", "up", "--help"]).stdout
    for flag, variable in [("--domain", "ROSEY_CYTUBE_DOMAIN"), ("--channel", "ROSEY_CYTUBE_CHANNEL"),
                           ("--nats-url", "ROSEY_NATS_URL"), ("--data-dir", "ROSEY_DATA_DIR"),
                           ("--db-metrics-port", "ROSEY_DB_METRICS_PORT"),
                           ("--bot-metrics-port", "ROSEY_BOT_METRICS_PORT")]:
        assert flag in out and variable in out


@pytest.mark.parametrize("command", ["rosey-db", "rosey-bot"])
def test_a_seed_file_without_a_valid_seed_is_one_clear_line_at_start(tmp_path, command):
    """nats-py would fail at the first connect, and the bot would go on without NATS."""
    seed = tmp_path / "seed"
    seed.write_text("not a seed\n")
    done = run(COMMANDS[command], {"ROSEY_NATS_NKEY_SEED_FILE": str(seed),
                                   "ROSEY_NATS_URL": f"nats://127.0.0.1:{free_port()}",
                                   "ROSEY_METRICS_PORT": "0"}, cwd=tmp_path)
    one_clear_line(done, "configuration error", "ROSEY_NATS_NKEY_SEED_FILE")
