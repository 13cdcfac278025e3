"""Waiting for a condition with a deadline (never a bare sleep)."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


async def eventually(check: Callable[[], Any | Awaitable[Any]], *, timeout: float = 10.0,
                     interval: float = 0.02, what: str | None = None) -> Any:
    """Poll ``check`` (sync or async) until it returns a truthy value; return that value.

    Raises AssertionError naming ``what`` (or the function) when the deadline passes.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = check()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        if time.monotonic() >= deadline:
            name = what or getattr(check, "__name__", repr(check))
            raise AssertionError(f"condition not met within {timeout}s: {name} (last={last!r})")
        await asyncio.sleep(interval)
