"""Force design rows of a SOAP + LODE potential, built block by block on each block's own
Jacobian samples (a LODE block's every (centre, atom) pair as matrix products per structure,
a SOAP block's neighbour pairs in chunks), equal the contraction of every sample of the
blocks' union (``recipe.compute(..., merge=True)``, one ``Basis.contract`` and ``np.add.at``:
the original, independent path; its rows are finite-difference checked in
``test_potential.py``), whatever the batch size, for the normalised and raw kernels and ridge,
periodic and finite structures. Tolerance 1e-12 of the largest row entry: the two paths sum
the same products in another order (~1e-16 relative); a missing term or a wrong sign of the
normalisation term is of the order of the rows themselves.
"""

from __future__ import annotations

import numpy as np
import pytest

import lode_rs
from lode_rs import recipe
from lode_rs.models import PolynomialKernel, Ridge, SparseGPR
from lode_rs.potential_fit import build_design

SPECIES = [11, 17]


def frames(periodic: bool):
    out = lode_rs.datasets.random_ionic_gas(4, n_atoms=12, box_range=(9.0, 11.0), seed=8)
    out[1] = lode_rs.datasets.random_ionic_gas(1, n_atoms=6, box_range=(8.0, 8.0), seed=9)[0]
    if not periodic:
        for atoms in out:
            atoms.pbc = False
    return out


def union_rows(blocks, basis, frames) -> np.ndarray:
    n_atoms = np.array([len(a) for a in frames])
    offset = np.concatenate([[0], np.cumsum(n_atoms)])
    batch = recipe.compute(blocks, frames, ["positions"])
    jac, samples = batch.positions
    rows = np.repeat(samples[:, 0], 3)
    d = basis.contract(jac.reshape(-1, jac.shape[-1]), rows, batch.values, batch.species)
    out = np.zeros((3 * offset[-1], d.shape[1]))
    target = 3 * (offset[samples[:, 1]] + samples[:, 2])
    np.add.at(out, (target[:, None] + np.arange(3)).reshape(-1), -d)
    return out


@pytest.mark.parametrize("periodic", [True, False])
@pytest.mark.parametrize(
    "model",
    [
        SparseGPR(kernel=PolynomialKernel(zeta=2), n_sparse=20),
        SparseGPR(kernel=PolynomialKernel(zeta=3, normalize=False), n_sparse=20),
        Ridge(),
    ],
    ids=["normalised", "raw", "ridge"],
)
def test_block_by_block_rows_equal_the_union_contraction(periodic, model):
    train = frames(periodic)
    soap = lode_rs.SoapExpansion(
        cutoff=3.5, smearing=0.5, n_max=3, l_max=2, species=SPECIES, n_threads=1
    )
    lode = lode_rs.LodeExpansion(
        cutoff=3.0, smearing=1.0, n_max=3, l_max=1, species=SPECIES, n_threads=1
    )
    blocks = [lode_rs.PowerSpectrum(soap), lode_rs.potential.RadialSpectrum(lode)]
    pot = lode_rs.Potential(blocks, model, weights=[1.0, 0.6], regularizers={"energy": 1e-3})
    pot.fit(train, energy=np.arange(len(train), dtype=float))
    expected = union_rows(pot.blocks, pot.basis_, train)
    assert np.abs(expected).max() > 1e-3
    targets = {"energy": None, "forces": [np.zeros((len(a), 3)) for a in train], "stress": None}
    values = recipe.compute(pot.blocks, train)
    for batch_size in (1, 3):
        design = build_design(
            pot.blocks, pot.basis_, train, values, targets, np.ones(len(train)), batch_size
        )
        np.testing.assert_allclose(
            design.rows["forces"].a, expected, rtol=0, atol=1e-12 * np.abs(expected).max()
        )
