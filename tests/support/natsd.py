"""A real nats-server for tests and benchmarks: a synchronous handle on :mod:`rosey.natsd`.

The launcher itself is the shipped one (``rosey up`` uses it too). Tests take NATS away and
give it back from plain functions, from worker threads (``asyncio.to_thread``) and from inside
their own event loop, so this handle runs the launcher on a private event loop in a daemon
thread and waits for each step there. ``restart()`` starts a new server on the same port and
JetStream store, which is how reconnect and durability tests take NATS away and give it back.

``NatsServer(auth_dir=...)`` is the opt-in authenticated mode: the server runs with Rosey's
own users and permissions (:mod:`rosey.nats_auth`, passwords in ``auth_dir``) and refuses
anonymous clients; :meth:`NatsServer.client_options` and :meth:`NatsServer.process_env` give a
test-side client or a spawned process one of those identities.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from rosey import nats_auth
from rosey.bus import connect_options
from rosey.config import NatsAuth
from rosey.errors import NatsServerError
from rosey.natsd import SYNC_INTERVAL, NatsServerState, find_nats_server
from rosey.natsd import NatsServer as Launcher

__all__ = ["NatsServer", "NatsServerError", "nats_server_binary"]

T = TypeVar("T")

nats_server_binary = find_nats_server


class NatsServer:
    """One nats-server with an optional JetStream store (a temp directory unless given)."""

    def __init__(self, *, jetstream: bool = True, store_dir: str | Path | None = None,
                 port: int = -1, extra_args: tuple[str, ...] = (),
                 auth_dir: Path | None = None, sync_interval: str = SYNC_INTERVAL,
                 js_dir: Path | None = None) -> None:
        if find_nats_server() is None:
            raise NatsServerError("nats-server is not installed (bash scripts/setup installs "
                                  "the pinned release: pip install 'rosey[nats]')")
        self.jetstream = jetstream
        self._own_store = store_dir is None
        self.store_dir = Path(store_dir or tempfile.mkdtemp(prefix="rosey-js-"))
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.store_dir / "nats-server.log"
        self.port = port
        self.extra_args = extra_args
        #: {user: password file} in the authenticated mode, else empty
        self.password_files: dict[str, Path] = {}
        #: the JetStream file store (a power-loss test puts it on its own filesystem)
        self.js_dir = js_dir or self.store_dir / "js"
        self.sync_interval = sync_interval
        # the config file enables JetStream, synced as ``sync_interval`` says (by default as
        # rosey up and the chart do: before every acknowledgement)
        self.config_file: Path | None = None
        if auth_dir is not None:
            self.password_files = nats_auth.ensure_passwords(auth_dir)
            self.config_file = self.store_dir / "nats.conf"
            nats_auth.write_nats_conf(self.config_file, self.password_files,
                                      store_dir=self.js_dir, sync_interval=sync_interval)
        elif jetstream:
            self.config_file = self.store_dir / "nats.conf"
            self.config_file.write_text(nats_auth.jetstream_block(self.js_dir, sync_interval),
                                        encoding="utf-8")
        self.launcher: Launcher | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="nats-server-launcher")
        self._thread.start()

    def _run(self, step: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(step, self._loop).result()

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.launcher is not None and self.launcher.state is NatsServerState.OPEN

    def auth(self, user: str) -> NatsAuth | None:
        """The identity ``user`` (bot, dbservice, operator); None on an open server."""
        if not self.password_files:
            return None
        return nats_auth.identity_auth(user, self.password_files[user])

    def client_options(self, user: str) -> dict[str, Any]:
        """``nats.connect()`` keyword arguments that connect as ``user`` (with its inbox
        prefix, the only one it may subscribe to); none on an open server."""
        return connect_options(self.auth(user))

    def process_env(self, user: str) -> dict[str, str]:
        """Environment for a spawned Rosey process that runs as ``user``."""
        if not self.password_files:
            return {}
        return {"ROSEY_NATS_USER": user,
                "ROSEY_NATS_PASSWORD_FILE": str(self.password_files[user])}

    def start(self, timeout: float = 15.0) -> NatsServer:
        # the config file enables JetStream (in the same store) itself: -js -sd would repeat it
        self.launcher = Launcher(port=self.port,
                                 jetstream=self.jetstream and self.config_file is None,
                                 store_dir=self.js_dir, extra_args=self.extra_args,
                                 config_file=self.config_file,
                                 log_path=self.log_path, ready_timeout=timeout)
        self._run(self.launcher.start())
        self.port = self.launcher.port
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """SIGINT, wait, then SIGKILL."""
        if self.launcher is not None and not self._loop.is_closed():
            self._run(self.launcher.stop(timeout))

    def kill(self) -> None:
        if self.launcher is not None and not self._loop.is_closed():
            self._run(self.launcher.kill())

    def restart(self, *, kill: bool = False) -> NatsServer:
        """Take the server away (SIGKILL when ``kill``) and bring it back on the same port and store."""
        self.kill() if kill else self.stop()
        return self.start()

    def cleanup(self) -> None:
        self.kill()
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()
        if self._own_store:
            shutil.rmtree(self.store_dir, ignore_errors=True)

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.cleanup()
