"""Media plays from the bot (docs/web-contract.md): each ``changeMedia`` of the test CyTube
server becomes one ``rosey.db.media.played`` through the outbox, with who queued it, and the
real DatabaseService stores one row per play, also when the bot rejoins mid-play."""

from __future__ import annotations

import sqlite3

from prometheus_client import CollectorRegistry

from rosey import contract
from rosey.bot import frames
from rosey.bot.channel import ChannelState
from rosey.bot.plays import publish_play
from rosey.bot.publisher import Publisher
from rosey.metrics import BotMetrics
from tests.bot.conftest import BOT, MOD, ask, collect, running_bot
from tests.support.db import running_db_service


def _plays(db_path) -> list[tuple]:
    if not db_path.exists():
        return []
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT media_type, media_id, title, duration, queued_by"
                            " FROM media_plays ORDER BY id").fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()


async def test_each_media_change_is_one_play_and_a_rejoin_mid_play_is_not_another(
        cytube, nats_server, nc, tmp_path):
    db = tmp_path / "r.db"
    seen = await collect(nc, contract.MEDIA_PLAYED)
    await cytube.add_user(MOD, 2)
    async with running_db_service(nats_server.url, db), \
            running_bot(cytube, nats_server.url) as bot:
        await cytube.user_queue("bob", "vid1", title="First <song>", seconds=240)
        await cytube.wait_for(lambda: len(_plays(db)) == 1, timeout=10, what="first play")
        await cytube.user_queue("carol", "vid2", title="Second", seconds=120)
        # the test server restarts the channel: the bot rejoins, CyTube resends vid1's change
        await cytube.restart()
        await cytube.wait_for(lambda: len(seen) == 2, timeout=15, what="the join burst's change")
        # then a moderator skips vid1 (a temp item, so it is deleted): vid2 starts
        await cytube.wait_for(lambda: bot.session.joined and bot.session.logged_in
                              and bot.channel.is_moderator(BOT) and bot.channel.is_moderator(MOD),
                              timeout=10, what="the bot back in the channel")
        await ask(cytube, bot, "next")
        await cytube.wait_for(lambda: len(_plays(db)) == 2, timeout=10, what="second play")
    assert _plays(db) == [("yt", "vid1", "First <song>", 240, "bob"),
                          ("yt", "vid2", "Second", 120, "carol")]
    assert [(p["media_id"], p["on_join"]) for p in seen] == [
        ("vid1", False), ("vid1", True), ("vid2", False)]
    assert seen[0]["position"] < 0 and seen[0]["timestamp"] > 0


def test_a_change_the_playlist_does_not_know_has_no_queued_by_and_an_unusable_one_no_play():
    publisher = Publisher(js=None, metrics=BotMetrics(CollectorRegistry()))
    media = frames.Media("x1", "yt", "T", 30, "00:30")
    channel = ChannelState(channel="c")
    channel.apply(frames.Playlist((frames.PlaylistItem(7, frames.Media("other", "yt", "O", 5,
                                                                       "00:05"), True, "bob"),)))
    channel.apply(frames.SetCurrent(7))
    change = frames.ChangeMedia(media, -3.0, True)
    channel.apply(change)
    assert publish_play(publisher, change, channel, now=100.0, on_join=False)
    for bad in (frames.Media("", "yt", "", 0, ""), frames.Media("y" * 3000, "fi", "", 0, "")):
        assert not publish_play(publisher, frames.ChangeMedia(bad, 0.0, False), channel,
                                now=1.0, on_join=True)
    assert [e.payload for e in publisher._outbox] == [
        contract.MediaPlayed("yt", "x1", "T", 30, None, -3.0, False, 100.0)]
