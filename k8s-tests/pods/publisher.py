"""Runs in the cluster (a Job, dbservice image): publish N chat lines for one user through
JetStream, each with its own Nats-Msg-Id, retrying each until acknowledged. Prints progress lines
`acked <n>` so the test can time pod deletions, and `done <n>` at the end."""
import asyncio
import json
import os
import sys
import time

import nats
import nats.errors

N = int(os.environ["N_EVENTS"])
USER = os.environ["ROSEY_TEST_USER"]
PACE = float(os.environ.get("PACE_SECONDS", "0.01"))


async def main() -> None:
    nc = await nats.connect(os.environ["ROSEY_NATS_URL"], max_reconnect_attempts=-1,
                            reconnect_time_wait=0.5, connect_timeout=5)
    js = nc.jetstream()
    for i in range(N):
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
        if (i + 1) % 50 == 0:
            print(f"acked {i + 1}", flush=True)
        await asyncio.sleep(PACE)  # pacing, so pod deletions land mid-stream
    print(f"done {N}", flush=True)
    await nc.drain()


asyncio.run(main())
