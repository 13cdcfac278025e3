"""The web process's NATS identity (issue 20): on a real nats-server running exactly the config
``rosey up`` writes, ``web`` asks its queries of a real DatabaseService and the bot's two login
subjects of the bot, and can do nothing else: no event, no moderation action, no enqueue, no
stream, no answering in anyone's place, no reading another identity's replies. The bot answers
the login subjects (``allow_responses``); nobody else may ask or answer them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rosey import contract, nats_auth
from rosey.config import db_settings
from rosey.contract import web as web_contract
from rosey.dbservice.service import DatabaseService
from rosey.metrics import DbMetrics
from rosey.natsd import NatsServer
from rosey.up import _start_nats
from tests.test_nats_auth import Identity


@pytest.fixture
async def up_nats(tmp_path) -> AsyncIterator[tuple[NatsServer, dict[str, Path]]]:
    """The nats-server ``rosey up`` starts, with its four identities' password files."""
    server, files = await _start_nats(tmp_path)
    try:
        yield server, files
    finally:
        await server.stop()


def test_the_web_identity_publishes_only_its_requests_and_reads_only_its_inbox():
    web = nats_auth.PERMISSIONS[nats_auth.WEB]
    assert web.publish == web_contract.WEB_REQUEST_SUBJECTS
    assert web.subscribe == ("_INBOX_web.>",)
    assert web.allow_responses is False
    assert not set(web.publish) & set(contract.STREAM_SUBJECTS)  # no event at all
    assert not [s for s in web.publish if s.startswith(("$JS", "_INBOX"))]
    # the bot answers its two login subjects, and only the bot subscribes to them
    bot = nats_auth.PERMISSIONS[nats_auth.BOT]
    assert set(web_contract.BOT_WEB_SUBJECTS) <= set(bot.subscribe) and bot.allow_responses
    assert all(s.startswith("rosey.bot.web.") for s in web_contract.BOT_WEB_SUBJECTS)
    for user in (nats_auth.DBSERVICE, nats_auth.OPERATOR, nats_auth.WEB):
        perms = nats_auth.PERMISSIONS[user]
        assert not set(web_contract.BOT_WEB_SUBJECTS) & set(perms.subscribe), user
    # only the web process asks them (an outside tool cannot redeem a login token)
    for user in (nats_auth.BOT, nats_auth.DBSERVICE, nats_auth.OPERATOR):
        assert not set(web_contract.BOT_WEB_SUBJECTS) & set(nats_auth.PERMISSIONS[user].publish)
    # every DatabaseService query it asks is one the DatabaseService answers
    db_answers = set(nats_auth.PERMISSIONS[nats_auth.DBSERVICE].subscribe)
    assert set(web_contract.WEB_DB_QUERIES) <= db_answers


@pytest.mark.parametrize("user", nats_auth.IDENTITIES)
def test_the_authorization_block_gives_every_identity_its_password_variable(user):
    block = nats_auth.authorization_block()
    assert f'{{user: "{user}", password: ${nats_auth.password_variable(user)},' in block


async def test_web_asks_the_database_service_and_the_bot_and_nothing_else(up_nats, tmp_path):
    server, files = up_nats
    settings = db_settings({"ROSEY_NATS_USER": nats_auth.DBSERVICE,
                            "ROSEY_NATS_PASSWORD_FILE": str(files[nats_auth.DBSERVICE])},
                           nats_url=server.url, db_path=str(tmp_path / "rosey.db"),
                           metrics_port=0)
    async with asyncio.timeout(60), DatabaseService(settings=settings, metrics=DbMetrics(),
                                                    serve_metrics=False) as db:
        await db.wait_ready()
        bot = Identity.of(server, files, nats_auth.BOT)
        async with bot as bot_nc:
            asked: list[tuple[str, bytes]] = []

            async def answer_as_the_bot(msg) -> None:  # type: ignore[no-untyped-def]
                asked.append((msg.subject, msg.data))
                await msg.respond(json.dumps({"success": True, "subject": msg.subject}).encode())

            for subject in web_contract.BOT_WEB_SUBJECTS:
                await bot_nc.subscribe(subject, cb=answer_as_the_bot)
            await bot_nc.flush()
            assert bot.refusals == 0  # the bot may subscribe to them and answer

            web = Identity.of(server, files, nats_auth.WEB)
            async with web as nc:
                # its job: every DatabaseService query it reads is answered by the real service
                for subject in web_contract.WEB_DB_QUERIES:
                    reply = await nc.request(subject, b'{"username": "alice"}', timeout=10)
                    answer = json.loads(reply.data)
                    assert not (isinstance(answer, dict) and answer.get("success") is False), \
                        (subject, answer)
                # and the bot's two login subjects
                for subject in web_contract.BOT_WEB_SUBJECTS:
                    reply = await nc.request(subject, b'{"username": "alice"}', timeout=10)
                    assert json.loads(reply.data) == {"success": True, "subject": subject}
                assert [s for s, _ in asked] == list(web_contract.BOT_WEB_SUBJECTS)
                assert web.refusals == 0

                # not its job: any event (core or JetStream), a moderation action, an enqueue
                await web.refused(lambda: nc.publish(contract.MESSAGE_LOG, b"{}"))
                await web.refused(lambda: nc.jetstream(timeout=1).publish(
                    contract.USER_JOINED, b"{}"))
                await web.refused(lambda: nc.publish(contract.MODERATION_ACTION, b"{}"))
                await web.refused(lambda: nc.publish(contract.PM_COMMAND, b"{}"))
                await web.refused(lambda: nc.publish(contract.OUTBOUND_ENQUEUE, b"{}"))
                # the stream and its consumer
                await web.refused(lambda: nc.jetstream(timeout=1).stream_info(
                    contract.STREAM_NAME))
                await web.refused(lambda: nc.jetstream(timeout=1).delete_stream(
                    contract.STREAM_NAME))
                # answering in the DatabaseService's or the bot's place (a login token's digest
                # would reach it), or reading another identity's replies
                await web.refused(lambda: nc.subscribe(contract.QUERY_MODLOG))
                await web.refused(lambda: nc.subscribe(web_contract.WEB_REDEEM))
                await web.refused(lambda: nc.subscribe("rosey.bot.web.>"))
                await web.refused(lambda: nc.subscribe("_INBOX_bot.>"))
                await web.refused(lambda: nc.subscribe("_INBOX.>"))
                await web.refused(lambda: nc.subscribe(contract.MESSAGE_LOG))

            # an outside tool cannot redeem a login token, nor listen for one
            operator = Identity.of(server, files, nats_auth.OPERATOR)
            async with operator as op_nc:
                await operator.refused(lambda: op_nc.publish(web_contract.WEB_REDEEM, b"{}"))
                await operator.refused(lambda: op_nc.subscribe(web_contract.WEB_REDEEM))
            # nor can the DatabaseService
            dbident = Identity.of(server, files, nats_auth.DBSERVICE)
            async with dbident as dbi_nc:
                await dbident.refused(lambda: dbi_nc.subscribe(web_contract.WEB_RANK))
            # the bot answers requests only: it cannot publish on the web's inbox unasked
            await bot.refused(lambda: bot_nc.publish("_INBOX_web.forged", b"{}"))
            assert [s for s, _ in asked] == list(web_contract.BOT_WEB_SUBJECTS)

        # nothing the web process tried reached the stream
        assert db.nc is not None
        info = await db.nc.jetstream().stream_info(contract.STREAM_NAME)
        assert info.state.messages == 0
