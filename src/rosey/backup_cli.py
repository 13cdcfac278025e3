"""``rosey backup`` (ask the running DatabaseService for a backup now) and ``rosey restore``
(put a backup in place of the database file, with the DatabaseService stopped)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from rosey.config import DEFAULT_NATS_URL, backup_settings, nats_auth_settings
from rosey.contract.admin import ADMIN_BACKUP
from rosey.errors import BadBackup, BusError, RoseyError
from rosey.store.backup import BackupInfo, check_backup, newest_backup, restore_backup

__all__ = ["add_backup_arguments", "add_restore_arguments", "run_backup", "run_restore",
           "BACKUP_HELP", "RESTORE_HELP"]

BACKUP_HELP = """\
Ask the running DatabaseService to write a backup now (to ROSEY_BACKUP_DIR and/or
ROSEY_BACKUP_S3_URL, as configured on the service), and wait for it. Connects to NATS as the
operator identity (ROSEY_NATS_USER=operator and its password, as for any outside tool).
Prints the file, its stream sequence and size; exit code 1 when the backup failed.
"""

RESTORE_HELP = """\
Put a backup in place of the DatabaseService's SQLite file. Stop the DatabaseService first
(a file a running service holds is refused). BACKUP is a backup file, a backup directory (its
newest good backup), or s3://bucket/key (or s3://bucket/prefix/ for the newest there; the
endpoint and credentials as for the service: ROSEY_BACKUP_S3_ENDPOINT, AWS_*).
The backup is checked first (PRAGMA integrity_check, Rosey's tables, a schema this Rosey
reads); a file that fails is refused with one line and the live file is not touched. The
replaced file is kept beside it (<name>.replaced-<time>). On its next start the DatabaseService
replays from the stream every event after the backup's stream sequence (the stream keeps
7 days by default), so nothing the stream still holds is lost or applied twice.
"""


def add_backup_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--nats-url", help=f"NATS URL(s) [ROSEY_NATS_URL] (default {DEFAULT_NATS_URL})")
    p.add_argument("--timeout", type=float, default=600.0,
                   help="seconds to wait for the backup (default 600)")


def add_restore_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("backup", metavar="BACKUP", help="a backup file, directory or s3:// URL")
    p.add_argument("--db-path", help="the SQLite file to replace [ROSEY_DB_PATH] (default ./rosey.db)")
    p.add_argument("--if-missing", action="store_true",
                   help="only when the database file does not exist (a lost volume); no backup "
                        "found is then not an error (the chart's init container)")


def run_backup(args: argparse.Namespace, env: Mapping[str, str] = os.environ) -> int:
    import nats

    from rosey.bus import connect_options, servers_from_url

    url = args.nats_url or env.get("ROSEY_NATS_URL") or DEFAULT_NATS_URL
    auth = nats_auth_settings(env)

    async def ask() -> dict[str, object]:
        try:
            nc = await nats.connect(servers=servers_from_url(url), name="rosey-backup",
                                    connect_timeout=5, max_reconnect_attempts=0,
                                    allow_reconnect=False, **connect_options(auth))
        except Exception as exc:
            raise BusError(f"cannot reach NATS at {url}: {exc or type(exc).__name__}") from exc
        try:
            msg = await nc.request(ADMIN_BACKUP, b"{}", timeout=args.timeout)
        except Exception as exc:
            raise BusError(f"no answer on {ADMIN_BACKUP} from {url}: "
                           f"{exc or type(exc).__name__} (is the DatabaseService running?)") from exc
        finally:
            await nc.close()
        reply: dict[str, object] = json.loads(msg.data)
        return reply

    reply = asyncio.run(ask())
    if not reply.get("success"):
        raise RoseyError(f"backup failed ({reply.get('reason')}): {reply.get('error')}")
    where = " and ".join(str(w) for w in (reply.get("file"), reply.get("s3")) if w)
    print(f"rosey backup: wrote {where} (stream sequence {reply['seq']}, {reply['bytes']} bytes, "
          f"{reply['seconds']} s)")
    return 0


def _find(spec: str, env: Mapping[str, str], scratch: Path) -> BackupInfo | None:
    """The backup ``spec`` names, checked; None when a directory or prefix holds none."""
    if spec.startswith("s3://"):
        from rosey.store.s3 import S3Target, parse_s3_url

        settings = backup_settings(env)
        bucket, key = parse_s3_url(spec)
        key = key.rstrip("/")
        where = spec if spec.endswith("/") or not key else f"s3://{bucket}"  # a prefix, or one key
        target = S3Target(where, endpoint=settings.s3_endpoint, region=settings.s3_region)
        if where != spec:
            return check_backup(target.download(key, scratch))
        for candidate in target.keys():
            try:
                return check_backup(target.download(candidate, scratch))
            except BadBackup:
                continue
        return None
    path = Path(spec)
    if path.is_dir():
        return newest_backup(path)
    return check_backup(path)


def run_restore(args: argparse.Namespace, env: Mapping[str, str] = os.environ) -> int:
    db_path = Path(args.db_path or env.get("ROSEY_DB_PATH") or "rosey.db")
    if args.if_missing and db_path.exists():
        print(f"rosey restore: {db_path} exists; nothing to restore")
        return 0
    with tempfile.TemporaryDirectory(prefix="rosey-restore-") as tmp:
        info = _find(args.backup, env, Path(tmp))
        if info is None:
            if args.if_missing:
                print(f"rosey restore: no backup in {args.backup}; the DatabaseService starts "
                      f"with an empty {db_path} and replays what the stream holds")
                return 0
            raise BadBackup(f"{args.backup}: no usable backup there")
        info, replaced = restore_backup(info.path, db_path)
    kept = f"; the previous file is kept as {replaced}" if replaced else ""
    print(f"rosey restore: restored {args.backup} (stream sequence {info.seq}, schema "
          f"{info.schema_version}) into {db_path}{kept}. The DatabaseService replays from the "
          f"stream what came after sequence {info.seq} when it starts.")
    return 0
