"""A real nats-server for tests, launched the way ``nats.server`` does it.

Port ``-1`` lets the OS pick a free port; the real port is read back from the server's
"Listening for client connections on" line, and the launch waits (bounded) for
"Server is ready". A server that exits first raises with its fatal lines. ``stop()`` sends
SIGTERM, waits, then kills. ``restart()`` starts it again on the same port and store, which is
how reconnect and durability tests take NATS away and give it back.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["NatsServer", "NatsServerError", "nats_server_binary"]

_LISTEN = re.compile(r"Listening for client connections on [^:\s]+:(\d+)")
_READY = "Server is ready"


class NatsServerError(RuntimeError):
    """nats-server did not come up."""


def nats_server_binary() -> str | None:
    return shutil.which("nats-server") or (
        "/usr/sbin/nats-server" if os.path.exists("/usr/sbin/nats-server") else None)


class NatsServer:
    """One nats-server process with an optional JetStream store in a temp directory."""

    def __init__(self, *, jetstream: bool = True, store_dir: str | Path | None = None,
                 port: int = -1, extra_args: tuple[str, ...] = ()) -> None:
        binary = nats_server_binary()
        if binary is None:
            raise NatsServerError("nats-server is not on PATH (apt-get install nats-server)")
        self.binary = binary
        self.jetstream = jetstream
        self._own_store = store_dir is None
        self.store_dir = Path(store_dir or tempfile.mkdtemp(prefix="rosey-js-"))
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.port = port
        self.extra_args = extra_args
        self.proc: subprocess.Popen[str] | None = None
        self.log_path = self.store_dir / "nats-server.log"

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> NatsServer:
        args = [self.binary, "-a", "127.0.0.1", "-p", str(self.port), "-l", str(self.log_path)]
        if self.jetstream:
            args += ["-js", "-sd", str(self.store_dir / "js")]
        args += list(self.extra_args)
        if self.log_path.exists():
            self.log_path.unlink()
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, text=True)
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.log_path.read_text() if self.log_path.exists() else ""
            if _READY in text:
                m = _LISTEN.search(text)
                if m is None:
                    raise NatsServerError(f"no listen line in nats-server log:\n{text}")
                self.port = int(m.group(1))
                return self
            if self.proc.poll() is not None:
                fatal = [ln for ln in text.splitlines() if "[FTL]" in ln or "[ERR]" in ln]
                raise NatsServerError(
                    f"nats-server exited with {self.proc.returncode}: {fatal or text[-2000:]}")
            time.sleep(0.02)
        self.kill()
        raise NatsServerError(f"nats-server not ready after {timeout}s:\n{text[-2000:]}")

    async def astart(self, timeout: float = 15.0) -> NatsServer:
        return await asyncio.to_thread(self.start, timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, wait, then SIGKILL."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self, *, kill: bool = False) -> NatsServer:
        """Take the server away and bring it back on the same port and store."""
        self.kill() if kill else self.stop()
        return self.start()

    def cleanup(self) -> None:
        self.kill()
        if self._own_store:
            shutil.rmtree(self.store_dir, ignore_errors=True)

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.cleanup()
