"""Links in a chat line, reduced to their host names, in linear time.

A link is either ``scheme://host...`` (any scheme; the host may be anything, ``localhost`` and
addresses included), or a bare ``name.tld`` with no scheme (``example.com/x``,
``www.example.com``) that counts only when it starts with ``www.``, is followed by a path
(``/``, ``?`` or ``#``), or ends in one of :data:`BARE_TLDS`. That keeps ``e.g.``, ``file.txt``
and ``hello.world`` out while catching what people paste. The search is one ``re2`` pass
(linear whatever the text) over the first :data:`SCAN_LIMIT` characters, and at most
:data:`MAX_LINKS` links are returned.

A listed domain covers its subdomains: ``example.com`` covers ``cdn.example.com``, not
``badexample.com``. Hosts and listed domains are compared lower-case, without a leading
``www.``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Final

import re2  # type: ignore[import-untyped, unused-ignore]

from rosey.automod import patterns

__all__ = ["SCAN_LIMIT", "MAX_LINKS", "BARE_TLDS", "find_hosts", "domain_entry", "covering"]

SCAN_LIMIT: Final = 2_000
MAX_LINKS: Final = 20
#: top-level domains that make a bare ``name.tld`` a link (the common ones, and those spam uses)
BARE_TLDS: Final = frozenset("""
    com net org info biz io co me tv gg ly to cc xyz app dev page site online top club link live
    stream fun icu vip pro shop store tech space website blog news one zip mov click download
    win bid loan gay sex xxx porn cam onion ru su cn uk de fr jp br in us ca au nl eu es it pl se
    ch be at kr tk ml ga cf gq pw ws fm am la gl gd sh so st vc ai nu id ph vn tw hk sg my th tr
    ua by kz ir mx ar cl za nz ie pt gr cz ro hu dk no fi is lt lv ee sk si hr rs bg
    """.split())

_SCHEMED: Final = r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s/?#<>\"'`]+"
#: case-sensitive on purpose, and no counted repetition of a letter class: ``(?i)`` or
#: ``\pL{2,63}`` multiply the Unicode classes into a program whose DFA runs out of memory
#: (RE2 then falls back to its NFA, ten times slower)
_BARE: Final = (r"(?:^|[^\pL\pN_.@/-])(?:[\pL\pN][\pL\pN_-]*\.)+\pL\pL+\.?(?::[0-9]+)?"
                r"[/?#]?")


def _regex() -> Any:
    options = re2.Options()
    options.log_errors = False
    options.never_capture = True  # the DFA alone finds each link; Python takes it apart
    return re2.compile(f"{_SCHEMED}|{_BARE}", options)


_FIND: Final = patterns.finder(_regex())


def _clean(host: str) -> str:
    return host.rstrip(".").lower().removeprefix("www.")


def _host(found: str) -> str | None:
    """The host of one match of the link expression, or None when a bare name is no link."""
    scheme, sep, authority = found.partition("://")
    if sep:
        host = authority.rpartition("@")[2]
        if host.startswith("["):  # [v6]:port
            return host[1:].partition("]")[0]
        return host.partition(":")[0]
    if not found[0].isalnum():  # the character before the name
        found = found[1:]
    path = found[-1] in "/?#"
    name = found.rstrip("/?#").partition(":")[0].rstrip(".")
    if path or name.lower().startswith("www.") or name.rpartition(".")[2].lower() in BARE_TLDS:
        return name
    return None


def find_hosts(text: str) -> tuple[str, ...]:
    """The host of each link in ``text`` (lower-case, no ``www.``), first seen first, no
    repeats."""
    text = text[:SCAN_LIMIT]
    if "." not in text and "://" not in text:
        return ()
    data = text.encode()
    hosts: dict[str, None] = {}
    pos = 0
    while len(hosts) < MAX_LINKS and (span := _FIND(data, pos)) is not None:
        start, pos = span
        host = _host(data[start:pos].decode())
        if host is not None and (host := _clean(host)):
            hosts[host] = None
    return tuple(hosts)


def domain_entry(entry: str) -> str:
    """A listed domain as it is compared (``*.Example.com`` -> ``example.com``); raises
    ValueError when it is not a domain."""
    domain = _clean(entry.strip().removeprefix("*").removeprefix("."))
    labels = domain.split(".")
    if not domain or "://" in entry or "/" in domain \
            or not all(label and label.replace("-", "").replace("_", "").isalnum()
                       for label in labels):
        raise ValueError("not a domain name (write example.com, not a link)")
    return domain


def covering(host: str, domains: Collection[str]) -> str | None:
    """The listed domain that covers ``host`` (itself or a parent), or None."""
    if not domains:
        return None
    while True:
        if host in domains:
            return host
        dot = host.find(".")
        if dot < 0:
            return None
        host = host[dot + 1:]
