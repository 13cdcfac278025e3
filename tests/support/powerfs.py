"""A filesystem that can lose power: unsynced data is dropped, as a machine's crash drops it.

Modelled on Jepsen's LazyFS, in Python on FUSE (``mfusepy``, libfuse 3). A :class:`PowerFS`
mounts a pass-through view of a backing directory in its own process; a test runs real
programs (SQLite, nats-server) on the mount, SIGKILLs them, calls :meth:`PowerFS.lose_power`
and then looks at, or restarts on, what the backing directory kept::

    with PowerFS(tmp_path / "disk", tmp_path / "mnt") as fs:
        ...                     # programs write under tmp_path / "mnt"; SIGKILL them
        lost = fs.lose_power()  # the backing dir now holds exactly what was fsynced
    with PowerFS(tmp_path / "disk", tmp_path / "mnt"):  # the power comes back
        ...                     # restart the programs on what was kept

The model (LazyFS's: data is lost, metadata is not):

* Data changes to a regular file (a write at an offset, truncate/ftruncate, an open with
  O_TRUNC) are not applied to the backing file. They are kept in memory per file (per backing
  inode, so they follow the file across renames and hard links), in order: a
  :class:`PendingFile`. Reads and ``st_size`` see the backing content overlaid with the
  pending operations, so programs on the mount see ordinary POSIX behaviour.
* ``fsync``/``fdatasync`` of a file applies that file's pending operations to the backing
  file in order and fsyncs it. Nothing else makes data durable: neither ``close`` (flush,
  release, including the closes the kernel does for a SIGKILLed process) nor time. fsync of
  a directory succeeds and does nothing.
* Metadata (create, mkdir, unlink, rmdir, rename, link, symlink, chmod, chown, utimens) goes
  straight to the backing directory and is never lost. A created file exists, empty, at
  once; unlinking a file's last name drops its pending data (once no program has it open).
* Losing the power (SIGUSR1 to the filesystem process) fails every later operation with EIO
  (nothing more reaches the backing directory), drops all pending data, reports what was
  dropped (:class:`Lost`), unmounts lazily and exits. Stopping (SIGTERM) is an orderly
  shutdown: everything pending is applied and fsynced first.

What it does not simulate:

* metadata loss: a real filesystem can lose a create, a rename or an unlink that was not
  followed by an fsync of the directory; here they all survive (so a file renamed into place
  without an fsync of its data survives empty, the classic ext4 outcome, but a rename is
  never undone);
* torn writes: one ``write`` call is all-or-nothing; a real disk may keep part of it (a
  sector, a page);
* reordering and partial survival: the kernel writes dirty pages back when it likes, in any
  order, so after a real crash a file may hold some of its unsynced writes, a later one
  without an earlier one; here a file holds none of them (the harshest outcome, not every
  outcome);
* fallocate (refused with EOPNOTSUPP: glibc's posix_fallocate then writes zeros), free-space
  and quota errors, and permissions for users other than root (the filesystem process runs as
  root and creates files as root);
* fstat/fchmod/fchown of a file that was unlinked while open fail with ESTALE (libfuse's
  ``hard_remove`` has no path for them; read, write, ftruncate and fsync work by handle).
  Without ``hard_remove`` libfuse would rename such files to ``.fuse_hidden*`` in the
  backing directory instead, which then outlive a power loss and make rmdir fail.

Locking (POSIX and flock) is left to the kernel: the filesystem does not implement it, so
it works between the processes of one machine as on a local filesystem. The mount is not
direct_io, so shared mmap works (SQLite's ``-shm`` file in WAL mode).

Command line (the process :class:`PowerFS` starts)::

    python -m tests.support.powerfs BACKING MOUNTPOINT --status FILE [--parent-fd FD]

SIGUSR1 loses the power, SIGTERM/SIGINT/SIGHUP/SIGUSR2 stop it; either way the process
writes what it dropped or applied to the status file as JSON, unmounts and exits. With
``--parent-fd`` it loses the power when that pipe's other end closes: its parent died (a
pipe, not ``PR_SET_PDEATHSIG``, which fires when the *thread* that started it ends). A
SIGKILLed filesystem process leaves no mount either: libfuse's ``auto_unmount`` keeps a
fusermount3 behind that unmounts it. All operations run under one lock (mfusepy serves
them from several threads): simple, and fast enough for tests.
"""

from __future__ import annotations

import argparse
import errno
import functools
import itertools
import json
import logging
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

__all__ = ["Lost", "PendingFile", "PowerFS", "PowerFSError", "PowerOperations", "Truncate",
           "Write", "listed_mount", "main"]

log = logging.getLogger("powerfs")

REPO_ROOT = Path(__file__).resolve().parents[2]
FUSERMOUNT = "fusermount3"
#: the signals the filesystem process answers; SIGUSR1 loses the power, the others stop it
LOSE_POWER = signal.SIGUSR1
STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR2})


# --- the model: one file's pending data, without FUSE ----------------------------------------
@dataclass(frozen=True, slots=True)
class Write:
    offset: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Truncate:
    length: int


Op = Write | Truncate


class PendingFile:
    """The data operations on one file that have not reached its backing file, in order.

    ``base_size`` is the backing file's size when the first of them arrived (the backing
    file does not change until they are applied). The file as programs see it is the backing
    content with the operations replayed on top; :meth:`read` and :attr:`size` give that view
    without applying anything, :meth:`apply` makes it the backing file's content.
    """

    def __init__(self, base_size: int) -> None:
        self.base_size = base_size
        self.ops: list[Op] = []
        #: the file's size as programs see it
        self.size = base_size
        #: bytes written by the pending writes (what losing them loses)
        self.bytes = 0
        # backing bytes at and above this offset are hidden (a truncate cut them off)
        self._base_end = base_size

    def write(self, offset: int, data: bytes) -> None:
        if not data:
            return
        self.ops.append(Write(offset, bytes(data)))
        self.size = max(self.size, offset + len(data))
        self.bytes += len(data)

    def truncate(self, length: int) -> None:
        self.ops.append(Truncate(length))
        self.size = length
        self._base_end = min(self._base_end, length)

    def read(self, offset: int, size: int, read_base: Callable[[int, int], bytes]) -> bytes:
        """Up to ``size`` bytes at ``offset``; ``read_base(offset, size)`` reads the backing file."""
        end = min(offset + size, self.size)
        if end <= offset:
            return b""
        buf = bytearray(end - offset)
        base_end = min(end, self._base_end)
        if base_end > offset:
            base = read_base(offset, base_end - offset)
            buf[:len(base)] = base
        for op in self.ops:
            if isinstance(op, Write):
                lo, hi = max(op.offset, offset), min(op.offset + len(op.data), end)
                if lo < hi:
                    buf[lo - offset:hi - offset] = op.data[lo - op.offset:hi - op.offset]
            elif op.length < end:  # a truncate zeroes what an extension would bring back
                cut = max(op.length, offset) - offset
                buf[cut:] = bytes(len(buf) - cut)
        return bytes(buf)

    def apply(self, fd: int) -> None:
        """Replay the operations on ``fd`` (the backing file, opened for writing), in order."""
        for op in self.ops:
            if isinstance(op, Truncate):
                os.ftruncate(fd, op.length)
                continue
            view, offset = memoryview(op.data), op.offset
            while view:  # pwrite may write less than asked
                done = os.pwrite(fd, view, offset)
                view, offset = view[done:], offset + done


@dataclass(frozen=True, slots=True)
class Lost:
    """What losing the power dropped (or, for an orderly stop, what was applied)."""

    files: int  # files that had unsynced data
    writes: int  # pending operations (writes and truncates)
    bytes: int  # bytes of the pending writes


def _tally(pending: Iterable[PendingFile | None]) -> Lost:
    files = [p for p in pending if p is not None]
    return Lost(files=len(files), writes=sum(len(p.ops) for p in files),
                bytes=sum(p.bytes for p in files))


_UTIME_NOW, _UTIME_OMIT = (1 << 30) - 1, (1 << 30) - 2  # <sys/stat.h>


def _utime(value: int, now: int, current: int) -> int:
    return now if value == _UTIME_NOW else current if value == _UTIME_OMIT else value


def _entry_type(entry: os.DirEntry[str]) -> int:
    if entry.is_symlink():
        return stat.S_IFLNK
    if entry.is_dir(follow_symlinks=False):
        return stat.S_IFDIR
    if entry.is_file(follow_symlinks=False):
        return stat.S_IFREG
    return stat.S_IFMT(entry.stat(follow_symlinks=False).st_mode)


# --- the filesystem ------------------------------------------------------------------------
@dataclass(eq=False)
class _Node:
    """One backing inode the filesystem holds open: while a program has it open, or while it
    has pending data (like a page cache holding dirty pages of a closed file)."""

    key: tuple[int, int]  # (st_dev, st_ino) of the backing file
    fd: int  # the backing file, read-write
    opens: int = 0
    pending: PendingFile | None = None


P = ParamSpec("P")
R = TypeVar("R")


def _powered(method: Callable[Concatenate[PowerOperations, P], R]
             ) -> Callable[Concatenate[PowerOperations, P], R]:
    """Run a FUSE operation under the filesystem's lock, or fail it with EIO once the power
    is off (so no operation reaches the backing directory afterwards)."""

    @functools.wraps(method)
    def run(self: PowerOperations, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with self._lock:
            if not self.powered:
                raise OSError(errno.EIO, "the power is off")
            return method(self, *args, **kwargs)

    return run


class PowerOperations:
    """The FUSE operations (mfusepy's interface): a pass-through to ``backing`` whose regular
    files' data changes wait in :class:`PendingFile` objects until fsync."""

    use_ns = True  # times in nanoseconds (mfusepy warns about float seconds)
    # libfuse's nullpath_ok (mfusepy sets it when both flags are): operations on an open file
    # or directory get its handle and no path, so an unlinked open file (hard_remove) works
    flag_nullpath_ok = True
    flag_nopath = True

    def __init__(self, backing: Path) -> None:
        self.backing = Path(backing)
        self.powered = True
        self._lock = threading.Lock()
        self._nodes: dict[tuple[int, int], _Node] = {}
        self._handles: dict[int, _Node] = {}
        self._dirs: dict[int, int] = {}  # opendir's handles: backing directory fds
        self._next_fh = itertools.count(1)

    def _path(self, path: str | None) -> str:
        if path is None:
            raise OSError(errno.ENOENT, "no path for a file that has no name")
        return os.path.join(self.backing, path.lstrip("/"))

    # --- nodes and their pending data -------------------------------------------------------
    def _node_of(self, fd: int) -> _Node:
        """The node for the backing file open as ``fd``; ``fd`` is kept or closed."""
        st = os.fstat(fd)
        key = (st.st_dev, st.st_ino)
        node = self._nodes.get(key)
        if node is None:
            node = self._nodes[key] = _Node(key, fd)
        else:
            os.close(fd)
        return node

    def _open_node(self, path: str) -> _Node:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except PermissionError:  # e.g. a file being executed: reads still work
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        return self._node_of(fd)

    def _node_for(self, path: str | None, fh: int | None) -> _Node:
        if fh is not None and fh in self._handles:
            return self._handles[fh]
        return self._open_node(self._path(path))

    def _settle(self, node: _Node) -> None:
        """Let a node go once no program has it open and it holds no pending data, or only
        data nobody can ever read again (its last name is gone)."""
        if node.opens or (node.pending is not None and os.fstat(node.fd).st_nlink > 0):
            return
        node.pending = None
        if self._nodes.get(node.key) is node:
            del self._nodes[node.key]
        os.close(node.fd)

    def _pending(self, node: _Node) -> PendingFile:
        if node.pending is None:
            node.pending = PendingFile(os.fstat(node.fd).st_size)
        return node.pending

    def _sync(self, node: _Node) -> None:
        if node.pending is not None:
            node.pending.apply(node.fd)
            node.pending = None
        os.fsync(node.fd)
        self._settle(node)

    def _forget_if_unlinked(self, key: tuple[int, int] | None) -> None:
        node = self._nodes.get(key) if key is not None else None
        if node is not None:
            self._settle(node)  # drops its pending data if that was its last name

    def _handle(self, node: _Node) -> int:
        node.opens += 1
        fh = next(self._next_fh)
        self._handles[fh] = node
        return fh

    def _key(self, path: str) -> tuple[int, int] | None:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return None
        return (st.st_dev, st.st_ino)

    # --- power -----------------------------------------------------------------------------
    def lose_power(self) -> Lost:
        """Drop every pending operation; every later operation fails with EIO."""
        with self._lock:
            self.powered = False
            lost = _tally(n.pending for n in self._nodes.values())
            self._close_all()
            return lost

    def shut_down(self) -> Lost:
        """Apply and fsync everything pending (an orderly shutdown); then the power is off."""
        with self._lock:
            if not self.powered:
                return Lost(0, 0, 0)
            self.powered = False
            applied = _tally(n.pending for n in self._nodes.values())
            try:
                for node in [n for n in self._nodes.values() if n.pending is not None]:
                    self._sync(node)
            finally:
                self._close_all()
            return applied

    def _close_all(self) -> None:
        for node in self._nodes.values():
            node.pending = None
            os.close(node.fd)
        for fd in self._dirs.values():
            os.close(fd)
        self._nodes.clear()
        self._handles.clear()
        self._dirs.clear()

    # --- files -----------------------------------------------------------------------------
    @_powered
    def create(self, path: str, mode: int, flags: int) -> int:
        fd = os.open(self._path(path), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | (flags & os.O_EXCL),
                     mode)
        node = self._node_of(fd)
        if flags & os.O_TRUNC:
            self._truncate(node, 0)
        return self._handle(node)

    @_powered
    def open(self, path: str, flags: int) -> int:
        node = self._open_node(self._path(path))
        if flags & os.O_TRUNC:  # the kernel sends it when it lets the filesystem do it
            self._truncate(node, 0)
        return self._handle(node)

    @_powered
    def read(self, path: str | None, size: int, offset: int, fh: int) -> bytes:
        node = self._handles[fh]
        if node.pending is None:
            return os.pread(node.fd, size, offset)
        return node.pending.read(offset, size, lambda at, n: os.pread(node.fd, n, at))

    @_powered
    def write(self, path: str | None, data: bytes, offset: int, fh: int) -> int:
        self._pending(self._handles[fh]).write(offset, data)
        return len(data)

    @_powered
    def truncate(self, path: str | None, length: int, fh: int | None = None) -> int:
        node = self._node_for(path, fh)
        try:
            self._truncate(node, length)
        finally:
            self._settle(node)
        return 0

    def _truncate(self, node: _Node, length: int) -> None:
        if node.pending is None and os.fstat(node.fd).st_size == length:
            return  # nothing would change (e.g. O_TRUNC on an empty file)
        self._pending(node).truncate(length)

    @_powered
    def fsync(self, path: str | None, datasync: int, fh: int) -> int:
        self._sync(self._node_for(path, fh))
        return 0

    @_powered
    def flush(self, path: str | None, fh: int) -> int:
        return 0  # close() makes nothing durable

    @_powered
    def release(self, path: str | None, fh: int) -> int:
        node = self._handles.pop(fh)
        node.opens -= 1
        self._settle(node)
        return 0

    @_powered
    def fallocate(self, path: str | None, mode: int, offset: int, size: int, fh: int) -> int:
        raise OSError(errno.EOPNOTSUPP, "fallocate is not simulated")

    @_powered
    def getattr(self, path: str | None, fh: int | None = None) -> dict[str, Any]:
        if fh is not None and fh in self._handles:
            st = os.fstat(self._handles[fh].fd)
        else:
            st = os.lstat(self._path(path))
        attrs: dict[str, Any] = {key: getattr(st, key) for key in (
            "st_mode", "st_ino", "st_nlink", "st_uid", "st_gid", "st_size", "st_blocks",
            "st_blksize", "st_rdev")}
        attrs.update(st_atime=st.st_atime_ns, st_mtime=st.st_mtime_ns, st_ctime=st.st_ctime_ns)
        node = self._nodes.get((st.st_dev, st.st_ino))
        if node is not None and node.pending is not None:
            attrs["st_size"] = node.pending.size
            attrs["st_blocks"] = max(st.st_blocks, (node.pending.size + 511) // 512)
        return attrs

    # --- metadata: straight to the backing directory ------------------------------------------
    @_powered
    def opendir(self, path: str) -> int:
        fh = next(self._next_fh)  # readdir gets no path (nullpath_ok): the handle finds it
        self._dirs[fh] = os.open(self._path(path), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        return fh

    @_powered
    def readdir(self, path: str | None, fh: int) -> list[tuple[str, dict[str, int], int]]:
        # with use_ino each entry needs its inode number: readdir(3) skips an entry with none
        fd = self._dirs[fh]
        here = {"st_ino": os.fstat(fd).st_ino, "st_mode": stat.S_IFDIR}
        entries = [(".", here, 0), ("..", here, 0)]
        with os.scandir(fd) as scan:
            entries += [(e.name, {"st_ino": e.inode(), "st_mode": _entry_type(e)}, 0) for e in scan]
        return entries

    @_powered
    def releasedir(self, path: str | None, fh: int) -> int:
        os.close(self._dirs.pop(fh))
        return 0

    @_powered
    def fsyncdir(self, path: str | None, datasync: int, fh: int) -> int:
        return 0  # metadata is never lost

    @_powered
    def mkdir(self, path: str, mode: int) -> int:
        os.mkdir(self._path(path), mode)
        return 0

    @_powered
    def rmdir(self, path: str) -> int:
        os.rmdir(self._path(path))
        return 0

    @_powered
    def mknod(self, path: str, mode: int, dev: int) -> int:
        os.mknod(self._path(path), mode, dev)
        return 0

    @_powered
    def unlink(self, path: str) -> int:
        full = self._path(path)
        key = self._key(full)
        os.unlink(full)
        self._forget_if_unlinked(key)
        return 0

    @_powered
    def rename(self, old: str, new: str) -> int:
        source, target = self._path(old), self._path(new)
        replaced = self._key(target)
        os.rename(source, target)  # pending data is keyed by inode: it follows the file
        if replaced != self._key(target):
            self._forget_if_unlinked(replaced)
        return 0

    @_powered
    def link(self, target: str, source: str) -> int:
        os.link(self._path(source), self._path(target))
        return 0

    @_powered
    def symlink(self, target: str, source: str) -> int:
        os.symlink(source, self._path(target))
        return 0

    @_powered
    def readlink(self, path: str) -> str:
        return os.readlink(self._path(path))

    @_powered
    def chmod(self, path: str | None, mode: int) -> int:
        os.chmod(self._path(path), mode, follow_symlinks=False)
        return 0

    @_powered
    def chown(self, path: str | None, uid: int, gid: int) -> int:
        os.chown(self._path(path), uid, gid, follow_symlinks=False)
        return 0

    @_powered
    def utimens(self, path: str | None, times: tuple[int, int] | None = None) -> int:
        full = self._path(path)
        if times is None:
            os.utime(full, follow_symlinks=False)
            return 0
        now, st = time.time_ns(), os.lstat(full)  # UTIME_NOW/UTIME_OMIT come as (0 s, that many ns)
        os.utime(full, ns=(_utime(times[0], now, st.st_atime_ns), _utime(times[1], now, st.st_mtime_ns)),
                 follow_symlinks=False)
        return 0

    @_powered
    def statfs(self, path: str) -> dict[str, int]:
        st = os.statvfs(self._path(path))
        return {key: getattr(st, key) for key in (
            "f_bsize", "f_frsize", "f_blocks", "f_bfree", "f_bavail", "f_files", "f_ffree",
            "f_favail", "f_namemax")}


# --- the filesystem process ----------------------------------------------------------------
def _write_status(status: Path, event: str, counts: Lost, error: str | None) -> None:
    tmp = status.with_name(status.name + ".tmp")
    tmp.write_text(json.dumps({"event": event, "files": counts.files, "writes": counts.writes,
                               "bytes": counts.bytes, "error": error}))
    os.replace(tmp, status)


def _unmount(mountpoint: Path) -> None:
    """Lazily: the mount goes even while programs still have files open on it."""
    subprocess.run([FUSERMOUNT, "-u", "-z", "-q", str(mountpoint)], stdin=subprocess.DEVNULL,
                   capture_output=True, timeout=10, check=False)


class _PowerSwitch:
    """Turns the power off once, from whichever thread asks first (a signal, the parent's
    death, the mount going away), and ends the process: the FUSE loop in the main thread is
    not waited for (it may be serving programs that still have files open)."""

    def __init__(self, ops: PowerOperations, mountpoint: Path, status: Path) -> None:
        self.ops, self.mountpoint, self.status = ops, mountpoint, status
        self._once = threading.Lock()

    def turn_off(self, event: str) -> None:
        self._once.acquire()  # a second request waits here until the process ends
        error = None
        try:
            orderly = event in ("stop", "unmounted")
            counts = self.ops.shut_down() if orderly else self.ops.lose_power()
        except Exception as exc:  # reported to the caller through the status file
            log.exception("powerfs: %s failed", event)
            counts, error = Lost(0, 0, 0), f"{type(exc).__name__}: {exc}"
        try:
            _write_status(self.status, event, counts, error)
            _unmount(self.mountpoint)
        finally:
            logging.shutdown()
            os._exit(1 if error else 0)

    def watch_signals(self) -> None:
        sig = signal.sigwait({LOSE_POWER, *STOP_SIGNALS})
        self.turn_off("lose_power" if sig == LOSE_POWER else "stop")

    def watch_parent(self, fd: int) -> None:
        while os.read(fd, 64):  # the parent never writes: this returns at EOF, when it is gone
            pass
        self.turn_off("parent_gone")


def _fuse_class() -> Any:
    """mfusepy's FUSE, passing ftruncate's file handle on (mfusepy drops it for libfuse 3, and
    an unlinked open file has no path to find it by)."""
    import mfusepy  # type: ignore[import-untyped]  # only the filesystem process needs libfuse

    class _FUSE(mfusepy.FUSE):  # type: ignore[misc]
        def truncate_fuse_3(self, path: bytes | None, length: int, fip: Any) -> int:
            fh = fip.contents.fh if fip else None
            name = None if path is None else path.decode(self.encoding, self.errors)
            result: int = self.operations.truncate(name, length, fh)
            return result

    return _FUSE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.powerfs",
                                     description="A pass-through FUSE mount that loses "
                                                 "unsynced data when told to (SIGUSR1).")
    parser.add_argument("backing", type=Path)
    parser.add_argument("mountpoint", type=Path)
    parser.add_argument("--status", type=Path, required=True,
                        help="where to write what was dropped or applied (JSON)")
    parser.add_argument("--parent-fd", type=int,
                        help="a pipe's read end: lose the power when its writer is gone")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="powerfs %(levelname)s %(name)s: %(message)s")
    os.umask(0)  # the kernel has applied the caller's umask to every mode already
    ops = PowerOperations(args.backing)
    switch = _PowerSwitch(ops, args.mountpoint, args.status)
    # blocked in every thread (libfuse's threads inherit the mask), taken by sigwait alone
    signal.pthread_sigmask(signal.SIG_BLOCK, {LOSE_POWER, *STOP_SIGNALS})
    threading.Thread(target=switch.watch_signals, name="powerfs-signals", daemon=True).start()
    if args.parent_fd is not None:
        threading.Thread(target=switch.watch_parent, args=(args.parent_fd,),
                         name="powerfs-parent", daemon=True).start()
    # not direct_io (shared mmap works); hard_remove: unlink really unlinks, open files keep
    # working by handle; use_ino: programs see the backing inode numbers; auto_unmount:
    # fusermount3 unmounts the mount if this process is SIGKILLed
    _fuse_class()(ops, str(args.mountpoint), foreground=True, hard_remove=True, use_ino=True,
                  auto_unmount=True, fsname="powerfs", subtype="powerfs")
    # the mount went away: unmounted from outside (an orderly stop), or a watcher's lazy
    # unmount ended the loop, and then this waits for that watcher to end the process
    switch.turn_off("unmounted")
    return 0


# --- the handle tests use ------------------------------------------------------------------
class PowerFSError(RuntimeError):
    """The filesystem process could not be started, or did not do what it was told."""


def _unescape_mount_path(field: str) -> str:
    out, i = [], 0
    while i < len(field):  # mountinfo writes space, tab, newline and backslash as \ooo
        if field[i] == "\\" and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def listed_mount(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is in this process's mount table. Unlike ``os.path.ismount`` this is
    true for a FUSE mount whose process died (it answers ENOTCONN, which ismount takes for
    no)."""
    target = os.path.realpath(path)
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as table:
        return any(_unescape_mount_path(line.split()[4]) == target for line in table)


def _wait_until(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


class PowerFS:
    """A :mod:`powerfs <tests.support.powerfs>` mount of ``backing`` at ``mountpoint``, in its
    own process. A context manager: it starts on entry and stops (applying everything) on exit,
    or only cleans up if the power was lost.

    ``timeout`` bounds every wait: for the mount to appear, for the process to exit. A process
    that outlives it is SIGKILLed and its mount lazily unmounted, and the call raises.
    """

    def __init__(self, backing: Path, mountpoint: Path, *, timeout: float = 10.0) -> None:
        self.backing = Path(backing)
        self.mountpoint = Path(mountpoint)
        self.timeout = timeout
        #: what lose_power() dropped, what stop() applied
        self.lost: Lost | None = None
        self.applied: Lost | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._parent_end: int | None = None
        self._workdir: Path | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> PowerFS:
        """Start the filesystem process and wait until the mount answers."""
        if self._proc is not None:
            raise PowerFSError("a PowerFS is started once; make a new one to mount again")
        self.backing.mkdir(parents=True, exist_ok=True)
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        if listed_mount(self.mountpoint):
            raise PowerFSError(f"{self.mountpoint} is a mount point already")
        self._workdir = Path(tempfile.mkdtemp(prefix="powerfs-"))
        child_end, self._parent_end = os.pipe()
        try:
            with open(self._workdir / "powerfs.log", "wb") as out:
                self._proc = subprocess.Popen(
                    [sys.executable, "-m", "tests.support.powerfs", str(self.backing),
                     str(self.mountpoint), "--status", str(self._workdir / "status.json"),
                     "--parent-fd", str(child_end)],
                    cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                    pass_fds=(child_end,), start_new_session=True)  # a terminal's Ctrl-C is ours
        finally:
            os.close(child_end)
        proc = self._proc
        try:
            _wait_until(lambda: proc.poll() is not None or os.path.ismount(self.mountpoint),
                        self.timeout)
            if not os.path.ismount(self.mountpoint):
                ended = (f"exited with {proc.returncode}" if proc.poll() is not None
                         else f"was not mounted within {self.timeout}s")
                raise PowerFSError(f"powerfs {ended}:\n{self._log()}")
        except BaseException:
            self.cleanup()
            raise
        return self

    def lose_power(self) -> Lost:
        """Drop every unsynced write; the mount goes (lazily) and the process exits."""
        self.lost = self._turn_off(LOSE_POWER, "lose_power")
        return self.lost

    def stop(self) -> None:
        """An orderly shutdown: apply and fsync all pending data, unmount, exit."""
        self.applied = self._turn_off(signal.SIGTERM, "stop")

    def _turn_off(self, sig: int, event: str) -> Lost:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            raise PowerFSError(f"powerfs is not running (cannot {event})")
        try:
            proc.send_signal(sig)
            try:
                code = proc.wait(self.timeout)
            except subprocess.TimeoutExpired:
                raise PowerFSError(f"powerfs did not exit within {self.timeout}s of {event}:\n"
                                   f"{self._log()}") from None
            status = self._status()
            if code != 0 or status.get("event") != event or status.get("error"):
                raise PowerFSError(f"powerfs {event} failed (exit {code}, status {status}):\n"
                                   f"{self._log()}")
            return Lost(files=status["files"], writes=status["writes"], bytes=status["bytes"])
        finally:
            self.cleanup()

    def cleanup(self) -> None:
        """Make sure nothing is left: the process (SIGKILLed if it still runs), the mount
        (lazily unmounted if it is still listed), the pipe and the private directory."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(self.timeout)
        if listed_mount(self.mountpoint):
            _unmount(self.mountpoint)
        if self._parent_end is not None:
            os.close(self._parent_end)
            self._parent_end = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def _log(self) -> str:
        try:
            assert self._workdir is not None
            return (self._workdir / "powerfs.log").read_text(errors="replace")[-4000:]
        except (AssertionError, OSError):
            return "(no log)"

    def _status(self) -> dict[str, Any]:
        try:
            assert self._workdir is not None
            status: dict[str, Any] = json.loads((self._workdir / "status.json").read_text())
            return status
        except (AssertionError, OSError, ValueError):
            return {}

    def __enter__(self) -> PowerFS:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        try:
            if self.running:
                self.stop()
        finally:
            self.cleanup()


if __name__ == "__main__":
    sys.exit(main())
