"""The shipped web image (issue 20): `docker run` of the `web` target, read-only root
filesystem, beside NATS and the DatabaseService containers, serves the page, its static files,
/metrics, /healthz and /readyz on its one port, passes the image's own HEALTHCHECK, runs as the
unprivileged user and exits 0 on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.error
import urllib.request

import pytest

from tests.support.wait import eventually

from .conftest import Stack, docker, free_port
from .test_container_kill import wait_nats_ready

pytestmark = pytest.mark.docker


def _get(url: str) -> tuple[int, str, str]:
    """(status, content type, body) of a GET; (0, "", "") when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return (int(response.status), response.headers.get("Content-Type", ""),
                    response.read().decode(errors="replace"))
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), ""
    except OSError:
        return 0, "", ""


async def get(url: str) -> tuple[int, str, str]:
    return await asyncio.to_thread(_get, url)


async def _status_is(url: str, expected: int) -> bool:
    return (await get(url))[0] == expected


async def test_the_web_image_serves_the_page_through_nats_and_stops_on_sigterm(
        stack: Stack) -> None:
    ports = {"nats": free_port(), "nats_monitor": free_port(), "db": free_port(),
             "web": free_port()}
    nats_url = f"nats://127.0.0.1:{ports['nats']}"
    stack.run("nats", volumes={stack.volume("nats"): "/data"},
              args=("--jetstream", "--store_dir", "/data", "--addr", "127.0.0.1",
                    "--port", str(ports["nats"]), "--http_port", str(ports["nats_monitor"]),
                    "--server_name", "rosey-web-test"))
    await wait_nats_ready(stack.containers["nats"])
    stack.run("dbservice", volumes={stack.volume("db"): "/data"},
              env={"ROSEY_NATS_URL": nats_url, "ROSEY_METRICS_PORT": str(ports["db"]),
                   "ROSEY_STREAM_REPLICAS": "1"})
    # only what the chart sets: the image brings ROSEY_WEB_HOST/ROSEY_WEB_PORT defaults, moved
    # here to a free port (host network)
    web = stack.run("web", env={"ROSEY_NATS_URL": nats_url, "ROSEY_WEB_PORT": str(ports["web"])})
    base = f"http://127.0.0.1:{ports['web']}"

    await eventually(lambda: _status_is(f"{base}/healthz", 200), timeout=60, interval=0.2,
                     what="rosey-web /healthz")
    await eventually(lambda: _status_is(f"{base}/readyz", 200), timeout=60, interval=0.2,
                     what="rosey-web ready (NATS reached)")
    await eventually(lambda: _status_is(f"http://127.0.0.1:{ports['db']}/readyz", 200),
                     timeout=60, interval=0.2, what="the DatabaseService ready")

    # the public page, read through NATS from the DatabaseService in the other container
    async def page() -> tuple[int, str, str] | None:
        status, kind, body = await get(f"{base}/")
        return (status, kind, body) if status == 200 else None
    status, kind, body = await eventually(page, timeout=60, interval=0.5, what="the page")
    assert kind.startswith("text/html")
    # its static files (templates and vendored scripts are package data: in the image too)
    assets = set(re.findall(r'(?:src|href)="(/static/[^"]+)"', body))
    assert assets, body[:2000]
    for asset in sorted(assets):
        got = await get(f"{base}{asset.split('?')[0]}")
        assert got[0] == 200, (asset, got[0])
    metrics = (await get(f"{base}/metrics"))[2]
    assert "rosey_" in metrics

    # the image itself: its user, port, entry point, and its HEALTHCHECK passes as written
    config = json.loads(docker("image", "inspect", "--format", "{{json .Config}}",
                               stack.images["web"]).stdout)
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["/opt/rosey/bin/rosey-web"]
    assert "8080/tcp" in config["ExposedPorts"]
    assert "ROSEY_WEB_PORT=8080" in config["Env"]
    test = config["Healthcheck"]["Test"]
    assert test[0] == "CMD"
    checked = docker("exec", web.name, *test[1:], check=False)
    assert checked.returncode == 0, checked.stderr

    started = time.monotonic()
    web.stop(timeout=25)  # SIGTERM, then SIGKILL after 25 s
    assert web.state()["ExitCode"] == 0, web.logs()
    assert time.monotonic() - started < 20, "rosey-web ignored SIGTERM until docker killed it"
    logs = web.logs()
    assert "Traceback" not in logs and "nats_permission_denied" not in logs
