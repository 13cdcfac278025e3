"""The power-loss filesystem (tests/support/powerfs.py): its model alone, then real mounts
with plain files, SQLite in WAL mode and nats-server's JetStream store on them."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import nats
import pytest
from nats.js.errors import NotFoundError

from rosey.natsd import NatsServer, find_nats_server
from tests.support.powerfs import REPO_ROOT, Lost, PendingFile, PowerFS, listed_mount


def _until(check: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        time.sleep(0.01)


def _read_line(proc: subprocess.Popen[bytes], timeout: float) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, f"no output from {proc.args!r} within {timeout}s"
    return proc.stdout.readline().decode()


def _model(base: bytes) -> tuple[PendingFile, Callable[[int, int], bytes]]:
    return PendingFile(len(base)), lambda offset, size: base[offset:offset + size]


# --- the model, without FUSE -----------------------------------------------------------------
def test_reads_overlay_pending_writes_on_the_backing_content() -> None:
    pending, base = _model(b"0123456789")
    pending.write(2, b"ab")
    pending.write(8, b"XYZ")  # past the end: the file grows
    pending.write(3, b"c")  # a later write wins over an earlier one

    assert pending.size == 11
    assert pending.read(0, 100, base) == b"01ac4567XYZ"
    assert pending.read(3, 4, base) == b"c456"
    assert pending.read(11, 5, base) == b""
    assert (len(pending.ops), pending.bytes) == (3, 6)


def test_a_truncate_cuts_the_backing_content_and_earlier_writes_off() -> None:
    pending, base = _model(b"0123456789")
    pending.write(6, b"ab")
    pending.truncate(4)
    assert pending.read(0, 100, base) == b"0123"

    pending.write(6, b"zz")  # extending again brings zeros back, not the old bytes
    assert pending.size == 8
    assert pending.read(0, 100, base) == b"0123\0\0zz"
    assert pending.read(5, 2, base) == b"\0z"


def test_apply_replays_the_operations_in_order(tmp_path: Path) -> None:
    backing = tmp_path / "file"
    backing.write_bytes(b"0123456789")
    pending, base = _model(backing.read_bytes())
    pending.write(0, b"aaaa")
    pending.truncate(2)  # before the next write, so the order decides the result
    pending.write(3, b"b")
    pending.write(12, b"end")
    expected = pending.read(0, 100, base)

    fd = os.open(backing, os.O_RDWR)
    try:
        pending.apply(fd)
    finally:
        os.close(fd)

    assert backing.read_bytes() == expected == b"aa\0b" + bytes(8) + b"end"


# --- on a real mount -------------------------------------------------------------------------
@pytest.fixture
def disk(tmp_path: Path) -> Path:
    return tmp_path / "disk"


@pytest.fixture
def mnt(tmp_path: Path) -> Path:
    return tmp_path / "mnt"


@pytest.fixture
def power(disk: Path, mnt: Path) -> Iterator[PowerFS]:
    with PowerFS(disk, mnt) as fs:
        yield fs
    assert not listed_mount(mnt)


def _write(path: Path, data: bytes, *, fsync: bool) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        if fsync:
            os.fsync(f.fileno())


def test_unsynced_data_is_lost_and_fsynced_data_kept(power: PowerFS, disk: Path,
                                                     mnt: Path) -> None:
    _write(mnt / "unsynced", b"gone with the power", fsync=False)
    _write(mnt / "synced", b"on the disk", fsync=True)
    assert (mnt / "unsynced").read_bytes() == b"gone with the power"

    lost = power.lose_power()

    assert lost == Lost(files=1, writes=1, bytes=len(b"gone with the power"))
    assert not os.path.ismount(mnt) and not listed_mount(mnt)
    assert (disk / "unsynced").read_bytes() == b""  # the create is metadata: it stays
    assert (disk / "synced").read_bytes() == b"on the disk"
    with PowerFS(disk, mnt):  # the power comes back
        assert sorted(p.name for p in mnt.iterdir()) == ["synced", "unsynced"]
        assert (mnt / "synced").read_bytes() == b"on the disk"


def test_only_what_was_fsynced_survives(power: PowerFS, disk: Path, mnt: Path) -> None:
    with open(mnt / "log", "wb") as f:
        f.write(b"A" * 100)
        f.flush()
        os.fsync(f.fileno())
        f.write(b"B" * 30)

    assert (mnt / "log").read_bytes() == b"A" * 100 + b"B" * 30
    assert power.lose_power() == Lost(files=1, writes=1, bytes=30)
    assert (disk / "log").read_bytes() == b"A" * 100


def test_reads_and_sizes_see_pending_changes(power: PowerFS, disk: Path, mnt: Path) -> None:
    _write(mnt / "old", b"synced content", fsync=True)
    _write(mnt / "new", b"hello world", fsync=False)
    fd = os.open(mnt / "new", os.O_RDWR)
    try:
        os.pwrite(fd, b"WORLD", 6)
        assert os.pread(fd, 100, 0) == b"hello WORLD"
        assert os.fstat(fd).st_size == 11
    finally:
        os.close(fd)
    os.truncate(mnt / "new", 5)
    _write(mnt / "old", b"", fsync=False)  # O_TRUNC, not synced

    assert (mnt / "new").read_bytes() == b"hello"
    assert os.stat(mnt / "new").st_size == 5
    assert (mnt / "old").read_bytes() == b"" and os.stat(mnt / "old").st_size == 0
    assert (disk / "new").read_bytes() == b""
    assert (disk / "old").read_bytes() == b"synced content"


def test_pending_data_follows_a_rename_and_dies_with_the_last_name(
        power: PowerFS, disk: Path, mnt: Path) -> None:
    _write(mnt / "draft", b"renamed before fsync", fsync=False)
    (mnt / "draft").rename(mnt / "final")
    _write(mnt / "doomed", b"unlinked before fsync", fsync=False)
    (mnt / "doomed").unlink()
    with open(mnt / "held", "w+b") as held:  # unlinked while open: readable until closed
        held.write(b"still readable")
        held.flush()
        (mnt / "held").unlink()
        assert os.pread(held.fileno(), 100, 0) == b"still readable"

    assert (mnt / "final").read_bytes() == b"renamed before fsync"
    with open(mnt / "final", "rb") as f:  # fsync through a new descriptor, by the new name
        os.fsync(f.fileno())

    assert power.lose_power() == Lost(files=0, writes=0, bytes=0)
    assert sorted(p.name for p in disk.iterdir()) == ["final"]
    assert (disk / "final").read_bytes() == b"renamed before fsync"


def test_stop_applies_everything(power: PowerFS, disk: Path, mnt: Path) -> None:
    _write(mnt / "a", b"first", fsync=False)
    (mnt / "dir").mkdir()
    _write(mnt / "dir" / "b", b"second", fsync=False)

    power.stop()

    assert power.applied == Lost(files=2, writes=2, bytes=len(b"firstsecond"))
    assert not os.path.ismount(mnt)
    assert (disk / "a").read_bytes() == b"first"
    assert (disk / "dir" / "b").read_bytes() == b"second"


def test_an_unmount_from_outside_is_an_orderly_stop(power: PowerFS, disk: Path,
                                                   mnt: Path) -> None:
    _write(mnt / "a", b"applied on the way out", fsync=False)

    subprocess.run(["fusermount3", "-u", str(mnt)], check=True, timeout=10)

    _until(lambda: not power.running, "the filesystem process exits")
    assert (disk / "a").read_bytes() == b"applied on the way out"


def test_power_loss_with_a_file_still_open(power: PowerFS, disk: Path, mnt: Path) -> None:
    fd = os.open(mnt / "open", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.write(fd, b"written, never synced")

        assert power.lose_power().bytes == len(b"written, never synced")

        assert not os.path.ismount(mnt)
        with pytest.raises(OSError):  # the filesystem is gone: ENOTCONN or EIO
            os.write(fd, b"after the power went")
    finally:
        with contextlib.suppress(OSError):  # closing reports the lost filesystem too
            os.close(fd)
    assert (disk / "open").read_bytes() == b""


_PARENT = textwrap.dedent("""
    import sys
    from pathlib import Path
    from tests.support.powerfs import PowerFS
    fs = PowerFS(Path(sys.argv[1]), Path(sys.argv[2])).start()
    (Path(sys.argv[2]) / "f").write_bytes(b"never synced")
    print(fs.pid, flush=True)
    sys.stdin.read()  # until killed
""")


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_the_mount_goes_when_its_parent_is_killed(disk: Path, mnt: Path) -> None:
    parent = subprocess.Popen([sys.executable, "-c", _PARENT, str(disk), str(mnt)],
                              cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        fs_pid = int(_read_line(parent, timeout=15))
        assert os.path.ismount(mnt)
        parent.kill()
        parent.wait(10)
        _until(lambda: _gone(fs_pid), "the filesystem process exits")
        _until(lambda: not listed_mount(mnt), "the mount goes")
    finally:
        parent.kill()
        parent.wait(10)
        PowerFS(disk, mnt).cleanup()  # unmounts lazily if the test failed with it mounted
    assert (disk / "f").read_bytes() == b""  # the power was lost, not an orderly stop


def test_a_killed_filesystem_process_leaves_no_mount(power: PowerFS, mnt: Path) -> None:
    assert power.pid is not None
    os.kill(power.pid, signal.SIGKILL)
    # the handle's clean-up takes a dead mount away itself. (libfuse's auto_unmount, a
    # fusermount3 left behind for a mount whose server died, usually does it within a moment,
    # but once in a busy 4-worker run it had not after 10 s: it is a safety net for a test
    # process that dies, not something the tests wait for.)
    power.cleanup()
    assert not listed_mount(mnt)
    assert not power.running


# --- SQLite in WAL mode ----------------------------------------------------------------------
_SQLITE_WRITER = textwrap.dedent("""
    import sqlite3, sys
    path, synchronous, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
    db = sqlite3.connect(path, isolation_level=None)  # autocommit: one transaction a row
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)")
    db.execute(f"PRAGMA synchronous = {synchronous}")
    for n in range(rows):
        db.execute("INSERT INTO t (body) VALUES (?)", (f"row {n}" * 20,))
    print(db.execute("SELECT count(*) FROM t").fetchone()[0], flush=True)
    sys.stdin.read()  # committed, never closed: wait to be killed
""")


@pytest.mark.parametrize("synchronous", ["FULL", "OFF", "NORMAL"])
def test_sqlite_wal_keeps_exactly_the_synced_commits(synchronous: str, power: PowerFS, disk: Path,
                                                     mnt: Path) -> None:
    rows = 100
    writer = subprocess.Popen([sys.executable, "-c", _SQLITE_WRITER, str(mnt / "db.sqlite"),
                               synchronous, str(rows)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert _read_line(writer, timeout=60).strip() == str(rows)  # all committed
    finally:
        writer.kill()  # as if the machine died: no close, no checkpoint
        writer.wait(10)
    lost = power.lose_power()

    with PowerFS(disk, mnt):
        db = sqlite3.connect(mnt / "db.sqlite")
        try:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            kept = db.execute("SELECT count(*) FROM t").fetchone()[0]
        finally:
            db.close()

    if synchronous == "FULL":  # every commit fsyncs the WAL
        assert kept == rows
    else:  # the WAL is synced at checkpoints only (NORMAL) or never (OFF)
        assert kept < rows
        assert lost.bytes > 0


# --- nats-server's JetStream store -----------------------------------------------------------
def _nats_binary() -> str:
    pinned = REPO_ROOT / ".build" / "nats-server" / "2.14.6" / "bin" / "nats-server"
    found = str(pinned) if pinned.exists() else find_nats_server()
    assert found is not None, "no nats-server"
    return found


async def _stored(server: NatsServer) -> int:
    """How many messages the stream POWER holds (0 when the stream is gone)."""
    nc = await nats.connect(server.url)
    try:
        return (await nc.jetstream().stream_info("POWER")).state.messages
    except NotFoundError:
        return 0
    finally:
        await nc.close()


@pytest.mark.parametrize("sync_always", [False, True], ids=["default-sync", "sync-always"])
async def test_nats_store_restarts_after_a_power_loss(sync_always: bool, disk: Path, mnt: Path,
                                                      tmp_path: Path) -> None:
    config = tmp_path / "nats.conf"
    config.write_text("jetstream { sync_interval: always }\n" if sync_always else "")

    def server(n: int) -> NatsServer:
        return NatsServer(store_dir=mnt / "js", config_file=config, binary=_nats_binary(),
                          log_path=tmp_path / f"nats-{n}.log")

    with PowerFS(disk, mnt) as fs:
        first = await server(1).start()
        try:
            nc = await nats.connect(first.url)
            await nc.jetstream().add_stream(name="POWER", subjects=["power.>"])
            for n in range(20):
                await nc.jetstream().publish("power.x", f"message {n}".encode())
            await nc.close()
        finally:
            await first.kill()
        lost = fs.lose_power()

    with PowerFS(disk, mnt):
        second = await server(2).start()  # raises if it cannot start on what was kept
        try:
            stored = await _stored(second)
        finally:
            await second.stop()

    if sync_always:  # every write fsynced before its ack
        assert stored == 20
    else:  # every write waits for the 2-minute sync: even the stream's metadata is lost
        assert stored < 20 and lost.bytes > 0
