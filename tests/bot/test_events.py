"""What the bot publishes about the channel, and its health endpoints."""

from __future__ import annotations

import urllib.request

from rosey import contract
from tests.bot.conftest import BOT, MOD, collect, running_bot


async def test_joins_leaves_counts_and_high_water_are_published(cytube, nats_server, nc):
    joined = await collect(nc, contract.USER_JOINED)
    left = await collect(nc, contract.USER_LEFT)
    counts = await collect(nc, contract.USER_COUNT)
    high = await collect(nc, contract.HIGH_WATER)
    await cytube.add_user(MOD, 2)
    async with running_bot(cytube, nats_server.url):
        await cytube.add_user("bob", 1)
        await cytube.wait_for(lambda: {j["username"] for j in joined} == {MOD, BOT, "bob"})
        await cytube.remove_user("bob")
        await cytube.wait_for(lambda: [x["username"] for x in left] == ["bob"])
        await cytube.wait_for(lambda: counts and counts[-1]["chat_count"] == 2)
        assert max(c["chat_count"] for c in counts) == 3
        assert high[-1]["chat_count"] == 3
        # one high-water event per new maximum: every event raises one of the two
        pairs = [(h["chat_count"], h["connected_count"]) for h in high]
        for before, after in zip(pairs, pairs[1:], strict=False):
            assert after[0] >= before[0] and after[1] >= before[1] and after != before
    # leaving the channel closes the sessions the bot was watching
    await cytube.wait_for(lambda: {x["username"] for x in left} == {"bob", MOD, BOT})


async def test_status_updates_describe_the_bot(cytube, nats_server, nc):
    status = await collect(nc, contract.STATUS_UPDATE)
    async with running_bot(cytube, nats_server.url) as bot:
        await bot.session.emit("queue", {"id": "aaaaaaaaaaa", "type": "yt", "pos": "end"})
        await cytube.wait_for(lambda: status and status[-1]["status_data"]["playlist_size"] == 1
                              and status[-1]["status_data"]["current_media"] is not None)
        data = status[-1]["status_data"]
        assert data["bot_name"] == BOT and data["bot_rank"] == 3 and data["connected"] is True
        assert data["channel"] == cytube.channel and data["start_time"] == bot.started_at
        assert data["current_media"]["id"] == "aaaaaaaaaaa"
    assert status[-1]["status_data"]["connected"] is False


async def test_readyz_needs_nats_and_the_channel_and_metrics_keep_serving(cytube, nats_server):
    def get(port, path):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    async with running_bot(cytube, nats_server.url, serve_metrics=True) as bot:
        port = bot.metrics_server.port

        def ready():  # the gauge reads the same checks as /readyz
            return bot.metrics.registry.get_sample_value("rosey_ready")

        assert get(port, "/readyz")[0] == 200
        assert ready() == 1.0
        await cytube.stop()
        await cytube.wait_for(lambda: not bot.session.joined)
        status, body = get(port, "/readyz")
        assert status == 503 and "cytube: fail" in body and "nats: ok" in body
        assert ready() == 0.0
        assert get(port, "/healthz")[0] == 200
        metrics = get(port, "/metrics")[1]
        assert "rosey_outbox_depth" in metrics and "rosey_ready 0.0" in metrics
        await cytube.start()
        await cytube.wait_for(lambda: bot.ready()[0], timeout=10, what="joined and logged in again")
        assert get(port, "/readyz")[0] == 200
        assert ready() == 1.0
