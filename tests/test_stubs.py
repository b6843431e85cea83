"""The type stub `_lode_rs.pyi` names exactly what the compiled module exports."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import lode_rs
from lode_rs import _lode_rs


def stub_names() -> set[str]:
    path = Path(lode_rs.__file__).with_name("_lode_rs.pyi")
    tree = ast.parse(path.read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
    return names


def module_names() -> set[str]:
    return {
        name
        for name, value in vars(_lode_rs).items()
        if not name.startswith("_") and (inspect.isclass(value) or callable(value))
    }


def test_stub_matches_module():
    assert stub_names() == module_names()


def test_public_api_is_documented():
    for name in lode_rs.__all__:
        item = getattr(lode_rs, name)
        assert inspect.getdoc(item), f"lode_rs.{name} has no docstring"
