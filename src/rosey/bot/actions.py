"""Every act of the bot on its channel, one way each: the action layer.

:class:`Actions` is the only code that asks the CyTube session to send anything (the session
itself sends only what connecting takes: ``joinChannel``, ``login``, ``channelPassword``).
Each action hides its transport (a chat command such as ``/kick`` through the paced chat
queue, or a socket.io event) and its confirmation rule (which frame says it happened, which
says CyTube refused), and fails one way (:mod:`rosey.errors`):

- :class:`~rosey.errors.NotJoined` at once when the bot is not in the channel;
- :class:`~rosey.errors.Refused` quoting CyTube when it refused;
- :class:`~rosey.errors.NotConfirmed` when the deadline passed, counted from the call, so
  waiting for the chat budget counts too (a chat command not sent by then is never sent).

Confirmations are read from typed frames (:mod:`rosey.bot.frames`): the service hands every
frame to :meth:`Confirmations.resolve`. A confirmation check that raises is a bug: it is
logged as an error and the action fails with it, so the moderator's reply says "internal
error" instead of "CyTube did not confirm".

Two sends need no confirmation and wait for the chat budget without a deadline, as every
message did before: :meth:`Actions.tell` (a reply PM) and :meth:`Actions.post` (a line of the
outbound queue).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog

from rosey.bot import frames
from rosey.bot.capabilities import rank_text
from rosey.bot.channel import ChannelState
from rosey.bot.cytube import CyTubeSession
from rosey.bot.frames import Banlist, ChatLine, Frame, PlaylistItem
from rosey.bot.media import MediaRef
from rosey.errors import ActionFailed, NotConfirmed, NotJoined, Refused

__all__ = ["Actions", "Confirmations", "Predicate", "PM_ERRORS", "ADMIN_OPTIONS"]

log = structlog.get_logger()

#: this frame is the one we wait for
Predicate = Callable[[Frame], bool]
F = TypeVar("F", bound=Frame)

#: channel options only rank 3 may change (``opts.js``: a moderator's value is ignored)
ADMIN_OPTIONS = frozenset({
    "pagetitle", "externalcss", "externaljs", "show_public", "password", "torbanned",
    "block_anonymous_users", "allow_ascii_control", "playlist_max_per_user"})

#: CyTube's refusals of a PM (``chat.js``)
PM_ERRORS = ("You can't PM yourself", "PM failed", "You must be signed in")


def _never(frame: Frame) -> bool:
    return False


class Confirmations:
    """Actions waiting for the frame that confirms or refuses them."""

    def __init__(self) -> None:
        self._waiters: list[tuple[Predicate, asyncio.Future[Frame]]] = []

    def expect(self, predicate: Predicate) -> asyncio.Future[Frame]:
        """A future resolved with the first frame ``predicate`` accepts (register before
        sending, so a fast answer is not missed)."""
        fut: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self._waiters.append((predicate, fut))
        return fut

    def resolve(self, frame: Frame) -> None:
        """A frame arrived: resolve every waiter it answers."""
        if not self._waiters:
            return
        keep = []
        for predicate, fut in self._waiters:
            if fut.done():
                continue
            try:
                hit = predicate(frame)
            except Exception as exc:  # a bug in a check: the action fails with it, loudly
                log.exception("confirmation_check_failed", frame=type(frame).__name__)
                fut.set_exception(exc)
                continue
            if hit:
                fut.set_result(frame)
            else:
                keep.append((predicate, fut))
        self._waiters = keep


def _named(name: str) -> Callable[[str], bool]:
    lower = name.lower()
    return lambda other: other.lower() == lower


def _mentions(frame: Frame, name: str) -> bool:
    return isinstance(frame, frames.ErrorMsg) and name.lower() in frame.msg.lower()


def _refusal_text(frame: Frame) -> str:
    if isinstance(frame, ChatLine):
        return frame.text
    if isinstance(frame, frames.ValidationError):
        return frame.message
    msg = getattr(frame, "msg", "")
    return str(msg or frame)


class Actions:
    """The bot's actions on its channel (see the module's docstring).

    Parameters:
        session: the transport.
        channel: the channel as the bot sees it (who is here, the bot's name and leader).
        timeout: each action's deadline, from the call.
    """

    def __init__(self, *, session: CyTubeSession, channel: ChannelState,
                 timeout: float = 5.0) -> None:
        self._session = session
        self._channel = channel
        self._timeout = timeout
        self.confirmations = Confirmations()
        self._unbanning: set[str] = set()

    @property
    def ready(self) -> bool:
        """Ready to moderate: in the channel, logged in, and the channel's permissions known."""
        return (self._session.joined and self._session.logged_in
                and bool(self._channel.permissions))

    def unbanning(self, name: str) -> bool:
        """Whether the bot is lifting ``name``'s ban right now (its ``banlistRemove`` is ours)."""
        return name.lower() in self._unbanning

    # --- the one way to act -----------------------------------------------------------------
    async def _act(self, what: str, send: Callable[[], Awaitable[None]], ok: Predicate,
                   refused: Predicate = _never, *, silent: str) -> Frame:
        """Send, then wait for the frame ``ok`` accepts (returned) or one ``refused`` accepts
        (Refused quoting it); ``silent`` is NotConfirmed's message when neither comes."""
        if not self._session.joined:
            raise NotJoined(f"not in the channel, cannot send {what}")
        good = self.confirmations.expect(ok)
        bad = self.confirmations.expect(refused)
        sent = False
        try:
            async with asyncio.timeout(self._timeout):
                await send()
                sent = True
                await asyncio.wait({good, bad}, return_when=asyncio.FIRST_COMPLETED)
        except TimeoutError:
            if not sent:
                raise NotConfirmed(f"{what} could not be sent within {self._timeout:g} s "
                                   "(the chat budget or the connection held it)") from None
        finally:
            for fut in (good, bad):
                if not fut.done():
                    fut.cancel()
        if good.done() and not good.cancelled():
            return good.result()  # raises a check's bug
        if bad.done() and not bad.cancelled():
            raise Refused(f"CyTube refused: {_refusal_text(bad.result())}")
        raise NotConfirmed(silent)

    def _emit(self, event: str, data: Any = None) -> Callable[[], Awaitable[None]]:
        return lambda: self._session.emit(event, data)

    def _say(self, text: str) -> Callable[[], Awaitable[None]]:
        return lambda: self._session.say(text)

    # --- moderation ---------------------------------------------------------------------------
    async def kick(self, name: str, reason: str = "") -> None:
        if self._channel.user(name) is None:  # CyTube ignores an unknown name silently
            raise ActionFailed(f"{name} is not in the channel")
        same = _named(name)
        await self._act(
            "the kick", self._say(f"/kick {name} {reason}".rstrip()),
            lambda f: isinstance(f, frames.UserLeave) and same(f.name),
            lambda f: _mentions(f, name), silent=f"CyTube did not confirm the kick of {name}")

    async def mute(self, name: str, *, shadow: bool = False) -> None:
        kind, flag = ("smute", "smuted") if shadow else ("mute", "muted")
        same = _named(name)
        await self._act(
            f"the {kind}", self._say(f"/{kind} {name}"),
            lambda f: isinstance(f, frames.SetUserMeta) and same(f.name)
            and bool(f.meta.get(flag)),
            lambda f: _mentions(f, name), silent=f"CyTube did not confirm the {kind} of {name}")

    async def unmute(self, name: str) -> bool:
        """False when CyTube said nothing because ``name`` is not here (then it is unmuted
        if it was muted: CyTube answers nothing for an absent name)."""
        here = self._channel.user(name) is not None
        same = _named(name)
        try:
            await self._act(
                "the unmute", self._say(f"/unmute {name}"),
                lambda f: isinstance(f, frames.SetUserMeta) and same(f.name)
                and not f.meta.get("muted") and not f.meta.get("smuted"),
                lambda f: _mentions(f, name), silent=f"CyTube did not confirm the unmute of {name}")
        except NotConfirmed:
            if here:
                raise
            return False
        return True

    async def ban(self, name: str, reason: str = "") -> None:
        """Ban by name; confirmed by CyTube's notice, then checked on the banlist."""
        lower = name.lower()
        await self._act(
            "the ban", self._say(f"/ban {name} {reason}".rstrip()),
            lambda f: isinstance(f, ChatLine) and f.server_notice
            and f.text.lower().endswith(f" namebanned {lower}"),
            lambda f: _mentions(f, name) or (isinstance(f, frames.ErrorMsg) and "ban" in f.msg),
            silent=f"CyTube did not confirm the ban of {name}")
        listed = await self.banlist(f"CyTube announced the ban of {name} but sent no banlist")
        if listed.find(name) is None:
            raise ActionFailed(f"CyTube announced the ban but {name} is not on the banlist")

    async def banlist(self, silent: str = "CyTube sent no banlist") -> Banlist:
        frame = await self._act("the banlist request", self._emit("requestBanlist"),
                                lambda f: isinstance(f, Banlist), silent=silent)
        assert isinstance(frame, Banlist)
        return frame

    async def unban(self, name: str) -> bool:
        """False when ``name`` is not on the banlist (nothing to lift)."""
        entry = (await self.banlist()).find(name)
        if entry is None:
            return False
        same = _named(name)
        self._unbanning.add(name.lower())
        try:
            await self._act(
                "the unban", self._emit("unban", {"id": entry.id, "name": entry.name}),
                lambda f: isinstance(f, frames.BanlistRemove) and same(f.name),
                lambda f: isinstance(f, frames.ErrorMsg),
                silent=f"CyTube did not confirm the unban of {name}")
        finally:
            self._unbanning.discard(name.lower())
        return True

    # --- chat and PMs -------------------------------------------------------------------------
    async def say(self, text: str) -> None:
        """Say ``text`` in chat; confirmed by its echo."""
        await self._act(
            "the chat line", self._say(text),
            lambda f: isinstance(f, ChatLine) and f.own and f.to is None,
            lambda f: isinstance(f, (frames.Noflood, frames.SpamFiltered)),
            silent="CyTube did not show it in chat (no echo came back)")

    async def pm(self, to: str, text: str) -> ChatLine:
        """PM ``text`` to ``to``; confirmed by its echo, which is returned."""
        same = _named(to)
        echo = await self._act(
            "the PM", lambda: self._session.pm(to, text),
            lambda f: isinstance(f, ChatLine) and f.own and same(f.to or ""),
            lambda f: isinstance(f, frames.ErrorMsg) and f.msg.startswith(PM_ERRORS),
            silent=f"CyTube did not confirm the PM to {to}")
        assert isinstance(echo, ChatLine)
        return echo

    async def tell(self, to: str, text: str, *, joiner: str = "\n") -> None:
        """A reply PM: sent when the chat budget allows, not confirmed."""
        await self._session.pm(to, text, joiner=joiner)

    async def post(self, text: str) -> None:
        """A chat line of the outbound queue: sent when the chat budget allows, not confirmed."""
        await self._session.say(text)

    async def set_afk(self) -> None:
        """Toggle the bot's AFK flag."""
        same = _named(self._session.bot_name)
        await self._act(
            "the AFK change", self._say("/afk"),
            lambda f: isinstance(f, (frames.SetAFK, frames.SetUserMeta)) and same(f.name),
            silent="CyTube did not confirm the AFK change")

    # --- the playlist -------------------------------------------------------------------------
    async def queue(self, ref: MediaRef, *, next: bool, link: str) -> frames.Queue:
        """Queue ``ref`` at the end (or next); the confirming frame is returned."""
        def ok(f: Frame) -> bool:
            return (isinstance(f, frames.Queue) and f.item.media.id == ref.id
                    and f.item.media.type == ref.type)
        frame = await self._act(
            "queue", self._emit("queue", {"id": ref.id, "type": ref.type,
                                          "pos": "next" if next else "end", "temp": False}),
            ok, lambda f: isinstance(f, frames.QueueFail) and ref.id in (f.id, f.link),
            silent=f"CyTube did not confirm the add of {link}")
        assert isinstance(frame, frames.Queue)
        return frame

    async def delete(self, item: PlaylistItem) -> None:
        await self._act("delete", self._emit("delete", item.uid),
                        lambda f: isinstance(f, frames.Delete) and f.uid == item.uid,
                        silent="CyTube did not confirm the removal")

    async def move(self, item: PlaylistItem, after: int | str) -> None:
        await self._act("moveMedia", self._emit("moveMedia", {"from": item.uid, "after": after}),
                        lambda f: isinstance(f, frames.MoveVideo) and f.uid == item.uid,
                        silent="CyTube did not confirm the move")

    async def jump(self, item: PlaylistItem) -> None:
        await self._act("jumpTo", self._emit("jumpTo", item.uid),
                        lambda f: isinstance(f, frames.SetCurrent) and f.uid == item.uid,
                        silent="CyTube did not confirm the jump")

    async def play_next(self) -> int:
        """Skip to the next item; the uid now playing is returned."""
        before = self._channel.current_uid
        frame = await self._act("playNext", self._emit("playNext"),
                                lambda f: isinstance(f, frames.SetCurrent) and f.uid != before,
                                silent="CyTube did not confirm the skip")
        assert isinstance(frame, frames.SetCurrent)
        return frame.uid

    async def voteskip(self) -> frames.Voteskip:
        frame = await self._act(
            "voteskip", self._emit("voteskip"), lambda f: isinstance(f, frames.Voteskip),
            silent="CyTube did not say whether my vote counted (it sends counts only where "
                   "voteskip is allowed and I may see them)")
        assert isinstance(frame, frames.Voteskip)
        return frame

    # --- the channel's options -----------------------------------------------------------------
    async def set_options(self, changes: dict[str, Any]) -> None:
        """Change channel options (``setOptions``); confirmed by a ``channelOpts`` carrying
        every change. Options already so are not sent; nothing is sent when none is left.

        Checked before sending, because CyTube answers neither: a sender below rank 2 is
        kicked, and a moderator's value for an admin-only option is silently ignored."""
        rank = self._channel.my_rank
        if rank < 2:
            raise ActionFailed(f"changing channel options needs rank 2 and mine is "
                               f"{rank_text(rank)}")
        admin = sorted(k for k in changes if k in ADMIN_OPTIONS)
        if admin and rank < 3:
            raise ActionFailed(f"{', '.join(admin)} can be changed from rank 3 and mine is "
                               f"{rank_text(rank)}")
        pending = {k: v for k, v in changes.items()
                   if k not in self._channel.options or self._channel.options[k] != v}
        if not pending:
            return
        await self._act(
            "setOptions", self._emit("setOptions", pending),
            lambda f: isinstance(f, frames.ChannelOpts)
            and all(f.options.get(k) == v for k, v in pending.items()),
            lambda f: isinstance(f, (frames.ValidationError, frames.ErrorMsg)),
            silent="CyTube did not confirm the channel options")

    # --- playback -------------------------------------------------------------------------------
    async def take_leader(self) -> None:
        same = _named(self._session.bot_name)
        await self._act("assignLeader", self._emit("assignLeader",
                                                   {"name": self._session.bot_name}),
                        lambda f: isinstance(f, frames.SetLeader) and same(f.name),
                        silent="CyTube did not confirm leader")

    async def pause(self, media: frames.Media, at: float) -> None:
        await self._act("mediaUpdate", self._emit("mediaUpdate", {
            "id": media.id, "type": media.type, "currentTime": at, "paused": True}),
            lambda f: isinstance(f, frames.MediaUpdate) and f.paused,
            silent="CyTube did not confirm the pause")

    async def give_leader(self, *, playing: bool) -> None:
        """Give the leader back to CyTube; with ``playing``, also wait until its clock runs."""
        running = self.confirmations.expect(
            lambda f: isinstance(f, frames.MediaUpdate) and not f.paused)
        try:
            async with asyncio.timeout(self._timeout):
                await self._act("assignLeader", self._emit("assignLeader", {"name": ""}),
                                lambda f: isinstance(f, frames.SetLeader) and not f.name,
                                silent="CyTube did not confirm giving back leader")
                if playing:
                    await running
        except TimeoutError:
            raise NotConfirmed("CyTube did not confirm the resume") from None
        finally:
            running.cancel()

    async def release_leader(self) -> None:
        """Give the leader back without waiting (CyTube drops a leaving leader by itself)."""
        await self._session.emit("assignLeader", {"name": ""})
