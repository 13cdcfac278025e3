"""What the bot knows about its channel: users, ranks, playlist, playback. Pure; no I/O.

The CyTube session feeds every server event to :meth:`ChannelState.apply`; the return value
says what changed in a way the service can publish (a user joined or left, the counts moved).
Nothing here awaits, so a slow bus can never hold up the socket.

Two CyTube habits shape this module. A user's rank arrives in two steps (``addUser`` with
rank 1, then ``setUserRank`` with the channel rank), so a rank from ``addUser`` is marked
*provisional* until confirmed. And playlist uids are reassigned when a channel reloads, so a
reconnect calls :meth:`ChannelState.reset` and everything is rebuilt from the join burst.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Final

from rosey.bot import frames
from rosey.bot.frames import Media, PlaylistItem

__all__ = ["User", "Media", "PlaylistItem", "Change", "ChannelState", "MODERATOR"]

#: "moderator" in CyTube is an effective rank of 2 or more
MODERATOR: Final = 2.0


@dataclass(slots=True)
class User:
    """One logged-in user of the userlist."""

    name: str
    rank: float
    afk: bool = False
    muted: bool = False
    meta: dict[str, Any] = field(default_factory=dict)
    #: False while the rank is the provisional one from ``addUser``
    rank_confirmed: bool = True


@dataclass(frozen=True, slots=True)
class Change:
    """What one event changed, for the service to publish. Empty means nothing to publish."""

    joined: tuple[str, ...] = ()
    left: tuple[str, ...] = ()
    counts: bool = False
    status: bool = False


NOTHING: Final = Change()


class ChannelState:
    """The channel as the bot sees it. Feed it events with :meth:`apply`."""

    def __init__(self, *, channel: str, me: Callable[[], str] = lambda: "") -> None:
        self.channel = channel
        self._me = me  # the bot's name: the session's, which logs in
        #: key -> name of everyone announced present (kept across :meth:`reset`, so a
        #: reconnect announces only who came and went while the bot was away)
        self.present: dict[str, str] = {}
        self.reset()

    def reset(self) -> None:
        """Forget everything learnt on the last socket (uids, users, rank)."""
        self.users: dict[str, User] = {}
        self.usercount = 0
        self.leader = ""
        self.playlist: list[PlaylistItem] = []
        self.current_uid: int | None = None
        self.current_media: Media | None = None
        self.current_time = 0.0
        self.paused = True
        self.my_rank: float = -1.0
        #: what the channel asks of each action (``setPermissions``); empty until it came
        self.permissions: dict[str, float] = {}
        self.playlist_locked = True
        #: False after ``channelNotRegistered``: nobody can kick, mute or ban there
        self.registered = True
        #: the last ``voteskip {count, need}`` CyTube sent (None before any)
        self.voteskip: tuple[int, int] | None = None
        #: the channel's options (``channelOpts``: the whole object each time); empty until
        #: it came
        self.options: dict[str, Any] = {}

    # --- queries ------------------------------------------------------------------------------
    @property
    def bot_name(self) -> str:
        """The bot's name as the session logged in with it."""
        return self._me()

    def i_lead(self) -> bool:
        """Whether the bot leads playback (CyTube's own clock stopped)."""
        return self.leads(self._me())

    def user(self, name: str) -> User | None:
        return self.users.get(name.lower())

    def leads(self, name: str) -> bool:
        """Whether ``name`` (a non-empty name) leads playback, CyTube's own clock stopped."""
        return bool(name) and self.leader.lower() == name.lower()

    def rank_of(self, name: str) -> float | None:
        user = self.user(name)
        return None if user is None else user.rank

    def is_moderator(self, name: str) -> bool:
        """True only for a user in the list with a rank >= 2 (fail closed).

        Whether the rank is confirmed does not matter here: a provisional rank from
        ``addUser`` is a lower bound (CyTube's effective rank is the higher of the global and
        the channel rank, and the ``setUserRank`` that follows a join only raises it), so a
        provisional 2 is a moderator already. A provisional 1 may still become one: that is
        the shell's to wait for (:attr:`User.rank_confirmed`).
        """
        user = self.user(name)
        return user is not None and user.rank >= MODERATOR

    def item(self, uid: int) -> PlaylistItem | None:
        return next((it for it in self.playlist if it.uid == uid), None)

    def item_at(self, position: int) -> PlaylistItem | None:
        """1-based playlist position -> item."""
        if 1 <= position <= len(self.playlist):
            return self.playlist[position - 1]
        return None

    def position_of(self, uid: int) -> int | None:
        for i, it in enumerate(self.playlist, start=1):
            if it.uid == uid:
                return i
        return None

    @property
    def chat_count(self) -> int:
        return len(self.users)

    def needs(self, permission: str) -> float | None:
        """The rank ``permission`` needs here, as CyTube's ``hasPermission`` decides it.

        With the playlist unlocked, a ``playlist...`` permission is also granted at the rank of
        its ``oplaylist...`` twin, so the lower of the two counts. None when the channel has no
        such permission at all (an unregistered channel has no kick, mute or ban): nobody may.
        """
        need = self.permissions.get(permission)
        if not self.playlist_locked and permission.startswith("playlist"):
            open_need = self.permissions.get("o" + permission)
            if open_need is not None:
                need = open_need if need is None else min(need, open_need)
        return need

    def may(self, permission: str) -> bool:
        """Whether the bot's own rank allows ``permission`` (True while permissions are unknown)."""
        if not self.permissions:
            return True
        need = self.needs(permission)
        return need is not None and self.my_rank >= need

    # --- events -------------------------------------------------------------------------------
    def apply(self, frame: frames.Frame) -> Change:
        """Apply one decoded server frame; frames the state does not read change nothing."""
        handler = _HANDLERS.get(type(frame))
        return NOTHING if handler is None else handler(self, frame)

    def leave_all(self) -> tuple[str, ...]:
        """The bot stops seeing the channel (it closes): everyone present is gone, by name."""
        names = tuple(self.present.values())
        self.present.clear()
        return names

    def _presence(self) -> Change:
        """Bring :attr:`present` up to the userlist; who joined and who left."""
        joined = tuple(u.name for k, u in self.users.items() if k not in self.present)
        left = tuple(name for k, name in self.present.items() if k not in self.users)
        self.present = {k: u.name for k, u in self.users.items()}
        return Change(joined=joined, left=left, counts=True, status=True)

    def _on_rank(self, f: frames.Rank) -> Change:
        self.my_rank = f.rank
        return Change(status=True)

    def _on_permissions(self, f: frames.Permissions) -> Change:
        self.permissions = dict(f.permissions)
        return Change(status=True)

    def _on_playlist_locked(self, f: frames.PlaylistLocked) -> Change:
        self.playlist_locked = f.locked
        return Change(status=True)

    def _on_not_registered(self, f: frames.NotRegistered) -> Change:
        self.registered = False
        return Change(status=True)

    def _on_channel_opts(self, f: frames.ChannelOpts) -> Change:
        self.options = dict(f.options)
        return NOTHING

    def _on_voteskip(self, f: frames.Voteskip) -> Change:
        self.voteskip = (f.count, f.need)
        return NOTHING

    def _on_userlist(self, f: frames.Userlist) -> Change:
        self.users = {}
        for entry in f.users:
            if entry.name:
                self.users[entry.name.lower()] = _user_from(entry, confirmed=True)
        return self._presence()

    def _on_add_user(self, f: frames.AddUser) -> Change:
        user = _user_from(f.user, confirmed=False)
        if not user.name:
            return NOTHING
        key = user.name.lower()
        old = self.users.get(key)
        if old is not None:
            # a repeat addUser (e.g. after a re-login) must not lower a confirmed rank
            old.afk, old.muted, old.meta = user.afk, user.muted, user.meta
            if not old.rank_confirmed:
                old.rank, old.rank_confirmed = user.rank, user.rank_confirmed
            return NOTHING
        self.users[key] = user
        return self._presence()

    def _on_user_leave(self, f: frames.UserLeave) -> Change:
        user = self.users.pop(f.name.lower(), None)
        if user is None:
            return NOTHING
        if self.leader.lower() == user.name.lower():
            self.leader = ""
        return self._presence()

    def _on_set_user_rank(self, f: frames.SetUserRank) -> Change:
        user = self.user(f.name)
        if user is None:
            return NOTHING
        user.rank = f.rank
        user.rank_confirmed = True
        return Change(status=user.name.lower() == self._me().lower())

    def _on_set_user_meta(self, f: frames.SetUserMeta) -> Change:
        user = self.user(f.name)
        if user is not None:
            user.meta = dict(f.meta)
            user.afk = bool(f.meta.get("afk", user.afk))
            user.muted = bool(f.meta.get("muted", user.muted))
        return NOTHING

    def _on_set_afk(self, f: frames.SetAFK) -> Change:
        user = self.user(f.name)
        if user is not None:
            user.afk = f.afk
        return NOTHING

    def _on_usercount(self, f: frames.Usercount) -> Change:
        self.usercount = f.count
        return Change(counts=True, status=True)

    def _on_set_leader(self, f: frames.SetLeader) -> Change:
        self.leader = f.name
        return NOTHING

    def _on_playlist(self, f: frames.Playlist) -> Change:
        self.playlist = list(f.items)
        if self.current_uid is not None and self.item(self.current_uid) is None:
            self._nothing_current()  # cleared (``playlist []``); a setCurrent follows otherwise
        return Change(status=True)

    def _nothing_current(self) -> None:
        self.current_uid, self.current_media = None, None
        self.current_time, self.paused = 0.0, True

    def _on_queue(self, f: frames.Queue) -> Change:
        self.playlist = [it for it in self.playlist if it.uid != f.item.uid]
        self._insert_after(f.item, f.after)
        return Change(status=True)

    def _insert_after(self, item: PlaylistItem, after: int | str | None) -> None:
        if after == "prepend":
            self.playlist.insert(0, item)
            return
        if isinstance(after, int):
            pos = self.position_of(after)
            if pos is not None:
                self.playlist.insert(pos, item)
                return
        self.playlist.append(item)

    def _on_delete(self, f: frames.Delete) -> Change:
        self.playlist = [it for it in self.playlist if it.uid != f.uid]
        if f.uid == self.current_uid:
            self._nothing_current()  # CyTube sends setCurrent next if anything is left
        return Change(status=True)

    def _on_move_video(self, f: frames.MoveVideo) -> Change:
        item = self.item(f.uid)
        if item is None:
            return NOTHING
        self.playlist.remove(item)
        self._insert_after(item, f.after)
        return NOTHING

    def _on_set_temp(self, f: frames.SetTemp) -> Change:
        self.playlist = [replace(it, temp=f.temp) if it.uid == f.uid else it
                         for it in self.playlist]
        return NOTHING

    def _on_set_current(self, f: frames.SetCurrent) -> Change:
        self.current_uid = f.uid
        item = self.item(f.uid)
        if item is not None:
            self.current_media = item.media
        return Change(status=True)

    def _on_change_media(self, f: frames.ChangeMedia) -> Change:
        self.current_media = f.media
        self.current_time = f.current_time
        self.paused = f.paused
        return Change(status=True)

    def _on_media_update(self, f: frames.MediaUpdate) -> Change:
        self.current_time = f.current_time
        self.paused = f.paused
        return NOTHING


_HANDLERS: Final[dict[type[Any], Callable[[ChannelState, Any], Change]]] = {
    frames.Rank: ChannelState._on_rank,
    frames.Permissions: ChannelState._on_permissions,
    frames.PlaylistLocked: ChannelState._on_playlist_locked,
    frames.NotRegistered: ChannelState._on_not_registered,
    frames.Voteskip: ChannelState._on_voteskip,
    frames.ChannelOpts: ChannelState._on_channel_opts,
    frames.Userlist: ChannelState._on_userlist,
    frames.AddUser: ChannelState._on_add_user,
    frames.UserLeave: ChannelState._on_user_leave,
    frames.SetUserRank: ChannelState._on_set_user_rank,
    frames.SetUserMeta: ChannelState._on_set_user_meta,
    frames.SetAFK: ChannelState._on_set_afk,
    frames.Usercount: ChannelState._on_usercount,
    frames.SetLeader: ChannelState._on_set_leader,
    frames.Playlist: ChannelState._on_playlist,
    frames.Queue: ChannelState._on_queue,
    frames.Delete: ChannelState._on_delete,
    frames.MoveVideo: ChannelState._on_move_video,
    frames.SetTemp: ChannelState._on_set_temp,
    frames.SetCurrent: ChannelState._on_set_current,
    frames.ChangeMedia: ChannelState._on_change_media,
    frames.MediaUpdate: ChannelState._on_media_update,
}


def _user_from(entry: frames.UserEntry, *, confirmed: bool) -> User:
    # from addUser, guests (0) and anonymous ranks are final; 1 may still be raised by
    # setUserRank, and anything above 1 is a lower bound that is already true
    return User(name=entry.name, rank=entry.rank, afk=entry.afk, muted=entry.muted,
                meta=dict(entry.meta), rank_confirmed=confirmed or entry.rank != 1)
