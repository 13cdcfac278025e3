"""Runs in the cluster (a Job, dbservice image): ask the DatabaseService for a backup now, as
the operator identity would (``rosey backup``), and print its reply as one JSON line."""
import asyncio
import json
import os
import sys

import nats


async def main() -> None:
    user, password = "operator", os.environ.get("ROSEY_NATS_OPERATOR_PASSWORD", "")
    auth = {"user": user, "password": password, "inbox_prefix": f"_INBOX_{user}"} if password else {}
    nc = await nats.connect(os.environ["ROSEY_NATS_URL"], connect_timeout=5,
                            max_reconnect_attempts=-1, **auth)
    try:
        reply = json.loads((await nc.request("rosey.db.admin.backup", b"{}", timeout=300)).data)
    finally:
        await nc.close()
    print(json.dumps(reply))
    if not reply.get("success"):
        sys.exit(1)


asyncio.run(main())
