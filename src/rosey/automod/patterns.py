"""Moderators' patterns and word lists, compiled with ``re2`` (linear time, bounded memory).

Nothing in automatic moderation hands a moderator's pattern to Python's ``re``: a pattern such
as ``(a+)+$`` takes ``re`` exponential time on a long line, while RE2 matches in time linear
in the text whatever the pattern, and refuses (at load time) a pattern whose program would
need more than :data:`PATTERN_MAX_MEM`. Patterns and words match case-insensitively
(``(?-i)`` in a pattern turns that off for it).

Each list is also compiled as ONE alternation, so judging a line costs one pass per list, not
one per entry (a word list's one-word entries are not even that: they are looked up among the
line's words, ``rosey.automod.normalise.word_tokens``); the single patterns, and an RE2 set of
them, are kept to name the one that matched, on a hit.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any, Final

import re2  # type: ignore[import-untyped, unused-ignore]

from rosey.errors import PatternError

__all__ = [
    "PATTERN_MAX_MEM", "LIST_MAX_MEM", "PatternError", "compile_one", "compile_each",
    "compile_any", "compile_set", "which", "compile_words", "prepare", "first_match", "finder",
    "tester",
]

#: memory RE2 may use for one moderator pattern (its program and its DFA cache)
PATTERN_MAX_MEM: Final = 2 << 20
#: ... and for one whole list compiled as an alternation (2,000 words need about 1 MiB)
LIST_MAX_MEM: Final = 64 << 20
#: a word boundary that knows letters beyond ASCII (RE2's ``\b`` is ASCII-only)
_NOT_WORD: Final = r"[^\pL\pN_]"
#: characters that hide a word from a match without showing: zero-width joiners and spaces,
#: the soft hyphen, the word joiner, the byte-order mark
_INVISIBLE: Final = re.compile("[\u00ad\u200b\u200c\u200d\u2060\ufeff]+")


def _options(max_mem: int, capture: bool) -> Any:
    options = re2.Options()
    options.case_sensitive = False
    options.max_mem = max_mem
    options.never_capture = not capture
    options.log_errors = False
    return options


def _compile(pattern: str, max_mem: int, *, capture: bool = False) -> Any:
    try:
        return re2.compile(pattern, _options(max_mem, capture))
    except re2.error as e:
        reason = e.args[0] if e.args else ""
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise PatternError(" ".join(str(reason).split()) or "not a valid pattern") from None


def compile_one(pattern: str) -> Any:
    """One moderator pattern (raises :class:`PatternError`)."""
    return _compile(pattern, PATTERN_MAX_MEM)


def compile_each(patterns: Sequence[str], fail: Callable[[int, str], Exception]) -> tuple[Any, ...]:
    """Every pattern alone; ``fail(index_from_1, reason)`` makes the error to raise."""
    out = []
    for i, pattern in enumerate(patterns, 1):
        try:
            out.append(compile_one(pattern))
        except PatternError as e:
            raise fail(i, str(e)) from None
    return tuple(out)


def compile_any(patterns: Sequence[str]) -> Any:
    """One expression matching where any of ``patterns`` matches (each already checked alone)."""
    return _compile("|".join(f"(?:{p})" for p in patterns), LIST_MAX_MEM)


def compile_set(patterns: Sequence[str]) -> Any:
    """An RE2 set of ``patterns`` (each already checked alone): one pass says which of them
    match, to name the pattern behind a hit without searching with each in turn."""
    found = re2.Set.SearchSet(_options(LIST_MAX_MEM, False))
    for pattern in patterns:
        found.Add(pattern)
    found.Compile()
    return found


def which(found: Any, each: Sequence[Any], data: bytes) -> int | None:
    """The index of the first of the patterns (``compile_set``; ``each`` compiled alone) that
    matches ``data``; one pass, or one search per pattern should the set fail (RE2 gives up
    on a set only when its memory runs out)."""
    indices = found.Match(data) if found is not None else None
    if indices:
        return int(min(indices))
    return next((i for i, one in enumerate(each) if one.search(data) is not None), None)


def compile_words(words: Sequence[str]) -> Any:
    """One expression matching any of ``words`` as a whole word or phrase (not inside a longer
    word), case-insensitive; a run of spaces in a phrase matches any run of white space."""
    escaped = sorted({r"\s+".join(re2.escape(part) for part in w.split()) for w in words},
                     key=len, reverse=True)
    return _compile(f"(?:^|{_NOT_WORD})({'|'.join(escaped)})(?:{_NOT_WORD}|$)", LIST_MAX_MEM,
                    capture=True)


def prepare(text: str, limit: int) -> str:
    """The part of ``text`` that words and patterns are matched against: its first ``limit``
    characters, without invisible characters, compatibility forms folded (NFKC: fullwidth
    letters, ligatures and the like become plain ones)."""
    text = text[:limit]
    if text.isascii():
        return text
    return unicodedata.normalize("NFKC", _INVISIBLE.sub("", text))


_MISS: Final = (-1, -1)


def _raw(regex: Any) -> tuple[Any, Any] | None:
    """google-re2's compiled RE2 object behind ``regex`` and its "unanchored", if it has them."""
    raw = getattr(regex, "_regexp", None)
    anchor = getattr(getattr(re2, "_Anchor", None), "UNANCHORED", None)
    return (raw, anchor) if raw is not None and anchor is not None else None


def finder(regex: Any) -> Callable[[bytes, int], tuple[int, int] | None]:
    """``regex``'s "where is the first match in these UTF-8 bytes at or after ``pos``?" (a
    byte span, or None), as cheaply as the binding allows. google-re2's ``search`` wraps every
    call in a generator and a match object (half a microsecond, about what a short chat line
    takes to scan); its compiled RE2 object answers directly. That object is the binding's own
    (``_regexp``), so it is used only when it is there and agrees with ``search`` on probes;
    otherwise ``search`` is."""
    def slow(data: bytes, pos: int) -> tuple[int, int] | None:
        m = regex.search(data, pos)
        return None if m is None else (m.start(), m.end())

    inner = _raw(regex)
    if inner is None:
        return slow
    raw, anchor = inner

    def fast(data: bytes, pos: int) -> tuple[int, int] | None:
        span = raw.Match(anchor, data, pos, len(data))[0]
        return None if span == _MISS else (span[0], span[1])

    probes = (b"", b"a b", regex.pattern[:50].encode("utf-8", "replace"))
    try:
        agrees = all(fast(p, 0) == slow(p, 0) for p in probes)
    except Exception:  # noqa: BLE001 - any surprise from the binding's internals: use search
        agrees = False
    return fast if agrees else slow


def tester(regex: Any) -> Callable[[bytes], bool]:
    """``regex``'s "does it match anywhere in these UTF-8 bytes?" (see :func:`finder`; one
    call, not two: a line's gate asks this once per line)."""
    def slow(data: bytes) -> bool:
        return regex.search(data) is not None

    inner = _raw(regex)
    if inner is None:
        return slow
    raw, anchor = inner

    def fast(data: bytes) -> bool:
        return bool(raw.Match(anchor, data, 0, len(data))[0] != _MISS)

    probes = (b"", b"a b", regex.pattern[:50].encode("utf-8", "replace"))
    try:
        agrees = all(fast(p) == slow(p) for p in probes)
    except Exception:  # noqa: BLE001 - any surprise from the binding's internals: use search
        agrees = False
    return fast if agrees else slow


def first_match(regex: Any, text: str) -> str:
    """What ``regex`` matched first in ``text`` (a word list's: the word, not its boundaries)."""
    m = regex.search(text)
    if m is None:
        return ""
    return str(m.group(1) if regex.groups else m.group())
