"""Helpers for the resilience tests (in :mod:`tests.resilience.timing`, which ``bench`` shares):
a publisher that retries until acknowledged, and a reader of the SQLite file the
DatabaseService process writes."""

from __future__ import annotations

from tests.bot.conftest import cytube  # noqa: F401  (the test CyTube server fixture)
from tests.resilience.timing import AckedPublisher, read_counts  # noqa: F401
