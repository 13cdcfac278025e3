"""What the bot's own rank lets it do in its channel, in words.

A command the bot's rank does not allow here (``setPermissions``) is answered with the reason
before anything is sent; ``status`` and ``/readyz`` list them too. The permissions each
command needs come from the table of commands (:data:`rosey.commands.NEEDS`).
"""

from __future__ import annotations

from rosey.bot.channel import ChannelState
from rosey.commands import NEEDS

__all__ = ["lacking", "refusals", "capabilities", "rank_text"]


def rank_text(rank: float) -> str:
    """``2`` for 2.0, ``1.5`` for 1.5."""
    return str(int(rank)) if float(rank).is_integer() else str(rank)


def lacking(channel: ChannelState, permission: str) -> str | None:
    """Why the bot may not use ``permission`` here, or None when it may."""
    if channel.may(permission):
        return None
    need = channel.needs(permission)
    if need is None:
        why = "" if channel.registered else " (the channel is not registered)"
        return f"this channel gives nobody the {permission} permission{why}"
    return (f"it needs rank {rank_text(need)} ({permission}) and mine is "
            f"{rank_text(channel.my_rank)}")


def refusals(channel: ChannelState) -> dict[str, str]:
    """Commands the bot's rank does not allow in ``channel``, each with the reason."""
    out: dict[str, str] = {}
    for command, permissions in NEEDS.items():
        for permission in permissions:
            why = lacking(channel, permission)
            if why is not None:
                out[command] = why
                break
    return out


def capabilities(channel: ChannelState) -> str:
    """One line: the bot's rank and what it cannot do here."""
    cannot = refusals(channel)
    head = f"rank {rank_text(channel.my_rank)}" + (
        "" if channel.registered else ", unregistered channel")
    if not channel.permissions:
        return f"{head}, channel permissions not received yet"
    if not cannot:
        return f"{head}, every command allowed"
    return f"{head}, cannot: {', '.join(cannot)}"
