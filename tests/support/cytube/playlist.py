"""The playlist: queue, delete, move, jump, next, and playback with its lead-in."""

from __future__ import annotations

import asyncio
import copy
import math
import time
from typing import Any

from tests.support.cytube.core import guarded
from tests.support.cytube.model import Conn, Item
from tests.support.cytube.people import People
from tests.support.cytube.wire import (
    DEFAULT_MEDIA_SECONDS,
    KNOWN_TYPES,
    LEAD_IN_SECONDS,
    LIVE_TYPES,
    format_link,
    format_time,
    js_num,
)

__all__ = ["Playlist"]


class Playlist(People):
    """``queue``, ``delete``, ``moveMedia``, ``jumpTo``, ``playNext``; what plays and when."""

    def _full_update(self) -> dict[str, Any]:
        assert self._current is not None
        return {**copy.deepcopy(self._current.media), **self._time_update()}

    def _time_update(self) -> dict[str, Any]:
        current = self._time
        if not self._paused and self._leader is None and self._current is not None \
                and self._current.media["seconds"] > 0:
            current += time.monotonic() - self._anchor
        return {"currentTime": js_num(current), "paused": self._paused}

    def _meta(self) -> dict[str, Any]:
        raw = sum(item.media["seconds"] for item in self._items)
        return {"count": len(self._items), "rawTime": raw, "time": format_time(raw)}

    async def _send_playlist(self, conn: Conn) -> None:
        await self._emit(conn, "setPlaylistMeta", self._meta())
        await self._emit(conn, "playlist", [item.pack() for item in self._items])
        if self._current is not None:
            await self._emit(conn, "setCurrent", self._current.uid)

    def _find_item(self, uid: Any) -> Item | None:
        if isinstance(uid, bool):
            return None
        if isinstance(uid, str) and uid.strip().lstrip("-").isdigit():
            uid = int(uid)
        return next((item for item in self._items if item.uid == uid), None)

    @guarded()
    async def _on_queue(self, conn: Conn, data: Any) -> None:
        if not isinstance(data, dict) or not isinstance(data.get("id"), str) \
                or not isinstance(data.get("type"), str) \
                or not isinstance(data.get("pos"), str):
            await self._emit(conn, "errorMsg", {
                "msg": "Unexpected error for message queue: id, type and pos must be "
                       "strings"})
            return
        media_id, media_type, pos = data["id"], data["type"], data["pos"]
        if pos not in ("next", "end") or not self._perm(conn, "playlistadd"):
            return
        if pos == "next" and not self._perm(conn, "playlistnext"):
            return
        link = format_link(media_id, media_type)

        async def fail(msg: str) -> None:
            await self._emit(conn, "queueFail", {"msg": msg, "link": link, "id": media_id})

        if media_type == "yp" and not self._perm(conn, "playlistaddlist"):
            return await fail("You don't have permission to add playlists")
        if media_type in LIVE_TYPES and not self._perm(conn, "playlistaddlive"):
            return await fail("You don't have permission to add live media")
        if media_type == "cu" and not self._perm(conn, "playlistaddcustom"):
            return await fail("You don't have permission to add custom embeds")
        if media_type in ("fi", "cm") and not self._perm(conn, "playlistaddrawfile"):
            return await fail("You don't have permission to add raw video files")
        limiter = conn.queue_limiter_mod if conn.rank >= 2 else conn.queue_limiter_user
        if limiter.throttle():
            return await fail("You are adding videos too quickly")
        if media_type not in KNOWN_TYPES:
            return await fail(f"Unknown media type '{media_type}'")
        if media_type == "fi":
            return await fail("Raw file playback is not enabled on this server")
        if media_type == "yp":
            return await fail("YouTube playlists are not modelled by the test server")
        temp = bool(data.get("temp")) or not self._perm(conn, "addnontemp")
        live = media_type in LIVE_TYPES
        seconds = 0 if live else DEFAULT_MEDIA_SECONDS
        duration = data.get("duration")
        if live and isinstance(duration, (int, float)) and not isinstance(duration, bool):
            seconds = int(duration)
        media = {"id": media_id, "title": media_id[:100], "seconds": seconds,
                 "duration": format_time(seconds) if seconds else "--:--",
                 "type": media_type, "meta": {}}
        existing = next((i for i in self._items if i.media["id"] == media_id), None)
        if existing is not None and (pos == "end" or existing is self._current):
            return await fail("This item is already on the playlist")
        item = Item(uid=self._next_uid, temp=temp, queueby=conn.name, media=media)
        self._next_uid += 1
        if pos == "end" or self._current is None:
            self._items.append(item)
        else:
            self._items.insert(self._items.index(self._current) + 1, item)
            if existing is not None:  # "next" moves an existing copy (new uid)
                item.temp = existing.temp
                await self._delete_item(existing)
        index = self._items.index(item)
        after: int | str = self._items[index - 1].uid if index > 0 else "prepend"
        await self._broadcast("queue", {"item": item.pack(), "after": after})
        await self._broadcast("setPlaylistMeta", self._meta())
        if len(self._items) == 1:
            self._current = item
            await self._start_playback()

    async def user_queue(self, name: str, media_id: str, *, media_type: str = "yt",
                         title: str | None = None, seconds: int = DEFAULT_MEDIA_SECONDS) -> int:
        """A simulated user queues an item at the end, as ``queue`` from a user allowed to
        (test control: no permission or limiter checks); its uid."""
        media = {"id": media_id, "title": (title or media_id)[:100], "seconds": seconds,
                 "duration": format_time(seconds), "type": media_type, "meta": {}}
        item = Item(uid=self._next_uid, temp=True, queueby=name, media=media)
        self._next_uid += 1
        self._items.append(item)
        after: int | str = self._items[-2].uid if len(self._items) > 1 else "prepend"
        await self._broadcast("queue", {"item": item.pack(), "after": after})
        await self._broadcast("setPlaylistMeta", self._meta())
        if len(self._items) == 1:
            self._current = item
            await self._start_playback()
        return item.uid

    @guarded()
    async def _on_delete(self, conn: Conn, data: Any) -> None:
        if not self._perm(conn, "playlistdelete") or isinstance(data, bool) \
                or not isinstance(data, int):
            return
        item = self._find_item(data)
        if item is not None:
            await self._delete_item(item)

    async def _delete_item(self, item: Item) -> None:
        index = self._items.index(item)
        following = self._items[index + 1] if index + 1 < len(self._items) else self._items[0]
        self._items.remove(item)
        await self._broadcast("delete", {"uid": item.uid})
        await self._broadcast("setPlaylistMeta", self._meta())
        if self._current is item:
            if following is item:
                self._current = None
            else:
                self._current = following
                await self._start_playback()

    @guarded()
    async def _on_move(self, conn: Conn, data: Any) -> None:
        if not isinstance(data, dict) or not self._perm(conn, "playlistmove"):
            return
        moving = self._find_item(data.get("from"))
        after = data.get("after")
        anchor = self._find_item(after) if after not in ("prepend", "append") else None
        if moving is None or moving is anchor or (
                after not in ("prepend", "append") and anchor is None):
            return
        self._items.remove(moving)
        if after == "prepend":
            self._items.insert(0, moving)
        elif after == "append":
            self._items.append(moving)
        else:
            assert anchor is not None
            self._items.insert(self._items.index(anchor) + 1, moving)
        await self._broadcast("moveVideo", {"from": data.get("from"), "after": after})

    @guarded()
    async def _on_clear_playlist(self, conn: Conn, data: Any) -> None:
        """playlist.js handleClear: everything goes, ``playlist []`` tells the room."""
        if not self._perm(conn, "playlistclear"):
            return
        self._items.clear()
        self._current = None
        if self._lead_in_task is not None:
            self._lead_in_task.cancel()
            self._lead_in_task = None
        await self._broadcast("playlist", [])
        await self._broadcast("setPlaylistMeta", self._meta())

    @guarded()
    async def _on_jump(self, conn: Conn, data: Any) -> None:
        if not isinstance(data, (str, int)) or not self._perm(conn, "playlistjump"):
            return
        target = self._find_item(data)
        if target is None:
            return
        old = self._current
        self._current = target
        await self._start_playback()
        if old is not None and old.temp and old is not target and old in self._items:
            await self._delete_item(old)

    @guarded()
    async def _on_play_next(self, conn: Conn, data: Any) -> None:
        if self._perm(conn, "playlistjump"):
            await self._play_next()

    async def _play_next(self) -> None:
        current = self._current
        if current is None:
            return
        if current.temp:
            await self._delete_item(current)
            return
        index = self._items.index(current)
        self._current = self._items[(index + 1) % len(self._items)]
        await self._start_playback()

    async def _start_playback(self, at: float | None = None) -> None:
        if self._current is None:
            return
        if self._lead_in_task is not None:
            self._lead_in_task.cancel()
            self._lead_in_task = None
        seconds = self._current.media["seconds"]
        if self._leader is not None:
            self._time, self._paused = at or 0.0, False
        else:
            self._time = at if at else (-LEAD_IN_SECONDS if seconds > 0 else 0.0)
            self._paused = self._time < 0
        self._anchor = time.monotonic()
        await self._broadcast("setCurrent", self._current.uid)
        await self._broadcast("changeMedia", self._full_update())
        await self._broadcast("drinkCount", 0)
        self._votes.clear()
        await self._send_voteskip()
        if self._paused and self._time < 0 and self._sio is not None:
            self._lead_in_task = asyncio.ensure_future(self._lead_in(self._current, self._run))
            self._tasks.add(self._lead_in_task)
            self._lead_in_task.add_done_callback(self._tasks.discard)

    async def _lead_in(self, item: Item, run: int) -> None:
        await asyncio.sleep(-self._time)
        async with self._lock:
            if run != self._run or self._current is not item or self._leader is not None:
                return
            self._lead_in_task = None
            self._time, self._paused, self._anchor = 0.0, False, time.monotonic()
            await self._broadcast("mediaUpdate", self._time_update())

    def _reload_playlist(self) -> None:
        """What a channel reload does: uids renumbered from 0, position kept."""
        position = self._time_update()["currentTime"] if self._current else 0.0
        index = self._items.index(self._current) if self._current in self._items else None
        for uid, item in enumerate(self._items):
            item.uid = uid
            if item.media["seconds"] == 0:
                item.media["duration"] = format_time(0)
        self._next_uid = len(self._items)
        self._current = self._items[index] if index is not None else None
        self._time, self._paused = (max(position, 0.0), False) if self._current else (0.0, True)
        self._anchor = time.monotonic()

    def _voteskip_counts(self) -> tuple[int, int, int]:
        total = len(self._room_conns) + sum(1 for u in self._members.values() if u.conn is None)
        afk = sum(1 for u in self._members.values() if u.afk)
        return total, afk, total - afk

    async def _send_voteskip(self) -> None:
        _, _, eligible = self._voteskip_counts()
        data = {"count": len(self._votes), "need": math.ceil(eligible * 0.5)} \
            if self._votes else {"count": 0, "need": 0}
        for conn in list(self._room_conns):
            if self._perm(conn, "viewvoteskip"):
                await self._emit(conn, "voteskip", data)
