"""The shape of src/ (issue 18): no import cycles among Rosey's modules (every import counts,
also one inside a function, since a lazy import that closes a cycle only hides it), and no
function longer than 60 lines."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def _graph() -> dict[str, set[str]]:
    modules: dict[str, Path] = {}
    for path in SRC.rglob("*.py"):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
        modules[name] = path
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            graph[name] |= {t for t in targets if t in modules and t not in (name, "rosey")}
    return graph


def _cycle_from(start: str, graph: dict[str, set[str]]) -> list[str] | None:
    stack = [(start, [start])]
    seen = {start}
    while stack:
        node, path = stack.pop()
        for nxt in sorted(graph[node]):
            if nxt == start:
                return path + [start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, path + [nxt]))
    return None


def test_the_graph_sees_rosey_modules_and_their_imports() -> None:
    graph = _graph()
    assert {"rosey.cli", "rosey.bot.shell", "rosey.store.queries"} <= set(graph)
    assert "rosey.running" in graph["rosey.cli"]
    assert "rosey.store.queries" in graph["rosey.store.moderation"]


def test_no_import_cycles() -> None:
    graph = _graph()
    cycles = {" -> ".join(c) for m in graph if (c := _cycle_from(m, graph))}
    assert not cycles, sorted(cycles)


def test_no_function_over_60_lines() -> None:
    long = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > 60:
                    long.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name} ({lines})")
    assert not long, long


def test_only_the_action_layer_sends_to_cytube() -> None:
    """Issue 18: nothing but rosey.bot.actions asks the session to send (``say``, ``pm``,
    ``emit``); the session itself sends only what connecting takes."""
    senders = []
    for path in sorted((SRC / "rosey").rglob("*.py")):
        if path.name in ("actions.py", "cytube.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in ("say", "pm", "emit") \
                    and isinstance(node.value, ast.Attribute) \
                    and node.value.attr in ("session", "_session"):
                senders.append(f"{path.relative_to(SRC)}:{node.lineno} .{node.attr}")
    assert not senders, senders
