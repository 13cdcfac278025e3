"""A real Prometheus for tests: Debian's binary, a temp config and store, a free port.

Started the way ``rosey.natsd`` starts nats-server: wait (bounded) until ``/-/ready``
answers, raise with the log's tail if the process exits first; stopped like every process
(``rosey.process.stop_process``: SIGTERM, a bounded wait, then kill). The HTTP API calls go
through aiohttp, so the test's event loop (which also runs the CyTube test server) never
blocks on them.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from rosey.process import stop_process
from tests.support.procs import free_port

__all__ = ["PrometheusServer", "PrometheusError", "prometheus_binary"]


class PrometheusError(RuntimeError):
    """Prometheus did not come up, or its API answered with an error."""


def prometheus_binary() -> str | None:
    return shutil.which("prometheus")


class PrometheusServer:
    """One Prometheus scraping ``targets`` every ``interval`` and evaluating ``rule_files``.

    Parameters:
        workdir: holds prometheus.yml, the TSDB and the log.
        targets: ``host:port`` of the /metrics endpoints, all in one scrape job (``job_name``)
            so nothing can depend on job names.
        rule_files: rules files to load.
        interval: scrape and evaluation interval.
    """

    def __init__(self, *, workdir: Path, targets: list[str], rule_files: list[Path],
                 interval: str = "1s", job_name: str = "stack") -> None:
        binary = prometheus_binary()
        if binary is None:
            raise PrometheusError("prometheus is not on PATH: run scripts/setup")
        self.binary = binary
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / "prometheus.yml"
        self.log_path = workdir / "prometheus.log"
        self.config = {
            "global": {"scrape_interval": interval, "scrape_timeout": interval,
                       "evaluation_interval": interval},
            "rule_files": [str(path) for path in rule_files],
            "scrape_configs": [{"job_name": job_name,
                                "static_configs": [{"targets": list(targets)}]}],
        }
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> PrometheusServer:
        self.config_path.write_text(yaml.safe_dump(self.config))
        self.port = free_port()
        args = [self.binary, f"--config.file={self.config_path}",
                f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=info"]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, cwd=self.workdir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PrometheusError(
                    f"prometheus exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        raise PrometheusError(f"prometheus not ready after {timeout}s:\n{self.log_tail()}")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, wait, then SIGKILL (:func:`rosey.process.stop_process`)."""
        if self.proc is not None:
            asyncio.run(stop_process(self.proc, timeout=timeout))

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() \
            else ""

    # --- the HTTP API ---------------------------------------------------------------------------
    async def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/<path>; returns ``data``, raises PrometheusError on an error status."""
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{self.url}/api/v1/{path}", params=params,
                                   timeout=aiohttp.ClientTimeout(total=10)) as response:
                body = await response.json()
        if body.get("status") != "success":
            raise PrometheusError(f"{path} {params}: {body.get('errorType')}: "
                                  f"{body.get('error')}")
        return body["data"]

    async def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query; the result vector (or a scalar as a one-element list)."""
        data = await self.api("query", query=expr)
        if data["resultType"] == "vector":
            return data["result"]  # type: ignore[no-any-return]
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        raise PrometheusError(f"{expr}: unexpected result type {data['resultType']}")

    async def alerts(self) -> list[dict[str, Any]]:
        return (await self.api("alerts"))["alerts"]  # type: ignore[no-any-return]

    async def rule_groups(self) -> list[dict[str, Any]]:
        return (await self.api("rules"))["groups"]  # type: ignore[no-any-return]
