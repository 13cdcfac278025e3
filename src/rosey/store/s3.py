"""Backups in an S3-compatible bucket (AWS S3, MinIO, Ceph, ...), beside the backup directory.

A backup written by :func:`rosey.store.backup.write_backup` is uploaded under
``s3://BUCKET/PREFIX/<its name>`` with its stream sequence in the object's metadata; the
bucket keeps the newest ``keep`` like the directory does. Credentials come the way every AWS
client takes them (``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``, a profile, a role);
``endpoint`` points at a server that is not AWS.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from rosey.errors import BackupError, ConfigError
from rosey.store.backup import BACKUP_PATTERN, BackupInfo

__all__ = ["S3Target", "parse_s3_url"]


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ("bucket", "some/prefix/"); ConfigError otherwise."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError(f"ROSEY_BACKUP_S3_URL must look like s3://bucket/prefix, not {url!r}")
    prefix = parts.path.strip("/")
    return parts.netloc, f"{prefix}/" if prefix else ""


class S3Target:
    """One bucket and prefix. Every failure is a :class:`BackupError` with reason ``upload``."""

    def __init__(self, url: str, *, endpoint: str | None = None, region: str | None = None,
                 keep: int = 7, client: Any = None) -> None:
        self.url = url.rstrip("/")
        self.bucket, self.prefix = parse_s3_url(url)
        self.keep = keep
        self._client = client or boto3.client(
            "s3", endpoint_url=endpoint or None, region_name=region or None,
            config=Config(connect_timeout=5, read_timeout=60,
                          retries={"max_attempts": 3, "mode": "standard"}))

    def _fail(self, what: str, exc: Exception) -> BackupError:
        return BackupError("upload", f"{what} {self.url} failed: {exc}")

    def upload(self, info: BackupInfo) -> str:
        """Upload ``info.path``; return its URL. Then keep only the newest ``keep``."""
        key = self.prefix + info.path.name
        try:
            self._client.upload_file(str(info.path), self.bucket, key, ExtraArgs={
                "Metadata": {"rosey-seq": str(info.seq),
                             "rosey-schema": str(info.schema_version)}})
        except (BotoCoreError, ClientError, OSError) as exc:
            raise self._fail("upload to", exc) from exc
        for old in self.keys()[max(self.keep, 1):]:
            try:
                self._client.delete_object(Bucket=self.bucket, Key=old)
            except (BotoCoreError, ClientError) as exc:
                raise self._fail("pruning", exc) from exc
        return f"s3://{self.bucket}/{key}"

    def keys(self) -> list[str]:
        """The backups' keys under the prefix, newest first."""
        found: list[str] = []
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix)
            for page in pages:
                for obj in page.get("Contents", []):
                    key = obj["Key"]
                    if BACKUP_PATTERN.match(key[len(self.prefix):]):
                        found.append(key)
        except (BotoCoreError, ClientError) as exc:
            raise self._fail("listing", exc) from exc
        return sorted(found, key=lambda k: k[len(self.prefix):], reverse=True)

    def download(self, key: str, directory: Path) -> Path:
        """Fetch one backup into ``directory``; return its path."""
        dest = directory / Path(key).name
        try:
            self._client.download_file(self.bucket, key, str(dest))
        except (BotoCoreError, ClientError, OSError) as exc:
            raise self._fail(f"download of {key} from", exc) from exc
        return dest
