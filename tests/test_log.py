"""rosey.log: what a line carries, what it never shows, and settings it refuses."""

from __future__ import annotations

import json
import logging

import pytest
import structlog

from rosey.errors import ConfigError
from rosey.log import configure_logging, log_format, log_level


@pytest.fixture(autouse=True)
def _restore_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        structlog.reset_defaults()
        structlog.contextvars.clear_contextvars()
        root.handlers[:] = handlers
        root.setLevel(level)


def _lines(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_json_lines_carry_service_level_time_and_mask_secrets(capsys):
    configure_logging("rosey-test", json=True)
    structlog.get_logger("rosey.somewhere").info("thing_done", count=3, password="hunter2",
                                                 channel_password="x", user="alice")
    [line] = _lines(capsys)
    assert line["event"] == "thing_done" and line["count"] == 3 and line["user"] == "alice"
    assert line["service"] == "rosey-test" and line["level"] == "info"
    assert line["logger"] == "rosey.somewhere" and line["timestamp"].endswith("Z")
    assert line["password"] == line["channel_password"] == "**********"


def _fails_holding_a_secret() -> None:
    token = "tok-7f3a9-SECRET-in-a-local"  # noqa: F841 - what the traceback must not show
    raise ValueError("boom")


@pytest.mark.parametrize("json_lines", [True, False])
def test_a_traceback_shows_frames_but_never_local_variables(capsys, json_lines):
    configure_logging("rosey-test", json=json_lines)
    try:
        _fails_holding_a_secret()
    except ValueError:
        structlog.get_logger("rosey.somewhere").exception("it_failed")
    out = capsys.readouterr().out
    assert "_fails_holding_a_secret" in out and "boom" in out
    assert "SECRET-in-a-local" not in out


def test_library_records_through_stdlib_logging_look_the_same(capsys):
    configure_logging("rosey-test", json=True)
    logging.getLogger("nats.aio.client").warning("server %s went away", "a")
    [line] = _lines(capsys)
    assert line["event"] == "server a went away"
    assert line["service"] == "rosey-test" and line["level"] == "warning"
    assert line["logger"] == "nats.aio.client"


def test_bound_context_reaches_every_line_inside_it_and_no_line_after(capsys):
    configure_logging("rosey-test", json=True)
    log = structlog.get_logger()
    with structlog.contextvars.bound_contextvars(subject="rosey.db.query.user_stats"):
        log.info("inside")
        logging.getLogger("lib").warning("also inside")
    log.info("after")
    inside, lib, after = _lines(capsys)
    assert inside["subject"] == lib["subject"] == "rosey.db.query.user_stats"
    assert "subject" not in after


def test_the_level_filters_structlog_and_library_lines(capsys):
    configure_logging("rosey-test", level="WARNING", json=True)
    structlog.get_logger().info("quiet")
    logging.getLogger("lib").info("quiet too")
    structlog.get_logger().warning("loud")
    assert [line["event"] for line in _lines(capsys)] == ["loud"]


def test_console_format_is_not_json(capsys):
    configure_logging("rosey-test", json=False)
    structlog.get_logger().info("for_people", n=1)
    out = capsys.readouterr().out
    assert "for_people" in out and not out.lstrip().startswith("{")


@pytest.mark.parametrize("value,expected", [
    ("debug", logging.DEBUG), ("INFO", logging.INFO), (" warning ", logging.WARNING),
    ("error", logging.ERROR), ("critical", logging.CRITICAL),
])
def test_known_levels(value, expected):
    assert log_level(value) == expected


@pytest.mark.parametrize("value", ["verbose", "warn ing", "10", "", "trace"])
def test_an_unknown_level_is_refused_not_replaced(value):
    with pytest.raises(ConfigError, match="ROSEY_LOG_LEVEL must be one of debug, info"):
        log_level(value)
    with pytest.raises(ConfigError):
        configure_logging("rosey-test", level=value)


@pytest.mark.parametrize("value,expected", [("json", True), ("JSON", True), ("console", False),
                                            ("", None), ("auto", None)])
def test_known_formats(value, expected):
    assert log_format(value) is expected


@pytest.mark.parametrize("value", ["jsn", "text", "logfmt"])
def test_an_unknown_format_is_refused_not_replaced(value):
    with pytest.raises(ConfigError, match="ROSEY_LOG_FORMAT must be json, console or auto"):
        log_format(value)
