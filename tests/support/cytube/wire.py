"""What goes on the wire: CyTube's names, text formatting and JavaScript-shaped numbers."""

from __future__ import annotations

import base64
import hashlib
import re
import time
from typing import Any, Final

__all__ = [
    "MAX_CHAT_LENGTH", "HISTORY_LENGTH", "DEFAULT_MEDIA_SECONDS", "LEAD_IN_SECONDS", "LIVE_TYPES",
    "KNOWN_TYPES", "CHANNEL_NAME", "USER_NAME", "RESERVED_NAMES", "CONTROL", "EMPTY_MD5",
    "SERVER_WHISPER", "NO_DATA", "DEFAULT_FILTERS", "escape_text", "apply_filters",
    "format_chat", "js_num", "now_ms", "format_time",
    "format_link", "cloak_ip",
]

MAX_CHAT_LENGTH: Final = 320
HISTORY_LENGTH: Final = 15
DEFAULT_MEDIA_SECONDS: Final = 60
LEAD_IN_SECONDS: Final = 3.0
LIVE_TYPES: Final = frozenset({"li", "tw", "rt", "cu", "hl"})
KNOWN_TYPES: Final = frozenset(
    "yt yp vi dm sc li tw tv tc rt hl cu gd fi sb pt cm bc od bn nv".split())

CHANNEL_NAME: Final = re.compile(r"^[\w-]{1,30}$", re.ASCII)
USER_NAME: Final = re.compile(r"^[\w-]{1,20}$", re.ASCII)
RESERVED_NAMES: Final = (re.compile(r"^(.*?[-_])?admin(istrator)?([-_].*)?$", re.I),
                         re.compile(r"^(.*?[-_])?owner([-_].*)?$", re.I))
CONTROL: Final = re.compile(r"[\x00-\x1f]+")
# src/channel/chat.js LINK, applied to the already escaped text as CyTube does.
_LINK = re.compile(r"(\w+://(?:[^:/\[\]\s]+|\[[0-9a-f:]+\])(?::\d+)?(?:/[^/\s]*)*)", re.I)
# chat.js LINK_PLACEHOLDER: links wait behind it while the filters run
_LINK_PLACEHOLDER: Final = "\ueeee"
_PLACEHOLDER_RE: Final = re.compile(_LINK_PLACEHOLDER)
# filters.js DEFAULT_FILTERS: name, source, flags, replacement (none of them filterlinks)
DEFAULT_FILTERS: Final = (
    (re.compile(r"`(.+?)`"), r"<code>\1</code>"),
    (re.compile(r"\*(.+?)\*"), r"<strong>\1</strong>"),
    (re.compile(r"_(.+?)_"), r"<em>\1</em>"),
    (re.compile(r"~~(.+?)~~"), r"<s>\1</s>"),
    (re.compile(r"\[sp\](.*?)\[\/sp\]", re.I), r'<span class="spoiler">\1</span>'),
)
_ESCAPES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"), ("'", "&#39;"),
            ("(", "&#40;"), (")", "&#41;"))

EMPTY_MD5: Final = base64.b64encode(hashlib.md5(b"").digest()).decode()
SERVER_WHISPER: Final[dict[str, Any]] = {"addClass": "server-whisper",
                                         "addClassToNameAndTimestamp": True}
#: "emit the event with no argument" (None would be sent as null)
NO_DATA: Final = object()


def escape_text(text: str) -> str:
    """Escape like CyTube's ``xss.js`` sanitizeText: ``& < > " ' ( )`` become entities."""
    for raw, entity in _ESCAPES:
        text = text.replace(raw, entity)
    return text


def apply_filters(text: str) -> str:
    """A new channel's five default chat filters (``src/channel/filters.js``), in order."""
    for pattern, replace in DEFAULT_FILTERS:
        text = pattern.sub(replace, text)
    return text


def format_chat(text: str) -> str:
    """The ``msg`` CyTube sends for typed chat or PM ``text`` (``chat.js`` formatMessage).

    Escaped first (xss.js); then the links found in the escaped text are set aside behind a
    placeholder, the channel's filters run on the rest (the defaults are not ``filterlinks``
    filters, so a link is never rewritten), and each link comes back wrapped in ``<a>``.
    """
    escaped = escape_text(text)
    links = _LINK.findall(escaped)
    filtered = apply_filters(_LINK.sub(_LINK_PLACEHOLDER, escaped))
    wrapped = iter(links)

    def restore(_: re.Match[str]) -> str:
        link = next(wrapped, "")
        return f'<a href="{link}" target="_blank" rel="noopener noreferrer">{link}</a>' \
            if link else ""
    return _PLACEHOLDER_RE.sub(restore, filtered)


def js_num(value: float) -> float:
    """A number as JavaScript would put it in JSON: ``1`` rather than ``1.0``."""
    return int(value) if float(value).is_integer() else float(value)


def now_ms() -> int:
    return int(time.time() * 1000)


def format_time(seconds: float) -> str:
    sec = int(seconds)
    h, rem = divmod(sec, 3600)
    m, s = divmod(rem, 60)
    return f"{h:02d}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def format_link(media_id: str, media_type: str) -> str:
    prefix = {"yt": "https://youtu.be/", "vi": "https://vimeo.com/",
              "dm": "https://dailymotion.com/video/", "li": "https://livestream.com/",
              "tw": "https://twitch.tv/", "gd": "https://docs.google.com/file/d/",
              "sb": "https://streamable.com/", "tc": "https://clips.twitch.tv/",
              "tv": "https://www.twitch.tv/videos/",
              "yp": "https://youtube.com/playlist?list="}
    if media_type in prefix:
        return prefix[media_type] + media_id
    return media_id if media_type in {"sc", "rt", "fi", "cm", "hl"} else ""


def cloak_ip(ip: str) -> str:
    """CyTube's cloakIP for IPv4: every octet replaced by 3 characters of an md5."""
    parts, acc, out = ip.split("."), "", []
    for i, segment in enumerate(parts):
        digest = hashlib.md5(f"{acc}{segment}{i}".encode()).digest()
        out.append(base64.b64encode(digest).decode()[:3])
        acc += segment
    return ".".join(out)
