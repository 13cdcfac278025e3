"""Channel options: ``channelOpts`` as server state, and ``setOptions`` (``src/channel/opts.js``).

:func:`set_options` is ``OptionsModule.prototype.handleSetOptions`` field by field, in the
source's order, with JavaScript's coercions (``parseInt``, ``parseFloat``, ``Boolean``,
``isNaN``, string conversion, UTF-16 ``substring``) so that odd payloads end as they do there.
Where the real handler throws a ``TypeError`` (``maxlength`` neither a string nor a number, a
non-string ``externalcss``/``externaljs``, ``chat_antiflood_params: null``), Node logs the
uncaught exception and carries on: the fields before it stay changed, the replies already sent
stay sent, and no ``channelOpts`` goes out. :func:`set_options` does the same.

What the options *do* is not modelled beyond the channel password (``password``, read by
``joinChannel``); ``afk_timeout``, ``chat_antiflood``, ``allow_dupes``, ``maxlength``,
``block_anonymous_users``, ``new_user_chat_delay`` and the rest are only stored and sent.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any, Final

from tests.support.cytube.core import guarded
from tests.support.cytube.model import Conn
from tests.support.cytube.people import People

__all__ = ["Options", "default_options", "set_options", "NON_MODERATOR_KICK", "ADMIN_ONLY"]

#: opts.js handleSetOptions: the kick reason for a sender below rank 2 (canSetOptions)
NON_MODERATOR_KICK: Final = "Attempted setOptions as a non-moderator"

#: options only a channel admin (rank 3) may change; a moderator's value is silently ignored
ADMIN_ONLY: Final = frozenset({
    "pagetitle", "externalcss", "externaljs", "show_public", "password", "torbanned",
    "block_anonymous_users", "allow_ascii_control", "playlist_max_per_user"})


def default_options(channel: str) -> dict[str, Any]:
    """OptionsModule's defaults for a new channel (the recorded ``channelOpts``)."""
    return {
        "allow_voteskip": True, "voteskip_ratio": 0.5, "afk_timeout": 600,
        "pagetitle": channel, "maxlength": 0, "externalcss": "", "externaljs": "",
        "chat_antiflood": False,
        "chat_antiflood_params": {"burst": 4, "sustained": 1, "cooldown": 4},
        "show_public": False, "enable_link_regex": True, "password": False,
        "allow_dupes": False, "torbanned": False, "block_anonymous_users": False,
        "allow_ascii_control": False, "playlist_max_per_user": 0,
        "new_user_chat_delay": 0, "new_user_chat_link_delay": 0,
        "playlist_max_duration_per_user": 0,
    }


class Options(People):
    """The channel's options (``_opts``, what ``channelOpts`` carries) and ``setOptions``."""

    _opts: dict[str, Any]

    @property
    def channel_password(self) -> str | None:
        """The channel password: ``opts.password`` (``false`` there is ``None`` here)."""
        password = self._opts["password"]
        return password if isinstance(password, str) else None

    @channel_password.setter
    def channel_password(self, password: str | None) -> None:
        self._opts["password"] = password if password else False

    @guarded()
    async def _on_set_options(self, conn: Conn, data: Any) -> None:
        """opts.js handleSetOptions (registered for a socket once it has joined)."""
        # typeof data !== "object": ignored, whoever sent it. A payload left out arrives as
        # None (undefined there), so a JSON null is ignored too rather than kicked for.
        if not isinstance(data, (dict, list)):
            return
        if conn.rank < 2:  # permissions.js canSetOptions: effectiveRank >= 2
            await self._kick_conn(conn, NON_MODERATOR_KICK)
            return
        # an array has none of the option names as keys
        fields = data if isinstance(data, dict) else {}
        send_update, replies = set_options(self._opts, fields, conn.rank)
        for event, payload in replies:
            await self._emit(conn, event, payload)
        if send_update:
            await self._broadcast("channelOpts", self._opts)


# --- handleSetOptions --------------------------------------------------------------------

class _Thrown(Exception):
    """The real handler threw (a TypeError): it stops there, without ``channelOpts``."""


def set_options(opts: dict[str, Any], data: dict[str, Any], rank: float
                ) -> tuple[bool, list[tuple[str, dict[str, Any]]]]:
    """Apply one ``setOptions`` from a sender of ``rank`` (>= 2) to ``opts`` in place.

    Returns whether ``channelOpts`` goes to the channel, and the replies to the sender
    (``validationError``, ``validationPassed``, ``errorMsg``) in the order they are sent.
    """
    replies: list[tuple[str, dict[str, Any]]] = []
    send_update = False
    try:
        send_update = _apply(opts, data, rank, replies)
    except _Thrown:
        send_update = False
    return send_update, replies


def _apply(opts: dict[str, Any], data: dict[str, Any], rank: float,
           replies: list[tuple[str, dict[str, Any]]]) -> bool:
    send_update = False

    def reply(event: str, **payload: Any) -> None:
        replies.append((event, payload))

    def given(key: str) -> bool:  # `key in data`, and `effectiveRank >= 3` for some
        return key in data and (key not in ADMIN_ONLY or rank >= 3)

    if given("allow_voteskip"):
        opts["allow_voteskip"] = _truthy(data["allow_voteskip"])
        send_update = True

    if given("voteskip_ratio"):
        ratio = _parse_float(data["voteskip_ratio"])
        if math.isnan(ratio) or ratio < 0:
            reply("validationError", target="#cs-voteskip_ratio",
                  message="Input must be a number 0 or greater, not "
                          f'"{_to_string(data["voteskip_ratio"])}"')
        else:
            opts["voteskip_ratio"] = _num(ratio)
            send_update = True
            reply("validationPassed", target="#cs-voteskip_ratio")

    if given("afk_timeout"):
        timeout = _parse_int(data["afk_timeout"])
        if math.isnan(timeout) or timeout < 0 or timeout > 86400:
            reply("validationError", target="#cs-afk_timeout",
                  message="AFK timeout must be between 1 and 86400 seconds (or 0 to disable)")
        else:
            reply("validationPassed", target="#cs-afk_timeout")
            opts["afk_timeout"] = _num(timeout)  # (users' auto-AFK timers: not modelled)
            send_update = True

    if given("pagetitle"):
        title = _unzalgo(_substring(_to_string(data["pagetitle"]), 100))
        # `title.trim().match(Config.get("reserved-names.pagetitles"))`: with the default
        # config (no reserved titles) that is `.match(false)`, i.e. the RegExp /false/
        if not _RESERVED_PAGETITLE.search(_trim(title)):
            opts["pagetitle"] = title
            send_update = True
        else:
            reply("errorMsg", msg="That pagetitle is reserved", alert=True)

    if given("maxlength"):
        value = data["maxlength"]
        if _is_number(value):
            length = _parse_int(value)
        elif isinstance(value, str):
            length = _parse_time(value)
        else:
            raise _Thrown("Utilities.parseTime: time.split is not a function")
        opts["maxlength"] = 0 if math.isnan(length) or length < 0 else _num(length)
        send_update = True

    if given("playlist_max_duration_per_user"):
        most = data["playlist_max_duration_per_user"]
        if not _is_number(most) or math.isnan(most) or most < 0:
            reply("errorMsg", msg="Expected number for playlist_max_duration_per_user, "
                                  f'not "{_to_string(most)}"')
        else:
            opts["playlist_max_duration_per_user"] = _num(most)
            send_update = True

    for key, what in (("externalcss", "CSS"), ("externaljs", "JS")):
        if given(key):
            send_update = _set_external(opts, key, what, data[key], reply, send_update)

    if given("chat_antiflood"):
        opts["chat_antiflood"] = _truthy(data["chat_antiflood"])
        send_update = True

    if given("chat_antiflood_params"):
        params = data["chat_antiflood_params"]
        if params is None:
            raise _Thrown("Cannot read properties of null (reading 'burst')")
        if not isinstance(params, (dict, list)):  # typeof !== "object": the defaults
            params = {"burst": 4, "sustained": 1}
        fields = params if isinstance(params, dict) else {}
        burst = _parse_int(fields.get("burst", _UNDEFINED))
        if math.isnan(burst) or burst < 0:
            burst = 1
        burst = min(20, burst)
        sustained = _parse_float(fields.get("sustained", _UNDEFINED))
        if math.isnan(sustained) or sustained <= 0:
            sustained = 1
        sustained = min(10, sustained)
        opts["chat_antiflood_params"] = {"burst": _num(burst), "sustained": _num(sustained),
                                         "cooldown": _num(burst / sustained)}
        send_update = True

    if given("show_public"):
        opts["show_public"] = _truthy(data["show_public"])
        send_update = True

    if given("enable_link_regex"):
        opts["enable_link_regex"] = _truthy(data["enable_link_regex"])
        send_update = True

    if given("password"):
        password = _to_string(data["password"])  # `data.password + ""`: null is "null"
        opts["password"] = _substring(password, 100) if password else False
        send_update = True

    if given("allow_dupes"):
        opts["allow_dupes"] = _truthy(data["allow_dupes"])
        send_update = True

    for key in ("torbanned", "block_anonymous_users", "allow_ascii_control"):
        if given(key):
            opts[key] = _truthy(data[key])
            send_update = True

    if given("playlist_max_per_user"):
        most = _parse_int(data["playlist_max_per_user"])
        if not math.isnan(most) and most >= 0:
            opts["playlist_max_per_user"] = _num(most)
            send_update = True

    for key in ("new_user_chat_delay", "new_user_chat_link_delay"):
        if given(key):
            # `!isNaN(delay) && delay >= 0`, and then the value is stored as it came:
            # "30" stays a string, [5] an array, null null; nothing is parsed or rounded
            delay = data[key]
            number = _to_number(delay)
            if not math.isnan(number) and number >= 0:
                opts[key] = _as_parsed(delay)
                send_update = True
    return send_update


def _set_external(opts: dict[str, Any], key: str, what: str, value: Any, reply: Any,
                  send_update: bool) -> bool:
    """``externalcss`` / ``externaljs`` (rank 3): an ``https://`` URL with a host, or ""."""
    target = f"#cs-{key}"
    prefix = f"Invalid URL for external {what}: "
    if not isinstance(value, str):
        reply("validationError", target=target,
              message=prefix + "URL must be a string, not " + _type_of(value))
        raise _Thrown(f"data.{key}.substring is not a function")  # no return in the source
    link = _trim(_substring(value, 255))
    if not link:
        # assigned, not or-ed: an earlier field's change goes unsent when this one was ""
        send_update = opts[key] != ""
        opts[key] = ""
        reply("validationPassed", target=target)
        return send_update
    protocol, host, href = _parse_url(link)
    if protocol != "https:":
        reply("validationError", target=target,
              message=prefix + " URL must begin with 'https://'")  # two spaces, as sent
    elif not host:
        reply("validationError", target=target, message=prefix + "missing hostname")
    else:
        reply("validationPassed", target=target)
        opts[key] = href
        send_update = True
    return send_update


# --- JavaScript semantics ----------------------------------------------------------------

class _Undefined:
    def __repr__(self) -> str:
        return "undefined"


_UNDEFINED: Final = _Undefined()
# String.prototype.trim and the StrWhiteSpaceChar of Number(): WhiteSpace + LineTerminator
_JS_SPACE: Final = ("\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
                    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff")
_DECIMAL: Final = r"(?:Infinity|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
_NUMBER_LITERAL: Final = re.compile(rf"[+-]?{_DECIMAL}")
_RESERVED_PAGETITLE: Final = re.compile("false")


def _trim(text: str) -> str:
    return text.strip(_JS_SPACE)


def _is_number(value: Any) -> bool:
    """``typeof value === "number"``."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _type_of(value: Any) -> str:
    """opts.js realTypeOf: ``typeof``, with ``null`` for null."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if _is_number(value):
        return "number"
    if isinstance(value, str):
        return "string"
    return "undefined" if value is _UNDEFINED else "object"


def _truthy(value: Any) -> bool:
    """``Boolean(value)``: every array and object is true, "" and 0 and null are false."""
    if value is None or value is _UNDEFINED:
        return False
    if isinstance(value, (dict, list)):
        return True
    if _is_number(value):
        return not (value == 0 or math.isnan(value))
    return bool(value)


def _as_double(value: int | float) -> float:
    try:
        return float(value)
    except OverflowError:  # a JSON integer beyond the doubles: Infinity in JavaScript
        return math.inf if value > 0 else -math.inf


def _number_to_string(value: float) -> str:
    """``Number.prototype.toString()``: "1", "0.5", "1e+21", "1e-7"."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    if value < 0:
        return "-" + _number_to_string(-value)
    _, digit_tuple, exponent = Decimal(repr(value)).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    k = len(digits)
    n = int(exponent) + k  # the decimal point sits after n digits
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return f"{digits[:n]}.{digits[n:]}"
    if -6 < n <= 0:
        return "0." + "0" * -n + digits
    mantissa = digits if k == 1 else f"{digits[0]}.{digits[1:]}"
    return f"{mantissa}e{'+' if n - 1 >= 0 else '-'}{abs(n - 1)}"


def _to_string(value: Any) -> str:
    """``String(value)`` (also ``value + ""`` and a template literal's ``${value}``)."""
    if value is None:
        return "null"
    if value is _UNDEFINED:
        return "undefined"
    if isinstance(value, bool):
        return "true" if value else "false"
    if _is_number(value):
        return _number_to_string(_as_double(value))
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # Array.prototype.join: null and undefined become ""
        return ",".join("" if item is None else _to_string(item) for item in value)
    return "[object Object]"


def _to_number(value: Any) -> float:
    """``Number(value)`` (what ``isNaN(value)`` and ``value >= 0`` look at)."""
    if value is None:
        return 0.0
    if value is _UNDEFINED:
        return math.nan
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if _is_number(value):
        return _as_double(value)
    if isinstance(value, dict):
        return math.nan
    text = _trim(_to_string(value))
    if not text:
        return 0.0
    for prefix, base in (("0x", 16), ("0o", 8), ("0b", 2)):
        if text[:2].lower() == prefix:
            try:
                return _as_double(int(text[2:], base))
            except ValueError:
                return math.nan
    if _NUMBER_LITERAL.fullmatch(text):
        return float(text.replace("Infinity", "inf"))
    return math.nan


def _parse_int(value: Any) -> float:
    """``parseInt(value)`` (no radix: a leading "0x" means hexadecimal)."""
    text = _to_string(value).lstrip(_JS_SPACE)
    sign = -1 if text[:1] == "-" else 1
    if text[:1] in "+-":
        text = text[1:]
    base, pattern = 10, r"[0-9]+"
    if text[:2].lower() == "0x":
        base, pattern, text = 16, r"[0-9a-fA-F]+", text[2:]
    match = re.match(pattern, text)
    if match is None:
        return math.nan
    return sign * _as_double(int(match.group(), base))


def _parse_float(value: Any) -> float:
    """``parseFloat(value)``: the longest decimal literal at the start (or Infinity)."""
    match = _NUMBER_LITERAL.match(_to_string(value).lstrip(_JS_SPACE))
    if match is None:
        return math.nan
    return float(match.group().replace("Infinity", "inf"))


def _parse_time(text: str) -> float:
    """utilities.js parseTime: "[[H:]M:]S" in seconds; four or more parts are 0."""
    parts = text.split(":")[::-1]
    if len(parts) > 3:
        return 0
    return sum(_parse_int(part) * scale for part, scale in zip(parts, (1, 60, 3600), strict=False))


def _num(value: float) -> Any:
    """A number as ``JSON.stringify`` writes it: 1 rather than 1.0, null for Infinity."""
    number = _as_double(value)
    if math.isnan(number) or math.isinf(number):
        return None
    return int(number) if number.is_integer() else number


def _as_parsed(value: Any) -> Any:
    """A JSON value as JavaScript holds it: every number a double (1e24, not 10**24)."""
    if _is_number(value):
        return _num(value)
    if isinstance(value, list):
        return [_as_parsed(item) for item in value]
    if isinstance(value, dict):
        return {key: _as_parsed(item) for key, item in value.items()}
    return value


def _substring(text: str, length: int) -> str:
    """``text.substring(0, length)``: JavaScript counts UTF-16 code units."""
    units = text.encode("utf-16-le", "surrogatepass")[:2 * length]
    return units.decode("utf-16-le", "surrogatepass")


def _parse_url(link: str) -> tuple[str | None, str, str]:
    """What the handler uses of Node's legacy ``url.parse(link)``: protocol, host and href.

    Modelled after Node 20's ``lib/url.js``: the protocol and host lowercased, ``user@`` kept,
    the host ending where a host cannot go on, a port split off, the path's unsafe characters
    percent-escaped, "/" for an empty path. Not modelled: IDNA (``xn--``), IPv6 hosts (which
    can make Node throw), the escaping of ``user@``.
    """
    link = re.sub(r"[\t\n\r]", "", link.strip(_URL_SPACE))
    query = min((i for i in (link.find("?"), link.find("#")) if i != -1), default=len(link))
    link = link[:query].replace("\\", "/") + link[query:]  # backslashes before the query
    match = re.match(r"[a-z0-9.+-]+:", link, re.I)
    if match is None:
        return None, "", link
    typed, protocol = match.group(), match.group().lower()
    rest = link[match.end():]
    slashes = rest.startswith("//")
    if slashes:
        rest = rest[2:]
    elif typed == protocol:  # "https:x" has no host; "HTTPS:x" does (url.js compares as typed)
        return protocol, "", protocol + _escape_path(rest)
    non_host = at_sign = -1
    for i, char in enumerate(rest):
        if char == "@":
            at_sign, non_host = i, -1
        elif char in "#/?":
            non_host = i if non_host == -1 else non_host
            break
        elif char in _NON_HOST and non_host == -1:
            non_host = i
    auth = rest[:at_sign + 1]
    host = rest[at_sign + 1:] if non_host == -1 else rest[at_sign + 1:non_host]
    rest = "" if non_host == -1 else rest[non_host:]
    port = re.search(r":[0-9]*$", host)
    hostname = host[:port.start()] if port else host
    port_text = port.group() if port and port.group() != ":" else ""
    for i, char in enumerate(hostname):
        if char in "/\\#?:":
            hostname, rest = hostname[:i], "/" + hostname[i:] + rest
            break
    hostname = "" if len(hostname) > 255 else hostname.lower()
    host = hostname + port_text
    rest = _escape_path(rest)
    path_end = min((i for i in (rest.find("?"), rest.find("#")) if i != -1), default=len(rest))
    if not rest[:path_end] and hostname:
        rest = "/" + rest
    elif rest and not rest.startswith("/"):
        rest = "/" + rest
    return protocol, host, f"{protocol}//{auth}{host}{rest}"


def _escape_path(rest: str) -> str:
    return "".join(_URL_ESCAPES.get(char, char) for char in rest)


# url.js: the ends it trims, the characters that end a host, the path's autoEscapeStr
_URL_SPACE: Final = "".join(map(chr, range(33))) + "\u00a0\ufeff"
_NON_HOST: Final = frozenset("\t\n\r \"%';<>\\^`{|}")
_URL_ESCAPES: Final = {char: f"%{ord(char):02X}" for char in "\t\n\r \"'<>\\^`{|}"}


# opts.js unzalgo: the combining marks CyTube strips from a page title (its regex, as ranges)
_COMBINER_RANGES: Final = (
    "0300-036f 0483-0487 0591-05bd 05bf 05c1-05c2 05c4-05c5 05c7 0610-061a 064b-065f 0670 "
    "06d6-06dc 06df-06e4 06e7-06e8 06ea-06ed 0711 0730-074a 07a6-07b0 07eb-07f3 0816-0819 "
    "081b-0823 0825-0827 0829-082d 0859-085b 08e4-0902 093a 093c 0941-0948 094d 0951-0957 "
    "0962-0963 0981 09bc 09c1-09c4 09cd 09e2-09e3 0a01-0a02 0a3c 0a41-0a42 0a47-0a48 "
    "0a4b-0a4d 0a51 0a70-0a71 0a75 0a81-0a82 0abc 0ac1-0ac5 0ac7-0ac8 0acd 0ae2-0ae3 0b01 "
    "0b3c 0b3f 0b41-0b44 0b4d 0b56 0b62-0b63 0b82 0bc0 0bcd 0c00 0c3e-0c40 0c46-0c48 "
    "0c4a-0c4d 0c55-0c56 0c62-0c63 0c81 0cbc 0cbf 0cc6 0ccc-0ccd 0ce2-0ce3 0d01 0d41-0d44 "
    "0d4d 0d62-0d63 0dca 0dd2-0dd4 0dd6 0e31 0e34-0e3a 0e47-0e4e 0eb1 0eb4-0eb9 0ebb-0ebc "
    "0ec8-0ecd 0f18-0f19 0f35 0f37 0f39 0f71-0f7e 0f80-0f84 0f86-0f87 0f8d-0f97 0f99-0fbc "
    "0fc6 102d-1030 1032-1037 1039-103a 103d-103e 1058-1059 105e-1060 1071-1074 1082 "
    "1085-1086 108d 109d 135d-135f 1712-1714 1732-1734 1752-1753 1772-1773 17b4-17b5 "
    "17b7-17bd 17c6 17c9-17d3 17dd 180b-180d 18a9 1920-1922 1927-1928 1932 1939-193b "
    "1a17-1a18 1a1b 1a56 1a58-1a5e 1a60 1a62 1a65-1a6c 1a73-1a7c 1a7f 1ab0-1abd 1b00-1b03 "
    "1b34 1b36-1b3a 1b3c 1b42 1b6b-1b73 1b80-1b81 1ba2-1ba5 1ba8-1ba9 1bab-1bad 1be6 "
    "1be8-1be9 1bed 1bef-1bf1 1c2c-1c33 1c36-1c37 1cd0-1cd2 1cd4-1ce0 1ce2-1ce8 1ced 1cf4 "
    "1cf8-1cf9 1dc0-1df5 1dfc-1dff 20d0-20dc 20e1 20e5-20f0 2cef-2cf1 2d7f 2de0-2dff "
    "302a-302d 3099-309a a66f a674-a67d a69f a6f0-a6f1 a802 a806 a80b a825-a826 a8c4 "
    "a8e0-a8f1 a926-a92d a947-a951 a980-a982 a9b3 a9b6-a9b9 a9bc a9e5 aa29-aa2e aa31-aa32 "
    "aa35-aa36 aa43 aa4c aa7c aab0 aab2-aab4 aab7-aab8 aabe-aabf aac1 aaec-aaed aaf6 abe5 "
    "abe8 abed fb1e fe00-fe0f fe20-fe2d"
)
_COMBINERS: Final = re.compile("[" + "".join(
    "-".join(chr(int(end, 16)) for end in span.split("-"))
    for span in _COMBINER_RANGES.split()) + "]")


def _unzalgo(text: str) -> str:
    return _COMBINERS.sub("", text)
