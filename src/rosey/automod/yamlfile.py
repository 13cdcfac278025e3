"""The rules file as YAML: ``yaml.safe_load`` that also refuses a key given twice, with every
problem as one line.

PyYAML keeps the last of two equal keys without a word; in a rules file that hides a rule's
first ``within:`` or a second ``rules:`` list, so here it is an error, like a misspelt field.
"""

from __future__ import annotations

from typing import Any

import yaml  # type: ignore[import-untyped, unused-ignore]

from rosey.errors import YamlError

__all__ = ["YamlError", "load_yaml"]


class _Loader(yaml.SafeLoader):  # type: ignore[misc, unused-ignore]
    pass


def _mapping(loader: Any, node: Any, deep: bool = False) -> Any:
    """A mapping whose keys are each given once; a key merged in with ``<<: *anchor`` may be
    given again (that overrides it, as YAML means)."""
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            twice = key in seen
        except TypeError:  # an unhashable key: construct_mapping says so
            break
        if twice:
            raise yaml.constructor.ConstructorError(
                None, None, f"the key {key!r} is given twice", key_node.start_mark)
        seen.add(key)
    loader.flatten_mapping(node)
    return loader.construct_mapping(node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_yaml(text: str) -> Any:
    """The document in ``text``; raises :class:`YamlError`."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e)
        context = getattr(e, "context", None)
        what = f"{context}, {problem}" if context else problem
        raise YamlError(f"{' '.join(str(what).split())}{where}") from None
