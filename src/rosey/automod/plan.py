"""Judging one chat line against every chat rule at once: :class:`Plan`.

Asking each rule's matcher in turn costs a Python call per rule per line, and most of those
calls only find out that the line is nowhere near a hit. The plan groups the matchers by kind
and puts one cheap test in front of each group, a test every rule of the group would have
to pass before it could hit: a line with fewer capitals than the least any caps rule needs,
without a link, with none of the listed words and nothing the words rules' one shared ``re2``
search (:class:`~rosey.automod.matchers.RegexGate`) finds, naming fewer present users than
any mentions rule asks for, shorter than every wall... never reaches those matchers. When a
group's test passes, its matchers judge the line exactly as they would alone, so what hits,
for whom and with what detail stays theirs; the plan only decides when asking is pointless.
Each test is implied by the first step of every matcher it stands for (see each group), so
no hit is lost: ``tests/automod/test_plan.py`` compares the plan with every matcher in turn
(:meth:`~rosey.automod.chat.ChatJudge.judge_each`) on many generated lines.

Matchers that remember (repeats across users) are asked on every line, since the line must be
counted whether or not it hits; flood and one-user repeats only read what the judge's
:class:`~rosey.automod.windows.Memory` recorded, and are tested inline. Hits come out in rule
(file) order, as each matcher in turn would give them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any, Final

from rosey.automod.matchers import (
    CapsMatcher,
    LinksMatcher,
    MentionsMatcher,
    RegexGate,
    WallsMatcher,
    WordsMatcher,
    ZalgoMatcher,
)
from rosey.automod.message import Message, View
from rosey.automod.model import Hit
from rosey.automod.normalise import (
    ASCII_NAMES_ONLY,
    ASCII_NOT_LETTER,
    ASCII_NOT_UPPER,
    ASCII_WORDS_ONLY,
    may_run,
    repeat_key,
    squeeze,
)
from rosey.automod.windows import FloodMatcher, Memory, RepeatsMatcher

__all__ = ["Plan"]

Check = Callable[[View], Sequence[Hit]]
_FIRST: Final = itemgetter(0)
#: a length no text reaches: "no max_length" as a number
_NEVER: Final = sys.maxsize


class _Groups:
    """The matchers sorted into the plan's groups, with each group's cheap test's bound."""

    def __init__(self) -> None:
        self.floods: list[tuple[int, float, int, Check]] = []
        self.own: list[tuple[int, int, float, int, Check]] = []
        self.shared: list[tuple[int, Check]] = []
        self.shared_only: list[tuple[int, int, int,
                                     Callable[[str, float, str, int], list[Hit]]]] = []
        self.caps: list[tuple[int, Check]] = []
        self.links: list[tuple[int, Check]] = []
        self.words: list[tuple[int, Check]] = []
        self.mentions: list[tuple[int, Check]] = []
        self.walls: list[tuple[int, Check]] = []
        self.zalgo: list[tuple[int, Check]] = []
        self.other: list[tuple[int, Check]] = []
        self.caps_least, self.mentions_least = float("inf"), _NEVER
        self.wall_length, self.wall_lines, self.wall_run = _NEVER, _NEVER, _NEVER
        self.word_union: set[str] = set()
        self.word_regex = False

    def add(self, i: int, m: Any) -> None:
        if isinstance(m, FloodMatcher):
            # FloodMatcher.check: no hit unless >= lines times, the lines-th last within
            self.floods.append((m.lines, m.within, i, m.check))
        elif isinstance(m, RepeatsMatcher):
            if m.p.users is not None and m.p.times is None:
                # it counts the line: always asked, its _shared straight away (what
                # RepeatsMatcher.check does after the key's min_length)
                self.shared_only.append((m.p.min_length, m.p.users, i, m._shared))
            elif m.p.users is not None:  # both: always asked
                self.shared.append((i, m.check))
            elif m.p.times is not None:
                # RepeatsMatcher.check: a key of min_length; _own: times sent, in time
                self.own.append((m.p.min_length, m.p.times, m.p.within, i, m.check))
        elif isinstance(m, CapsMatcher):
            # CapsMatcher.check: no hit below ratio * min_length capitals
            self.caps.append((i, m.check))
            self.caps_least = min(self.caps_least, m.ratio * m.min_length)
        elif isinstance(m, LinksMatcher):  # no host, no hit
            self.links.append((i, m.check))
        elif isinstance(m, WordsMatcher):
            # a word of its set among the line's words, or its phrase or pattern
            # expression matching (each one of the gate's alternatives)
            self.words.append((i, m.check))
            self.word_union |= m.p.word_set
            self.word_regex = self.word_regex or m.phrase is not None or m.pattern is not None
        elif isinstance(m, MentionsMatcher):  # at least names present, and named
            self.mentions.append((i, m.check))
            self.mentions_least = min(self.mentions_least, m.names)
        elif isinstance(m, WallsMatcher):
            # longer than max_length, at least max_lines newlines, or may_run(max_run)
            # (which holds for every shorter run when it holds for a longer one)
            self.walls.append((i, m.check))
            if m.p.max_length is not None:
                self.wall_length = min(self.wall_length, m.p.max_length)
            if m.p.max_lines is not None:
                self.wall_lines = min(self.wall_lines, m.p.max_lines)
            if m.runs is not None:
                self.wall_run = min(self.wall_run, m.max_run)
        elif isinstance(m, ZalgoMatcher):  # ASCII text has no marks
            self.zalgo.append((i, m.check))
        else:
            self.other.append((i, m.check))


class Plan:
    """The matchers of one judge (in rule order, as built by ``ChatJudge``), grouped by kind.
    ``memory``: the judge's, recorded before :meth:`run`; ``gate``: its words rules' shared
    search (None: none)."""

    def __init__(self, matchers: Sequence[Any], memory: Memory,
                 gate: RegexGate | None) -> None:
        self.memory, self.gate = memory, gate
        g = _Groups()
        for i, m in enumerate(matchers):
            g.add(i, m)
        self.floods = tuple(g.floods)
        self.flood_least = min((f[0] for f in g.floods), default=0)
        self.own, self.shared, self.shared_only = tuple(g.own), tuple(g.shared), \
            tuple(g.shared_only)
        self.caps, self.caps_least = tuple(g.caps), g.caps_least
        self.links = tuple(g.links)
        self.words, self.word_union, self.word_regex = tuple(g.words), \
            frozenset(g.word_union), g.word_regex
        self.mentions, self.mentions_least = tuple(g.mentions), g.mentions_least
        self.walls = tuple(g.walls)
        self.wall_length, self.wall_lines, self.wall_run = g.wall_length, g.wall_lines, \
            g.wall_run
        self.zalgo, self.other = tuple(g.zalgo), tuple(g.other)
        #: an ASCII line's run of wall_run equal characters: wall_run - 1 zero bytes in its mask
        self.run_needle = b"\0" * (g.wall_run - 1) if g.wall_run != _NEVER else b""
        #: the forms of an ASCII line some rule will ask for
        self.remember = memory.needed
        self.want_key = bool(g.own or g.shared or g.shared_only or memory.keep_sent)
        self.want_words = bool(g.word_union)
        self.want_names = self.want_words or bool(g.mentions)
        self.want_lower = self.want_key or self.want_names

    def judge(self, msg: Message) -> list[Hit]:
        """Every hit ``msg`` makes, in rule order: the line prepared (:meth:`_view`), recorded
        in the judge's memory, then judged group by group."""
        view = self._view(msg)
        if self.remember:
            self.memory.record(view)
        found: list[tuple[int, Sequence[Hit]]] = []  # (rule position, its hits), when any
        self._remembered(view, msg, found)
        self._content(view, found)
        self._shape(view, msg, found)
        if not found:
            return []
        if len(found) > 1:
            found.sort(key=_FIRST)
        return [hit for _, hits in found for hit in hits]

    def _view(self, msg: Message) -> View:
        """The line's :class:`View`; an ASCII line's forms made here at once, as the view
        would make them one by one."""
        view = View(msg)
        if view.plain:
            text = view.text
            data = view.data = text.encode()  # View.data, View.folded being text
            if self.want_lower:
                lower = data.lower()  # ASCII: text.lower() and text.casefold(), encoded
                if self.want_names:  # normalise.name_tokens, ASCII branch
                    names = view.names = lower.translate(ASCII_NAMES_ONLY).decode().split()
                    if self.want_words:  # View.words
                        view.words = names if "-" not in text \
                            else lower.translate(ASCII_WORDS_ONLY).decode().split()
                if self.want_key:  # normalise.repeat_key, ASCII branch (no letters: itself)
                    letters = lower.translate(None, ASCII_NOT_LETTER)
                    view.repeat_key = squeeze(letters) if letters else repeat_key(text)
        return view

    def _remembered(self, view: View, msg: Message,
                    found: list[tuple[int, Sequence[Hit]]]) -> None:
        """Flood and repeats: what the memory holds decides."""
        if self.floods:
            times = self.memory.current.times
            n = len(times)
            if n >= self.flood_least:
                now = msg.time
                for lines, within, i, check in self.floods:
                    if n >= lines and now - times[-lines] <= within and (hits := check(view)):
                        found.append((i, hits))
        if self.own:
            key = view.repeat_key
            sent = self.memory.current.sent.get(key)
            if sent is not None:
                n, size, now = len(sent), len(key), msg.time
                for least, times_, within, i, check in self.own:
                    if n >= times_ and size >= least and now - sent[-times_] <= within \
                            and (hits := check(view)):
                        found.append((i, hits))
        if self.shared_only:
            key = view.repeat_key
            size = len(key)
            for least, users, i, shared in self.shared_only:
                if size >= least and (hits := shared(msg.user, msg.time, key, users)):
                    found.append((i, hits))
        for i, check in self.shared:
            if hits := check(view):
                found.append((i, hits))

    def _content(self, view: View, found: list[tuple[int, Sequence[Hit]]]) -> None:
        """Caps, links and words: what the line says."""
        plain = view.plain
        if self.caps:
            if plain:  # normalise.capitals, ASCII branch
                upper = len(view.data.translate(None, ASCII_NOT_UPPER))
            else:  # no capital when every cased character is lower-case (str.islower)
                upper = 0 if view.text.islower() else view.capitals
            if upper >= self.caps_least:
                for i, check in self.caps:
                    if hits := check(view):
                        found.append((i, hits))
        if self.links and (not plain or "." in view.text or "://" in view.text) \
                and view.hosts:  # links.find_hosts looks for these first
            for i, check in self.links:
                if hits := check(view):
                    found.append((i, hits))
        if self.words:
            maybe = bool(self.word_union) and not self.word_union.isdisjoint(view.words)
            if not maybe and self.word_regex:
                gate = self.gate
                if gate is None:
                    maybe = True
                else:  # RegexGate.open, inline
                    if gate.view is not view:
                        gate.view, gate.result = view, gate.test(view.data)
                    maybe = gate.result
            if maybe:
                for i, check in self.words:
                    if hits := check(view):
                        found.append((i, hits))

    def _shape(self, view: View, msg: Message, found: list[tuple[int, Sequence[Hit]]]) -> None:
        """Mentions, walls, zalgo and anything else: who is named and how the line looks."""
        plain = view.plain
        if self.mentions:
            present = msg.present
            least = self.mentions_least
            if len(present) >= least:
                named = {name for name in view.names if name in present}
                if len(named) - (view.user in named) >= least:
                    for i, check in self.mentions:
                        if hits := check(view):
                            found.append((i, hits))
        if self.walls and self._may_be_a_wall(view, msg.text):
            for i, check in self.walls:
                if hits := check(view):
                    found.append((i, hits))
        if self.zalgo and not plain and not view.text.isascii():
            for i, check in self.zalgo:
                if hits := check(view):
                    found.append((i, hits))
        for i, check in self.other:
            if hits := check(view):
                found.append((i, hits))

    def _may_be_a_wall(self, view: View, text: str) -> bool:
        if len(text) > self.wall_length \
                or (self.wall_lines != _NEVER and text.count("\n") >= self.wall_lines):
            return True
        if self.wall_run == _NEVER:
            return False
        if view.plain:  # normalise.repeat_mask and may_run, ASCII branch
            data = view.data
            whole = int.from_bytes(data, "big")
            mask = (whole ^ (whole >> 8)).to_bytes(len(data), "big")
            view.mask = (mask, 1)
            return mask.find(self.run_needle) >= 0
        return may_run(view.mask, self.wall_run)
