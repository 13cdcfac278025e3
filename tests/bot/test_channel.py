from rosey.bot.channel import Change, ChannelState
from rosey.bot.frames import decode


def apply(s: ChannelState, event: str, data) -> Change:
    """What the session does with each event: decode it once, then apply the frame."""
    return s.apply(decode(event, data))


def _user(name, rank, afk=False):
    return {"name": name, "rank": rank, "profile": {"image": "", "text": ""},
            "meta": {"afk": afk, "muted": False}}


def _item(uid, mid, title="t", temp=True):
    return {"uid": uid, "temp": temp, "queueby": "x",
            "media": {"id": mid, "title": title, "seconds": 60, "duration": "01:00", "type": "yt"}}


def test_userlist_sets_users_and_reports_them_joined():
    s = ChannelState(channel="c", me=lambda: "bot")
    change = apply(s, "userlist", [_user("Alice", 2), _user("bob", 0, afk=True)])
    assert set(change.joined) == {"Alice", "bob"} and change.counts
    assert s.rank_of("alice") == 2 and s.user("BOB").afk
    assert s.is_moderator("Alice") and not s.is_moderator("bob")


def test_add_user_rank_is_provisional_until_set_user_rank():
    s = ChannelState(channel="c")
    change = apply(s, "addUser", _user("mod", 1))
    assert change.joined == ("mod",)
    assert not s.is_moderator("mod") and not s.user("mod").rank_confirmed
    apply(s, "setUserRank", {"name": "mod", "rank": 3})
    assert s.is_moderator("mod") and s.user("mod").rank_confirmed
    # a repeated addUser does not lower a confirmed rank
    apply(s, "addUser", _user("mod", 1))
    assert s.is_moderator("mod")


def test_add_user_ranks_other_than_1_are_final_and_2_is_a_moderator_at_once():
    s = ChannelState(channel="c")
    apply(s, "addUser", _user("guest", 0))
    apply(s, "addUser", _user("admin", 255))
    assert s.user("guest").rank_confirmed and s.user("admin").rank_confirmed
    assert s.is_moderator("admin") and not s.is_moderator("guest")
    # a repeat addUser of a still-provisional user takes the new rank and its finality
    apply(s, "addUser", _user("late", 1))
    apply(s, "addUser", _user("late", 2))
    assert s.user("late").rank_confirmed and s.is_moderator("late")


def test_users_missing_from_the_list_are_not_moderators():
    s = ChannelState(channel="c")
    assert not s.is_moderator("ghost")


def test_user_leave_and_counts():
    s = ChannelState(channel="c")
    apply(s, "userlist", [_user("a", 1), _user("b", 1)])
    apply(s, "usercount", 5)
    apply(s, "setLeader", "a")
    change = apply(s, "userLeave", {"name": "a"})
    assert change.left == ("a",)
    assert s.chat_count == 1 and s.usercount == 5 and s.leader == ""


def test_afk_and_meta_updates():
    s = ChannelState(channel="c")
    apply(s, "userlist", [_user("a", 1)])
    apply(s, "setAFK", {"name": "a", "afk": True})
    assert s.user("a").afk
    apply(s, "setUserMeta", {"name": "a", "meta": {"afk": False, "muted": True}})
    assert not s.user("a").afk and s.user("a").muted


def test_playlist_queue_move_delete_temp_and_current():
    s = ChannelState(channel="c")
    apply(s, "playlist", [_item(1, "a"), _item(2, "b")])
    apply(s, "queue", {"item": _item(3, "c"), "after": 1})
    assert [it.uid for it in s.playlist] == [1, 3, 2]
    apply(s, "queue", {"item": _item(4, "d"), "after": "prepend"})
    assert [it.uid for it in s.playlist] == [4, 1, 3, 2]
    apply(s, "moveVideo", {"from": 4, "after": 2})
    assert [it.uid for it in s.playlist] == [1, 3, 2, 4]
    apply(s, "moveVideo", {"from": 2, "after": "prepend"})
    assert [it.uid for it in s.playlist] == [2, 1, 3, 4]
    apply(s, "delete", {"uid": 1})
    assert [it.uid for it in s.playlist] == [2, 3, 4]
    apply(s, "setTemp", {"uid": 3, "temp": False})
    assert s.item(3).temp is False
    apply(s, "setCurrent", 3)
    apply(s, "changeMedia", {"id": "c", "title": "C", "seconds": 60, "duration": "01:00",
                            "type": "yt", "currentTime": -3, "paused": True})
    assert s.current_uid == 3 and s.current_media.id == "c" and s.paused
    apply(s, "mediaUpdate", {"currentTime": 12.5, "paused": False})
    assert s.current_time == 12.5 and not s.paused
    assert s.position_of(3) == 2 and s.item_at(1).uid == 2 and s.item_at(9) is None


def test_own_rank_and_reset_forgets_uids():
    s = ChannelState(channel="c", me=lambda: "bot")
    apply(s, "rank", 3)
    apply(s, "playlist", [_item(1, "a")])
    apply(s, "setCurrent", 1)
    assert s.my_rank == 3
    s.reset()
    assert s.playlist == [] and s.current_uid is None and s.my_rank == -1 and s.users == {}


def test_malformed_events_change_nothing():
    s = ChannelState(channel="c")
    assert not apply(s, "userLeave", None).left
    assert not apply(s, "usercount", "many").counts
    assert not apply(s, "someFutureEvent", {}).status
