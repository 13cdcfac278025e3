"""The operator's requests to the DatabaseService (docs/durability.md, "Backups and restore"):
not events (never captured by the stream) and not queries (they act), so they have a list of
their own, which only the ``operator`` NATS identity may publish to.

``rosey.db.admin.backup``: request ``{}`` (fields not known are ignored); reply
``{"success": true, "file": str|null, "s3": str|null, "seq": int, "bytes": int, "seconds": num}``
or ``{"success": false, "error": str, "reason": "disabled"|"busy"|"missing"|"full"|
"read_only"|"integrity"|"upload"|"error"}``.
"""

from __future__ import annotations

from typing import Final

__all__ = ["ADMIN_BACKUP", "ADMIN_SUBJECTS"]

ADMIN_BACKUP: Final = "rosey.db.admin.backup"
ADMIN_SUBJECTS: Final[tuple[str, ...]] = (ADMIN_BACKUP,)
