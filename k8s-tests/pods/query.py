"""Runs in the cluster (a Job, dbservice image): wait until the consumer has nothing pending,
then print one JSON line with each user's stats (ROSEY_TEST_USERS, comma-separated), the
channel stats, and the stream's message count, replica count and the servers holding it."""
import asyncio
import json
import os
import sys
import time

import nats
import nats.errors

USERS = [u for u in os.environ["ROSEY_TEST_USERS"].split(",") if u]


def identity(user_var: str, password_var: str) -> dict[str, str]:
    """nats.connect() options for a chart identity (natsAuth); none without authorization."""
    user, password = os.environ.get(user_var, ""), os.environ.get(password_var, "")
    if not (user and password):
        return {}
    return {"user": user, "password": password, "inbox_prefix": f"_INBOX_{user}"}


async def main() -> None:
    url = os.environ["ROSEY_NATS_URL"]
    # queries and stream info as the bot; the durable consumer's state only the DatabaseService
    # identity may read
    nc = await nats.connect(url, max_reconnect_attempts=-1, connect_timeout=5,
                            **identity("ROSEY_NATS_USER", "ROSEY_NATS_PASSWORD"))
    consumer_nc = await nats.connect(url, max_reconnect_attempts=-1, connect_timeout=5,
                                     **identity("ROSEY_NATS_CONSUMER_USER",
                                                "ROSEY_NATS_CONSUMER_PASSWORD"))
    js = nc.jetstream()
    deadline = time.monotonic() + 300
    while True:
        try:
            info = await consumer_nc.jetstream().consumer_info("ROSEY_EVENTS", "rosey-dbservice")
            if info.num_pending == 0 and info.num_ack_pending == 0:
                break
        except (TimeoutError, nats.errors.Error):
            pass
        if time.monotonic() > deadline:
            sys.exit("the consumer never caught up")
        await asyncio.sleep(1)
    users = {}
    for user in USERS:
        reply = await nc.request("rosey.db.query.user_stats",
                                 json.dumps({"username": user}).encode(), timeout=5)
        users[user] = json.loads(reply.data)
    channel = json.loads((await nc.request("rosey.db.query.channel_stats", b"{}", timeout=5)).data)
    stream = await js.stream_info("ROSEY_EVENTS", subjects_filter="rosey.db.message.log")
    cluster = stream.cluster
    servers = []
    if cluster is not None:
        servers = [cluster.leader] + [r.name for r in (cluster.replicas or [])]
        current = [r.current for r in (cluster.replicas or [])]
    else:
        current = []
    print(json.dumps({"users": users, "channel": channel,
                      "stream_message_log": (stream.state.subjects or {}).get("rosey.db.message.log", 0),
                      "stream_replicas": stream.config.num_replicas,
                      "stream_servers": servers, "replicas_current": current}), flush=True)
    await nc.close()
    await consumer_nc.close()


asyncio.run(main())
