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

from dataclasses import dataclass, field
from typing import Any, Final

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
class Media:
    id: str
    type: str
    title: str
    seconds: int
    duration: str

    @classmethod
    def from_payload(cls, m: dict[str, Any]) -> Media:
        return cls(id=str(m.get("id", "")), type=str(m.get("type", "")),
                   title=str(m.get("title", "")), seconds=int(m.get("seconds") or 0),
                   duration=str(m.get("duration", "")))


@dataclass(slots=True)
class PlaylistItem:
    uid: int
    media: Media
    temp: bool
    queueby: str

    @classmethod
    def from_payload(cls, item: dict[str, Any]) -> PlaylistItem:
        return cls(uid=int(item["uid"]), media=Media.from_payload(item.get("media") or {}),
                   temp=bool(item.get("temp")), queueby=str(item.get("queueby") or ""))


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

    def __init__(self, *, channel: str, bot_name: str = "") -> None:
        self.channel = channel
        self.bot_name = bot_name
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

    # --- queries ------------------------------------------------------------------------------
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
    def apply(self, event: str, data: Any) -> Change:
        """Apply one server event; unknown events and malformed payloads change nothing."""
        handler = getattr(self, "_on_" + event, None)
        if handler is None:
            return NOTHING
        try:
            result: Change = handler(data)
        except (KeyError, TypeError, ValueError, AttributeError):
            return NOTHING
        return result

    def _on_rank(self, data: Any) -> Change:
        self.my_rank = float(data)
        return Change(status=True)

    def _on_login(self, data: Any) -> Change:
        if isinstance(data, dict) and data.get("success") and data.get("name"):
            self.bot_name = str(data["name"])
        return NOTHING

    def _on_setPermissions(self, data: Any) -> Change:
        self.permissions = {str(k): float(v) for k, v in dict(data).items()}
        return Change(status=True)

    def _on_setPlaylistLocked(self, data: Any) -> Change:
        self.playlist_locked = bool(data)
        return Change(status=True)

    def _on_channelNotRegistered(self, data: Any) -> Change:
        self.registered = False
        return Change(status=True)

    def _on_voteskip(self, data: Any) -> Change:
        self.voteskip = (int(data["count"]), int(data["need"]))
        return NOTHING

    def _on_userlist(self, data: Any) -> Change:
        before = set(self.users)
        self.users = {}
        for entry in data:
            user = _user_from(entry, confirmed=True)
            if user.name:
                self.users[user.name.lower()] = user
        after = set(self.users)
        return Change(joined=tuple(self.users[k].name for k in sorted(after - before)),
                      left=(), counts=True, status=True)

    def _on_addUser(self, data: Any) -> Change:
        user = _user_from(data, confirmed=False)
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
        return Change(joined=(user.name,), counts=True, status=True)

    def _on_userLeave(self, data: Any) -> Change:
        user = self.users.pop(str(data["name"]).lower(), None)
        if user is None:
            return NOTHING
        if self.leader.lower() == user.name.lower():
            self.leader = ""
        return Change(left=(user.name,), counts=True, status=True)

    def _on_setUserRank(self, data: Any) -> Change:
        user = self.user(str(data["name"]))
        if user is None:
            return NOTHING
        user.rank = float(data["rank"])
        user.rank_confirmed = True
        return Change(status=user.name.lower() == self.bot_name.lower())

    def _on_setUserMeta(self, data: Any) -> Change:
        user = self.user(str(data["name"]))
        if user is not None:
            meta = dict(data.get("meta") or {})
            user.meta = meta
            user.afk = bool(meta.get("afk", user.afk))
            user.muted = bool(meta.get("muted", user.muted))
        return NOTHING

    def _on_setAFK(self, data: Any) -> Change:
        user = self.user(str(data["name"]))
        if user is not None:
            user.afk = bool(data["afk"])
        return NOTHING

    def _on_usercount(self, data: Any) -> Change:
        self.usercount = int(data)
        return Change(counts=True, status=True)

    def _on_setLeader(self, data: Any) -> Change:
        self.leader = str(data or "")
        return NOTHING

    def _on_playlist(self, data: Any) -> Change:
        self.playlist = [PlaylistItem.from_payload(it) for it in data]
        if self.current_uid is not None and self.item(self.current_uid) is None:
            self._nothing_current()  # cleared (``playlist []``); a setCurrent follows otherwise
        return Change(status=True)

    def _nothing_current(self) -> None:
        self.current_uid, self.current_media = None, None
        self.current_time, self.paused = 0.0, True

    def _on_queue(self, data: Any) -> Change:
        item = PlaylistItem.from_payload(data["item"])
        self.playlist = [it for it in self.playlist if it.uid != item.uid]
        self._insert_after(item, data.get("after"))
        return Change(status=True)

    def _insert_after(self, item: PlaylistItem, after: Any) -> None:
        if after == "prepend":
            self.playlist.insert(0, item)
            return
        if after != "append" and after is not None:
            pos = self.position_of(int(after))
            if pos is not None:
                self.playlist.insert(pos, item)
                return
        self.playlist.append(item)

    def _on_delete(self, data: Any) -> Change:
        uid = int(data["uid"])
        self.playlist = [it for it in self.playlist if it.uid != uid]
        if uid == self.current_uid:
            self._nothing_current()  # CyTube sends setCurrent next if anything is left
        return Change(status=True)

    def _on_moveVideo(self, data: Any) -> Change:
        item = self.item(int(data["from"]))
        if item is None:
            return NOTHING
        self.playlist.remove(item)
        self._insert_after(item, data.get("after"))
        return NOTHING

    def _on_setTemp(self, data: Any) -> Change:
        item = self.item(int(data["uid"]))
        if item is not None:
            item.temp = bool(data["temp"])
        return NOTHING

    def _on_setCurrent(self, data: Any) -> Change:
        self.current_uid = int(data)
        item = self.item(self.current_uid)
        if item is not None:
            self.current_media = item.media
        return Change(status=True)

    def _on_changeMedia(self, data: Any) -> Change:
        self.current_media = Media.from_payload(data)
        self.current_time = float(data.get("currentTime") or 0)
        self.paused = bool(data.get("paused"))
        return Change(status=True)

    def _on_mediaUpdate(self, data: Any) -> Change:
        self.current_time = float(data.get("currentTime") or 0)
        self.paused = bool(data.get("paused"))
        return NOTHING


def _user_from(entry: Any, *, confirmed: bool) -> User:
    meta = dict(entry.get("meta") or {})
    rank = float(entry.get("rank", 0))
    # from addUser, guests (0) and anonymous ranks are final; 1 may still be raised by
    # setUserRank, and anything above 1 is a lower bound that is already true
    return User(name=str(entry.get("name") or ""), rank=rank, afk=bool(meta.get("afk")),
                muted=bool(meta.get("muted")), meta=meta,
                rank_confirmed=confirmed or rank != 1)
