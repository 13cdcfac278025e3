"""The commands of automatic moderation: ``automod`` and ``raid`` (``docs/automod.md``).

Handlers are ``AutoModCommands.cmd_<name>``, named by the table of commands."""

from __future__ import annotations

from rosey.bot.automod import AutoMod
from rosey.bot.raid import Raid
from rosey.commands import USAGE
from rosey.errors import CommandError

__all__ = ["AutoModCommands"]


class AutoModCommands:
    def __init__(self, *, automod: AutoMod, raid: Raid) -> None:
        self._automod = automod
        self._raid = raid

    async def cmd_automod(self, args: str, caller: str) -> str:
        """``automod``: the rules in force and their hits; ``automod dry|live <rule>``."""
        parts = args.split()
        if not parts:
            return "\n".join(self._automod.summary())
        if len(parts) != 2 or parts[0].lower() not in ("dry", "live"):
            raise CommandError("usage: " + USAGE["automod"])
        if not self._automod.path:
            raise CommandError("Automatic moderation is off (no rules file: ROSEY_AUTOMOD_FILE)")
        return self._automod.set_mode(parts[1], parts[0].lower() == "dry")

    async def cmd_raid(self, args: str, caller: str) -> str:
        """``raid on|off|status``."""
        word = args.strip().lower() or "status"
        if word == "status":
            return self._raid.status()
        if word == "on":
            return await self._raid.start(f"switched on by {caller}", actor=caller)
        if word == "off":
            return await self._raid.stop(f"switched off by {caller}")
        raise CommandError("usage: " + USAGE["raid"])
