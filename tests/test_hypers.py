"""Hyper-parameters come from one Rust declaration per calculator: the keywords accepted, the
``hypers`` dict returned, the defaults and the docstrings all follow it."""

from __future__ import annotations

import json

import numpy as np
import pytest

import lode_rs
from lode_rs import _lode_rs

BASIS = dict(cutoff=3.0, smearing=0.5, n_max=3, l_max=2)
CALCULATORS = [
    (lode_rs.SoapExpansion, _lode_rs.SoapCalculator),
    (lode_rs.LodeExpansion, _lode_rs.LodeCalculator),
]


@pytest.mark.parametrize("cls, core", CALCULATORS)
def test_hypers_round_trip_through_json(cls, core):
    calc = cls(**BASIS)
    hypers = calc.hypers
    names = [name for name, *_ in core.hyper_fields()]
    assert list(hypers) == names
    again = cls(**json.loads(json.dumps(hypers)))
    assert again.hypers == hypers
    # defaults: every field not given has the declared default
    for name, _doc, default, required in core.hyper_fields():
        if not required:
            assert hypers[name] == default, name


@pytest.mark.parametrize("cls, core", CALCULATORS)
def test_docstring_lists_every_hyper_parameter(cls, core):
    for name, doc, _default, _required in core.hyper_fields():
        assert doc, f"{name} has no documentation"
        assert f"        {name}: {doc}" in cls.__doc__


@pytest.mark.parametrize("cls, _core", CALCULATORS)
def test_unknown_and_missing_keywords(cls, _core):
    with pytest.raises(TypeError, match=r"unknown .* 'cutof'.*cutoff, smearing, n_max, l_max"):
        cls(cutof=3.0, smearing=0.5, n_max=3, l_max=2)
    with pytest.raises(TypeError, match="missing required .*n_max, l_max"):
        cls(cutoff=3.0, smearing=0.5)
    with pytest.raises(TypeError):
        cls(3.0, 0.5, 3, 2)  # keyword-only


@pytest.mark.parametrize("cls, _core", CALCULATORS)
def test_wrong_types_name_the_parameter(cls, _core):
    with pytest.raises(TypeError, match=r"n_max=4\.0: expected int"):
        cls(**{**BASIS, "n_max": 4.0})
    with pytest.raises(TypeError, match=r"cutoff='3': expected float"):
        cls(**{**BASIS, "cutoff": "3"})
    with pytest.raises(TypeError, match=r"l_max=True: expected int"):
        cls(**{**BASIS, "l_max": True})
    with pytest.raises(lode_rs.InvalidParameterError, match=r"n_max=-1: must be >= 0"):
        cls(**{**BASIS, "n_max": -1})


def test_numpy_scalars_and_optional_fields():
    calc = lode_rs.LodeExpansion(
        cutoff=np.float64(3.0), smearing=np.float32(0.5), n_max=np.int64(3), l_max=2, k_cutoff=None
    )
    assert calc.hypers["n_max"] == 3 and type(calc.hypers["n_max"]) is int
    assert calc.hypers["k_cutoff"] is None
    with pytest.raises(TypeError, match=r"k_cutoff='a': expected float \| None"):
        lode_rs.LodeExpansion(**BASIS, k_cutoff="a")
    with pytest.raises(TypeError, match=r"method=3: expected str"):
        lode_rs.LodeExpansion(**BASIS, method=3)
