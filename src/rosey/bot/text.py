"""Text in and out of CyTube: HTML chat to plain text, and replies split to fit a message.

CyTube sends chat and PM text as HTML (entities, ``&#40;``, auto-link ``<a>`` tags); the bot
parses and stores what the person typed. CyTube silently cuts a message at 320 characters, so
every reply goes through :func:`split_message`, which never cuts text away.
"""

from __future__ import annotations

import html
import re
from typing import Final

__all__ = ["MAX_MESSAGE", "plain_text", "split_message"]

#: CyTube's default ``max-chat-message-length``
MAX_MESSAGE: Final = 320

_TAG = re.compile(r"<[^>]*>")


def plain_text(msg: str) -> str:
    """CyTube's escaped, auto-linked HTML -> the text the person typed."""
    return html.unescape(_TAG.sub("", msg))


def split_message(text: str, limit: int = MAX_MESSAGE, *, joiner: str = "\n") -> list[str]:
    """Split ``text`` into messages of at most ``limit`` characters.

    Lines are packed together, separated by ``joiner``, while they fit (CyTube shows a
    newline as a space, so replies use ``" | "``); a line longer than ``limit`` is split at word
    boundaries, and a word longer than ``limit`` is split inside the word. Nothing is dropped
    except blank lines (CyTube drops blank messages anyway).
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    pieces: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        pieces.extend(_split_line(line.rstrip(), limit))
    messages: list[str] = []
    current = ""
    for piece in pieces:
        if not current:
            current = piece
        elif len(current) + len(joiner) + len(piece) <= limit:
            current = f"{current}{joiner}{piece}"
        else:
            messages.append(current)
            current = piece
    if current:
        messages.append(current)
    return messages


def _split_line(line: str, limit: int) -> list[str]:
    if len(line) <= limit:
        return [line]
    out: list[str] = []
    current = ""
    for word in line.split(" "):
        while len(word) > limit:  # one very long word: cut it, no choice left
            if current:
                out.append(current)
                current = ""
            out.append(word[:limit])
            word = word[limit:]
        if not current:
            current = word
        elif len(current) + 1 + len(word) <= limit:
            current = f"{current} {word}"
        else:
            out.append(current)
            current = word
    if current:
        out.append(current)
    return out
