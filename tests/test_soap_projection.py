"""An independent route to SOAP coefficients: direct quadrature of the smeared density.

c^a_nlm(i) = ∫ d³r R̃_n(r) Y_lm(r̂) ρ_a(r_i + r), evaluated on a product grid (Gauss–Legendre in r
and cos θ, uniform in φ) with the GTO basis, its Löwdin orthonormalisation and real spherical
harmonics all rebuilt here from docs/math.md and scipy — nothing shared with the Rust code.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import gamma

import lode_rs
from helpers import random_cluster, real_harmonics


def orthonormal_gtos(n_max, cutoff, r, weights):
    """R̃_n(r) on the grid r, orthonormalised with the overlap computed by the same quadrature."""
    n = np.arange(n_max)
    sigma = cutoff * np.maximum(np.sqrt(n), 1) / n_max
    norm = np.sqrt(2 / (sigma ** (2 * n + 3) * gamma(n + 1.5)))
    raw = norm[:, None] * r[None, :] ** n[:, None] * np.exp(-(r**2) / (2 * sigma[:, None] ** 2))
    overlap = (raw * r**2 * weights) @ raw.T
    eigval, eigvec = np.linalg.eigh(overlap)
    inv_sqrt = eigvec @ np.diag(eigval**-0.5) @ eigvec.T
    return inv_sqrt @ raw


def cosine_cutoff(d, cutoff, width):
    x = np.clip((d - cutoff + width) / width, 0, 1)
    return np.where(d >= cutoff, 0.0, 0.5 * (1 + np.cos(np.pi * x)))


@pytest.mark.parametrize("center", [0, 3])
def test_coefficients_equal_direct_projection(center):
    cutoff, width, sigma, n_max, l_max = 3.0, 0.5, 0.5, 4, 4
    atoms = random_cluster(11, n_atoms=7, species=(1, 8), radius=2.2)
    soap = lode_rs.SoapExpansion(
        cutoff=cutoff,
        cutoff_width=width,
        smearing=sigma,
        n_max=n_max,
        l_max=l_max,
        species=[1, 8],
        center_weight=0.7,
    )
    computed = soap.compute(atoms).values[center]

    r_max = 9.0  # density and basis are below 1e-15 beyond
    x, w = np.polynomial.legendre.leggauss(160)
    r, wr = 0.5 * r_max * (x + 1), 0.5 * r_max * w
    u, wu = np.polynomial.legendre.leggauss(90)
    n_phi = 180
    phi = 2 * np.pi * np.arange(n_phi) / n_phi
    wphi = np.full(n_phi, 2 * np.pi / n_phi)
    theta = np.arccos(u)

    radial = orthonormal_gtos(n_max, cutoff, r, wr)  # (n, r)
    ylm = real_harmonics(l_max, theta[:, None], phi[None, :])  # (lm, u, phi)
    sin_t = np.sqrt(1 - u**2)
    directions = np.stack(
        [
            sin_t[:, None] * np.cos(phi),
            sin_t[:, None] * np.sin(phi),
            np.broadcast_to(u[:, None], (u.size, n_phi)),
        ],
        axis=-1,
    )  # (u, phi, 3)
    points = r[:, None, None, None] * directions[None]  # (r, u, phi, 3)

    rel = atoms.positions - atoms.positions[center]
    dist = np.linalg.norm(rel, axis=1)
    weight = cosine_cutoff(dist, cutoff, width)
    weight[center] = 0.7
    norm = (np.pi * sigma**2) ** -0.75
    expected = np.zeros_like(computed)
    for a, z in enumerate([1, 8]):
        density = np.zeros(points.shape[:3])
        for j in np.flatnonzero((atoms.numbers == z) & (weight > 0)):
            d2 = np.sum((points - rel[j]) ** 2, axis=-1)
            density += weight[j] * norm * np.exp(-d2 / (2 * sigma**2))
        # ∫ r² dr dΩ: radial weights × r², angular weights
        angular = np.einsum("kup,rup,u,p->rk", ylm, density, wu, wphi)  # (r, lm)
        expected[a] = np.einsum("nr,r,rk->nk", radial, wr * r**2, angular)
    scale = np.max(np.abs(expected))
    np.testing.assert_allclose(computed, expected, rtol=0, atol=1e-8 * scale)
