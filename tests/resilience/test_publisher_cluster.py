"""The publisher's window across a stream leader change in a 3-server NATS cluster (the chart's
production shape: the stream at replicas=3), against real nats-servers (tests/support/natscluster).

tests/bot/test_publisher_window.py shows the chained window (``Nats-Expected-Last-Msg-Id``)
keeps the stream in publish order across one nats-server going away. In a cluster the failure
is different: the stream's leader takes its in-flight proposals with it while a new leader is
elected among the two others, and the client fails over to another server. Here a burst is
being published (a backlog that keeps the publisher busy, then a steady flow) by a client
connected to the leader's server when the leader is SIGKILLed (started again at once, started
again once the new leader took events, or left dead: the two others keep quorum), stopped
cleanly (it hands its leadership over) and started again, or asked to step down; and, with
another publisher's plain events coming in between the bot's (the chart's publisher Job beside
the bot), when a follower or the leader is SIGKILLed and started again. In every case the
stream must hold every event once, in publish order, and the publisher must count none out of
order; and then every running server's own copy of the stream (its /jsz: messages, first and
last sequence) must be the same, and its /healthz (the chart's startup probe) ok, within 30 s:
a replica out of step fails there even while the stream's leader answers for all.

On a replicated stream the publisher keeps one acknowledgement in flight and sends no
condition: test_a_replicated_stream_gets_one_publish_at_a_time shows it, and
test_a_refused_condition_stops_a_replicated_stream shows why (rosey.bot.publisher has the whole
story). Issue 21 re-checked the chained window on this stream on nats-server 2.14.6 (the chain
forced on): 3 of the 7 cases passed and 4 failed. A leader killed, or stopped, and started
again once the new leader took events caught up, refused the next chained event against a
stale last message id and stopped taking writes: 1,051 and 1,134 messages against the others'
8,000 (N was 8,000 then), /healthz "unavailable" (the AGREE_DEADLINE check). With another publisher, the first
refused event stopped the stream on all three servers: the burst never reached 1,000 events.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.error
import urllib.request

import nats
import nats.errors
import nats.js.errors
import pytest
from nats.aio.client import Client
from prometheus_client import CollectorRegistry

from rosey import contract
from rosey.bot.publisher import EXPECTED_LAST_MSG_ID_HEADER, WRONG_LAST_MSG_ID, Publisher
from rosey.config import StreamSettings
from rosey.metrics import BotMetrics
from rosey.stream import ensure_stream
from tests.support.natscluster import NatsCluster, free_ports
from tests.support.wait import eventually

N = 5_000  # on 3 replicas, one acknowledgement in flight, flushed: ~550 ev/s
KILL_AFTER = 1_000  # events acknowledged before the leader is changed
HEAD = 2_500  # events published at once, at the start
TAIL = 1_000  # events published only once the change is over
FLUSH_DEADLINE = 45.0
AGREE_DEADLINE = 30.0  # for the servers' own copies of the stream to agree, after the scenario
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
    stream's message count is reached (a fetch may time out while the cluster settles; one
    that fails, a 503 from a consumer not answering yet, starts the reading over)."""
    info = await eventually(lambda: _stream_info(js), timeout=timeout,
                            what="the stream's info")
    total = info.state.messages
    deadline = time.monotonic() + timeout
    while True:
        try:
            out = await _read(js, total, deadline)
            break
        except _JS_ERRORS:
            if time.monotonic() >= deadline:
                raise
    assert len(out) == total, f"read {len(out)} of the stream's {total} messages"
    return out


async def _read(js, total: int, deadline: float) -> list[tuple[str, str]]:
    async def subscribe():  # a consumer placed on the dead server never answers: try again
        try:
            return await js.pull_subscribe(contract.USER_JOINED, durable=None)
        except _JS_ERRORS:
            return None

    sub = await eventually(subscribe, timeout=max(1.0, deadline - time.monotonic()),
                           what="an ephemeral consumer")
    out: list[tuple[str, str]] = []
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
    return out


def _first_difference(stored: list[str], wanted: list[str]) -> str:
    for i, (got, want) in enumerate(zip(stored, wanted, strict=False)):
        if got != want:
            return (f"stream position {i}: {got!r} where {want!r} belongs; around it: "
                    f"{stored[max(0, i - 5):i + 10]}")
    return f"lengths differ: {len(stored)} stored, {len(wanted)} published"


CASES = {
    # (how the leader is changed, when the server is started again, another publisher too)
    # the killed leader is started again straight away, while a new one is being elected
    "killed-restarted-at-once": ("kill", "at-once", False),
    # ... once the new leader has acknowledged events
    "killed-restarted-after-failover": ("kill", "after-failover", False),
    # ... never: the two others keep quorum and carry on alone
    "killed-left-dead": ("kill", "never", False),
    # a clean stop (SIGINT) of the leader, started again once the new leader took events
    "stopped-restarted": ("stop", "after-failover", False),
    # the leader hands over at once (the JetStream API's stepdown): in-flight proposals are
    # dropped while the next messages already reach the new leader
    "stepped-down": ("stepdown", "never", False),
    # another publisher's plain events come in between the bot's (the chart's publisher Job
    # beside the bot); a follower is SIGKILLed and started again once the leader took events
    # without it: it catches up from the leader and must then agree with it
    "follower-killed-restarted-other-publisher": ("kill-follower", "after-failover", True),
    # ... the leader, the same way
    "killed-restarted-after-failover-other-publisher": ("kill", "after-failover", True),
}


def _with_monitoring(cluster: NatsCluster) -> dict[str, int]:
    """A monitoring port for every server of ``cluster`` (before it starts): each server's own
    copy of the stream (/jsz) and its health (/healthz, the chart's startup probe)."""
    ports = dict(zip(cluster.names, free_ports(len(cluster.names)), strict=True))
    for name, port in ports.items():
        with cluster.config_files[name].open("a", encoding="utf-8") as f:
            f.write(f'http: "127.0.0.1:{port}"\n')
    return ports


def _get_json(url: str) -> dict:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:  # /healthz answers 503 with its reasons
        return json.loads(exc.read() or b"{}")


async def _replica(port: int) -> tuple:
    """One server's own copy of the stream, (messages, first seq, last seq, /healthz status),
    or its error."""
    base = f"http://127.0.0.1:{port}"
    try:
        jsz = await asyncio.to_thread(_get_json, base + "/jsz?acc=%24G&streams=true")
        health = await asyncio.to_thread(_get_json, base + "/healthz")
    except (OSError, ValueError) as exc:
        return ("unreachable", repr(exc))
    streams = [s for a in jsz.get("account_details") or [] for s in a.get("stream_detail") or []
               if s["name"] == contract.STREAM_NAME]
    if not streams:
        return ("no stream", health.get("status"))
    st = streams[0]["state"]
    return (st["messages"], st["first_seq"], st["last_seq"], health.get("status"))


_LOG_LINE = re.compile(r"mismatch|write error|[Rr]esetting|[Cc]atchup|stalled")
_LOG_STAMP = re.compile(r"^\[\d+\] [\d/]+ [\d:.]+ ")


def _log_lines(text: str, most: int = 12) -> list[str]:
    """A server's log lines about catching up and failed writes, each message once (the
    health check repeats its failure)."""
    seen: dict[str, str] = {}
    for line in text.splitlines():
        if _LOG_LINE.search(line):
            seen.setdefault(_LOG_STAMP.sub("", line), line)
    return list(seen.values())[-most:]


async def _replicas_agree(cluster: NatsCluster, monitor: dict[str, int]) -> dict[str, tuple]:
    """Wait until every running server holds the same copy of the stream (messages, first and
    last sequence) and answers /healthz ok. This is what catches a replica out of step: one
    that refused what the others stored holds fewer messages (nats-server 2.9 counted that
    refusal on that replica alone) or stops taking writes (2.14: "stream write error")."""
    deadline = time.monotonic() + AGREE_DEADLINE
    while True:
        states = {name: await _replica(monitor[name]) for name in cluster.names
                  if cluster.running(name)}
        if len(set(states.values())) == 1 and next(iter(states.values()))[-1] == "ok":
            return states
        if time.monotonic() >= deadline:
            logs = {name: _log_lines(cluster.log_text(name)) for name in cluster.names}
            raise AssertionError(f"the servers' copies of the stream disagree, or one is not "
                                 f"healthy, {AGREE_DEADLINE}s after the scenario: {states}; "
                                 f"their logs: {json.dumps(logs, indent=1)}")
        await asyncio.sleep(0.2)


async def _other_publisher(js, stop: asyncio.Event) -> int:
    """Plain publishes (no condition), one at a time, ~50 a second: UserJoined("o<j>"), each
    with its own message id and retried until acknowledged. Returns how many."""
    j = 0
    while not stop.is_set():
        data = contract.encode(contract.UserJoined(f"o{j}", 1.0))
        try:
            await js.publish(contract.USER_JOINED, data, timeout=1.0,
                             headers={contract.MSG_ID_HEADER: f"other-{j}"})
        except _JS_ERRORS:
            await asyncio.sleep(0.05)
            continue
        j += 1
        await asyncio.sleep(0.02)
    return j


async def _connect(servers: list[str]) -> Client:
    # in the given order (dont_randomize): the first is the one connected to
    return await nats.connect(servers=servers, dont_randomize=True, max_reconnect_attempts=-1,
                              reconnect_time_wait=0.1, connect_timeout=2)


async def _step_down(nc: Client) -> None:
    await nc.request(f"$JS.API.STREAM.LEADER.STEPDOWN.{contract.STREAM_NAME}", b"", timeout=5)


async def _change(cluster: NatsCluster, nc: Client, how: str, leader: str,
                  follower: str) -> None:
    if how == "kill":
        await cluster.kill(leader)
    elif how == "kill-follower":
        await cluster.kill(follower)
    elif how == "stop":
        await cluster.stop_server(leader)
    else:
        await _step_down(nc)


@pytest.mark.parametrize("case", list(CASES))
async def test_a_stream_leader_change_mid_burst_loses_nothing_and_keeps_the_order(
        tmp_path, case):
    how, restart, other = CASES[case]
    cluster = NatsCluster(tmp_path / "cluster")
    monitor = _with_monitoring(cluster)
    async with cluster:
        await cluster.wait_for_meta_leader()
        nc = await _connect(cluster.urls)  # the test's own: set-up and inspection
        pc: Client | None = None
        oc: Client | None = None
        try:
            js = nc.jetstream()
            await ensure_stream(js, StreamSettings(replicas=3), update=True)
            await eventually(lambda: _healthy(js, 3), timeout=30,
                             what="a stream leader with both replicas current")
            info = await js.stream_info(contract.STREAM_NAME)
            assert info.cluster is not None and info.cluster.replicas
            leader = info.cluster.leader
            follower = info.cluster.replicas[0].name
            assert leader in cluster.names
            changed_name = follower if how == "kill-follower" else leader
            # the bot's connection, on the leader's server (the others to fail over to): the
            # hardest place, where a change also loses what the client had written
            leader_url = cluster.urls[cluster.names.index(leader)]
            servers = [leader_url, *(u for u in cluster.urls if u != leader_url)]
            pc = await _connect(servers)
            stop_other = asyncio.Event()
            others: asyncio.Task[int] | None = None
            if other:
                oc = await _connect(servers)
                others = asyncio.create_task(_other_publisher(oc.jetstream(), stop_other))
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
                await _change(cluster, nc, how, leader, follower)
                at_change = _published(m)
                if restart == "after-failover":
                    await eventually(lambda: _published(m) >= at_change + 200, timeout=30,
                                     what="events acknowledged by the new leader")
                if restart != "never":
                    await cluster.start_server(changed_name)
                restarted_at = time.monotonic()
                changed.set()
                await producing
                stop_other.set()
                other_count = await others if others is not None else 0
                await asyncio.wait_for(pub.flush(), FLUSH_DEADLINE)
                flushed_at = time.monotonic()
            replicas = await _replicas_agree(cluster, monitor)
            agreed_at = time.monotonic()
            if restart != "never":
                await eventually(lambda: _healthy(js, 3), timeout=AGREE_DEADLINE,
                                 what="both replicas current again")
            after = await eventually(lambda: _stream_info(js), timeout=30,
                                     what="the stream's info")
            new_leader = after.cluster.leader if after.cluster else None
            stored = await _stored(nc.jetstream(timeout=2))
            names = [u for u, _ in stored if u.startswith("u")]
            wanted = [f"u{i}" for i in range(N)]
            print(f"\n{case}: {changed_name} ({how}; leader {leader}) at {at_change:.0f} "
                  f"acknowledged ({changed_at - started:.1f}s into the burst)"
                  + (f", started again after {restarted_at - changed_at:.1f}s"
                     if restart != "never" else "")
                  + f"; new leader {new_leader}; flushed {flushed_at - changed_at:.1f}s after "
                  f"the change, {flushed_at - started:.1f}s after the start; "
                  f"{other_count} other events; replicas agreed "
                  f"{agreed_at - flushed_at:.1f}s after the flush: {replicas}")
            assert names == wanted, _first_difference(names, wanted)
            assert len({mid for _, mid in stored}) == len(stored) == N + other_count
            assert next(iter(replicas.values()))[0] == N + other_count
            if restart == "never":
                assert new_leader != leader
            assert _out_of_order(m) == 0
            assert _published(m) == N
        finally:
            for client in (pc, oc):
                if client is not None:
                    await client.close()
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


async def test_a_refused_condition_stops_a_replicated_stream(tmp_path):
    """Why the publisher sends no condition on a replicated stream: nats-server 2.14.6 checks
    Nats-Expected-Last-Msg-Id on every replica as it applies the message, and there a refusal
    is a write error ("critical write error: last msgid mismatch") that stops the stream on
    that replica: here on all three, so one wrong condition and the stream takes nothing more.
    Should this fail on a newer nats-server, re-check the chained window on a replicated stream
    (the cases above with the chain forced on in rosey.bot.publisher)."""
    cluster = NatsCluster(tmp_path / "cluster")
    monitor = _with_monitoring(cluster)
    async with cluster:
        await cluster.wait_for_meta_leader()
        nc = await _connect(cluster.urls)
        try:
            js = nc.jetstream(timeout=2)
            await ensure_stream(js, StreamSettings(replicas=3), update=True)
            await eventually(lambda: _healthy(js, 3), timeout=30,
                             what="a stream leader with both replicas current")
            data = contract.encode(contract.UserJoined("u", 1.0))
            await js.publish(contract.USER_JOINED, data, headers={contract.MSG_ID_HEADER: "a"})
            with pytest.raises(nats.js.errors.APIError) as refused:
                await js.publish(contract.USER_JOINED, data, headers={
                    contract.MSG_ID_HEADER: "b", EXPECTED_LAST_MSG_ID_HEADER: "not-a"})
            assert refused.value.err_code == WRONG_LAST_MSG_ID
            with pytest.raises(TimeoutError):  # no acknowledgement, even without a condition
                await js.publish(contract.USER_JOINED, data,
                                 headers={contract.MSG_ID_HEADER: "c"})

            async def all_unhealthy():
                states = {name: await _replica(monitor[name]) for name in cluster.names}
                return states if all(s[-1] != "ok" for s in states.values()) else None

            states = await eventually(all_unhealthy, timeout=20, interval=0.2,
                                      what="every server's /healthz failing")
            assert {s[0] for s in states.values()} == {1}  # "a" alone, on every server
            assert all("last msgid mismatch" in cluster.log_text(name)
                       for name in cluster.names)
        finally:
            await nc.close()
