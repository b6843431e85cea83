"""Coulomb energies of point charges: Ewald summation (periodic) and direct sum (finite)."""

from __future__ import annotations

import ase
import numpy as np
import pytest
from scipy.special import erfc

import lode_rs
from lode_rs import InvalidInputError, InvalidParameterError, System, electrostatic_energy
from lode_rs._lode_rs import ewald_energy

K_E = 14.399645  # eV·Å/e²
# Madelung constants (per ion pair, nearest-neighbour distance), to more digits than the
# usual 1.747565 / 1.762675 so that a 1e-8 comparison is meaningful.
MADELUNG_NACL = 1.747564594633182
MADELUNG_CSCL = 1.762674773070988

# unimodular integer matrix (det 1): the same lattice in a strongly skewed, triclinic cell
UNIMODULAR = np.array([[1, 0, 0], [1, 1, 0], [-1, 1, 1]])


def relative(a, b):
    return abs(a - b) / abs(b)


def rotation(seed):
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def rock_salt_conventional(a):
    fcc = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    scaled = np.concatenate([fcc, fcc + [0.5, 0, 0]])
    atoms = ase.Atoms("Na4Cl4", scaled_positions=scaled % 1, cell=np.eye(3) * a, pbc=True)
    atoms.set_initial_charges([1] * 4 + [-1] * 4)
    return atoms, 4, a / 2


def rock_salt_primitive(a):
    cell = 0.5 * a * np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]])
    atoms = ase.Atoms("NaCl", positions=[[0, 0, 0], [a / 2, 0, 0]], cell=cell, pbc=True)
    atoms.set_initial_charges([1, -1])
    return atoms, 1, a / 2


def cesium_chloride(a):
    atoms = ase.Atoms("CsCl", positions=[[0, 0, 0], [a / 2] * 3], cell=np.eye(3) * a, pbc=True)
    atoms.set_initial_charges([1, -1])
    return atoms, 1, a * np.sqrt(3) / 2


def skewed(atoms, seed=0):
    """The same crystal in a triclinic cell (unimodular transform), rotated."""
    out = atoms.copy()
    out.set_cell(UNIMODULAR @ atoms.cell[:], scale_atoms=False)
    out.wrap()
    rot = rotation(seed)
    out.set_cell(out.cell[:] @ rot.T, scale_atoms=False)
    out.positions = out.positions @ rot.T
    return out


CRYSTALS = {
    "NaCl-conventional": (rock_salt_conventional(5.64), MADELUNG_NACL),
    "NaCl-primitive": (rock_salt_primitive(5.64), MADELUNG_NACL),
    "NaCl-triclinic": ((skewed(rock_salt_primitive(5.64)[0]), 1, 2.82), MADELUNG_NACL),
    "CsCl-cubic": (cesium_chloride(4.11), MADELUNG_CSCL),
    "CsCl-triclinic": (
        (skewed(cesium_chloride(4.11)[0], 1), 1, 4.11 * np.sqrt(3) / 2),
        MADELUNG_CSCL,
    ),
}


@pytest.mark.parametrize("name", CRYSTALS)
def test_madelung_energies(name):
    (atoms, n_pairs, d), madelung = CRYSTALS[name]
    energy = electrostatic_energy(atoms)[0]
    expected = -n_pairs * madelung * K_E / d
    # measured: ≤ 4e-11 relative at the default accuracy 1e-10
    assert relative(energy, expected) < 1e-8, (energy, expected)


def centrosymmetric_unit(seed, n_half=4, side=4.0):
    """A neutral cell content with zero dipole: random charges and their inversion images."""
    rng = np.random.default_rng(seed)
    centre = np.full(3, side / 2)
    x = rng.uniform(-side / 2, side / 2, (n_half, 3))
    q = rng.uniform(-1, 1, n_half)
    q -= q.mean()
    positions = np.concatenate([centre + x, centre - x])
    return positions, np.concatenate([q, q]), np.eye(3) * side


def central_cell_energy(positions, charges, side, m):
    """½ Σ_{i∈cell} q_i Σ'_{j, |n|∞≤m} q_j/|r_j + n L − r_i| (in e²/Å): the energy of the
    central cell in a finite cube of (2m+1)³ copies of the unit, by explicit summation."""
    n = np.arange(-m, m + 1)
    shifts = np.stack(np.meshgrid(n, n, n, indexing="ij"), -1).reshape(-1, 3) * side
    total = 0.0
    for ri, qi in zip(positions, charges, strict=True):
        d = positions[None, :, :] + shifts[:, None, :] - ri
        r = np.sqrt(np.einsum("abk,abk->ab", d, d))
        r[r == 0] = np.inf
        total += qi * np.sum(charges[None, :] / r)
    return 0.5 * total


def test_brute_force_sum_over_a_cube_of_replicas():
    """Why this converges to the Ewald (tinfoil) energy: the unit is neutral and centrosymmetric,
    so its dipole vanishes (no shape-dependent surface term), and in the multipole expansion of
    the potential a cubic shell of copies cancels every odd order and the traceless l = 2 order
    (cubic symmetry); what is left falls off as l = 4, so the central-cell energy converges as
    E(m) = E∞ + c/m² + O(1/m³). We check the 1/m² rate and extrapolate (Richardson, m and 2m):
    the residual O(1/m³) term is measured at 4e-7 relative for m = 12, hence the 1e-6 tolerance.
    """
    positions, charges, cell = centrosymmetric_unit(1)
    system = System(positions, np.ones(len(charges), dtype=int), cell, True, charges)
    reference = electrostatic_energy(system, accuracy=1e-14)[0] / K_E
    e12 = central_cell_energy(positions, charges, cell[0, 0], 12)
    e24 = central_cell_energy(positions, charges, cell[0, 0], 24)
    # the plain sums converge, at the 1/m² rate
    ratio = (e12 - reference) / (e24 - reference)
    assert 3.5 < ratio < 4.5, ratio
    assert relative(e24, reference) < 1e-5
    extrapolated = (4 * e24 - e12) / 3
    assert relative(extrapolated, reference) < 1e-6, (extrapolated, reference)


def random_neutral(seed, n_atoms=20):
    rng = np.random.default_rng(seed)
    cell = np.diag(rng.uniform(6, 8, 3)) + rng.uniform(-1.5, 1.5, (3, 3))
    while True:
        scaled = rng.uniform(0, 1, (n_atoms, 3))
        atoms = ase.Atoms(numbers=[1] * n_atoms, scaled_positions=scaled, cell=cell, pbc=True)
        if np.min(atoms.get_all_distances(mic=True) + 10 * np.eye(n_atoms)) > 0.8:
            break
    q = rng.uniform(-1, 1, n_atoms)
    atoms.set_initial_charges(q - q.mean())
    return atoms


@pytest.mark.parametrize("seed", [0, 1])
def test_invariances(seed):
    atoms = random_neutral(seed)
    reference = electrostatic_energy(atoms)[0]
    rng = np.random.default_rng(100 + seed)

    moved = atoms.copy()
    moved.positions += rng.uniform(-20, 20, 3)
    moved.positions[3] += atoms.cell[1] * 2  # one atom in another image
    assert relative(electrostatic_energy(moved)[0], reference) < 1e-12

    rot = rotation(seed)
    rotated = atoms.copy()
    rotated.set_cell(atoms.cell[:] @ rot.T, scale_atoms=False)
    rotated.positions = atoms.positions @ rot.T
    assert relative(electrostatic_energy(rotated)[0], reference) < 1e-12

    order = rng.permutation(len(atoms))
    assert relative(electrostatic_energy(atoms[order])[0], reference) < 1e-12

    # the energy is extensive: ×8 for a 2×2×2 supercell (different Ewald parameters: the
    # comparison is at the accuracy of the summation)
    supercell = atoms.repeat((2, 2, 2))
    assert relative(electrostatic_energy(supercell)[0], 8 * reference) < 1e-9


def test_charged_cell_is_independent_of_representation():
    """With a net charge the background term enters; the energy per cell stays extensive."""
    atoms = random_neutral(3, 10)
    atoms.set_initial_charges(atoms.get_initial_charges() + 0.2)
    energy = electrostatic_energy(atoms)[0]
    assert relative(electrostatic_energy(atoms.repeat((2, 1, 2)))[0], 4 * energy) < 1e-9
    # one charge in a simple cubic box: E = q² ξ/(2L) with ξ = −2.837297479 (Wigner)
    single = System(np.zeros((1, 3)), [1], np.eye(3) * 5.0, True, np.array([1.0]))
    expected = K_E * -2.83729747948062 / 10.0
    assert relative(electrostatic_energy(single)[0], expected) < 1e-9


def test_finite_system_is_the_pair_sum():
    rng = np.random.default_rng(4)
    positions = rng.uniform(-4, 4, (30, 3))
    charges = rng.uniform(-1, 1, 30)
    cluster = ase.Atoms(numbers=[6] * 30, positions=positions)
    d = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
    i, j = np.triu_indices(30, 1)
    expected = K_E * np.sum(charges[i] * charges[j] / d[i, j])
    energy = electrostatic_energy(cluster, charges=charges)[0]
    assert relative(energy, expected) < 1e-13
    # a cell given with pbc False is ignored
    cluster.cell = np.eye(3) * 2.0
    assert relative(electrostatic_energy(cluster, charges=charges)[0], expected) < 1e-13


def test_accuracy_is_honoured():
    frames = lode_rs.datasets.random_ionic_gas(3, seed=11)
    reference = electrostatic_energy(frames, accuracy=1e-15)
    for accuracy in [1e-4, 1e-6, 1e-8, 1e-10]:
        energies = electrostatic_energy(frames, accuracy=accuracy)
        error = np.max(np.abs(energies - reference) / np.abs(reference))
        assert error < accuracy, (accuracy, error)


def test_threads_give_identical_bits():
    frames = lode_rs.datasets.random_ionic_gas(6, seed=5)
    one = electrostatic_energy(frames, n_threads=1)
    two = electrostatic_energy(frames, n_threads=2)
    assert one.tobytes() == two.tobytes()
    # one larger structure: the parallelism is inside the structure
    big = lode_rs.datasets.random_ionic_gas(1, n_atoms=400, box_range=(30, 30), seed=2)
    one = electrostatic_energy(big, n_threads=1)
    two = electrostatic_energy(big, n_threads=2)
    assert one.tobytes() == two.tobytes()


def test_bad_input():
    atoms = rock_salt_conventional(5.64)[0]
    with pytest.raises(InvalidInputError, match="wires"):
        wire = atoms.copy()
        wire.pbc = [True, False, False]
        electrostatic_energy(wire)
    with pytest.raises(InvalidInputError, match="7 charges for 8 atoms"):
        electrostatic_energy(atoms, charges=np.ones(7))
    with pytest.raises(InvalidInputError, match="not finite"):
        electrostatic_energy(atoms, charges=[np.full(8, np.nan)])
    with pytest.raises(InvalidInputError, match="2 charge arrays for 1 structures"):
        electrostatic_energy(atoms, charges=[np.ones(8), np.ones(8)])
    for pbc in [True, False]:
        overlap = atoms.copy()
        overlap.pbc = pbc
        overlap.positions[1] = overlap.positions[5]
        with pytest.raises(InvalidInputError, match="overlapping"):
            electrostatic_energy(overlap)
    for accuracy in [0.0, 1.5, -1e-3, float("nan")]:
        with pytest.raises(InvalidParameterError, match="accuracy"):
            electrostatic_energy(atoms, accuracy=accuracy)
    # the raw binding: the structure is named
    arrays = lode_rs.systems.as_system_list([atoms, atoms])
    with pytest.raises(InvalidInputError, match="structure 1"):
        ewald_energy(arrays, [np.ones(8), np.ones(3)])


def numpy_ewald(positions, charges, side, eta=2.0, s=5.5):
    """Textbook Ewald sum for a neutral cubic cell (e²/Å), width eta, cutoffs √2 eta s, √2 s/eta:
    an independent check of the core (units, constants, k-vector and image enumeration)."""
    r_cut, k_cut = np.sqrt(2) * eta * s, np.sqrt(2) * s / eta
    m = int(np.ceil(r_cut / side)) + 1
    n = np.arange(-m, m + 1)
    images = np.stack(np.meshgrid(n, n, n, indexing="ij"), -1).reshape(-1, 3) * side
    real = 0.0
    for ri, qi in zip(positions, charges, strict=True):
        d = positions[None, :, :] + images[:, None, :] - ri
        r = np.sqrt(np.einsum("abk,abk->ab", d, d))
        mask = (r > 0) & (r < r_cut)
        r = np.where(mask, r, 1.0)
        real += (
            0.5
            * qi
            * np.sum(np.where(mask, charges[None, :] * erfc(r / (np.sqrt(2) * eta)) / r, 0))
        )
    h = int(k_cut * side / (2 * np.pi)) + 1
    n = np.arange(-h, h + 1)
    k = np.stack(np.meshgrid(n, n, n, indexing="ij"), -1).reshape(-1, 3) * (2 * np.pi / side)
    k2 = np.einsum("ak,ak->a", k, k)
    k, k2 = k[(k2 > 0) & (k2 < k_cut**2)], k2[(k2 > 0) & (k2 < k_cut**2)]
    structure = np.exp(1j * positions @ k.T).T @ charges
    recip = 2 * np.pi / side**3 * np.sum(np.exp(-0.5 * eta**2 * k2) / k2 * np.abs(structure) ** 2)
    return real + recip - np.sum(charges**2) / (np.sqrt(2 * np.pi) * eta)


def test_point_charges_dataset(tmp_path, monkeypatch):
    frames, energies = lode_rs.datasets.point_charges(n_structures=5, seed=3, cache_dir=tmp_path)
    assert len(frames) == 5 and energies.shape == (5,) and energies.dtype == np.float64
    for atoms in frames:
        assert len(atoms) == 64 and atoms.pbc.all()
        assert sorted(np.bincount(atoms.numbers)[[11, 17]]) == [32, 32]
        q = atoms.get_initial_charges()
        assert np.all(q[atoms.numbers == 11] == 1) and np.all(q[atoms.numbers == 17] == -1)
        assert q.sum() == 0
        cell = atoms.cell[:]
        side = cell[0, 0]
        assert np.allclose(cell, np.eye(3) * side) and 12 <= side <= 20
        d = atoms.get_all_distances(mic=True) + 100 * np.eye(64)
        assert d.min() >= 2.5
    # energies in eV: those of the Ewald summation, and of an independent numpy Ewald sum
    assert np.array_equal(energies, electrostatic_energy(frames))
    atoms = frames[0]
    expected = K_E * numpy_ewald(atoms.positions, atoms.get_initial_charges(), atoms.cell[0, 0])
    assert relative(energies[0], expected) < 1e-9, (energies[0], expected)

    # deterministic for a seed, and the cache is reused (no new computation)
    files = list(tmp_path.glob("*.npz"))
    assert len(files) == 1
    stamp = files[0].stat().st_mtime_ns

    def fail(*args, **kwargs):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(lode_rs.electrostatics, "electrostatic_energy", fail)
    again, cached = lode_rs.datasets.point_charges(n_structures=5, seed=3, cache_dir=tmp_path)
    assert np.array_equal(cached, energies) and files[0].stat().st_mtime_ns == stamp
    assert np.array_equal(again[2].positions, frames[2].positions)
    assert np.array_equal(again[2].get_initial_charges(), frames[2].get_initial_charges())
    monkeypatch.undo()

    # a cache file made with other parameters is regenerated
    with np.load(files[0]) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["parameters"] = np.array(
        str(arrays["parameters"]).replace('"min_distance": 2.5', '"min_distance": 2.0')
    )
    arrays["energies"] = arrays["energies"] + 1.0
    np.savez_compressed(files[0], **arrays)
    _, regenerated = lode_rs.datasets.point_charges(n_structures=5, seed=3, cache_dir=tmp_path)
    assert np.array_equal(regenerated, energies)
    _, reloaded = lode_rs.datasets.point_charges(n_structures=5, seed=3, cache_dir=tmp_path)
    assert np.array_equal(reloaded, energies)

    # the default directory comes from $LODE_RS_CACHE; another seed gives other structures
    monkeypatch.setenv("LODE_RS_CACHE", str(tmp_path / "env"))
    _, other = lode_rs.datasets.point_charges(n_structures=5, seed=4)
    assert (tmp_path / "env" / "point_charges-n5-seed4.npz").exists()
    assert not np.array_equal(other, energies)


def test_coulomb_constant_is_the_one_the_core_uses():
    """``lode_rs.constants.COULOMB_CONSTANT`` is e²/(4πε₀) (CODATA 2018, to its 7 printed
    digits: 3e-8 relative) and the factor of the computed energies: +1 e and −1 e at 2 Å."""
    from lode_rs.constants import COULOMB_CONSTANT

    e, epsilon0 = 1.602176634e-19, 8.8541878128e-12  # C, F/m
    codata = e / (4 * np.pi * epsilon0) * 1e10  # eV·Å/e²
    assert abs(COULOMB_CONSTANT / codata - 1) < 1e-7
    pair = ase.Atoms("NaCl", positions=[[0, 0, 0], [0, 0, 2.0]])
    energy = electrostatic_energy(pair, charges=[1.0, -1.0])[0]
    assert energy == pytest.approx(-COULOMB_CONSTANT / 2.0, rel=1e-14)
