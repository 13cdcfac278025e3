"""The permission table (rosey.nats_auth) on a real nats-server running exactly the config
``rosey up`` writes: nobody without credentials, each identity only its job.

A refused publish is reported by the server asynchronously (nats-py hands it to error_cb);
the tests connect through :func:`rosey.bus.connect`, so the refusals also show that the
service's own connection logs and counts them (``nats_permission_denied``,
``rosey_nats_permission_errors_total``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
import structlog
from nats.aio.client import Client
from nats.errors import TimeoutError as NatsTimeout
from prometheus_client import CollectorRegistry, Counter

import rosey.bot
from rosey import bus, contract, nats_auth
from rosey.config import NatsAuth, Secret, StreamSettings
from rosey.dbservice.consumer import consumer_config
from rosey.natsd import NatsServer
from rosey.stream import ensure_stream
from rosey.up import _start_nats
from tests.support.refusals import refused_connect
from tests.support.wait import eventually


@pytest.fixture
async def up_nats(tmp_path) -> AsyncIterator[tuple[NatsServer, dict[str, Path]]]:
    server, files = await _start_nats(tmp_path)
    try:
        yield server, files
    finally:
        await server.stop()


class Identity:
    """A connection as one identity, through rosey.bus.connect, counting refusals."""

    def __init__(self, url: str, auth: NatsAuth) -> None:
        self.url = url
        self.auth = auth
        self.denied = Counter("denied", "test", registry=CollectorRegistry())
        self.nc: Client | None = None

    @classmethod
    def of(cls, server: NatsServer, files: dict[str, Path], user: str) -> Identity:
        """``user`` with its password file from ``rosey up``'s layout."""
        return cls(server.url, nats_auth.identity_auth(user, files[user]))

    async def __aenter__(self) -> Client:
        self.nc = await bus.connect(self.url, name="test", auth=self.auth,
                                    permission_errors=self.denied)
        return self.nc

    async def __aexit__(self, *exc: object) -> None:
        assert self.nc is not None
        await self.nc.close()

    @property
    def refusals(self) -> float:
        return self.denied._value.get()

    async def refused(self, action) -> None:  # type: ignore[no-untyped-def]
        """Run ``action`` (it may fail or time out) and wait for the server's refusal."""
        before = self.refusals
        with contextlib.suppress(NatsTimeout, nats.errors.Error, asyncio.TimeoutError):
            await action()
        await eventually(lambda: self.refusals > before, timeout=5, what="the server's refusal")


async def _stream_messages(server: NatsServer, files: dict[str, Path]) -> int:
    async with Identity.of(server, files, nats_auth.DBSERVICE) as nc:
        info = await nc.jetstream().stream_info(contract.STREAM_NAME)
        return int(info.state.messages)


def test_rosey_up_writes_private_credentials_once(tmp_path):
    files = nats_auth.ensure_passwords(tmp_path / "auth")
    first = nats_auth.read_passwords(files)
    assert set(first) == {"bot", "dbservice", "operator", "web"}
    assert len(set(first.values())) == 4
    assert all(len(p) >= 32 for p in first.values())
    for path in files.values():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert nats_auth.read_passwords(nats_auth.ensure_passwords(tmp_path / "auth")) == first
    nats_auth.write_nats_conf(tmp_path / "nats.conf", files, store_dir=tmp_path / "js")
    assert stat.S_IMODE((tmp_path / "nats.conf").stat().st_mode) == 0o600
    assert "no_auth_user" not in (tmp_path / "nats.conf").read_text()


async def test_a_client_without_credentials_or_with_a_wrong_password_is_refused(up_nats):
    server, files = up_nats
    with pytest.raises(nats.errors.Error):
        await nats.connect(server.url, allow_reconnect=False, max_reconnect_attempts=0,
                           connect_timeout=2)
    with pytest.raises(nats.errors.Error):
        await nats.connect(server.url, user="bot", password="guess", allow_reconnect=False,
                           max_reconnect_attempts=0, connect_timeout=2)
    # and rosey.bus.connect says so at ERROR, without the password, while it keeps trying
    wrong = NatsAuth(user="operator", password=Secret("not-the-password"))
    logs = await refused_connect(server.url, wrong, timeout=10)
    refused = next(e for e in logs if e["event"] == "nats_auth_refused")
    assert refused["log_level"] == "error" and refused["user"] == "operator"
    assert "not-the-password" not in json.dumps(logs, default=str)


async def test_the_bot_publishes_events_asks_queries_but_nothing_else(up_nats):
    server, files = up_nats
    async with Identity.of(server, files, nats_auth.DBSERVICE) as db_nc:
        js = db_nc.jetstream()
        await ensure_stream(js, StreamSettings(), update=True)

        async def answer(msg) -> None:  # type: ignore[no-untyped-def]
            await msg.respond(b'{"answered": true}')

        await db_nc.subscribe(contract.QUERY_CHANNEL_STATS, queue=contract.QUEUE_GROUP,
                              cb=answer)
        await db_nc.flush()
        bot = Identity.of(server, files, nats_auth.BOT)
        async with bot as nc:
            # its job: events through JetStream (acknowledged), its queries answered
            ack = await nc.jetstream().publish(contract.USER_JOINED, b'{"u": 1}')
            assert ack.stream == contract.STREAM_NAME
            reply = await nc.request(contract.QUERY_CHANNEL_STATS, b"{}", timeout=5)
            assert json.loads(reply.data) == {"answered": True}
            assert bot.refusals == 0
            # not its job: make the bot speak, answer a query, touch the stream's lifecycle
            await bot.refused(lambda: nc.publish(contract.OUTBOUND_ENQUEUE, b"{}"))
            await bot.refused(lambda: nc.subscribe("rosey.db.query.>"))
            await bot.refused(lambda: nc.subscribe(contract.QUERY_USER_STATS,
                                                     queue=contract.QUEUE_GROUP))
            await bot.refused(lambda: nc.jetstream(timeout=1).delete_stream(
                contract.STREAM_NAME))
            await bot.refused(lambda: nc.jetstream(timeout=1).purge_stream(
                contract.STREAM_NAME))
            await bot.refused(lambda: nc.jetstream(timeout=1).consumer_info(
                contract.STREAM_NAME, contract.CONSUMER_NAME))
            # nor read another identity's replies
            await bot.refused(lambda: nc.subscribe("_INBOX.>"))
            await bot.refused(lambda: nc.subscribe("_INBOX_dbservice.>"))
        info = await js.stream_info(contract.STREAM_NAME)
        assert info.state.messages == 1  # the one event; the enqueue never reached the stream


async def test_the_bot_keeps_raid_mode_and_asks_for_it_but_the_operator_only_asks(up_nats):
    """Automatic moderation's state (issue 19): the bot publishes ``rosey.db.automod.raid``
    (captured by the stream) and asks ``rosey.db.query.raid``; an outside tool may ask, never
    set it."""
    server, files = up_nats
    async with Identity.of(server, files, nats_auth.DBSERVICE) as db_nc:
        js = db_nc.jetstream()
        await ensure_stream(js, StreamSettings(), update=True)

        async def answer(msg) -> None:  # type: ignore[no-untyped-def]
            await msg.respond(contract.encode(contract.RaidReply()))

        await db_nc.subscribe(contract.QUERY_RAID, queue=contract.QUEUE_GROUP, cb=answer)
        await db_nc.flush()
        bot = Identity.of(server, files, nats_auth.BOT)
        async with bot as nc:
            ack = await nc.jetstream().publish(contract.RAID_STATE, contract.encode(
                contract.RaidState(True, {"chat_antiflood": False}, "raid", 1.0, 1.0)))
            assert ack.stream == contract.STREAM_NAME
            reply = await nc.request(contract.QUERY_RAID, b"{}", timeout=5)
            assert contract.decode_reply(contract.RaidQuery(), reply.data) == contract.RaidReply()
            assert bot.refusals == 0
            await bot.refused(lambda: nc.subscribe(contract.QUERY_RAID,
                                                     queue=contract.QUEUE_GROUP))
        op = Identity.of(server, files, nats_auth.OPERATOR)
        async with op as nc:
            reply = await nc.request(contract.QUERY_RAID, b"", timeout=5)
            assert json.loads(reply.data)["active"] is False
            assert op.refusals == 0
            await op.refused(lambda: nc.publish(contract.RAID_STATE, b'{"active": false}'))
        info = await js.stream_info(contract.STREAM_NAME)
        assert info.state.messages == 1  # the bot's raid state; the operator's never got in


async def test_the_operator_enqueues_and_asks_but_cannot_forge_moderator_commands(up_nats):
    server, files = up_nats
    async with Identity.of(server, files, nats_auth.DBSERVICE) as db_nc:
        await ensure_stream(db_nc.jetstream(), StreamSettings(), update=True)

        async def answer(msg) -> None:  # type: ignore[no-untyped-def]
            await msg.respond(b"[]")

        await db_nc.subscribe(contract.RECENT_CHAT_GET, queue=contract.QUEUE_GROUP, cb=answer)
        await db_nc.flush()
        op = Identity.of(server, files, nats_auth.OPERATOR)
        async with op as nc:
            ack = await nc.jetstream().publish(contract.OUTBOUND_ENQUEUE, b'{"message": "hi"}')
            assert ack.stream == contract.STREAM_NAME
            assert (await nc.request(contract.RECENT_CHAT_GET, b"{}", timeout=5)).data == b"[]"
            assert op.refusals == 0
            await op.refused(lambda: nc.publish(contract.PM_COMMAND, b"{}"))
            await op.refused(lambda: nc.publish(contract.MODERATION_ACTION, b"{}"))
            await op.refused(lambda: nc.publish(contract.MESSAGE_LOG, b"{}"))
            await op.refused(lambda: nc.subscribe(contract.QUERY_CHANNEL_STATS))
            await op.refused(lambda: nc.subscribe(contract.PM_COMMAND))
            await op.refused(lambda: nc.jetstream(timeout=1).delete_stream(
                contract.STREAM_NAME))
        assert await _stream_messages(server, files) == 1  # the enqueue, no forged command


async def test_the_dbservice_manages_its_stream_and_consumer_but_publishes_no_events(up_nats):
    server, files = up_nats
    async with Identity.of(server, files, nats_auth.BOT) as bot_nc:
        bjs = bot_nc.jetstream()
        await ensure_stream(bjs, StreamSettings(), update=False)  # the bot may create it
        for i in range(3):
            await bjs.publish(contract.MESSAGE_LOG, json.dumps({"i": i}).encode())
    db = Identity.of(server, files, nats_auth.DBSERVICE)
    async with db as nc:
        js = nc.jetstream()
        await js.account_info()  # ROSEY_JETSTREAM=auto asks whether JetStream is on
        await ensure_stream(js, StreamSettings(max_age_seconds=3600), update=True)  # update
        await js.add_consumer(contract.STREAM_NAME, consumer_config(0))
        await js.consumer_info(contract.STREAM_NAME, contract.CONSUMER_NAME)
        psub = await js.pull_subscribe_bind(durable=contract.CONSUMER_NAME,
                                            stream=contract.STREAM_NAME)
        msgs = await psub.fetch(3, timeout=5)
        assert len(msgs) == 3
        await msgs[0].in_progress()
        await msgs[-1].ack()
        await eventually(lambda: _no_pending(js), timeout=5, what="the batch acknowledged")
        await js.delete_consumer(contract.STREAM_NAME, contract.CONSUMER_NAME)
        assert db.refusals == 0
        await db.refused(lambda: nc.publish(contract.PM_COMMAND, b"{}"))
        await db.refused(lambda: nc.publish(contract.OUTBOUND_ENQUEUE, b"{}"))
        await db.refused(lambda: js.delete_stream(contract.STREAM_NAME))
        await db.refused(lambda: nc.subscribe("_INBOX_bot.>"))


async def _no_pending(js) -> bool:  # type: ignore[no-untyped-def]
    info = await js.consumer_info(contract.STREAM_NAME, contract.CONSUMER_NAME)
    return int(info.num_ack_pending) == 0


async def test_a_permission_error_is_logged_at_error_and_counted(up_nats):
    server, files = up_nats
    ident = Identity.of(server, files, nats_auth.BOT)
    with structlog.testing.capture_logs() as logs:
        async with ident as nc:
            await ident.refused(lambda: nc.publish(contract.OUTBOUND_ENQUEUE, b"{}"))
    [denied] = [e for e in logs if e["event"] == "nats_permission_denied"]
    assert denied["log_level"] == "error" and denied["user"] == "bot"
    assert contract.OUTBOUND_ENQUEUE in denied["error"]
    secret = files[nats_auth.BOT].read_text().strip()
    assert secret not in json.dumps(logs, default=str)


def test_the_bot_table_covers_exactly_what_the_bot_code_publishes_and_asks():
    """A guard against drift: the bot's permissions are the subjects its code uses."""
    source = "\n".join(p.read_text() for p in Path(rosey.bot.__file__).parent.glob("*.py"))
    # publish(contract.UserJoined(...)) names the event class, which knows its subject
    published = {getattr(contract, name).SUBJECT for name in
                 re.findall(r"publisher\.publish\(\s*contract\.([A-Za-z]+)", source)}
    asked = {getattr(contract, name).SUBJECT
             for name in re.findall(r"contract\.([A-Za-z]+Query)\(", source)}
    assert published == set(nats_auth.BOT_EVENTS)
    assert asked == set(nats_auth.BOT_QUERIES)
    assert contract.OUTBOUND_ENQUEUE not in published


async def test_the_chart_form_reads_each_password_from_the_environment(tmp_path):
    """The chart's authorization block names environment variables, not passwords."""
    block = nats_auth.authorization_block()
    assert "$ROSEY_NATS_OPERATOR_PASSWORD" in block and '"$ROSEY' not in block
    conf = tmp_path / "nats.conf"
    conf.write_text(f'jetstream {{ store_dir: "{tmp_path / "js"}" }}\n' + block)
    env = {**os.environ, **{nats_auth.password_variable(u): f"pw-{u}"
                            for u in nats_auth.IDENTITIES}}
    async with NatsServer(config_file=conf, jetstream=False, env=env) as server:
        nc = await nats.connect(server.url, user="operator", password="pw-operator")
        await nc.close()
        with pytest.raises(nats.errors.Error):  # the variable's name is not the password
            await nats.connect(server.url, user="operator",
                               password="$ROSEY_NATS_OPERATOR_PASSWORD",
                               allow_reconnect=False, max_reconnect_attempts=0)


async def test_the_identity_in_the_settings_is_what_the_service_connects_as(up_nats, tmp_path):
    """The entry points read the identity into the service's settings (no process-wide
    state): a DatabaseService built from ``ROSEY_NATS_*`` connects as that user (anonymous is
    refused here) and counts the server's refusals in its own metric."""
    from rosey.config import db_settings
    from rosey.dbservice.service import DatabaseService
    from rosey.metrics import DbMetrics

    server, files = up_nats
    env = {"ROSEY_NATS_USER": nats_auth.DBSERVICE,
           "ROSEY_NATS_PASSWORD_FILE": str(files[nats_auth.DBSERVICE])}
    settings = db_settings(env, nats_url=server.url, db_path=str(tmp_path / "r.db"),
                           metrics_port=0)
    assert settings.nats_auth.user == nats_auth.DBSERVICE
    metrics = DbMetrics()
    denied = metrics.nats_permission_errors
    # a deadline: a service connecting anonymously would be refused and retry forever
    async with asyncio.timeout(30), DatabaseService(settings=settings, metrics=metrics,
                                                    serve_metrics=False) as svc:
        await svc.wait_ready()
        assert svc.nc is not None
        await svc.nc.publish(contract.OUTBOUND_ENQUEUE, b"{}")  # not the dbservice's to publish
        await eventually(lambda: denied._value.get() == 1, timeout=5, what="refusal counted")


async def test_the_dbservice_reconnects_as_itself_after_a_nats_restart(tmp_path):
    """Authentication on through an outage: the real DatabaseService (a process, as `rosey
    up` runs it) reconnects with its identity and applies what the bot publishes after."""
    import sys

    from tests.support.procs import exit_code_after, free_port, http_status, reaped

    server, files = await _start_nats(tmp_path)
    db_port = free_port()
    env = {**os.environ, "ROSEY_NATS_URL": server.url, "ROSEY_NATS_USER": nats_auth.DBSERVICE,
           "ROSEY_NATS_PASSWORD_FILE": str(files[nats_auth.DBSERVICE]),
           "ROSEY_DB_PATH": str(tmp_path / "rosey.db"), "ROSEY_METRICS_PORT": str(db_port),
           "ROSEY_LOG_FORMAT": "json"}
    log_path = tmp_path / "db.log"
    with open(log_path, "wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "rosey.db", env=env, stdout=out,
            stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL)
    try:
        async with reaped(proc):
            await eventually(lambda: http_status(db_port, "/readyz") == 200, timeout=30,
                             what="the DatabaseService ready")

            async def chat(n: int) -> None:
                async with Identity.of(server, files, nats_auth.BOT) as nc:
                    for i in range(n):
                        await nc.jetstream().publish(contract.MESSAGE_LOG, contract.encode(
                            contract.MessageLog("alice", f"line {i}", 1_700_000_000 + i)))

            async def lines() -> int:
                async with Identity.of(server, files, nats_auth.OPERATOR) as nc:
                    msg = await nc.request(contract.QUERY_USER_STATS, contract.encode(
                        contract.UserStatsQuery("alice")), timeout=5)
                    return int(json.loads(msg.data).get("total_chat_lines") or 0)

            await chat(3)
            await eventually(lambda: _equals(lines(), 3), timeout=20, what="3 lines applied")
            await server.stop()
            server = NatsServer(config_file=tmp_path / "nats.conf", jetstream=False,
                                port=server.port)
            await server.start()
            await eventually(lambda: http_status(db_port, "/readyz") == 200, timeout=30,
                             what="reconnected")
            await chat(2)
            await eventually(lambda: _equals(lines(), 5), timeout=30, what="5 lines applied")
            assert await exit_code_after(proc, 15) == 0
    finally:
        await server.stop()
    text = log_path.read_text()
    assert '"nats_reconnected"' in text
    assert "nats_permission_denied" not in text and "nats_auth_refused" not in text


async def _equals(value, expected) -> bool:  # type: ignore[no-untyped-def]
    return await value == expected
