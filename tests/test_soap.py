"""SOAP expansions and power spectra: symmetries, threads, layouts, bad input."""

from __future__ import annotations

import ase
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

import lode_rs
from helpers import random_cluster, random_periodic

HYPERS = dict(cutoff=3.5, smearing=0.4, n_max=5, l_max=5)
# invariants are computed from O(30) summed terms of magnitude <= 1; 1e-10 relative leaves
# ample room above rounding (~1e-14) while catching any real symmetry breaking (>> 1e-6).
RTOL = 1e-10


def power_spectrum(frames, **kw):
    soap = lode_rs.SoapExpansion(**{**HYPERS, "species": [1, 6, 8], **kw})
    return lode_rs.PowerSpectrum(soap).compute(frames)


def assert_close(a, b, rtol=RTOL):
    scale = np.max(np.abs(a))
    np.testing.assert_allclose(a, b, rtol=0, atol=rtol * scale)


def rotated(atoms: ase.Atoms, matrix: np.ndarray) -> ase.Atoms:
    out = atoms.copy()
    out.positions = atoms.positions @ matrix.T
    if atoms.pbc.any():
        out.cell = atoms.cell[:] @ matrix.T
    return out


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("kind", ["periodic", "cluster"])
def test_rotation_inversion_translation(seed, kind):
    atoms = random_periodic(seed, species=(1, 8)) if kind == "periodic" else random_cluster(seed)
    reference = power_spectrum(atoms).values
    rotation = Rotation.random(random_state=seed).as_matrix()
    assert_close(power_spectrum(rotated(atoms, rotation)).values, reference)
    assert_close(power_spectrum(rotated(atoms, -np.eye(3))).values, reference)
    moved = atoms.copy()
    moved.positions += np.array([0.37, -1.91, 12.3])
    assert_close(power_spectrum(moved).values, reference)


def test_rotation_covariance_of_l1_coefficients():
    """c_1m rotates as a vector: Y_{1,(-1,0,1)} ∝ (y, z, x)."""
    atoms = random_cluster(4)
    soap = lode_rs.SoapExpansion(**HYPERS, species=[1, 6, 8])
    rotation = Rotation.random(random_state=7).as_matrix()
    c = soap.compute(atoms).block(1)[..., [2, 0, 1]]  # reorder (y, z, x) -> (x, y, z)
    c_rot = soap.compute(rotated(atoms, rotation)).block(1)[..., [2, 0, 1]]
    assert_close(c_rot, c @ rotation.T)


@pytest.mark.parametrize("kind", ["periodic", "cluster"])
def test_permutation(kind):
    atoms = random_periodic(1) if kind == "periodic" else random_cluster(1)
    reference = power_spectrum(atoms).values
    order = np.random.default_rng(0).permutation(len(atoms))
    assert_close(power_spectrum(atoms[order]).values, reference[order])


@pytest.mark.parametrize("seed", range(2))
def test_supercell(seed):
    atoms = random_periodic(seed, n_atoms=6)
    reference = power_spectrum(atoms).values
    supercell = atoms.repeat((2, 2, 1))
    values = power_spectrum(supercell).values
    n = len(atoms)
    for copy in range(4):
        assert_close(values[copy * n : (copy + 1) * n], reference)


def test_small_cell_with_long_cutoff():
    """A cutoff over twice the cell: many images of each neighbour, same answer as a supercell."""
    atoms = random_periodic(5, n_atoms=3)
    atoms.set_cell(atoms.cell[:] * 0.5, scale_atoms=True)
    reference = power_spectrum(atoms, cutoff=4.0).values
    values = power_spectrum(atoms.repeat((2, 1, 3)), cutoff=4.0).values
    assert_close(values[: len(atoms)], reference)


def test_threads_give_identical_results():
    frames = [random_periodic(s, n_atoms=20) for s in range(6)]
    soap1 = lode_rs.SoapExpansion(**HYPERS, species=[1, 8], n_threads=1)
    soap2 = lode_rs.SoapExpansion(**HYPERS, species=[1, 8], n_threads=2)
    np.testing.assert_array_equal(
        lode_rs.PowerSpectrum(soap1).compute(frames).values,
        lode_rs.PowerSpectrum(soap2).compute(frames).values,
    )


def test_layout_labels_and_structure_sums(periodic_frames):
    soap = lode_rs.SoapExpansion(**HYPERS)
    c = soap.compute(periodic_frames)
    assert soap.species == [1, 8]
    n_atoms = sum(len(f) for f in periodic_frames)
    assert c.values.shape == (n_atoms, 2, 5, 36)
    # zero copy: the buffer is the one Rust allocated (numpy does not own it)
    assert c.values.flags["C_CONTIGUOUS"] and not c.values.flags["OWNDATA"]
    ps = lode_rs.PowerSpectrum(soap).compute(periodic_frames)
    # folded: a <= b, and n <= n' when a == b
    n_features = (5 * 5 + 2 * 15) * 6
    assert ps.values.shape == (n_atoms, n_features)
    assert ps.labels.shape == (n_features, 5)
    assert ps.label_names == ("species_a", "species_b", "n", "n'", "l")
    assert np.all(ps.labels[:, 0] <= ps.labels[:, 1])
    sums = ps.sum_by_structure()
    for s in range(len(periodic_frames)):
        np.testing.assert_allclose(sums[s], ps.values[ps.structure == s].sum(axis=0))
    np.testing.assert_allclose(ps.mean_by_structure()[0], ps.values[ps.structure == 0].mean(axis=0))
    # the l = 0 power spectrum of a single channel is the square of the radial spectrum
    radial = lode_rs.invariants.radial(soap, periodic_frames)
    assert radial.values.shape == (n_atoms, 10)
    first = (ps.labels[:, 0] == 1) & (ps.labels[:, 1] == 1) & (ps.labels[:, 2] == 0)
    first &= (ps.labels[:, 3] == 0) & (ps.labels[:, 4] == 0)
    np.testing.assert_allclose(ps.values[:, first][:, 0], radial.values[:, 0] ** 2)


def test_mixed_power_spectrum_of_two_expansions(periodic_frames):
    a = lode_rs.SoapExpansion(cutoff=3.0, smearing=0.3, n_max=3, l_max=4, species=[1, 8])
    b = lode_rs.SoapExpansion(cutoff=5.0, smearing=0.8, n_max=2, l_max=2, species=[1, 8])
    ps = lode_rs.PowerSpectrum(a, b).compute(periodic_frames)
    assert ps.values.shape[1] == 2 * 2 * 3 * 2 * 3  # species², n, n', l <= min(l_max)
    ca, cb = a.compute(periodic_frames).values, b.compute(periodic_frames).values
    expected = np.einsum("im,im->i", ca[:, 1, 2, 1:4], cb[:, 0, 1, 1:4]) / np.sqrt(3)
    column = np.flatnonzero((ps.labels == [8, 1, 2, 1, 1]).all(axis=1))[0]
    np.testing.assert_allclose(ps.values[:, column], expected, rtol=1e-13)


def test_species_fixed_from_first_data():
    soap = lode_rs.SoapExpansion(**HYPERS)
    soap.compute(random_cluster(0, species=(1, 8)))
    assert soap.species == [1, 8]
    with pytest.raises(lode_rs.InvalidParameterError, match="species 6"):
        soap.compute(random_cluster(0, species=(1, 6)))


def test_raw_arrays_are_accepted():
    atoms = random_periodic(2)
    raw = lode_rs.System(atoms.positions, atoms.numbers, atoms.cell[:], True)
    np.testing.assert_array_equal(power_spectrum(raw).values, power_spectrum(atoms).values)


def test_atoms_outside_the_cell_are_wrapped():
    atoms = random_periodic(3)
    moved = atoms.copy()
    moved.positions += atoms.cell[:].T @ np.array([2, -1, 3])
    assert_close(power_spectrum(moved).values, power_spectrum(atoms).values)


class TestBadInput:
    def test_nan_and_inf_positions(self):
        atoms = random_cluster(0)
        atoms.positions[2, 1] = np.nan
        with pytest.raises(lode_rs.InvalidInputError, match="not finite"):
            power_spectrum(atoms)
        atoms.positions[2, 1] = np.inf
        with pytest.raises(lode_rs.InvalidInputError, match="not finite"):
            power_spectrum(atoms)

    def test_degenerate_cell(self):
        atoms = random_periodic(0)
        atoms.cell[2] = atoms.cell[0] + atoms.cell[1]
        with pytest.raises(lode_rs.InvalidInputError, match="degenerate"):
            power_spectrum(atoms)

    @pytest.mark.parametrize(
        "kw, match",
        [
            (dict(cutoff=0.0), "cutoff"),
            (dict(cutoff=-1.0), "cutoff"),
            (dict(cutoff=float("nan")), "cutoff"),
            (dict(smearing=0.0), "smearing"),
            (dict(n_max=0), "n_max"),
            (dict(l_max=-1), "l_max"),
            (dict(l_max=21), "l_max"),
            (dict(n_max=-3), "n_max"),
            (dict(cutoff_width=5.0), "cutoff_width"),
        ],
    )
    def test_bad_hyperparameters(self, kw, match):
        with pytest.raises(lode_rs.InvalidParameterError, match=match):
            lode_rs.SoapExpansion(**{**HYPERS, **kw})

    def test_unknown_species(self):
        with pytest.raises(lode_rs.InvalidParameterError, match="species 8"):
            power_spectrum(random_cluster(0, species=(1, 8)), species=[1, 6])

    def test_overlapping_atoms(self):
        atoms = random_cluster(0)
        atoms.positions[3] = atoms.positions[1]
        with pytest.raises(lode_rs.InvalidInputError, match="overlap"):
            power_spectrum(atoms)

    def test_empty_structure(self):
        with pytest.raises(lode_rs.InvalidInputError, match="empty"):
            power_spectrum(ase.Atoms())
        with pytest.raises(lode_rs.InvalidInputError, match="no structures"):
            power_spectrum([])

    def test_not_a_structure(self):
        with pytest.raises(lode_rs.InvalidInputError, match="cannot read"):
            power_spectrum([object()])
