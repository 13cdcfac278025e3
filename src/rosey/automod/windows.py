"""The chat matchers that remember: flood and repeats, each over a sliding time window.

Time is the chat line's own (``Message.time``), never the clock, so tests and replays slide the
windows by passing later times. What one user did lately is kept once for every flood and
repeats rule (:class:`Memory`, one lookup per line); the lines several users shared are kept
per repeats rule. Memory is bounded: at most :data:`MAX_TRACKED` users (and as many shared
lines), the least recently seen dropped first; per user the times of their last lines (as many
as the largest flood counts) and of their last :data:`MAX_KEYS` different lines (as many times
each as the largest repeat count); per shared line at most :data:`MAX_GROUP` users.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from typing import Final, Generic, TypeVar

from rosey.automod.message import View
from rosey.automod.model import Flood, Hit, Repeats, Rule

__all__ = ["MAX_TRACKED", "MAX_GROUP", "MAX_KEYS", "Lru", "Memory", "FloodMatcher",
           "RepeatsMatcher", "span"]

MAX_TRACKED: Final = 10_000
#: users remembered for one line in a cross-user repeat (past that the oldest are forgotten:
#: a raid larger than this still hits every user)
MAX_GROUP: Final = 1_000
#: different lines remembered per user for one-user repeats (the least recent go first)
MAX_KEYS: Final = 8

K = TypeVar("K")
V = TypeVar("V")


class Lru(Generic[K, V]):
    """A mapping of at most ``cap`` entries; the least recently used goes first."""

    def __init__(self, cap: int, make: Callable[[], V]) -> None:
        self.cap = cap
        self._make = make
        self._items: OrderedDict[K, V] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: K) -> V:
        """The entry for ``key``, made if new; it becomes the most recent."""
        items = self._items
        value = items.get(key)
        if value is None:
            value = items[key] = self._make()
            if len(items) > self.cap:
                items.popitem(last=False)
        else:
            items.move_to_end(key)
        return value


def span(seconds: float) -> str:
    """A window's length as a hit's detail says it: ``"10 s"``, ``"under 1 s"``."""
    return "under 1 s" if seconds < 1 else f"{seconds:.0f} s"


class _Recent:
    """One user lately: the times of their last lines, and per line key the times they sent
    it (the most recently sent key last)."""

    __slots__ = ("times", "sent")

    def __init__(self, keep: int) -> None:
        self.times: deque[float] = deque(maxlen=keep)
        self.sent: dict[str, list[float]] = {}


class Memory:
    """What every flood and repeats rule needs of each user, recorded once per line:
    :meth:`record` it, then the matchers read :attr:`current`."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        floods = [r.params.lines for r in rules if isinstance(r.params, Flood)]
        repeats = [r.params for r in rules if isinstance(r.params, Repeats) and r.params.times]
        self.keep_lines = max(floods, default=0)
        self.keep_sent = max((p.times or 0 for p in repeats), default=0)
        self.min_key = min((p.min_length for p in repeats), default=0)
        self.users: Lru[str, _Recent] = Lru(MAX_TRACKED, lambda: _Recent(self.keep_lines))
        self.current = _Recent(0)

    @property
    def needed(self) -> bool:
        return bool(self.keep_lines or self.keep_sent)

    def record(self, view: View) -> None:
        items, user = self.users._items, view.user  # Lru.get, inline: once per line
        recent = items.get(user)
        if recent is None:
            recent = items[user] = _Recent(self.keep_lines)
            if len(items) > self.users.cap:
                items.popitem(last=False)
        else:
            items.move_to_end(user)
        self.current = recent
        now = view.msg.time
        if self.keep_lines:
            recent.times.append(now)
        if self.keep_sent:
            key = view.repeat_key
            if len(key) < self.min_key:
                return
            sent = recent.sent.pop(key, None)
            if sent is None:
                sent = []
                if len(recent.sent) >= MAX_KEYS:
                    del recent.sent[next(iter(recent.sent))]
            recent.sent[key] = sent
            sent.append(now)
            if len(sent) > self.keep_sent:
                del sent[0]


class FloodMatcher:
    """``lines`` lines from one user within ``within`` seconds."""

    def __init__(self, rule: Rule, params: Flood, memory: Memory) -> None:
        self.rule, self.lines, self.within, self.memory = rule, params.lines, params.within, memory

    def check(self, view: View) -> Sequence[Hit]:
        times, lines = self.memory.current.times, self.lines
        if len(times) < lines:
            return ()
        took = view.msg.time - times[-lines]
        if took > self.within:
            return ()
        return (Hit(self.rule, view.msg.user, f"{lines} lines in {span(took)}"),)


class _Sent:
    """One user's sending of a group's line: their name as sent, when, and whether a hit
    named them already. No ``__init__``: made once per line, its attributes set by the
    caller (a Python ``__init__`` would cost a call)."""

    __slots__ = ("name", "time", "reported")
    name: str
    time: float
    reported: bool


class _Group:
    """The users who sent one line lately, by lower-case name, oldest first (each user is
    moved to the end when they send it again, so the order is by time). ``users`` is set by
    :meth:`RepeatsMatcher._shared`, which prunes and adds inline (once per line)."""

    __slots__ = ("users",)
    users: dict[str, _Sent]


def _new_group() -> _Group:
    group = _Group()
    group.users = {}
    return group


class RepeatsMatcher:
    """The same line (by :func:`~rosey.automod.normalise.repeat_key`) ``times`` times from one
    user, or from ``users`` different users, within ``within`` seconds. A cross-user hit names
    every user of the group not reported yet: the ones before the one who completed it too."""

    def __init__(self, rule: Rule, params: Repeats, memory: Memory) -> None:
        self.rule, self.p, self.memory = rule, params, memory
        self.groups: Lru[str, _Group] = Lru(MAX_TRACKED, _new_group)

    def check(self, view: View) -> Sequence[Hit]:
        key = view.repeat_key
        p = self.p
        if len(key) < p.min_length:
            return ()
        hits: list[Hit] = []
        if p.times is not None:
            hits += self._own(view, key, p.times)
        if p.users is not None:
            hits += self._shared(view.msg.user, view.msg.time, key, p.users)
        return hits

    def _own(self, view: View, key: str, times: int) -> list[Hit]:
        sent = self.memory.current.sent.get(key)
        if sent is None or len(sent) < times:
            return []
        took = view.msg.time - sent[-times]
        if took > self.p.within:
            return []
        return [Hit(self.rule, view.msg.user, f"same line {times} times in {span(took)}")]

    def _shared(self, user: str, now: float, key: str, needed: int) -> list[Hit]:
        """Counts the line in its group (made if new: the groups are an :class:`Lru`, kept
        inline here as the rest, since this runs on every line), then hits every user of
        the group not reported yet when it has ``needed`` users."""
        groups = self.groups._items
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group()  # _new_group, inline
            group.users = users = {}
            if len(groups) > self.groups.cap:
                groups.popitem(last=False)
        else:
            groups.move_to_end(key)
            users = group.users
            oldest = now - self.p.within  # forget who sent it before the window
            while users:
                first = next(iter(users))
                if users[first].time >= oldest:
                    break
                del users[first]
        name = user.lower()  # the user sent it now (a full group forgets its oldest)
        before = users.pop(name, None)
        if len(users) >= MAX_GROUP:
            del users[next(iter(users))]
        sent = users[name] = _Sent()
        sent.name, sent.time, sent.reported = user, now, before is not None and before.reported
        if len(users) < needed:
            return []
        detail = f"same line from {len(group.users)} users within {span(self.p.within)}"
        hits = []
        for sent in group.users.values():
            if not sent.reported:
                sent.reported = True
                hits.append(Hit(self.rule, sent.name, detail))
        return hits
