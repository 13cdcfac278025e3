"""The chat matchers (rosey.automod.chat): each kind fires on a clear case and not on a near
miss, the windows slide with the lines' own time, and no input makes a matcher raise."""

from __future__ import annotations

from pathlib import Path

import pytest

from rosey.automod.chat import ChatJudge, Message
from rosey.automod.rules import load_rules
from rosey.automod.windows import MAX_GROUP, MAX_KEYS, MAX_TRACKED

from .conftest import one_rule

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "automod.example.yaml"


def judge_for(kind: str, **fields) -> ChatJudge:
    return ChatJudge([one_rule(kind, **fields)])


def say(judge: ChatJudge, text: str, user: str = "alice", at: float = 0.0, **extra) -> list[str]:
    """The details of the hits one line makes (users other than the sender shown as name:)."""
    hits = judge.judge(Message(user=user, text=text, time=at, **extra))
    return [h.detail if h.user == user else f"{h.user}: {h.detail}" for h in hits]


# --- flood -----------------------------------------------------------------------------------

def test_flood_fires_at_n_lines_within_the_window() -> None:
    judge = judge_for("flood", lines=5, within="10s")
    assert [say(judge, f"line {i}", at=i * 2.0) for i in range(4)] == [[]] * 4
    assert say(judge, "line 4", at=8.0) == ["5 lines in 8 s"]
    assert say(judge, "line 5", at=8.5) == ["5 lines in 6 s"]  # still flooding


def test_flood_near_miss_and_the_window_slides() -> None:
    judge = judge_for("flood", lines=5, within="10s")
    for i in range(20):  # one line every 2.6 s: 5 lines take 10.4 s
        assert say(judge, "hi", at=i * 2.6) == []


def test_flood_counts_each_user_alone_any_case() -> None:
    judge = judge_for("flood", lines=3, within="10s")
    assert say(judge, "a", "Bob", 0) == say(judge, "a", "carol", 0.1) == []
    assert say(judge, "a", "bob", 0.2) == []
    assert say(judge, "a", "BOB", 0.3) == ["3 lines in under 1 s"]


# --- repeats ---------------------------------------------------------------------------------

def test_one_user_repeating_nearly_the_same_line() -> None:
    judge = judge_for("repeats", times=3, within="30s")
    assert say(judge, "Join my channel!!!", at=0) == []
    assert say(judge, "something else entirely", at=1) == []
    assert say(judge, "join   my channnel 2", at=5) == []
    assert say(judge, "JOIN MY CHANNEL", at=10) == ["same line 3 times in 10 s"]


def test_repeats_window_slides() -> None:
    judge = judge_for("repeats", times=3, within="30s")
    assert say(judge, "buy cheap stuff", at=0) == say(judge, "buy cheap stuff", at=20) == []
    assert say(judge, "buy cheap stuff", at=40) == []  # the first one is 40 s old
    assert say(judge, "buy cheap stuff", at=45) == ["same line 3 times in 25 s"]


def test_a_copy_paste_raid_hits_every_user_of_the_group_once() -> None:
    judge = judge_for("repeats", users=4, within="20s")
    line = "RAID RAID this channel is ours"
    assert say(judge, line, "u1", 0) == say(judge, line.lower(), "u2", 1) == []
    assert say(judge, f"{line}!!", "u3", 2) == []
    hits = say(judge, line, "u4", 3)
    assert sorted(hits) == ["same line from 4 users within 20 s"] + [
        f"{u}: same line from 4 users within 20 s" for u in ("u1", "u2", "u3")]
    assert say(judge, line, "u5", 4) == ["same line from 5 users within 20 s"]
    assert say(judge, line, "u1", 5) == []  # already reported


def test_cross_user_near_miss_and_slide() -> None:
    judge = judge_for("repeats", users=3, within="10s")
    line = "same text from a few people"
    assert say(judge, line, "a", 0) == say(judge, line, "b", 5) == []
    assert say(judge, line, "c", 11) == []  # a's line is gone: only b and c
    assert say(judge, line, "b", 12) == []  # b again is not a third user
    assert say(judge, line, "d", 13) == ["c: same line from 3 users within 10 s",
                                         "b: same line from 3 users within 10 s",
                                         "same line from 3 users within 10 s"]


def test_short_lines_never_count_as_repeats() -> None:
    judge = judge_for("repeats", times=2, users=2, within="1m", min_length=5)
    for user in ("a", "b", "c", "a"):
        assert say(judge, "lol", user, 1) == []
        assert say(judge, "😂😂😂😂😂😂😂😂", user, 1) == []  # one key letter after cutting runs


# --- caps ------------------------------------------------------------------------------------

def test_caps() -> None:
    judge = judge_for("caps", ratio=0.8, min_length=10)
    assert say(judge, "WHY IS NOBODY LISTENING TO ME") == ["100% capitals in 24 letters"]
    assert say(judge, "WHY IS NOBODY listening") == []  # 11/20
    assert say(judge, "OK LOL WTF") == []  # 8 letters: too short to judge
    assert say(judge, "ÜBER STRAẞE GRÖẞE!") == ["100% capitals in 15 letters"]


# --- links -----------------------------------------------------------------------------------

def test_denied_domains_with_and_without_scheme_and_subdomains() -> None:
    judge = judge_for("links", deny=["bad.example", "grabify.link"], allow=["good.bad.example"])
    assert say(judge, "see https://www.Bad.Example/x?y") == [
        "link to bad.example (denied: bad.example)"]
    assert say(judge, "see cdn.bad.example/img.png") == [
        "link to cdn.bad.example (denied: bad.example)"]
    assert say(judge, "grabify.link now") == ["link to grabify.link (denied: grabify.link)"]
    assert say(judge, "fine: good.bad.example/x and notbad.example/y") == []
    assert say(judge, "bad.example") == []  # an unknown top-level domain, no path: not a link
    assert say(judge, "http://bad.example") != []


def test_only_allowed() -> None:
    judge = judge_for("links", only_allowed=True, allow=["youtube.com", "youtu.be"])
    assert say(judge, "https://youtu.be/abc and m.youtube.com/watch?v=x") == []
    assert say(judge, "watch at www.evil.tv now") == ["link to evil.tv (not allowed)"]
    assert say(judge, "e.g. file.txt, i.e. node.js, hello.world, 3.14, a@b.com") == []


def test_links_from_guests_and_new_users() -> None:
    guests = judge_for("links", guests=True, allow=["imgur.com"])
    assert say(guests, "example.com", guest=True) == ["link to example.com from a guest"]
    assert say(guests, "example.com", guest=False) == []
    assert say(guests, "imgur.com/a", guest=True) == []
    new = judge_for("links", new_users="10m")
    assert say(new, "example.com", at=1000, first_seen=900) == [
        "link to example.com from a new user (first seen 100 s ago)"]
    assert say(new, "example.com", at=1000, first_seen=None) == [
        "link to example.com from a new user (never seen before)"]
    assert say(new, "example.com", at=1000, first_seen=300) == []
    assert say(new, "no link here.", at=1000, first_seen=990) == []


def test_link_hiding_tricks() -> None:
    judge = judge_for("links", deny=["bad.example"])
    assert say(judge, "bad\u200b.example/x") != []  # a zero-width space in the name
    assert say(judge, "ｂａｄ．ｅｘａｍｐｌｅ/x") != []  # fullwidth letters and dot


# --- words -----------------------------------------------------------------------------------

def test_words_are_whole_and_any_case() -> None:
    judge = judge_for("words", words=["heck", "two words", "ünïcode"])
    assert say(judge, "what the HECK!") == ['word "heck"']
    assert say(judge, "heck") == ['word "heck"']
    assert say(judge, "check heckle aheck") == []
    assert say(judge, "two    Words here") == ['word "two    Words"']
    assert say(judge, "twowords") == []
    assert say(judge, "ÜNÏCODE!") == ['word "ünïcode"']
    assert say(judge, "ünïcodes") == []
    assert say(judge, "under_heck heck_ x_heck") == []  # _ joins words


def test_word_entries_beyond_one_word() -> None:
    judge = judge_for("words", words=["@everyone", "f*ck", "ﬁne", "C++"])
    assert say(judge, "hey @EVERYONE look") == ['word "@EVERYONE"']
    assert say(judge, "f*ck this") == ['word "f*ck"']
    assert say(judge, "this is fine") == ['word "fine"']  # the entry in NFKC: "fine"
    assert say(judge, "i like c++.") == ['word "c++"']
    assert say(judge, "everyone fck c") == []


def test_words_see_through_invisible_and_fullwidth_letters() -> None:
    judge = judge_for("words", words=["heck"])
    assert say(judge, "he\u200bck") != []
    assert say(judge, "ｈｅｃｋ") != []


def test_patterns() -> None:
    judge = judge_for("words", patterns=[r"fr[e3]{2}\s*v-?bucks", r"discord\.gg/\w+"])
    assert say(judge, "get FR33 VBUCKS here") == [r'pattern "fr[e3]{2}\\s*v-?bucks"']
    assert say(judge, "join discord.gg/abc") == [r'pattern "discord\\.gg/\\w+"']
    assert say(judge, "free bucks") == []


def test_two_thousand_words() -> None:
    words = [f"w{i:04d}q" for i in range(2_000)]
    judge = judge_for("words", words=words)
    assert say(judge, "this has w1999q in it") == ['word "w1999q"']
    assert say(judge, "this has w19999q and w0000 in it") == []


def test_a_pathological_pattern_is_linear_in_re2() -> None:
    judge = judge_for("words", patterns=["(a+)+$", "(x+x+)+y", "(.*a){12}"])
    assert say(judge, "a" * 10_000 + "b") == ['pattern "(a+)+$"']  # the first 2,000 end in "a"
    assert say(judge, "x" * 1_999 + "!") == []
    judge = judge_for("words", patterns=["(a+)+c"])
    assert say(judge, "a" * 10_000 + "b") == []


# --- mentions --------------------------------------------------------------------------------

def test_mentions() -> None:
    judge = judge_for("mentions", names=3)
    present = frozenset({"alice", "bob", "carol", "dave", "erin_x"})
    assert say(judge, "@Bob carol, DAVE!", present=present) == ["3 users named in one line"]
    assert say(judge, "bob bob bob carol", present=present) == []
    assert say(judge, "alice bob carol", present=present) == []  # alice is the sender
    assert say(judge, "bob carol zed", present=present) == []  # zed is not here
    assert say(judge, "bob carol erin_x", present=present) == ["3 users named in one line"]
    by_name = {name: object() for name in present}  # a channel's users by lower-case name
    assert say(judge, "bob carol erin_x", present=by_name) == ["3 users named in one line"]
    assert say(judge, "bob carol erin_x", present=by_name.keys()) == ["3 users named in one line"]


# --- walls -----------------------------------------------------------------------------------

def test_walls() -> None:
    judge = judge_for("walls", max_length=100, max_lines=3, max_run=10)
    assert say(judge, "x " * 51) == ["102 characters"]
    assert say(judge, "x " * 50) == []
    assert say(judge, "a\nb\nc\nd") == ["4 lines"]
    assert say(judge, "a\nb\nc") == []
    assert say(judge, "so" + "o" * 10 + " good") == ['"o" 10+ times in a row']
    assert say(judge, "so" + "o" * 8 + " good") == []
    assert say(judge, "ab" * 40) == []
    assert say(judge, "😂" * 10) == ['"😂" 10+ times in a row']


# --- zalgo -----------------------------------------------------------------------------------

def test_zalgo() -> None:
    judge = judge_for("zalgo", marks=4)
    assert say(judge, "h\u0335\u0321\u0322\u0327ello") == ["4 combining marks in a row"]
    assert say(judge, "h\u0335\u0321\u0322ello") == []
    assert say(judge, "Tiếng Việt, नमस्ते, ไม่ได้, é") == []
    assert say(judge, "plain ascii") == []


# --- the judge -------------------------------------------------------------------------------

def test_the_judge_skips_playlist_and_disabled_rules_and_keeps_file_order() -> None:
    rules = load_rules(EXAMPLE)
    judge = ChatJudge(rules)
    assert [r.name for r in judge.rules] == [r.name for r in rules.chat]
    assert all(not r.playlist and r.enabled for r in judge.rules)
    hits = judge.judge(Message("spammer", "FREE VBUCKS AT GRABIFY.LINK/X " * 20, 0.0,
                               guest=True))
    names = [h.rule.name for h in hits]
    assert names == sorted(names, key=[r.name for r in rules.chat].index)
    assert {"links", "slurs", "walls", "no-shouting"} <= set(names)


ODD = ["", " ", "\n", "\u0301" * 500, "\u0301", "\x00\x01\x02", "\ud800 lone surrogate \udfff",
       "a" * 100_000, "😂" * 5_000, "‮rtl‭", "\ufeff", "http://", "://", "www.", ".", "..com",
       "http://[::1", "https://" + "a." * 5_000 + "com", "@" * 3_000, "\n" * 3_000,
       "x" * 1_999 + "\u0301" * 10, "ＷＷＷ．", "ß" * 2_001]


@pytest.mark.parametrize("text", ODD, ids=range(len(ODD)))
def test_odd_input_never_raises(text) -> None:
    judge = ChatJudge(load_rules(EXAMPLE))
    present = frozenset({"alice", "bob"})
    for at in (0.0, 0.5, 1.0, 1.5, 2.0, 2.5):
        judge.judge(Message("odd", text, at, guest=True, present=present))
        judge.judge(Message("", text, at))


def test_memory_is_bounded_by_tracked_users() -> None:
    judge = judge_for("flood", lines=3, within="10s")
    for i in range(MAX_TRACKED + 500):
        judge.judge(Message(f"user{i}", "hi", float(i)))
    assert len(judge.memory.users) == MAX_TRACKED


def test_repeat_groups_are_bounded() -> None:
    judge = judge_for("repeats", times=2, users=3, within="1h")
    for i in range(MAX_TRACKED + 500):
        judge.judge(Message(f"user{i % 50}", f"distinct line number {i} " + "x" * (i % 7), i))
    (matcher,) = judge._matchers
    assert len(matcher.groups) <= MAX_TRACKED and len(judge.memory.users) == 50
    assert all(len(recent.sent) <= MAX_KEYS for recent in judge.memory.users._items.values())


def test_the_largest_zalgo_stack_a_rule_may_ask_for() -> None:
    judge = judge_for("zalgo", marks=16)
    assert say(judge, "x" + "\u0301" * 16) == ["16 combining marks in a row"]
    assert say(judge, ("x" + "\u0301" * 15) * 100) == []


def test_a_raid_larger_than_a_group_still_hits_every_user() -> None:
    judge = judge_for("repeats", users=3, within="1h")
    line = "we are many and we are here"
    hit = set()
    for i in range(MAX_GROUP + 200):
        hit |= {h.user for h in judge.judge(Message(f"raider{i}", line, i * 0.01))}
    assert hit == {f"raider{i}" for i in range(MAX_GROUP + 200)}
    (matcher,) = judge._matchers
    assert all(len(g.users) <= MAX_GROUP for g in matcher.groups._items.values())


def test_several_words_rules_share_one_search_and_each_still_hits_alone() -> None:
    rules = [one_rule("words", name="a", patterns=[r"free\s+stuff"]),
             one_rule("words", name="b", words=["two words", "single"]),
             one_rule("words", name="c", patterns=["(?-i)EXACT"], words=["x y"])]
    judge = ChatJudge(rules)
    assert judge.gate is not None
    seen = lambda text: [(h.rule.name, h.detail) for h in judge.judge(Message("u", text, 0))]  # noqa: E731
    assert seen("get FREE   stuff") == [("a", 'pattern "free\\\\s+stuff"')]
    assert seen("two words and x y") == [("b", 'word "two words"'), ("c", 'word "x y"')]
    assert seen("EXACT single") == [("b", 'word "single"'), ("c", 'pattern "(?-i)EXACT"')]
    assert seen("exact") == seen("nothing here") == []
    assert ChatJudge(rules[:1]).gate is None  # one expression: nothing to share
