"""A blocklist entry -> CyTube's ``type:id``: the shorthand itself, or a YouTube URL.

CyTube names a playlist item by its two-letter type and the site's id (``yt:dQw4w9WgXcQ``,
``vi:123456``, ``dm:x7abc``); a blocklist matches on exactly that. For convenience an entry may
also be a YouTube link, with or without its scheme: ``youtube.com/watch?v=ID`` (also ``m.``,
``music.`` and ``www.``), ``youtu.be/ID``, ``youtube.com/shorts/ID``, ``/embed/ID``, ``/live/ID``
and ``/v/ID``. Links to other sites are refused with a hint to write ``type:id`` instead: the
bot's own link parser (``rosey.bot.media``) is not used here, so that this package imports
nothing from the bot.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import parse_qs, urlsplit

__all__ = ["MEDIA_TYPES", "media_key"]

#: CyTube's media types (``www/js/util.js``)
MEDIA_TYPES: Final = frozenset(
    "yt yp vi dm sc li tw tv tc rt hl cu gd fi sb pt cm bc od bn nv".split())
_SHORTHAND: Final = re.compile(r"([a-z]{2}):(\S+)")
_YT_ID: Final = re.compile(r"[\w-]{11}")
_YT_HOSTS: Final = frozenset({"youtube.com", "m.youtube.com", "music.youtube.com",
                              "youtube-nocookie.com"})
_YT_PATHS: Final = ("shorts", "embed", "live", "v")


def _youtube_id(host: str, path: str, query: str) -> str | None:
    parts = [p for p in path.split("/") if p]
    if host == "youtu.be":
        return parts[0] if parts else None
    if host not in _YT_HOSTS:
        return None
    if parts == ["watch"]:
        ids = parse_qs(query).get("v")
        return ids[0] if ids else None
    if len(parts) >= 2 and parts[0] in _YT_PATHS:
        return parts[1]
    return None


def media_key(entry: str) -> str:
    """``entry`` as ``type:id``; raises ValueError (message: why, in a few words)."""
    entry = entry.strip()
    m = _SHORTHAND.fullmatch(entry)
    if m:
        if m.group(1) not in MEDIA_TYPES:
            raise ValueError(f"{m.group(1)!r} is not a CyTube media type "
                             f"({', '.join(sorted(MEDIA_TYPES))})")
        return entry
    url = entry if "://" in entry else "https://" + entry
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().removeprefix("www.")
    except ValueError:  # a malformed URL (an unclosed "[" in the host)
        host, parts = "", urlsplit("")
    ident = _youtube_id(host, parts.path, parts.query)
    if ident is None or not _YT_ID.fullmatch(ident):
        raise ValueError("not type:id (like yt:dQw4w9WgXcQ or vi:123456) nor a YouTube video "
                         "link")
    return f"yt:{ident}"
