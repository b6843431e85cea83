"""Special functions of lode_rs against scipy.special and mpmath.

Measured maximum relative errors (this file's grids): erf, Γ, ln Γ, P, Q ≤ 1e-15 (a ≤ 30),
erfc ≤ 3e-16 vs mpmath (scipy's own erfc is off by up to 3e-14 near x ≈ 26), E1 ≤ 6e-15,
Γ(s, x) for s ∈ [−3.5, 4] ≤ 5e-15 at integer and half-integer s (the ones LODE uses),
≤ 1.6e-14 at s = ±0.25; P(100, x) ≤ 5e-13 (the x^a e^{−x}/Γ(a) prefactor).
"""

import mpmath
import numpy as np
import pytest
import scipy.special

from lode_rs import _lode_rs
from lode_rs._lode_rs import testing

mpmath.mp.dps = 40

X = np.concatenate([np.logspace(-12, 2.5, 300), [0.5, 1.0, 1.0 + 1e-12, 1 - 1e-12, 2.0, 700.0]])


def special(name, a, x):
    return testing.special_function(name, a, np.asarray(x, dtype=np.float64))


def max_rel(actual, expected):
    # subnormal results carry fewer digits by construction: compare normal numbers only
    mask = np.abs(expected) > 1e-300
    return np.max(np.abs(actual[mask] / expected[mask] - 1.0))


def test_erf_erfc():
    x = np.concatenate([-X, X])
    assert max_rel(special("erf", None, x), scipy.special.erf(x)) < 1e-15
    small = np.abs(x) < 26
    assert max_rel(special("erfc", None, x[small]), scipy.special.erfc(x[small])) < 1e-13
    grid = np.linspace(-5, 26, 200)
    reference = np.array([float(mpmath.erfc(mpmath.mpf(t))) for t in grid])
    assert max_rel(special("erfc", None, grid), reference) < 1e-15


def test_gamma_and_ln_gamma():
    x = np.linspace(-20.5, 171, 1201)
    x = x[np.abs(x - np.round(x)) > 1e-6]
    assert max_rel(special("gamma", None, x), scipy.special.gamma(x)) < 5e-15
    positive = np.logspace(-8, 3, 300)
    reference = np.array([float(mpmath.loggamma(mpmath.mpf(t))) for t in positive])
    error = np.abs(special("ln_gamma", None, positive) - reference) / np.maximum(
        1, np.abs(reference)
    )
    assert error.max() < 1e-15
    assert np.isnan(special("gamma", None, [-3.0]))[0]


@pytest.mark.parametrize("a", [1e-3, 0.01, 0.3, 0.5, 1.0, 1.5, 2.5, 4.0, 10.0, 30.0])
def test_regularised_incomplete_gamma(a):
    p = special("gamma_p", a, X)
    q = special("gamma_q", a, X)
    np.testing.assert_allclose(p + q, 1.0, rtol=0, atol=2e-15)
    p_ref = np.array([float(mpmath.gammainc(a, 0, mpmath.mpf(x), regularized=True)) for x in X])
    q_ref = np.array([float(mpmath.gammainc(a, mpmath.mpf(x), regularized=True)) for x in X])
    assert max_rel(p, p_ref) < 1e-14
    assert max_rel(q, q_ref) < 1e-14
    # and scipy (whose own error reaches ~1e-13 for Q at large x)
    assert max_rel(p, scipy.special.gammainc(a, X)) < 2e-13
    assert max_rel(q, scipy.special.gammaincc(a, X)) < 2e-13


def test_large_a():
    x = np.linspace(50, 150, 41)
    p_ref = np.array([float(mpmath.gammainc(100, 0, mpmath.mpf(t), regularized=True)) for t in x])
    assert max_rel(special("gamma_p", 100.0, x), p_ref) < 5e-13


def test_exp1():
    assert max_rel(special("exp1", None, X), scipy.special.exp1(X)) < 1e-14
    assert special("exp1", None, [0.0])[0] == np.inf


@pytest.mark.parametrize("s", [-3.5, -2.5, -2.0, -1.5, -1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.5, 4.0])
def test_upper_gamma_any_s(s):
    x = np.concatenate([np.logspace(-8, 2.7, 120), [1.0, 1.0 + 1e-14, 1.0 - 1e-14]])
    actual = special("upper_gamma", s, x)
    reference = np.array([float(mpmath.gammainc(s, mpmath.mpf(t))) for t in x])
    # ≤ 5e-15 for integer and half-integer s; up to 1.6e-14 for s = −0.25 at x ≈ 0.8 (the
    # downward recurrence step from Γ(0.75, x) is conditioned ≈ 3 there)
    assert max_rel(actual, reference) < 2.5e-14
    scaled = special("upper_gamma_scaled", s, x)
    reference = np.array([float(mpmath.gammainc(s, mpmath.mpf(t)) / mpmath.mpf(t) ** s) for t in x])
    assert max_rel(scaled, reference) < 2.5e-14


def test_upper_gamma_limits():
    # x^{-s} Γ(s, x) → −1/s as x → 0 for s < 0
    for s in [-0.5, -1.0, -1.5]:
        assert special("upper_gamma_scaled", s, [0.0])[0] == pytest.approx(-1 / s, rel=1e-15)
    # large x underflows to zero, never NaN
    values = special("upper_gamma", -1.5, [800.0, 1e5, np.inf])
    assert np.all(values == 0.0)
    assert np.isnan(special("upper_gamma", -0.5, [-1.0]))[0]


def test_names_and_parameters():
    with pytest.raises(_lode_rs.InvalidParameterError):
        special("bessel", None, [1.0])
    with pytest.raises(_lode_rs.InvalidParameterError):
        special("gamma_p", None, [1.0])
    with pytest.raises(_lode_rs.InvalidParameterError):
        special("erf", 1.0, [1.0])
    out = special("erf", None, np.ones((2, 3, 4)))
    assert out.shape == (2, 3, 4)
