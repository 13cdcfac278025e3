"""Backups of a live database and restoring one (rosey.store.backup), on real SQLite files.

The bad targets are real filesystems: a tmpfs too small for the backup (full) and a tmpfs
mounted read-only, each mounted by the test (the suite runs as root, as CI does).
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rosey.errors import BackupError, BadBackup
from rosey.store.backup import (
    BACKUP_PATTERN,
    check_backup,
    list_backups,
    newest_backup,
    restore_backup,
    write_backup,
)
from rosey.store.schema import SCHEMA_VERSION, configure_connection, migrate
from tests.support.tmpfs import tmpfs


def live_db(path: Path, *, lines: int = 100, floor: int = 0) -> sqlite3.Connection:
    """A Rosey file in WAL mode with ``lines`` chat lines, applied up to ``floor``, left open
    as the DatabaseService's writer would hold it."""
    conn = sqlite3.connect(path, isolation_level=None)
    configure_connection(conn, writer=True)
    migrate(conn)
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO recent_chat (timestamp, username, message) VALUES (?, ?, ?)",
                     [(1_700_000_000 + i, "alice", f"line {i}") for i in range(lines)])
    conn.execute("UPDATE ingest_state SET value = ? WHERE key = 'applied_floor'", (floor,))
    conn.execute("INSERT INTO applied_events (seq) VALUES (?)", (floor + 3,))
    conn.execute("COMMIT")
    return conn


def chat_lines(path: Path) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM recent_chat").fetchone()[0])
    finally:
        conn.close()


def test_a_backup_of_a_live_file_is_one_checked_file_named_for_its_stream_sequence(tmp_path):
    db = tmp_path / "rosey.db"
    conn = live_db(db, lines=500, floor=40)
    backups = tmp_path / "backups"
    backups.mkdir()
    try:
        info = write_backup(db, backups, keep=3)
        conn.execute("INSERT INTO recent_chat (timestamp, username, message) VALUES (1, 'b', 'x')")
    finally:
        conn.close()
    assert BACKUP_PATTERN.match(info.path.name)
    assert info.seq == 43 and info.path.name.endswith("-seq43.db")
    assert info.schema_version == SCHEMA_VERSION
    assert [p.name for p in backups.iterdir()] == [info.path.name]  # no partial, no -wal
    assert chat_lines(info.path) == 500  # the snapshot, not the line written after it
    assert check_backup(info.path).seq == 43


def test_only_the_newest_backups_are_kept(tmp_path):
    db = tmp_path / "rosey.db"
    live_db(db).close()
    backups = tmp_path / "backups"
    backups.mkdir()
    # two of them in the same second, with no event between: four files all the same
    made = [write_backup(db, backups, keep=2, now=1_800_000_000 + t)
            for t in (0.0, 60.0, 60.25, 61.5)]
    assert len({m.path.name for m in made}) == 4
    assert [round(check_backup(m.path).created, 3) for m in made[2:]] == [
        1_800_000_060.25, 1_800_000_061.5]
    assert list_backups(backups) == [made[3].path, made[2].path]
    newest = newest_backup(backups)
    assert newest is not None and (newest.path, newest.seq) == (made[3].path, made[3].seq)
    _corrupt(made[3].path)  # a newest backup that fails its check: the one before it is used
    newest = newest_backup(backups)
    assert newest is not None and newest.path == made[2].path


def test_a_missing_target_is_a_clear_error_and_leaves_nothing(tmp_path):
    db = tmp_path / "rosey.db"
    live_db(db).close()
    with pytest.raises(BackupError, match="does not exist") as caught:
        write_backup(db, tmp_path / "nowhere", keep=2)
    assert caught.value.reason == "missing"


@pytest.fixture
def small_tmpfs(tmp_path) -> Iterator[Path]:
    with tmpfs(tmp_path / "small", size="64k") as mount:
        yield mount


@pytest.fixture
def read_only_tmpfs(tmp_path) -> Iterator[Path]:
    with tmpfs(tmp_path / "ro", size="1m", read_only=True) as mount:
        yield mount


def test_a_full_target_is_a_clear_error_and_leaves_no_partial_file(tmp_path, small_tmpfs):
    db = tmp_path / "rosey.db"
    live_db(db, lines=5_000).close()
    assert db.stat().st_size > 64 * 1024
    with pytest.raises(BackupError, match="is full") as caught:
        write_backup(db, small_tmpfs, keep=2)
    assert caught.value.reason == "full"
    assert list(small_tmpfs.iterdir()) == []


def test_a_read_only_target_is_a_clear_error(tmp_path, read_only_tmpfs):
    db = tmp_path / "rosey.db"
    live_db(db).close()
    with pytest.raises(BackupError, match="not writable") as caught:
        write_backup(db, read_only_tmpfs, keep=2)
    assert caught.value.reason == "read_only"


def _corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    page = 4096
    for at in range(2 * page, min(len(data), 6 * page)):
        data[at] = (data[at] * 7 + 13) % 256
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("kind", ["not_sqlite", "empty", "foreign", "corrupt", "newer",
                                  "missing"])
def test_restore_refuses_a_bad_backup_and_never_touches_the_live_file(tmp_path, kind):
    db = tmp_path / "rosey.db"
    live_db(db, lines=10).close()
    before = db.read_bytes()
    bad = tmp_path / "bad.db"
    if kind == "not_sqlite":
        bad.write_bytes(b"PK\x03\x04 this is a zip, or anything else" * 100)
    elif kind == "empty":
        bad.write_bytes(b"")
    elif kind == "foreign":
        other = sqlite3.connect(bad)
        other.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        other.commit()
        other.close()
    elif kind == "corrupt":
        live_db(tmp_path / "src.db", lines=3_000).close()
        backups = tmp_path / "b"
        backups.mkdir()
        bad = write_backup(tmp_path / "src.db", backups, keep=1).path
        _corrupt(bad)
    elif kind == "newer":
        live_db(bad).close()
        conn = sqlite3.connect(bad)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        conn.close()
    with pytest.raises(BadBackup) as caught:
        restore_backup(bad, db)
    message = str(caught.value)
    assert "\n" not in message and str(bad) in message
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("rosey.db")) == \
        ["rosey.db"]


def test_restore_refuses_a_database_a_running_service_holds(tmp_path):
    db = tmp_path / "rosey.db"
    backups = tmp_path / "b"
    backups.mkdir()
    live_db(db).close()
    backup = write_backup(db, backups, keep=1).path
    holder = subprocess.Popen(  # another process with the file open, as rosey-db holds it
        [sys.executable, "-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]);"
         " c.execute('SELECT 1 FROM recent_chat').fetchall(); print('open', flush=True);"
         " sys.stdin.read()", str(db)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"open\n"
        with pytest.raises(BadBackup, match="running DatabaseService"):
            restore_backup(backup, db)
    finally:
        holder.communicate(b"", timeout=10)


def test_restore_puts_the_backup_in_place_and_keeps_the_replaced_file(tmp_path):
    db = tmp_path / "rosey.db"
    backups = tmp_path / "b"
    backups.mkdir()
    conn = live_db(db, lines=20, floor=7)
    backup = write_backup(db, backups, keep=1).path
    conn.executemany("INSERT INTO recent_chat (timestamp, username, message) VALUES (1, 'x', ?)",
                     [(str(i),) for i in range(30)])
    conn.close()
    info, replaced = restore_backup(backup, db)
    assert info.seq == 10
    assert chat_lines(db) == 20
    assert replaced is not None and chat_lines(replaced) == 50
    assert not (tmp_path / "rosey.db-wal").exists()
