"""CyTube's frames as types: every server event the bot reads, decoded once at the edge.

The session calls :func:`decode` on each socket.io event as it arrives and hands the typed
frame on; the channel state, the action layer's confirmations and the moderation watcher
read fields, never raw dicts. An event the bot does not read becomes :class:`Other`; one the
bot reads whose payload breaks its shape becomes :class:`Malformed` (the session logs it and
counts it in ``rosey_cytube_bad_frames_total``), so a bad payload changes nothing and
confirms nothing. Payload shapes: ``docs/cytube-protocol.md``.

Chat and PMs are :class:`ChatLine`, made by the session (it knows the join time and its own
name, which decide ``history`` and ``own``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

__all__ = ["Frame", "ChatLine", "UserEntry", "Media", "PlaylistItem", "Ban", "Rank", "Login",
           "Permissions", "PlaylistLocked", "NotRegistered", "Voteskip", "Userlist", "AddUser",
           "UserLeave", "SetUserRank", "SetUserMeta", "SetAFK", "Usercount", "SetLeader",
           "Playlist", "Queue", "Delete", "MoveVideo", "SetTemp", "SetCurrent", "ChangeMedia",
           "MediaUpdate", "Banlist", "BanlistRemove", "QueueFail", "ErrorMsg", "Noflood",
           "SpamFiltered", "ChannelOpts", "ValidationError", "Kick", "NeedPassword", "Cooldown",
           "PartitionChange", "Other", "Malformed", "decode", "EVENTS"]


class Frame:
    """One server event the bot reads; ``event`` is CyTube's name for it."""

    __slots__ = ()
    event: ClassVar[str] = ""


@dataclass(frozen=True, slots=True)
class ChatLine(Frame):
    """One chat message or PM as the person typed it."""

    username: str
    text: str
    time: float  # Unix seconds
    history: bool  # replayed on join, not new
    own: bool  # the bot's own echo
    to: str | None = None  # PMs: the recipient

    @property
    def server_notice(self) -> bool:
        """A ``[server]`` line: CyTube's notices to moderators (``X kicked Y``...)."""
        return self.username == "[server]"


@dataclass(frozen=True, slots=True)
class UserEntry:
    name: str
    rank: float
    afk: bool = False
    muted: bool = False
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Media:
    id: str
    type: str
    title: str
    seconds: int
    duration: str


@dataclass(frozen=True, slots=True)
class PlaylistItem:
    uid: int
    media: Media
    temp: bool
    queueby: str


@dataclass(frozen=True, slots=True)
class Ban:
    id: Any
    name: str


@dataclass(frozen=True, slots=True)
class Rank(Frame):
    event: ClassVar[str] = "rank"
    rank: float


@dataclass(frozen=True, slots=True)
class Login(Frame):
    event: ClassVar[str] = "login"
    success: bool
    name: str
    guest: bool
    error: str


@dataclass(frozen=True, slots=True)
class Permissions(Frame):
    event: ClassVar[str] = "setPermissions"
    permissions: dict[str, float]


@dataclass(frozen=True, slots=True)
class PlaylistLocked(Frame):
    event: ClassVar[str] = "setPlaylistLocked"
    locked: bool


@dataclass(frozen=True, slots=True)
class NotRegistered(Frame):
    event: ClassVar[str] = "channelNotRegistered"


@dataclass(frozen=True, slots=True)
class Voteskip(Frame):
    event: ClassVar[str] = "voteskip"
    count: int
    need: int


@dataclass(frozen=True, slots=True)
class Userlist(Frame):
    event: ClassVar[str] = "userlist"
    users: tuple[UserEntry, ...]


@dataclass(frozen=True, slots=True)
class AddUser(Frame):
    event: ClassVar[str] = "addUser"
    user: UserEntry


@dataclass(frozen=True, slots=True)
class UserLeave(Frame):
    event: ClassVar[str] = "userLeave"
    name: str


@dataclass(frozen=True, slots=True)
class SetUserRank(Frame):
    event: ClassVar[str] = "setUserRank"
    name: str
    rank: float


@dataclass(frozen=True, slots=True)
class SetUserMeta(Frame):
    event: ClassVar[str] = "setUserMeta"
    name: str
    meta: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SetAFK(Frame):
    event: ClassVar[str] = "setAFK"
    name: str
    afk: bool


@dataclass(frozen=True, slots=True)
class Usercount(Frame):
    event: ClassVar[str] = "usercount"
    count: int


@dataclass(frozen=True, slots=True)
class SetLeader(Frame):
    event: ClassVar[str] = "setLeader"
    name: str  # "" when nobody leads


@dataclass(frozen=True, slots=True)
class Playlist(Frame):
    event: ClassVar[str] = "playlist"
    items: tuple[PlaylistItem, ...]


@dataclass(frozen=True, slots=True)
class Queue(Frame):
    event: ClassVar[str] = "queue"
    item: PlaylistItem
    after: int | str | None  # a uid, "prepend", "append" or None


@dataclass(frozen=True, slots=True)
class Delete(Frame):
    event: ClassVar[str] = "delete"
    uid: int


@dataclass(frozen=True, slots=True)
class MoveVideo(Frame):
    event: ClassVar[str] = "moveVideo"
    uid: int
    after: int | str | None


@dataclass(frozen=True, slots=True)
class SetTemp(Frame):
    event: ClassVar[str] = "setTemp"
    uid: int
    temp: bool


@dataclass(frozen=True, slots=True)
class SetCurrent(Frame):
    event: ClassVar[str] = "setCurrent"
    uid: int


@dataclass(frozen=True, slots=True)
class ChangeMedia(Frame):
    event: ClassVar[str] = "changeMedia"
    media: Media
    current_time: float
    paused: bool


@dataclass(frozen=True, slots=True)
class MediaUpdate(Frame):
    event: ClassVar[str] = "mediaUpdate"
    current_time: float
    paused: bool


@dataclass(frozen=True, slots=True)
class Banlist(Frame):
    event: ClassVar[str] = "banlist"
    bans: tuple[Ban, ...]

    def find(self, name: str) -> Ban | None:
        return next((b for b in self.bans if b.name.lower() == name.lower()), None)


@dataclass(frozen=True, slots=True)
class BanlistRemove(Frame):
    event: ClassVar[str] = "banlistRemove"
    name: str


@dataclass(frozen=True, slots=True)
class QueueFail(Frame):
    event: ClassVar[str] = "queueFail"
    msg: str
    id: str | None
    link: str | None


@dataclass(frozen=True, slots=True)
class ErrorMsg(Frame):
    event: ClassVar[str] = "errorMsg"
    msg: str


@dataclass(frozen=True, slots=True)
class Noflood(Frame):
    event: ClassVar[str] = "noflood"
    msg: str


@dataclass(frozen=True, slots=True)
class SpamFiltered(Frame):
    event: ClassVar[str] = "spamFiltered"
    msg: str


@dataclass(frozen=True, slots=True)
class ChannelOpts(Frame):
    event: ClassVar[str] = "channelOpts"
    options: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ValidationError(Frame):
    """CyTube refused a value of ``setOptions`` (``opts.js``), to the sender only."""
    event: ClassVar[str] = "validationError"
    target: str
    message: str


@dataclass(frozen=True, slots=True)
class Kick(Frame):
    event: ClassVar[str] = "kick"
    reason: str


@dataclass(frozen=True, slots=True)
class NeedPassword(Frame):
    event: ClassVar[str] = "needPassword"
    wrong: bool  # true: the password sent was refused


@dataclass(frozen=True, slots=True)
class Cooldown(Frame):
    event: ClassVar[str] = "cooldown"
    ms: float


@dataclass(frozen=True, slots=True)
class PartitionChange(Frame):
    event: ClassVar[str] = "partitionChange"


@dataclass(frozen=True, slots=True)
class Other(Frame):
    """An event the bot does not read (kept raw, for nobody to dig through)."""

    name: str
    data: Any


@dataclass(frozen=True, slots=True)
class Malformed(Frame):
    """An event the bot reads whose payload breaks its shape."""

    name: str
    error: str


# --- decoding -----------------------------------------------------------------------------------
def _dict(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise TypeError(f"expected an object, got {type(data).__name__}")
    return data


def _text(data: Any) -> str:
    """A message field that CyTube sends as ``{msg}`` or as a bare string."""
    value = data.get("msg", "") if isinstance(data, dict) else data
    return str(value or "")


def _user(data: Any) -> UserEntry:
    d = _dict(data)
    meta = dict(d.get("meta") or {})
    return UserEntry(name=str(d.get("name") or ""), rank=float(d.get("rank", 0)),
                     afk=bool(meta.get("afk")), muted=bool(meta.get("muted")), meta=meta)


def _media(data: Any) -> Media:
    m = _dict(data)
    return Media(id=str(m.get("id", "")), type=str(m.get("type", "")),
                 title=str(m.get("title", "")), seconds=int(m.get("seconds") or 0),
                 duration=str(m.get("duration", "")))


def _item(data: Any) -> PlaylistItem:
    d = _dict(data)
    return PlaylistItem(uid=int(d["uid"]), media=_media(d.get("media") or {}),
                        temp=bool(d.get("temp")), queueby=str(d.get("queueby") or ""))


def _after(value: Any) -> int | str | None:
    if value is None or value in ("prepend", "append"):
        return value  # type: ignore[no-any-return]
    return int(value)


def _list(data: Any) -> list[Any]:
    if not isinstance(data, list):
        raise TypeError(f"expected a list, got {type(data).__name__}")
    return data


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)


def _login(d: Any) -> Login:
    d = _dict(d)
    return Login(bool(d.get("success")), str(d.get("name") or ""), bool(d.get("guest")),
                 str(d.get("error") or ""))


def _change_media(d: Any) -> ChangeMedia:
    return ChangeMedia(_media(d), float(d.get("currentTime") or 0), bool(d.get("paused")))


_DECODERS: dict[str, Callable[[Any], Frame]] = {
    "rank": lambda d: Rank(float(d)),
    "login": _login,
    "setPermissions": lambda d: Permissions({str(k): float(v) for k, v in _dict(d).items()}),
    "setPlaylistLocked": lambda d: PlaylistLocked(bool(d)),
    "channelNotRegistered": lambda d: NotRegistered(),
    "voteskip": lambda d: Voteskip(int(_dict(d)["count"]), int(d["need"])),
    "userlist": lambda d: Userlist(tuple(_user(u) for u in _list(d))),
    "addUser": lambda d: AddUser(_user(d)),
    "userLeave": lambda d: UserLeave(str(_dict(d)["name"])),
    "setUserRank": lambda d: SetUserRank(str(_dict(d)["name"]), float(d["rank"])),
    "setUserMeta": lambda d: SetUserMeta(str(_dict(d)["name"]), dict(d.get("meta") or {})),
    "setAFK": lambda d: SetAFK(str(_dict(d)["name"]), bool(d["afk"])),
    "usercount": lambda d: Usercount(int(d)),
    "setLeader": lambda d: SetLeader(str(d or "")),
    "playlist": lambda d: Playlist(tuple(_item(it) for it in _list(d))),
    "queue": lambda d: Queue(_item(_dict(d)["item"]), _after(d.get("after"))),
    "delete": lambda d: Delete(int(_dict(d)["uid"])),
    "moveVideo": lambda d: MoveVideo(int(_dict(d)["from"]), _after(d.get("after"))),
    "setTemp": lambda d: SetTemp(int(_dict(d)["uid"]), bool(d["temp"])),
    "setCurrent": lambda d: SetCurrent(int(d)),
    "changeMedia": _change_media,
    "mediaUpdate": lambda d: MediaUpdate(float(_dict(d).get("currentTime") or 0),
                                         bool(d.get("paused"))),
    "banlist": lambda d: Banlist(tuple(Ban(b.get("id"), str(b.get("name", "")))
                                       for b in _list(d) if isinstance(b, dict))),
    "banlistRemove": lambda d: BanlistRemove(str(_dict(d).get("name") or "")),
    "queueFail": lambda d: QueueFail(_text(d), _opt(_dict(d).get("id")), _opt(d.get("link"))),
    "errorMsg": lambda d: ErrorMsg(_text(d)),
    "noflood": lambda d: Noflood(_text(d)),
    "spamFiltered": lambda d: SpamFiltered(_text(d)),
    "channelOpts": lambda d: ChannelOpts(dict(_dict(d))),
    "validationError": lambda d: ValidationError(str(_dict(d).get("target") or ""),
                                                 str(d.get("message") or "")),
    "kick": lambda d: Kick(str(d.get("reason") or "") if isinstance(d, dict) else ""),
    "needPassword": lambda d: NeedPassword(bool(d)),
    "cooldown": lambda d: Cooldown(float(d)) if isinstance(d, (int, float)) else Other("cooldown", d),
    "partitionChange": lambda d: PartitionChange(),
}

#: the events the bot reads (each has a frame type)
EVENTS = frozenset(_DECODERS)


def decode(event: str, data: Any) -> Frame:
    """The typed frame for one server event (``Malformed`` when its payload breaks its shape)."""
    decoder = _DECODERS.get(event)
    if decoder is None:
        return Other(event, data)
    try:
        return decoder(data)
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        return Malformed(event, f"{type(exc).__name__}: {exc}"[:300])
