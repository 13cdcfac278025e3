"""The moderators' commands: one table, each command once.

Each row says what a command is called, how it is used (``help`` lists these lines in this
order, and the bot's rank refusals in ``status`` and ``/readyz`` come in it too), which channel
permissions the bot's own rank must allow before it is tried (CyTube's names,
``cytube-protocol.md`` section 7) and who runs it: ``cmd_<name>`` of the channel's commands
(``rosey.bot.channel_commands.ChannelCommands``), of the moderation record's
(``rosey.bot.moderation.Moderation``) or of automatic moderation's
(``rosey.bot.automod_commands.AutoModCommands``). Everything else derives from it: ``help``, the
checks of the bot's rank (``NEEDS``), the metrics' command labels, ``ROSEY_COMMAND_RANKS`` (a
name not in the table ends start-up with exit code 2) and the docs check.

Adding a command: one row here and one handler. The wire contract's list
(``contract.PM_COMMANDS``) is fixed; every name in it has a row (``tests/test_commands.py``).
Every command needs rank 2 (a moderator) unless ``ROSEY_COMMAND_RANKS`` asks for more.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from rosey import contract
from rosey.errors import ConfigError

__all__ = ["Command", "COMMANDS", "BY_NAME", "COMMAND_NAMES", "MODERATION_COMMANDS",
           "MODERATOR_RANK", "USAGE", "NEEDS", "check_command_ranks"]

#: the lowest rank the bot obeys (CyTube's moderator)
MODERATOR_RANK: Final = 2.0


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    #: the line ``help`` shows
    usage: str
    #: channel permissions the bot's rank must allow (checked before anything is sent)
    needs: tuple[str, ...] = ()
    #: who handles it (``cmd_<name>``): the channel's commands, or the moderation record's
    owner: Literal["channel", "moderation", "automod", "web"] = "channel"


def _mod(name: str, usage: str, *needs: str) -> Command:
    return Command(name, usage, needs, "moderation")


COMMANDS: Final[tuple[Command, ...]] = (
    Command("help", "help - this list"),
    Command("info", "info - who and where I am"),
    Command("status", "status - connection, users, playlist"),
    Command("stats", "stats - channel statistics"),
    Command("users", "users - who is here"),
    Command("user", "user <name> - one user's details"),
    Command("afk", "afk [on|off] - my AFK flag"),
    Command("say", "say <msg> - say in chat", ("chat",)),
    Command("pm", "pm <user> <msg> - PM someone"),
    Command("playlist", "playlist [n] - the next n items"),
    Command("current", "current - what is playing"),
    Command("add", "add <url> [next] - queue a video", ("playlistadd",)),
    Command("remove", "remove <#> - delete an item", ("playlistdelete",)),
    Command("move", "move <#> <#> - move an item", ("playlistmove",)),
    Command("jump", "jump <#> - play an item now", ("playlistjump",)),
    Command("next", "next - skip to the next item", ("playlistjump",)),
    Command("pause", "pause - pause playback (takes leader)", ("leaderctl",)),
    Command("resume", "resume - resume playback (gives leader back)", ("leaderctl",)),
    Command("voteskip", "voteskip - vote to skip", ("voteskip",)),
    # the moderation record (docs/moderation.md)
    _mod("kick", "kick <user> [reason]", "kick"),
    _mod("ban", "ban <user> [duration] [reason] (10m, 2h, 3d)", "ban"),
    _mod("mute", "mute <user> [duration] [reason]", "mute"),
    _mod("unmute", "unmute <user>", "mute"),
    _mod("smute", "smute <user> [duration] [reason]", "mute"),
    _mod("unban", "unban <user>", "ban"),
    _mod("warn", "warn <user> <reason> - PM and a strike"),
    _mod("note", "note <user> <text>"),
    _mod("modlog", "modlog [user] [n] - newest first"),
    _mod("history", "history <user>"),
    _mod("punishments", "punishments - active, and when they end"),
    # automatic moderation (docs/automod.md)
    Command("automod", "automod [dry|live <rule>] - rules, hits in the last hour, dry run",
            (), "automod"),
    Command("raid", "raid [on|off|status] - raid mode (CyTube's protections)", (), "automod"),
    # the web page (docs/web.md)
    Command("weblogin", "weblogin - a one-time link to the moderators' web page", (), "web"),
)

BY_NAME: Final[dict[str, Command]] = {c.name: c for c in COMMANDS}
#: every command, in ``help``'s order (the metrics' ``command`` label values, with "unknown")
COMMAND_NAMES: Final[tuple[str, ...]] = tuple(BY_NAME)
#: the moderation record's commands beyond the wire contract's list (docs/moderation.md)
MODERATION_COMMANDS: Final[tuple[str, ...]] = tuple(
    c.name for c in COMMANDS if c.owner == "moderation" and c.name not in contract.PM_COMMANDS)
USAGE: Final[dict[str, str]] = {c.name: c.usage for c in COMMANDS}
NEEDS: Final[dict[str, tuple[str, ...]]] = {c.name: c.needs for c in COMMANDS if c.needs}


def check_command_ranks(ranks: tuple[tuple[str, float], ...]) -> None:
    """``ROSEY_COMMAND_RANKS`` names only commands there are (a typo would leave the command
    at rank 2 without a word): ConfigError otherwise."""
    unknown = [name for name, _ in ranks if name not in BY_NAME]
    if unknown:
        raise ConfigError(f"ROSEY_COMMAND_RANKS names no command {', '.join(map(repr, unknown))} "
                          f"(commands: {', '.join(COMMAND_NAMES)})")
