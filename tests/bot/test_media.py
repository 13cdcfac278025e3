import pytest

from rosey.bot.media import MediaRef, parse_media_link

CASES = [
    ("https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=10", MediaRef("dQw4w9WgXcQ", "yt")),
    ("https://youtu.be/dQw4w9WgXcQ", MediaRef("dQw4w9WgXcQ", "yt")),
    ("https://youtube.com/shorts/abcdefghijkXYZ", MediaRef("abcdefghijk", "yt")),
    ("https://www.youtube.com/playlist?list=PLabcdefabcdefabcdefabcdefabcdefab",
     MediaRef("PLabcdefabcdefabcdefabcdefabcdefab", "yp")),
    ("https://vimeo.com/123456", MediaRef("123456", "vi")),
    ("https://www.dailymotion.com/video/x7abcde_some-title", MediaRef("x7abcde", "dm")),
    ("https://soundcloud.com/artist/track", MediaRef("https://soundcloud.com/artist/track", "sc")),
    ("https://www.twitch.tv/somechannel", MediaRef("somechannel", "tw")),
    ("https://www.twitch.tv/videos/12345", MediaRef("v12345", "tv")),
    ("https://clips.twitch.tv/FunnyClip", MediaRef("FunnyClip", "tc")),
    ("https://streamable.com/abc12", MediaRef("abc12", "sb")),
    ("https://drive.google.com/file/d/1AbCdEf/view", MediaRef("1AbCdEf", "gd")),
    ("https://docs.google.com/open?id=1AbCdEf", MediaRef("1AbCdEf", "gd")),
    ("rtmp://live.example.com/app/key", MediaRef("rtmp://live.example.com/app/key", "rt")),
    ("https://cdn.example.com/live/index.m3u8", MediaRef("https://cdn.example.com/live/index.m3u8", "hl")),
    ("https://cdn.example.com/manifest.json", MediaRef("https://cdn.example.com/manifest.json", "cm")),
    ("https://cdn.example.com/video.mp4", MediaRef("https://cdn.example.com/video.mp4", "fi")),
    ("yt:dQw4w9WgXcQ?t=3", MediaRef("dQw4w9WgXcQ", "yt")),
    ("dm:x7abcde_title", MediaRef("x7abcde", "dm")),
    ("fi:https://x/y.mp4?a=1", MediaRef("https://x/y.mp4?a=1", "fi")),
    ("cm:manifest?x=1", MediaRef("manifest?x=1", "cm")),
]


@pytest.mark.parametrize(("url", "expected"), CASES)
def test_parse_media_link_matches_cytube_client(url, expected):
    assert parse_media_link(url) == expected


def test_plain_http_raw_file_is_refused_like_the_official_client():
    assert parse_media_link("http://cdn.example.com/video.mp4") is None


def test_unknown_shorthand_and_garbage_are_refused():
    assert parse_media_link("zz:abc") is None
    assert parse_media_link("") is None
    assert parse_media_link("ftp://x/y") is None


def test_a_word_or_a_bare_unknown_host_is_not_a_link():
    # "add garbage" once went to CyTube as the raw file https://garbage
    assert parse_media_link("garbage") is None
    assert parse_media_link("https://garbage") is None
    assert parse_media_link("garbage.example/clip.mp4") is None  # raw files need https://
    assert parse_media_link("https://garbage.example/clip.mp4") == \
        MediaRef("https://garbage.example/clip.mp4", "fi")
    assert parse_media_link("youtu.be/xy_zw_abcde") == MediaRef("xy_zw_abcde", "yt")
