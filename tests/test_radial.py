"""Radial basis and radial integrals against independent quadrature and mpmath.

Tolerances:
- orthonormality of R̃_n: 1e-12 absolute for n_max <= 8 (the double-precision limit is about
  eps * cond(S) / 2, i.e. 4e-13 at n_max = 8, see src/radial/gto.rs);
- radial integrals: 1e-10 of the largest |value| in the (n_max, l_max + 1) block at the same
  distance / wave number. Individual entries cross zero, and far from the basis every entry is
  tiny, so an entry-wise relative error is meaningless there; the block maximum is the scale at
  which the features are used. The quadrature itself is converged to ~1e-13 of that scale.
"""

import mpmath
import numpy as np
import pytest
from numpy.polynomial.legendre import leggauss
from scipy import integrate, special

from lode_rs import InvalidParameterError
from lode_rs._lode_rs import testing as core

BLOCK_TOLERANCE = 1e-10


def radial_functions(basis, r):
    """R̃_n(r) for all n, shape (n_max, len(r)), from the basis' own parameters."""
    sigmas = basis["sigmas"]
    n = np.arange(len(sigmas))[:, None]
    raw = basis["normalisations"][:, None] * r[None, :] ** n
    raw = raw * np.exp(-0.5 * r[None, :] ** 2 / sigmas[:, None] ** 2)
    return basis["orthonormaliser"] @ raw


def composite_gauss(a, b, panels, order=32):
    x, w = leggauss(order)
    edges = np.linspace(a, b, panels + 1)
    half = 0.5 * np.diff(edges)
    mid = 0.5 * (edges[1:] + edges[:-1])
    nodes = (mid[:, None] + half[:, None] * x[None, :]).ravel()
    weights = (half[:, None] * w[None, :]).ravel()
    return nodes, weights


def block_error(values, reference):
    return np.max(np.abs(values - reference)) / np.max(np.abs(reference))


# ---------------------------------------------------------------------------------------------
# basis


@pytest.mark.parametrize("n_max", [1, 2, 4, 6, 8, 10, 12])
@pytest.mark.parametrize("cutoff", [0.7, 4.0, 10.0])
def test_orthonormal(n_max, cutoff):
    basis = core.gto_basis(n_max, cutoff)
    r, w = composite_gauss(0.0, 12.0 * cutoff, 200)
    functions = radial_functions(basis, r)
    gram = (functions * (w * r**2)[None, :]) @ functions.T
    # 1e-12 where double precision allows it (n_max <= 6, cond(S) <= 1e3); beyond, the
    # floating-point floor of the Löwdin orthonormaliser, about eps * cond(S)
    tolerance = max(1e-12, 2 * np.finfo(float).eps * basis["condition_number"])
    assert np.max(np.abs(gram - np.eye(n_max))) < tolerance


def test_overlap_and_normalisation_by_quad():
    basis = core.gto_basis(5, 5.0)
    sigmas, norms = basis["sigmas"], basis["normalisations"]
    assert np.allclose(sigmas, 5.0 * np.maximum(np.sqrt(np.arange(5)), 1) / 5, rtol=1e-15)

    def gto(n, r):
        return norms[n] * r**n * np.exp(-0.5 * r**2 / sigmas[n] ** 2)

    for n in range(5):
        for m in range(5):
            value, _ = integrate.quad(
                lambda r, n=n, m=m: r**2 * gto(n, r) * gto(m, r), 0, np.inf, epsabs=1e-15
            )
            assert abs(value - basis["overlap"][n, m]) < 1e-13
    t = basis["orthonormaliser"]
    assert np.allclose(t, t.T, rtol=0, atol=0)
    assert np.max(np.abs(t @ basis["overlap"] @ t - np.eye(5))) < 1e-13


def test_conditioning_limit():
    assert core.gto_basis(16, 3.0)["condition_number"] < 1e11
    with pytest.raises(InvalidParameterError, match="condition"):
        core.gto_basis(17, 3.0)


# ---------------------------------------------------------------------------------------------
# ₁F₁


def kummer_cases():
    rng = np.random.default_rng(7)
    cases = []
    for _ in range(60):
        n, ell = rng.integers(0, 21, size=2)
        cases.append(((n + ell + 3) / 2, ell + 1.5))
    cases += [(0.5, 1.5), (1.0, 2.0), (21.5, 21.5), (21.5, 1.5), (1.5, 21.5), (3.0, 7.5)]
    return cases


Z_VALUES = np.concatenate([-np.logspace(-3, 4, 15), [0.0], np.logspace(-3, 4, 15)])


@pytest.mark.parametrize("a, b", kummer_cases())
def test_hyp1f1_against_mpmath(a, b):
    """z >= 0: relative error (all series terms positive). z < 0: the Kummer form
    e^{-x} M(b-a, b, x) cancels when b - a < 0, so the error is measured against its absolute
    sum e^{-x} M(|b-a|, b, x) (>= |value|); 1e-300 absorbs underflow of e^{-x} for x > 700."""
    mpmath.mp.dps = 40
    scaled = core.hyp1f1(a, b, Z_VALUES, scaled=True)
    for z, value in zip(Z_VALUES, scaled, strict=True):
        exact = mpmath.hyp1f1(a, b, z) * mpmath.exp(-max(z, 0))
        if z >= 0:
            scale = abs(exact)
        else:
            scale = max(abs(exact), mpmath.exp(z) * mpmath.hyp1f1(abs(b - a), b, -z))
        assert abs(value - exact) <= 2e-14 * scale + 1e-300, (a, b, z)
    positive = Z_VALUES[(Z_VALUES >= 0) & (Z_VALUES < 600)]
    expected = [float(mpmath.hyp1f1(a, b, z)) for z in positive]
    assert np.allclose(core.hyp1f1(a, b, positive), expected, rtol=2e-14, atol=0)


def test_hyp1f1_against_scipy_moderate():
    z = np.linspace(-30, 30, 61)
    for a, b in [(0.5, 1.5), (2.0, 3.5), (4.5, 1.5), (7.0, 5.5)]:
        assert np.allclose(core.hyp1f1(a, b, z), special.hyp1f1(a, b, z), rtol=1e-12, atol=0)


# ---------------------------------------------------------------------------------------------
# SOAP radial integral


def soap_by_quadrature(basis, l_max, sigma, d):
    """4π (πσ²)^{-3/4} ∫ r² R̃_n(r) e^{-(r-d)²/2σ²} [e^{-rd/σ²} i_l(rd/σ²)] dr, with the scaled
    modified spherical Bessel function sqrt(π/2x) ive(l + 1/2, x): no overflow for any d/σ."""
    ls = np.arange(l_max + 1)
    prefactor = 4 * np.pi * (np.pi * sigma**2) ** -0.75

    def integrand(r):
        x = r * d / sigma**2
        if x == 0.0:
            bessel = (ls == 0).astype(float)
        else:
            bessel = np.sqrt(np.pi / (2 * x)) * special.ive(ls + 0.5, x)
        radial = radial_functions(basis, np.array([r]))[:, 0]
        gauss = np.exp(-0.5 * (r - d) ** 2 / sigma**2)
        return prefactor * r**2 * gauss * radial[:, None] * bessel[None, :]

    lower, upper = max(0.0, d - 14 * sigma), d + 14 * sigma
    points = np.linspace(lower, upper, 15)
    total = 0
    for a, b in zip(points[:-1], points[1:], strict=True):
        value, _ = integrate.quad_vec(integrand, a, b, epsabs=0, epsrel=1e-14, limit=400)
        total = total + value
    return total


SOAP_CASES = [
    # n_max, l_max, cutoff, sigma
    (6, 4, 6.0, 0.5),
    (6, 6, 3.0, 0.3),
    (8, 3, 5.0, 1.0),
    (6, 8, 10.0, 0.1),
    (4, 10, 10.0, 2.0),
]


@pytest.mark.parametrize("n_max, l_max, cutoff, sigma", SOAP_CASES)
def test_soap_against_quadrature(n_max, l_max, cutoff, sigma):
    basis = core.gto_basis(n_max, cutoff)
    distances = np.array([0.0, 1e-3, 0.5 * sigma, 1.3, 0.5 * cutoff, cutoff, 1.5 * cutoff])
    distances = np.append(distances, 3 * cutoff)
    values, _ = core.soap_radial_integral(n_max, l_max, cutoff, sigma, distances)
    assert values.shape == (len(distances), n_max, l_max + 1)
    for i, d in enumerate(distances):
        reference = soap_by_quadrature(basis, l_max, sigma, d)
        assert block_error(values[i], reference) < BLOCK_TOLERANCE, d
    # at d = 0 only l = 0 survives
    assert np.all(values[0, :, 1:] == 0.0)


@pytest.mark.parametrize("n_max, l_max, cutoff, sigma", SOAP_CASES)
def test_soap_gradients_by_finite_differences(n_max, l_max, cutoff, sigma):
    distances = np.array([0.3 * sigma, 0.9, 0.5 * cutoff, cutoff, 2 * cutoff])
    h = 1e-4 * sigma
    values, gradients = core.soap_radial_integral(n_max, l_max, cutoff, sigma, distances)
    plus, _ = core.soap_radial_integral(n_max, l_max, cutoff, sigma, distances + h)
    minus, _ = core.soap_radial_integral(n_max, l_max, cutoff, sigma, distances - h)
    fd = (plus - minus) / (2 * h)
    for i in range(len(distances)):
        # central differences: error ~ h² f''' ~ (1e-4)² max|f| / σ, plus rounding eps max|f| / h
        scale = np.max(np.abs(values[i])) / sigma
        assert np.max(np.abs(fd[i] - gradients[i])) < 1e-7 * scale


def test_soap_far_away_is_finite():
    distances = np.array([30.0, 100.0, 1e3])
    values, gradients = core.soap_radial_integral(8, 12, 10.0, 0.1, distances)
    assert np.all(np.isfinite(values)) and np.all(np.isfinite(gradients))


# ---------------------------------------------------------------------------------------------
# splines


@pytest.mark.parametrize("accuracy", [1e-6, 1e-8, 1e-10])
def test_splined_soap(accuracy):
    n_max, l_max, cutoff, sigma = 6, 4, 6.0, 0.5
    rng = np.random.default_rng(11)
    distances = np.concatenate([rng.uniform(0, cutoff, 2000), [0.0, cutoff]])
    exact, exact_gradients = core.soap_radial_integral(n_max, l_max, cutoff, sigma, distances)
    splined, splined_gradients = core.soap_radial_integral(
        n_max, l_max, cutoff, sigma, distances, splined=True, accuracy=accuracy
    )
    assert np.max(np.abs(splined - exact)) <= accuracy
    # Hermite gradients lose one order of h: measured ~1e2 × the value accuracy
    assert np.max(np.abs(splined_gradients - exact_gradients)) <= 1e3 * accuracy
    beyond, beyond_gradients = core.soap_radial_integral(
        n_max, l_max, cutoff, sigma, np.array([cutoff * 1.01, 2 * cutoff]), splined=True
    )
    assert np.all(beyond == 0.0) and np.all(beyond_gradients == 0.0)


# ---------------------------------------------------------------------------------------------
# k-space radial integral


def kspace_by_quadrature(basis, l_max, k, cutoff):
    """∫ r² R̃_n(r) j_l(kr) dr on [0, 12 r_c], composite 32-point Gauss–Legendre on 600 panels
    (at least 10 points per oscillation of j_l for the k tested)."""
    r, w = composite_gauss(0.0, 12 * cutoff, 600)
    radial = radial_functions(basis, r)
    bessel = special.spherical_jn(np.arange(l_max + 1)[:, None], k * r[None, :])
    return (radial * (w * r**2)[None, :]) @ bessel.T


@pytest.mark.parametrize("n_max, l_max, cutoff", [(6, 6, 5.0), (8, 4, 3.0), (4, 10, 8.0)])
def test_kspace_against_quadrature(n_max, l_max, cutoff):
    basis = core.gto_basis(n_max, cutoff)
    ks = np.array([0.0, 0.05, 0.7, 2.0, 5.0, 9.0])
    values, gradients = core.kspace_radial_integral(n_max, l_max, cutoff, ks)
    for i, k in enumerate(ks):
        reference = kspace_by_quadrature(basis, l_max, k, cutoff)
        assert block_error(values[i], reference) < BLOCK_TOLERANCE, k
    h = 1e-5
    plus, _ = core.kspace_radial_integral(n_max, l_max, cutoff, ks[1:] + h)
    minus, _ = core.kspace_radial_integral(n_max, l_max, cutoff, ks[1:] - h)
    fd = (plus - minus) / (2 * h)
    for i in range(len(ks) - 1):
        scale = np.max(np.abs(values[i + 1])) * cutoff
        assert np.max(np.abs(fd[i] - gradients[i + 1])) < 1e-8 * scale


# ---------------------------------------------------------------------------------------------
# errors


@pytest.mark.parametrize(
    "call",
    [
        lambda: core.gto_basis(0, 5.0),
        lambda: core.gto_basis(4, 0.0),
        lambda: core.gto_basis(4, -2.0),
        lambda: core.gto_basis(4, float("nan")),
        lambda: core.soap_radial_integral(4, 3, 5.0, 0.0, np.ones(2)),
        lambda: core.soap_radial_integral(4, 3, 5.0, -0.5, np.ones(2)),
        lambda: core.soap_radial_integral(4, 21, 5.0, 0.5, np.ones(2)),
        lambda: core.soap_radial_integral(4, 3, 5.0, 0.5, np.ones(2), splined=True, accuracy=0.0),
        lambda: core.soap_radial_integral(4, 3, 5.0, 0.5, np.ones(2), splined=True, accuracy=1e-30),
        lambda: core.kspace_radial_integral(0, 3, 5.0, np.ones(2)),
        lambda: core.kspace_radial_integral(4, 25, 5.0, np.ones(2)),
    ],
)
def test_invalid_parameters(call):
    with pytest.raises(InvalidParameterError):
        call()
