"""Media plays: CyTube's ``changeMedia`` turned into ``rosey.db.media.played``
(``docs/web-contract.md``), queued in the bot's outbox, so a play never waits on the
DatabaseService.

Every ``changeMedia`` becomes an event, also the one CyTube sends for the item already playing
when the bot joins (before the userlist, so before the session counts as joined): that one is
marked ``on_join``, so the DatabaseService counts it as the play it continues. Who queued it
comes from the bot's playlist: the current item, when its media is the one that changed
(``setCurrent`` arrives just before ``changeMedia``).
"""

from __future__ import annotations

import structlog

from rosey import contract
from rosey.bot.channel import ChannelState
from rosey.bot.frames import ChangeMedia, Media
from rosey.bot.publisher import Publisher

__all__ = ["publish_play"]

log = structlog.get_logger()


def _queued_by(frame: ChangeMedia, channel: ChannelState) -> str | None:
    item = None if channel.current_uid is None else channel.item(channel.current_uid)
    if item is None or (item.media.type, item.media.id) != (frame.media.type, frame.media.id):
        return None
    return item.queueby.strip()[:contract.MAX_USERNAME] or None


def _usable(m: Media) -> bool:
    """A type and an id within the contract's bounds (CyTube's always are)."""
    return (0 < len(m.type) <= contract.MAX_MEDIA_TYPE and 0 < len(m.id) <= contract.MAX_MEDIA_ID
            and "\x00" not in m.type + m.id)


def publish_play(publisher: Publisher, frame: ChangeMedia, channel: ChannelState, *,
                 now: float, on_join: bool) -> bool:
    """Queue the play ``frame`` starts (``now``: when the bot saw it; ``on_join``: it came in
    the join burst). False, logged, when CyTube sent no usable media."""
    m = frame.media
    if not _usable(m):
        log.warning("media_change_unusable", media_type=m.type[:40], id_length=len(m.id))
        return False
    publisher.publish(contract.MediaPlayed(
        media_type=m.type, media_id=m.id, title=m.title.replace("\x00", "")[:contract.MAX_TITLE],
        duration=min(max(m.seconds, 0), contract.MAX_DURATION),
        queued_by=_queued_by(frame, channel),
        position=min(max(frame.current_time, -86400.0), float(contract.MAX_DURATION)),
        on_join=on_join, timestamp=now))
    return True
