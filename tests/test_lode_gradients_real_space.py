"""LODE gradients of the periodic real-space routes through the Python API: the p = 0 ``pairs``
route, the ``ewald`` split and the ``mesh`` route (positions and strain).

Pairs and Ewald: Jacobians against central finite differences of the values (``check_jacobians``:
H = 1e-5, 1e-7 of the largest value; a sign or factor error is of the order of the gradient),
backward = Jᵀ·v to 1e-12. Mesh: the backward pass is the exact adjoint of the mesh values, held
against central differences of ``Σ v·c`` (positions 1e-4 Å, strain 1e-5, 1e-6 of the largest
entry); its Jacobian rows are the Ewald route's, so ``Jᵀ·v`` equals the backward pass to the
mesh's discretisation error (1e-4). The three periodic routes give the same forces and stress to
1e-5 of their size.
"""

from __future__ import annotations

import numpy as np
import pytest

import lode_rs
from test_gradients import check_jacobians, jacobian_transpose, moved, random_cotangent, strained
from test_lode_gradients import lode, periodic

ACCURACY = 1e-7


def charged(atoms):
    atoms = atoms.copy()
    q = np.array([0.5, -0.7, 0.8, -0.3])[: len(atoms)]
    atoms.set_initial_charges(q - q.mean())
    return atoms


def route_of(calc, atoms):
    return calc.routes(atoms)[0]["route"]


@pytest.mark.parametrize(
    ("exponent", "method", "route"),
    [(0, "auto", "pairs"), (1, "ewald", "ewald"), (4, "ewald", "ewald")],
)
@pytest.mark.parametrize("charges", [False, True])
def test_pair_and_ewald_jacobians_and_backward(exponent, method, route, charges):
    """Positions and strain Jacobians = central differences (triclinic cell, center_weight 0.7);
    backward = Jᵀ·v (1e-12 relative); Σ_atoms F = 0; 1 and 2 threads bitwise."""
    atoms = periodic(triclinic=True)
    if charges:
        atoms = charged(atoms)
    calc = lode(exponent, charges, method=method, accuracy=ACCURACY)
    assert route_of(calc, atoms) == route
    result = check_jacobians(lambda f, g: calc.compute(f, gradients=g), atoms, strain=True)
    v = random_cotangent(result.values.shape, seed=exponent)
    out = calc.backward(atoms, v, n_threads=1)
    forces, strain = jacobian_transpose(result, v, len(atoms))
    size = np.max(np.abs(forces))
    np.testing.assert_allclose(out.positions[0], forces, rtol=0, atol=1e-12 * size)
    np.testing.assert_allclose(out.positions[0].sum(axis=0), 0, atol=1e-12 * size)
    np.testing.assert_allclose(out.strain[0], strain, rtol=0, atol=1e-12 * np.max(np.abs(strain)))
    two = calc.backward(atoms, v, n_threads=2)
    assert np.array_equal(two.positions[0], out.positions[0])
    assert np.array_equal(two.strain[0], out.strain[0])


@pytest.mark.parametrize("exponent", [1, 3, 6])
@pytest.mark.parametrize("charges", [False, True])
def test_mesh_backward_is_the_adjoint_of_the_mesh_values(exponent, charges):
    atoms = periodic(triclinic=True)
    if charges:
        atoms = charged(atoms)
    calc = lode(exponent, charges, method="mesh", accuracy=ACCURACY)
    assert route_of(calc, atoms) == "mesh"
    v = random_cotangent(calc.compute(atoms).values.shape, seed=exponent)
    out = calc.backward(atoms, v, n_threads=1)
    forces, virial = out.positions[0], out.strain[0]

    def objective(frame):
        return np.sum(v * calc.compute(frame).values)

    h = 1e-4
    scale = np.max(np.abs(forces))
    for atom in range(len(atoms)):
        for alpha in range(3):
            fd = (
                objective(moved(atoms, atom, alpha, h)) - objective(moved(atoms, atom, alpha, -h))
            ) / (2 * h)
            assert abs(fd - forces[atom, alpha]) < 1e-6 * scale, (atom, alpha)
    h = 1e-5
    scale = np.max(np.abs(virial))
    for a in range(3):
        for b in range(3):
            fd = (objective(strained(atoms, a, b, h)) - objective(strained(atoms, a, b, -h))) / (
                2 * h
            )
            assert abs(fd - virial[a, b]) < 1e-6 * scale, (a, b)
    two = calc.backward(atoms, v, n_threads=2)
    assert np.array_equal(two.positions[0], forces)
    assert np.array_equal(two.strain[0], virial)
    # the Jacobian rows are the Ewald route's: Jᵀ·v to the mesh's discretisation error
    result = calc.compute(atoms, gradients=["positions", "strain"])
    jt_forces, jt_strain = jacobian_transpose(result, v, len(atoms))
    np.testing.assert_allclose(jt_forces, forces, rtol=0, atol=1e-4 * np.max(np.abs(forces)))
    np.testing.assert_allclose(jt_strain, virial, rtol=0, atol=1e-4 * np.max(np.abs(virial)))


@pytest.mark.parametrize("exponent", [1, 2])
def test_three_routes_give_the_same_forces_and_stress(exponent):
    """Mesh, Ewald and reciprocal backward passes of the same cotangent agree (1e-5 of their
    size), positions and strain: three independent evaluations of one derivative."""
    atoms = periodic(triclinic=True)
    v = None
    results = {}
    for method in ["mesh", "ewald", "reciprocal"]:
        calc = lode(exponent, method=method, accuracy=ACCURACY)
        assert route_of(calc, atoms) == method
        if v is None:
            v = random_cotangent(calc.compute(atoms).values.shape, seed=5)
        out = calc.backward(atoms, v)
        results[method] = (out.positions[0], out.strain[0])
    forces, virial = results["reciprocal"]
    for method in ["mesh", "ewald"]:
        f, s = results[method]
        np.testing.assert_allclose(
            f, forces, rtol=0, atol=1e-5 * np.max(np.abs(forces)), err_msg=method
        )
        np.testing.assert_allclose(
            s, virial, rtol=0, atol=1e-5 * np.max(np.abs(virial)), err_msg=method
        )


def test_every_periodic_route_has_gradients():
    """No route refuses gradients any more: a mixed batch (finite + periodic) on the mesh route."""
    from test_lode_gradients import molecule

    calc = lode(1, method="mesh", accuracy=1e-5)
    frames = [molecule(), periodic()]
    v = random_cotangent(calc.compute(frames).values.shape)
    out = calc.backward(frames, v)
    assert out.strain[0] is None and out.strain[1].shape == (3, 3)
    assert isinstance(calc, lode_rs.LodeExpansion)
