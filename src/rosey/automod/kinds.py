"""Each kind's own fields: read from a rule's mapping into that kind's parameters.

:data:`BUILDERS` maps a kind to ``(its field names, the function that reads them)``; the
caller refuses any field that is neither one of these nor one every rule has, then reads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import re2  # type: ignore[import-untyped, unused-ignore]

from rosey.automod import links, mediaid, normalise, patterns
from rosey.automod.fields import Fields, show
from rosey.automod.model import (
    Blocklist,
    Caps,
    Duration,
    Flood,
    Links,
    Mentions,
    Params,
    PerUser,
    Repeats,
    Walls,
    Words,
    Zalgo,
)

__all__ = ["BUILDERS"]


def _flood(f: Fields) -> Flood:
    return Flood(lines=f.integer("lines", minimum=2, maximum=1_000), within=f.duration("within"))


def _repeats(f: Fields) -> Repeats:
    within = f.duration("within")
    times = f.opt_integer("times", minimum=2, maximum=1_000)
    users = f.opt_integer("users", minimum=2, maximum=1_000)
    if times is None and users is None:
        raise f.error("times", "give times (one user's same line), users (several users' "
                               "same line) or both")
    return Repeats(within=within, times=times, users=users,
                   min_length=f.integer("min_length", 5, maximum=1_000))


def _caps(f: Fields) -> Caps:
    return Caps(ratio=f.number("ratio", 0.7, maximum=1.0, above_minimum=True),
                min_length=f.integer("min_length", 10, maximum=10_000))


def _domains(f: Fields, name: str) -> frozenset[str]:
    out = set()
    for i, entry in enumerate(f.texts(name), 1):
        try:
            out.add(links.domain_entry(entry))
        except ValueError as e:
            raise f.error(name, f"entry {i}: {show(entry)} is {e}") from None
    return frozenset(out)


def _links(f: Fields) -> Links:
    new = f.duration("new_users", 0, off_ok=True)
    rule = Links(deny=_domains(f, "deny"), allow=_domains(f, "allow"),
                 only_allowed=f.boolean("only_allowed", False), guests=f.boolean("guests", False),
                 new_users=new or None)
    if not (rule.deny or rule.only_allowed or rule.guests or rule.new_users):
        raise f.error("deny", "the rule matches nothing: give deny, only_allowed, guests or "
                              "new_users")
    if overlap := rule.deny & rule.allow:
        raise f.error("allow", f"{sorted(overlap)[0]!r} is in both allow and deny")
    return rule


def _compiled(f: Fields, name: str, entries: tuple[str, ...]) -> tuple[Any, Any, Any]:
    """(each pattern alone, all of them as one expression, all of them as a set) for the list
    in field ``name``."""
    def fail(i: int, reason: str) -> Exception:
        return f.error(name, f"entry {i}: {show(entries[i - 1])} is not a valid pattern: {reason}")

    each = patterns.compile_each(entries, fail)
    if not entries:
        return each, None, None
    try:
        return each, patterns.compile_any(entries), patterns.compile_set(entries)
    except (patterns.PatternError, re2.error) as e:
        raise f.error(name, f"the patterns together are too large for one expression: {e}") \
            from None


def _words(f: Fields) -> Words:
    words = tuple(dict.fromkeys(" ".join(patterns.prepare(w, 200).split())
                                for w in f.texts("words", max_length=200)))
    found = f.texts("patterns", max_items=1_000)
    if not words and not found:
        raise f.error("words", "give words, patterns or both")
    each, together, found_set = _compiled(f, "patterns", found)
    single = frozenset(w.lower() for w in words if normalise.is_word(w))
    others = [w for w in words if not normalise.is_word(w)]
    try:
        word_regex = patterns.compile_words(others) if others else None
    except patterns.PatternError as e:
        raise f.error("words", f"too many phrases for one expression: {e}") from None
    return Words(words=words, patterns=found, word_set=single, word_regex=word_regex,
                 pattern_regex=together, each_pattern=each, pattern_set=found_set)


def _walls(f: Fields) -> Walls:
    rule = Walls(max_length=f.opt_integer("max_length", maximum=100_000),
                 max_lines=f.opt_integer("max_lines", maximum=10_000),
                 max_run=f.opt_integer("max_run", minimum=2, maximum=1_000))
    if rule.max_length is None and rule.max_lines is None and rule.max_run is None:
        raise f.error("max_length", "give max_length, max_lines, max_run or several")
    return rule


def _blocklist(f: Fields) -> Blocklist:
    ids = set()
    for i, entry in enumerate(f.texts("ids"), 1):
        try:
            ids.add(mediaid.media_key(entry))
        except ValueError as e:
            raise f.error("ids", f"entry {i}: {show(entry)}: {e}") from None
    titles = f.texts("titles", max_items=1_000)
    if not ids and not titles:
        raise f.error("ids", "give ids, titles or both")
    each, together, title_set = _compiled(f, "titles", titles)
    return Blocklist(ids=frozenset(ids), titles=titles, title_regex=together, each_title=each,
                     title_set=title_set)


BUILDERS: Final[dict[str, tuple[tuple[str, ...], Callable[[Fields], Params]]]] = {
    "flood": (("lines", "within"), _flood),
    "repeats": (("within", "times", "users", "min_length"), _repeats),
    "caps": (("ratio", "min_length"), _caps),
    "links": (("deny", "allow", "only_allowed", "guests", "new_users"), _links),
    "words": (("words", "patterns"), _words),
    "mentions": (("names",), lambda f: Mentions(names=f.integer("names", minimum=2,
                                                                maximum=1_000))),
    "walls": (("max_length", "max_lines", "max_run"), _walls),
    "zalgo": (("marks",), lambda f: Zalgo(marks=f.integer("marks", 3, minimum=2, maximum=16))),
    "blocklist": (("ids", "titles"), _blocklist),
    "duration": (("max",), lambda f: Duration(max_seconds=f.duration("max"))),
    "per_user": (("max",), lambda f: PerUser(max_items=f.integer("max", maximum=10_000))),
}
