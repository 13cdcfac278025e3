"""The channel's pieces: sockets, users, playlist items, permissions, recorded login replies."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Final

from tests.support.cytube.limits import Limiter

__all__ = ["DEFAULT_PERMISSIONS", "UNREGISTERED_PERMISSIONS", "LoginReply", "Conn", "User",
           "Item"]

# As recorded from CyTube 3.86 (a registered channel with default settings).
DEFAULT_PERMISSIONS: Final[dict[str, float]] = {
    "seeplaylist": -1, "playlistadd": 1.5, "playlistnext": 1.5, "playlistmove": 1.5,
    "playlistdelete": 2, "playlistjump": 1.5, "playlistaddlist": 1.5, "oplaylistadd": -1,
    "oplaylistnext": 1.5, "oplaylistmove": 1.5, "oplaylistdelete": 2, "oplaylistjump": 1.5,
    "oplaylistaddlist": 1.5, "playlistaddcustom": 3, "playlistaddrawfile": 2,
    "playlistaddlive": 1.5, "exceedmaxlength": 2, "addnontemp": 2, "settemp": 2,
    "playlistshuffle": 2, "playlistclear": 2, "pollctl": 1.5, "pollvote": -1,
    "viewhiddenpoll": 1.5, "voteskip": -1, "viewvoteskip": 1.5, "mute": 1.5, "kick": 1.5,
    "ban": 2, "motdedit": 3, "filteredit": 3, "filterimport": 3, "emoteedit": 3,
    "emoteimport": 3, "playlistlock": 2, "leaderctl": 2, "drink": 1.5, "chat": 0,
    "chatclear": 2, "exceedmaxitems": 2, "deletefromchannellib": 2,
    "exceedmaxdurationperuser": 2,
}

# permissions.js loadUnregistered: an unregistered channel (no owner) gets these and an open
# playlist; kick, mute and ban are absent, so nobody can use them there.
UNREGISTERED_PERMISSIONS: Final[dict[str, float]] = {
    "seeplaylist": -1, "playlistadd": -1, "playlistnext": 0, "playlistmove": 0,
    "playlistdelete": 0, "playlistjump": 0, "playlistaddlist": 0, "oplaylistadd": -1,
    "oplaylistnext": 0, "oplaylistmove": 0, "oplaylistdelete": 0, "oplaylistjump": 0,
    "oplaylistaddlist": 0, "playlistaddcustom": 0, "playlistaddlive": 0, "exceedmaxlength": 0,
    "addnontemp": 0, "settemp": 0, "playlistshuffle": 0, "playlistclear": 0, "pollctl": 0,
    "pollvote": -1, "viewhiddenpoll": 1.5, "voteskip": -1, "viewvoteskip": 1.5,
    "playlistlock": 2, "leaderctl": 0, "drink": 0, "chat": 0, "chatclear": 2,
    "exceedmaxitems": 2, "deletefromchannellib": 2,
}


@dataclass(frozen=True)
class LoginReply:
    """One ``login`` reply the server sent: when (``time.monotonic()``), to which socket."""

    at: float
    sid: str
    name: str  # the name the login asked for
    reply: dict[str, Any]

    @property
    def success(self) -> bool:
        return bool(self.reply.get("success"))

    @property
    def error(self) -> str | None:
        return self.reply.get("error")


@dataclass(eq=False)
class Conn:
    """One socket.io connection (a real client)."""

    sid: str
    ip: str
    user: User | None = None
    attempted_name: str = ""
    registered: bool = False
    login_busy: bool = False
    join_started: bool = False
    awaiting_password: bool = False
    in_channel: bool = False
    gone: bool = False
    chat_limiter: Limiter = field(default_factory=lambda: Limiter(20, 10))
    queue_limiter_user: Limiter = field(default_factory=lambda: Limiter(3, 1))
    queue_limiter_mod: Limiter = field(default_factory=lambda: Limiter(10, 2))

    @property
    def rank(self) -> float:
        return self.user.rank if self.user else -1

    @property
    def name(self) -> str:
        return self.user.name if self.user else ""


@dataclass(eq=False)
class User:
    """Someone logged in: a real socket (``conn``) or a simulated user (``conn is None``)."""

    name: str
    rank: float
    ip: str
    conn: Conn | None = None
    afk: bool = False
    muted: bool = False
    smuted: bool = False
    rank_before_lead: float | None = None

    @property
    def lower(self) -> str:
        return self.name.lower()


@dataclass(eq=False)
class Item:
    """One playlist entry."""

    uid: int
    temp: bool
    queueby: str
    media: dict[str, Any]

    def pack(self) -> dict[str, Any]:
        return {"media": copy.deepcopy(self.media), "uid": self.uid, "temp": self.temp,
                "queueby": self.queueby}
