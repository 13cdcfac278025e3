"""The bot's query outcome codes are written twice: on the QueryFailed classes (what the code
counts) and in metrics.BOT_QUERY_OUTCOMES (the pre-created label set). They must agree."""

from __future__ import annotations

from rosey.bot import queries
from rosey.metrics import BOT_QUERY_OUTCOMES


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def test_every_failure_outcome_is_a_pre_created_label():
    outcomes = {sub.outcome for sub in _subclasses(queries.QueryFailed)}
    assert outcomes | {"ok"} == set(BOT_QUERY_OUTCOMES)
