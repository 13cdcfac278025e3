"""The playlist matchers (rosey.automod.playlist): blocklist by id, link and title; duration;
items per user."""

from __future__ import annotations

from pathlib import Path

import pytest

from rosey.automod.mediaid import media_key
from rosey.automod.playlist import Item, PlaylistJudge
from rosey.automod.rules import load_rules

from .conftest import one_rule

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "automod.example.yaml"


def judge_for(kind: str, action: str = "remove", **fields) -> PlaylistJudge:
    return PlaylistJudge([one_rule(kind, action=action, **fields)])


def details(judge: PlaylistJudge, item: Item, queued: int = 0) -> list[str]:
    return [h.detail for h in judge.judge(item, queued)]


def test_blocklist_by_id_and_by_youtube_link() -> None:
    judge = judge_for("blocklist", ids=["yt:dQw4w9WgXcQ", "https://youtu.be/oHg5SJYRHA0",
                                        "vi:123456"])
    assert details(judge, Item("a", "yt", "dQw4w9WgXcQ")) == ["yt:dQw4w9WgXcQ is blocklisted"]
    assert details(judge, Item("a", "yt", "oHg5SJYRHA0")) == ["yt:oHg5SJYRHA0 is blocklisted"]
    assert details(judge, Item("a", "vi", "123456")) == ["vi:123456 is blocklisted"]
    assert details(judge, Item("a", "yt", "dQw4w9WgXcq")) == []  # ids are case-sensitive
    assert details(judge, Item("a", "dm", "123456")) == []


def test_blocklist_by_title() -> None:
    judge = judge_for("blocklist", titles=[r"\bear\s*rape\b", "(?-i)LOUD"])
    assert details(judge, Item("a", "yt", "x", "Funny EAR RAPE compilation")) == [
        r'title matches "\\bear\\s*rape\\b"']
    assert details(judge, Item("a", "yt", "x", "LOUD music")) == ['title matches "(?-i)LOUD"']
    assert details(judge, Item("a", "yt", "x", "loud music, earrapes")) == []
    assert details(judge, Item("a", "yt", "x", "")) == []
    assert details(judge, Item("a", "yt", "x", "\ud800" + "a" * 100_000)) == []


def test_duration() -> None:
    judge = judge_for("duration", max="20m")
    assert details(judge, Item("a", "yt", "x", seconds=1201)) == ["20:01 long (at most 20:00)"]
    assert details(judge, Item("a", "yt", "x", seconds=3 * 3600 + 5)) == [
        "3:00:05 long (at most 20:00)"]
    assert details(judge, Item("a", "yt", "x", seconds=1200)) == []
    assert details(judge, Item("a", "tw", "live", seconds=0)) == []  # live: no length


def test_per_user_counts_the_new_item() -> None:
    judge = judge_for("per_user", max=3)
    assert details(judge, Item("a", "yt", "x"), queued=2) == []
    assert details(judge, Item("a", "yt", "x"), queued=3) == ["4 items queued (at most 3)"]


def test_hits_name_the_user_and_the_rule_and_chat_rules_are_skipped() -> None:
    rules = load_rules(EXAMPLE)
    judge = PlaylistJudge(rules)
    assert [r.name for r in judge.rules] == ["blocklist", "too-long"]  # fair-share is disabled
    hits = judge.judge(Item("Bob", "yt", "dQw4w9WgXcQ", "Earrape", 3600), 10)
    assert [(h.rule.name, h.user) for h in hits] == [("blocklist", "Bob"), ("too-long", "Bob")]
    assert hits[0].rule.action.remove and hits[0].rule.action.kind == "warn"


@pytest.mark.parametrize(("entry", "key"), [
    ("yt:dQw4w9WgXcQ", "yt:dQw4w9WgXcQ"),
    (" https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=42 ", "yt:dQw4w9WgXcQ"),
    ("http://m.youtube.com/watch?feature=x&v=dQw4w9WgXcQ", "yt:dQw4w9WgXcQ"),
    ("music.youtube.com/watch?v=dQw4w9WgXcQ", "yt:dQw4w9WgXcQ"),
    ("https://youtu.be/dQw4w9WgXcQ?si=abc", "yt:dQw4w9WgXcQ"),
    ("youtube.com/shorts/dQw4w9WgXcQ", "yt:dQw4w9WgXcQ"),
    ("https://www.youtube.com/embed/dQw4w9WgXcQ", "yt:dQw4w9WgXcQ"),
    ("https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ", "yt:dQw4w9WgXcQ"),
    ("fi:https://example.com/video.mp4", "fi:https://example.com/video.mp4"),
])
def test_media_keys(entry, key) -> None:
    assert media_key(entry) == key


@pytest.mark.parametrize("entry", ["https://vimeo.com/123", "youtube.com/watch", "youtu.be/",
                                   "youtube.com/watch?v=short", "http://[::1", "dQw4w9WgXcQ",
                                   "xx:abc", "yt:"])
def test_media_keys_refused(entry) -> None:
    with pytest.raises(ValueError):
        media_key(entry)
