"""The type stubs `_lode_rs/__init__.pyi` and `_lode_rs/testing.pyi` name exactly what the
compiled module and its `testing` submodule export (signatures: `mypy.stubtest` in `.ci/run`)."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import lode_rs
from lode_rs import _lode_rs


def stub_names(stub: str = "__init__.pyi") -> set[str]:
    path = Path(lode_rs.__file__).parent / "_lode_rs" / stub
    tree = ast.parse(path.read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
    return names


def module_names(module=_lode_rs) -> set[str]:
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and (inspect.isclass(value) or callable(value))
    }


def test_stub_matches_module():
    assert stub_names() == module_names()


def test_testing_submodule_is_importable_and_stubbed():
    import lode_rs._lode_rs.testing as imported
    from lode_rs._lode_rs import testing

    assert imported is testing is _lode_rs.testing
    assert stub_names("testing.pyi") == module_names(testing)


def test_public_api_is_documented():
    for name in lode_rs.__all__:
        item = getattr(lode_rs, name)
        assert inspect.getdoc(item), f"lode_rs.{name} has no docstring"
