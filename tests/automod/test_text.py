"""The pieces under the matchers: re2 compilation and its fast paths, link finding, and the
text normalisations (rosey.automod.patterns, links, normalise)."""

from __future__ import annotations

import random
import re

import pytest

from rosey.automod import links, normalise, patterns


def test_a_pattern_re2_refuses_is_a_one_line_pattern_error() -> None:
    for bad in ("(a", "(?<=a)b", "(a)\\1", "a{1001}", "\\pL{1000}"):
        with pytest.raises(patterns.PatternError) as info:
            patterns.compile_one(bad)
        assert "\n" not in str(info.value) and not str(info.value).startswith("b'")


def test_tester_and_finder_agree_with_search() -> None:
    regex = patterns.compile_any(["fo+", "ba[rz]"])
    test, find = patterns.tester(regex), patterns.finder(regex)
    for data in (b"", b"f", b"xx foo", b"baz", "\u00e9 foo".encode()):
        m = regex.search(data)
        assert test(data) == (m is not None)
        assert find(data, 0) == (None if m is None else m.span())
    assert find(b"foo foo", 1) == (4, 7)


def test_the_fallbacks_when_the_binding_has_no_fast_path() -> None:
    class Plain:  # what a binding without ``_regexp`` would give
        def __init__(self, inner):
            self.inner, self.pattern = inner, inner.pattern

        def search(self, data, pos=0):
            return self.inner.search(data, pos)

    regex = Plain(patterns.compile_any(["abc"]))
    assert patterns.finder(regex).__name__ == "slow"
    assert patterns.tester(regex)(b"xabc") and not patterns.tester(regex)(b"ab")
    each = (patterns.compile_one("x+"), patterns.compile_one("abc"))
    assert patterns.which(None, each, b"zzabc") == 1  # no set: one search per pattern
    assert patterns.which(patterns.compile_set(["x+", "abc"]), each, b"abc x") == 0


def test_compile_words_bounds() -> None:
    regex = patterns.compile_words(["two words", "c++", "@all"])
    assert patterns.first_match(regex, "TWO\twords!") == "TWO\twords"
    assert patterns.first_match(regex, "i like c++") == "c++"
    assert patterns.first_match(regex, "cc++ x@all") == ""


@pytest.mark.parametrize(("text", "hosts"), [
    ("check example.com/x and https://User:pw@Sub.Bad.Example:8080/p?q",
     ("example.com", "sub.bad.example")),
    ("e.g. file.txt hello.world 3.14 a@b.com ok.", ()),
    ("go to www.foo.bar now", ("foo.bar",)),
    ("discord.gg/abc", ("discord.gg",)),
    ("http://localhost:3000 and http://[::1]:80/", ("localhost", "::1")),
    ("пример.рф/путь", ("пример.рф",)),
    ("see google.com. and GOOGLE.COM", ("google.com",)),
    ("https://a.com/x?u=evil.net", ("a.com", "evil.net")),
    ("x" * 3_000 + " example.com", ()),  # past the first 2,000 characters
    (" ".join(f"s{i}.com" for i in range(50)), tuple(f"s{i}.com" for i in range(20))),
])
def test_find_hosts(text, hosts) -> None:
    assert links.find_hosts(text) == hosts


def test_domains() -> None:
    assert links.domain_entry("*.Example.COM") == "example.com"
    assert links.domain_entry("www.x.org.") == "x.org"
    for bad in ("https://x.org", "x.org/path", "a..b", "", "sp ace.com"):
        with pytest.raises(ValueError):
            links.domain_entry(bad)
    assert links.covering("cdn.example.com", {"example.com"}) == "example.com"
    assert links.covering("badexample.com", {"example.com"}) is None
    assert links.covering("x.com", frozenset()) is None


_RUNS = re.compile(r"(.)\1+", re.DOTALL)


def _repeat_key_by_regex(text: str) -> str:
    folded = text.casefold()
    letters = "".join(filter(str.isalpha, folded)) or "".join(folded.split())
    key = _RUNS.sub(lambda m: m.group(1), letters)
    return key.replace("\0", "") if folded.isascii() else key


@pytest.mark.parametrize("alphabet", ["aAb !1_\x00xyZ", "aAbß😂é\u0301 !1_жЖ\U0010ffff"])
def test_repeat_key_is_letters_casefolded_with_runs_cut(alphabet) -> None:
    rng = random.Random(7)
    for _ in range(5_000):
        text = "".join(rng.choices(alphabet, k=rng.randint(0, 30)))
        assert normalise.repeat_key(text) == _repeat_key_by_regex(text), text
    assert normalise.repeat_key("Join   my channel!!! 123") == "joinmychanel"


@pytest.mark.parametrize("alphabet", ["aab", "a😂\u0301\u1041A\x00"])
def test_the_repeat_mask_never_misses_a_run(alphabet) -> None:
    rng = random.Random(3)
    for _ in range(3_000):
        text = "".join(rng.choices(alphabet, k=rng.randint(0, 20)))
        length = rng.randint(2, 5)
        found = normalise.run_finder(length).search(text) is not None
        assert found == any(text[i:i + length] == text[i] * length for i in range(len(text)))
        if found:
            assert normalise.may_run(normalise.repeat_mask(text), length), text


def test_counts_and_tokens() -> None:
    assert (normalise.letters("Hello, WORLD 42"), normalise.capitals("Hello, WORLD 42")) == (10, 6)
    assert (normalise.letters("ÄÖü ß"), normalise.capitals("ÄÖü ß")) == (4, 2)
    assert normalise.name_tokens("hey @Alice, bob-1!") == ["hey", "alice", "bob-1"]
    assert normalise.name_tokens("héllo @Bob") == ["héllo", "bob"]
    assert normalise.word_tokens("Hi bob-1, x_y!") == ["hi", "bob", "1", "x_y"]
    assert normalise.word_tokens("Ünï-code") == ["ünï", "code"]
    assert normalise.is_word("Straße") and not normalise.is_word("two words")
    assert patterns.prepare("ｈｅ\u200bｌｌｏ", 100) == "hello"
