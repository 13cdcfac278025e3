"""The JetStream stream: exactly the event subjects, created and updated idempotently."""

from __future__ import annotations

import json

import nats.errors
import pytest

from rosey import contract
from rosey.config import StreamSettings
from rosey.stream import ensure_stream
from tests.support.db import rows, running_db_service
from tests.support.wait import eventually


async def test_stream_captures_exactly_the_event_subjects(nc):
    js = nc.jetstream()
    await ensure_stream(js, StreamSettings(), update=True)
    info = await js.stream_info(contract.STREAM_NAME)
    assert sorted(info.config.subjects) == sorted(contract.STREAM_SUBJECTS)
    assert str(getattr(info.config.storage, "value", info.config.storage)) == "file"


async def test_a_query_is_never_answered_by_the_stream(nc):
    await ensure_stream(nc.jetstream(), StreamSettings(), update=True)
    for subject in contract.ALL_QUERY_SUBJECTS:
        with pytest.raises(nats.errors.NoRespondersError):
            await nc.request(subject, b"{}", timeout=2)


async def test_ensure_stream_is_idempotent_and_updates_limits(nc):
    js = nc.jetstream()
    await ensure_stream(js, StreamSettings(), update=True)
    await ensure_stream(js, StreamSettings(), update=True)
    await ensure_stream(js, StreamSettings(max_age_seconds=3600, duplicate_window_seconds=30),
                        update=True)
    info = await js.stream_info(contract.STREAM_NAME)
    assert (info.config.max_age, info.config.duplicate_window) == (3600, 30)
    # the bot's call never changes what the DatabaseService set
    await ensure_stream(js, StreamSettings(), update=False)
    assert (await js.stream_info(contract.STREAM_NAME)).config.max_age == 3600


async def test_duplicate_message_id_is_stored_once(nc):
    js = nc.jetstream()
    await ensure_stream(js, StreamSettings(), update=True)
    first = await js.publish(contract.USER_JOINED, b'{"username":"a"}',
                             headers={contract.MSG_ID_HEADER: "evt-1"})
    again = await js.publish(contract.USER_JOINED, b'{"username":"a"}',
                             headers={contract.MSG_ID_HEADER: "evt-1"})
    assert again.duplicate and again.seq == first.seq


async def test_plain_core_publishes_are_captured_while_no_service_runs(nats_server, nc, tmp_path):
    db = tmp_path / "r.db"
    async with running_db_service(nats_server.url, db):
        pass  # creates the stream, then stops
    for i in range(5):  # like `nats pub rosey.db.message.log ...`
        await nc.publish(contract.MESSAGE_LOG,
                         json.dumps({"username": "cli", "message": str(i)}).encode())
    await nc.flush()
    async with running_db_service(nats_server.url, db) as svc:
        async def applied() -> bool:
            return rows(svc.store.path,
                        "SELECT total_chat_lines FROM user_stats WHERE username = 'cli'") == [(5,)]
        await eventually(applied, what="core publishes applied from the stream")
