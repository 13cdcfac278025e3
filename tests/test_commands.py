"""The one table of moderator commands (rosey.commands): every other list derives from it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rosey import contract
from rosey.bot.channel_commands import ChannelCommands
from rosey.bot.moderation import Moderation
from rosey.commands import BY_NAME, COMMANDS, NEEDS, check_command_ranks
from rosey.config import parse_command_ranks
from rosey.errors import ConfigError
from rosey.metrics import BOT_COMMANDS, BotMetrics

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_each_command_once_and_every_contract_command_has_a_row() -> None:
    assert len(BY_NAME) == len(COMMANDS)
    assert set(contract.PM_COMMANDS) <= set(BY_NAME)
    assert BOT_COMMANDS == tuple(BY_NAME)  # the metrics' labels


def test_every_row_has_its_handler_and_every_handler_a_row() -> None:
    owners = {"channel": ChannelCommands, "moderation": Moderation}
    for owner, cls in owners.items():
        handlers = {n.removeprefix("cmd_") for n in vars(cls) if n.startswith("cmd_")}
        assert handlers == {c.name for c in COMMANDS if c.owner == owner}, owner
        for name in handlers:
            assert callable(getattr(cls, f"cmd_{name}")), (owner, name)


def test_the_command_metrics_have_a_series_per_row() -> None:
    registry = BotMetrics().registry
    for name in (*BY_NAME, "unknown"):
        assert registry.get_sample_value("rosey_pm_commands_total",
                                         {"command": name, "result": "success"}) == 0, name


def test_the_documented_permissions_are_the_tables() -> None:
    """docs/moderation-commands.md's table of what the bot's rank must allow."""
    text = (DOCS / "moderation-commands.md").read_text()
    section = text.split("## Before anything is sent", 1)[1].split("\n## ", 1)[0]
    documented: dict[str, str] = {}
    for row in re.findall(r"^\| (`.*?) \| `(\w+)`", section, flags=re.M):
        for name in re.findall(r"`(\w+)`", row[0].split("(")[0]):
            documented[name] = row[1]
    assert documented == {name: needs[0] for name, needs in NEEDS.items()}


def test_a_command_rank_naming_no_command_is_refused() -> None:
    assert parse_command_ranks("ban=3, modlog=4") == (("ban", 3.0), ("modlog", 4.0))
    with pytest.raises(ConfigError, match=r"ROSEY_COMMAND_RANKS names no command 'bann'"):
        parse_command_ranks("bann=3,modlog=4")
    with pytest.raises(ConfigError, match="'bann', 'mdolog'"):
        check_command_ranks((("bann", 3.0), ("mdolog", 3.0)))


def test_a_typo_in_command_ranks_ends_the_bot_with_one_line_and_exit_code_2(tmp_path) -> None:
    env = {**os.environ, "ROSEY_COMMAND_RANKS": "ban=3,mdolog=3"}
    result = subprocess.run(
        [sys.executable, "-m", "rosey.bot", "--domain", "http://127.0.0.1:9", "--channel", "c",
         "--nats-url", "nats://127.0.0.1:9", "--metrics-port", "0"],
        env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("rosey-bot: configuration error: ROSEY_COMMAND_RANKS names no "
                           "command 'mdolog'"), line
