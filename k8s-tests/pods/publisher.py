"""Runs in the cluster (a Job, dbservice image): publish chat lines for one user through
JetStream for DURATION_SECONDS, each with its own Nats-Msg-Id, retrying each until acknowledged,
while watching the DatabaseService commit them through the query subject.

Prints `acked <n>` every 25 acknowledged events, `committed <n> <unix time>` whenever the
user's committed total (rosey.db.query.user_stats) changes, and at the end `done <n> <unix
time>` (every event acknowledged) and, once the DatabaseService has applied them all, `caught-up <n>`."""
import asyncio
import json
import os
import sys
import time

import nats
import nats.errors

USER = os.environ["ROSEY_TEST_USER"]
DURATION = float(os.environ.get("DURATION_SECONDS", "60"))
PACE = float(os.environ.get("PACE_SECONDS", "0.02"))
CATCH_UP = float(os.environ.get("CATCH_UP_SECONDS", "300"))


def identity(user_var: str, password_var: str) -> dict[str, str]:
    """nats.connect() options for a chart identity (natsAuth): user, password, its inbox prefix;
    none when the chart runs NATS without authorization."""
    user, password = os.environ.get(user_var, ""), os.environ.get(password_var, "")
    if not (user and password):
        return {}
    return {"user": user, "password": password, "inbox_prefix": f"_INBOX_{user}"}


async def committed(nc: nats.NATS) -> int | None:
    try:
        reply = await nc.request("rosey.db.query.user_stats",
                                 json.dumps({"username": USER}).encode(), timeout=1)
        body = json.loads(reply.data)
    except (TimeoutError, nats.errors.Error, ValueError):
        return None
    return int(body.get("total_chat_lines") or 0) if body.get("found") else 0


async def watch(nc: nats.NATS, stop: asyncio.Event) -> None:
    last = -1
    while not stop.is_set():
        n = await committed(nc)
        if n is not None and n != last:
            print(f"committed {n} {time.time():.3f}", flush=True)
            last = n
        await asyncio.sleep(0.25)


async def main() -> None:
    # publishes as the bot does (its identity may publish rosey.db.message.log and query)
    nc = await nats.connect(os.environ["ROSEY_NATS_URL"], max_reconnect_attempts=-1,
                            reconnect_time_wait=0.5, connect_timeout=5,
                            **identity("ROSEY_NATS_USER", "ROSEY_NATS_PASSWORD"))
    js = nc.jetstream()
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch(nc, stop))
    end = time.monotonic() + DURATION
    i = 0
    while time.monotonic() < end:
        payload = json.dumps({"username": USER, "message": f"line {i}", "timestamp": time.time()})
        deadline = time.monotonic() + 300
        while True:
            try:
                await js.publish("rosey.db.message.log", payload.encode(), timeout=3,
                                 headers={"Nats-Msg-Id": f"{USER}-{i}"})
                break
            except (TimeoutError, nats.errors.Error) as exc:
                if time.monotonic() > deadline:
                    sys.exit(f"event {i} never acknowledged: {exc!r}")
                await asyncio.sleep(0.2)
        i += 1
        if i % 25 == 0:
            print(f"acked {i}", flush=True)
        await asyncio.sleep(PACE)  # pacing, so the disruption lands mid-stream
    print(f"done {i} {time.time():.3f}", flush=True)
    deadline = time.monotonic() + CATCH_UP
    while await committed(nc) != i:
        if time.monotonic() > deadline:
            sys.exit(f"the DatabaseService did not apply all {i} events within {CATCH_UP}s")
        await asyncio.sleep(0.5)
    stop.set()
    await watcher
    print(f"committed {i} {time.time():.3f}", flush=True)
    print(f"caught-up {i}", flush=True)
    await nc.drain()


asyncio.run(main())
