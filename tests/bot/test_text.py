import pytest

from rosey.bot.text import MAX_MESSAGE, plain_text, split_message
from tests.support.cytube import format_chat


def test_plain_text_unescapes_entities_and_parentheses():
    assert plain_text("say &#40;hi&#41; &amp; &lt;b&gt; &quot;x&quot; &#39;y&#39;") == \
        "say (hi) & <b> \"x\" 'y'"


def test_plain_text_strips_auto_link_tags():
    msg = ('add <a href="https://youtu.be/abc" target="_blank" rel="noopener noreferrer">'
           'https://youtu.be/abc</a> next')
    assert plain_text(msg) == "add https://youtu.be/abc next"


def test_short_text_is_one_message():
    assert split_message("hello\nworld") == ["hello\nworld"]


def test_lines_are_packed_and_never_exceed_the_limit():
    lines = [f"line {i} " + "x" * 50 for i in range(30)]
    parts = split_message("\n".join(lines))
    assert len(parts) > 1
    assert all(len(p) <= MAX_MESSAGE for p in parts)
    assert "\n".join(parts).split("\n") == lines  # split only on line boundaries, nothing lost


def test_one_long_line_is_split_at_word_boundaries():
    words = [f"word{i}" for i in range(200)]
    parts = split_message(" ".join(words))
    assert all(len(p) <= MAX_MESSAGE for p in parts)
    assert " ".join(parts).split(" ") == words


def test_a_word_longer_than_the_limit_is_split_not_cut():
    parts = split_message("a" * 700, limit=320)
    assert [len(p) for p in parts] == [320, 320, 60]
    assert "".join(parts) == "a" * 700


def test_blank_lines_are_dropped():
    assert split_message("a\n\n  \nb") == ["a\nb"]


TYPED = [
    "say 2*3*4 = 24", "add youtu.be/xy_zw_abcde next", "`code` and `more`", "~~gone~~ ~single~",
    "[sp]hidden[/sp] *_both_*", "_a https://x.example/_b_ c_", "***", "a*b", "<em>typed</em>",
    "(1) & 'two' \"three\" > four", "snake_case_name and __dunder__",
]


@pytest.mark.parametrize("typed", TYPED)
def test_plain_text_undoes_cytubes_default_filters(typed):
    # format_chat is the stand-in's copy of CyTube's escaping, filters and link wrapping
    assert plain_text(format_chat(typed)) == typed


def test_the_five_filters_arrive_as_tags():
    assert format_chat("`a` *b* _c_ ~~d~~ [sp]e[/sp]") == (
        '<code>a</code> <strong>b</strong> <em>c</em> <s>d</s> <span class="spoiler">e</span>')


def test_links_are_not_filtered_but_wrapped():
    url = "https://youtu.be/ab_cd_efghi"
    assert format_chat(f"add {url}") == (
        f'add <a href="{url}" target="_blank" rel="noopener noreferrer">{url}</a>')


def test_times_in_replies_have_one_way_each() -> None:
    from rosey.bot.text import clock, span, when

    assert [clock(s) for s in (0, 75, 3723, 90061.9)] == ["0m00s", "1m15s", "1h02m03s",
                                                          "25h01m01s"]
    assert [span(s) for s in (12, 600, 7200, 259200, 5400, 3725, 75)] == [
        "12s", "10m", "2h", "3d", "90m", "1h02m", "1m15s"]
    assert when(0) == "1970-01-01 00:00:00 UTC"
