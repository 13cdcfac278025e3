"""A real 3-server nats-server cluster with JetStream, for tests, on free ports.

Each server has its own configuration file (``server_name``, client ``listen``, a ``cluster``
block whose ``routes`` name the other servers, ``jetstream { store_dir }``) and its own store
and log under the given directory. The servers are started with the shipped launcher
(:mod:`rosey.natsd`) in the test's event loop; :meth:`NatsCluster.kill` SIGKILLs one and
:meth:`NatsCluster.start_server` starts it again on the same ports, configuration and store
(a launcher is used once, so a new one). No authentication.

The ports are chosen up front (the routes must name them): each is a port the kernel gave a
socket bound to port 0, closed again before the servers start::

    async with NatsCluster(tmp_path) as cluster:
        await cluster.wait_for_meta_leader()
        nc = await nats.connect(servers=cluster.urls)
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from pathlib import Path

import nats
import nats.errors
import nats.js.errors

from rosey.nats_auth import jetstream_block
from rosey.natsd import SYNC_INTERVAL, NatsServerState
from rosey.natsd import NatsServer as Launcher

__all__ = ["NatsCluster", "free_ports"]

#: the throwaway stream that proves the cluster can place a stream on every server
_PROBE = "ROSEY_PLACEMENT_PROBE"


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct ports nobody listened on a moment ago."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _config(name: str, port: int, cport: int, routes: list[int], store: Path,
            cluster_name: str, sync_interval: str) -> str:
    route_list = ", ".join(f'"nats-route://127.0.0.1:{p}"' for p in routes)
    return (f'server_name: "{name}"\n'
            f'listen: "127.0.0.1:{port}"\n'
            + jetstream_block(store, sync_interval) +
            f"cluster {{\n  name: \"{cluster_name}\"\n  listen: \"127.0.0.1:{cport}\"\n"
            f"  routes: [{route_list}]\n}}\n")


class NatsCluster:
    """``size`` nats-servers routed to each other, JetStream on (``n1``, ``n2``, ...)."""

    def __init__(self, root: Path, *, size: int = 3, cluster_name: str = "rosey-test",
                 ready_timeout: float = 20.0, sync_interval: str = SYNC_INTERVAL,
                 js_dirs: dict[str, Path] | None = None) -> None:
        """``js_dirs`` puts a server's JetStream store elsewhere than ``root/<name>/js`` (on
        a power-loss filesystem); every server syncs as ``sync_interval`` says (by default as
        rosey up and the chart do)."""
        self.root = Path(root)
        self.ready_timeout = ready_timeout
        self.names = [f"n{i + 1}" for i in range(size)]
        ports = free_ports(2 * size)
        self.ports = dict(zip(self.names, ports[:size], strict=True))
        self.cluster_ports = dict(zip(self.names, ports[size:], strict=True))
        self.config_files: dict[str, Path] = {}
        self.log_paths: dict[str, Path] = {}
        for name in self.names:
            home = self.root / name
            home.mkdir(parents=True, exist_ok=True)
            routes = [self.cluster_ports[other] for other in self.names if other != name]
            self.config_files[name] = home / "nats.conf"
            self.config_files[name].write_text(
                _config(name, self.ports[name], self.cluster_ports[name], routes,
                        (js_dirs or {}).get(name, home / "js"), cluster_name, sync_interval),
                encoding="utf-8")
            self.log_paths[name] = home / "nats-server.log"
        self.servers: dict[str, Launcher] = {}

    @property
    def urls(self) -> list[str]:
        return [f"nats://127.0.0.1:{self.ports[name]}" for name in self.names]

    def running(self, name: str) -> bool:
        server = self.servers.get(name)
        return server is not None and server.state is NatsServerState.OPEN

    def log_text(self, name: str) -> str:
        """The server's whole log file (every start of it)."""
        path = self.log_paths[name]
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    # --- lifecycle -----------------------------------------------------------------------------
    async def start_server(self, name: str) -> Launcher:
        """Start ``name`` (again): same ports, configuration and store."""
        if self.running(name):
            raise RuntimeError(f"{name} is running already")
        # the configuration enables JetStream itself; the launcher's -a/-p repeat its listen
        server = Launcher(port=self.ports[name], jetstream=False,
                          config_file=self.config_files[name], log_path=self.log_paths[name],
                          ready_timeout=self.ready_timeout, die_with_parent=True)
        self.servers[name] = server
        await server.start()
        return server

    async def start(self) -> NatsCluster:
        await asyncio.gather(*(self.start_server(name) for name in self.names))
        return self

    async def kill(self, name: str) -> None:
        """SIGKILL ``name``: no clean shutdown, no flush (a crashed pod)."""
        await self.servers[name].kill()

    async def stop_server(self, name: str) -> None:
        """Stop ``name`` cleanly (SIGINT: nats-server's own shutdown)."""
        await self.servers[name].stop()

    async def stop(self) -> None:
        """Stop every server still running (SIGINT, then SIGKILL after a short wait)."""
        await asyncio.gather(*(server.stop(timeout=5.0) for server in self.servers.values()),
                             return_exceptions=True)

    async def __aenter__(self) -> NatsCluster:
        try:
            return await self.start()
        except BaseException:
            await self.stop()
            raise

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- JetStream -----------------------------------------------------------------------------
    async def wait_for_meta_leader(self, timeout: float = 30.0) -> None:
        """Wait until the cluster's JetStream has a meta leader that can place a stream on
        every server: only then does the JetStream API answer an account-info request (before,
        it times out or says "unavailable"), and a meta leader that has not yet heard from
        every peer refuses a stream of that many replicas ("no suitable peers for placement",
        seen under load). A throwaway stream of len(urls) replicas, created and deleted, is the
        proof."""
        deadline = time.monotonic() + timeout
        nc = await nats.connect(servers=self.urls, max_reconnect_attempts=-1,
                                reconnect_time_wait=0.1)
        last: BaseException | None = None
        try:
            js = nc.jetstream(timeout=1.0)
            while time.monotonic() < deadline:
                try:
                    await js.account_info()
                    await js.add_stream(name=_PROBE, subjects=[f"{_PROBE}.probe"],
                                        num_replicas=len(self.urls))
                    await js.delete_stream(_PROBE)
                    return
                except (nats.errors.Error, nats.js.errors.Error, TimeoutError) as exc:
                    last = exc
                await asyncio.sleep(0.1)
        finally:
            with contextlib.suppress(Exception):
                await nc.close()
        raise AssertionError(f"no JetStream meta leader within {timeout}s (last: {last!r})")
