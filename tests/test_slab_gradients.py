"""Gradients of slabs (pbc with one False direction), docs/math.md §15.4 and docs/slabs.md.

Strain of a slab is the homogeneous deformation ``x → (1 + ε) x`` of the in-plane lattice and of
every position (the open cell vector is ignored; the route's vacuum height is not physical).

1. LODE Jacobians (positions and strain) = central differences of the values on random slabs
   (triclinic in-plane cell, normal along x, y or z), step H = 1e-4 Å (1e-4 strain) and
   tolerance 1e-6 of the largest value: the truncation error H² f'''/6 is ~1e-9 of the scale
   and the values are smooth at fixed vacuum height (the height is a whole number of Å, so it
   does not move between the difference points), while a sign or factor-2 error in any term is
   of the order of the gradient itself. The line correction's own share of the Jacobians
   (slab minus the same vacuum cell as a 3D cell, measured on these slabs) is 7e-2 (p = 1),
   7e-3 (p = 2), 1e-4 (p = 4), 2e-6 (p = 6) of the scale for positions and 1e-1, 2.6, 3e-4,
   2e-4 for strain, so an error in it is caught for p ≥ 1 (for p = 0 the line is negligible,
   ~1e-15). Backward = Jᵀv to 1e-12 relative, Σ_atoms = 0 (in-plane and normal translations),
   1 vs 2 threads bitwise.
2. Rotation covariance of the ν = 2 invariants' gradients (any rotation of the slab, the open
   direction moving with it) and independence of the open cell vector and of the vacuum height
   (accuracy 1e-5 vs 1e-10: different heights, gradients equal within the accuracy).
3. ``electrostatic_energy`` of slabs: forces and stress = central differences of the energy
   (1e-6 relative), the virial theorem tr ∂E/∂ε = −E, and forces equal brute-force sums over
   large finite patches of in-plane images, extrapolated (the dipole term included: without it
   they would differ by 4π k_e M_z q_i/V).
"""

from __future__ import annotations

import ase
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

import lode_rs
from lode_rs import electrostatic_energy

H = 1e-4
TOL = 1e-6
K_E = 14.399645


def random_slab(seed, n_atoms=4, normal=2, side=5.5, thickness=3.0):
    """A neutral random slab, triclinic in-plane cell, normal along axis ``normal``."""
    rng = np.random.default_rng(seed)
    cell = np.array([[side, 0.0, 0.0], [1.3, 0.95 * side, 0.0], [0.0, 0.0, 0.0]])
    while True:
        frac = rng.random((n_atoms, 2))
        positions = frac @ cell[:2] + np.outer(rng.random(n_atoms) * thickness, [0, 0, 1])
        atoms = ase.Atoms("NaCl" * (n_atoms // 2), positions=positions, cell=cell,
                          pbc=[True, True, False])
        d = [atoms.get_distances(i, range(n_atoms), mic=True) for i in range(n_atoms)]
        if min(np.min(np.delete(row, i)) for i, row in enumerate(d)) > 1.2:
            break
    atoms.set_initial_charges([1.0, -1.0] * (n_atoms // 2))
    if normal != 2:
        # cyclic permutation of the axes (a proper rotation): z → axis `normal`
        order = [(k + 2 - normal) % 3 for k in range(3)]
        atoms.positions = atoms.positions[:, order]
        atoms.cell = atoms.cell[:][:, order][order]
        atoms.pbc = [k != normal for k in range(3)]
    return atoms


def lode(exponent, charges=False, **kw):
    channels = {"charges": True} if charges else {"species": [11, 17]}
    base = dict(cutoff=3.0, smearing=1.0, n_max=3, l_max=2, exponent=exponent, accuracy=1e-9,
                center_weight=0.7)
    base.update(kw)
    return lode_rs.LodeExpansion(**channels, **base)


def strained(atoms, a, b, e):
    out = atoms.copy()
    deformation = np.eye(3)
    deformation[a, b] += e
    out.positions = atoms.positions @ deformation.T
    out.cell = atoms.cell[:] @ deformation.T
    return out


def moved(atoms, atom, alpha, h):
    out = atoms.copy()
    out.positions[atom, alpha] += h
    return out


def dense_positions(gradient, n_rows, n_atoms):
    out = np.zeros((n_rows, n_atoms, 3) + gradient.values.shape[2:])
    for (row, _, atom), block in zip(gradient.samples, gradient.values, strict=True):
        out[row, atom] += block
    return out


def check_slab(calc, atoms):
    """Jacobians = differences, backward = Jᵀv, sum rule, threads; returns the result."""
    result = calc.compute(atoms, gradients=["positions", "strain"])
    scale = np.max(np.abs(result.values))
    n = len(atoms)
    dense = dense_positions(result.gradient("positions"), n, n)
    for atom in range(n):
        for alpha in range(3):
            fd = (calc.compute(moved(atoms, atom, alpha, H)).values
                  - calc.compute(moved(atoms, atom, alpha, -H)).values) / (2 * H)
            np.testing.assert_allclose(dense[:, atom, alpha], fd, rtol=0, atol=TOL * scale)
    jac = result.gradient("strain").values
    for a in range(3):
        for b in range(3):
            fd = (calc.compute(strained(atoms, a, b, H)).values
                  - calc.compute(strained(atoms, a, b, -H)).values) / (2 * H)
            np.testing.assert_allclose(jac[:, a, b], fd, rtol=0, atol=TOL * scale)
    grad_scale = np.max(np.abs(dense))
    np.testing.assert_allclose(dense.sum(axis=1), 0, atol=1e-12 * grad_scale)
    v = np.random.default_rng(5).normal(size=result.values.shape)
    out = calc.backward(atoms, v, n_threads=1)
    forces = np.einsum("ijaf,if->ja", dense.reshape(n, n, 3, -1), v.reshape(n, -1))
    virial = np.einsum("iabf,if->ab", jac.reshape(n, 3, 3, -1), v.reshape(n, -1))
    size = np.max(np.abs(forces))
    np.testing.assert_allclose(out.positions[0], forces, rtol=0, atol=1e-12 * size)
    np.testing.assert_allclose(out.positions[0].sum(axis=0), 0, atol=1e-12 * size)
    np.testing.assert_allclose(out.strain[0], virial, rtol=0,
                               atol=1e-12 * np.max(np.abs(virial)))
    two = calc.backward(atoms, v, n_threads=2)
    assert np.array_equal(two.positions[0], out.positions[0])
    assert np.array_equal(two.strain[0], out.strain[0])
    return result


@pytest.mark.parametrize(("exponent", "normal"), [(0, 0), (1, 2), (2, 1), (4, 0), (6, 2)])
@pytest.mark.parametrize("charges", [False, True])
def test_slab_jacobians_and_backward(exponent, normal, charges):
    atoms = random_slab(exponent, normal=normal)
    check_slab(lode(exponent, charges, method="reciprocal", k_cutoff=7.0), atoms)


@pytest.mark.parametrize("method", ["auto", "ewald", "mesh"])
def test_slab_gradients_on_other_inner_routes(method):
    """p = 1 on the planner's own choice, Ewald and mesh inner routes: Jacobians = differences
    and backward = Jᵀv as above (the mesh's Jacobian rows are the Ewald route's: its backward
    is held to them at the mesh accuracy, 1e-5 of the scale, in test_lode_mesh.py's way)."""
    atoms = random_slab(11, normal=1)
    calc = lode(1, charges=True, method=method)
    assert calc.routes(atoms)[0]["route"] == "slab"
    if method == "mesh":
        result = calc.compute(atoms, gradients=["positions"])
        n = len(atoms)
        dense = dense_positions(result.gradient("positions"), n, n)
        v = np.random.default_rng(5).normal(size=result.values.shape)
        forces = np.einsum("ijaf,if->ja", dense.reshape(n, n, 3, -1), v.reshape(n, -1))
        out = calc.backward(atoms, v)
        np.testing.assert_allclose(out.positions[0], forces, rtol=0,
                                   atol=1e-5 * np.max(np.abs(forces)))
        return
    check_slab(calc, atoms)


def test_rotation_covariance_and_vacuum_independence():
    """ν = 2 invariants of a slab: gradients turn as vectors under any rotation of the slab
    (1e-8 relative: the rotated slab has the same vacuum height, only rounding differs) and the
    strain derivative as R W Rᵀ; the open cell vector changes nothing (1e-12); accuracy 1e-5
    and 1e-10 (vacuum heights ~ 2× apart) give gradients within 1e-4 of their scale."""
    atoms = random_slab(3, normal=2)
    calc = lode(1, charges=True, method="reciprocal")
    ps = lode_rs.PowerSpectrum(calc)
    v = np.random.default_rng(1).normal(size=ps.compute(atoms).values.shape)
    out = ps.backward(atoms, v)
    rotation = Rotation.random(random_state=4).as_matrix()
    turned = atoms.copy()
    turned.positions = atoms.positions @ rotation.T
    turned.cell = atoms.cell[:] @ rotation.T
    rot = ps.backward(turned, v)
    size = np.max(np.abs(out.positions[0]))
    np.testing.assert_allclose(rot.positions[0], out.positions[0] @ rotation.T, rtol=0,
                               atol=1e-8 * size)
    np.testing.assert_allclose(rot.strain[0], rotation @ out.strain[0] @ rotation.T, rtol=0,
                               atol=1e-8 * np.max(np.abs(out.strain[0])))
    tall = atoms.copy()
    tall.cell[2] = [0.7, -0.4, 25.0]
    other = ps.backward(tall, v)
    np.testing.assert_allclose(other.positions[0], out.positions[0], rtol=0, atol=1e-12 * size)
    np.testing.assert_allclose(other.strain[0], out.strain[0], rtol=0,
                               atol=1e-12 * np.max(np.abs(out.strain[0])))
    lengths = []
    results = []
    for accuracy in (1e-5, 1e-10):
        c = lode(1, charges=True, method="reciprocal", accuracy=accuracy)
        lengths.append(c.routes(atoms)[0]["length"])
        results.append(lode_rs.PowerSpectrum(c).backward(atoms, v))
    assert lengths[1] > lengths[0] + 3.0, lengths
    np.testing.assert_allclose(results[0].positions[0], results[1].positions[0], rtol=0,
                               atol=1e-4 * size)
    np.testing.assert_allclose(results[0].strain[0], results[1].strain[0], rtol=0,
                               atol=1e-4 * np.max(np.abs(out.strain[0])))


# ---------------------------------------------------------------------------------------------
# electrostatics


@pytest.mark.parametrize("normal", [0, 1, 2])
def test_slab_electrostatic_forces_and_stress(normal):
    """Forces and stress of a neutral slab = central differences of its energy (step 1e-5,
    1e-6 relative: the energy is held to 1e-12), forces sum to zero, tr(σV) = −E."""
    atoms = random_slab(20 + normal, n_atoms=6, normal=normal)
    atoms.cell[normal] = np.eye(3)[normal] * 20.0  # a volume for the stress (ASE's V)
    energy, forces, stress = electrostatic_energy(atoms, forces=True, stress=True,
                                                  accuracy=1e-12)
    f, s = forces[0], stress[0]
    e = lambda a: electrostatic_energy(a, accuracy=1e-12)[0]  # noqa: E731
    h = 1e-5
    for atom in range(len(atoms)):
        for alpha in range(3):
            fd = -(e(moved(atoms, atom, alpha, h)) - e(moved(atoms, atom, alpha, -h))) / (2 * h)
            assert abs(fd - f[atom, alpha]) < 1e-6 * np.max(np.abs(f)), (atom, alpha)
    np.testing.assert_allclose(f.sum(axis=0), 0, atol=1e-10 * np.max(np.abs(f)))
    volume = atoms.get_volume()
    virial = s * volume
    for a in range(3):
        for b in range(3):
            fd = (e(strained(atoms, a, b, h)) - e(strained(atoms, a, b, -h))) / (2 * h)
            assert abs(fd - virial[a, b]) < 1e-6 * np.max(np.abs(virial)), (a, b)
    assert abs(np.trace(virial) + energy[0]) < 1e-9 * abs(energy[0])
    # the stress of a volume-less slab is refused, with the fix
    flat = atoms.copy()
    flat.cell[normal] = 0.0
    with pytest.raises(lode_rs.InvalidInputError, match="2D stress per area"):
        electrostatic_energy(flat, stress=True)
    # forces do not depend on the open vector (to rounding: positions may be wrapped)
    _, forces_flat, _ = electrostatic_energy(flat, forces=True, accuracy=1e-12)
    np.testing.assert_allclose(forces_flat[0], f, rtol=0, atol=1e-12 * np.max(np.abs(f)))


def brute_force_forces(atoms, radius):
    """Coulomb forces on the cell's atoms from every in-plane image within ``radius``, each
    image cell's charges weighted by a smooth taper from 1 (ρ < R/2) to 0 (ρ = R)."""
    q = atoms.get_initial_charges()
    pos = atoms.positions
    a1, a2 = atoms.cell[0], atoms.cell[1]
    m = int(radius / min(np.linalg.norm(a1), np.linalg.norm(a2))) + 2
    forces = np.zeros_like(pos)
    for i in range(-m, m + 1):
        for j in range(-m, m + 1):
            shift = i * a1 + j * a2
            rho = np.linalg.norm(shift)
            t = np.clip((rho - radius / 2) / (radius / 2), 0, 1)
            weight = 1 - t * t * t * (10 - 15 * t + 6 * t * t)  # C² smoothstep
            if weight == 0:
                continue
            d = pos[:, None, :] - (pos[None, :, :] + shift)
            r = np.linalg.norm(d, axis=-1)
            if i == 0 and j == 0:
                np.fill_diagonal(r, np.inf)
            forces += weight * K_E * np.einsum("i,j,ijk->ik", q, q, d / r[..., None] ** 3)
    return forces


def test_slab_electrostatic_forces_against_a_brute_force_patch():
    """Forces of a neutral 6-ion slab = the limit of tapered finite patches of in-plane images.
    A patch of radius R misses a uniform field ~1/R (the far dipole layer, in-plane and normal
    moments), with next term ~R⁻³ (measured: 2× then 8× per doubling), so R = 40, 80, 160 Å are
    Richardson-extrapolated twice: agreement to 1e-5 of the largest force (measured 1.3e-6),
    while a missing or doubled dipole term 4π k_e M_z q_i/V would be ~3e-2 of it."""
    atoms = random_slab(31, n_atoms=6)
    _, forces, _ = electrostatic_energy(atoms, forces=True, accuracy=1e-12)
    patch = {r: brute_force_forces(atoms, r) for r in (40.0, 80.0, 160.0)}
    first = {r: 2 * patch[r] - patch[r / 2] for r in (80.0, 160.0)}
    extrapolated = (8 * first[160.0] - first[80.0]) / 7
    scale = np.max(np.abs(forces[0]))
    np.testing.assert_allclose(extrapolated, forces[0], rtol=0, atol=1e-5 * scale)


def test_potential_with_a_lode_block_on_slabs():
    """A Potential (SOAP ⊗ LODE power spectrum) fitted on slab Coulomb energies and forces (its
    force rows from the slab Jacobians) predicts forces on a new slab equal to central
    differences of its energy (h = 1e-4 Å, 1e-6 relative with floor 1: truncation ~1e-8), and
    its ASE calculator returns the same forces."""
    from lode_rs.models import PolynomialKernel, SparseGPR

    frames = [random_slab(40 + s, n_atoms=6) for s in range(4)]
    energies, forces, _ = electrostatic_energy(frames, forces=True)
    soap = lode_rs.SoapExpansion(species=[11, 17], cutoff=4.0, smearing=0.5, n_max=3, l_max=2)
    lode_block = lode(1, method="reciprocal", accuracy=1e-8)
    pot = lode_rs.Potential(
        [lode_rs.PowerSpectrum(soap, lode_block)],
        SparseGPR(kernel=PolynomialKernel(zeta=2), n_sparse=12),
        regularizers={"energy": 1e-3, "forces": 1e-2},
    ).fit(frames, energy=energies, forces=forces)
    atoms = random_slab(50, n_atoms=6)
    _, predicted, stress = pot.predict([atoms])
    assert stress is None  # no stress by default for slabs (Potential: fully periodic only)
    f = predicted[0]
    assert np.abs(f).max() > 1e-2
    h = 1e-4
    energy = lambda a: pot.predict([a], forces=False, stress=False)[0][0]  # noqa: E731
    for j, a in [(0, 0), (2, 1), (5, 2)]:
        fd = -(energy(moved(atoms, j, a, h)) - energy(moved(atoms, j, a, -h))) / (2 * h)
        assert abs(f[j, a] - fd) < 1e-6 * max(1.0, abs(fd)), (j, a, f[j, a], fd)
    np.testing.assert_allclose(f.sum(axis=0), 0.0, atol=1e-9)
    atoms.calc = pot.calculator()
    np.testing.assert_allclose(atoms.get_forces(), f, rtol=0, atol=1e-12)
