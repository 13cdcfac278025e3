"""Text in and out of CyTube: HTML chat to plain text, and replies split to fit a message.

CyTube sends chat and PM text as HTML: escaped (entities, ``&#40;``), rewritten by the
channel's chat filters, and with links wrapped in ``<a>``. The bot parses and stores what the
person typed, so :func:`plain_text` undoes all three. A new channel has five default filters
(``cytube-protocol.md`` section 4.1): `` `x` `` -> ``<code>x</code>``, ``*x*`` ->
``<strong>x</strong>``, ``_x_`` -> ``<em>x</em>``, ``~~x~~`` -> ``<s>x</s>`` and ``[sp]x[/sp]``
-> ``<span class="spoiler">x</span>``. Each replaces one marker by one tag, and what a person
types is escaped first (a typed ``<em>`` arrives as ``&lt;em&gt;``), so every such tag in a
message came from a filter and turns back into its marker. A channel whose admins changed the
filters cannot be undone in general; the defaults are what a new channel has.

CyTube silently cuts a message at 320 characters, so every reply goes through
:func:`split_message`, which never cuts text away.
"""

from __future__ import annotations

import html
import re
import time
from typing import Final

__all__ = ["MAX_MESSAGE", "FILTER_MARKERS", "plain_text", "split_message", "clock", "span", "when"]

#: CyTube's default ``max-chat-message-length``
MAX_MESSAGE: Final = 320

_TAG = re.compile(r"<[^>]*>")

#: the tags CyTube's five default chat filters put in, and the marker each one replaced
FILTER_MARKERS: Final[dict[str, str]] = {
    "<code>": "`", "</code>": "`",
    "<strong>": "*", "</strong>": "*",
    "<em>": "_", "</em>": "_",
    "<s>": "~~", "</s>": "~~",
    '<span class="spoiler">': "[sp]", "</span>": "[/sp]",
}
_FILTER_TAG = re.compile("|".join(re.escape(tag) for tag in FILTER_MARKERS))


def plain_text(msg: str) -> str:
    """CyTube's escaped, filtered, auto-linked HTML -> the text the person typed."""
    typed = _FILTER_TAG.sub(lambda m: FILTER_MARKERS[m[0]], msg)
    return html.unescape(_TAG.sub("", typed))


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


# --- times in replies: one way each -------------------------------------------------------------
def clock(seconds: float) -> str:
    """A stretch of time as a clock shows it: 75 -> ``1m15s``, 3723 -> ``1h02m03s`` (uptime,
    time connected, playback position, the pause limit)."""
    h, rem = divmod(int(seconds), 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


def span(seconds: float) -> str:
    """A duration as a moderator types it, the largest exact unit: 12 -> ``12s``, 600 ->
    ``10m``, 7200 -> ``2h``, 259200 -> ``3d`` (punishments and escalation windows)."""
    s = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size and s % size == 0:
            return f"{s // size}{unit}"
    if s >= 3600:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


def when(stamp: float) -> str:
    """A moment, in UTC to the second: ``2026-12-07 13:45:00 UTC``."""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(stamp))
