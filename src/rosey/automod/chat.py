"""Judging chat lines: :class:`ChatJudge` runs every enabled chat rule on each line.

The judge only says which rules a line trips, and for whom (:class:`~rosey.automod.model.Hit`);
exemptions, cooldowns, dry runs and acting are the engine's. It keeps the windows that flood
and repeats need, bounded (:mod:`rosey.automod.windows`), slid by ``Message.time`` alone.

    judge = ChatJudge(load_rules(path))
    for hit in judge.judge(Message("alice", "BUY NOW", time=now, present=names)):
        ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
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
from rosey.automod.model import Flood, Hit, Repeats, Rule, RuleSet, Words
from rosey.automod.plan import Plan
from rosey.automod.windows import FloodMatcher, Memory, RepeatsMatcher

__all__ = ["ChatJudge", "Message", "View"]


_MATCHERS: Final[dict[str, Callable[[Rule, Any], Any]]] = {
    "caps": CapsMatcher, "links": LinksMatcher, "mentions": MentionsMatcher,
    "walls": WallsMatcher, "zalgo": ZalgoMatcher,
}


class ChatJudge:
    """Every enabled chat rule of ``rules`` (a :class:`RuleSet` or any rules; playlist and
    disabled ones are skipped), each with its matcher, in file order."""

    def __init__(self, rules: RuleSet | Iterable[Rule]) -> None:
        chosen = rules.chat if isinstance(rules, RuleSet) else \
            tuple(r for r in rules if r.enabled and not r.playlist)
        self.rules: tuple[Rule, ...] = chosen
        self.memory = Memory(chosen)
        self.gate = RegexGate.over([r.params for r in chosen if isinstance(r.params, Words)])
        self._matchers = tuple(self._matcher(r) for r in chosen)
        self._checks = tuple(m.check for m in self._matchers)  # bound once, not per line
        self._plan = Plan(self._matchers, self.memory, self.gate)
        self._judge = self._plan.judge

    def _matcher(self, rule: Rule) -> Any:
        if isinstance(rule.params, Flood):
            return FloodMatcher(rule, rule.params, self.memory)
        if isinstance(rule.params, Repeats):
            return RepeatsMatcher(rule, rule.params, self.memory)
        if isinstance(rule.params, Words):
            return WordsMatcher(rule, rule.params, self.gate)
        return _MATCHERS[rule.kind](rule, rule.params)

    def judge(self, msg: Message) -> list[Hit]:
        """Every hit ``msg`` makes, in rule order (a rule may hit several users: a copy-paste
        raid). Rules that remember (flood, repeats) count the line even for a user they
        will be told is exempt: the engine filters hits, the judge does not. The rules are
        asked by kind, a kind skipped when a cheap test shows none of its rules can hit
        (:class:`~rosey.automod.plan.Plan`): the same hits as :meth:`judge_each`."""
        return self._judge(msg)

    def judge_each(self, msg: Message) -> list[Hit]:
        """:meth:`judge` the plain way, asking every rule's matcher in turn (what the plan is
        checked against; a judge should be used one way only, each keeps its windows)."""
        view = View(msg)
        if self.memory.needed:
            self.memory.record(view)
        hits: list[Hit] = []
        for check in self._checks:
            found = check(view)
            if found:
                hits.extend(found)
        return hits
