"""The judge's fast path (rosey.automod.plan) against the plain one (every matcher in turn,
``ChatJudge.judge_each``): the same hits, for the same users, with the same details, in the
same order, line after line, on many generated lines and rule sets. Each way has its own
judge, since each keeps its own windows."""

from __future__ import annotations

import random
import re
from dataclasses import replace
from pathlib import Path

import pytest

from bench.automod import chat_lines, rules_text
from rosey.automod import normalise
from rosey.automod.chat import ChatJudge, Message
from rosey.automod.message import View
from rosey.automod.rules import load_rules, parse_rules

from .conftest import one_rule

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "automod.example.yaml"
#: characters that reach every branch: ASCII of each class, white space, marks, invisible
#: and fullwidth characters, emoji, letters whose case folding grows, a lone surrogate
ALPHABET = (list("aAbBzZeE  ..--__:/@!?#0123456789\n\t\x1c\x00")
            + ["\u0301", "\u0335", "\u200b", "\u00ad", "ß", "Ü", "😂", "ｂ", "．", "\ud800", "é",
               "ﬁ", "İ", "ǅ", "ϒ", "п", "Д", "ー"])
NAMES = ["alice", "Bob", "carol-x", "dave_2", "ünï", "user001", "user002", "user003"]
PIECES = ["free robux now", "discord.gg/abc", "http://spam3.example/x", "www.evil.tv",
          "youtube.com/watch?v=x", "x" * 14, "!" * 26, "A" * 13, "YES!!", "e.g. a.b",
          "two words", "heck", "fr33 vbucks", "привет как дела", "h\u0335\u0321\u0322\u0327i",
          "@everyone", "c++", "a\nb\nc\nd\ne\nf\ng", "hello there", "HELLO THERE"]


def _same(rules, messages) -> int:
    fast, plain = ChatJudge(rules), ChatJudge(rules)
    hits = 0
    for msg in messages:
        got = [(h.rule.name, h.user, h.detail) for h in fast.judge(msg)]
        want = [(h.rule.name, h.user, h.detail) for h in plain.judge_each(msg)]
        assert got == want, msg
        hits += len(got)
    return hits


def _lines(seed: int, n: int):
    rng = random.Random(seed)
    present = frozenset(name.lower() for name in NAMES)
    at = 0.0
    for _ in range(n):
        roll = rng.random()
        if roll < 0.35:
            text = "".join(rng.choices(ALPHABET, k=rng.randint(0, 40)))
        elif roll < 0.7:
            text = " ".join(rng.choices(PIECES + NAMES, k=rng.randint(1, 7)))
        elif roll < 0.8:
            text = rng.choice(PIECES)  # repeats, from one user and across users
        else:
            text = "".join(rng.choices(ALPHABET, k=rng.randint(1, 4))) * rng.randint(1, 40)
        at += rng.choice((0.01, 0.3, 2.0, 9.0))
        yield Message(user=rng.choice(NAMES), text=text, time=at, rank=1.0,
                      guest=rng.random() < 0.2, present=present,
                      first_seen=rng.choice((None, at - 5.0, at - 5_000.0)))


def test_the_bench_rule_set_on_the_bench_lines() -> None:
    text, words, _ = rules_text()
    rules = parse_rules(text, "bench")
    for rate in (5.0, 10_000.0):  # few hits, and flood hits on most lines
        assert _same(rules, chat_lines(6_000, words, rate=rate, seed=3)) > 100


@pytest.mark.parametrize("seed", range(3))
def test_generated_lines_against_the_bench_and_example_rules(seed: int) -> None:
    text, _, _ = rules_text()
    assert _same(parse_rules(text, "bench"), _lines(seed, 3_000)) > 100
    assert _same(load_rules(EXAMPLE), _lines(seed, 3_000)) > 100


def _random_rules(rng: random.Random) -> list:
    """A few rules of random kinds and thresholds, kinds interleaved (hits still come out in
    file order), words rules with and without expressions (with or without the shared gate)."""
    makers = [
        lambda: one_rule("flood", name="f", lines=rng.randint(2, 4), within="5s"),
        lambda: one_rule("repeats", name="r", within="1m", min_length=rng.randint(1, 6),
                         **rng.choice([{"times": 2}, {"users": 2}, {"users": 3, "times": 3}])),
        lambda: one_rule("repeats", name="o", times=2, within="30s", min_length=1),
        lambda: one_rule("caps", name="c", ratio=rng.choice([0.5, 0.9]),
                         min_length=rng.randint(1, 12)),
        lambda: one_rule("links", name="l", deny=["spam3.example"],
                         only_allowed=rng.random() < 0.5, allow=["youtube.com"]),
        lambda: one_rule("words", name="w", words=rng.sample(["heck", "two words", "c++",
                                                              "@everyone", "ünï", "abc"], 2),
                         patterns=rng.choice([[], [r"fr[e3]{2}\s*v-?bucks"], ["(?-i)YES"]])),
        lambda: one_rule("words", name="p", patterns=[r"discord\.gg/\w+"]),
        lambda: one_rule("mentions", name="m", names=rng.randint(2, 3)),
        lambda: one_rule("walls", name="x", **rng.choice([
            {"max_length": 30}, {"max_lines": 1}, {"max_lines": 5, "max_run": 13},
            {"max_run": 2}, {"max_run": 5, "max_length": 60}])),
        lambda: one_rule("zalgo", name="z", marks=rng.randint(2, 4)),
    ]
    chosen = rng.sample(makers, rng.randint(1, len(makers)))
    return [replace(rule, name=f"{rule.name}{i}")
            for i, rule in enumerate(make() for make in chosen)]


@pytest.mark.parametrize("seed", range(12))
def test_random_rule_sets(seed: int) -> None:
    rng = random.Random(seed)
    _same(_random_rules(rng), _lines(100 + seed, 1_500))


def test_an_ascii_lines_forms_are_what_the_view_would_make() -> None:
    """The plan makes an ASCII line's forms itself, at once; a fresh view makes them one by
    one, lazily: they must agree."""
    text, words, _ = rules_text()
    judge = ChatJudge(parse_rules(text, "bench"))
    lines = list(_lines(7, 2_000)) + list(chat_lines(2_000, words, seed=4))
    for msg in lines:
        if not msg.text[:normalise.SCAN_LIMIT].isascii():
            continue
        seen: list[View] = []
        judge._plan.memory.record = seen.append  # type: ignore[method-assign]
        judge.judge(msg)
        (made,) = seen
        fresh = View(msg)
        for form in ("data", "names", "words", "repeat_key"):
            assert getattr(made, form) == getattr(fresh, form), (form, msg.text)
        if "mask" in made.__dict__:
            assert made.mask == fresh.mask, msg.text


def _old_repeat_key(text: str, words: list[str]) -> str:
    """normalise.repeat_key of a line that is not ASCII as it was: one regex step per
    character (its ASCII branch is unchanged)."""
    folded = text.casefold()
    letters = "".join(filter(str.isalpha, "".join(words).casefold()))
    return re.sub(r"(.)\1+", r"\1", letters or "".join(folded.split()), flags=re.DOTALL)


def test_repeat_keys_of_lines_beyond_ascii_are_what_one_regex_step_per_character_made() -> None:
    rng = random.Random(11)
    checked = 0
    for _ in range(20_000):
        text = "".join(rng.choice(ALPHABET) * rng.randint(1, 3) for _ in range(rng.randint(0, 20)))
        if text.casefold().isascii():
            continue
        words = normalise.word_tokens(text)
        assert normalise.repeat_key(text, words) == _old_repeat_key(text, words), repr(text)
        checked += 1
    assert checked > 10_000
