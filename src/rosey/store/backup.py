"""Backups of the live database, and putting one back.

A backup is written with SQLite's online backup API from a connection of its own, in one step,
so it is one consistent snapshot of the file (WAL lets the writer go on committing while it
is taken) and never a file copy. The copy is switched to a rollback journal (one
self-contained file), checked with ``PRAGMA integrity_check``, flushed, and only then renamed
into place as ``rosey-<UTC time>-seq<N>.db``: N is the highest stream sequence the copy holds,
so a restored copy knows what the stream must replay after it (docs/durability.md).

:func:`check_backup` is what restore trusts: a SQLite file that passes the integrity check,
has Rosey's tables and a schema this code can read. :func:`restore_backup` refuses anything
else, and a database that a running DatabaseService holds, before it touches the live file.
"""

from __future__ import annotations

import calendar
import errno
import os
import re
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from rosey.errors import BackupError, BadBackup
from rosey.store.schema import SCHEMA_VERSION

__all__ = ["BackupInfo", "write_backup", "check_backup", "list_backups", "newest_backup",
           "restore_backup", "database_in_use", "backup_name", "BACKUP_PATTERN"]

#: rosey-20261207T213000.123Z-seq1234.db (milliseconds: two backups in one second, with no
#: event between them, must not share a name)
BACKUP_PATTERN: Final = re.compile(r"^rosey-(\d{8}T\d{6})\.(\d{3})Z-seq(\d+)\.db$")
#: the tables a Rosey file has had since version 2 (what tells a Rosey backup from any SQLite file)
_ROSEY_TABLES: Final = frozenset({"user_stats", "recent_chat", "ingest_state", "applied_events"})
_SQLITE_MAGIC: Final = b"SQLite format 3\x00"


@dataclass(frozen=True, slots=True)
class BackupInfo:
    """One backup file: where it is, the stream sequence it covers, and what it holds."""

    path: Path
    #: the highest stream sequence applied in the copy (the stream replays what follows)
    seq: int
    #: Unix time the copy was taken
    created: float
    size: int
    schema_version: int
    #: how long writing (or checking) it took
    seconds: float = 0.0


def backup_name(created: float, seq: int) -> str:
    millis = int(created * 1000) % 1000
    return (f"rosey-{time.strftime('%Y%m%dT%H%M%S', time.gmtime(created))}.{millis:03d}Z"
            f"-seq{seq}.db")


def _highest_applied(conn: sqlite3.Connection) -> int:
    floor = conn.execute("SELECT value FROM ingest_state WHERE key = 'applied_floor'").fetchone()
    top = conn.execute("SELECT max(seq) FROM applied_events").fetchone()
    return max(int(floor[0]) if floor else 0, int(top[0] or 0))


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _target_error(directory: Path, exc: OSError) -> BackupError:
    if exc.errno == errno.ENOSPC or exc.errno == errno.EDQUOT:
        return BackupError("full", f"backup directory {directory} is full: {exc.strerror}")
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return BackupError("read_only", f"backup directory {directory} is not writable: "
                                        f"{exc.strerror}")
    if exc.errno == errno.ENOENT:
        return BackupError("missing", f"backup directory {directory} does not exist")
    return BackupError("error", f"backup to {directory} failed: {exc}")


def _sqlite_target_error(directory: Path, exc: sqlite3.Error) -> BackupError:
    text = str(exc).lower()
    if "full" in text:
        return BackupError("full", f"backup directory {directory} is full: {exc}")
    if "readonly" in text or "read-only" in text or "unable to open" in text:
        return BackupError("read_only", f"backup directory {directory} is not writable: {exc}")
    return BackupError("error", f"backup to {directory} failed: {exc}")


def write_backup(db_path: Path, directory: Path, *, keep: int,
                 now: float | None = None) -> BackupInfo:
    """Write a checked backup of ``db_path`` into ``directory`` (which must exist), then delete
    all but the newest ``keep``. Raises :class:`BackupError`; a failed attempt leaves nothing
    behind in ``directory``."""
    started = time.monotonic()
    if not directory.is_dir():
        raise BackupError("missing", f"backup directory {directory} does not exist")
    created = time.time() if now is None else now
    partial = directory / f".rosey-backup-{os.getpid()}.partial"
    try:
        src = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, isolation_level=None)
        try:
            dst = sqlite3.connect(partial, isolation_level=None)
            try:
                src.backup(dst)  # pages=-1: the whole file in one step, one snapshot
                dst.execute("PRAGMA journal_mode = DELETE")
                ok = dst.execute("PRAGMA integrity_check").fetchone()[0]
                if ok != "ok":
                    raise BackupError("integrity", f"the backup of {db_path} fails its "
                                                   f"integrity check: {ok}")
                seq = _highest_applied(dst)
                version = int(dst.execute("PRAGMA user_version").fetchone()[0])
            finally:
                dst.close()
        finally:
            src.close()
        _fsync(partial)
        final = directory / backup_name(created, seq)
        os.replace(partial, final)
        _fsync(directory)
        size = final.stat().st_size
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise _target_error(directory, exc) from exc
    except sqlite3.Error as exc:
        _unlink_quietly(partial)
        raise _sqlite_target_error(directory, exc) from exc
    except BaseException:
        _unlink_quietly(partial)
        raise
    _prune(directory, keep)
    return BackupInfo(final, seq, created, size, version, time.monotonic() - started)


def _unlink_quietly(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass


def list_backups(directory: Path) -> list[Path]:
    """The backup files in ``directory``, newest first (by the time in their names)."""
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if BACKUP_PATTERN.match(p.name)]
    return sorted(found, key=lambda p: p.name, reverse=True)


def _prune(directory: Path, keep: int) -> None:
    for old in list_backups(directory)[max(keep, 1):]:
        _unlink_quietly(old)


def check_backup(path: Path) -> BackupInfo:
    """What ``path`` holds, if it is a usable Rosey backup; :class:`BadBackup` (one line) if not.
    Opens the file read-only and immutable: checking never changes it."""
    started = time.monotonic()
    try:
        with open(path, "rb") as f:
            head = f.read(len(_SQLITE_MAGIC))
        size = path.stat().st_size
    except OSError as exc:
        raise BadBackup(f"{path}: cannot read it: {exc.strerror}") from exc
    if head != _SQLITE_MAGIC:
        raise BadBackup(f"{path}: not a SQLite database")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True,
                               isolation_level=None)
    except sqlite3.Error as exc:
        raise BadBackup(f"{path}: cannot open it: {exc}") from exc
    try:
        ok = conn.execute("PRAGMA integrity_check").fetchone()[0]
        if ok != "ok":
            raise BadBackup(f"{path}: corrupt ({ok.splitlines()[0]})")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        missing = _ROSEY_TABLES - tables
        if missing:
            raise BadBackup(f"{path}: not a Rosey database (no {', '.join(sorted(missing))})")
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise BadBackup(f"{path}: written by a newer Rosey (schema {version}, this one "
                            f"reads up to {SCHEMA_VERSION})")
        seq = _highest_applied(conn)
    except sqlite3.Error as exc:
        raise BadBackup(f"{path}: corrupt ({exc})") from exc
    finally:
        conn.close()
    m = BACKUP_PATTERN.match(path.name)
    created = (calendar.timegm(time.strptime(m.group(1), "%Y%m%dT%H%M%S")) + int(m.group(2)) / 1000
               if m else path.stat().st_mtime)
    return BackupInfo(path, seq, created, size, version, time.monotonic() - started)


def newest_backup(directory: Path) -> BackupInfo | None:
    """The newest backup in ``directory`` that passes :func:`check_backup` (older ones are
    tried in turn when the newest does not)."""
    for path in list_backups(directory):
        try:
            return check_backup(path)
        except BadBackup:
            continue
    return None


def database_in_use(db_path: Path) -> bool:
    """Does another connection hold ``db_path`` open (a running DatabaseService)? An open
    WAL connection keeps a shared lock, so an exclusive lock is refused at once."""
    if not db_path.exists():
        return False
    conn = sqlite3.connect(db_path, isolation_level=None, timeout=0)
    try:
        conn.execute("PRAGMA locking_mode = EXCLUSIVE")
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        conn.close()


def restore_backup(backup: Path, db_path: Path) -> tuple[BackupInfo, Path | None]:
    """Put ``backup`` in place of ``db_path``. The backup is checked first and the live file
    is left exactly as it was when the backup is refused or the database is in use
    (:class:`BadBackup`). The replaced file (with its WAL) is kept beside it as
    ``<name>.replaced-<UTC time>``; returns the backup's info and that path (None when there
    was no database)."""
    info = check_backup(backup)
    if database_in_use(db_path):
        raise BadBackup(f"{db_path} is open in a running DatabaseService: stop it before "
                        f"restoring")
    db_path.parent.mkdir(parents=True, exist_ok=True)
    incoming = db_path.with_name(db_path.name + ".restoring")
    shutil.copyfile(backup, incoming)
    _fsync(incoming)
    replaced: Path | None = None
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    if db_path.exists():
        replaced = db_path.with_name(f"{db_path.name}.replaced-{stamp}")
        os.replace(db_path, replaced)
    for suffix in ("-wal", "-shm", "-journal"):
        side = db_path.with_name(db_path.name + suffix)
        if side.exists():
            if replaced is not None and suffix == "-wal":
                os.replace(side, replaced.with_name(replaced.name + suffix))
            else:
                side.unlink()
    os.replace(incoming, db_path)
    _fsync(db_path.parent)
    return info, replaced
