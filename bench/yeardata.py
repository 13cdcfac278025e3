"""A year of a busy channel as a Rosey SQLite file: the data-at-scale benchmark's (issue 22,
``bench/scale.py``) and the web issue's test data.

    .venv/bin/python -m bench.yeardata OUT.db --scale 1 [--seed 22]

At scale 1 (:func:`sizes`):

- 2,000,000 chat lines (``recent_chat``), one every 16 s on average over 365 days, from
- 50,000 users (``user_stats``), spread like real chat (Zipf, exponent 1.15): the busiest user
  says about a sixth of all lines, thousands say one, some join and never chat; a few dozen
  are online at the end (an open session);
- 100,000 moderation actions (``moderation_actions``) with the punishments, strikes and notes
  the store derives from them, by its own rules (:func:`rosey.store.moderation.apply_moderation`;
  ``tests/test_yeardata.py`` replays them through it): automod flags, removals, warnings,
  kicks, mutes, bans, notes; timed punishments are lifted by the bot when they run out (origin
  ``expiry``), so the ones still active are the recent and the permanent ones;
- 105,120 user-count rows (one every 5 minutes), the channel's high-water marks from them;
- 5,000 outbound messages (all sent but the last 3), the bot's status row (playing the year's
  last play), raid mode off;
- 50,000 media plays (``media_plays``, one every 10.5 minutes) of 6,000 media, popular ones
  played far more often (Zipf, exponent 1.0), mostly YouTube, queued by the chatty users;
- ``chat_hours`` and ``user_count_hours`` counted from ``recent_chat`` and
  ``user_count_history`` with the set-based statements schema version 6's migration fills them
  with, so they agree row for row.

Scale N multiplies the chat lines only (10: 20 million, the rest as at 1). Below 1 every count
shrinks with it (the tests' tiny files).

The tables, indexes and schema version are the real ones: :func:`rosey.store.schema.migrate`
creates them. Rows go in with ``executemany``, in transactions of up to 500,000 rows, into
``OUT.db.partial`` (no rollback journal while writing), which becomes ``OUT.db`` once complete,
in WAL mode as the DatabaseService runs it. ``ingest_state``'s ``applied_floor`` is the number of
events the year took (the stream sequence of its last event) and ``applied_events`` is empty,
as in a file whose every event was acknowledged: start a DatabaseService on it against a stream
whose last sequence is at least that (``bench/scale.py`` purges an empty stream up to it), else
it takes the stream for a recreated one and forgets the floor. Deterministic: the same scale and
seed give the same rows.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import json
import math
import os
import random
import sqlite3
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import astuple, dataclass, field
from pathlib import Path
from typing import Any, Final

from rosey import contract
from rosey.store.schema import migrate

__all__ = ["Sizes", "YearData", "BASE", "START", "END", "BOT", "sizes", "generate", "main"]

#: the year: 2025-01-01 00:00 UTC and 365 days on
START: Final = 1_735_689_600
YEAR: Final = 365 * 86_400
END: Final = START + YEAR
#: the bot's own name (the actor of automod actions and of lifts on expiry)
BOT: Final = "rosey"
#: rows per transaction
TRANSACTION_ROWS: Final = 500_000
#: chat lines made per executemany
CHUNK: Final = 100_000
#: users' share of the chat: weight 1 / rank ** ZIPF
ZIPF: Final = 1.15


@dataclass(frozen=True, slots=True)
class Sizes:
    chat_lines: int
    users: int
    actions: int
    user_counts: int
    outbound: int
    plays: int
    media: int


#: scale 1: a year of a busy channel (one user count every 5 minutes)
BASE: Final = Sizes(chat_lines=2_000_000, users=50_000, actions=100_000,
                    user_counts=YEAR // 300, outbound=5_000, plays=50_000, media=6_000)


def sizes(scale: float) -> Sizes:
    """Scale >= 1 multiplies the chat lines only; below 1 every count shrinks (at least 1)."""
    if not scale > 0:
        raise ValueError(f"scale must be > 0, not {scale}")
    if scale >= 1:
        return Sizes(round(BASE.chat_lines * scale), BASE.users, BASE.actions,
                     BASE.user_counts, BASE.outbound, BASE.plays, BASE.media)
    return Sizes(*(max(1, round(v * scale)) for v in astuple(BASE)))


@dataclass(slots=True)
class YearData:
    """What :func:`generate` wrote."""

    path: Path
    scale: float
    seed: int
    sizes: Sizes
    seconds: float = 0.0
    file_bytes: int = 0
    #: rows per table
    rows: dict[str, int] = field(default_factory=dict)
    #: the stream sequence of the year's last event (``ingest_state.applied_floor``)
    applied_floor: int = 0


# --- the cast --------------------------------------------------------------------------------
_SYLLABLES: Final = ("ka", "zu", "mi", "ro", "el", "ne", "ta", "vo", "ri", "xa", "lo", "by",
                     "qu", "an", "de", "sh", "ok", "ji", "pe", "wu", "ty", "fa", "gn", "ha")


def _names(n: int, rng: random.Random) -> list[str]:
    """``n`` CyTube-like names, unique regardless of case."""
    seen: set[str] = {BOT}
    names: list[str] = []
    for i in range(n):
        name = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4)))
        if rng.random() < 0.3:
            name = name.capitalize()
        if rng.random() < 0.35:
            name += str(rng.randrange(100))
        if name.lower() in seen:
            name += f"_{i}"
        seen.add(name.lower())
        names.append(name)
    return names


@dataclass(frozen=True, slots=True)
class _Cast:
    """Users by chat rank (0 says the most), the moderators, the usual moderation targets."""

    names: list[str]
    moderators: list[str]
    mod_weights: list[float]
    #: (name, cumulative weight): the few users most moderation is about
    hot: list[str]
    hot_cum: list[float]


def _cast(users: int, rng: random.Random) -> _Cast:
    names = _names(users, rng)
    # moderators chat a lot; a handful do most of the work
    mods = rng.sample(names[:max(2, min(users, 60))], min(14, max(1, users // 4)))
    # the usual targets: 5 % of the users, some busy chatters among them
    hot = rng.sample(names, max(1, users // 20))
    hot_cum = list(itertools.accumulate(1 / (r + 1) ** 0.6 for r in range(len(hot))))
    return _Cast(names, mods, [1 / (r + 1) for r in range(len(mods))], hot, hot_cum)


# --- chat ------------------------------------------------------------------------------------
_WORDS: Final = (
    "lol", "the", "this", "song", "is", "so", "good", "what", "a", "banger", "skip", "again",
    "who", "added", "that", "gg", "hi", "everyone", "brb", "back", "nice", "one", "video", "i",
    "love", "it", "no", "yes", "why", "mods", "pls", "next", "haha", "same", "true", "wait",
    "for", "drop", "playlist", "queue", "me", "you", "we", "they", "is", "was", "here", "there",
    "omg", ":D", ":)", "xD", "PogChamp", "Kappa", "https://youtu.be/dQw4w9WgXcQ", "ok", "k")


def _message_pool(rng: random.Random, n: int = 8192) -> list[str]:
    """Chat lines to draw from: 1 to 30 words, most of them short."""
    return [" ".join(rng.choices(_WORDS, k=min(30, 1 + int(rng.expovariate(1 / 6)))))
            for _ in range(n)]


@dataclass(slots=True)
class _Chatters:
    lines: list[int]
    first: list[int]
    last: list[int]


def _chat_rows(n: int, cast: _Cast, rng: random.Random,
               chatters: _Chatters) -> Iterator[list[tuple[int, str, str]]]:
    """The chat lines in time order, CHUNK at a time; fills ``chatters`` as it goes."""
    users = len(cast.names)
    cum = list(itertools.accumulate(1 / (r + 1) ** ZIPF for r in range(users)))
    pool = _message_pool(rng)
    step = YEAR / n
    lines, first, last, names = chatters.lines, chatters.first, chatters.last, cast.names
    for offset in range(0, n, CHUNK):
        k = min(CHUNK, n - offset)
        who = rng.choices(range(users), cum_weights=cum, k=k)
        said = rng.choices(pool, k=k)
        rows: list[tuple[int, str, str]] = []
        for j, (u, message) in enumerate(zip(who, said, strict=True)):
            ts = START + int((offset + j) * step)
            if not lines[u]:
                first[u] = ts
            lines[u] += 1
            last[u] = ts
            rows.append((ts, names[u], message))
        yield rows


def _user_rows(cast: _Cast, chatters: _Chatters,
               rng: random.Random) -> list[tuple[str, int, int, int, int, int | None]]:
    users = len(cast.names)
    online = set(rng.sample(range(users), min(users, 40)))
    rows: list[tuple[str, int, int, int, int, int | None]] = []
    for u, name in enumerate(cast.names):
        n = chatters.lines[u]
        if n:
            first, last = chatters.first[u], chatters.last[u]
        else:  # joined, never chatted
            first = START + rng.randrange(YEAR)
            last = first + rng.randrange(min(30 * 86_400, END - first) + 1)
        connected = min(last - first + 3600, n * rng.randint(40, 240) + rng.randrange(3600))
        session = None
        if u in online:
            session = END - rng.randrange(60, 7200)
            last = max(last, session)
        rows.append((name, first, last, n, connected, session))
    return rows


# --- user counts, outbound, status ---------------------------------------------------------
def _count_rows(n: int, rng: random.Random) -> list[tuple[int, int, int]]:
    """One row every YEAR / n seconds; a daily wave peaking in the evening (UTC)."""
    every = YEAR // n
    rows = []
    for k in range(n):
        ts = START + k * every
        hour = (ts % 86_400) / 3600
        chat = max(0, int(45 + 30 * math.sin(2 * math.pi * (hour - 14) / 24) + rng.gauss(0, 6)))
        rows.append((ts, chat, chat + rng.randint(8, 40)))
    return rows


def _outbound_rows(n: int, rng: random.Random) -> list[tuple[int, str, int, int | None, int]]:
    rows: list[tuple[int, str, int, int | None, int]] = []
    for k in range(n):
        ts = START + int(k * YEAR / n) + rng.randrange(60)
        sent = k < n - 3
        rows.append((ts, f"reminder {k}: be nice, no spoilers, have fun", int(sent),
                     ts + 1 if sent else None, 0 if sent else rng.randint(0, 2)))
    return rows


# --- the moderation record -----------------------------------------------------------------
ActionRow = tuple[int, int, str, str, str, str, str, str, int | None, int | None, str | None,
                  str | None, str | None, str | None, int]


class _Record:
    """Moderation actions in time order, and what the store derives from each
    (:func:`rosey.store.moderation.apply_moderation`'s rules): punishments opened, superseded,
    lifted and expired; strikes; notes."""

    def __init__(self) -> None:
        self.actions: list[ActionRow] = []
        #: [id, kind, target, actor, reason, started, expires_at, ended_at, ended_how,
        #:  last_error, action_id]
        self.punishments: list[list[Any]] = []
        self.strikes: list[tuple[str, int, str, str, str | None, int]] = []
        self.notes: list[tuple[str, int, str, str, int]] = []
        #: (target lower-cased, class) -> index of its active punishment
        self._active: dict[tuple[str, str], int] = {}
        #: (expires_at, punishment index) of timed punishments
        self._expiring: list[tuple[int, int]] = []

    def add(self, t: int, action: str, target: str, actor: str, origin: str, *,
            result: str = "success", reason: str = "", duration: int | None = None,
            command: str | None = None, error: str | None = None, ref: str | None = None,
            rule: str | None = None, dry_run: bool = False) -> None:
        expires = None if duration is None else t + duration
        aid = len(self.actions) + 1
        self.actions.append((aid, t, action, target, actor, origin, result, reason, duration,
                             expires, command, error, ref, rule, int(dry_run)))
        if dry_run or action in ("remove", "flag") or result != "success":
            return  # only the row (a failed lift from expiry is never generated)
        kind_class = contract.PUNISHMENT_CLASS.get(action)
        if action in contract.PUNISHMENT_KINDS:
            assert kind_class is not None
            self._end(target, kind_class, t, "superseded")
            index = len(self.punishments)
            self.punishments.append([index + 1, action, target, actor, reason, t, expires,
                                     None, None, None, aid])
            self._active[(target.lower(), kind_class)] = index
            if expires is not None:
                heapq.heappush(self._expiring, (expires, index))
        elif kind_class is not None:  # unmute, unban
            self._end(target, kind_class, t, "expired" if origin == "expiry" else "lifted")
        elif action == "warn":
            self.strikes.append((target, t, actor, reason, ref, aid))
        elif action == "note":
            self.notes.append((target, t, actor, reason, aid))

    def _end(self, target: str, kind_class: str, t: int, how: str) -> None:
        index = self._active.pop((target.lower(), kind_class), None)
        if index is not None:
            self.punishments[index][7:9] = [t, how]

    def active_targets(self, kind_class: str) -> list[str]:
        return [self.punishments[i][2] for (_, c), i in self._active.items() if c == kind_class]

    def lift_due(self, now: int, limit: int) -> None:
        """The bot lifts every timed punishment that ran out by ``now`` (up to ``limit``
        actions in all)."""
        while self._expiring and self._expiring[0][0] <= now and len(self.actions) < limit:
            expires, index = heapq.heappop(self._expiring)
            kind, target = self.punishments[index][1:3]
            kind_class = contract.PUNISHMENT_CLASS[kind]
            if self._active.get((target.lower(), kind_class)) == index:
                lift = "unban" if kind_class == "ban" else "unmute"
                self.add(expires, lift, target, BOT, "expiry", command=f"{lift} {target}",
                         reason="expired")


#: (action, weight) of what moderators, the bot and automod do in a year (lifts on expiry
#: come on top, from the timed punishments)
_KINDS: Final = (("warn", 24), ("flag", 15), ("remove", 5), ("kick", 14), ("mute", 12),
                 ("smute", 3), ("ban", 4), ("unmute", 2), ("unban", 1), ("note", 9))
#: (origin, weight) for each action
_ORIGINS: Final[dict[str, tuple[tuple[str, int], ...]]] = {
    "warn": (("command", 65), ("automod", 35)), "flag": (("automod", 1),),
    "remove": (("automod", 1),), "kick": (("command", 40), ("native", 40), ("automod", 20)),
    "mute": (("command", 50), ("native", 20), ("automod", 20), ("escalation", 10)),
    "smute": (("command", 70), ("escalation", 30)),
    "ban": (("command", 50), ("native", 40), ("escalation", 10)),
    "unmute": (("command", 60), ("native", 40)), "unban": (("command", 60), ("native", 40)),
    "note": (("command", 1),)}
_DURATIONS: Final[dict[str, tuple[tuple[int | None, int], ...]]] = {
    "mute": ((300, 30), (600, 25), (1800, 15), (3600, 10), (86_400, 5), (None, 15)),
    "smute": ((600, 30), (3600, 30), (86_400, 20), (None, 20)),
    "ban": ((3600, 20), (86_400, 30), (7 * 86_400, 20), (30 * 86_400, 15), (None, 15))}
_REASONS: Final = ("spam", "flooding", "caps", "slurs", "advertising", "being rude",
                   "spoilers", "bot-like behaviour", "ban evasion", "")
_RULES: Final = ("caps", "flood", "links", "blocked words", "repeats", "new account links")


def _pick(rng: random.Random, weighted: Sequence[tuple[Any, int]]) -> Any:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


def _target(action: str, rec: _Record, cast: _Cast, rng: random.Random) -> str:
    kind_class = contract.PUNISHMENT_CLASS.get(action)
    if action in ("unmute", "unban") and kind_class and rng.random() < 0.85:
        active = rec.active_targets(kind_class)
        if active:
            return rng.choice(active)
    if rng.random() < 0.7:
        return rng.choices(cast.hot, cum_weights=cast.hot_cum)[0]
    return rng.choice(cast.names)


def _one_action(rec: _Record, t: int, cast: _Cast, rng: random.Random) -> None:
    action = _pick(rng, _KINDS)
    origin = _pick(rng, _ORIGINS[action])
    target = _target(action, rec, cast, rng)
    actor = (BOT if origin in ("automod", "escalation")
             else "(unknown)" if origin == "native" and rng.random() < 0.05
             else rng.choices(cast.moderators, cast.mod_weights)[0])
    duration = _pick(rng, _DURATIONS[action]) if action in _DURATIONS else None
    reason = rng.choice(_REASONS)
    rule = rng.choice(_RULES) if origin == "automod" else None
    command = {"command": f"{action} {target} {reason}".strip(), "automod": f"rule {rule}",
               "escalation": "escalation: 3 strikes in 1d"}.get(
        origin, f"[server] {actor} {action} {target}")
    failed = origin in ("command", "native") and rng.random() < 0.02
    rec.add(t, action, target, actor, origin, result="error" if failed else "success",
            reason=reason, duration=duration, command=command,
            error="user not found" if failed else None,
            ref=f"{rng.getrandbits(64):016x}" if action == "warn" else None, rule=rule,
            dry_run=origin == "automod" and rng.random() < 0.1)


def _moderation(n: int, cast: _Cast, rng: random.Random) -> _Record:
    """``n`` actions spread over the year (time moves with each one, lifts included)."""
    rec = _Record()
    while len(rec.actions) < n:
        t = START + int(YEAR * len(rec.actions) / n)
        rec.lift_due(t, n)
        if len(rec.actions) < n:
            _one_action(rec, t, cast, rng)
    return rec


# --- media plays ---------------------------------------------------------------------------
PlayRow = tuple[int, str, str, str, int, str | None]

#: (media type, weight): what a busy channel plays
_MEDIA_TYPES: Final = (("yt", 85), ("vi", 5), ("sc", 5), ("fi", 3), ("dm", 2))
_ID_CHARS: Final = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"


def _media_id(kind: str, rng: random.Random) -> str:
    if kind == "yt":
        return "".join(rng.choices(_ID_CHARS, k=11))
    if kind == "vi":
        return str(rng.randrange(10**8, 10**9))
    if kind == "dm":
        return "x" + "".join(rng.choices(_ID_CHARS[:36], k=6))
    if kind == "sc":
        return f"https://soundcloud.com/{rng.choice(_SYLLABLES)}/{rng.getrandbits(32):08x}"
    return f"https://media.example.org/{rng.getrandbits(48):012x}.mp4"


def _play_rows(size: Sizes, cast: _Cast, rng: random.Random) -> list[PlayRow]:
    """``size.plays`` plays, one every YEAR / plays seconds, of ``size.media`` media (Zipf):
    (timestamp, type, id, title, duration, queued_by)."""
    catalogue = []
    for k in range(size.media):
        kind = _pick(rng, _MEDIA_TYPES)
        title = " ".join(rng.choices(_WORDS, k=rng.randint(2, 8))).title()[:100]
        catalogue.append((kind, _media_id(kind, rng), f"{title} #{k}",
                          max(30, int(rng.lognormvariate(5.4, 0.5)))))
    cum = list(itertools.accumulate(1 / (r + 1) for r in range(size.media)))
    queuers = cast.names[:max(1, len(cast.names) // 10)]  # the chatty tenth queues
    picks = rng.choices(catalogue, cum_weights=cum, k=size.plays)
    return [(START + int(k * YEAR / size.plays), kind, ident, title, seconds,
             None if rng.random() < 0.05 else rng.choice(queuers))
            for k, (kind, ident, title, seconds) in enumerate(picks)]


# --- writing ---------------------------------------------------------------------------------
def _insert(conn: sqlite3.Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    for offset in range(0, len(rows), TRANSACTION_ROWS):
        conn.execute("BEGIN")
        conn.executemany(sql, rows[offset:offset + TRANSACTION_ROWS])
        conn.execute("COMMIT")


def _write_chat(conn: sqlite3.Connection, n: int, cast: _Cast,
                rng: random.Random) -> _Chatters:
    users = len(cast.names)
    chatters = _Chatters([0] * users, [0] * users, [0] * users)
    written = 0
    conn.execute("BEGIN")
    for rows in _chat_rows(n, cast, rng, chatters):
        conn.executemany("INSERT INTO recent_chat (timestamp, username, message)"
                         " VALUES (?, ?, ?)", rows)
        written += len(rows)
        if written % TRANSACTION_ROWS == 0:
            conn.execute("COMMIT")
            conn.execute("BEGIN")
    conn.execute("COMMIT")
    return chatters


def _write_moderation(conn: sqlite3.Connection, rec: _Record) -> None:
    _insert(conn, "INSERT INTO moderation_actions (id, timestamp, action, target, actor, origin,"
                  " result, reason, duration, expires_at, command, error, ref, rule, dry_run)"
                  " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rec.actions)
    _insert(conn, "INSERT INTO punishments (id, kind, target, actor, reason, started,"
                  " expires_at, ended_at, ended_how, last_error, action_id)"
                  " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rec.punishments)
    _insert(conn, "INSERT INTO strikes (target, timestamp, actor, reason, ref, action_id)"
                  " VALUES (?, ?, ?, ?, ?, ?)", rec.strikes)
    _insert(conn, "INSERT INTO notes (target, timestamp, actor, text, action_id)"
                  " VALUES (?, ?, ?, ?, ?)", rec.notes)


def _write_channel(conn: sqlite3.Connection, size: Sizes, rng: random.Random,
                   playing: PlayRow) -> int:
    """User counts, high-water marks, outbound messages, status (``playing`` now), raid mode;
    returns the number of events they took."""
    counts = _count_rows(size.user_counts, rng)
    _insert(conn, "INSERT INTO user_count_history (timestamp, chat_users, connected_users)"
                  " VALUES (?, ?, ?)", counts)
    users_at = max(counts, key=lambda r: (r[1], -r[0]))
    connected_at = max(counts, key=lambda r: (r[2], -r[0]))
    outbound = _outbound_rows(size.outbound, rng)
    _insert(conn, "INSERT INTO outbound_messages (timestamp, message, sent, sent_timestamp,"
                  " retry_count) VALUES (?, ?, ?, ?, ?)", outbound)
    media = {"id": playing[2], "type": playing[1], "title": playing[3],
             "duration": f"{playing[4] // 60:02d}:{playing[4] % 60:02d}"}
    status = {"bot_name": BOT, "bot_rank": 3, "channel": "bigchannel", "chat_count": counts[-1][1],
              "connected_count": counts[-1][2], "playlist_size": 250, "connected": True,
              "start_time": END - 86_400, "current_media": media,
              "current_media_duration": playing[4], "timestamp": END}
    conn.execute("BEGIN")
    conn.execute("UPDATE channel_stats SET max_users = ?, max_users_timestamp = ?,"
                 " max_connected = ?, max_connected_timestamp = ?, last_updated = ? WHERE id = 1",
                 (users_at[1], users_at[0], connected_at[2], connected_at[0], connected_at[0]))
    conn.execute("INSERT INTO current_status (id, bot_name, bot_rank, channel, current_chatters,"
                 " current_connected, playlist_items, current_media_title,"
                 " current_media_duration, bot_connected, bot_start_time, status_json,"
                 " last_updated) VALUES (1, ?, 3, 'bigchannel', ?, ?, 250, ?, ?, 1, ?,"
                 " ?, ?)", (BOT, counts[-1][1], counts[-1][2], playing[3], playing[4],
                            END - 86_400, json.dumps(status), END))
    conn.execute("INSERT INTO raid_state (id, active, saved_options, reason, started_at,"
                 " updated_at) VALUES (1, 0, NULL, '', NULL, ?)", (END - 30 * 86_400,))
    conn.execute("COMMIT")
    # each count row, about one high-water event a day, each message enqueued and marked sent
    return len(counts) + 365 + 2 * len(outbound) + 4


def _write_hours(conn: sqlite3.Connection) -> None:
    """Chat lines and user-count maxima per hour, as schema version 6 fills them."""
    conn.execute("BEGIN")
    conn.execute("DELETE FROM chat_hours")
    conn.execute("INSERT INTO chat_hours (hour_start, lines)"
                 " SELECT timestamp - timestamp % 3600, count(*) FROM recent_chat GROUP BY 1")
    conn.execute("DELETE FROM user_count_hours")
    conn.execute("INSERT INTO user_count_hours (hour_start, chat_users, connected_users,"
                 " samples) SELECT timestamp - timestamp % 3600, max(chat_users),"
                 " max(connected_users), count(*) FROM user_count_history GROUP BY 1")
    conn.execute("COMMIT")


def _fill(conn: sqlite3.Connection, data: YearData, rng: random.Random) -> None:
    size = data.sizes
    cast = _cast(size.users, rng)
    chatters = _write_chat(conn, size.chat_lines, cast, rng)
    _insert(conn, "INSERT INTO user_stats (username, first_seen, last_seen, total_chat_lines,"
                  " total_time_connected, current_session_start) VALUES (?, ?, ?, ?, ?, ?)",
            _user_rows(cast, chatters, rng))
    rec = _moderation(size.actions, cast, rng)
    _write_moderation(conn, rec)
    plays = _play_rows(size, cast, rng)
    _insert(conn, "INSERT INTO media_plays (timestamp, media_type, media_id, title, duration,"
                  " queued_by) VALUES (?, ?, ?, ?, ?, ?)", plays)
    events = _write_channel(conn, size, rng, plays[-1])
    _write_hours(conn)
    # joins and leaves: a session per 40 lines said, at least one per user
    sessions = sum(1 + n // 40 for n in chatters.lines)
    data.applied_floor = (size.chat_lines + len(rec.actions) + 2 * sessions + events
                          + len(plays))
    conn.execute("BEGIN")
    conn.execute("UPDATE ingest_state SET value = ? WHERE key = 'applied_floor'",
                 (data.applied_floor,))
    conn.execute("COMMIT")


def generate(path: Path | str, scale: float = 1.0, seed: int = 22) -> YearData:
    """Write a year of a busy channel at ``scale`` to ``path`` (replaced if it exists)."""
    path = Path(path)
    data = YearData(path=path, scale=scale, seed=seed, sizes=sizes(scale))
    started = time.monotonic()
    partial = path.with_name(path.name + ".partial")
    for stale in (partial, *(path.with_name(path.name + s) for s in ("-wal", "-shm"))):
        stale.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(partial, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = OFF")  # a failed run leaves only the .partial
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -262144")  # 256 MiB
        migrate(conn)
        _fill(conn, data, random.Random(seed))
        data.rows = {t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0])
                     for t in _TABLES}
        conn.execute("PRAGMA journal_mode = WAL")
    finally:
        conn.close()
    os.replace(partial, path)
    data.seconds = time.monotonic() - started
    data.file_bytes = path.stat().st_size
    return data


_TABLES: Final = ("recent_chat", "user_stats", "moderation_actions", "punishments", "strikes",
                  "notes", "user_count_history", "outbound_messages", "media_plays",
                  "chat_hours", "user_count_hours")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.yeardata",
                                description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("out", type=Path, help="the SQLite file to write (replaced if it exists)")
    p.add_argument("--scale", type=float, default=1.0,
                   help="1: 2,000,000 chat lines; 10: 20,000,000 (the rest stays); <1 shrinks all")
    p.add_argument("--seed", type=int, default=22)
    args = p.parse_args(argv)
    from rosey.log import configure_logging

    configure_logging("yeardata", level="warning", json=False)
    data = generate(args.out, args.scale, args.seed)
    for table, n in data.rows.items():
        print(f"{table:20} {n:>12,}")
    active = _active_punishments(data.path)
    print(f"active punishments   {active:>12,}\napplied floor        {data.applied_floor:>12,}")
    print(f"{data.path}: {data.file_bytes / 2**20:,.1f} MiB, generated in {data.seconds:.1f} s"
          f" (scale {data.scale:g}, seed {data.seed})")
    return 0


def _active_punishments(path: Path) -> int:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT count(*) FROM punishments WHERE ended_at IS NULL"
                                ).fetchone()[0])


if __name__ == "__main__":
    sys.exit(main())
