"""The formulas of docs/math.md, checked against independent references and the built package.

Each test rebuilds a formula of the page from its statement (scipy quadrature, mpmath) and holds
lode_rs to it. Tolerances are set just above the references' own accuracy, far below the size of
any factor or sign error:

- ĝ_p (§2): mpmath's incomplete Γ at 30 digits is exact; the written-out closed forms lose up to
  ~5e-13 to cancellation at large x (p = 5, 6), hence 2e-12 relative.
- I_nl(k) (§3b) and the centre term C_n (§6): adaptive quadrature converged to ~1e-14 of the
  block's largest value; 1e-12 of it.
- multipole limit (§3a): exact for p = 1 once the Gaussian tails are negligible
  (erfc(d/√2σ) ≈ 1e-300 at d = 25 Å); the calculator is asked for 1e-12, we allow 1e-11.
"""

from __future__ import annotations

import functools

import ase
import mpmath
import numpy as np
import pytest
from scipy import integrate, optimize, special

import lode_rs
from lode_rs._lode_rs import testing as core

PI = np.pi
SIGMA = 0.8
mpmath.mp.dps = 30


def fourier_table(p: int, k: float, s: float = SIGMA) -> float:
    """The written-out ĝ_p(k) of the table in docs/math.md §2."""
    x = k * k * s * s / 2
    ek, erfc = np.exp(-x), special.erfc(np.sqrt(x))
    e1 = special.exp1(x)
    return {
        0: (4 * PI * s * s) ** 0.75 * ek,
        1: 4 * PI * ek / k**2,
        2: 2 * PI**2 * erfc / k,
        3: 2 * PI * e1,
        4: PI**1.5 * np.sqrt(2) / s * ek - PI**2 * k * erfc,
        5: 2 * PI / (3 * s * s) * ek - PI * k * k / 3 * e1,
        6: PI**1.5 / 12 * (np.sqrt(2) * (1 / s**3 - k * k / s) * ek + np.sqrt(PI) * k**3 * erfc),
    }[p]


def fourier_general(p: int, k: float, s: float = SIGMA) -> float:
    """ĝ_p(k) = π^{3/2} (2/k)^{3−p} Γ((3−p)/2, x)/Γ(p/2) (p ≥ 1), (4πσ²)^{3/4} e^{−x} (p = 0)."""
    x = mpmath.mpf(k) ** 2 * s * s / 2
    if p == 0:
        return float((4 * mpmath.pi * s * s) ** 0.75 * mpmath.exp(-x))
    order = mpmath.mpf(3 - p) / 2
    return float(
        mpmath.pi**1.5
        * (2 / mpmath.mpf(k)) ** (3 - p)
        * mpmath.gammainc(order, x)
        / mpmath.gamma(mpmath.mpf(p) / 2)
    )


def potential(p: int, r, s: float = SIGMA):
    """g_p(r) = γ(p/2, r²/2σ²)/(Γ(p/2) r^p), or the Gaussian (πσ²)^{-3/4} e^{-r²/2σ²} for p = 0."""
    r = mpmath.mpf(r)
    if p == 0:
        return (mpmath.pi * s * s) ** -0.75 * mpmath.exp(-r * r / (2 * s * s))
    if r == 0:
        return (2 * s * s) ** (-mpmath.mpf(p) / 2) / mpmath.gamma(mpmath.mpf(p) / 2 + 1)
    half = mpmath.mpf(p) / 2
    return mpmath.gammainc(half, 0, r * r / (2 * s * s)) / (mpmath.gamma(half) * r**p)


@pytest.mark.parametrize("p", range(7))
def test_fourier_transforms(p):
    """§2: the table, the general incomplete-Γ form and lode_rs agree for every p."""
    for k in [0.05, 0.3, 1.0, 2.5, 6.0]:
        reference = fourier_general(p, k)
        assert abs(fourier_table(p, k) - reference) < 2e-12 * abs(reference), k
        computed = core.power_law_fourier(p, SIGMA, np.array([k]))[0]
        assert abs(computed - reference) < 1e-14 * abs(reference), k


@pytest.mark.parametrize("p", [0, 4, 5, 6])
def test_fourier_at_zero(p):
    """§2: ĝ_p(0) of the table equals 4π ∫ r² g_p dr (mpmath quadrature) and lode_rs."""
    table = {
        0: (4 * PI * SIGMA**2) ** 0.75,
        4: np.sqrt(2) * PI**1.5 / SIGMA,
        5: 2 * PI / (3 * SIGMA**2),
        6: np.sqrt(2) * PI**1.5 / (12 * SIGMA**3),
    }[p]
    edges = [0, 5 * SIGMA, 20 * SIGMA, mpmath.inf]
    integral = float(4 * mpmath.pi * mpmath.quad(lambda r: r * r * potential(p, r), edges))
    assert abs(table - integral) < 1e-14 * integral
    computed = core.power_law_fourier(p, SIGMA, np.array([0.0]))[0]
    assert abs(computed - integral) < 1e-14 * integral


@functools.lru_cache
def gto(n_max: int, cutoff: float):
    """σ_n, N_n and S^{-1/2} of §1, with the overlap by quadrature."""
    n = np.arange(n_max)
    sigma = cutoff * np.maximum(np.sqrt(n), 1) / n_max
    norm = np.sqrt(2 / (sigma ** (2 * n + 3) * special.gamma(n + 1.5)))

    def raw(m, r):
        return norm[m] * r**m * np.exp(-(r**2) / (2 * sigma[m] ** 2))

    overlap = np.array(
        [
            [
                integrate.quad(
                    lambda r, a, b: r * r * raw(a, r) * raw(b, r), 0, 60, (a, b), limit=200
                )[0]
                for b in range(n_max)
            ]
            for a in range(n_max)
        ]
    )
    values, vectors = np.linalg.eigh(overlap)
    return sigma, norm, vectors @ np.diag(values**-0.5) @ vectors.T, raw


def test_kspace_radial_integral():
    """§3b: the closed form of I_nl(k) against ∫ r² R_n j_l(kr) dr, and lode_rs's Ĩ_nl."""
    n_max, l_max, cutoff = 4, 3, 3.0
    sigma, norm, inverse_sqrt, raw = gto(n_max, cutoff)
    ks = np.array([0.0, 0.2, 1.0, 2.5, 5.0])
    closed = np.zeros((len(ks), n_max, l_max + 1))
    numeric = np.zeros_like(closed)
    for i, k in enumerate(ks):
        for n in range(n_max):
            for ell in range(l_max + 1):
                a, b = (n + ell + 3) / 2, ell + 1.5
                closed[i, n, ell] = (
                    norm[n]
                    * np.sqrt(PI)
                    * 2 ** ((n - ell - 1) / 2)
                    * sigma[n] ** (n + ell + 3)
                    * k**ell
                    * special.gamma(a)
                    / special.gamma(b)
                    * special.hyp1f1(a, b, -(k**2) * sigma[n] ** 2 / 2)
                )
                numeric[i, n, ell] = integrate.quad(
                    lambda r, n, ell, k: r * r * raw(n, r) * special.spherical_jn(ell, k * r),
                    0,
                    40,
                    (n, ell, k),
                    limit=400,
                    epsabs=1e-14,
                    epsrel=1e-13,
                )[0]
    scale = np.abs(numeric).max()
    assert np.abs(closed - numeric).max() < 1e-12 * scale
    computed, _ = core.kspace_radial_integral(n_max, l_max, cutoff, ks)
    expected = np.einsum("nm,kml->knl", inverse_sqrt, numeric)
    assert np.abs(computed - expected).max() < 1e-12 * scale


def potential_float(p: int, r: float, s: float) -> float:
    """g_p(r) in double precision through scipy's regularised P(a, x) (r > 0)."""
    if p == 0:
        return (PI * s * s) ** -0.75 * np.exp(-r * r / (2 * s * s))
    return special.gammainc(p / 2, r * r / (2 * s * s)) / r**p


@pytest.mark.parametrize("p", range(7))
def test_centre_term(p):
    """§6: a lone atom has c_n00 = w_c C_n, C_n = √(4π) ∫ r² R̃_n g_p dr, and nothing at l > 0."""
    n_max, l_max, cutoff, smearing = 4, 2, 3.0, 0.7
    _, _, inverse_sqrt, raw = gto(n_max, cutoff)
    expected = (
        np.sqrt(4 * PI)
        * inverse_sqrt
        @ np.array(
            [
                integrate.quad(
                    lambda r, n: r * r * raw(n, r) * potential_float(p, r, smearing),
                    0,
                    60,
                    (n,),
                    limit=400,
                )[0]
                for n in range(n_max)
            ]
        )
    )
    atom = ase.Atoms("H", positions=[[0.0, 0.0, 0.0]])
    for weight in [1.0, 0.25]:
        lode = lode_rs.LodeExpansion(
            cutoff=cutoff,
            smearing=smearing,
            n_max=n_max,
            l_max=l_max,
            exponent=p,
            species=[1],
            center_weight=weight,
            accuracy=1e-6,
        )
        values = lode.compute(atom).values[0, 0]
        assert np.abs(values[:, 0] - weight * expected).max() < 1e-12 * np.abs(expected).max()
        assert np.all(values[:, 1:] == 0.0)


def test_multipole_limit():
    """§3a: far from the basis, p = 1 gives f_nl(d) = 4π/(2l+1) d^{−(l+1)} M_n(l+2)."""
    n_max, l_max, cutoff, d = 4, 4, 3.0, 25.0
    _, _, inverse_sqrt, raw = gto(n_max, cutoff)
    direction = np.array([0.3, -0.5, 0.8]) / np.linalg.norm([0.3, -0.5, 0.8])
    pair = ase.Atoms("HO", positions=[[0.0, 0.0, 0.0], d * direction])
    lode = lode_rs.LodeExpansion(
        cutoff=cutoff, smearing=0.7, n_max=n_max, l_max=l_max, species=[1, 8], accuracy=1e-12
    )
    values = lode.compute(pair).values[0, 1]  # centre H, channel O
    harmonics = core.spherical_harmonics(direction[None, :], l_max)[0]
    for ell in range(l_max + 1):
        moments = inverse_sqrt @ np.array(
            [
                integrate.quad(lambda r, n, q: r**q * raw(n, r), 0, 60, (n, ell + 2), limit=200)[0]
                for n in range(n_max)
            ]
        )
        block = slice(ell * ell, (ell + 1) ** 2)
        expected = np.outer(4 * PI / (2 * ell + 1) * d ** -(ell + 1) * moments, harmonics[block])
        assert np.abs(values[:, block] - expected).max() < 1e-11, ell


@pytest.mark.parametrize("p", range(1, 7))
def test_ewald_k0_component(p):
    """§3c: φ̂_SR(0) = 4π ∫ r² (g_p^σ − g_p^η) dr in closed form (p ≤ 3) or ĝ^σ(0) − ĝ^η(0)."""
    sigma, eta = 0.6, 1.7
    closed = {
        1: 2 * PI * (eta**2 - sigma**2),
        2: 2**1.5 * PI**1.5 * (eta - sigma),
        3: 4 * PI * np.log(eta / sigma),
    }
    if p in closed:
        value = closed[p]
    else:
        zero = np.array([0.0])
        value = core.power_law_fourier(p, sigma, zero)[0] - core.power_law_fourier(p, eta, zero)[0]
    edges = [0, sigma, 5 * eta, 30 * eta, mpmath.inf]
    integral = float(
        4
        * mpmath.pi
        * mpmath.quad(lambda r: r * r * (potential(p, r, sigma) - potential(p, r, eta)), edges)
    )
    assert abs(value - integral) < 1e-13 * integral


@pytest.mark.parametrize("p, accuracy", [(1, 1e-6), (1, 1e-10), (3, 1e-6), (6, 1e-8)])
def test_k_cutoff_is_the_tail_bound(p, accuracy):
    """§7: the plain route's k_c is the root of (2/π) ∫_{k_c}^∞ k² |ĝ| max|Ĩ| dk = accuracy, to
    one step of the code's integration grid (12/σ over 4000 steps)."""
    n_max, l_max, cutoff, smearing = 4, 3, 3.0, 1.0
    lode = lode_rs.LodeExpansion(
        cutoff=cutoff,
        smearing=smearing,
        n_max=n_max,
        l_max=l_max,
        exponent=p,
        species=[1],
        method="reciprocal",
        accuracy=accuracy,
    )
    k_cutoff = lode.reciprocal_k_cutoff  # the plain route's k_c, chosen for the accuracy

    def tail(k_c):
        # composite 10-point Gauss–Legendre on 200 panels of [k_c, 12/σ]: the integrand is smooth
        nodes, weights = np.polynomial.legendre.leggauss(10)
        edges = np.linspace(k_c, 12 / smearing, 201)
        half = 0.5 * np.diff(edges)[:, None]
        k = (edges[:-1, None] + half * (nodes + 1)).ravel()
        radial, _ = core.kspace_radial_integral(n_max, l_max, cutoff, k)
        g = core.power_law_fourier(p, smearing, k)
        envelope = 2 / PI * k * k * np.abs(g) * np.abs(radial).max(axis=(1, 2))
        return np.sum((half * weights).ravel() * envelope)

    root = optimize.brentq(lambda k: tail(k) - accuracy, 0.5, 11.9 / smearing)
    assert abs(k_cutoff - root) < 12 / smearing / 4000


@pytest.mark.parametrize("length", [4.0, 7.0])
def test_jellium_energy(length):
    """§10: one unit charge per cubic cell in its neutralising background has
    E = −(α/2) k_e/L, α = 2.837297479 (the Madelung constant of a simple cubic lattice of charges
    in a uniform background); the background term makes this finite and width-independent."""
    atoms = ase.Atoms("Na", positions=[[0.3, 0.1, 0.2]], cell=np.eye(3) * length, pbc=True)
    energy = lode_rs.electrostatic_energy(atoms, charges=[np.array([1.0])], accuracy=1e-12)[0]
    assert abs(energy * length / 14.399645 + 2.837297479 / 2) < 1e-9
