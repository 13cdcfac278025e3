"""A real small filesystem for the backup tests' bad targets: a tmpfs mounted by the test (the
suite runs as root, as CI does) and lazily unmounted after it."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def tmpfs(mount: Path, *, size: str, read_only: bool = False) -> Iterator[Path]:
    """``mount`` (created) as a tmpfs of ``size`` (``64k``), read-only if asked."""
    mount.mkdir(parents=True, exist_ok=True)
    options = f"{'ro,' if read_only else ''}size={size}"
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)
