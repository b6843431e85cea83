"""LODE positions gradients (finite systems, the real-space route) through the Python API, and
the clear refusal of the routes that have no gradients yet.

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
from test_gradients import check_jacobians, jacobian_transpose, random_cotangent

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


@pytest.mark.parametrize("exponent", [1, 3, 6])
@pytest.mark.parametrize("charges", [False, True])
def test_reciprocal_positions_jacobian_and_backward(exponent, charges):
    """Periodic, method="reciprocal" (triclinic cell): positions Jacobian = central differences,
    backward = Jᵀ·v, Σ_atoms = 0; strain (not implemented yet) is refused and the backward
    pass reports none."""
    atoms = periodic(triclinic=True)
    if charges:
        atoms.set_initial_charges([0.5, -0.5, 0.8, -0.8])
    calc = lode(exponent, charges, method="reciprocal")
    result = check_jacobians(lambda f, g: calc.compute(f, gradients=g), atoms, strain=False)
    v = random_cotangent(result.values.shape, seed=exponent)
    out = calc.backward(atoms, v)
    forces, _ = jacobian_transpose(result, v, len(atoms))
    size = np.max(np.abs(forces))
    np.testing.assert_allclose(out.positions[0], forces, rtol=0, atol=1e-12 * size)
    np.testing.assert_allclose(out.positions[0].sum(axis=0), 0, atol=1e-12 * size)
    assert out.strain[0] is None
    with pytest.raises(lode_rs.InvalidParameterError, match="strain gradients of the LODE"):
        calc.compute(atoms, gradients=["positions", "strain"])


@pytest.mark.parametrize("method", ["ewald", "mesh"])
def test_periodic_routes_without_gradients_are_refused(method):
    """A periodic structure's route has no gradients yet: the error names the structure, the
    route and the method, and says which systems have gradients; so does the backward pass."""
    calc = lode(1, method=method)
    frames = [molecule(), periodic()]
    with pytest.raises(lode_rs.InvalidParameterError, match=f'structure 1.*"{method}" route'):
        calc.compute(frames, gradients=["positions"])
    v = np.zeros(calc.compute(frames).values.shape)
    with pytest.raises(lode_rs.InvalidParameterError, match="finite systems"):
        calc.backward(frames, v)


def test_pairs_route_and_strain_are_refused():
    calc = lode(0)
    with pytest.raises(lode_rs.InvalidParameterError, match='"pairs" route'):
        calc.backward(periodic(), np.zeros(calc.compute(periodic()).values.shape))
    with pytest.raises(lode_rs.InvalidInputError, match="not periodic"):
        lode(1).compute(molecule(), gradients=["strain"])
    with pytest.raises(lode_rs.InvalidParameterError, match="backward pass"):
        lode(1).compute(molecule(), gradients=["positions"], max_memory=1000)
