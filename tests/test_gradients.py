"""Positions and strain gradients: SOAP expansions, ν = 1 and ν = 2 invariants, Coulomb energies.

Every Jacobian is held against central finite differences of the values, step H = 1e-5 Å (or
1e-5 strain): the truncation error h² f'''/6 is ~1e-10 of the coefficient scale and the rounding
error ~1e-16/h ~ 1e-11, so a tolerance of FD_TOL = 1e-7 times the largest value catches any sign
or factor error (those are of the order of the gradient itself, ~ the values per Å).
"""

from __future__ import annotations

import ase
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

import lode_rs
from conftest import random_cluster, random_periodic

H = 1e-5
FD_TOL = 1e-7
HYPERS = dict(cutoff=3.5, smearing=0.4, n_max=4, l_max=3, cutoff_width=1.0, center_weight=0.6)
SPECIES = [1, 6, 8]


def soap(**kw):
    return lode_rs.SoapExpansion(**{**HYPERS, "species": SPECIES, **kw})


def cubic_cell(seed=0):
    rng = np.random.default_rng(seed)
    atoms = ase.Atoms("H4O4", scaled_positions=rng.uniform(0, 1, (8, 3)), cell=np.eye(3) * 5.0)
    atoms.pbc = True
    return atoms


def small_cell():
    """A cell smaller than the cutoff: every atom sees several images of itself and others."""
    cell = np.array([[2.6, 0.2, 0.1], [0.3, 2.8, -0.2], [0.1, 0.4, 2.7]])
    scaled = [[0.1, 0.2, 0.3], [0.5, 0.6, 0.4], [0.8, 0.1, 0.7]]
    return ase.Atoms("OH2", scaled_positions=scaled, cell=cell, pbc=True)


STRUCTURES = {
    "triclinic": lambda: random_periodic(1, n_atoms=8, species=(1, 6, 8)),
    "cubic": cubic_cell,
    "molecule": lambda: random_cluster(2, n_atoms=6),
    "small_cell": small_cell,
}


def strained(atoms, a, b, e):
    out = atoms.copy()
    deformation = np.eye(3)
    deformation[a, b] += e
    out.positions = atoms.positions @ deformation.T
    if atoms.pbc.any():
        out.cell = atoms.cell[:] @ deformation.T
    return out


def moved(atoms, atom, alpha, h):
    out = atoms.copy()
    out.positions[atom, alpha] += h
    return out


def dense_positions(gradient, n_rows, n_atoms):
    """Dense ``(n_rows, n_atoms, 3, ...)`` from a sparse positions gradient of one structure."""
    out = np.zeros((n_rows, n_atoms, 3) + gradient.values.shape[2:])
    for (row, _, atom), block in zip(gradient.samples, gradient.values, strict=True):
        out[row, atom] += block
    return out


def check_jacobians(compute, atoms, strain=True, tol=FD_TOL):
    """Positions (and strain) Jacobians of ``compute(frames, gradients)`` = finite differences
    (to ``tol`` of the largest value)."""
    names = ["positions", "strain"] if strain else ["positions"]
    result = compute(atoms, names)
    scale = np.max(np.abs(result.values))
    n = len(atoms)
    positions = result.gradient("positions")
    assert np.all(np.diff(positions.samples[:, 0]) >= 0)
    dense = dense_positions(positions, len(result.values), n)
    for atom in range(n):
        for alpha in range(3):
            fd = (
                compute(moved(atoms, atom, alpha, H), None).values
                - compute(moved(atoms, atom, alpha, -H), None).values
            ) / (2 * H)
            np.testing.assert_allclose(dense[:, atom, alpha], fd, rtol=0, atol=tol * scale)
    if strain:
        jac = result.gradient("strain").values
        for a in range(3):
            for b in range(3):
                fd = (
                    compute(strained(atoms, a, b, H), None).values
                    - compute(strained(atoms, a, b, -H), None).values
                ) / (2 * H)
                np.testing.assert_allclose(jac[:, a, b], fd, rtol=0, atol=tol * scale)
    return result


def expansion_compute(calculator):
    return lambda frames, names: calculator.compute(frames, gradients=names)


@pytest.mark.parametrize("kind", STRUCTURES)
def test_soap_jacobians_match_finite_differences(kind):
    atoms = STRUCTURES[kind]()
    check_jacobians(expansion_compute(soap()), atoms, strain=atoms.pbc.any())


@pytest.mark.parametrize("kind", STRUCTURES)
def test_power_spectrum_jacobians_match_finite_differences(kind):
    atoms = STRUCTURES[kind]()
    ps = lode_rs.PowerSpectrum(soap())
    check_jacobians(lambda f, g: ps.compute(f, gradients=g), atoms, strain=atoms.pbc.any())


def test_mixed_power_spectrum_and_radial_jacobians():
    """Two expansions with different cutoffs (their samples differ and are merged), and ν = 1."""
    atoms = STRUCTURES["triclinic"]()
    wide = soap(cutoff=4.2, n_max=3, l_max=2, smearing=0.5)
    ps = lode_rs.PowerSpectrum(soap(), wide)
    result = check_jacobians(lambda f, g: ps.compute(f, gradients=g), atoms)
    narrow = soap().compute(atoms, gradients=["positions"]).gradient("positions")
    assert len(result.gradient("positions").samples) > len(narrow.samples)
    check_jacobians(
        lambda f, g: lode_rs.invariants.radial(soap(), f, gradients=g), STRUCTURES["cubic"]()
    )


def random_cotangent(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape)


def jacobian_transpose(result, cotangent, n_atoms):
    """``Jᵀ v`` from the Jacobians of one structure."""
    g = result.gradient("positions")
    forces = np.zeros((n_atoms, 3))
    axes = tuple(range(1, cotangent.ndim))
    for (row, _, atom), block in zip(g.samples, g.values, strict=True):
        forces[atom] += np.sum(block * cotangent[row][None], axis=axes)
    strain = None
    if "strain" in result.gradients:
        s = result.gradient("strain").values
        n_rows = len(cotangent)
        strain = np.einsum(
            "rabk,rk->ab", s.reshape(n_rows, 3, 3, -1), cotangent.reshape(n_rows, -1)
        )
    return forces, strain


@pytest.mark.parametrize("kind", STRUCTURES)
def test_backward_is_transposed_jacobian(kind):
    """Backward pass = Jᵀ·v to rounding (1e-12 relative); Σ_atoms = 0 (translations)."""
    atoms = STRUCTURES[kind]()
    names = ["positions", "strain"] if atoms.pbc.any() else ["positions"]
    calculators = {
        "soap": (
            soap(),
            lambda c, f: c.compute(f, gradients=names),
            lambda c, f, v: c.backward(f, v),
        ),
        "ps": (
            lode_rs.PowerSpectrum(soap(), soap(cutoff=4.0, n_max=3)),
            lambda c, f: c.compute(f, gradients=names),
            lambda c, f, v: c.backward(f, v),
        ),
        "ps_same": (
            lode_rs.PowerSpectrum(soap()),
            lambda c, f: c.compute(f, gradients=names),
            lambda c, f, v: c.backward(f, v),
        ),
        "radial": (
            soap(),
            lambda c, f: lode_rs.invariants.radial(c, f, gradients=names),
            lambda c, f, v: lode_rs.invariants.radial_backward(c, f, v),
        ),
    }
    for name, (calc, jacobians, backward) in calculators.items():
        result = jacobians(calc, atoms)
        v = random_cotangent(result.values.shape)
        out = backward(calc, atoms, v)
        forces, strain = jacobian_transpose(result, v, len(atoms))
        scale = np.max(np.abs(forces))
        np.testing.assert_allclose(
            out.positions[0], forces, rtol=0, atol=1e-12 * scale, err_msg=name
        )
        np.testing.assert_allclose(out.positions[0].sum(axis=0), 0, atol=1e-12 * scale)
        if strain is None:
            assert out.strain[0] is None
        else:
            np.testing.assert_allclose(
                out.strain[0], strain, rtol=0, atol=1e-12 * np.max(np.abs(strain))
            )


def test_sum_rule_and_rotation_covariance_of_jacobians():
    """Σ_atoms ∂p/∂r_atom = 0 for every row, and invariants' gradients rotate as vectors:
    ∂p/∂r' = R ∂p/∂r (1e-10 relative), for the Jacobian and the backward pass."""
    atoms = STRUCTURES["molecule"]()
    ps = lode_rs.PowerSpectrum(soap())
    g = ps.compute(atoms, gradients=["positions"]).gradient("positions")
    dense = dense_positions(g, len(atoms), len(atoms))
    scale = np.max(np.abs(dense))
    np.testing.assert_allclose(dense.sum(axis=1), 0, atol=1e-12 * scale)
    rotation = Rotation.random(random_state=3).as_matrix()
    turned = atoms.copy()
    turned.positions = atoms.positions @ rotation.T
    g_rot = ps.compute(turned, gradients=["positions"]).gradient("positions")
    np.testing.assert_array_equal(g_rot.samples, g.samples)
    expected = np.einsum("ab,sbf->saf", rotation, g.values)
    np.testing.assert_allclose(g_rot.values, expected, rtol=0, atol=1e-10 * scale)
    v = random_cotangent(ps.compute(atoms).values.shape)
    b = ps.backward(atoms, v).positions[0]
    b_rot = ps.backward(turned, v).positions[0]
    np.testing.assert_allclose(b_rot, b @ rotation.T, rtol=0, atol=1e-10 * np.max(np.abs(b)))


def test_strain_gradient_of_invariants_is_symmetric():
    """Rotation invariance makes ∂p/∂ε symmetric for invariants (1e-10 relative)."""
    atoms = STRUCTURES["triclinic"]()
    s = lode_rs.PowerSpectrum(soap()).compute(atoms, gradients=["strain"]).gradient("strain")
    np.testing.assert_allclose(
        s.values, np.swapaxes(s.values, 1, 2), rtol=0, atol=1e-10 * np.max(np.abs(s.values))
    )


def test_threads_give_bitwise_identical_gradients():
    frames = [STRUCTURES[k]() for k in STRUCTURES]
    results = []
    for threads in (1, 2):
        calc = soap(n_threads=threads)
        names = ["positions"]
        c = calc.compute(frames, gradients=names)
        v = random_cotangent(c.values.shape)
        results.append((c.gradient("positions").values, calc.backward(frames, v).positions))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    for a, b in zip(results[0][1], results[1][1], strict=True):
        np.testing.assert_array_equal(a, b)
    # the power spectrum's Jacobians (the pair kernel), positions and strain
    periodic = [f for f in frames if f.pbc.any()]
    jacobians = [
        lode_rs.PowerSpectrum(soap(n_threads=threads)).compute(
            periodic, gradients=["positions", "strain"]
        )
        for threads in (1, 2)
    ]
    for name in ("positions", "strain"):
        np.testing.assert_array_equal(
            jacobians[0].gradient(name).values, jacobians[1].gradient(name).values
        )


def test_multi_structure_layout():
    frames = [STRUCTURES["molecule"](), STRUCTURES["cubic"]()]
    c = soap().compute(frames, gradients=["positions"])
    g = c.gradient("positions")
    assert g.sample_names == ("row", "structure", "atom")
    assert g.values.shape[1:] == (3,) + c.values.shape[1:]
    np.testing.assert_array_equal(c.structure[g.samples[:, 0]], g.samples[:, 1])
    # each row has its own centre as a sample
    centres = {(r, s, a) for r, s, a in g.samples if c.centers[r] == a}
    assert len(centres) == len(c.values)
    out = soap().backward(frames, np.ones(c.values.shape))
    assert [p.shape for p in out.positions] == [(6, 3), (8, 3)]
    assert out.strain[0] is None and out.strain[1].shape == (3, 3)


def test_bad_requests():
    molecule = STRUCTURES["molecule"]()
    calc = soap()
    with pytest.raises(
        lode_rs.InvalidParameterError, match="unknown gradient 'cell'|unknown gradient \"cell\""
    ):
        calc.compute(molecule, gradients=["cell"])
    with pytest.raises(lode_rs.InvalidInputError, match="not periodic"):
        calc.compute(molecule, gradients=["strain"])
    with pytest.raises(lode_rs.InvalidParameterError, match="backward pass"):
        calc.compute(molecule, gradients=["positions"], max_memory=1000)
    with pytest.raises(lode_rs.InvalidInputError, match="shape of the values"):
        calc.backward(molecule, np.zeros((2, 3)))
    c = calc.compute(molecule)
    with pytest.raises(ValueError, match="not computed"):
        c.gradient("positions")


def ionic(seed, periodic=True):
    rng = np.random.default_rng(seed)
    n = 8
    atoms = ase.Atoms("Na4Cl4", positions=rng.uniform(0, 6, (n, 3)))
    if periodic:
        atoms.cell = np.diag([6.0, 6.5, 7.0]) + rng.uniform(-0.5, 0.5, (3, 3))
        atoms.pbc = True
    atoms.set_initial_charges([1, 1, 1, 1, -1, -1, -1, -1.0] * rng.uniform(0.5, 1.5, n))
    return atoms


@pytest.mark.parametrize("periodic", [True, False])
def test_electrostatic_forces_and_stress(periodic):
    """Forces = −∂E/∂r and stress = (1/V) ∂E/∂ε by central differences (step 1e-5, 1e-6 of
    the largest component); the Rust tests add the virial theorem, η-independence and a
    brute-force image-sum virial."""
    atoms = ionic(3, periodic)
    e, forces, stress = lode_rs.electrostatic_energy(
        atoms, accuracy=1e-12, forces=True, stress=periodic
    )
    assert np.isclose(e[0], lode_rs.electrostatic_energy(atoms, accuracy=1e-12)[0], rtol=1e-14)
    f = forces[0]
    energy = lambda a: lode_rs.electrostatic_energy(a, accuracy=1e-12)[0]  # noqa: E731
    fd = np.array(
        [
            [
                -(energy(moved(atoms, i, a, H)) - energy(moved(atoms, i, a, -H))) / (2 * H)
                for a in range(3)
            ]
            for i in range(len(atoms))
        ]
    )
    np.testing.assert_allclose(f, fd, rtol=0, atol=1e-6 * np.max(np.abs(f)))
    if periodic:
        volume = atoms.get_volume()
        fd = (
            np.array(
                [
                    [
                        (energy(strained(atoms, a, b, H)) - energy(strained(atoms, a, b, -H)))
                        / (2 * H)
                        for b in range(3)
                    ]
                    for a in range(3)
                ]
            )
            / volume
        )
        np.testing.assert_allclose(stress[0], fd, rtol=0, atol=1e-6 * np.max(np.abs(fd)))
    else:
        assert stress is None
        with pytest.raises(lode_rs.InvalidInputError, match="not periodic"):
            lode_rs.electrostatic_energy(atoms, stress=True)
