"""A chat line as the chat matchers see it: :class:`Message` (what the engine passes in) and
:class:`View` (the line prepared once, lazily, for every rule)."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from rosey.automod import links, normalise, patterns

__all__ = ["Message", "View"]


@dataclass(frozen=True, slots=True)
class Message:
    """One chat line: who sent it, its plain text and when (seconds; any clock, as long as it
    only goes forward, since the windows slide on it). ``first_seen``: when the channel first
    saw this user on that same clock (None: never before this line). ``present``: the
    lower-case names of the users in the channel, any collection (a set, or the keys of a
    dict kept by lower-case name: it is only asked ``in`` and ``len``, never copied)."""

    user: str
    text: str
    time: float
    rank: float = 1.0
    guest: bool = False
    first_seen: float | None = None
    present: Collection[str] = frozenset()


class _Lazy:
    """``functools.cached_property`` without its lock (Python 3.11 takes one on every first
    access, which costs more than most of what is computed here)."""

    def __init__(self, compute: Callable[[Any], Any]) -> None:
        self.compute = compute
        self.name = compute.__name__
        self.__doc__ = compute.__doc__

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.compute(obj)
        return value


if TYPE_CHECKING:  # typed as what it does
    lazy = cached_property
else:
    lazy = _Lazy


def _sane(text: str) -> str:
    """``text`` as valid Unicode: a lone surrogate (which UTF-8 cannot hold) becomes ``?``."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode()
    return text


class View:
    """One line prepared for matching, each form computed the first time a rule asks."""

    def __init__(self, msg: Message) -> None:
        self.msg = msg
        #: the sender's name, lower-case
        self.user = msg.user.lower()
        head = msg.text[:normalise.SCAN_LIMIT]
        #: ASCII: the usual line, nothing to fold, every form a few byte operations
        self.plain = head.isascii()
        if self.plain:
            #: the first SCAN_LIMIT characters, valid Unicode
            self.text = self.folded = head
        else:
            self.text = _sane(head)

    @lazy
    def folded(self) -> str:
        """What words, patterns, links and repeats are matched on: NFKC, no invisible
        characters (``patterns.prepare``)."""
        return patterns.prepare(self.text, normalise.SCAN_LIMIT)

    @lazy
    def data(self) -> bytes:
        """:attr:`folded` as UTF-8, for ``re2``."""
        return self.folded.encode()

    @lazy
    def hosts(self) -> tuple[str, ...]:
        return links.find_hosts(self.folded)

    @lazy
    def capitals(self) -> int:
        """Capital letters in :attr:`text`."""
        return normalise.capitals(self.text)

    @lazy
    def letters(self) -> int:
        """Letters in :attr:`text`."""
        return normalise.letters(self.text)

    @lazy
    def mask(self) -> tuple[bytes, int]:
        """Where :attr:`text` repeats a character (``normalise.repeat_mask``)."""
        return normalise.repeat_mask(self.text)

    @lazy
    def words(self) -> list[str]:
        """The lower-case words of :attr:`folded` (``normalise.word_tokens``): the same as its
        :attr:`names` unless it has a ``-``."""
        if "-" not in self.folded:
            return self.names
        return normalise.word_tokens(self.folded)

    @lazy
    def names(self) -> list[str]:
        """The lower-case words of :attr:`folded` that could be user names (with ``-``)."""
        return normalise.name_tokens(self.folded)

    @lazy
    def repeat_key(self) -> str:
        return normalise.repeat_key(self.folded, None if self.folded.isascii() else self.words)
