"""What a rules file becomes: frozen :class:`Rule` values with their :class:`Action`, grouped in
a :class:`RuleSet`, and the :class:`Hit` a judge reports when a rule matches.

Each kind has its own parameters dataclass (:data:`Params`); the compiled ``re2`` expressions
a kind needs are built once, when the file is read, and carried in its parameters (left out
of equality and ``repr``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Union

__all__ = [
    "CHAT_KINDS", "PLAYLIST_KINDS", "KINDS", "PUNISH_KINDS", "Action", "Rule", "RuleSet", "Hit",
    "Params", "Flood", "Repeats", "Caps", "Links", "Words", "Mentions", "Walls", "Zalgo",
    "Blocklist", "Duration", "PerUser", "RaidConfig", "duration_text",
]

CHAT_KINDS: Final = ("flood", "repeats", "caps", "links", "words", "mentions", "walls", "zalgo")
PLAYLIST_KINDS: Final = ("blocklist", "duration", "per_user")
KINDS: Final = CHAT_KINDS + PLAYLIST_KINDS
#: what an action may do to the user (``remove`` is a separate flag: playlist rules only)
PUNISH_KINDS: Final = ("log", "warn", "mute", "smute", "kick", "ban")


def duration_text(seconds: int) -> str:
    """Seconds as the rules file writes them: ``600`` -> ``"10m"``, ``5400`` -> ``"1h30m"``."""
    parts = []
    for unit, size in (("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"


@dataclass(frozen=True, slots=True)
class Action:
    """``kind``: log (only record), warn, mute, smute, kick or ban; ``duration_seconds`` for a
    timed mute, smute or ban (None: untimed, it lasts until lifted); ``remove``: take the
    playlist item out too (playlist rules only). A plain ``remove`` is kind ``log`` with
    ``remove`` set."""

    kind: str
    duration_seconds: int | None = None
    remove: bool = False

    @property
    def duration(self) -> int | None:
        """:attr:`duration_seconds` by its shorter name."""
        return self.duration_seconds

    @property
    def text(self) -> str:
        """The action as the file would write it: ``"mute 10m"``, ``"remove, warn"``."""
        parts = ["remove"] if self.remove else []
        if self.kind != "log" or not self.remove:
            parts.append(self.kind if self.duration_seconds is None
                         else f"{self.kind} {duration_text(self.duration_seconds)}")
        return ", ".join(parts)

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class Flood:
    lines: int
    within: int


@dataclass(frozen=True, slots=True)
class Repeats:
    """``times``: one user's same line; ``users``: that many users' same line (None: off)."""

    within: int
    times: int | None
    users: int | None
    min_length: int


@dataclass(frozen=True, slots=True)
class Caps:
    ratio: float
    min_length: int


@dataclass(frozen=True, slots=True)
class Links:
    """Domains are lower-case, without a leading ``www.``; each covers its subdomains."""

    deny: frozenset[str]
    allow: frozenset[str]
    only_allowed: bool
    guests: bool
    new_users: int | None


@dataclass(frozen=True, slots=True)
class Words:
    words: tuple[str, ...]
    patterns: tuple[str, ...]
    #: the words that are one word, lower-case (looked up among a line's words), and one
    #: ``re2`` alternation of the others (phrases, words with other characters; None: none)
    word_set: frozenset[str] = field(default=frozenset(), compare=False, repr=False)
    word_regex: Any = field(default=None, compare=False, repr=False)
    #: one ``re2`` alternation of every pattern (None: none)
    pattern_regex: Any = field(default=None, compare=False, repr=False)
    #: each pattern alone, and all of them as an RE2 set (to name the one that matched)
    each_pattern: tuple[Any, ...] = field(default=(), compare=False, repr=False)
    pattern_set: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Mentions:
    names: int


@dataclass(frozen=True, slots=True)
class Walls:
    max_length: int | None
    max_lines: int | None
    max_run: int | None


@dataclass(frozen=True, slots=True)
class Zalgo:
    marks: int


@dataclass(frozen=True, slots=True)
class Blocklist:
    """``ids``: ``type:id`` strings; ``titles``: re2 patterns against the title."""

    ids: frozenset[str]
    titles: tuple[str, ...]
    title_regex: Any = field(default=None, compare=False, repr=False)
    each_title: tuple[Any, ...] = field(default=(), compare=False, repr=False)
    title_set: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Duration:
    max_seconds: int


@dataclass(frozen=True, slots=True)
class PerUser:
    max_items: int


Params = Union[Flood, Repeats, Caps, Links, Words, Mentions, Walls, Zalgo, Blocklist, Duration,
               PerUser]


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule as the file gave it, defaults applied. ``cooldown`` is in seconds (0: none);
    ``exempt_users`` are lower-case."""

    name: str
    kind: str
    action: Action
    params: Params
    exempt_rank: float = 2.0
    exempt_users: frozenset[str] = frozenset()
    cooldown: int = 30
    dry_run: bool = False
    enabled: bool = True
    note: str = ""

    @property
    def playlist(self) -> bool:
        return self.kind in PLAYLIST_KINDS

    def exempts(self, user: str, rank: float) -> bool:
        """Whether this rule leaves ``user`` (any case) of ``rank`` alone."""
        return rank >= self.exempt_rank or user.lower() in self.exempt_users


@dataclass(frozen=True, slots=True)
class RaidConfig:
    """The file's ``raid`` section: what starts raid mode (each a count per minute; 0: that
    trigger is off), the CyTube channel options it sets while it lasts, what it says in chat
    when it starts and ends ("": nothing), and ``calm``: the seconds without a trigger after
    which it ends."""

    joins_per_minute: int = 0
    guests_per_minute: int = 0
    new_users_per_minute: int = 0
    same_line_users: int = 0
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    announce_on: str = ""
    announce_off: str = ""
    calm: float = 600.0


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Every rule of one file, in file order; ``source`` is the file's name.
    ``reversal_window``: seconds after an automatic punishment within which a moderator
    lifting it counts as reversing the rule; ``raid``: the raid section (None: raid mode off)."""

    rules: tuple[Rule, ...] = ()
    source: str = ""
    reversal_window: float = 3600.0
    raid: RaidConfig | None = None

    @classmethod
    def empty(cls) -> RuleSet:
        """No rules, no raid mode: what the bot has without a rules file."""
        return cls()

    @property
    def chat(self) -> tuple[Rule, ...]:
        """The enabled chat rules."""
        return tuple(r for r in self.rules if r.enabled and not r.playlist)

    @property
    def playlist(self) -> tuple[Rule, ...]:
        """The enabled playlist rules."""
        return tuple(r for r in self.rules if r.enabled and r.playlist)

    def get(self, name: str) -> Rule | None:
        """The rule called ``name`` (any case), or None."""
        name = name.lower()
        return next((r for r in self.rules if r.name.lower() == name), None)

    def __len__(self) -> int:
        return len(self.rules)


@dataclass(frozen=True, slots=True)
class Hit:
    """``rule`` matched what ``user`` did; ``detail`` says how, in a few words ("6 lines in
    10 s", "link to bad.example")."""

    rule: Rule
    user: str
    detail: str
