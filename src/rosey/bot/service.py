"""The bot: wires the CyTube session, the channel state, the shell and the publisher.

:class:`BotService` is an async context manager that owns every task it starts. Channel
events are applied to :class:`~rosey.bot.channel.ChannelState` synchronously and turned into
outbox entries (user joined/left, chat, user counts, high-water marks, status); nothing on that
path awaits NATS. Moderator PMs run as their own tasks. Two loops run beside them: status
updates (on change, debounced, and every ``status_interval``) and the outbound-message poll.

NATS and CyTube come and go independently: events queue in the outbox until NATS answers, and
``/readyz`` is true only while NATS is connected and the channel is joined.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import signal
from collections.abc import Iterator
from typing import Any

import nats.errors
import structlog
from nats.aio.client import Client

from rosey import __version__, bus, contract
from rosey.bot import frames
from rosey.bot.actions import Actions
from rosey.bot.automod import AutoMod, Reversals
from rosey.bot.automod_commands import AutoModCommands
from rosey.bot.capabilities import capabilities, refusals
from rosey.bot.channel import Change, ChannelState
from rosey.bot.channel_commands import SAFE_SLASH, ChannelCommands, ShellContext
from rosey.bot.clock import REAL, Clock
from rosey.bot.cytube import CyTubeSession, cancel_and_wait
from rosey.bot.frames import ChatLine
from rosey.bot.limits import ConnectPolicy, SendPolicy
from rosey.bot.moderation import Moderation
from rosey.bot.native import NativeWatcher
from rosey.bot.playback import Leader
from rosey.bot.plays import publish_play
from rosey.bot.publisher import Publisher
from rosey.bot.punishments import Punishments
from rosey.bot.queries import QueryFailed, ask
from rosey.bot.raid import Raid
from rosey.bot.record import ModerationRecord
from rosey.bot.shell import Shell
from rosey.bot.weblogin import WebLogin
from rosey.commands import MODERATOR_RANK
from rosey.config import BotSettings
from rosey.contract import ReplyT
from rosey.errors import LifecycleError
from rosey.metrics import BotMetrics, MetricsServer

__all__ = ["BotService", "BotState", "run_bot", "reload_on_sighup"]

log = structlog.get_logger()


class BotState(enum.Enum):
    """The bot's lifecycle (httpx ``ClientState`` style), held in :attr:`BotService.state`."""

    UNOPENED = "unopened"
    OPENING = "opening"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


class BotService:
    """The whole bot process minus signal handling.

    Parameters:
        settings: where to connect and as whom.
        metrics: the bot's metrics (a fresh registry in tests).
        serve_metrics: start the ``/metrics`` ``/healthz`` ``/readyz`` server.
        connect_policy, send_policy: CyTube timings (tests shorten them).
        status_interval: seconds between periodic status updates.
        drain_timeout: how long the outbox may drain on close.
        confirm_timeout: how long a moderator command waits for CyTube to confirm it.
    """

    def __init__(self, *, settings: BotSettings, metrics: BotMetrics | None = None,
                 serve_metrics: bool = True, connect_policy: ConnectPolicy | None = None,
                 send_policy: SendPolicy | None = None, status_interval: float = 60.0,
                 drain_timeout: float = 3.0, confirm_timeout: float = 5.0,
                 clock: Clock = REAL) -> None:
        self.settings = settings
        self.metrics = metrics or BotMetrics()
        self.clock = clock
        self.started_at = clock.time()
        self.channel = ChannelState(channel=settings.channel, me=lambda: self.session.bot_name)
        self.publisher = Publisher(js=None, metrics=self.metrics, maxsize=settings.outbox_size,
                                   stream=settings.stream)
        self.session = CyTubeSession(
            settings=settings, listener=self, metrics=self.metrics,
            connect_policy=connect_policy or ConnectPolicy(max_delay=settings.reconnect_max_delay),
            send_policy=send_policy)
        self.actions = Actions(session=self.session, channel=self.channel,
                               timeout=confirm_timeout)
        self._build_commands()
        self.nc: Client | None = None
        self.metrics_server: MetricsServer | None = None
        self.state = BotState.UNOPENED
        self._serve_metrics = serve_metrics
        self._status_interval = status_interval
        self._drain_timeout = drain_timeout
        self._stop = asyncio.Event()
        self._status_dirty = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._counts: tuple[int, int] | None = None
        self._high = (0, 0)
        self._capabilities = ""

    def _build_commands(self) -> None:
        """The command side: the record, the lift timers, the watcher, the leader, automatic
        moderation, the shell."""
        s, clock = self.settings, self.clock
        record = ModerationRecord(publisher=self.publisher, metrics=self.metrics, clock=clock)
        self.punishments = Punishments(
            actions=self.actions, channel=self.channel, record=record, query=self.query,
            metrics=self.metrics, settings=s, spawn=self._spawn, clock=clock)
        reversals = Reversals(metrics=self.metrics, clock=clock,
                              window=lambda: self.automod.reversal_window)
        self.watcher = NativeWatcher(actions=self.actions, channel=self.channel, record=record,
                                     punishments=self.punishments, reversal=reversals)
        self.leader = Leader(actions=self.actions, channel=self.channel,
                             pause_limit=s.pause_limit, spawn=self._spawn, clock=clock)
        moderation = Moderation(actions=self.actions, channel=self.channel, record=record,
                                punishments=self.punishments, query=self.query, settings=s,
                                clock=clock, reversal=reversals)
        self.automod = AutoMod(path=s.automod_file, actions=self.actions, channel=self.channel,
                               moderation=moderation, record=record, reversals=reversals,
                               metrics=self.metrics, clock=clock, spawn=self._spawn)
        self.raid = Raid(actions=self.actions, channel=self.channel, publisher=self.publisher,
                         query=self.query, metrics=self.metrics, clock=clock,
                         config=lambda: self.automod.rules.raid, spawn=self._spawn)
        self.weblogin = WebLogin(
            channel=self.channel, joined=lambda: self.session.joined, web_url=s.web_url,
            need=dict(s.command_ranks).get("weblogin", MODERATOR_RANK), metrics=self.metrics,
            clock=clock)
        self.shell = Shell(
            actions=self.actions, channel=self.channel, publisher=self.publisher,
            metrics=self.metrics, moderation=moderation, settings=s, clock=clock,
            weblogin=self.weblogin,
            automod=AutoModCommands(automod=self.automod, raid=self.raid),
            channel_commands=ChannelCommands(
                actions=self.actions, channel=self.channel, session=self.session,
                query=self.query, leader=self.leader, clock=clock,
                context=ShellContext(channel=s.channel, started_at=self.started_at,
                                     version=__version__, nats_connected=self.nats_connected,
                                     outbox_depth=lambda: self.publisher.depth)))

    # --- lifecycle ------------------------------------------------------------------------------
    async def __aenter__(self) -> BotService:
        if self.state is not BotState.UNOPENED:
            raise LifecycleError(f"a bot cannot be opened twice (state {self.state.value})")
        self.state = BotState.OPENING
        try:
            # rosey_ready reads the /readyz answer at scrape time (on the metrics thread)
            self.metrics.ready.set_function(lambda: float(self.ready()[0]))
            if self._serve_metrics:
                self.metrics_server = MetricsServer(
                    registry=self.metrics.registry, ready=self.ready, detail=self.ready_detail,
                    host=self.settings.metrics_host, port=self.settings.metrics_port).start()
                log.info("metrics_serving", port=self.metrics_server.port)
            await self.publisher.__aenter__()
            self._spawn(self._connect_nats(), "bot-nats")
            await self.session.__aenter__()
            self._spawn(self._status_loop(), "bot-status")
            self._spawn(self._outbound_loop(), "bot-outbound")
            self._spawn(self.punishments.run(self._stop), "bot-punishments")
            self._spawn(self.automod.watch(self._stop), "bot-automod-watch")
            self._spawn(self.raid.recover(self._stop), "bot-raid-recover")
        except BaseException:
            await self.aclose()  # whatever was started is stopped again
            raise
        self.state = BotState.OPEN
        log.info("bot_started", channel=self.settings.channel, domain=self.settings.domain,
                 user=self.settings.user)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Leave the channel, drain the outbox briefly, close NATS. Safe to call twice."""
        if self.state in (BotState.CLOSING, BotState.CLOSED):
            return
        if self.state is BotState.UNOPENED:
            self.state = BotState.CLOSED
            return
        self.state = BotState.CLOSING
        self._stop.set()
        await cancel_and_wait(self._tasks, "bot")
        await self.session.aclose()
        now = self.clock.time()
        for name in self.channel.leave_all():  # we stop seeing them: close their sessions
            self.publisher.publish(contract.UserLeft(name, now))
        self.publish_status(connected=False)
        await self.publisher.aclose(self._drain_timeout)
        if self.nc is not None:
            try:
                await asyncio.wait_for(self.nc.close(), 5.0)
            except (TimeoutError, nats.errors.Error):
                log.warning("nats_close_failed")
        if self.metrics_server is not None:
            self.metrics_server.stop()
        self.state = BotState.CLOSED
        log.info("bot_stopped")

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("bot_task_failed", task=task.get_name(),
                      error=repr(task.exception()))

    # --- NATS -----------------------------------------------------------------------------------
    async def _connect_nats(self) -> None:
        self.nc = await bus.connect(self.settings.nats_url, name="rosey-bot",
                                    connected=self.metrics.nats_connected, stop=self._stop,
                                    auth=self.settings.nats_auth,
                                    permission_errors=self.metrics.nats_permission_errors)
        self.publisher.attach(self.nc.jetstream())
        await self.weblogin.subscribe(self.nc)  # the web page's login (docs/web.md)
        self._status_dirty.set()

    def nats_connected(self) -> bool:
        return self.nc is not None and self.nc.is_connected

    def ready(self) -> tuple[bool, dict[str, bool]]:
        # joined as a viewer is not enough: a refused (guest) login can't chat or obey
        checks = {"nats": self.nats_connected(),
                  "cytube": self.session.joined and self.session.logged_in}
        return all(checks.values()), checks

    def ready_detail(self) -> dict[str, str]:
        """Shown under the checks in ``/readyz``: what the bot may do here (never gating)."""
        return {"moderation": self._capabilities or "not joined yet"}

    async def query(self, query: contract.QueryOf[ReplyT]) -> ReplyT:
        """Ask the DatabaseService; a :class:`~rosey.bot.queries.QueryFailed` leaf says why not."""
        return await ask(self.nc, query, timeout=self.settings.query_timeout,
                         metrics=self.metrics)

    # --- the session's listener (synchronous, never awaits) -------------------------------------
    def on_connected(self) -> None:
        self.channel.reset()

    def on_joined(self) -> None:
        self._status_dirty.set()

    def on_disconnected(self) -> None:
        self._status_dirty.set()

    def on_frame(self, frame: frames.Frame) -> None:
        change = self.channel.apply(frame)
        if change.joined or change.left:
            now = self.clock.time()
            for name in change.left:
                self.publisher.publish(contract.UserLeft(name, now))
            for name in change.joined:
                self.publisher.publish(contract.UserJoined(name, now))
        if change.joined or change.left or change.counts:
            self.metrics.channel_users.set(self.channel.chat_count)
            self._publish_counts()
        if change.status:
            self._status_dirty.set()
        if isinstance(frame, _CAPABILITY_FRAMES):
            self._check_capabilities()
        if isinstance(frame, frames.ChangeMedia):
            self._publish_play(frame)
        if isinstance(frame, frames.ChangeMedia) and self.channel.i_lead():
            # while the bot leads, CyTube's clock is stopped: a new item would sit at 0 s
            self._spawn(self.leader.hand_back("media_changed"), "bot-hand-back")
        self._automatic(frame, change)
        self.watcher.observe(frame)
        self.actions.confirmations.resolve(frame)

    def _publish_play(self, frame: frames.ChangeMedia) -> None:
        """One ``rosey.db.media.played`` per media change (docs/web-contract.md)."""
        publish_play(self.publisher, frame, self.channel, now=self.clock.time(),
                     on_join=not self.session.joined)

    def _automatic(self, frame: frames.Frame, change: Change) -> None:
        """What automatic moderation and raid mode read: sightings, joins, queued items."""
        if isinstance(frame, frames.AddUser) and change.joined:  # not a repeat addUser
            new = self.automod.seen(frame.user.name)
            self.raid.joined(guest=frame.user.rank == 0, new=new)
        elif isinstance(frame, frames.Userlist):
            for entry in frame.users:
                self.automod.seen(entry.name)
        elif isinstance(frame, frames.Queue) and self.session.joined:
            self.automod.on_queue(frame)

    def _check_capabilities(self) -> None:
        """Export what the bot's rank allows in this channel (logged by the status loop)."""
        s = self.channel
        self.metrics.bot_rank.set(s.my_rank)
        self.metrics.can_moderate.set(0 if refusals(s) or not s.permissions else 1)

    def _log_capabilities(self) -> None:
        """Once the join has settled, log what the bot may do here whenever that changes."""
        s = self.channel
        if not self.actions.ready:
            return
        summary = capabilities(s)
        if summary == self._capabilities:
            return
        self._capabilities = summary
        cannot = refusals(s)
        if cannot:
            log.warning("bot_cannot_moderate", rank=s.my_rank, registered=s.registered,
                        why=cannot)
        else:
            log.info("bot_can_moderate", rank=s.my_rank, registered=s.registered)

    def on_chat(self, line: ChatLine) -> None:
        if not line.history:
            self.actions.confirmations.resolve(line)  # echoes and [server] notices confirm
            self.watcher.observe(line)  # native moderator actions
        if line.history or line.own or not line.username or line.username.startswith("["):
            return
        self.metrics.chat_messages.inc()
        self.publisher.publish(contract.MessageLog(line.username, line.text, line.time))
        self.automod.on_chat(line)
        self.raid.said(line.username, line.text)

    def on_pm(self, line: ChatLine) -> None:
        self.actions.confirmations.resolve(line)  # the echo of the bot's own PM confirms it
        if line.own or line.history:
            return
        self._spawn(self.shell.handle(line), "bot-pm-command")

    def _publish_counts(self) -> None:
        chat = self.channel.chat_count
        connected = max(self.channel.usercount, chat)
        if (chat, connected) == self._counts:
            return
        self._counts = (chat, connected)
        now = self.clock.time()
        self.publisher.publish(contract.UserCount(chat, connected, now))
        if chat > self._high[0] or connected > self._high[1]:
            self._high = (max(chat, self._high[0]), max(connected, self._high[1]))
            self.publisher.publish(contract.HighWater(self._high[0], self._high[1], now))

    # --- status ---------------------------------------------------------------------------------
    def status(self, *, connected: bool | None = None) -> contract.BotStatus:
        """The bot's status as published on ``rosey.db.status.update``."""
        s = self.channel
        media = s.current_media
        return contract.BotStatus(
            bot_name=self.session.bot_name, bot_rank=s.my_rank, channel=s.channel,
            domain=self.settings.domain, chat_count=s.chat_count,
            connected_count=max(s.usercount, s.chat_count), playlist_size=len(s.playlist),
            current_media=None if media is None else contract.MediaStatus(
                id=media.id, type=media.type, title=media.title, duration=media.duration),
            current_media_duration=None if media is None else media.seconds,
            connected=self.session.joined if connected is None else connected,
            start_time=self.started_at, timestamp=self.clock.time())

    def publish_status(self, *, connected: bool | None = None) -> None:
        self.publisher.publish(contract.StatusUpdate.of(self.status(connected=connected)))

    async def _status_loop(self) -> None:
        # `while not stopped`, not `while True`: on Python 3.11 asyncio.wait_for can swallow a
        # cancel that lands as its awaitable finishes, and aclose sets _stop before cancelling
        while not self._stop.is_set():
            try:
                await asyncio.wait_for(self._status_dirty.wait(), self._status_interval)
            except TimeoutError:
                pass
            if self._stop.is_set():
                return
            await asyncio.sleep(0.2)  # debounce: a join burst is one update
            self._status_dirty.clear()
            self._log_capabilities()
            self.publish_status()

    # --- outbound messages ------------------------------------------------------------------------
    async def _outbound_loop(self) -> None:
        said: set[int] = set()
        failing = ""  # the outcome of the last failed poll, "" while polls succeed
        while not self._stop.is_set():  # (nats-py's request uses wait_for: see _status_loop)
            await asyncio.sleep(self.settings.outbound_poll_interval)
            if not self.session.joined:
                continue
            try:
                reply = await self.query(contract.OutboundGetQuery())
            except QueryFailed as exc:
                if exc.outcome != failing:  # one line per change, not one per poll
                    log.warning("outbound_poll_failed", outcome=exc.outcome,
                                detail=str(exc)[:300])
                failing = exc.outcome
                continue
            if self._stop.is_set():
                return
            if failing:
                log.info("outbound_poll_recovered", after=failing)
                failing = ""
            said &= {m.id for m in reply.messages}
            for message in reply.messages:
                mid, text = message.id, message.message
                if mid in said:
                    continue  # said already; its mark_sent is still on the way
                if text.startswith("/") and not text.startswith(SAFE_SLASH):
                    log.warning("outbound_refused_chat_command", message_id=mid)
                elif text.strip():
                    await self.actions.post(text)
                said.add(mid)
                self.publisher.publish(contract.MarkSent(mid))
                log.info("outbound_sent", message_id=mid)


#: frames that can change what the bot's rank allows
_CAPABILITY_FRAMES = (frames.Rank, frames.Permissions, frames.PlaylistLocked,
                      frames.NotRegistered, frames.Userlist, frames.SetUserRank)


async def run_bot(settings: BotSettings, stop: asyncio.Event, *,
                  metrics: BotMetrics | None = None) -> None:
    """Run the bot until ``stop`` is set (the CLI's signal handlers set it); SIGHUP reloads
    the automatic moderation rules."""
    async with BotService(settings=settings, metrics=metrics) as bot:
        with reload_on_sighup(bot):
            await stop.wait()


@contextlib.contextmanager
def reload_on_sighup(bot: BotService) -> Iterator[None]:
    """SIGHUP reloads the rules file while the block runs (where signals can be handled)."""
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGHUP, bot.automod.reload, "SIGHUP")
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
