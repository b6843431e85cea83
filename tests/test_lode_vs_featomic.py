"""Cross-check against featomic 0.6 (an independent implementation with the same conventions).

At a converged k_cutoff featomic's LODE coefficients equal ours to its spline accuracy (1e-8):
we require 1e-6 of the coefficient norm. Skipped when featomic is not installed
(``pip install featomic``); CI installs it.
"""

from __future__ import annotations

import numpy as np
import pytest

import lode_rs

featomic = pytest.importorskip("featomic")


def featomic_coefficients(frames, species, n_max, l_max, cutoff, smearing, exponent, k_cutoff):
    from featomic.basis import Gto, TensorProduct
    from featomic.density import SmearedPowerLaw

    calc = featomic.LodeSphericalExpansion(
        density=SmearedPowerLaw(smearing=smearing, exponent=exponent),
        basis=TensorProduct(max_angular=l_max, radial=Gto(max_radial=n_max - 1, radius=cutoff)),
        k_cutoff=k_cutoff,
    )
    tensor = calc.compute(frames)
    offsets = np.cumsum([0] + [len(f) for f in frames])
    out = np.zeros((offsets[-1], len(species), n_max, (l_max + 1) ** 2))
    for key, block in tensor.items():
        l = key["o3_lambda"]
        a = species.index(key["neighbor_type"])
        samples = block.samples.values
        rows = offsets[samples[:, 0]] + samples[:, 1]
        out[rows, a, :, l * l : (l + 1) ** 2] = np.transpose(block.values, (0, 2, 1))
    return out


@pytest.mark.parametrize("exponent", [1, 3])
def test_periodic_lode_equals_featomic(exponent):
    frames = lode_rs.datasets.random_ionic_gas(2, n_atoms=16, box_range=(9.0, 11.0), seed=3)
    kw = dict(n_max=5, l_max=3, cutoff=3.0, smearing=1.0)
    ours = lode_rs.LodeExpansion(**kw, exponent=exponent, species=[11, 17], accuracy=1e-10)
    values = ours.compute(frames).values
    reference = featomic_coefficients(frames, [11, 17], exponent=exponent, k_cutoff=8.0, **kw)
    assert np.abs(values - reference).max() < 1e-6 * np.abs(reference).max()
