"""Reading one mapping of the rules file, field by field, with one-line errors.

A :class:`Fields` wraps one YAML mapping (the file's top level, ``defaults``, or one rule) and
hands out its fields by name, typed and checked; :meth:`Fields.only` first refuses every key
that is not a known field, so a misspelt field is an error (naming the field it was probably
meant to be) rather than a rule that silently does less, or a "required" error for the field
it was meant to be. Every error is a :class:`~rosey.errors.ConfigError` whose message is one line naming the
file, the place (``rule 'no-flood'``, ``rule 3``, ``defaults``) and the field.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Mapping
from typing import Any

from rosey.config import DURATION_FORMS, parse_duration
from rosey.errors import ConfigError

__all__ = ["Fields", "show", "OFF_WORDS"]

#: what a duration field may say to mean "none" where none is allowed (``cooldown: off``)
OFF_WORDS = frozenset({"0", "off", "none", "no"})


def show(value: object, limit: int = 60) -> str:
    """A value as it reads in an error message: one line, at most ``limit`` characters."""
    if isinstance(value, str):  # quoted as JSON: the common case without json's cost
        plain = value.isprintable() and '"' not in value and "\\" not in value
        text = f'"{value}"' if plain else json.dumps(value, ensure_ascii=False)
    elif isinstance(value, bool) or value is None:
        text = {True: "true", False: "false", None: "null"}[value]
    elif isinstance(value, (int, float)):
        text = repr(value)
    elif isinstance(value, list):
        text = "a list"
    elif isinstance(value, dict):
        text = "a mapping"
    else:
        text = repr(value).replace("\n", " ")
    return text if len(text) <= limit else text[:limit - 3] + "..."


class Fields:
    """The fields of one mapping, read by name; :meth:`only` refuses unknown ones."""

    def __init__(self, data: Mapping[Any, Any], *, source: str, where: str) -> None:
        self.data = data
        self.source = source
        self.where = where

    def error(self, field: str | None, message: str) -> ConfigError:
        place = f"{self.where}: " if self.where else ""
        at = f"field {field!r}: " if field is not None else ""
        return ConfigError(f"automod file {self.source}: {place}{at}{message}")

    def has(self, name: str) -> bool:
        return name in self.data

    def raw(self, name: str) -> Any:
        """The field's value as YAML gave it (None when absent)."""
        return self.data.get(name)

    def only(self, known: tuple[str, ...] | frozenset[str], what: str) -> None:
        """Refuse every key that is not one of ``known``: ``what`` says whose fields these
        are."""
        for key in self.data:
            if not isinstance(key, str):
                raise self.error(None, f"{show(key)} is not a field name (quote it if it is "
                                       "meant as text)")
            if key not in known:
                near = difflib.get_close_matches(key, sorted(known), n=1)
                hint = f"did you mean {near[0]!r}? " if near else ""
                raise self.error(key, f"unknown field for {what} ({hint}known: "
                                      f"{', '.join(sorted(known))})")

    def _missing(self, name: str) -> ConfigError:
        return self.error(name, "required, and missing")

    def integer(self, name: str, default: int | None = None, *, minimum: int = 1,
                maximum: int = 1_000_000) -> int:
        value = self.opt_integer(name, minimum=minimum, maximum=maximum)
        if value is None:
            if default is None:
                raise self._missing(name)
            return default
        return value

    def opt_integer(self, name: str, *, minimum: int = 1, maximum: int = 1_000_000) -> int | None:
        value = self.raw(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(name, f"{show(value)} is not a whole number")
        if not minimum <= value <= maximum:
            raise self.error(name, f"{value} is out of range ({minimum} to {maximum})")
        return value

    def number(self, name: str, default: float | None = None, *, minimum: float = 0.0,
               maximum: float = math.inf, above_minimum: bool = False) -> float:
        value = self.raw(name)
        if value is None:
            if default is None:
                raise self._missing(name)
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value):
            raise self.error(name, f"{show(value)} is not a number")
        low_ok = value > minimum if above_minimum else value >= minimum
        if not low_ok or value > maximum:
            low = f"above {minimum:g}" if above_minimum else f"{minimum:g}"
            high = "" if math.isinf(maximum) else f" to {maximum:g}"
            raise self.error(name, f"{value:g} is out of range ({low}{high})")
        return float(value)

    def boolean(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.error(name, f"{show(value)} is not true or false")
        return value

    def text(self, name: str, default: str | None = None) -> str:
        value = self.raw(name)
        if value is None:
            if default is None:
                raise self._missing(name)
            return default
        if not isinstance(value, str):
            raise self.error(name, f"{show(value)} is not text")
        return value

    def duration(self, name: str, default: int | None = None, *, off_ok: bool = False) -> int:
        """Seconds from ``10m``/``1h30m``; ``default`` when absent (None: required); with
        ``off_ok``, ``0``/``off``/``none`` mean 0."""
        value = self.raw(name)
        if value is None:
            if default is None:
                raise self._missing(name)
            return default
        if off_ok and (value is False or str(value).strip().lower() in OFF_WORDS):
            return 0
        seconds = parse_duration(value) if isinstance(value, str) else None
        if seconds is None:
            off = " or off" if off_ok else ""
            raise self.error(name, f"{show(value)} is not a duration (use {DURATION_FORMS}{off})")
        return seconds

    def texts(self, name: str, *, max_items: int = 50_000, max_length: int = 1_000) -> tuple[str, ...]:
        """A list of non-empty strings (absent: empty); a single string is a list of one."""
        value = self.raw(name)
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise self.error(name, f"{show(value)} is not a list of text")
        if len(value) > max_items:
            raise self.error(name, f"{len(value)} entries; at most {max_items}")
        for i, item in enumerate(value, 1):
            if not isinstance(item, str) or not item.strip():
                raise self.error(name, f"entry {i}: {show(item)} is not non-empty text")
            if len(item) > max_length:
                raise self.error(name, f"entry {i}: longer than {max_length} characters")
        return tuple(value)
