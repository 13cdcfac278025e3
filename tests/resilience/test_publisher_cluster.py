"""The publisher's window across a stream leader change in a 3-server NATS cluster (the chart's
production shape: the stream at replicas=3), against real nats-servers (tests/support/natscluster).

tests/bot/test_publisher_window.py shows the chained window (``Nats-Expected-Last-Msg-Id``)
keeps the stream in publish order across one nats-server going away. In a cluster the failure
is different: the stream's leader takes its in-flight proposals with it while a new leader is
elected among the two others, and the client fails over to another server. Here a burst is
being published (a backlog that keeps the window full, then a steady flow) by a client
connected to the leader's server when the leader is SIGKILLed (started again at once, started
again once the new leader took events, or left dead: the two others keep quorum), stopped
cleanly (it hands its leadership over) and started again, or asked to step down. In every
case the stream must hold every event once, in publish order, and the publisher must count
none out of order.

On a replicated stream the publisher keeps one acknowledgement in flight and sends no
condition (rosey.bot.publisher explains why: a restarted replica lacks the last message id
every replica checks the condition against, and falls out of step);
test_a_replicated_stream_gets_one_publish_at_a_time shows it. Earlier, with the chained window
on this stream, these cases passed too, also with the chain switched off: the test guards the
outcome, and the chain's own need is shown by the single-server test.
"""

from __future__ import annotations

import asyncio
import json
import time

import nats
import nats.errors
import nats.js.errors
import pytest
from nats.aio.client import Client
from prometheus_client import CollectorRegistry

from rosey import contract
from rosey.bot.publisher import EXPECTED_LAST_MSG_ID_HEADER, Publisher
from rosey.config import StreamSettings
from rosey.metrics import BotMetrics
from rosey.stream import ensure_stream
from tests.support.natscluster import NatsCluster
from tests.support.wait import eventually

N = 8_000
KILL_AFTER = 1_000  # events acknowledged before the leader is changed
HEAD = 3_000  # events published at once, at the start
TAIL = 1_000  # events published only once the change is over
FLUSH_DEADLINE = 45.0
_JS_ERRORS = (nats.errors.Error, nats.js.errors.Error, TimeoutError)


def _published(m: BotMetrics) -> float:
    return m.registry.get_sample_value("rosey_events_published_total",
                                       {"subject": contract.USER_JOINED}) or 0.0


def _out_of_order(m: BotMetrics) -> float:
    return m.registry.get_sample_value("rosey_events_out_of_order_total",
                                       {"subject": contract.USER_JOINED}) or 0.0


async def _stream_info(js):
    """The stream's info, or None while the cluster cannot answer (a leader being elected)."""
    try:
        return await js.stream_info(contract.STREAM_NAME)
    except _JS_ERRORS:
        return None


async def _healthy(js, replicas: int) -> bool:
    info = await _stream_info(js)
    if info is None or info.cluster is None or not info.cluster.leader:
        return False
    peers = info.cluster.replicas or []
    return len(peers) == replicas - 1 and all(p.current for p in peers)


async def _stored(js, timeout: float = 30.0) -> list[tuple[str, str]]:
    """Every message of the stream in stream order, (username, msg id): read until the
    stream's message count is reached (a fetch may time out while the cluster settles)."""
    info = await eventually(lambda: _stream_info(js), timeout=timeout,
                            what="the stream's info")
    total = info.state.messages

    async def subscribe():  # a consumer placed on the dead server never answers: try again
        try:
            return await js.pull_subscribe(contract.USER_JOINED, durable=None)
        except _JS_ERRORS:
            return None

    sub = await eventually(subscribe, timeout=timeout, what="an ephemeral consumer")
    out: list[tuple[str, str]] = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < total and time.monotonic() < deadline:
            try:
                msgs = await sub.fetch(500, timeout=1)
            except TimeoutError:
                continue
            for msg in msgs:
                out.append((json.loads(msg.data)["username"],
                            msg.headers[contract.MSG_ID_HEADER]))
                await msg.ack()  # an ephemeral consumer delivers at most 1,000 unacknowledged
    finally:
        await sub.unsubscribe()
    assert len(out) == total, f"read {len(out)} of the stream's {total} messages"
    return out


def _first_difference(stored: list[str], wanted: list[str]) -> str:
    for i, (got, want) in enumerate(zip(stored, wanted, strict=False)):
        if got != want:
            return (f"stream position {i}: {got!r} where {want!r} belongs; around it: "
                    f"{stored[max(0, i - 5):i + 10]}")
    return f"lengths differ: {len(stored)} stored, {len(wanted)} published"


CASES = {
    # the killed leader is started again straight away, while a new one is being elected
    "killed-restarted-at-once": ("kill", "at-once"),
    # ... once the new leader has acknowledged events
    "killed-restarted-after-failover": ("kill", "after-failover"),
    # ... never: the two others keep quorum and carry on alone
    "killed-left-dead": ("kill", "never"),
    # a clean stop (SIGINT) of the leader, started again once the new leader took events
    "stopped-restarted": ("stop", "after-failover"),
    # the leader hands over at once (the JetStream API's stepdown): in-flight proposals are
    # dropped while the next messages already reach the new leader
    "stepped-down": ("stepdown", "never"),
}


async def _connect(servers: list[str]) -> Client:
    # in the given order (dont_randomize): the first is the one connected to
    return await nats.connect(servers=servers, dont_randomize=True, max_reconnect_attempts=-1,
                              reconnect_time_wait=0.1, connect_timeout=2)


async def _step_down(nc: Client) -> None:
    await nc.request(f"$JS.API.STREAM.LEADER.STEPDOWN.{contract.STREAM_NAME}", b"", timeout=5)


@pytest.mark.parametrize("case", list(CASES))
async def test_a_stream_leader_change_mid_burst_loses_nothing_and_keeps_the_order(
        tmp_path, case):
    how, restart = CASES[case]
    async with NatsCluster(tmp_path / "cluster") as cluster:
        await cluster.wait_for_meta_leader()
        nc = await _connect(cluster.urls)  # the test's own: set-up and inspection
        pc: Client | None = None
        try:
            js = nc.jetstream()
            await ensure_stream(js, StreamSettings(replicas=3), update=True)
            await eventually(lambda: _healthy(js, 3), timeout=30,
                             what="a stream leader with both replicas current")
            info = await js.stream_info(contract.STREAM_NAME)
            assert info.cluster is not None
            leader = info.cluster.leader
            assert leader in cluster.names
            # the bot's connection, on the leader's server (the others to fail over to): the
            # hardest place, where a change also loses what the client had written
            leader_url = cluster.urls[cluster.names.index(leader)]
            pc = await _connect([leader_url, *(u for u in cluster.urls if u != leader_url)])
            m = BotMetrics(CollectorRegistry())
            changed = asyncio.Event()  # the leader was changed (and started again)
            started = time.monotonic()
            async with Publisher(js=pc.jetstream(), metrics=m, maxsize=N, ack_timeout=1.0,
                                 retry_delay=0.05) as pub:

                async def burst() -> None:
                    """A backlog of HEAD joins at once (the window stays full: many publishes
                    in flight when the leader changes), then ~800 a second; the last TAIL are
                    held back until the change is over, so events are published before,
                    during and after it whatever the election takes."""
                    for i in range(N):
                        if i == N - TAIL:
                            await asyncio.wait_for(changed.wait(), 60)
                        pub.publish(contract.UserJoined(f"u{i}", 1.0))
                        if i >= HEAD and i % 20 == 19:
                            await asyncio.sleep(0.025)

                producing = asyncio.create_task(burst())
                await eventually(lambda: _published(m) >= KILL_AFTER, timeout=30,
                                 what="the burst under way")
                info = await js.stream_info(contract.STREAM_NAME)
                assert info.cluster is not None and info.cluster.leader == leader
                assert pc.connected_url is not None
                assert pc.connected_url.port == cluster.ports[leader]
                changed_at = time.monotonic()
                if how == "kill":
                    await cluster.kill(leader)
                elif how == "stop":
                    await cluster.stop_server(leader)
                else:
                    await _step_down(nc)
                at_change = _published(m)
                if restart == "after-failover":
                    await eventually(lambda: _published(m) >= at_change + 200, timeout=30,
                                     what="events acknowledged by the new leader")
                if restart != "never":
                    await cluster.start_server(leader)
                restarted_at = time.monotonic()
                changed.set()
                await producing
                await asyncio.wait_for(pub.flush(), FLUSH_DEADLINE)
                flushed_at = time.monotonic()
            after = await eventually(lambda: _stream_info(js), timeout=30,
                                     what="the stream's info")
            new_leader = after.cluster.leader if after.cluster else None
            stored = await _stored(nc.jetstream(timeout=2))
            names = [u for u, _ in stored]
            wanted = [f"u{i}" for i in range(N)]
            print(f"\n{case}: leader {leader} ({how}) at {at_change:.0f} acknowledged "
                  f"({changed_at - started:.1f}s into the burst)"
                  + (f", started again after {restarted_at - changed_at:.1f}s"
                     if restart != "never" else "")
                  + f"; new leader {new_leader}; flushed {flushed_at - changed_at:.1f}s after "
                  f"the change, {flushed_at - started:.1f}s after the start")
            assert names == wanted, _first_difference(names, wanted)
            assert len({mid for _, mid in stored}) == N
            if restart == "never":
                assert new_leader != leader
            assert _out_of_order(m) == 0
            assert _published(m) == N
        finally:
            if pc is not None:
                await pc.close()
            await nc.close()


class _Counting:
    """The real JetStream context; counts the publishes in flight and any condition header."""

    def __init__(self, js):
        self._js = js
        self.in_flight = self.most_in_flight = self.conditioned = 0

    def __getattr__(self, name):
        return getattr(self._js, name)

    async def publish(self, subject, payload=b"", timeout=None, stream=None, headers=None):
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        self.conditioned += EXPECTED_LAST_MSG_ID_HEADER in (headers or {})
        try:
            return await self._js.publish(subject, payload, timeout=timeout, headers=headers)
        finally:
            self.in_flight -= 1


async def test_a_replicated_stream_gets_one_publish_at_a_time(tmp_path):
    """No window and no Nats-Expected-Last-Msg-Id on a stream with replicas: the order comes
    from sending each event only once the one before it is stored."""
    async with NatsCluster(tmp_path / "cluster") as cluster:
        await cluster.wait_for_meta_leader()
        nc = await _connect(cluster.urls)
        try:
            js = nc.jetstream()
            await ensure_stream(js, StreamSettings(replicas=3), update=True)
            await eventually(lambda: _healthy(js, 3), timeout=30,
                             what="a stream leader with both replicas current")
            counting = _Counting(nc.jetstream())
            m = BotMetrics(CollectorRegistry())
            async with Publisher(js=counting, metrics=m) as pub:
                for i in range(300):
                    pub.publish(contract.UserJoined(f"u{i}", 1.0))
                await asyncio.wait_for(pub.flush(), 30)
            assert (counting.most_in_flight, counting.conditioned) == (1, 0)
            assert [u for u, _ in await _stored(nc.jetstream(timeout=2))] == [
                f"u{i}" for i in range(300)]
        finally:
            await nc.close()
