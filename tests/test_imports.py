"""The package's import structure: no import cycle, every module importable on its own, and a
light ``import lode_rs`` (optional and plotting dependencies load only when used)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import lode_rs

PACKAGE = Path(lode_rs.__file__).parent


def _module_names() -> dict[str, Path]:
    """Every module of the package, Python sources and the compiled core."""
    names = {}
    for path in sorted([*PACKAGE.rglob("*.py"), *PACKAGE.rglob("*.so"), *PACKAGE.rglob("*.pyd")]):
        parts = ("lode_rs",) + path.relative_to(PACKAGE).with_name(path.name.split(".")[0]).parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


MODULES = _module_names()


def _imports(name: str, path: Path) -> set[str]:
    """The lode_rs modules ``name`` imports anywhere in its source (inside functions too: an
    import deferred to call time still makes a cycle, only a hidden one)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            # `from package import submodule` imports the submodule, anything else the base
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names
            ]
        else:
            continue
        out.update(t for t in targets if t in MODULES and t != name)
    return out


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node], _ = 1, path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node], _ = 2, path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_cycles():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle():
    graph = {
        name: _imports(name, path) if path.suffix == ".py" else set()
        for name, path in MODULES.items()
    }
    # the scan sees the edges that matter: the loaders use the generator, which does not
    # import them back
    assert "lode_rs.datasets.dimer_generator" in graph["lode_rs.datasets.loaders"]
    assert "lode_rs.datasets.records" in graph["lode_rs.datasets.dimer_generator"]
    cycle = _find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def _python(code: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONWARNINGS="ignore::DeprecationWarning")
    return subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )


def test_every_module_imports_alone_in_a_fresh_interpreter():
    names = [n for n in MODULES if not n.endswith("__main__")]
    failures = []
    batch = max(os.cpu_count() or 1, 2)
    for start in range(0, len(names), batch):
        running = [(n, _python(f"import {n}")) for n in names[start : start + batch]]
        for name, process in running:
            _, err = process.communicate(timeout=120)
            if process.returncode:
                failures.append(f"{name}: {err.decode().strip().splitlines()[-1]}")
    assert not failures, "\n".join(failures)


def test_import_lode_rs_loads_no_optional_or_plotting_dependency():
    heavy = ["ase", "matplotlib", "tqdm", "rdkit", "tblite", "featomic"]
    code = f"import sys, lode_rs; print([m for m in {heavy!r} if m in sys.modules])"
    out, err = _python(code).communicate(timeout=120)
    assert out.decode().strip() == "[]", err.decode()


def test_the_old_generator_module_is_a_deprecated_alias():
    import importlib

    sys.modules.pop("lode_rs.dimer_generator", None)
    with pytest.warns(DeprecationWarning, match="lode_rs.datasets.dimer_generator"):
        old = importlib.import_module("lode_rs.dimer_generator")
    assert old.Settings is lode_rs.datasets.dimer_generator.Settings


def test_the_dimer_generator_runs_as_a_script_without_warnings():
    """``python -m lode_rs.datasets.dimer_generator``: the package does not import the script
    first (runpy would warn that it is already in sys.modules)."""
    script = ["-m", "lode_rs.datasets.dimer_generator", "--help"]
    result = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", *script],
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert b"--n-dimers" in result.stdout
