"""The dashboard and the alerts against a real Prometheus scraping the real processes.

nats-server (fixture), the DatabaseService (``python -m rosey.db``) and the bot
(``python -m rosey.bot``, outbox of 5 events) run as processes; the CyTube test server runs in
this test's event loop; Debian's prometheus scrapes both metrics ports every second in ONE
job (so nothing may depend on job names) and evaluates the chart's rules file every second.

Traffic: a moderator's PMs, automatic moderation (a live rule whose mutes a moderator lifts,
a dry rule, then a rules file the bot refuses), a CyTube frame with a broken payload, valid
events from nats-py, malformed events (rejected), and chat while NATS is stopped until the
bot's outbox overflows (dropped); the bot stays in the channel on its first socket
throughout, and the steady traffic stops before the bot does (a stopping bot leaves the
channel, and a PM to it then fails). Then every dashboard expression must return data, every
alert expression must evaluate, the rule groups must be healthy, and the dropped / rejected /
refused-rules-file alerts must be pending or firing, while the "down" alerts, which look for
the processes by their own metrics, must stay quiet.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import aiohttp
import nats
import pytest
from prometheus_client.parser import text_string_to_metric_families

from rosey import contract
from tests.observability.prometheus import PrometheusError, PrometheusServer, prometheus_binary
from tests.observability.promql import RULES_FILE, alert_rules, dashboard_exprs, grafana_to_promql, load_rules
from tests.support.cytube import CyTubeTestServer
from tests.support.procs import free_port, start_db_process, stop_process
from tests.support.wait import eventually

BOT, BOT_PW, MOD = "rosey", "bot-secret", "alice"
OUTBOX_SIZE = 5
MALFORMED = 15  # RoseyEventsRejectedSpike: more than 10 in 5 minutes
#: automatic moderation: a live rule (mutes, lifted by a moderator: reversals) and a dry one
AUTOMOD_RULES = """\
defaults: {exempt_rank: 2, cooldown: 0}
rules:
  - name: slurs
    kind: words
    words: [badword]
    action: mute 1h
  - name: shouting
    kind: caps
    ratio: 0.8
    min_length: 8
    action: kick
    dry_run: true
"""


@pytest.fixture(scope="module", autouse=True)
def _require_prometheus() -> None:
    if prometheus_binary() is None:
        pytest.fail("prometheus is not installed: run scripts/setup (apt-get install prometheus)")


# --- reading a process's own /metrics (to know when the scenario has happened) ------------------
async def scrape(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/metrics",
                                   timeout=aiohttp.ClientTimeout(total=3)) as response:
                text = await response.text()
    except (TimeoutError, aiohttp.ClientError, OSError):
        return {}
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def total(port: int, name: str, **labels: str) -> float:
    """Sum of the samples called ``name`` whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, ls), v in (await scrape(port)).items() if n == name and want <= ls)


async def http_status(port: int, path: str) -> int:
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}{path}",
                                   timeout=aiohttp.ClientTimeout(total=3)) as response:
                return response.status
    except (TimeoutError, aiohttp.ClientError, OSError):
        return 0


# --- the processes ------------------------------------------------------------------------------
@asynccontextmanager
async def bot_process(cytube: CyTubeTestServer, nats_url: str, port: int, log_path: Path,
                      automod_file: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    env = {**os.environ, "ROSEY_CYTUBE_USER": BOT, "ROSEY_CYTUBE_PASSWORD": BOT_PW,
           "ROSEY_OUTBOX_SIZE": str(OUTBOX_SIZE), "ROSEY_METRICS_HOST": "127.0.0.1",
           "ROSEY_LOG_FORMAT": "json", "ROSEY_AUTOMOD_FILE": str(automod_file)}
    with open(log_path, "wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "rosey.bot", "--domain", cytube.url, "--channel",
            cytube.channel, "--nats-url", nats_url, "--metrics-port", str(port), env=env,
            stdout=out, stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL)
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                proc.kill()
                await proc.wait()


def channel_report(cytube: CyTubeTestServer, bot_log: Path, lines: int = 40) -> str:
    """The test CyTube server's view of the channel and the bot log's tail (failure messages)."""
    try:
        tail = bot_log.read_text(errors="replace").splitlines()[-lines:]
    except OSError as exc:
        tail = [f"(cannot read {bot_log}: {exc})"]
    return (f"test CyTube server: socket users {cytube.socket_users}, all users "
            f"{sorted(cytube.users)}, sockets ever accepted {cytube.connections}, kicked "
            f"{cytube.kicked}\nbot log, last {len(tail)} lines:\n" + "\n".join(tail))


async def chatter(cytube: CyTubeTestServer, bot_log: Path) -> None:
    """Steady channel activity: chat every 0.3 s and a moderator command every 2 s.

    The bot must be in the channel for every PM (nothing in this scenario takes it out): a PM
    that finds it gone fails with the server's view and the bot's log.
    """
    i = 0
    while True:
        await cytube.user_chat(MOD, f"steady chat {i}")
        if i % 7 == 0:
            try:
                await cytube.user_pm(MOD, BOT, "info")
            except LookupError as exc:
                raise AssertionError(f"steady traffic: {exc}\n"
                                     f"{channel_report(cytube, bot_log)}") from None
        i += 1
        await asyncio.sleep(0.3)  # pacing of the generated traffic, not a wait for a condition


@asynccontextmanager
async def steady_traffic(cytube: CyTubeTestServer, bot_log: Path) -> AsyncIterator[None]:
    """:func:`chatter` while the block runs; stopped on the way out, so it must be left before
    the bot is stopped (a stopping bot leaves the channel). A failed chatter fails the test."""
    task = asyncio.create_task(chatter(cytube, bot_log))
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


async def automod_traffic(cytube: CyTubeTestServer, prom: PrometheusServer, bot_port: int,
                          rules: Path) -> None:
    """Two live hits of ``slurs`` whose mutes a moderator lifts (two reversals), two dry hits of
    ``shouting``, then a rules file the bot refuses (the old rules stay in force).

    A labelled series is born at its first count, and ``increase()`` sees only the steps after
    the first sample; so each counter's first step is waited for in Prometheus before the next.
    """
    async def scraped(expr: str, at_least: float) -> bool:
        return sum(float(s["value"][1]) for s in await prom.query(expr)) >= at_least

    await cytube.add_user("bob", 1)
    await cytube.add_user("carol", 1)
    for n in (1, 2):
        await cytube.user_chat("bob", "a badword here")
        await cytube.wait_for(lambda: "bob" in cytube.muted, timeout=20,
                              what="the live rule muted bob")
        await cytube.user_chat(MOD, "/unmute bob")  # within reversal_window: a reversal
        await eventually(lambda n=n: scraped('rosey_automod_reversals_total{rule="slurs"}', n),
                         timeout=20, what=f"reversal {n} in Prometheus")
        await cytube.user_chat("carol", "THIS IS ALL SHOUTING")
        await eventually(lambda n=n: scraped('rosey_automod_hits_total{mode="dry"}', n),
                         timeout=20, what=f"dry hit {n} in Prometheus")
    rules.write_text("rules: [{name: broken}]\n")  # no kind: refused at the reload
    await eventually(lambda: scraped('rosey_automod_reloads_total{result="failed"}', 1),
                     timeout=20, what="the refused reload in Prometheus")


# --- what Prometheus must show ------------------------------------------------------------------
def _finite(series: list[dict]) -> bool:
    return any(math.isfinite(float(s["value"][1])) for s in series)


async def dashboard_failures(prom: PrometheusServer) -> dict[str, str]:
    """Dashboard expressions that error, return nothing, or only NaN (empty dict: all good)."""
    failures = {}
    for where, expr in dashboard_exprs():
        try:
            series = await prom.query(grafana_to_promql(expr))
        except (TimeoutError, PrometheusError, aiohttp.ClientError) as exc:
            failures[where] = f"error: {exc}"
            continue
        if not series:
            failures[where] = "no series"
        elif not _finite(series):
            failures[where] = f"only NaN/Inf: {series}"
    return failures


async def test_every_dashboard_and_alert_expression_works_against_real_prometheus(
        nats_server, tmp_path) -> None:
    db_port, bot_port = free_port(), free_port()
    (tmp_path / "backups").mkdir()
    db = start_db_process(nats_server.url, tmp_path / "rosey.db", metrics_port=db_port,
                          log_path=tmp_path / "db.log",
                          extra_env={"ROSEY_METRICS_HOST": "127.0.0.1",
                                     # backups on, so the backup panels have figures
                                     "ROSEY_BACKUP_DIR": str(tmp_path / "backups"),
                                     "ROSEY_BACKUP_INTERVAL_SECONDS": "2"})
    cytube = CyTubeTestServer(accounts={BOT: (BOT_PW, 3)}, rate_limit=False)
    await cytube.start()
    prom = PrometheusServer(workdir=tmp_path / "prometheus", rule_files=[RULES_FILE],
                            targets=[f"127.0.0.1:{db_port}", f"127.0.0.1:{bot_port}"])
    nc = await nats.connect(nats_server.url, max_reconnect_attempts=-1,
                            reconnect_time_wait=0.1)
    bot_log = tmp_path / "bot.log"
    rules = tmp_path / "automod.yaml"
    rules.write_text(AUTOMOD_RULES)
    try:
        async with bot_process(cytube, nats_server.url, bot_port, bot_log, rules):
            await asyncio.to_thread(prom.start)

            # --- everything up, and Prometheus sees both targets -------------------------------
            await eventually(lambda: _is(http_status(bot_port, "/readyz"), 200), timeout=40,
                             what="bot joined and connected")
            await eventually(lambda: _is(http_status(db_port, "/readyz"), 200), timeout=30,
                             what="DatabaseService ready")

            async def both_targets_up() -> bool:
                up = await prom.query("up == 1")
                return len(up) == 2
            await eventually(both_targets_up, timeout=30, what="Prometheus scrapes both")

            # --- a moderator command ------------------------------------------------------------
            try:  # /readyz says so from the bot's side; PMs need the server's side
                await cytube.wait_for(lambda: BOT in cytube.socket_users, timeout=20,
                                      what="the bot in the channel per the test CyTube server")
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n{channel_report(cytube, bot_log)}") from None
            await cytube.add_user(MOD, 2)
            await cytube.wait_for(lambda: MOD in cytube.users, what="moderator joined")
            await cytube.user_pm(MOD, BOT, "help")
            await eventually(lambda: total(bot_port, "rosey_pm_commands_total", command="help",
                                           result="success"), timeout=20, what="help ran")

            # --- automatic moderation, a broken CyTube frame -------------------------------------
            await automod_traffic(cytube, prom, bot_port, rules)
            await cytube._broadcast("userLeave", None)  # counted and ignored by the bot
            await eventually(lambda: total(bot_port, "rosey_cytube_bad_frames_total"),
                             timeout=20, what="the broken frame counted")

            # --- valid events and malformed ones, straight onto the bus -----------------------
            js = nc.jetstream(timeout=5)
            for i in range(10):
                await js.publish(contract.MESSAGE_LOG, json.dumps(
                    {"username": "carol", "message": f"hello {i}"}).encode())
            for _ in range(MALFORMED):
                await js.publish(contract.MESSAGE_LOG, b"{not json")
            await eventually(lambda: _at_least(total(db_port, "rosey_events_rejected_total"),
                                               MALFORMED), timeout=20, what="malformed rejected")
            await eventually(lambda: _at_least(total(db_port, "rosey_events_processed_total",
                                                     subject=contract.MESSAGE_LOG), 10),
                             timeout=20, what="valid events applied")

            # --- NATS away: the bot keeps seeing chat until its outbox overflows ---------------
            await asyncio.to_thread(nats_server.stop)
            await eventually(lambda: _is(total(bot_port, "rosey_nats_connected"), 0),
                             timeout=20, what="bot saw NATS go")
            for i in range(OUTBOX_SIZE * 3):
                await cytube.user_chat(MOD, f"while NATS is away {i}")
            await eventually(lambda: total(bot_port, "rosey_events_dropped_total",
                                           reason="outbox_full"), timeout=20,
                             what="events dropped")
            await asyncio.to_thread(nats_server.start)
            await eventually(lambda: _is(total(bot_port, "rosey_nats_connected"), 1),
                             timeout=30, what="bot reconnected")
            await eventually(lambda: _is(http_status(db_port, "/readyz"), 200), timeout=30,
                             what="DatabaseService ready again")
            # storage went and came back; the bot stayed in the channel on its first socket
            assert BOT in cytube.socket_users and cytube.connections == 1, \
                f"the bot left the channel while NATS was away\n{channel_report(cytube, bot_log)}"

            # --- steady traffic while Prometheus is asked ---------------------------------------
            # (left before the bot is stopped: a stopping bot leaves the channel)
            async with steady_traffic(cytube, bot_log):
                await asked_while_traffic_runs(prom, bot_port)
                assert cytube.connections == 1, \
                    f"the bot reconnected to CyTube\n{channel_report(cytube, bot_log)}"
    finally:
        await nc.close()
        await asyncio.to_thread(prom.stop)
        await asyncio.to_thread(stop_process, db)
        await cytube.stop()


async def asked_while_traffic_runs(prom: PrometheusServer, bot_port: int) -> None:
    """Every dashboard expression has data, every alert expression evaluates, the rule groups
    are healthy, the scenario's alerts are active and the "down" alerts are quiet."""
    async def dashboard_ok() -> bool:
        return not await dashboard_failures(prom)
    try:
        await eventually(dashboard_ok, timeout=60, interval=1.0,
                         what="every dashboard expression returns data")
    except AssertionError:
        pytest.fail(f"dashboard expressions without data: "
                    f"{json.dumps(await dashboard_failures(prom), indent=1)}")

    # every alert expression evaluates (an empty result is fine: nothing to alert on)
    for rule in alert_rules():
        await prom.query(rule["expr"])

    # the rule groups are loaded, evaluated and healthy
    async def rules_healthy() -> bool:
        groups = await prom.rule_groups()
        rules = [r for g in groups for r in g["rules"]]
        return (sorted(g["name"] for g in groups)
                == sorted(g["name"] for g in load_rules()["groups"])
                and len(rules) == len(alert_rules())
                and all(r["health"] == "ok" and not r.get("lastError") for r in rules))
    await eventually(rules_healthy, timeout=20, interval=0.5,
                     what="rule groups loaded with health ok")

    # the scenario's alerts are active, the "down" alerts are not
    async def active() -> dict[str, str]:
        return {a["labels"]["alertname"]: a["state"] for a in await prom.alerts()}
    wanted = {"RoseyEventsDropped", "RoseyEventsRejectedSpike"}
    await eventually(lambda: _has(active(), wanted), timeout=30, interval=0.5,
                     what="dropped and rejected alerts active")
    states = await active()
    assert states["RoseyEventsDropped"] == "firing"  # for: 0m
    assert states["RoseyEventsRejectedSpike"] in {"pending", "firing"}
    assert "RoseyDatabaseServiceDown" not in states
    assert "RoseyBotDown" not in states
    alert = next(a for a in await prom.alerts()
                 if a["labels"]["alertname"] == "RoseyEventsDropped")
    assert alert["labels"]["instance"] == f"127.0.0.1:{bot_port}"
    assert alert["labels"]["severity"] == "critical"
    assert f"127.0.0.1:{bot_port}" in alert["annotations"]["description"]
    # its 1m subquery steps see the refused reload at the next whole minute
    await eventually(lambda: _has(active(), {"RoseyAutomodReloadFailed"}), timeout=90,
                     interval=1.0, what="refused rules file alert active")


async def _is(value, expected) -> bool:
    return (await value) == expected


async def _at_least(value, expected) -> bool:
    return (await value) >= expected


async def _has(states, wanted: set[str]) -> bool:
    return wanted <= set(await states)
