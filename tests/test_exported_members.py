"""Each public module's __all__ names exist (httpx's habit: the public surface can't drift)."""

from __future__ import annotations

import importlib

import pytest

MODULES = ["rosey.contract", "rosey.errors", "rosey.config", "rosey.log", "rosey.metrics",
           "rosey.bus", "rosey.stream", "rosey.store.schema", "rosey.store.events",
           "rosey.store.queries", "rosey.store.store", "rosey.dbservice.service",
           "rosey.bot.channel", "rosey.bot.cytube", "rosey.bot.limits", "rosey.bot.media",
           "rosey.bot.publisher", "rosey.bot.service", "rosey.bot.shell", "rosey.bot.text",
           "rosey.bot.cli", "rosey.up"]


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist(name):
    module = importlib.import_module(name)
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names missing attributes: {missing}"
