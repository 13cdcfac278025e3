"""Moderators' own actions in CyTube, read into the moderation record.

Native actions by human moderators are read from CyTube's ``[server]`` notices to moderators
(``X kicked Y``, ``X namebanned Y``, ``X muted Y``, ``X shadowmuted Y``, ``X unmuted Y``) and
from ``banlistRemove`` (an unban; its moderator from an ``X unbanned Y`` notice before it, else
``(unknown)``). The bot's own notices and unbans are skipped: its commands record themselves
with more detail. A human taking over a punishment the bot timed (unmuting, re-banning) ends
the bot's timer.
"""

from __future__ import annotations

import re
from typing import Final

from rosey import contract
from rosey.bot import frames
from rosey.bot.actions import Actions
from rosey.bot.channel import ChannelState
from rosey.bot.moderation import Reversal
from rosey.bot.punishments import Punishments
from rosey.bot.record import ModerationRecord

__all__ = ["NativeWatcher", "NATIVE_NOTICE"]

#: a moderator notice CyTube sends to rank >= 2: (actor, verb, target)
NATIVE_NOTICE: Final = re.compile(
    r"^(\S+) (kicked|namebanned|muted|shadowmuted|unmuted|unbanned) (\S+)$")
_NATIVE_KIND: Final = {"kicked": "kick", "namebanned": "ban", "muted": "mute",
                       "shadowmuted": "smute", "unmuted": "unmute"}


class NativeWatcher:
    def __init__(self, *, actions: Actions, channel: ChannelState, record: ModerationRecord,
                 punishments: Punishments, reversal: Reversal = lambda kind, name: {}) -> None:
        self._reversal = reversal
        self._actions = actions
        self._channel = channel
        self._record = record
        self._punishments = punishments
        self._unbanned_by: dict[str, str] = {}  #: name -> moderator, from the notice

    def observe(self, frame: frames.Frame) -> None:
        """A live frame: record a native moderator action (never the bot's own)."""
        if isinstance(frame, frames.ChatLine) and frame.server_notice and not frame.history:
            self._notice(frame.text.strip())
        elif isinstance(frame, frames.BanlistRemove) and frame.name:
            name = frame.name
            if self._actions.unbanning(name):
                return
            self._record.record("unban", name, origin="native", command="banlistRemove",
                                actor=self._unbanned_by.pop(name.lower(), "(unknown)"),
                                **self._reversal("ban", name))
            self._punishments.ended("ban", name)

    def _notice(self, text: str) -> None:
        m = NATIVE_NOTICE.match(text)
        if m is None or m.group(1).lower() == self._channel.bot_name.lower():
            return
        actor, verb, target = m.groups()
        if verb == "unbanned":  # recorded with its banlistRemove, which always comes
            self._unbanned_by[target.lower()] = actor
            return
        kind = _NATIVE_KIND[verb]
        undo = self._reversal("mute", target) if kind == "unmute" else {}
        self._record.record(kind, target, actor=actor, origin="native",
                            command=f"[server] {text}"[:300], **undo)
        if kind in contract.PUNISHMENT_CLASS:  # a human took over: the bot's timer goes
            self._punishments.ended(kind, target)
        elif kind == "unmute":
            self._punishments.ended("mute", target)
