"""CyTube's frames decoded once at the edge (issue 18 item 5): typed frames, a bad payload
logged and counted (never applied, never confirming), a confirmation check that raises logged
as an error and failing its action."""

from __future__ import annotations

import asyncio

import pytest
import structlog

from rosey.bot import frames
from rosey.bot.actions import Confirmations
from tests.bot.conftest import MOD, ask, reply_text


def test_each_frame_the_bot_reads_decodes_to_its_type() -> None:
    user = {"name": "bob", "rank": 1, "meta": {"afk": True, "muted": False}}
    item = {"uid": 7, "temp": True, "queueby": "x",
            "media": {"id": "a", "type": "yt", "title": "A", "seconds": 60, "duration": "01:00"}}
    assert frames.decode("rank", 3) == frames.Rank(3.0)
    assert frames.decode("userlist", [user]).users[0].afk
    assert frames.decode("addUser", user).user.name == "bob"
    assert frames.decode("userLeave", {"name": "bob"}) == frames.UserLeave("bob")
    assert frames.decode("queue", {"item": item, "after": 3}).after == 3
    assert frames.decode("queue", {"item": item, "after": "prepend"}).item.uid == 7
    assert frames.decode("setCurrent", 7) == frames.SetCurrent(7)
    assert frames.decode("voteskip", {"count": 1, "need": 2}) == frames.Voteskip(1, 2)
    assert frames.decode("banlist", [{"id": 4, "name": "troll", "ip": "x"}]).find("TROLL") \
        == frames.Ban(4, "troll")
    assert frames.decode("errorMsg", {"msg": "no"}) == frames.ErrorMsg("no")
    assert frames.decode("queueFail", {"msg": "bad", "link": "l"}) == \
        frames.QueueFail("bad", None, "l")
    assert frames.decode("setLeader", "") == frames.SetLeader("")
    assert frames.decode("login", {"success": True, "name": "rosey"}).name == "rosey"
    for event in frames.EVENTS:  # each type names its event
        decoded = frames.decode(event, None)
        assert isinstance(decoded, frames.Malformed | frames.Other) or decoded.event == event


@pytest.mark.parametrize(("event", "data"), [
    ("userLeave", None), ("setUserRank", {"name": "bob", "rank": "high"}),
    ("usercount", "many"), ("queue", {"item": {"media": {}}}), ("setCurrent", [1]),
    ("banlist", {"not": "a list"}), ("rank", "x"), ("voteskip", {}),
])
def test_a_payload_that_breaks_its_shape_is_malformed(event, data) -> None:
    frame = frames.decode(event, data)
    assert isinstance(frame, frames.Malformed) and frame.name == event and frame.error


def test_an_event_the_bot_does_not_read_stays_other() -> None:
    assert frames.decode("drinkCount", 3) == frames.Other("drinkCount", 3)


async def test_a_check_that_raises_is_logged_and_fails_its_wait() -> None:
    confirmations = Confirmations()
    broken = confirmations.expect(lambda f: f.no_such_field)  # type: ignore[attr-defined]
    fine = confirmations.expect(lambda f: isinstance(f, frames.SetCurrent))
    with structlog.testing.capture_logs() as logs:
        confirmations.resolve(frames.SetCurrent(3))
    assert isinstance(broken.exception(), AttributeError)
    assert fine.result() == frames.SetCurrent(3)
    (line,) = [e for e in logs if e["event"] == "confirmation_check_failed"]
    assert line["log_level"] == "error" and line["frame"] == "SetCurrent"
    await asyncio.sleep(0)


async def test_bad_frames_from_the_server_are_counted_and_change_nothing(cytube, bot) -> None:
    def bad(event: str) -> float:
        return bot.metrics.registry.get_sample_value(
            "rosey_cytube_bad_frames_total", {"event": event}) or 0.0

    users = dict(bot.channel.users)
    with structlog.testing.capture_logs() as logs:
        await cytube._broadcast("userLeave", None)
        await cytube._broadcast("setUserRank", {"name": MOD, "rank": "admin"})
        await cytube.wait_for(lambda: bad("userLeave") == 1 and bad("setUserRank") == 1,
                              what="both bad frames counted")
    assert {e["cytube_event"] for e in logs if e["event"] == "cytube_bad_frame"} == \
        {"userLeave", "setUserRank"}
    assert bot.channel.users.keys() == users.keys() and bot.channel.is_moderator(MOD)
    assert reply_text(await ask(cytube, bot, "users")).startswith("3 users")


async def test_a_check_that_raises_answers_the_command_as_an_error(cytube, bot, monkeypatch):
    def broken(self, frame):
        raise RuntimeError("a bug in a confirmation check")

    monkeypatch.setattr(frames.ChatLine, "server_notice", property(broken))
    await cytube.add_user("troll", 1)
    await cytube.wait_for(lambda: bot.channel.user("troll"))
    with structlog.testing.capture_logs() as logs:
        assert reply_text(await ask(cytube, bot, "ban troll")) == "ban failed: internal error"
    assert any(e["event"] == "confirmation_check_failed" and e["log_level"] == "error"
               for e in logs)
