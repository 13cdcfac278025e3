"""The shipped images survive `docker kill`: every acknowledged event is applied exactly once.

NATS (the host's nats-server on the stand-in base, JetStream on a named volume), the
DatabaseService (SQLite on a named volume, read-only root filesystem) and the bot (no CyTube to
join) run as containers on the host network. The test publishes N chat lines for one user through
JetStream with a Nats-Msg-Id each, `docker kill`s the DatabaseService mid-stream and starts it
again, later kills NATS and starts it again on the same volume, and then asks the
DatabaseService: the user's total_chat_lines must be exactly N.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
import uuid

import nats
import nats.errors
import pytest

from rosey import contract
from tests.support.wait import eventually

from .conftest import Container, Stack, free_port

pytestmark = pytest.mark.docker

N_EVENTS = 600


async def http_status(url: str) -> int:
    def get() -> int:
        try:
            return int(urllib.request.urlopen(url, timeout=2).status)
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return 0
    return await asyncio.to_thread(get)


async def http_text(url: str) -> str:
    def get() -> str:
        try:
            return urllib.request.urlopen(url, timeout=2).read().decode()
        except OSError:
            return ""
    return await asyncio.to_thread(get)


async def wait_nats_ready(container: Container, timeout: float = 60) -> None:
    await eventually(lambda: "Server is ready" in container.logs().rsplit("Starting nats-server", 1)[-1],
                     timeout=timeout, interval=0.2, what=f"{container.name} ready")


def start_stack(stack: Stack) -> dict[str, int]:
    ports = {"nats": free_port(), "nats_monitor": free_port(), "db_metrics": free_port(),
             "bot_metrics": free_port(), "cytube": free_port()}
    nats_url = f"nats://127.0.0.1:{ports['nats']}"
    stack.run("nats", volumes={stack.volume("nats"): "/data"},
              args=("--jetstream", "--store_dir", "/data", "--addr", "127.0.0.1",
                    "--port", str(ports["nats"]), "--http_port", str(ports["nats_monitor"]),
                    "--server_name", "rosey-test"))
    stack.run("dbservice", volumes={stack.volume("db"): "/data"},
              env={"ROSEY_NATS_URL": nats_url, "ROSEY_METRICS_PORT": str(ports["db_metrics"]),
                   "ROSEY_STREAM_REPLICAS": "1", "ROSEY_LOG_LEVEL": "info"})
    # nothing listens on the CyTube port: the bot keeps trying and must stay up meanwhile
    stack.run("bot",
              env={"ROSEY_NATS_URL": nats_url, "ROSEY_METRICS_PORT": str(ports["bot_metrics"]),
                   "ROSEY_CYTUBE_DOMAIN": f"http://127.0.0.1:{ports['cytube']}",
                   "ROSEY_CYTUBE_CHANNEL": "rosey-kill-test"})
    return ports


async def test_acknowledged_events_are_applied_exactly_once_across_container_kills(
        stack: Stack) -> None:
    ports = start_stack(stack)
    nats_c, db_c, bot_c = (stack.containers[r] for r in ("nats", "dbservice", "bot"))
    db_readyz = f"http://127.0.0.1:{ports['db_metrics']}/readyz"
    await wait_nats_ready(nats_c)
    await eventually(lambda: _is(http_status(db_readyz), 200), timeout=60, interval=0.2,
                     what="dbservice ready (stream created, consumer running)")

    nc = await nats.connect(f"nats://127.0.0.1:{ports['nats']}", max_reconnect_attempts=-1,
                            reconnect_time_wait=0.25, connect_timeout=2)
    try:
        js = nc.jetstream()
        user = f"killtest-{uuid.uuid4().hex[:8]}"
        acked = 0

        async def publish_all() -> None:
            nonlocal acked
            for i in range(N_EVENTS):
                payload = json.dumps({"username": user, "message": f"line {i}",
                                      "timestamp": time.time()}).encode()
                deadline = time.monotonic() + 120
                while True:
                    try:
                        await js.publish(contract.MESSAGE_LOG, payload, timeout=2,
                                         headers={contract.MSG_ID_HEADER: f"{user}-{i}"})
                        break
                    except (TimeoutError, nats.errors.Error):
                        # NATS is away: publish again with the same Nats-Msg-Id (deduplicated)
                        assert time.monotonic() < deadline, f"event {i} never acknowledged"
                        await asyncio.sleep(0.1)
                acked += 1
                # pacing, so the kills land mid-stream rather than after the last event
                await asyncio.sleep(0.004)

        publisher = asyncio.create_task(publish_all())
        try:
            await eventually(lambda: acked >= N_EVENTS // 3, timeout=120, what="first third acked")
            db_c.kill()
            assert db_c.state()["ExitCode"] == 137
            killed_at = acked
            await eventually(lambda: acked >= killed_at + 25, timeout=60,
                             what="events acknowledged while the DatabaseService is down")
            db_c.start()

            await eventually(lambda: acked >= 2 * N_EVENTS // 3, timeout=120,
                             what="second third acked")
            nats_c.kill()
            nats_c.start()
            await wait_nats_ready(nats_c)
            await asyncio.wait_for(publisher, timeout=300)
        finally:
            publisher.cancel()
        assert acked == N_EVENTS

        async def user_lines() -> int:
            try:
                msg = await nc.request(contract.QUERY_USER_STATS,
                                       json.dumps({"username": user}).encode(), timeout=2)
            except (TimeoutError, nats.errors.Error):
                return -1
            reply = json.loads(msg.data)
            return int(reply["total_chat_lines"]) if reply.get("found") else 0

        await eventually(lambda: _at_least(user_lines(), N_EVENTS), timeout=120, interval=0.25,
                         what=f"{N_EVENTS} chat lines applied")

        async def drained() -> bool:
            try:
                info = await js.consumer_info(contract.STREAM_NAME, contract.CONSUMER_NAME)
            except (TimeoutError, nats.errors.Error):
                return False
            return info.num_pending == 0 and info.num_ack_pending == 0
        await eventually(drained, timeout=60, interval=0.25, what="consumer has nothing pending")

        # exactly once: nothing lost, nothing applied twice, nothing stored twice in the stream
        assert await user_lines() == N_EVENTS
        stream = await js.stream_info(contract.STREAM_NAME, subjects_filter=contract.MESSAGE_LOG)
        assert stream.state.subjects == {contract.MESSAGE_LOG: N_EVENTS}
        stats = json.loads((await nc.request(contract.QUERY_CHANNEL_STATS, b"{}", timeout=5)).data)
        assert stats["success"] is True
        assert {"username": user, "chat_lines": N_EVENTS} in stats["top_chatters"]

        # the DatabaseService came back ready, and the bot never went down
        assert await http_status(db_readyz) == 200
        assert bot_c.state()["Running"] is True
        assert await http_status(f"http://127.0.0.1:{ports['bot_metrics']}/healthz") == 200
        await eventually(
            lambda: _contains(http_text(f"http://127.0.0.1:{ports['bot_metrics']}/metrics"),
                              "rosey_nats_connected 1.0"),
            timeout=60, interval=0.5, what="the bot reconnected to NATS")
    finally:
        await nc.close()


@pytest.mark.parametrize("role", ["dbservice", "bot"])
async def test_sigterm_reaches_python_and_the_process_exits_0(stack: Stack, role: str) -> None:
    ports = start_stack(stack)
    await wait_nats_ready(stack.containers["nats"])
    metrics = ports["db_metrics" if role == "dbservice" else "bot_metrics"]
    await eventually(lambda: _is(http_status(f"http://127.0.0.1:{metrics}/healthz"), 200),
                     timeout=60, interval=0.2, what=f"{role} /healthz")
    container = stack.containers[role]
    started = time.monotonic()
    container.stop(timeout=25)  # SIGTERM, then SIGKILL after 25s
    assert container.state()["ExitCode"] == 0, container.logs()
    assert time.monotonic() - started < 20, "the process ignored SIGTERM until docker killed it"


async def _is(value, expected) -> bool:
    return (await value) == expected


async def _at_least(value, expected: int) -> bool:
    return (await value) >= expected


async def _contains(text, needle: str) -> bool:
    return needle in (await text)
