"""Voteskip and the leader: who controls playback, and the leader's ``mediaUpdate``."""

from __future__ import annotations

import math
import time
from typing import Any

from tests.support.cytube.core import guarded
from tests.support.cytube.model import Conn
from tests.support.cytube.playlist import Playlist
from tests.support.cytube.wire import LIVE_TYPES, SERVER_WHISPER, js_num

__all__ = ["Leader"]


class Leader(Playlist):
    """``voteskip``, ``assignLeader`` and ``mediaUpdate``."""

    @guarded()
    async def _on_voteskip(self, conn: Conn, data: Any) -> None:
        """voteskip.js handleVoteskip: one vote per IP (a repeat counts nothing but still
        sends the counts again), then update: pass, or send ``voteskip {count, need}``."""
        if not self._perm(conn, "voteskip"):
            return
        self._votes.add(conn.ip)
        if conn.user is not None:
            await self._set_afk(conn.user, False)
        if not self._items:
            return
        total, afk, eligible = self._voteskip_counts()
        need = max(1, math.ceil(eligible * 0.5))
        if len(self._votes) >= need:
            info = (f"{len(self._votes)}/{eligible} skipped; eligible voters: {eligible} = "
                    f"total ({total}) - AFK ({afk}) - no permission (0); ratio = 0.5")
            await self._send_chat("[voteskip]", f"Voteskip passed: {info}",
                                  dict(SERVER_WHISPER), keep=False)
            self._votes.clear()
            await self._play_next()  # the media change sends {count: 0, need: 0} first
        await self._send_voteskip()

    @guarded()
    async def _on_assign_leader(self, conn: Conn, data: Any) -> None:
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            await self._emit(conn, "errorMsg", {
                "msg": "Unexpected error for message assignLeader: name must be a string"})
            return
        if not self._perm(conn, "leaderctl"):
            await self._kick_conn(conn, "Attempted assignLeader without sufficient "
                                        "permission")
            return
        name = data["name"]
        old = self._leader
        if old is not None:
            self._leader = None
            if self._end_lead(old):
                await self._emit_user(old, "rank", old.rank)
            await self._broadcast("setUserRank", {"name": old.name, "rank": old.rank})
        if not name:
            await self._resume_autolead()
            return
        target = next((u for u in self._members.values() if u.name == name), None)
        if target is None:
            await self._emit(conn, "errorMsg",
                             {"msg": f"Unable to assign leader: could not find user {name}"})
            return
        self._leader = target
        self._time = self._time_update()["currentTime"] if self._current else 0.0
        if self._lead_in_task is not None:
            self._lead_in_task.cancel()
            self._lead_in_task = None
        if target.rank < 1.5:
            target.rank_before_lead, target.rank = target.rank, 1.5
            await self._emit_user(target, "rank", 1.5)
        await self._broadcast("setLeader", name)
        if target.rank == 1.5:
            await self._broadcast("setUserRank", {"name": name, "rank": 1.5})

    async def _resume_autolead(self) -> None:
        await self._broadcast("setLeader", "")
        if self._current is not None:
            self._paused, self._anchor = False, time.monotonic()
            self._time = max(self._time, 0.0)
            await self._broadcast("mediaUpdate", self._time_update())

    @guarded(in_channel=False)
    async def _on_media_update(self, conn: Conn, data: Any) -> None:
        if conn.user is None or conn.user is not self._leader or self._current is None:
            return
        if not isinstance(data, dict) or self._current.media["type"] in LIVE_TYPES:
            return
        current_time = data.get("currentTime")
        if data.get("id") != self._current.media["id"] or isinstance(current_time, bool) \
                or not isinstance(current_time, (int, float)) or math.isnan(current_time):
            return
        self._time, self._paused = float(current_time), bool(data.get("paused"))
        current_time = js_num(current_time)
        self._anchor = time.monotonic()
        await self._broadcast("mediaUpdate", {"currentTime": current_time,
                                              "paused": self._paused})
