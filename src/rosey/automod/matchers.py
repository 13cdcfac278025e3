"""The chat matchers that judge one line alone: caps, links, words, mentions, walls, zalgo.

Each has ``rule`` and ``check(view) -> Sequence[Hit]`` (empty: no hit); a view prepares the
line once for all of them (:class:`~rosey.automod.message.View`). Words and patterns are one
``re2`` pass each over at most the first 2,000 characters, and the run and zalgo searches are
linear too, so a line costs about the same whatever a moderator wrote in the file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

import re2  # type: ignore[import-untyped, unused-ignore]

from rosey.automod import links, normalise, patterns
from rosey.automod.fields import show
from rosey.automod.message import View
from rosey.automod.model import Caps, Hit, Links, Mentions, Rule, Walls, Words, Zalgo
from rosey.automod.windows import span

__all__ = ["CapsMatcher", "LinksMatcher", "RegexGate", "WordsMatcher", "MentionsMatcher",
           "WallsMatcher", "ZalgoMatcher"]

_NONE: Final[Sequence[Hit]] = ()


class CapsMatcher:
    """At least ``min_length`` letters, and capitals making ``ratio`` of them or more."""

    def __init__(self, rule: Rule, p: Caps) -> None:
        self.rule, self.ratio, self.min_length = rule, p.ratio, p.min_length

    def check(self, view: View) -> Sequence[Hit]:
        upper = view.capitals  # fewer capitals than the least a hit needs: no need to count on
        if upper < self.ratio * self.min_length:
            return _NONE
        letters = view.letters
        if letters < self.min_length or upper < self.ratio * letters:
            return _NONE
        return (Hit(self.rule, view.msg.user,
                    f"{upper * 100 // letters}% capitals in {letters} letters"),)


class LinksMatcher:
    """A link to a denied domain; to any domain not allowed (``only_allowed``); any link not
    allowed from a guest (``guests``) or from a user first seen less than ``new_users`` seconds
    before the line (or never before it)."""

    def __init__(self, rule: Rule, p: Links) -> None:
        self.rule, self.p = rule, p

    def _why(self, view: View, host: str) -> str | None:
        p, msg = self.p, view.msg
        if links.covering(host, p.allow):
            return None
        if denied := links.covering(host, p.deny):
            return f"link to {host} (denied: {denied})"
        if p.only_allowed:
            return f"link to {host} (not allowed)"
        if p.guests and msg.guest:
            return f"link to {host} from a guest"
        if p.new_users and (msg.first_seen is None or msg.time - msg.first_seen < p.new_users):
            age = "never seen before" if msg.first_seen is None \
                else f"first seen {span(msg.time - msg.first_seen)} ago"
            return f"link to {host} from a new user ({age})"
        return None

    def check(self, view: View) -> Sequence[Hit]:
        for host in view.hosts:
            if why := self._why(view, host):
                return (Hit(self.rule, view.msg.user, why),)
        return _NONE


class RegexGate:
    """One RE2 search for the expressions of every words rule: a line none of them matches
    (nearly every line) then costs one call into RE2 instead of one per expression, and a call
    costs about the same whatever the expression (0.7 us, most of it the binding's). Built by
    the judge from all its words rules; None when there are fewer than two expressions or
    they do not compile together."""

    def __init__(self, test: Callable[[bytes], bool]) -> None:
        self.test = test
        self.view: View | None = None
        self.result = True

    @classmethod
    def over(cls, rules: Sequence[Words]) -> RegexGate | None:
        found = [r.pattern for p in rules for r in (p.word_regex, p.pattern_regex)
                 if r is not None]
        if len(found) < 2:
            return None
        try:
            return cls(patterns.tester(patterns.compile_any(found)))
        except patterns.PatternError:
            return None

    def open(self, view: View) -> bool:
        """Whether any of the expressions may match ``view`` (asked once per line)."""
        if view is not self.view:
            self.view, self.result = view, self.test(view.data)
        return self.result


class WordsMatcher:
    """A listed word or phrase (whole, any case), or a text matching a listed pattern."""

    def __init__(self, rule: Rule, p: Words, gate: RegexGate | None = None) -> None:
        self.rule, self.p, self.gate = rule, p, gate
        self.phrase = patterns.tester(p.word_regex) if p.word_regex is not None else None
        self.pattern = patterns.tester(p.pattern_regex) if p.pattern_regex is not None else None

    def check(self, view: View) -> Sequence[Hit]:
        p = self.p
        if p.word_set and not p.word_set.isdisjoint(view.words):
            word = next(w for w in view.words if w in p.word_set)
            return (Hit(self.rule, view.msg.user, f"word {show(word, 40)}"),)
        if self.gate is not None and not self.gate.open(view):
            return _NONE
        data = view.data
        if self.phrase is not None and self.phrase(data):
            word = patterns.first_match(p.word_regex, view.folded)
            return (Hit(self.rule, view.msg.user, f"word {show(word, 40)}"),)
        if self.pattern is not None and self.pattern(data):
            i = patterns.which(p.pattern_set, p.each_pattern, data)
            which = p.patterns[i] if i is not None else "?"
            return (Hit(self.rule, view.msg.user, f"pattern {show(which, 40)}"),)
        return _NONE


class MentionsMatcher:
    """``names`` or more different present users named in one line (the sender not counted)."""

    def __init__(self, rule: Rule, p: Mentions) -> None:
        self.rule, self.names = rule, p.names

    def check(self, view: View) -> Sequence[Hit]:
        msg = view.msg
        if len(msg.present) < self.names:
            return _NONE
        present = msg.present
        named = {name for name in view.names if name in present}
        count = len(named) - (view.user in named)
        if count < self.names:
            return _NONE
        return (Hit(self.rule, msg.user, f"{count} users named in one line"),)


class WallsMatcher:
    """Longer than ``max_length`` characters, more than ``max_lines`` lines, or one character
    ``max_run`` times in a row."""

    def __init__(self, rule: Rule, p: Walls) -> None:
        self.rule, self.p, self.max_run = rule, p, p.max_run or 0
        self.runs = normalise.run_finder(p.max_run) if p.max_run else None

    def check(self, view: View) -> Sequence[Hit]:
        text, p = view.msg.text, self.p
        if p.max_length is not None and len(text) > p.max_length:
            why = f"{len(text)} characters"
        elif p.max_lines is not None and text.count("\n") >= p.max_lines:
            why = f"{text.count(chr(10)) + 1} lines"
        elif self.runs is not None and normalise.may_run(view.mask, self.max_run) \
                and (m := self.runs.search(view.text)):
            why = f"{show(m.group(2))} {p.max_run}+ times in a row"
        else:
            return _NONE
        return (Hit(self.rule, view.msg.user, why),)


def _marks(count: int) -> Any:
    """``count`` marks or more in a row (at most 16: each one more copies the whole class of
    marks into the program, and past that its DFA runs out of memory)."""
    options = re2.Options()
    options.never_capture = True
    options.log_errors = False
    return re2.compile(rf"[\p{{Mn}}\p{{Me}}]{{{count},}}", options)


class ZalgoMatcher:
    """``marks`` or more combining marks in a row: characters of Unicode category Mn or Me
    (nonspacing and enclosing marks; what ``unicodedata.combining`` flags, and a few more),
    the stacks "zalgo" text piles on a letter. Spacing marks (Mc, common in Indic scripts) do
    not count."""

    def __init__(self, rule: Rule, p: Zalgo) -> None:
        self.rule, self.marks = rule, p.marks
        self.find = patterns.finder(_marks(p.marks))

    def check(self, view: View) -> Sequence[Hit]:
        if view.text.isascii():
            return _NONE
        data = view.text.encode()
        span = self.find(data, 0)
        if span is None:
            return _NONE
        marks = len(data[span[0]:span[1]].decode())
        return (Hit(self.rule, view.msg.user, f"{marks} combining marks in a row"),)
