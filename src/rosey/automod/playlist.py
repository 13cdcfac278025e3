"""Judging playlist additions: :class:`PlaylistJudge` runs every enabled playlist rule on each
item as it is queued.

- blocklist: the item's ``type:id`` is listed, or its title matches a listed ``re2`` pattern
  (first 2,000 characters, any case).
- duration: the item is longer than ``max`` (an item of unknown or no length, such as a live
  stream, is never too long).
- per_user: the user who queued it would have more than ``max`` items in the playlist, this
  one counted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rosey.automod import patterns
from rosey.automod.fields import show
from rosey.automod.model import Blocklist, Duration, Hit, PerUser, Rule, RuleSet
from rosey.automod.normalise import SCAN_LIMIT

__all__ = ["Item", "PlaylistJudge"]


@dataclass(frozen=True, slots=True)
class Item:
    """A playlist item being queued: who queued it, CyTube's media type and id (``yt``,
    ``dQw4w9WgXcQ``), its title and its length in seconds (0: unknown or live)."""

    user: str
    media_type: str
    media_id: str
    title: str = ""
    seconds: float = 0.0

    @property
    def key(self) -> str:
        return f"{self.media_type}:{self.media_id}"


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def _blocklist(p: Blocklist, item: Item) -> str | None:
    if item.key in p.ids:
        return f"{item.key} is blocklisted"
    if p.title_regex is None:
        return None
    title = item.title[:SCAN_LIMIT].encode("utf-8", "replace")
    if p.title_regex.search(title) is None:  # (a playlist item is rare: no need for tester)
        return None
    i = patterns.which(p.title_set, p.each_title, title)
    which = p.titles[i] if i is not None else "?"
    return f"title matches {show(which, 40)}"


def _why(rule: Rule, item: Item, queued_by_user: int) -> str | None:
    p = rule.params
    if isinstance(p, Blocklist):
        return _blocklist(p, item)
    if isinstance(p, Duration):
        if item.seconds > p.max_seconds:
            return f"{_clock(item.seconds)} long (at most {_clock(p.max_seconds)})"
        return None
    if isinstance(p, PerUser):
        if queued_by_user + 1 > p.max_items:
            return f"{queued_by_user + 1} items queued (at most {p.max_items})"
        return None
    return None


class PlaylistJudge:
    """Every enabled playlist rule of ``rules`` (chat and disabled ones skipped)."""

    def __init__(self, rules: RuleSet | Iterable[Rule]) -> None:
        self.rules: tuple[Rule, ...] = rules.playlist if isinstance(rules, RuleSet) else \
            tuple(r for r in rules if r.enabled and r.playlist)

    def judge(self, item: Item, queued_by_user: int) -> list[Hit]:
        """The hits ``item`` makes; ``queued_by_user``: how many items its user already has
        in the playlist, not counting this one."""
        hits = []
        for rule in self.rules:
            why = _why(rule, item, queued_by_user)
            if why is not None:
                hits.append(Hit(rule, item.user, why))
        return hits
