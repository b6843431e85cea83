"""Real spherical harmonics from lode_rs against scipy, finite differences and identities.

Convention (docs/math.md §1): orthonormal, column l² + l + m, no Condon–Shortley phase,
Y_1,-1 ∝ +y, Y_1,0 ∝ z, Y_1,1 ∝ +x. scipy's complex ``sph_harm_y`` carries the
Condon–Shortley phase, so for m > 0: Y_lm = √2 (−1)^m Re Y_l^m, Y_l,-m = √2 (−1)^m Im Y_l^m.
"""

import numpy as np
import pytest
import scipy.special

from lode_rs import _lode_rs
from lode_rs._lode_rs import testing

L_MAX = 20


def reference(vectors, l_max):
    # arctan2 keeps θ accurate next to the poles (arccos(z/r) rounds θ = 1e-9 to 0)
    theta = np.arctan2(np.hypot(vectors[:, 0], vectors[:, 1]), vectors[:, 2])
    phi = np.arctan2(vectors[:, 1], vectors[:, 0])
    out = np.zeros((len(vectors), (l_max + 1) ** 2))
    for l in range(l_max + 1):
        for m in range(0, l + 1):
            y = scipy.special.sph_harm_y(l, m, theta, phi)
            if m == 0:
                out[:, l * l + l] = y.real
            else:
                sign = np.sqrt(2.0) * (-1.0) ** m
                out[:, l * l + l + m] = sign * y.real
                out[:, l * l + l - m] = sign * y.imag
    return out


def sample_directions():
    rng = np.random.default_rng(12345)
    random = rng.normal(size=(400, 3)) * rng.uniform(0.1, 10.0, size=(400, 1))
    axes = np.array(
        [
            [0, 0, 1],
            [0, 0, -1],
            [1, 0, 0],
            [-1, 0, 0],
            [0, 1, 0],
            [0, -1, 0],
            [0, 0, 2.5],
            [1e-9, 0, 1],
            [1, 1, 0],
            [-1, 1, 1],
        ],
        dtype=float,
    )
    return np.concatenate([axes, random])


def test_against_scipy_all_l():
    vectors = sample_directions()
    values = testing.spherical_harmonics(vectors, L_MAX)
    assert values.shape == (len(vectors), (L_MAX + 1) ** 2)
    assert values.dtype == np.float64
    expected = reference(vectors, L_MAX)
    # measured: ≈ 4e-14 (the largest |Y_lm| at l = 20 is ≈ 2.6)
    np.testing.assert_allclose(values, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("l_max", [0, 1, 4, 11])
def test_small_l_max_is_prefix(l_max):
    vectors = sample_directions()[:50]
    full = testing.spherical_harmonics(vectors, L_MAX)
    part = testing.spherical_harmonics(vectors, l_max)
    np.testing.assert_array_equal(part, full[:, : (l_max + 1) ** 2])


def test_sign_convention():
    c = np.sqrt(3.0 / (4.0 * np.pi))
    vectors = np.array([[2.0, 0, 0], [0, 3.0, 0], [0, 0, 0.5]])
    y = testing.spherical_harmonics(vectors, 1)
    np.testing.assert_allclose(y[:, 1:], np.diag([c, c, c])[[2, 0, 1]], atol=1e-15)
    # index 1: m = -1 ∝ +y; index 2: m = 0 ∝ z; index 3: m = +1 ∝ +x
    assert y[1, 1] > 0 and y[2, 2] > 0 and y[0, 3] > 0


def test_origin():
    y, g = testing.spherical_harmonics(np.zeros((1, 3)), 3, gradients=True)
    assert y[0, 0] == pytest.approx(0.5 / np.sqrt(np.pi), rel=1e-15)
    assert np.all(y[0, 1:] == 0)
    assert np.all(g == 0)


def test_gradients_against_finite_differences():
    # central differences with step h = 1e-6 (relative to |r| ~ 1): truncation ~ h²·|∂³Y|
    # (≲ 1e-9 at l = 20) plus rounding ~ 1e-16/h; tolerance 1e-7 absolute, scaled by 1/|r|.
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(30, 3))
    vectors = np.concatenate([vectors, [[0, 0, 1.3], [0, -0.8, 0], [1e-4, 0, -1], [0.5, 0, 0]]])
    values, gradients = testing.spherical_harmonics(vectors, L_MAX, gradients=True)
    n_lm = (L_MAX + 1) ** 2
    assert gradients.shape == (len(vectors), 3, n_lm)
    np.testing.assert_array_equal(values, testing.spherical_harmonics(vectors, L_MAX))
    h = 1e-6
    norms = np.linalg.norm(vectors, axis=1)
    for alpha in range(3):
        step = np.zeros(3)
        step[alpha] = h
        plus = testing.spherical_harmonics(vectors + step, L_MAX)
        minus = testing.spherical_harmonics(vectors - step, L_MAX)
        fd = (plus - minus) / (2 * h)
        error = np.abs(fd - gradients[:, alpha, :]) * norms[:, None]
        assert error.max() < 1e-7, error.max()
    # tangent to the sphere, and scaling as 1/|r|
    radial = np.einsum("ia,ial->il", vectors, gradients)
    assert np.abs(radial).max() < 1e-12
    _, scaled = testing.spherical_harmonics(3.0 * vectors, L_MAX, gradients=True)
    np.testing.assert_allclose(3.0 * scaled, gradients, rtol=1e-12, atol=1e-13)


def test_addition_theorem():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(20, 3))
    b = rng.normal(size=(20, 3))
    ya = testing.spherical_harmonics(a, L_MAX)
    yb = testing.spherical_harmonics(b, L_MAX)
    cos = np.einsum("ia,ia->i", a, b) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    for l in range(L_MAX + 1):
        block = slice(l * l, (l + 1) * (l + 1))
        total = np.sum(ya[:, block] * yb[:, block], axis=1)
        expected = (2 * l + 1) / (4 * np.pi) * scipy.special.eval_legendre(l, cos)
        np.testing.assert_allclose(total, expected, rtol=0, atol=1e-12)


def test_threads_do_not_change_results():
    rng = np.random.default_rng(11)
    vectors = rng.normal(size=(2000, 3))
    one = testing.spherical_harmonics(vectors, 8, gradients=True, n_threads=1)
    two = testing.spherical_harmonics(vectors, 8, gradients=True, n_threads=2)
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1], two[1])


def test_invalid_input():
    with pytest.raises(_lode_rs.InvalidParameterError):
        testing.spherical_harmonics(np.ones((2, 3)), 21)
    with pytest.raises(_lode_rs.InvalidInputError):
        testing.spherical_harmonics(np.ones((2, 2)), 2)
    with pytest.raises(_lode_rs.InvalidInputError):
        testing.spherical_harmonics(np.array([[np.nan, 0.0, 1.0]]), 2)
    with pytest.raises(ValueError):
        testing.spherical_harmonics(np.ones((2, 3)), 25, gradients=True)
