"""LODE gradients through the Python API: positions of finite systems (the real-space route),
positions and strain of periodic ones on the reciprocal route, and the clear refusal of strain
for finite systems (the other periodic routes: ``test_lode_gradients_real_space.py``).

Jacobians are held against central finite differences of the values with the step and tolerance
of ``test_gradients`` (H = 1e-5 Å, 1e-7 of the largest value: the table is a C¹ cubic spline
near and an analytic multipole tail far, so the truncation error is ~1e-10 of the values while a
sign or factor error is of the order of the gradient itself).
"""

from __future__ import annotations

import ase
import numpy as np
import pytest

import lode_rs
from conftest import random_cluster
from test_gradients import check_jacobians, jacobian_transpose, random_cotangent, strained

HYPERS = dict(cutoff=3.0, smearing=1.0, n_max=3, l_max=2, center_weight=0.7)
SPECIES = [1, 6, 8]


def molecule():
    """A cluster and one far atom: its pairs lie on the multipole tail, the others on the spline."""
    atoms = random_cluster(4, n_atoms=5)
    far = ase.Atoms("H", positions=[atoms.positions.mean(axis=0) + [9.0, 11.5, -6.3]])
    return atoms + far


def charged(atoms):
    atoms = atoms.copy()
    rng = np.random.default_rng(7)
    atoms.set_initial_charges(rng.uniform(-1, 1, len(atoms)))
    return atoms


def lode(exponent, charges=False, **kw):
    channels = {"charges": True} if charges else {"species": SPECIES}
    return lode_rs.LodeExpansion(**HYPERS, exponent=exponent, **channels, **kw)


@pytest.mark.parametrize("exponent", [0, 1, 2, 3, 4, 5, 6])
@pytest.mark.parametrize("charges", [False, True])
def test_finite_jacobian_backward_sum_rule_threads(exponent, charges):
    """Jacobian = central differences; backward = Jᵀ·v to 1e-12 relative; Σ_atoms = 0 for every
    row and for the backward forces; 1 and 2 threads bitwise identical."""
    atoms = charged(molecule()) if charges else molecule()
    calc = lode(exponent, charges)
    result = check_jacobians(lambda f, g: calc.compute(f, gradients=g), atoms, strain=False)
    positions = result.gradient("positions")
    n = len(atoms)
    assert len(positions.samples) == n * n  # dense: every atom moves every centre
    dense = positions.values.reshape(n, n, 3, -1)
    scale = np.max(np.abs(dense))
    np.testing.assert_allclose(dense.sum(axis=1), 0, atol=1e-12 * scale)

    v = random_cotangent(result.values.shape, seed=exponent)
    out = calc.backward(atoms, v, n_threads=1)
    forces, strain = jacobian_transpose(result, v, n)
    assert strain is None and out.strain[0] is None
    size = np.max(np.abs(forces))
    np.testing.assert_allclose(out.positions[0], forces, rtol=0, atol=1e-12 * size)
    np.testing.assert_allclose(out.positions[0].sum(axis=0), 0, atol=1e-12 * size)
    two = calc.backward(atoms, v, n_threads=2)
    assert np.array_equal(two.positions[0], out.positions[0])
    jac_two = calc.compute(atoms, n_threads=2, gradients=["positions"]).gradient("positions")
    assert np.array_equal(jac_two.values, positions.values)


def periodic(triclinic=False):
    rng = np.random.default_rng(3)
    cell = np.eye(3) * 7.0
    if triclinic:
        cell = cell + [[0.0, 0.0, 0.0], [1.1, -0.4, 0.0], [-0.7, 0.9, 0.3]]
    atoms = ase.Atoms("H2O2", scaled_positions=rng.uniform(0, 1, (4, 3)), cell=cell)
    atoms.pbc = True
    return atoms


def small_cell():
    """A cell smaller than the basis (r_c 3 Å): many images of every atom."""
    cell = np.array([[2.6, 0.2, 0.1], [0.3, 2.8, -0.2], [0.1, 0.4, 2.7]])
    scaled = [[0.1, 0.2, 0.3], [0.5, 0.6, 0.4], [0.8, 0.1, 0.7]]
    return ase.Atoms("OH2", scaled_positions=scaled, cell=cell, pbc=True)


RECIPROCAL_CELLS = {
    "triclinic": lambda: periodic(triclinic=True),
    "cubic": periodic,  # the values take the shells engine
    "small": small_cell,
}


@pytest.mark.parametrize("exponent", [1, 2, 3, 4, 5, 6])
@pytest.mark.parametrize("charges", [False, True])
@pytest.mark.parametrize("cell", RECIPROCAL_CELLS)
def test_reciprocal_jacobians_and_backward(exponent, charges, cell):
    """Periodic, method="reciprocal" (triclinic, cubic and small cells, center_weight 0.7):
    positions and strain Jacobians = central differences; backward = Jᵀ·v (positions and
    strain, 1e-12 relative); Σ_atoms = 0; the strain gradient of the l = 0 coefficients (ν = 1,
    rotation invariant) is symmetric, that of l = 1 is not."""
    atoms = RECIPROCAL_CELLS[cell]()
    if charges:
        q = [0.5, -0.5, 0.8, -0.8][: len(atoms)]
        atoms.set_initial_charges(np.array(q) - np.mean(q))
    calc = lode(exponent, charges, method="reciprocal")
    result = check_jacobians(lambda f, g: calc.compute(f, gradients=g), atoms, strain=True)
    v = random_cotangent(result.values.shape, seed=exponent)
    out = calc.backward(atoms, v)
    forces, strain = jacobian_transpose(result, v, len(atoms))
    size = np.max(np.abs(forces))
    np.testing.assert_allclose(out.positions[0], forces, rtol=0, atol=1e-12 * size)
    np.testing.assert_allclose(out.positions[0].sum(axis=0), 0, atol=1e-12 * size)
    np.testing.assert_allclose(out.strain[0], strain, rtol=0, atol=1e-12 * np.max(np.abs(strain)))
    jac = result.gradient("strain").values  # (rows, 3, 3, channels, n_max, n_lm)
    scale = np.max(np.abs(jac))
    l0 = jac[..., 0]
    np.testing.assert_allclose(l0, np.swapaxes(l0, 1, 2), rtol=0, atol=1e-10 * scale)
    l1 = jac[..., 1:4]
    assert np.max(np.abs(l1 - np.swapaxes(l1, 1, 2))) > 1e-4 * scale


def test_reciprocal_stress_of_a_linear_energy_is_the_virial():
    """For E = Σ_i w·c_i, the backward pass's strain equals Σ_i w·∂c_i/∂ε of the Jacobian and
    the finite difference of E under a symmetric strain (1e-6 relative)."""
    atoms = periodic(triclinic=True)
    calc = lode(1, method="reciprocal")
    w = random_cotangent(calc.compute(atoms).values.shape, seed=11)
    virial = calc.backward(atoms, w).strain[0]
    h = 1e-5
    for a, b in [(0, 0), (1, 2), (2, 1)]:
        e = [
            np.sum(w * calc.compute(strained(atoms, a, b, s)).values) for s in (h, -h)
        ]
        fd = (e[0] - e[1]) / (2 * h)
        assert abs(virial[a, b] - fd) < 1e-6 * np.max(np.abs(virial)), (a, b)


def test_strain_of_finite_systems_is_refused():
    with pytest.raises(lode_rs.InvalidInputError, match="not periodic"):
        lode(1).compute(molecule(), gradients=["strain"])
    with pytest.raises(lode_rs.InvalidParameterError, match="backward pass"):
        lode(1).compute(molecule(), gradients=["positions"], max_memory=1000)


def test_jacobian_memory_counts_the_pair_table():
    """A periodic structure's positions Jacobian keeps a k-space table of its pairs of atoms
    (``N (N−1)/2 × 3 n_cols`` doubles) while its rows are made: ``max_memory`` counts it with
    the output. 64 atoms, two channels, n_cols = 4 × 16: output 64 × 64 × 3 × 2 × 64 doubles
    (12.6 MB), table 2016 × 192 doubles (3.10 MB): refused between the two, accepted above."""
    atoms = lode_rs.datasets.random_ionic_gas(1, n_atoms=64, box_range=(16.0, 16.0), seed=3)[0]
    calc = lode_rs.LodeExpansion(
        cutoff=3.0, smearing=1.0, n_max=4, l_max=3, exponent=1, species=[11, 17], n_threads=1
    )
    output = 64 * 64 * 3 * 2 * 64 * 8
    table = 64 * 63 // 2 * 3 * 64 * 8
    with pytest.raises(lode_rs.InvalidParameterError, match="max_memory"):
        calc.compute(atoms, gradients=["positions"], max_memory=output + table // 2)
    result = calc.compute(atoms, gradients=["positions"], max_memory=output + table + 1)
    assert result.gradient("positions").values.shape[0] == 64 * 64
