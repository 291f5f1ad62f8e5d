"""The packages' import structure: no cycles, and commands that need little import little; the
test suite's own: test modules share code through ``tests/helpers``, never by importing each other."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Cycles tolerated for now. The test fails when one of them disappears, so that this list only
#: shrinks; it is empty.
KNOWN_CYCLES: list[list[str]] = []


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(packages=("eegcorpus", "neuript")) -> dict[str, set[str]]:
    """Module -> the package modules it imports, at module level or inside functions alike (an
    import deferred into a function is still a dependency, and still closes a cycle)."""
    files = {_module_name(p): p for pkg in packages for p in (ROOT / pkg).rglob("*.py")}
    graph = {}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                deps.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = name.split(".") if is_package else name.split(".")[:-1]
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, *([base] if base else [])])
                deps.add(base)
                deps.update(f"{base}.{alias.name}" for alias in node.names)
        graph[name] = {d for d in deps if d in files and d != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def test_the_cycle_finder_finds_a_cycle_through_a_deferred_import():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_beyond_the_known_ones():
    found = cycles(import_graph())
    assert [c for c in found if c not in KNOWN_CYCLES] == [], "new import cycle"
    assert [c for c in KNOWN_CYCLES if c not in found] == [], "a known cycle is gone: remove it from KNOWN_CYCLES"


@pytest.mark.parametrize("command", [["eegcorpus.cli", "--help"], ["eegcorpus.cli", "version"], ["neuript.cli", "--help"]])
def test_help_and_version_do_not_import_the_scientific_stack(command):
    """``--help`` and ``version`` answer without numpy, pandas, torch or the readers: a user
    checking a flag should not wait for them (``python -X importtime`` shows the rest)."""
    module, *args = command
    probe = (
        "import sys, runpy\n"
        f"sys.argv = ['x', *{args!r}]\n"
        "try:\n"
        f"    runpy.run_module({module!r}, run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = sorted(m for m in ('numpy', 'pandas', 'torch', 'scipy', 'mne', 'zarr', 'eegcorpus.readers') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, env=os.environ | {"NEURIPT_ALLOCATOR": "default"})
    assert "HEAVY []" in out.stdout, out.stdout[-500:] + out.stderr[-2000:]


def test_the_loader_schedule_needs_no_torch(eegmmidb_store):
    """The stream's schedule (which windows each rank and worker serves, in which order) is index
    arithmetic: it imports and runs on a real store's index without torch."""
    probe = (
        "import sys\n"
        "from eegcorpus.loader.schedule import BlockSchedule\n"
        "from eegcorpus.loader.windows import WindowSpec, build_index\n"
        "from eegcorpus.store import open_store\n"
        f"index = build_index([open_store({str(eegmmidb_store)!r})], WindowSpec(4.0))\n"
        "plan = BlockSchedule(index, 64 * 64, seed=1, buffer_size=256).worker_plan(0, 0, 1, 0, 1)\n"
        "assert sorted(plan.windows.tolist()) == list(range(len(index))), 'every window once'\n"
        "print('TORCH', 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert "TORCH False" in out.stdout, out.stdout[-500:] + out.stderr[-2000:]


def _imported_modules(source: str) -> set[str]:
    """Every module an ``import`` or ``from ... import`` names, at module level or inside
    functions and classes alike."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_test_module_imports_another_test_module_or_conftest():
    """Shared helpers live in ``tests/helpers`` and shared fixtures in ``conftest.py``. A test
    module imported by another drags its imports and fixtures along (a test function imported
    by name is even collected twice), and the two can no longer change apart."""

    def test_modules(names):
        return sorted(n for n in names if n.split(".")[0] == "conftest" or n.split(".")[0].startswith("test_"))

    # (the names are filled in, so that a grep for such imports finds none in this file)
    deferred = "import os\ndef f():\n    from {} import x\n    import {}\nclass C:\n    import {}.sub\n".format("test_edf", "conftest", "test_tasks")
    assert test_modules(_imported_modules(deferred)) == ["conftest", "test_edf", "test_tasks.sub"]
    tests = ROOT / "tests"
    files = sorted(tests.glob("test_*.py")) + [tests / "conftest.py"] + sorted((tests / "helpers").glob("*.py"))
    found = {path.relative_to(ROOT).as_posix(): test_modules(_imported_modules(path.read_text(encoding="utf-8"))) for path in files}
    assert {path: names for path, names in found.items() if names} == {}, "share code through tests/helpers and fixtures through conftest.py"
