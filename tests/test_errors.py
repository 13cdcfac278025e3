"""One exception tree: every exception class in rosey derives from RoseyError, and the tree
drawn in rosey.errors' docstring names every class defined there."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import rosey
from rosey import errors
from rosey.errors import RoseyError


def _rosey_modules():
    for info in pkgutil.walk_packages(rosey.__path__, "rosey."):
        if info.name == "rosey.db" or info.name.endswith(".__main__"):
            continue  # -m entry points: importing them runs the program
        yield importlib.import_module(info.name)


def test_every_exception_class_in_rosey_is_a_rosey_error():
    outside = []
    for module in _rosey_modules():
        for name, obj in vars(module).items():
            if (inspect.isclass(obj) and issubclass(obj, BaseException)
                    and obj.__module__ == module.__name__ and not issubclass(obj, RoseyError)):
                outside.append(f"{module.__name__}.{name}")
    assert not outside, f"exceptions outside the RoseyError tree: {outside}"


def test_the_docstring_tree_names_every_error_in_errors_py():
    drawn = set(re.findall(r"[├└]── (\w+)", errors.__doc__ or "")) | {"RoseyError"}
    defined = {name for name, obj in vars(errors).items()
               if inspect.isclass(obj) and issubclass(obj, RoseyError)}
    assert drawn == defined
    assert set(errors.__all__) == defined
