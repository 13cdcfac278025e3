"""Tests of the stand-in CyTube server, driven by a raw python-socketio ``AsyncClient``.

The expected event orders are the ones recorded from a real CyTube 3.86 in
``shared/cytube-transcripts/`` (file names given per test).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
import socketio

from tests.support.cytube import CyTubeTestServer, HandlerErrors, RateLimit, format_chat

ACCOUNTS = {"demouser": ("userpw", 1), "demomod": ("modpw", 2), "demoowner": ("ownerpw", 5)}

# join-user-demouser.jsonl: everything the client received, in order.
REGISTERED_JOIN_ORDER = [
    "rank", "setPermissions", "setPlaylistLocked", "emoteList", "chatMsg", "drinkCount",
    "channelCSSJS", "setMotd", "channelOpts", "setPlaylistMeta", "playlist", "setCurrent",
    "setCurrent", "changeMedia", "userlist", "usercount",
    "rank", "login", "addUser", "rank", "setPlaylistMeta", "playlist", "setCurrent",
    "setUserRank",
]
# join-guest-demoguest1.jsonl: the guest login lands before the join burst.
GUEST_JOIN_ORDER = [
    "rank", "rank", "login", "setPermissions", "setPlaylistLocked", "emoteList", "chatMsg",
    "drinkCount", "channelCSSJS", "setMotd", "channelOpts", "setPlaylistMeta", "playlist",
    "userlist", "usercount",
]
USER_KEYS = {"name", "rank", "profile", "meta"}
ITEM_KEYS = {"media", "uid", "temp", "queueby"}
MEDIA_KEYS = {"id", "title", "seconds", "duration", "type", "meta"}


class Client:
    """A raw socket.io client that records every event it receives."""

    def __init__(self, server: CyTubeTestServer, *, reconnection: bool = False) -> None:
        self.server = server
        self.sio = socketio.AsyncClient(reconnection=reconnection, reconnection_delay=0.05,
                                        reconnection_delay_max=0.1, randomization_factor=0)
        self.events: list[tuple[str, Any]] = []
        self.disconnect_reasons: list[Any] = []
        self.connect_errors: list[Any] = []
        self.connects = 0
        self.on_connect: Callable[[], Awaitable[None]] | None = None
        self.sio.on("*", self._record)
        self.sio.on("connect", self._connected)
        self.sio.on("disconnect", self._disconnected)
        self.sio.on("connect_error", self._connect_error)

    async def _record(self, event: str, *args: Any) -> None:
        self.events.append((event, args[0] if args else None))

    async def _connected(self) -> None:
        self.connects += 1
        if self.on_connect is not None:
            await self.on_connect()

    async def _disconnected(self, reason: Any = None) -> None:
        self.disconnect_reasons.append(reason)

    async def _connect_error(self, data: Any = None) -> None:
        self.connect_errors.append(data)

    async def connect(self, transport: str = "websocket") -> Client:
        await self.sio.connect(self.server.url, transports=[transport], wait_timeout=5)
        return self

    async def join(self, name: str | None = None, pw: str | None = None) -> None:
        """joinChannel then login in one go, as the recorded clients did."""
        await self.sio.emit("joinChannel", {"name": self.server.channel})
        if name is not None:
            await self.sio.emit("login", {"name": name} if pw is None else
                                {"name": name, "pw": pw})

    def names(self) -> list[str]:
        return [event for event, _ in self.events]

    def of(self, event: str) -> list[Any]:
        return [data for name, data in self.events if name == event]

    async def wait(self, event: str, where: Callable[[Any], bool] = lambda _: True,
                   timeout: float = 3.0) -> Any:
        await self.server.wait_for(lambda: any(where(d) for d in self.of(event)), timeout,
                                   what=f"{event} event")
        return next(d for d in self.of(event) if where(d))


@pytest.fixture
async def server() -> AsyncIterator[CyTubeTestServer]:
    srv = CyTubeTestServer(accounts=ACCOUNTS, rate_limit=False,
                           history=[("demomod", "hello from the moderator")])
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()
    assert srv.errors == []


@pytest.fixture
async def clients() -> AsyncIterator[Callable[..., Client]]:
    made: list[Client] = []

    def make(server: CyTubeTestServer, **kwargs: Any) -> Client:
        client = Client(server, **kwargs)
        made.append(client)
        return client

    try:
        yield make
    finally:
        for client in made:
            await client.sio.disconnect()


async def joined(make: Callable[..., Client], server: CyTubeTestServer, name: str,
                 pw: str | None = None, *, transport: str = "websocket") -> Client:
    client = await make(server).connect(transport)
    await client.join(name, pw)
    await server.wait_for(lambda: name in server.users and client.of("usercount"),
                          what=f"{name} joined")
    if pw is not None:
        await client.wait("setUserRank", lambda d: d["name"] == name)
    return client


async def test_socketconfig_points_at_the_server_and_rejects_bad_names(server):
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/socketconfig/testchan.json") as resp:
            assert resp.status == 200
            assert await resp.json() == {"servers": [{"url": server.url, "secure": False}]}
        async with http.get(f"{server.url}/socketconfig/bad%20name.json") as resp:
            assert resp.status == 404
            assert await resp.json() == {"error": 'Channel "bad name" does not exist.'}


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_registered_join_matches_the_recorded_order_and_shapes(server, clients,
                                                                     transport):
    mod = await joined(clients, server, "demomod", "modpw")
    await mod.sio.emit("queue", {"id": "http://127.0.0.1:8099/manifest.json", "type": "cm",
                                 "pos": "end", "temp": True})
    await mod.sio.emit("queue", {"id": "rtmp://127.0.0.1/live/demo", "type": "rt",
                                 "pos": "end", "temp": True})
    await server.wait_for(lambda: len(server.playlist) == 2)
    await mod.sio.disconnect()
    await server.wait_for(lambda: not server.users)

    user = await clients(server).connect(transport)
    await user.join("demouser", "userpw")
    await user.wait("setUserRank")

    assert user.names() == REGISTERED_JOIN_ORDER
    history = user.of("chatMsg")[0]
    assert history["username"] == "demomod" and history["msg"] == "hello from the moderator"
    assert set(history) == {"username", "msg", "meta", "time"}
    playlist = user.of("playlist")[0]
    assert [item["uid"] for item in playlist] == [0, 1]
    assert all(set(item) == ITEM_KEYS and set(item["media"]) == MEDIA_KEYS
               for item in playlist)
    assert playlist[1]["media"]["seconds"] == 0  # live
    change = user.of("changeMedia")[0]
    assert set(change) == MEDIA_KEYS | {"currentTime", "paused"}
    assert user.of("login") == [{"success": True, "name": "demouser"}]
    added = user.of("addUser")[0]
    assert set(added) == USER_KEYS and added["rank"] == 1
    assert added["meta"] == {"afk": False, "muted": False}
    assert user.of("setUserRank") == [{"name": "demouser", "rank": 1}]
    assert server.events_from("demouser")[:2] == [
        ("joinChannel", {"name": "testchan"}), ("login", {"name": "demouser", "pw": "userpw"})]


async def test_moderator_gets_rank_userlist_and_others_see_add_then_rank(server, clients):
    owner = await joined(clients, server, "demoowner", "ownerpw")
    mod = await clients(server).connect()
    await mod.join("demomod", "modpw")
    await mod.wait("setUserRank")
    # main-B-demomod.jsonl, after the burst
    assert mod.names()[-8:] == ["rank", "login", "addUser", "rank", "userlist",
                                "setPlaylistMeta", "playlist", "setUserRank"]
    assert mod.of("rank")[-1] == 2
    assert set(mod.of("userlist")[-1][0]["meta"]) == {"afk", "muted", "smuted", "aliases",
                                                      "ip"}
    # main-A-demoowner.jsonl: addUser (rank 1), [server] notice, setUserRank (rank 2)
    await owner.wait("setUserRank", lambda d: d["name"] == "demomod")
    tail = owner.events[-3:]
    assert [e for e, _ in tail] == ["addUser", "chatMsg", "setUserRank"]
    assert tail[0][1]["rank"] == 1
    assert tail[1][1]["username"] == "[server]"
    assert tail[1][1]["msg"] == "demomod joined (aliases: demomod)"
    assert tail[2][1] == {"name": "demomod", "rank": 2}
    assert server.users["demomod"]["rank"] == 2


async def test_guest_login_lands_before_the_join_burst(server, clients):
    guest = await clients(server).connect()
    await guest.join("demoguest1")
    await guest.wait("usercount")
    assert guest.names() == GUEST_JOIN_ORDER
    assert guest.of("rank") == [-1, 0]
    assert guest.of("login") == [{"success": True, "name": "demoguest1", "guest": True}]
    assert [u["name"] for u in guest.of("userlist")[0]] == ["demoguest1"]
    assert server.users["demoguest1"]["rank"] == 0


async def test_guest_login_refuses_registered_and_taken_names(server, clients):
    await server.add_user("alice")
    registered = await clients(server).connect()
    await registered.join("demomod")
    taken = await clients(server).connect()
    await taken.sio.emit("joinChannel", {"name": "testchan"})
    await taken.wait("usercount")
    await taken.sio.emit("login", {"name": "Alice"})
    assert await registered.wait("login") == {"success": False,
                                              "error": "That username is registered."}
    assert await taken.wait("login") == {
        "success": False, "error": "That name is already in use on this channel."}


GUEST_DELAY_60 = "Guest logins are restricted to one per IP address per 60 seconds."
INVALID_GUEST_NAME = ("Invalid username.  Usernames must be 1-20 characters long and consist "
                      "only of characters a-z, A-Z, 0-9, -, or _.")


async def test_guest_login_delay_is_per_ip_after_a_success_only(clients):
    server = await CyTubeTestServer(accounts=ACCOUNTS, rate_limit=False,
                                    guest_login_delay=60).start()
    try:
        first = await clients(server).connect()
        await first.join("bad name")  # a failed guest login is not recorded ...
        assert await first.wait("login") == {"success": False, "error": INVALID_GUEST_NAME}
        await first.sio.emit("login", {"name": "guest1"})  # ... so this one gets in
        await first.wait("login", lambda d: d["success"])
        await server.wait_for(lambda: "guest1" in server.users)

        second = await clients(server).connect()  # same IP (127.0.0.1)
        await second.join("guest2")
        await second.wait("usercount")
        assert second.of("login") == [{"success": False, "error": GUEST_DELAY_60}]
        # the delay is checked before anything else, even the name
        await second.sio.emit("login", {"name": "bad name"})
        await second.wait("login", lambda d: len(second.of("login")) == 2)
        assert second.of("login")[1] == {"success": False, "error": GUEST_DELAY_60}
        # refused, but still connected and in the channel as an anonymous viewer
        assert second.sio.connected and "guest2" not in server.users
        assert [u["name"] for u in second.of("userlist")[0]] == ["guest1"]

        # registered logins neither are refused nor count
        await joined(clients, server, "demouser", "userpw")
        assert [(r.name, r.success) for r in server.login_replies] == [
            ("bad name", False), ("guest1", True), ("guest2", False), ("bad name", False),
            ("demouser", True)]
        assert len({r.sid for r in server.login_replies[2:4]}) == 1

        # CyTube keeps the record in memory: a restarted server has forgotten it
        await server.restart()
        await joined(clients, server, "guest3")
    finally:
        await server.stop()
    assert server.errors == []


async def test_guest_login_delay_expires_and_refusals_do_not_extend_it(clients):
    delay = 0.5
    server = await CyTubeTestServer(rate_limit=False, guest_login_delay=delay).start()
    try:
        await joined(clients, server, "guest1")
        success = server.login_replies[-1]
        assert success.success and success.name == "guest1"
        waiting = await clients(server).connect()
        await waiting.join("guest2")
        refusal = "Guest logins are restricted to one per IP address per 0.5 seconds."
        assert await waiting.wait("login") == {"success": False, "error": refusal}
        await waiting.sio.emit("login", {"name": "guest2"})  # refused again, later
        await waiting.wait("login", lambda d: len(waiting.of("login")) == 2)
        assert waiting.of("login")[1] == {"success": False, "error": refusal}
        assert server.login_replies[-1].at > success.at
        # the window counts from the success alone: once it is over, the same socket gets in
        await asyncio.sleep(max(0.0, success.at + delay - time.monotonic()))
        await waiting.sio.emit("login", {"name": "guest2"})
        assert await waiting.wait("login", lambda d: d["success"]) == {
            "success": True, "name": "guest2", "guest": True}
        await server.wait_for(lambda: "guest2" in server.users)
        assert waiting.of("addUser")[-1]["name"] == "guest2"  # already in: addUser for itself
        assert len({r.sid for r in server.login_replies[1:]}) == 1
        assert server.connections == 2
    finally:
        await server.stop()
    assert server.errors == []


async def test_wrong_password_fails_after_the_burst(server, clients):
    client = await clients(server).connect()
    await client.join("demouser", "wrong")
    assert await client.wait("login") == {"success": False,
                                          "error": "Invalid username/password combination"}
    assert client.names()[-2:] == ["usercount", "login"]  # join-badpw-demouser.jsonl
    assert "addUser" not in client.names() and "demouser" not in server.users


async def test_duplicate_registered_login_kicks_the_older_socket(server, clients):
    first = await joined(clients, server, "demouser", "userpw")
    second = await clients(server).connect()
    await second.join("demouser", "userpw")
    assert await first.wait("kick") == {"reason": "Duplicate login"}
    await second.wait("setUserRank")
    await server.wait_for(lambda: not first.sio.connected)
    assert ("demouser", "Duplicate login") in server.kicked


async def test_chat_is_escaped_links_wrapped_and_echoed_to_the_sender(server, clients):
    await server.add_user("watcher")
    client = await joined(clients, server, "demouser", "userpw")
    typed = "<b>\"it's\" (x) & see https://example.com/p?a=1&b=2"
    await client.sio.emit("chatMsg", {"msg": typed, "meta": {}})
    echo = await client.wait("chatMsg", lambda d: d["username"] == "demouser")
    expected = ('&lt;b&gt;&quot;it&#39;s&quot; &#40;x&#41; &amp; see '
                '<a href="https://example.com/p?a=1&amp;b=2" target="_blank" '
                'rel="noopener noreferrer">https://example.com/p?a=1&amp;b=2</a>')
    assert echo["msg"] == expected == format_chat(typed)
    assert echo["meta"] == {} and isinstance(echo["time"], int)
    assert server.chat_texts() == [("demouser", expected)]
    assert server.history[-1]["msg"] == expected


async def test_chat_is_cut_to_320_characters_before_escaping(server, clients):
    client = await joined(clients, server, "demouser", "userpw")
    await client.sio.emit("chatMsg", {"msg": "a" * 319 + "<" + "b" * 100})
    echo = await client.wait("chatMsg", lambda d: d["username"] == "demouser")
    assert echo["msg"] == "a" * 319 + "&lt;"


async def test_pm_reaches_both_ends_and_errors_use_cytube_texts(server, clients):
    await server.add_user("SimMod", rank=2)
    client = await joined(clients, server, "demouser", "userpw")
    await client.sio.emit("pm", {"to": "simmod", "msg": "hi (there)", "meta": {}})
    echo = await client.wait("pm")
    assert echo["username"] == "demouser" and echo["to"] == "SimMod"
    assert echo["msg"] == "hi &#40;there&#41;"
    assert server.pms_to("simmod") == ["hi &#40;there&#41;"]

    await server.user_pm("SimMod", "demouser", "status <now>")
    got = await client.wait("pm", lambda d: d["username"] == "SimMod")
    assert got["msg"] == "status &lt;now&gt;" and got["to"] == "demouser"
    assert server.pms_to("demouser") == ["status &lt;now&gt;"]

    for to in ("demouser", "no one", "Ghost"):
        await client.sio.emit("pm", {"to": to, "msg": "x"})
    await server.wait_for(lambda: len(client.of("errorMsg")) == 3)
    assert [e["msg"] for e in client.of("errorMsg")] == [
        "You can't PM yourself!", "PM failed: no one isn't a valid username.",
        "PM failed: ghost isn't connected to this channel."]


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_kick_command_kicks_and_disconnects_the_target(server, clients, transport):
    mod = await joined(clients, server, "demomod", "modpw")
    victim = await joined(clients, server, "demouser", "userpw", transport=transport)
    await mod.sio.emit("chatMsg", {"msg": "/kick DemoUser go away"})
    assert await victim.wait("kick") == {"reason": "go away"}
    await server.wait_for(lambda: not victim.sio.connected)
    assert victim.disconnect_reasons == [socketio.AsyncClient.reason.SERVER_DISCONNECT]
    assert await mod.wait("userLeave") == {"name": "demouser"}
    assert server.kicked == [("demouser", "go away")]
    assert "demouser" not in server.users
    assert not any(u == "demomod" for u, _ in server.chat_texts())  # commands aren't chat

    await server.add_user("sim")
    await mod.sio.emit("chatMsg", {"msg": "/kick sim"})
    await mod.wait("userLeave", lambda d: d["name"] == "sim")
    assert ("sim", "") in server.kicked


async def test_kick_needs_a_higher_rank(server, clients):
    await server.add_user("boss", rank=3)
    mod = await joined(clients, server, "demomod", "modpw")
    await mod.sio.emit("chatMsg", {"msg": "/kick boss"})
    assert await mod.wait("errorMsg") == {"msg": "You do not have permission to kick boss"}
    assert "boss" in server.users


async def test_flooding_chat_gets_cooldown_and_drops(server, clients):
    client = await joined(clients, server, "demouser", "userpw")
    for i in range(30):
        await client.sio.emit("chatMsg", {"msg": f"line {i}"})
    assert await client.wait("cooldown") == 100
    await client.wait("chatMsg", lambda d: d["msg"] == "line 19")
    echoed = [d["msg"] for d in client.of("chatMsg") if d["username"] == "demouser"]
    assert echoed[:20] == [f"line {i}" for i in range(20)]
    assert len(echoed) < 30


async def test_connects_past_the_bucket_get_rate_limit_exceeded(clients):
    # throttle-probe-*.jsonl: five quick connections pass, the sixth is refused.
    server = await CyTubeTestServer().start()
    try:
        for _ in range(5):
            await clients(server).connect()
        refused = clients(server)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await refused.connect()
        assert refused.connect_errors == [{"message": "Rate limit exceeded"}]
        assert server.connections == 5 and server.refused_connections == 1
    finally:
        await server.stop()


async def test_rate_limit_can_be_tightened(clients):
    server = await CyTubeTestServer(rate_limit=RateLimit(burst=1, per_second=0.01)).start()
    try:
        await clients(server).connect()
        with pytest.raises(socketio.exceptions.ConnectionError):
            await clients(server).connect()
    finally:
        await server.stop()


async def test_restart_keeps_port_history_and_playlist_with_new_uids(server, clients):
    mod = clients(server, reconnection=True)

    async def rejoin() -> None:
        await mod.join("demomod", "modpw")

    mod.on_connect = rejoin
    await mod.connect()
    await mod.wait("setUserRank")
    for media_id in ("a1", "b2"):
        await mod.sio.emit("queue", {"id": media_id, "type": "yt", "pos": "end"})
    await mod.sio.emit("delete", 0)
    await mod.sio.emit("chatMsg", {"msg": "before restart"})
    await server.wait_for(lambda: [i["media"]["id"] for i in server.playlist] == ["b2"])
    await mod.wait("chatMsg", lambda d: d["msg"] == "before restart")
    assert server.playlist[0]["uid"] == 1
    port, connects = server.port, mod.connects

    await server.restart()

    assert server.port == port
    await server.wait_for(lambda: mod.connects == connects + 1, what="client reconnected")
    assert mod.disconnect_reasons[-1] != socketio.AsyncClient.reason.SERVER_DISCONNECT
    await server.wait_for(lambda: "demomod" in server.users)
    assert [(i["uid"], i["media"]["id"]) for i in server.playlist] == [(0, "b2")]
    assert server.current_uid == 0
    assert ("demomod", "before restart") in [(m["username"], m["msg"])
                                             for m in server.history]


async def test_stop_drops_sockets_without_a_kick(server, clients):
    client = await joined(clients, server, "demouser", "userpw")
    await server.stop()
    await server.wait_for(lambda: not client.sio.connected)
    assert "kick" not in client.names()
    assert client.disconnect_reasons[-1] != socketio.AsyncClient.reason.SERVER_DISCONNECT


async def test_channel_password_prompt_and_retry(clients):
    server = await CyTubeTestServer(channel_password="s3cret", rate_limit=False).start()
    try:
        client = await clients(server).connect()
        await client.sio.emit("joinChannel", {"name": "testchan", "pw": "nope"})
        assert await client.wait("needPassword") is True
        await client.sio.emit("channelPassword", "s3cret")
        await client.wait("usercount")
        assert client.names()[:4] == ["rank", "needPassword", "cancelNeedPassword",
                                      "setPermissions"]
        assert client.of("channelOpts")[0]["password"] == "s3cret"
    finally:
        await server.stop()


async def test_ban_kicks_and_blocks_the_name(server, clients):
    mod = await joined(clients, server, "demomod", "modpw")
    victim = await joined(clients, server, "demouser", "userpw")
    await mod.sio.emit("chatMsg", {"msg": "/ban demouser spam"})
    assert await victim.wait("kick") == {"reason": "You're banned!"}
    assert server.banned == {"demouser"}
    again = await clients(server).connect()
    await again.join("demouser", "userpw")
    assert await again.wait("kick") == {"reason": "You are banned from this channel."}


async def test_mute_and_afk_send_user_meta(server, clients):
    await server.add_user("noisy")
    mod = await joined(clients, server, "demomod", "modpw")
    await mod.sio.emit("chatMsg", {"msg": "/mute noisy"})
    meta = await mod.wait("setUserMeta", lambda d: d["name"] == "noisy")
    assert meta["meta"]["muted"] is True and server.muted == {"noisy"}
    await mod.sio.emit("chatMsg", {"msg": "/afk"})
    assert await mod.wait("setAFK") == {"name": "demomod", "afk": True}
    await mod.wait("setUserMeta", lambda d: d["name"] == "demomod" and d["meta"]["afk"])
    await server.user_chat("noisy", "can anyone hear me")
    await mod.sio.emit("chatMsg", {"msg": "/unmute noisy"})
    await mod.wait("setUserMeta", lambda d: d["name"] == "noisy" and not d["meta"]["muted"])
    assert server.chat_texts() == []  # the muted line was dropped
    # any chat line without "/afk" (commands too) brings the sender back
    assert await mod.wait("setAFK", lambda d: not d["afk"]) == {"name": "demomod",
                                                                 "afk": False}
    assert server.users["demomod"]["meta"]["afk"] is False


async def test_assign_leader_without_rank_kicks_the_sender(server, clients):
    user = await joined(clients, server, "demouser", "userpw")
    await user.sio.emit("assignLeader", {"name": "demouser"})
    assert await user.wait("kick") == {
        "reason": "Attempted assignLeader without sufficient permission"}


async def test_leader_media_update_is_broadcast(server, clients):
    mod = await joined(clients, server, "demomod", "modpw")
    await mod.sio.emit("queue", {"id": "vid1", "type": "yt", "pos": "end"})
    await mod.wait("changeMedia")
    await mod.sio.emit("assignLeader", {"name": "demomod"})
    assert await mod.wait("setLeader") == "demomod"
    await mod.sio.emit("mediaUpdate", {"id": "vid1", "currentTime": 12.5, "paused": True})
    assert await mod.wait("mediaUpdate", lambda d: d["paused"]) == {"currentTime": 12.5,
                                                                   "paused": True}
    assert server.leader == "demomod"


async def test_queue_rules_and_voteskip(server, clients):
    mod = await joined(clients, server, "demomod", "modpw")
    await mod.sio.emit("queue", {"id": "https://x/f.mp4", "type": "fi", "pos": "end"})
    assert (await mod.wait("queueFail"))["msg"] == \
        "Raw file playback is not enabled on this server"
    await mod.sio.emit("queue", {"id": "one", "type": "yt", "pos": "end"})
    await mod.sio.emit("queue", {"id": "one", "type": "yt", "pos": "end"})
    await mod.sio.emit("queue", {"id": "two", "type": "yt", "pos": "end"})
    await server.wait_for(lambda: len(mod.of("queue")) == 2)
    fails = await server.wait_for(lambda: len(mod.of("queueFail")) == 2 and mod.of("queueFail"))
    assert fails[1] == {"msg": "This item is already on the playlist",
                        "link": "https://youtu.be/one", "id": "one"}
    assert [q["after"] for q in mod.of("queue")] == ["prepend", 0]
    assert server.current_uid == 0
    await mod.sio.emit("voteskip")
    skip = await mod.wait("chatMsg", lambda d: d["username"] == "[voteskip]")
    assert skip["msg"].startswith("Voteskip passed: 1/1 skipped")
    await server.wait_for(lambda: server.current_uid == 1)


async def test_a_rank_confirmed_later_shows_the_provisional_rank_first(server, clients):
    watcher = await clients(server).connect()
    await watcher.join("demomod", "modpw")
    await watcher.wait("userlist")
    await server.add_user("slowmod", 2, confirm_after=0.3)
    added = await watcher.wait("addUser", lambda d: d["name"] == "slowmod")
    assert added["rank"] == 1 and server.users["slowmod"]["rank"] == 1
    assert not [d for d in watcher.of("setUserRank") if d["name"] == "slowmod"]
    await watcher.wait("setUserRank", lambda d: d == {"name": "slowmod", "rank": 2})
    assert server.users["slowmod"]["rank"] == 2


async def test_a_handler_error_fails_the_test_at_stop(clients):
    server = await CyTubeTestServer(rate_limit=False).start()

    async def broken(conn, data) -> None:
        raise KeyError(data)

    server._handlers["broken"] = broken  # a handler with a bug, reached by a real client
    client = await clients(server).connect()
    await client.sio.emit("broken", "boom")
    await server.wait_for(lambda: server.errors, what="the handler error was recorded")
    with pytest.raises(HandlerErrors, match="KeyError"):
        await server.stop()
    assert [type(e) for e in server.errors] == [KeyError]
    server.check_errors()  # reported once: a second check is quiet


async def test_a_socket_that_has_not_joined_cannot_chat(server, clients):
    outsider = await clients(server).connect()
    await outsider.sio.emit("login", {"name": "outsider"})
    await outsider.wait("login")
    await outsider.sio.emit("chatMsg", {"msg": "from outside", "meta": {}})
    insider = await clients(server).connect()
    await insider.join("demomod", "modpw")
    await insider.wait("userlist")
    await insider.wait("login")
    await insider.sio.emit("chatMsg", {"msg": "from inside", "meta": {}})
    await server.wait_for(lambda: server.chat_texts(), what="a chat line")
    assert server.chat_texts() == [("demomod", "from inside")]


async def test_the_five_default_filters_rewrite_chat_and_pms_but_not_links(server, clients):
    await server.add_user("SimMod", rank=2)
    client = await joined(clients, server, "demouser", "userpw")
    typed = "`m` *b* _i_ ~~s~~ [SP]x[/sp] youtu.be/xy_zw_abcde https://youtu.be/ab_cd_efghi"
    await client.sio.emit("chatMsg", {"msg": typed, "meta": {}})
    echo = await client.wait("chatMsg", lambda d: d["username"] == "demouser")
    link = "https://youtu.be/ab_cd_efghi"
    assert echo["msg"] == (
        '<code>m</code> <strong>b</strong> <em>i</em> <s>s</s> <span class="spoiler">x</span> '
        f'youtu.be/xy<em>zw</em>abcde <a href="{link}" target="_blank" '
        f'rel="noopener noreferrer">{link}</a>')
    await client.sio.emit("pm", {"to": "SimMod", "msg": "2*3*4 = 24", "meta": {}})
    assert (await client.wait("pm"))["msg"] == "2<strong>3</strong>4 = 24"


async def test_ban_refusals_notice_and_banlist(server, clients):
    mod = await joined(clients, server, "demomod", "modpw")
    await mod.sio.emit("chatMsg", {"msg": "/ban demoowner"})  # absent, higher rank
    assert (await mod.wait("errorMsg"))["msg"] == "You don't have permission to ban demoowner"
    await mod.sio.emit("chatMsg", {"msg": "/ban troll spamming"})
    notice = await mod.wait("chatMsg", lambda d: d["username"] == "[server]"
                            and "namebanned" in d["msg"])
    assert notice["msg"] == "demomod namebanned troll"
    await mod.sio.emit("requestBanlist")
    assert await mod.wait("banlist") == [{"id": 1, "ip": "*", "name": "troll",
                                          "reason": "spamming", "bannedby": "demomod"}]
    user = await joined(clients, server, "demouser", "userpw")
    await user.sio.emit("requestBanlist")  # no ban permission: no answer
    await user.sio.emit("pm", {"to": "demouser", "msg": "me", "meta": {}})
    assert (await user.wait("errorMsg"))["msg"] == "You can't PM yourself!"
    assert user.of("banlist") == []


async def test_a_repeated_voteskip_counts_nothing_but_answers_the_counts(server, clients):
    await server.add_user("a")
    await server.add_user("b")
    mod = await joined(clients, server, "demomod", "modpw")
    await mod.sio.emit("queue", {"id": "one", "type": "yt", "pos": "end"})
    await mod.wait("changeMedia")
    await mod.sio.emit("voteskip")
    await mod.sio.emit("voteskip")
    await server.wait_for(lambda: mod.of("voteskip")[-2:] == [{"count": 1, "need": 2}] * 2)


async def test_clear_playlist_sends_an_empty_playlist(server, clients):
    mod = await joined(clients, server, "demomod", "modpw")
    await mod.sio.emit("queue", {"id": "one", "type": "yt", "pos": "end"})
    await mod.wait("changeMedia")
    before = len(mod.of("playlist"))
    await mod.sio.emit("clearPlaylist")
    await server.wait_for(lambda: mod.of("playlist")[before:] == [[]])
    assert server.playlist == [] and server.current_uid is None


async def test_an_unregistered_channel_has_the_open_permissions_and_says_so(clients):
    srv = CyTubeTestServer(accounts=ACCOUNTS, rate_limit=False, registered=False)
    await srv.start()
    try:
        owner = await clients(srv).connect()
        await owner.join("demoowner", "ownerpw")
        await owner.wait("channelNotRegistered")
        await owner.wait("login")
        perms = owner.of("setPermissions")[0]
        assert "kick" not in perms and "ban" not in perms and perms["leaderctl"] == 0
        assert owner.of("setPlaylistLocked") == [False]
        await srv.add_user("bob")
        await owner.sio.emit("chatMsg", {"msg": "/ban bob"})
        assert (await owner.wait("errorMsg"))["msg"] == \
            "You do not have ban permissions on this channel"
        assert srv.users["demoowner"]["rank"] == 1  # no channel ranks without an owner
    finally:
        await srv.stop()


async def test_smute_is_seen_by_moderators_only_and_unban_removes_from_the_banlist(
        server, clients):
    await server.add_user("sneaky")
    mod = await joined(clients, server, "demomod", "modpw")
    user = await joined(clients, server, "demouser", "userpw")
    await mod.sio.emit("chatMsg", {"msg": "/smute sneaky"})
    meta = await mod.wait("setUserMeta", lambda d: d["name"] == "sneaky")
    assert meta["meta"]["smuted"] is True and meta["meta"]["muted"] is True
    notice = await mod.wait("chatMsg", lambda d: d["username"] == "[server]"
                            and "shadowmuted" in d["msg"])
    assert notice["msg"] == "demomod shadowmuted sneaky"
    await server.user_chat("sneaky", "only mods see this")
    await mod.wait("chatMsg", lambda d: d["username"] == "sneaky")
    await mod.sio.emit("chatMsg", {"msg": "/unmute sneaky"})
    await mod.wait("setUserMeta", lambda d: d["name"] == "sneaky" and not d["meta"]["smuted"])
    assert server.muted == set() and server.smuted == set()
    assert not any(d["username"] == "sneaky" for d in user.of("chatMsg"))
    # a base viewer is never told the user was muted
    assert not any(d["meta"]["muted"] or "smuted" in d["meta"] for d in user.of("setUserMeta"))
    # unban: the entry's id and name; banlistRemove to those with the ban permission
    await mod.sio.emit("chatMsg", {"msg": "/ban troll"})
    await mod.sio.emit("requestBanlist")
    entry = (await mod.wait("banlist"))[0]
    await user.sio.emit("unban", {"id": entry["id"], "name": "troll"})  # no permission
    await mod.sio.emit("unban", {"id": entry["id"], "name": "troll"})
    assert await mod.wait("banlistRemove") == {"id": entry["id"], "name": "troll"}
    assert (await mod.wait("chatMsg", lambda d: "unbanned" in d["msg"]))["msg"] == \
        "demomod unbanned troll"
    assert server.banned == set() and user.of("banlistRemove") == []


# --- setOptions (src/channel/opts.js handleSetOptions) -------------------------------------

async def nth_opts(client: Client, n: int) -> dict[str, Any]:
    """The ``n``-th ``channelOpts`` the client got (the join burst's is the first)."""
    await client.server.wait_for(lambda: len(client.of("channelOpts")) >= n,
                                 what=f"channelOpts #{n}")
    return client.of("channelOpts")[n - 1]


async def test_a_moderators_options_reach_everyone_in_the_channel_and_later_joiners(
        server, clients):
    owner = await joined(clients, server, "demoowner", "ownerpw")
    mod = await joined(clients, server, "demomod", "modpw")
    user = await joined(clients, server, "demouser", "userpw")
    anonymous = await clients(server).connect()
    await anonymous.join()
    await anonymous.wait("usercount")
    everyone = (owner, mod, user, anonymous)
    assert all(len(c.of("channelOpts")) == 1 for c in everyone)  # the join burst's

    await mod.sio.emit("setOptions", {
        "chat_antiflood": True, "new_user_chat_delay": 600, "raid_mode": True,
        "chat_antiflood_params": {"burst": 2, "sustained": 0.5}})
    for client in everyone:
        assert await nth_opts(client, 2) == server.options  # the whole object, not the changed fields
    assert server.options["chat_antiflood"] is True
    assert server.options["new_user_chat_delay"] == 600
    assert server.options["chat_antiflood_params"] == {"burst": 2, "sustained": 0.5,
                                                       "cooldown": 4}
    assert "raid_mode" not in server.options  # unknown keys are ignored
    assert not any(name in ("validationError", "validationPassed", "errorMsg")
                   for name in mod.names())

    later = await joined(clients, server, "guest1")
    assert later.of("channelOpts") == [server.options]
    changed = server.options
    await server.restart()  # a registered channel keeps its options over a reload
    after = await joined(clients, server, "guest2")
    assert after.of("channelOpts") == [changed]


async def test_set_options_below_moderator_rank_kicks_the_sender(server, clients):
    user = await joined(clients, server, "demouser", "userpw")
    await user.sio.emit("setOptions", "chat_antiflood")  # not an object: ignored, no kick
    await user.sio.emit("chatMsg", {"msg": "still here"})
    await user.wait("chatMsg", lambda d: d["msg"] == "still here")
    await user.sio.emit("setOptions", {"chat_antiflood": True})
    assert await user.wait("kick") == {"reason": "Attempted setOptions as a non-moderator"}
    await server.wait_for(lambda: not user.sio.connected)
    assert ("demouser", "Attempted setOptions as a non-moderator") in server.kicked
    assert server.options["chat_antiflood"] is False
    assert user.of("channelOpts")[1:] == []


async def test_admin_only_options_are_silently_ignored_from_a_moderator(server, clients):
    owner = await joined(clients, server, "demoowner", "ownerpw")
    mod = await joined(clients, server, "demomod", "modpw")
    await mod.sio.emit("setOptions", {"block_anonymous_users": True, "password": "x",
                                      "pagetitle": "mine"})  # rank 2: nothing, not even a reply
    await mod.sio.emit("setOptions", {"allow_dupes": True})
    opts = await nth_opts(mod, 2)
    assert opts["allow_dupes"] is True and opts["block_anonymous_users"] is False
    assert opts["password"] is False and opts["pagetitle"] == "testchan"
    assert mod.names().count("channelOpts") == 2  # the first setOptions sent none

    # a channel admin (rank >= 3) may; a page title loses its combining marks
    await owner.sio.emit("setOptions", {"block_anonymous_users": True,
                                        "pagetitle": "Rai\u0301d", "password": "s3cret"})
    opts = await nth_opts(mod, 3)
    assert opts["block_anonymous_users"] is True
    assert opts["pagetitle"] == "Raid" and opts["password"] == "s3cret"
    assert server.channel_password == "s3cret"  # the password joinChannel now asks for
    newcomer = await clients(server).connect()
    await newcomer.sio.emit("joinChannel", {"name": "testchan"})
    assert await newcomer.wait("needPassword") is False
    await owner.sio.emit("setOptions", {"password": ""})  # "" turns it off
    assert (await nth_opts(mod, 4))["password"] is False
    assert server.channel_password is None


async def test_invalid_option_values_are_refused_clamped_or_kept_as_cytube_does(
        server, clients):
    owner = await joined(clients, server, "demoowner", "ownerpw")
    await owner.sio.emit("setOptions", {
        "voteskip_ratio": "lots", "afk_timeout": 90000, "maxlength": "1:30",
        "playlist_max_duration_per_user": "1:00", "new_user_chat_delay": -5,
        "new_user_chat_link_delay": "30", "playlist_max_per_user": "x",
        "chat_antiflood_params": {"burst": "30", "sustained": "0"},
        "externalcss": "http://example.com/a.css", "externaljs": "https://CDN.example.com"})
    opts = await nth_opts(owner, 2)
    assert owner.events[-6:-1] == [
        ("validationError", {"target": "#cs-voteskip_ratio",
                             "message": 'Input must be a number 0 or greater, not "lots"'}),
        ("validationError", {"target": "#cs-afk_timeout", "message": "AFK timeout must be "
                             "between 1 and 86400 seconds (or 0 to disable)"}),
        ("errorMsg", {"msg": 'Expected number for playlist_max_duration_per_user, not "1:00"'}),
        ("validationError", {"target": "#cs-externalcss", "message": "Invalid URL for external "
                             "CSS:  URL must begin with 'https://'"}),
        ("validationPassed", {"target": "#cs-externaljs"}),
    ]
    assert opts == server.options
    assert (opts["voteskip_ratio"], opts["afk_timeout"]) == (0.5, 600)  # refused: unchanged
    assert opts["maxlength"] == 90  # "[[H:]M:]S" parsed
    assert opts["chat_antiflood_params"] == {"burst": 20, "sustained": 1, "cooldown": 20}
    assert opts["new_user_chat_delay"] == 0  # negative: silently ignored
    assert opts["new_user_chat_link_delay"] == "30"  # kept as sent, not parsed
    assert opts["playlist_max_per_user"] == 0
    assert (opts["externalcss"], opts["externaljs"]) == ("", "https://cdn.example.com/")

    # where the real handler throws (maxlength neither string nor number), the fields before
    # it (in opts.js order) stay set, the ones after are not reached, and no channelOpts goes
    # out; the next update carries the change
    await owner.sio.emit("setOptions", {"allow_voteskip": False, "maxlength": None,
                                        "allow_dupes": True})
    await server.wait_for(lambda: server.options["allow_voteskip"] is False)
    await owner.sio.emit("setOptions", {"enable_link_regex": False})
    opts = await nth_opts(owner, 3)
    assert opts["enable_link_regex"] is False and opts["allow_voteskip"] is False
    assert opts["allow_dupes"] is False and opts["maxlength"] == 90
