"""Each module's __all__ names exist (httpx's habit: the public surface can't drift).

The modules are discovered, not listed, so a renamed or new module is checked without anyone
remembering to add it here. Packages (whose ``__init__`` only describes them) and entry-point
shims (``__main__``, ``rosey.db``) export nothing and are not checked.
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import rosey

SHIMS = {"rosey.db"}
MODULES = sorted(m.name for m in pkgutil.walk_packages(rosey.__path__, "rosey.")
                 if not m.ispkg and not m.name.endswith("__main__") and m.name not in SHIMS)


def test_every_module_is_found():
    assert {"rosey.contract.events", "rosey.contract.queries", "rosey.bot.shell",
            "rosey.dbservice.service"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist(name):
    module = importlib.import_module(name)
    names = getattr(module, "__all__", None)
    assert names is not None, f"{name} declares no __all__"
    missing = [n for n in names if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names missing attributes: {missing}"
