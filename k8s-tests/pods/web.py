"""Runs in the cluster (a Job, dbservice image): reach the web page through its Service
(WEB_URL, http://rosey-web:8080) the way a browser behind a port-forward or an Ingress would, until
/healthz and /readyz answer 200 and the public page answers 200 holding every text in
EXPECT_TEXT (comma-separated, e.g. the users the scenarios published). Prints one JSON line
with what it saw; exits 1 when that is not so within DEADLINE_SECONDS."""
import json
import os
import sys
import time
import urllib.error
import urllib.request

BASE = os.environ["WEB_URL"].rstrip("/")
EXPECT = [t for t in os.environ.get("EXPECT_TEXT", "").split(",") if t]
DEADLINE = time.monotonic() + float(os.environ.get("DEADLINE_SECONDS", "180"))


def get(path: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(BASE + path, timeout=5) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), ""
    except OSError as exc:
        return 0, "", str(exc)


while True:
    seen = {path: get(path) for path in ("/healthz", "/readyz", "/")}
    status = {path: s for path, (s, _, _) in seen.items()}
    page = seen["/"][2] if seen["/"][0] == 200 else ""
    missing = [t for t in EXPECT if t not in page]
    if all(s == 200 for s in status.values()) and not missing:
        break
    if time.monotonic() > DEADLINE:
        print(json.dumps({"ok": False, "status": status, "missing": missing,
                          "page_start": page[:300]}), flush=True)
        sys.exit(1)
    time.sleep(2)
print(json.dumps({"ok": True, "status": status, "content_type": seen["/"][1],
                  "found": EXPECT, "page_bytes": len(page)}), flush=True)
