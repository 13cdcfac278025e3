"""Bytes <-> the contract's values: the JSON loader, the field readers every decoder shares,
and :func:`encode`.

Decoding is strict about what the contract requires and lenient about everything else:
extra fields are ignored, a missing ``timestamp`` means "the receiver's time" and is left as
``None`` so the receiver can choose which time that is (:func:`rosey.contract.event_time`).
Every refusal is a :class:`~rosey.errors.BadPayload` with a short, bounded reason.

Two bases say how a value is encoded: a :class:`Flat` payload (every event and query) is
written field by field, as is (the publish path stays cheap); a :class:`Shaped` value (every
reply) spells its own JSON with :meth:`Shaped.to_wire`. Any other dataclass is written as its
fields, recursively.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any, TypeVar

from rosey.contract.subjects import MAX_PAYLOAD_BYTES, MAX_TEXT, MAX_USERNAME
from rosey.errors import BadPayload

__all__ = ["Flat", "Shaped", "register", "load_json", "load_object", "encode"]


class Flat:
    """Base of the events and queries: dataclasses whose fields are JSON values already,
    encoded field by field without looking inside."""

    __slots__ = ()


class Shaped:
    """Base of the replies: values whose JSON shape is not just their fields."""

    __slots__ = ()

    def to_wire(self) -> Any:
        """The JSON value the contract spells for this value."""
        raise NotImplementedError


T = TypeVar("T")


def register(registry: dict[str, type[T]], cls: type[T], subject: str) -> None:
    """Enter ``cls`` under ``subject`` (its ``SUBJECT``). A second class on one subject is a
    mistake; the same class again is not (``@dataclass(slots=True)`` makes the class anew)."""
    known = registry.get(subject)
    # by name: the class made anew has no __qualname__ of its own yet
    if known is not None and (known.__module__, known.__name__) != (cls.__module__, cls.__name__):
        raise TypeError(f"{cls.__name__} and {known.__name__} share {subject!r}")
    registry[subject] = cls


# --- loading -------------------------------------------------------------------------------
def load_object(data: bytes) -> dict[str, Any]:
    """Bytes -> JSON object, or BadPayload with a short, bounded reason."""
    obj = load_json(data)
    if not isinstance(obj, dict):
        raise BadPayload("not_object", f"JSON {type(obj).__name__}, expected object")
    return obj


def load_json(data: bytes) -> Any:
    """Bytes -> any JSON value, or BadPayload with a short, bounded reason."""
    if not data:
        raise BadPayload("empty", "empty body")
    if len(data) > MAX_PAYLOAD_BYTES:
        raise BadPayload("too_large", f"body of {len(data)} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadPayload("not_utf8", f"invalid UTF-8 at byte {exc.start}") from None
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise BadPayload("bad_json", str(exc)[:200]) from None
    return obj


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


# --- field readers (shared by the events', queries' and replies' decoders) ----------------
def _given(obj: dict[str, Any], key: str, *, required: bool) -> Any:
    """``obj[key]``; None when it is absent or null, which is a missing field if required."""
    value = obj.get(key)
    if value is None and required:
        raise BadPayload("missing_field", f"{key} is missing")
    return value


def _str(obj: dict[str, Any], key: str, *, limit: int, required: bool = True,
         nonempty: bool = False) -> str | None:
    value = _given(obj, key, required=required)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadPayload("wrong_type", f"{key} must be a string, got {type(value).__name__}")
    if len(value) > limit:
        raise BadPayload("too_large", f"{key} has {len(value)} characters, limit {limit}")
    if "\x00" in value:
        raise BadPayload("wrong_type", f"{key} contains a NUL character")
    if nonempty and not value.strip():
        raise BadPayload("missing_field", f"{key} is empty")
    return value


def _opt_str(o: dict[str, Any], key: str) -> str | None:
    return _str(o, key, limit=MAX_TEXT, required=False)


def _username(obj: dict[str, Any]) -> str:
    value = _str(obj, "username", limit=MAX_USERNAME, nonempty=True)
    assert value is not None
    return value.strip()


def _name(o: dict[str, Any], key: str) -> str:
    value = _str(o, key, limit=MAX_USERNAME, nonempty=True)
    assert value is not None
    return value.strip()


def _one_of(o: dict[str, Any], key: str, allowed: tuple[str, ...], default: str | None) -> str:
    value = _str(o, key, limit=32, required=default is None)
    if value is None:
        assert default is not None
        return default
    if value not in allowed:
        raise BadPayload("wrong_type", f"{key} must be one of {'/'.join(allowed)}")
    return value


def _int(obj: dict[str, Any], key: str, *, required: bool = True, minimum: int = 0,
         maximum: int = 2**53) -> int | None:
    value = _given(obj, key, required=required)
    if value is None:
        return None
    # bool is an int subclass; a float with an integral value is accepted (JS senders)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadPayload("wrong_type", f"{key} must be an integer, got {type(value).__name__}")
    if isinstance(value, float):
        if not value.is_integer():
            raise BadPayload("wrong_type", f"{key} must be an integer, got {value!r}")
        value = int(value)
    if not minimum <= value <= maximum:
        raise BadPayload("wrong_type", f"{key}={value} is out of range")
    return value


def _need_int(o: dict[str, Any], key: str) -> int:
    value = _int(o, key)
    assert value is not None  # a required field: _int raised when it is missing
    return value


def _limit(o: dict[str, Any], key: str, default: int, maximum: int) -> int:
    value = _int(o, key, required=False, minimum=0, maximum=maximum)
    return default if value is None else value


def _number(obj: dict[str, Any], key: str) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BadPayload("wrong_type", f"{key} must be a number, got {value!r:.40}")
    return float(value)


def _bool(obj: dict[str, Any], key: str) -> bool | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, bool):
        raise BadPayload("wrong_type", f"{key} must be true or false, got {type(value).__name__}")
    return value


def _object(obj: dict[str, Any], key: str, *, required: bool = True) -> dict[str, Any] | None:
    value = _given(obj, key, required=required)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadPayload("wrong_type", f"{key} must be an object, got {type(value).__name__}")
    return value


def _objects(value: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise BadPayload("wrong_type", f"{what} must be a list of objects")
    return value


def _reply_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadPayload("not_object", f"JSON {type(value).__name__}, expected object")
    return value


def _timestamp(obj: dict[str, Any], *, required: bool = False) -> float | None:
    if "timestamp" not in obj or obj["timestamp"] is None:
        if required:
            raise BadPayload("missing_field", "timestamp is missing")
        return None
    value = obj["timestamp"]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadPayload("wrong_type", f"timestamp must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or not 0 <= value < 1e11:
        raise BadPayload("wrong_type", f"timestamp {value!r} is not Unix seconds")
    return float(value)


# --- encoding ------------------------------------------------------------------------------
#: a dataclass type -> its field names (``__dataclass_fields__`` also holds the ClassVars)
_NAMES: dict[type, tuple[str, ...]] = {}


def _names(value: Any) -> tuple[str, ...]:
    names = _NAMES.get(type(value))
    if names is None:
        names = _NAMES[type(value)] = tuple(f.name for f in dataclasses.fields(value))
    return names


#: values that are their own JSON (checked first: most of a large reply is these)
_SCALARS = frozenset({str, int, float, bool, type(None)})


def _wire(value: Any) -> Any:
    """A reply, status or other dataclass -> the JSON value the contract spells."""
    if type(value) in _SCALARS:
        return value
    if isinstance(value, Shaped):
        return value.to_wire()
    if hasattr(value, "__dataclass_fields__"):
        return _fields(value)
    if isinstance(value, (list, tuple)):
        return [_wire(v) for v in value]
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items()}
    return value


def _fields(value: Any) -> dict[str, Any]:
    return {k: _wire(getattr(value, k)) for k in _names(value)}


def encode(payload: Any) -> bytes:
    """A payload, reply or status dataclass, dict or list -> compact UTF-8 JSON bytes."""
    if isinstance(payload, Flat):
        payload = {k: getattr(payload, k) for k in _names(payload)}
    else:
        payload = _wire(payload)
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
