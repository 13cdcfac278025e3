"""The automatic moderation rules file: YAML in, a checked :class:`RuleSet` out.

::

    reversal_window: 1h    # optional: a moderator lifting an automatic punishment within this
                           # long after it counts as reversing its rule (1h)
    raid: {...}            # optional: raid mode (rosey.automod.raid; absent: off)
    defaults:              # optional; each rule may override each of these
      exempt_rank: 2       # users of this rank or above are left alone (2: moderators)
      exempt_users: []     # names left alone by every rule (any case)
      cooldown: 30s        # after a hit, the rule waits this long before it acts on that
                           # user again (0 or off: no wait)
      dry_run: false       # true: hits are only recorded, nothing is done
    rules:
      - name: no-flood     # required, unique (any case): letters, digits, _ . -
        kind: flood        # see docs/automod.example.yaml for every kind and its fields
        lines: 5
        within: 10s
        action: mute 10m   # log | warn | mute [D] | smute [D] | kick | ban [D]; playlist
                           # rules may add remove: "remove", "remove, warn"
        enabled: true      # false: checked, kept, never judged
        note: free text for the moderators

Any top-level key starting with ``x-`` is ignored: a place for YAML anchors that rules merge
in (``<<: *strict``). Everything else is checked: an unknown kind or field, a missing one, a
wrong type, a number out of range, a duplicate name or key, an action the kind cannot take, a
pattern RE2 refuses. The first problem raises :class:`~rosey.errors.ConfigError` with one line
naming the file, the rule (by name, else by its position from 1) and the field.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final

from rosey.automod.fields import Fields, show
from rosey.automod.kinds import BUILDERS
from rosey.automod.model import (
    KINDS,
    PLAYLIST_KINDS,
    PUNISH_KINDS,
    Action,
    Hit,
    RaidConfig,
    Rule,
    RuleSet,
)
from rosey.automod.raid import parse_raid
from rosey.automod.yamlfile import YamlError, load_yaml
from rosey.config import parse_duration
from rosey.errors import ConfigError

__all__ = [
    "load_rules", "parse_rules", "check_rules_file", "parse_action", "MAX_FILE_BYTES",
    "COMMON_FIELDS", "TOP_FIELDS", "Action", "Hit", "RaidConfig", "Rule", "RuleSet",
]

MAX_FILE_BYTES: Final = 4 << 20
DEFAULT_FIELDS: Final = ("exempt_rank", "exempt_users", "cooldown", "dry_run")
COMMON_FIELDS: Final = ("name", "kind", "action", "enabled", "note", *DEFAULT_FIELDS)
TOP_FIELDS: Final = ("defaults", "rules", "reversal_window", "raid")
_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_TIMED: Final = ("mute", "smute", "ban")


def parse_action(text: str, *, playlist: bool) -> Action:
    """``"mute 10m"``, ``"ban"``, ``"remove, warn"`` -> :class:`Action`; raises ValueError
    saying what is wrong."""
    remove, kinds, duration = False, [], None
    for part in (p.split() for p in text.lower().split(",")):
        if not part:
            raise ValueError(f"{show(text)} has an empty part")
        if part == ["remove"]:
            if not playlist:
                raise ValueError("remove is only for playlist rules (blocklist, duration, "
                                 "per_user)")
            remove = True
            continue
        kind, *rest = part
        if kind not in PUNISH_KINDS:
            extra = ", remove" if playlist else ""
            raise ValueError(f"{show(kind)} is not an action ({', '.join(PUNISH_KINDS)}{extra})")
        if rest and kind not in _TIMED:
            raise ValueError(f"{show(' '.join(part))}: only mute, smute and ban take a duration")
        if len(rest) > 1 or (rest and parse_duration(rest[0]) is None):
            raise ValueError(f"{show(' '.join(rest))} is not a duration (like 10m, 2h, 1h30m)")
        kinds.append(kind)
        duration = parse_duration(rest[0]) if rest else None
    if len(kinds) > 1:
        raise ValueError(f"{show(text)} names {len(kinds)} actions; give one (plus remove)")
    return Action(kinds[0] if kinds else "log", duration, remove)


def _rank(f: Fields, default: float) -> float:
    """``exempt_rank``: above 0 (at 0 even guests would be left alone: the rule would never
    act)."""
    return f.number("exempt_rank", default, above_minimum=True)


def _users(f: Fields, name: str) -> frozenset[str]:
    return frozenset(u.strip().lower() for u in f.texts(name, max_length=100))


def _defaults(data: Any, source: str) -> dict[str, Any]:
    f = Fields(data if data is not None else {}, source=source, where="defaults")
    if not isinstance(f.data, dict):
        raise f.error(None, f"{show(data)} is not a mapping")
    f.only(DEFAULT_FIELDS, "defaults")
    return {"exempt_rank": _rank(f, 2.0), "exempt_users": _users(f, "exempt_users"),
            "cooldown": f.duration("cooldown", 30, off_ok=True),
            "dry_run": f.boolean("dry_run", False)}


def _where(data: Any, index: int) -> str:
    name = data.get("name") if isinstance(data, dict) else None
    return f"rule {name!r}" if isinstance(name, str) and _NAME.fullmatch(name) else f"rule {index}"


def _rule(data: Any, index: int, defaults: dict[str, Any], source: str) -> Rule:
    f = Fields(data if isinstance(data, dict) else {}, source=source, where=_where(data, index))
    if not isinstance(data, dict):
        raise f.error(None, f"{show(data)} is not a mapping (a rule is name: ..., kind: ...)")
    name = f.text("name")
    if not _NAME.fullmatch(name):
        raise f.error("name", f"{show(name)} is not a rule name (letters, digits, _ . -; at "
                              "most 64, starting with a letter or digit)")
    kind = f.text("kind")
    if kind not in KINDS:
        raise f.error("kind", f"{show(kind)} is not a kind ({', '.join(KINDS)})")
    fields, build = BUILDERS[kind]
    f.only((*COMMON_FIELDS, *fields), f"kind {kind}")
    try:
        action = parse_action(f.text("action"), playlist=kind in PLAYLIST_KINDS)
    except ValueError as e:
        raise f.error("action", str(e)) from None
    rule = Rule(
        name=name, kind=kind, action=action, params=build(f),
        exempt_rank=_rank(f, defaults["exempt_rank"]),
        exempt_users=_users(f, "exempt_users") if f.has("exempt_users")
        else defaults["exempt_users"],
        cooldown=f.duration("cooldown", defaults["cooldown"], off_ok=True),
        dry_run=f.boolean("dry_run", defaults["dry_run"]),
        enabled=f.boolean("enabled", True), note=f.text("note", ""))
    return rule


def parse_rules(text: str, source: str = "<text>") -> RuleSet:
    """The rules in ``text`` (a YAML document); ``source`` names it in error messages."""
    try:
        data = load_yaml(text)
    except YamlError as e:
        raise ConfigError(f"automod file {source}: not valid YAML: {e}") from None
    top = Fields(data if isinstance(data, dict) else {}, source=source, where="")
    if not isinstance(data, dict):
        what = "empty (write rules: [] for no rules)" if data is None else \
            f"{show(data)}, not a mapping of defaults: and rules:"
        raise top.error(None, what)
    anchors = [k for k in top.data if isinstance(k, str) and k.startswith("x-")]
    top.only((*TOP_FIELDS, *anchors), "the file (and keys starting with x-)")
    defaults = _defaults(top.raw("defaults"), source)
    raid = parse_raid(top.raw("raid"), source) if top.has("raid") else None
    reversal = top.duration("reversal_window", 3600)
    if not top.has("rules"):
        raise top.error("rules", "required, and missing (rules: [] for none)")
    listed = top.raw("rules") or []
    if not isinstance(listed, list):
        raise top.error("rules", f"{show(listed)} is not a list of rules")
    rules: dict[str, tuple[int, Rule]] = {}
    for index, item in enumerate(listed, 1):
        rule = _rule(item, index, defaults, source)
        if (first := rules.get(rule.name.lower())) is not None:
            raise ConfigError(f"automod file {source}: rule {index} ({rule.name!r}): field "
                              f"'name': already the name of rule {first[0]} "
                              f"({first[1].name!r}; names are compared in any case)")
        rules[rule.name.lower()] = (index, rule)
    return RuleSet(rules=tuple(r for _, r in rules.values()), source=source,
                   reversal_window=float(reversal), raid=raid)


def load_rules(path: str | Path) -> RuleSet:
    """The rules in the file at ``path`` (UTF-8 YAML, at most :data:`MAX_FILE_BYTES`)."""
    try:
        with open(path, "rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise ConfigError(f"automod file {path}: cannot be read: {e.strerror or e}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(f"automod file {path}: larger than {MAX_FILE_BYTES >> 20} MiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"automod file {path}: not UTF-8 text (byte {e.start})") from None
    return parse_rules(text, source=str(path))


def check_rules_file(path: str | Path) -> None:
    """Refuse a bad rules file before anything starts (ConfigError); ``""``: no file, fine."""
    if str(path):
        load_rules(path)
