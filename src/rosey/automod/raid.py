"""The rules file's ``raid`` section: when raid mode starts and what it changes.

::

    raid:
      joins_per_minute: 20       # each trigger: that many in a minute starts raid mode;
      guests_per_minute: 10      # absent or 0: that trigger is off (``raid on`` still works)
      new_users_per_minute: 10   # users this bot has never seen before
      same_line_users: 5         # one line (any case and spacing) from that many users
      calm: 10m                  # raid mode ends after this long without a trigger
      options:                   # CyTube channel options set while it lasts (at least one),
        block_anonymous_users: true   # named and typed as CyTube's channelOpts has them
        new_user_chat_delay: 600
        chat_antiflood: true
      announce_on: "Raid mode: new users wait 10 minutes to chat"   # "" or absent: say nothing
      announce_off: "Raid mode is over"
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Final

from rosey.automod.fields import Fields, show
from rosey.automod.model import RaidConfig

__all__ = ["RAID_FIELDS", "CHANNEL_OPTIONS", "parse_raid"]

RAID_FIELDS: Final = ("joins_per_minute", "guests_per_minute", "new_users_per_minute",
                      "same_line_users", "calm", "options", "announce_on", "announce_off")
#: CyTube's channel options (``src/channel/opts.js``) and the type of each value
CHANNEL_OPTIONS: Final[dict[str, tuple[type, ...]]] = {
    **dict.fromkeys(("allow_voteskip", "allow_dupes", "chat_antiflood", "show_public",
                     "enable_link_regex", "torbanned", "block_anonymous_users",
                     "allow_ascii_control"), (bool,)),
    **dict.fromkeys(("voteskip_ratio", "afk_timeout", "maxlength", "playlist_max_per_user",
                     "playlist_max_duration_per_user", "new_user_chat_delay",
                     "new_user_chat_link_delay"), (int, float)),
    **dict.fromkeys(("pagetitle", "externalcss", "externaljs"), (str,)),
    "password": (str, bool),
    "chat_antiflood_params": (dict,),
}
_FLOOD_PARAMS: Final = frozenset({"burst", "sustained", "cooldown"})


def _option(f: Fields, name: Any, value: Any) -> None:
    if not isinstance(name, str) or name not in CHANNEL_OPTIONS:
        raise f.error("options", f"{show(name)} is not a CyTube channel option "
                                 f"({', '.join(sorted(CHANNEL_OPTIONS))})")
    types = CHANNEL_OPTIONS[name]
    wrong = not isinstance(value, types) or (isinstance(value, bool) and bool not in types)
    if wrong or (isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0):
        kind = "/".join({bool: "true or false", int: "a number", float: "a number",
                         str: "text", dict: "a mapping"}[t] for t in types if t is not float)
        raise f.error("options", f"{name}: {show(value)} is not {kind}")
    if isinstance(value, dict):
        bad = [k for k, v in value.items() if k not in _FLOOD_PARAMS
               or isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0]
        if bad:
            raise f.error("options", f"{name}: {show(bad[0])} is not one of burst, sustained, "
                                     "cooldown with a number")


def parse_raid(data: Any, source: str) -> RaidConfig:
    """The ``raid`` mapping -> :class:`RaidConfig` (raises ConfigError naming the field)."""
    f = Fields(data if isinstance(data, dict) else {}, source=source, where="raid")
    if not isinstance(data, dict):
        raise f.error(None, f"{show(data)} is not a mapping")
    f.only(RAID_FIELDS, "raid")
    counts = {name: f.integer(name, 0, minimum=0, maximum=100_000) for name in RAID_FIELDS[:4]}
    options = f.raw("options")
    if not isinstance(options, dict) or not options:
        raise f.error("options", "required: the CyTube channel options raid mode sets, like "
                                 "block_anonymous_users: true")
    for name, value in options.items():
        _option(f, name, value)
    config = RaidConfig(**counts, options=MappingProxyType(dict(options)),
                        announce_on=f.text("announce_on", ""),
                        announce_off=f.text("announce_off", ""),
                        calm=float(f.duration("calm", 600)))
    return config
