"""Every query the store answers, and :func:`run_query`, the read side's one entry.

Here, not in :mod:`rosey.store.queries`, so that neither query module imports the other's
table (the moderation record's ``history`` reads ``user_stats``). The web page's are
:mod:`rosey.store.activity`'s and :mod:`rosey.store.media`'s.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, Final

from rosey import contract
from rosey.store.activity import ACTIVITY_QUERIES
from rosey.store.media import MEDIA_QUERIES
from rosey.store.moderation import MODERATION_QUERIES
from rosey.store.queries import QUERIES

__all__ = ["ANSWERS", "run_query"]

#: query type -> its answer, for every query of the contract, the moderation record and the
#: web page
ANSWERS: Final[dict[type, Callable[[sqlite3.Connection, Any], contract.Reply]]] = {
    **QUERIES, **MODERATION_QUERIES, **ACTIVITY_QUERIES, **MEDIA_QUERIES}


def run_query(conn: sqlite3.Connection,
              query: contract.QueryOf[contract.ReplyT]) -> contract.ReplyT:
    """Answer one query with its reply type."""
    reply: contract.ReplyT = ANSWERS[type(query)](conn, query)  # type: ignore[assignment]
    return reply
