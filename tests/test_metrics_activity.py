"""The INFO activity line: what a process did per interval, read from its own counters."""

from __future__ import annotations

import asyncio

import pytest
import structlog

from rosey import contract
from rosey.config import bot_settings, db_settings
from rosey.errors import ConfigError
from rosey.metrics import BOT_QUERY_OUTCOMES, BotMetrics, DbMetrics, activity_logged, log_activity
from tests.support.wait import eventually


def test_db_totals_come_from_the_counters():
    m = DbMetrics()
    m.events_processed.labels(contract.MESSAGE_LOG).inc(5)
    m.events_processed.labels(contract.USER_JOINED).inc(2)
    m.events_rejected.labels(contract.USER_JOINED, "bad_json").inc()
    m.batch_size.observe(7)
    m.queries.labels(contract.QUERY_USER_STATS, "ok").inc(3)
    m.queries.labels(contract.QUERY_USER_STATS, "error").inc()
    assert m.activity() == {"events_applied": 7, "events_rejected": 1, "events_redelivered": 0,
                            "batches": 1, "apply_errors": 0, "queries_ok": 3, "queries_failed": 1}


def test_bot_totals_come_from_the_counters():
    m = BotMetrics()
    m.events_published.labels(contract.MESSAGE_LOG).inc(4)
    m.events_dropped.labels(contract.MESSAGE_LOG, "outbox_full").inc()
    m.pm_commands.labels("stats", "success").inc()
    m.pm_commands.labels("unknown", "error").inc()
    m.chat_messages.inc(9)
    m.queries.labels(contract.QUERY_USER_STATS, "ok").inc(2)
    m.queries.labels(contract.QUERY_USER_STATS, "timeout").inc()
    assert m.activity() == {"events_published": 4, "events_dropped": 1, "chat_messages": 9,
                            "pm_commands": 2, "pm_command_errors": 1, "queries_failed": 1}


def test_the_bot_query_counter_has_every_outcome_at_zero_from_the_start():
    m = BotMetrics()
    for subject in contract.QUERY_SUBJECTS:
        for outcome in BOT_QUERY_OUTCOMES:
            assert m.registry.get_sample_value(
                "rosey_bot_queries_total", {"subject": subject, "outcome": outcome}) == 0


async def test_one_line_per_busy_interval_none_when_idle_and_a_last_one_at_stop():
    m = DbMetrics()
    stop = asyncio.Event()
    with structlog.testing.capture_logs() as logs:
        task = asyncio.create_task(log_activity("dbservice_activity", m.activity, stop, 0.2))
        await asyncio.sleep(0)
        m.events_processed.labels(contract.MESSAGE_LOG).inc(3)
        await eventually(lambda: logs, timeout=5, what="the first line")
        await asyncio.sleep(0.5)  # deliberately idle for two intervals: they write no line
        m.events_processed.labels(contract.MESSAGE_LOG).inc(2)
        stop.set()
        await asyncio.wait_for(task, 5)
    assert [(e["event"], e["log_level"], e["events_applied"]) for e in logs] == [
        ("dbservice_activity", "info", 3), ("dbservice_activity", "info", 2)]
    assert logs[0]["interval_seconds"] == 0.2 and logs[0]["batches"] == 0


async def test_the_context_manager_cancels_the_logger_when_the_body_fails():
    with pytest.raises(ZeroDivisionError):
        async with activity_logged("x", lambda: {"n": 0.0}, 0.1):
            1 / 0  # noqa: B018
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "x" and not t.done()]


async def test_the_last_line_counts_work_done_while_the_body_shuts_down():
    work = {"n": 0.0}
    with structlog.testing.capture_logs() as logs:
        async with activity_logged("x", lambda: dict(work), 60):
            await asyncio.sleep(0)  # the logger is running
            work["n"] += 1          # e.g. the batch a DatabaseService drains after SIGTERM
    assert [e["n"] for e in logs if e["event"] == "x"] == [1]


def test_the_interval_is_a_setting_and_must_be_positive():
    assert db_settings({"ROSEY_ACTIVITY_LOG_SECONDS": "5"}).activity_log_seconds == 5.0
    env = {"ROSEY_CYTUBE_DOMAIN": "d", "ROSEY_CYTUBE_CHANNEL": "c"}
    assert bot_settings(env).activity_log_seconds == 60.0
    with pytest.raises(ConfigError, match="ROSEY_ACTIVITY_LOG_SECONDS"):
        bot_settings({**env, "ROSEY_ACTIVITY_LOG_SECONDS": "0"})
