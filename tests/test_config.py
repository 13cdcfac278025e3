"""rosey.config: ``rosey up``'s settings from flags and environment, and the directory rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from rosey.config import UpSettings, check_parent_directory, up_settings
from rosey.errors import ConfigError


def test_up_settings_defaults_start_a_local_nats():
    assert up_settings({}) == UpSettings(data_dir=Path("rosey-data"), nats_url=None,
                                         db_metrics_port=9101, bot_metrics_port=9102)


def test_every_up_flag_has_an_environment_variable_and_the_flag_wins():
    env = {"ROSEY_DATA_DIR": "/srv/rosey", "ROSEY_NATS_URL": "nats://n:4222",
           "ROSEY_DB_METRICS_PORT": "9201", "ROSEY_BOT_METRICS_PORT": "9202"}
    assert up_settings(env) == UpSettings(data_dir=Path("/srv/rosey"), nats_url="nats://n:4222",
                                          db_metrics_port=9201, bot_metrics_port=9202)
    assert up_settings(env, data_dir="d", nats_url="nats://m:1", db_metrics_port=1,
                       bot_metrics_port=2) == UpSettings(Path("d"), "nats://m:1", 1, 2)


def test_a_malformed_up_port_names_its_variable():
    with pytest.raises(ConfigError, match="ROSEY_BOT_METRICS_PORT"):
        up_settings({"ROSEY_BOT_METRICS_PORT": "high"})


def test_a_path_in_an_existing_directory_is_accepted(tmp_path):
    check_parent_directory(tmp_path / "rosey.db", "--db-path")
    check_parent_directory(Path("rosey.db"), "--db-path")  # the working directory


def test_a_missing_directory_is_refused_not_created(tmp_path):
    typo = tmp_path / "dta" / "rosey.db"
    with pytest.raises(ConfigError, match=r"--db-path: directory '.*/dta' does not exist"):
        check_parent_directory(typo, "--db-path")
    assert not typo.parent.exists()


def test_a_file_where_the_directory_should_be_is_refused(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match="is not a directory"):
        check_parent_directory(tmp_path / "file" / "rosey.db", "--db-path")


def test_every_default_has_one_home() -> None:
    """With no environment, the readers give exactly the settings' own field defaults (the one
    place each default is written), also for the stream settings both processes read."""
    from rosey.config import (
        BOT_DEFAULTS,
        DB_DEFAULTS,
        STREAM_DEFAULTS,
        BotSettings,
        DbSettings,
        bot_settings,
        db_settings,
        stream_settings,
    )

    assert db_settings({}) == DbSettings() == DB_DEFAULTS
    assert bot_settings({}, domain="d", channel="c") == BotSettings(domain="d", channel="c")
    assert stream_settings({}) == STREAM_DEFAULTS == DB_DEFAULTS.stream == BOT_DEFAULTS.stream
