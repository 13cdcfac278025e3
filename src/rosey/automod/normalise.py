"""Text as the chat matchers compare and count it: repeat keys, capitals, name tokens.

These are our own fixed expressions on moderators' users' text, never a moderator's pattern,
and each is linear in the text; callers pass at most the first :data:`SCAN_LIMIT` characters.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["SCAN_LIMIT", "repeat_key", "capitals", "letters", "name_tokens", "word_tokens",
           "is_word", "run_finder", "repeat_mask", "may_run", "ASCII_NOT_LETTER",
           "ASCII_NOT_UPPER", "ASCII_NAMES_ONLY", "ASCII_WORDS_ONLY", "squeeze"]

#: how much of one chat line the matchers look at (CyTube's own limit is 320 by default)
SCAN_LIMIT: Final = 2_000
#: the ASCII bytes that are not letters, and not capitals (``bytes.translate``'s deletions)
ASCII_NOT_LETTER: Final = bytes(c for c in range(128) if not chr(c).isalpha())
ASCII_NOT_UPPER: Final = bytes(c for c in range(128) if not chr(c).isupper())
_RUNS: Final = re.compile(r"(.)\1+", re.DOTALL)
_NAME: Final = re.compile(r"[\w-]+")
_NAME_BYTES: Final = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789_-")
#: ASCII lower-case text -> the same with every byte that cannot be in a name made a space
ASCII_NAMES_ONLY: Final = bytes(c if c in _NAME_BYTES else 32 for c in range(256))
_WORD: Final = re.compile(r"\w+")
#: ... and every byte that cannot be in a word (letters, digits, _)
ASCII_WORDS_ONLY: Final = bytes(c if c in _NAME_BYTES and c != 45 else 32 for c in range(256))


def repeat_key(text: str, words: list[str] | None = None) -> str:
    """What two lines share when they are "nearly the same": ``text`` case-folded, with only
    its letters kept (no spaces, digits, punctuation, marks or emoji) and each run of one letter
    cut to one. ``"Join   my channel!!! 123"``, ``"join my channnel 7"`` and ``"JOIN MY
    CHANNEL"`` share ``"joinmychanel"``. A line without letters keys on its characters other
    than white space, runs cut alike. Linear, a microsecond or two (ASCII) or a few; unlike an
    edit distance it finds every earlier line with the same key in one dict lookup. ``words``:
    the line's :func:`word_tokens`, when known (the letters are among them)."""
    folded = text.casefold()
    if folded.isascii():
        data = folded.encode().translate(None, ASCII_NOT_LETTER) \
            or "".join(folded.split()).encode()
        return squeeze(data)
    joined = "".join(words).casefold() if words is not None else folded
    letters = joined if joined.isalpha() else "".join(filter(str.isalpha, joined))
    if letters.isascii() and letters:  # emoji and marks around ASCII words: bytes will do
        return squeeze(letters.encode())
    return _RUNS.sub(_first, letters or "".join(folded.split()))


def _first(m: re.Match[str]) -> str:
    return m.group(1)


def squeeze(data: bytes) -> str:
    """ASCII ``data`` with each run of one byte cut to one (a NUL byte dropped too), in a few
    whole-number steps instead of one regex step per character: XOR with itself shifted by a
    byte leaves a zero byte exactly where a byte repeats the previous one; every byte being
    below 0x80, adding 0x7f to each sets its top bit exactly when it is not zero, without
    carrying into the next; that bit, moved down and spread to 0xff, keeps the first byte of
    each run and zeroes the others, which are then dropped."""
    size = len(data)
    n = int.from_bytes(data, "big")
    ones, sevens = _ONES[size] if size < _KEPT_SIZES else _ones(size)
    keep = (((n ^ (n >> 8)) + sevens) >> 7) & ones
    return (n & (keep * 0xFF)).to_bytes(size, "big").replace(b"\0", b"").decode()


def _ones(size: int) -> tuple[int, int]:
    """0x0101...01 and 0x7f7f...7f, ``size`` bytes each (what :func:`squeeze` adds and keeps)."""
    ones = int.from_bytes(b"\x01" * size, "big")
    return ones, ones * 0x7F


#: :func:`_ones` of the lengths most lines have, made once (about 80 KB)
_KEPT_SIZES: Final = 257
_ONES: Final = tuple(_ones(size) for size in range(_KEPT_SIZES))


def capitals(text: str) -> int:
    """How many capital letters ``text`` has."""
    if text.isascii():
        return len(text.encode().translate(None, ASCII_NOT_UPPER))
    return sum(map(str.isupper, text))


def letters(text: str) -> int:
    """How many letters ``text`` has."""
    if text.isascii():
        return len(text.encode().translate(None, ASCII_NOT_LETTER))
    return sum(map(str.isalpha, text))


def name_tokens(text: str) -> list[str]:
    """The lower-case words of ``text`` that could be user names (letters, digits, _ and -)."""
    lower = text.lower()
    if lower.isascii():
        return lower.encode().translate(ASCII_NAMES_ONLY).decode().split()
    return _NAME.findall(lower)


def word_tokens(text: str) -> list[str]:
    """The lower-case words of ``text``: runs of letters, digits and ``_`` (the word boundary of
    a word list's expression, ``patterns.compile_words``)."""
    lower = text.lower()
    if lower.isascii():
        return lower.encode().translate(ASCII_WORDS_ONLY).decode().split()
    return _WORD.findall(lower)


def is_word(entry: str) -> bool:
    """Whether a word list entry is one word, found by looking its lower case up among a
    line's :func:`word_tokens` (else it goes into the list's expression)."""
    return _WORD.fullmatch(entry.lower()) is not None


def run_finder(length: int) -> re.Pattern[str]:
    """An expression that finds one character repeated ``length`` times in a row, in linear
    time: it only starts a run where the character changes (or at the start), so no run is
    scanned twice, whatever ``length`` is."""
    return re.compile(rf"(?:^|(.)(?!\1))(.)\2{{{length - 1}}}", re.DOTALL)


def repeat_mask(text: str) -> tuple[bytes, int]:
    """Where a character equals the one before it: ``(mask, unit)``, the mask holding one
    ``unit``-byte cell per character (1 for ASCII text, else 4), all zero bytes where that
    character repeats the previous one. Built with a few whole-text operations on one big
    integer (XOR with itself shifted by one character), so it costs well under a microsecond
    for a chat line and stays linear for a long one."""
    if text.isascii():
        data, unit = text.encode(), 1
    else:
        data, unit = text.encode("utf-32-be"), 4
    n = int.from_bytes(data, "big")
    return (n ^ (n >> (8 * unit))).to_bytes(len(data), "big"), unit


def may_run(mask: tuple[bytes, int], length: int) -> bool:
    """False when :func:`repeat_mask` rules out ``length`` equal characters in a row (the usual
    case); True when there may be such a run (:func:`run_finder` then says for sure: a
    4-byte cell can show zero bytes across two characters)."""
    data, unit = mask
    return data.find(b"\0" * (unit * (length - 1))) >= 0
