"""Machines that lose power while the bot publishes (issue 21): the rigs of
tests/resilience/test_power_loss.py.

A :class:`Disk` is a :class:`~tests.support.powerfs.PowerFS` mount that can lose power and come
back on what was fsynced. A rig runs real processes on such disks: nats-server's JetStream
store on one (three in a cluster), the DatabaseService (``python -m rosey.db``) with its SQLite
file on another. The bot's side is the bot's own :class:`~rosey.bot.publisher.Publisher`, fed
by a :class:`Feed` of chat lines and timed mutes at a steady rate. Losing power is SIGKILL of
the processes on a disk and then :meth:`PowerFS.lose_power`, which drops every write not yet
fsynced, as a machine that loses power does; then the disk comes back and the processes start
again on what it kept.

Afterwards :meth:`Rig.settle` waits until the publisher holds nothing (every event it was
given is acknowledged by JetStream: it retries until then) and the durable consumer has
nothing pending or unacknowledged (the DatabaseService applied all the stream holds); then
:meth:`Rig.tally` reads what SQLite has. With the defaults that is every event exactly once.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client

from rosey import contract
from rosey.bot.publisher import Publisher
from rosey.config import StreamSettings
from rosey.metrics import BotMetrics
from tests.resilience.timing import read_counts
from tests.support.natscluster import NatsCluster
from tests.support.natsd import NatsServer
from tests.support.powerfs import Lost, PowerFS
from tests.support.procs import start_db_process
from tests.support.wait import eventually

__all__ = ["ClusterRig", "Disk", "Feed", "Rig", "Tally"]

USER = "power"  # the chat lines' author
ACTOR = "mod"   # who mutes
MUTE_EVERY = 5  # every 5th event is a timed mute (a punishment the record must keep)
_NATS_ERRORS = (nats.errors.Error, nats.js.errors.Error, TimeoutError, OSError)


class Disk:
    """One machine's disk: a PowerFS of ``root/<name>-disk`` mounted at ``root/<name>``."""

    def __init__(self, root: Path, name: str) -> None:
        self.backing = root / f"{name}-disk"
        self.mount = root / name
        self.fs: PowerFS | None = None
        self.losses: list[Lost] = []

    async def up(self) -> None:
        self.fs = await asyncio.to_thread(PowerFS(self.backing, self.mount).start)

    async def lose_power(self) -> Lost:
        assert self.fs is not None
        lost = await asyncio.to_thread(self.fs.lose_power)
        self.fs = None
        self.losses.append(lost)
        return lost

    async def down(self) -> None:
        """An orderly shutdown (everything pending is written), or only the clean-up."""
        if self.fs is not None:
            fs, self.fs = self.fs, None
            await asyncio.to_thread(fs.__exit__)


@dataclass
class Feed:
    """What the bot publishes: chat lines by :data:`USER` and, every :data:`MUTE_EVERY`-th
    event, a one-hour mute of a new troll (a moderation record row and a punishment)."""

    publisher: Publisher
    lines: list[str] = field(default_factory=list)
    mutes: list[str] = field(default_factory=list)

    def publish_next(self) -> None:
        n = len(self.lines) + len(self.mutes)
        if n % MUTE_EVERY == MUTE_EVERY - 1:
            ref = f"power-{n}"
            self.mutes.append(ref)
            now = time.time()
            self.publisher.publish(contract.ModerationAction(
                "mute", f"troll{n}", ACTOR, reason="power test", duration=3600,
                expires_at=now + 3600, command=f"mute troll{n} 1h", ref=ref, timestamp=now))
        else:
            line = f"line-{n}"
            self.lines.append(line)
            self.publisher.publish(contract.MessageLog(USER, line, time.time()))

    async def run(self, rate: float, stop: asyncio.Event) -> None:
        """Publish at ``rate`` events a second until ``stop`` is set."""
        started, sent = time.monotonic(), 0
        while not stop.is_set():
            self.publish_next()
            sent += 1
            # pacing the stimulus, not waiting for a condition
            await asyncio.sleep(max(0.0, started + sent / rate - time.monotonic()))


@dataclass(frozen=True)
class Tally:
    """What SQLite holds of a :class:`Feed`."""

    lines: int            # chat rows of USER
    distinct_lines: int
    chat_total: int       # user_stats.total_chat_lines of USER
    actions: int          # moderation_actions rows with the feed's refs
    distinct_actions: int
    active_mutes: int     # punishments still running, one per mute

    @classmethod
    def read(cls, db: Path) -> Tally:
        lines, distinct, total = read_counts(db, USER)
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
        try:
            actions, distinct_actions = conn.execute(
                "SELECT count(*), count(DISTINCT ref) FROM moderation_actions"
                " WHERE ref LIKE 'power-%'").fetchone()
            (active,) = conn.execute(
                "SELECT count(*) FROM punishments p JOIN moderation_actions a"
                " ON a.id = p.action_id WHERE a.ref LIKE 'power-%' AND p.kind = 'mute'"
                " AND p.ended_at IS NULL").fetchone()
        finally:
            conn.close()
        return cls(lines, distinct, total, actions, distinct_actions, active)

    @staticmethod
    def of(feed: Feed) -> Tally:
        """Every event of ``feed`` exactly once."""
        n, m = len(feed.lines), len(feed.mutes)
        return Tally(n, n, n, m, m, m)


class _Base:
    """What both rigs share: the DatabaseService process on its disk, the bot's publisher."""

    def __init__(self, root: Path, *, synchronous: str, urls: Sequence[str],
                 env: dict[str, str]) -> None:
        self.root = root
        self.db_disk = Disk(root, "db")
        self.db_path = self.db_disk.mount / "rosey.db"
        self.urls = list(urls)
        # a killed service's fetched batch comes back after 2 s, not 10
        self.env = {**env, "ROSEY_DB_SYNCHRONOUS": synchronous, "ROSEY_ACK_WAIT_SECONDS": "2"}
        self.db_proc: subprocess.Popen[bytes] | None = None
        self.db_starts = 0
        self.metrics = BotMetrics()
        self.publisher: Publisher | None = None
        self._bot: Client | None = None

    # --- the DatabaseService ---------------------------------------------------------------
    def start_db(self) -> None:
        self.db_starts += 1
        self.db_proc = start_db_process(",".join(self.urls), self.db_path,
                                        log_path=self.root / f"db-{self.db_starts}.log",
                                        extra_env=self.env)

    async def kill_db(self) -> None:
        assert self.db_proc is not None
        self.db_proc.kill()
        await asyncio.to_thread(self.db_proc.wait, 10)

    async def hold_db_back(self, seconds: float) -> None:
        """SIGSTOP the DatabaseService for ``seconds`` (then SIGCONT): the stream gathers
        events nobody has applied yet, which is what a NATS power loss can take."""
        proc = self.db_proc  # a loss meanwhile replaces it; Popen signals no reaped process
        assert proc is not None
        proc.send_signal(signal.SIGSTOP)
        try:
            await asyncio.sleep(seconds)  # the stimulus's length, not a wait for a condition
        finally:
            proc.send_signal(signal.SIGCONT)

    async def stop_db(self) -> None:
        if self.db_proc is not None and self.db_proc.poll() is None:
            self.db_proc.terminate()
            try:
                await asyncio.to_thread(self.db_proc.wait, 20)
            except subprocess.TimeoutExpired:
                self.db_proc.kill()

    async def lose_db_power(self) -> Lost:
        await self.kill_db()
        lost = await self.db_disk.lose_power()
        await self.db_disk.up()
        self.start_db()
        return lost

    # --- the bot ---------------------------------------------------------------------------
    async def open_publisher(self, client_options: dict[str, Any], stream: StreamSettings,
                             ) -> Feed:
        self._bot = await nats.connect(self.urls, max_reconnect_attempts=-1,
                                       reconnect_time_wait=0.2, **client_options)
        self.publisher = Publisher(js=self._bot.jetstream(), metrics=self.metrics,
                                   ack_timeout=1.0, stream=stream)
        await self.publisher.__aenter__()
        return Feed(self.publisher)

    async def close_publisher(self) -> None:
        if self.publisher is not None:
            await self.publisher.aclose()
        if self._bot is not None:
            await self._bot.close()

    # --- afterwards ------------------------------------------------------------------------
    async def settle(self, admin_options: dict[str, Any], timeout: float = 90.0) -> None:
        """Every event the bot was given is acknowledged, and the DatabaseService has applied
        (and acknowledged) everything the stream holds."""
        assert self.publisher is not None
        publisher = self.publisher
        await eventually(lambda: publisher.depth == 0, timeout=timeout,
                         what="every event acknowledged to the bot")
        admin = await nats.connect(self.urls, **admin_options)
        try:
            js = admin.jetstream(timeout=2.0)

            async def caught_up() -> bool:
                # the stream's last event acknowledged by the consumer, asked of the stream
                # and of the consumer (after a restart one may answer before the other knows)
                try:
                    stream = await js.stream_info(contract.STREAM_NAME)
                    info = await js.consumer_info(contract.STREAM_NAME, contract.CONSUMER_NAME)
                except _NATS_ERRORS:
                    return False
                return (info.num_pending == 0 and info.num_ack_pending == 0
                        and info.ack_floor is not None
                        and info.ack_floor.stream_seq >= stream.state.last_seq)
            await eventually(caught_up, timeout=timeout, interval=0.1,
                             what="the DatabaseService applied all the stream holds")
        finally:
            await admin.close()

    def published(self) -> int:
        """Events JetStream acknowledged to the bot (the publisher's own count)."""
        return sum(int(sample.value) for family in self.metrics.registry.collect()
                   if family.name == "rosey_events_published" for sample in family.samples
                   if sample.name == "rosey_events_published_total")


class Rig(_Base):
    """One nats-server (its store on ``nats`` disk, Rosey's users) and the DatabaseService
    (on ``db`` disk): two machines, or one when both lose power together."""

    def __init__(self, root: Path, *, sync_interval: str, synchronous: str) -> None:
        #: (NATS sync_interval, SQLite synchronous)
        self.settings = (sync_interval, synchronous)
        self.nats_disk = Disk(root, "nats")
        self.nats = NatsServer(store_dir=root / "nats-home", auth_dir=root / "auth",
                               js_dir=self.nats_disk.mount / "js", sync_interval=sync_interval)
        super().__init__(root, synchronous=synchronous, urls=[],
                         env=self.nats.process_env("dbservice"))

    async def start(self) -> Feed:
        await self.nats_disk.up()
        await self.db_disk.up()
        await asyncio.to_thread(self.nats.start)
        self.urls = [self.nats.url]
        self.start_db()
        return await self.open_publisher(self.nats.client_options("bot"), StreamSettings())

    async def lose_nats_power(self) -> Lost:
        await asyncio.to_thread(self.nats.kill)
        lost = await self.nats_disk.lose_power()
        await self.nats_disk.up()
        await asyncio.to_thread(self.nats.start)
        return lost

    async def lose_both(self) -> tuple[Lost, Lost]:
        """One machine: both processes die and both disks lose their unsynced writes."""
        await asyncio.to_thread(self.nats.kill)
        await self.kill_db()
        lost = (await self.nats_disk.lose_power(), await self.db_disk.lose_power())
        await self.nats_disk.up()
        await self.db_disk.up()
        await asyncio.to_thread(self.nats.start)
        self.start_db()
        return lost

    async def settle_all(self) -> None:
        await self.settle(self.nats.client_options("dbservice"))

    def disks_list(self) -> list[Disk]:
        return [self.nats_disk, self.db_disk]

    async def close(self) -> None:
        await self.close_publisher()
        await self.stop_db()
        await asyncio.to_thread(self.nats.stop)
        await asyncio.to_thread(self.nats.cleanup)
        await self.db_disk.down()
        await self.nats_disk.down()


class ClusterRig(_Base):
    """Three nats-servers, each with its store on its own disk, the stream at 3 replicas, and
    the DatabaseService on its own disk (no NATS users: tests/support/natscluster)."""

    def __init__(self, root: Path, *, sync_interval: str) -> None:
        self.sync_interval = sync_interval
        self.names = ["n1", "n2", "n3"]
        self.disks = {name: Disk(root, f"nats-{name}") for name in self.names}
        self.cluster = NatsCluster(root / "cluster", sync_interval=sync_interval,
                                   js_dirs={n: d.mount / "js" for n, d in self.disks.items()})
        super().__init__(root, synchronous="full", urls=self.cluster.urls,
                         env={"ROSEY_STREAM_REPLICAS": "3"})

    async def start(self) -> Feed:
        for disk in self.disks.values():
            await disk.up()
        await self.db_disk.up()
        await self.cluster.start()
        await self.cluster.wait_for_meta_leader()
        self.start_db()
        return await self.open_publisher({}, StreamSettings(replicas=3))

    async def lose_power(self, names: Sequence[str]) -> list[Lost]:
        """The machines ``names`` lose power together, then come back."""
        for name in names:
            await self.cluster.kill(name)
        lost = [await self.disks[name].lose_power() for name in names]
        for name in names:
            await self.disks[name].up()
        await asyncio.gather(*(self.cluster.start_server(name) for name in names))
        return lost

    async def settle_all(self) -> None:
        await self.settle({})

    def disks_list(self) -> list[Disk]:
        return [*self.disks.values(), self.db_disk]

    async def stream_leader(self) -> str:
        nc = await nats.connect(self.urls)
        try:
            info = await nc.jetstream().stream_info(contract.STREAM_NAME)
            assert info.cluster is not None and info.cluster.leader is not None
            return info.cluster.leader
        finally:
            await nc.close()

    async def close(self) -> None:
        await self.close_publisher()
        await self.stop_db()
        await self.cluster.stop()
        for disk in [self.db_disk, *self.disks.values()]:
            await disk.down()
