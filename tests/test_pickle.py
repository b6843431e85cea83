"""What shipping work to other processes needs: calculators, invariants and models pickle by
their hyper-parameters and fitted arrays, and give bitwise identical results afterwards."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import lode_rs
from conftest import random_cluster, random_periodic
from lode_rs.models import GPR, PolynomialKernel, Ridge, SparseGPR

FRAMES = [random_periodic(s, n_atoms=8, species=(1, 8)) for s in range(4)]


def soap(**kw):
    return lode_rs.SoapExpansion(cutoff=3.0, smearing=0.4, n_max=4, l_max=3, **kw)


def lode(**kw):
    return lode_rs.LodeExpansion(cutoff=3.0, smearing=1.0, n_max=3, l_max=2, **kw)


def roundtrip(obj):
    return pickle.loads(pickle.dumps(obj))


@pytest.mark.parametrize(
    "make",
    [
        lambda: soap(species=[1, 8], cutoff_width=0.3, n_threads=2),
        lambda: lode(species=[1, 8], exponent=3, accuracy=1e-8),
        lambda: lode(species=[1, 8], k_cutoff=2.5),
        lambda: lode(species=[1, 8], method="ewald"),
        lambda: lode(charges=True),
    ],
)
def test_calculator_pickle_gives_bitwise_identical_coefficients(make):
    calc = make()
    frames = [f.copy() for f in FRAMES]
    for f in frames:
        f.set_initial_charges(np.where(f.numbers == 1, 1.0, -1.0))  # neutral
    copy_ = roundtrip(calc)
    assert type(copy_) is type(calc)
    assert copy_.hypers == calc.hypers
    assert copy_.species == calc.species and copy_.n_threads == calc.n_threads
    assert np.array_equal(copy_.compute(frames).values, calc.compute(frames).values)


def test_pickle_holds_no_rust_object():
    data = pickle.dumps(soap(species=[1, 8]))
    assert b"SoapCalculator" not in data  # the core object is rebuilt, never serialised
    assert b"cutoff" in data


def test_unfixed_calculator_cannot_be_shipped():
    calc = soap()
    with pytest.raises(lode_rs.InvalidParameterError, match="fix_species"):
        pickle.dumps(calc)
    with pytest.raises(lode_rs.InvalidParameterError, match="fix_species"):
        pickle.dumps(lode_rs.PowerSpectrum(calc))
    # in-process copies are allowed and stay unfixed
    assert copy.deepcopy(calc).species is None


def test_fix_species_takes_every_frame_and_checks_fixed_lists():
    frames = [random_cluster(0, species=(1, 6)), random_cluster(1, species=(1, 8))]
    calc = soap().fix_species(frames)
    assert calc.species == [1, 6, 8]  # the union, not the first structure's species
    one = roundtrip(calc).compute(frames[1:])
    assert one.values.shape[1] == 3
    with pytest.raises(lode_rs.InvalidParameterError, match=r"\[7\]"):
        soap(species=[1, 6, 8]).fix_species([random_cluster(2, species=(1, 7))])
    assert lode(charges=True).species_fixed


def test_invariants_pickle_and_threads_are_explicit():
    ps = lode_rs.PowerSpectrum(soap(), lode()).fix_species(FRAMES)
    copy_ = roundtrip(ps)
    a = ps.compute(FRAMES, n_threads=1)
    b = copy_.compute(FRAMES, n_threads=2)
    assert np.array_equal(a.values, b.values)
    assert np.array_equal(a.labels, b.labels)
    radial = lode_rs.invariants.RadialSpectrum(lode(species=[1, 8]))
    assert np.array_equal(
        roundtrip(radial).compute(FRAMES).values,
        lode_rs.invariants.radial(radial.calculator, FRAMES, n_threads=1).values,
    )


def _features():
    calc = lode_rs.PowerSpectrum(soap(species=[1, 8]))
    x = calc.compute(FRAMES + [random_periodic(s, n_atoms=8) for s in range(10, 16)])
    y = np.random.default_rng(0).normal(size=x.n_structures)
    return x, y


@pytest.mark.parametrize(
    "model",
    [
        Ridge(regularizer=1e-4),
        GPR(kernel=PolynomialKernel(zeta=2), regularizer=1e-4),
        SparseGPR(kernel=PolynomialKernel(zeta=3), n_sparse=20, regularizer=1e-4),
    ],
)
def test_model_pickle_gives_bitwise_identical_predictions(model):
    x, y = _features()
    unfitted = roundtrip(model)
    assert repr(unfitted) == repr(model)
    model.fit(x, y)
    copy_ = roundtrip(model)
    mean, var = model.predict(x, return_variance=True)
    mean2, var2 = copy_.predict(x, return_variance=True)
    assert np.array_equal(mean, mean2) and np.array_equal(var, var2)
    assert np.array_equal(unfitted.fit(x, y).predict(x), mean)


def test_model_get_set_params():
    model = SparseGPR(kernel=PolynomialKernel(zeta=2), n_sparse=10)
    deep = model.get_params(deep=True)
    assert deep["kernel__zeta"] == 2 and deep["kernel__normalize"] is True
    assert "kernel__zeta" not in model.get_params(deep=False)
    model.set_params(kernel__zeta=4, n_sparse=7)
    assert model.kernel.zeta == 4 and model.n_sparse == 7
    with pytest.raises(lode_rs.InvalidParameterError, match="no parameters"):
        model.set_params(zeta=3)
    with pytest.raises(lode_rs.InvalidParameterError, match="n_sparse"):
        model.set_params(n_sparse=-1)
    assert model.n_sparse == 7  # unchanged after a rejected value
    with pytest.raises(lode_rs.InvalidParameterError, match="no parameters"):
        Ridge().set_params(kernel__zeta=2)


def test_core_exceptions_pickle_with_their_type():
    """Errors raised in worker processes reach the caller as lode_rs's own exceptions."""
    for error in (lode_rs.InvalidInputError("bad data"), lode_rs.InvalidParameterError("bad")):
        again = roundtrip(error)
        assert type(again) is type(error) and str(again) == str(error)
