"""Media links -> CyTube's ``{id, type}``, after the official client's ``parseMediaLink``.

The CyTube server does not parse URLs; the client does, and sends ``queue {id, type}``. This
module follows ``www/js/util.js`` (see ``cytube-protocol.md`` section 5): a shorthand
``xx:ID``, the known hosts, ``rtmp://``, ``.m3u8``, ``.json``, and any other ``https`` URL as a
raw file. A known host may be given without its scheme (``youtu.be/ID``); anything else needs
its full URL, and a host without a dot is not a link: ``add garbage`` is refused here rather
than sent to CyTube as the raw file ``https://garbage``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qs, urlsplit

__all__ = ["MediaRef", "parse_media_link", "MEDIA_TYPES"]

MEDIA_TYPES: Final = frozenset(
    "yt yp vi dm sc li tw tv tc rt hl cu gd fi sb pt cm bc od bn nv".split())

_SHORTHAND = re.compile(r"^([a-z]{2}):(.+)$", re.DOTALL)
_YP = re.compile(r"^(PL[\w-]{32}|PL[A-F0-9]{16}|OLA[\w-]{38})$")


@dataclass(frozen=True, slots=True)
class MediaRef:
    """What ``queue`` needs: the media id and its two-letter type."""

    id: str
    type: str


def _cut(value: str, chars: str) -> str:
    return re.split(f"[{re.escape(chars)}]", value, maxsplit=1)[0]


def parse_media_link(url: str) -> MediaRef | None:
    """Return the media reference for ``url``, or None when CyTube could not play it."""
    url = url.strip()
    if not url:
        return None
    m = _SHORTHAND.match(url)
    if m:
        kind, ident = m.group(1), m.group(2)
        if kind not in MEDIA_TYPES:
            return None
        if kind not in ("fi", "cm"):
            ident = _cut(ident, "?&#" + ("_" if kind == "dm" else ""))
        if kind == "yp" and not _YP.match(ident):
            return None
        return MediaRef(ident, kind) if ident else None
    if url.startswith("rtmp://"):
        return MediaRef(url, "rt")
    bare = "://" not in url
    if bare:
        url = "https://" + url
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host.startswith("www."):
        host = host[4:]
    path = parts.path
    query = parse_qs(parts.query)
    segments = [s for s in path.split("/") if s]
    if parts.scheme not in ("http", "https") or "." not in host:
        return None  # "garbage", "https://garbage": not a link at all
    ref = _known_host(host, segments, query, url)
    if ref is not None:
        return ref
    if bare:
        return None  # a raw file, stream or manifest needs its full https:// URL
    if path.endswith(".m3u8"):
        return MediaRef(url, "hl")
    if path.endswith(".json"):
        return MediaRef(url, "cm")
    if parts.scheme == "https":
        return MediaRef(url, "fi")
    return None  # the official client refuses plain-http raw files


def _known_host(host: str, seg: list[str], query: dict[str, list[str]],
                url: str) -> MediaRef | None:
    first = seg[0] if seg else ""
    if host in ("youtube.com", "m.youtube.com", "music.youtube.com"):
        if first == "watch" and query.get("v"):
            return MediaRef(query["v"][0], "yt")
        if first == "shorts" and len(seg) > 1:
            return MediaRef(seg[1][:11], "yt")
        if first == "playlist" and query.get("list"):
            return MediaRef(query["list"][0], "yp")
        return MediaRef(seg[-1], "yt") if seg else None
    if host == "youtu.be":
        return MediaRef(first, "yt") if first else None
    if host == "vimeo.com":
        return MediaRef(seg[-1], "vi") if seg else None
    if host == "dailymotion.com" and first == "video" and len(seg) > 1:
        return MediaRef(_cut(seg[1], "_"), "dm")
    if host.endswith("soundcloud.com"):
        return MediaRef(url, "sc")
    if host == "clips.twitch.tv" and seg:
        return MediaRef(first, "tc")
    if host in ("twitch.tv", "m.twitch.tv") and seg:
        if first == "videos" and len(seg) > 1:
            return MediaRef("v" + seg[1], "tv")
        if "clip" in seg and seg.index("clip") + 1 < len(seg):
            return MediaRef(seg[seg.index("clip") + 1], "tc")
        return MediaRef(first, "tw")
    if host == "streamable.com" and seg:
        return MediaRef(first, "sb")
    if host in ("drive.google.com", "docs.google.com"):
        if "d" in seg and seg.index("d") + 1 < len(seg):
            return MediaRef(seg[seg.index("d") + 1], "gd")
        if query.get("id"):
            return MediaRef(query["id"][0], "gd")
        return None
    if host == "livestream.com" and len(seg) >= 4 and seg[0] == "accounts" and seg[2] == "events":
        return MediaRef(f"{seg[1]};{seg[3]}", "li")
    if host == "bitchute.com" and first == "video" and len(seg) > 1:
        return MediaRef(seg[1], "bc")
    if host == "nicovideo.jp" and first == "watch" and len(seg) > 1:
        return MediaRef(seg[1], "nv")
    if host == "odysee.com" and len(seg) >= 2 and first.startswith("@"):
        user = first[1:].split(":")[0]
        video = seg[1].split(":")[0]
        return MediaRef(f"{user};{video}", "od")
    if host.endswith(".bandcamp.com") and first == "track" and len(seg) > 1:
        return MediaRef(f"{host.split('.')[0]};{seg[1]}", "bn")
    if first == "w" and len(seg) > 1 and re.fullmatch(r"[\w-]{22}", seg[1]):
        return MediaRef(f"{host};{seg[1]}", "pt")
    if seg[:2] == ["videos", "watch"] and len(seg) > 2 and re.fullmatch(
            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", seg[2]):
        return MediaRef(f"{host};{seg[2]}", "pt")
    return None
