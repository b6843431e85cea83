"""The shipped datasets: shapes, units, the ε tensor reshaping, binding energies, integrity."""

from __future__ import annotations

import hashlib
import lzma

import numpy as np
import pytest

import lode_rs
from lode_rs.datasets import SEPARATIONS_PER_DIMER
from lode_rs.datasets.ionic_gas import _place_atoms
from lode_rs.datasets.loaders import packaged

# sha256 of the original files (shared/data READMEs): the shipped copies decompress to them
ORIGINALS = {
    ("water_dielectric_prl2018", "coords_1000.xyz.xz"): (
        "0d0e1de64d5efd3e592a5f12c61c8161f097aaf8ce09ba60248f613580889631"
    ),
    ("bfdb_charge_charge_subset", "charge-charge.xyz.xz"): (
        "9c144f02dc09898605b980a2fe9b24e70fedf6756fc86f782376f16ac37ece4a"
    ),
}


@pytest.mark.parametrize("parts", list(ORIGINALS))
def test_shipped_files_are_the_originals(parts):
    with packaged(*parts).open("rb") as handle:
        data = lzma.decompress(handle.read())
    assert hashlib.sha256(data).hexdigest() == ORIGINALS[parts]
    assert packaged(parts[0], "SOURCE.md").is_file()


@pytest.fixture(scope="module")
def water():
    return lode_rs.datasets.water_dielectric()


def test_water_frames_and_dielectric_tensors(water):
    assert len(water.frames) == 1000 and water.epsilon.shape == (1000, 3, 3)
    first = water.frames[0]
    assert len(first) == 96 and first.get_chemical_formula() == "H64O32"
    assert first.pbc.all()
    # row-major reshaping: the stored e_xy and e_yx sit at [0, 1] and [1, 0]
    stored = np.asarray(first.info["epsilon"], dtype=float)
    assert water.epsilon[0, 0, 1] == stored[1] and water.epsilon[0, 1, 0] == stored[3]
    assert np.abs(water.epsilon - water.epsilon.transpose(0, 2, 1)).max() < 1e-3
    iso = water.isotropic
    # the statistics quoted by the data's README
    assert abs(iso.mean() - 1.8225) < 5e-4 and abs(iso.std() - 0.0463) < 5e-4
    assert 1.68 < iso.min() < 1.69 and 1.95 < iso.max() < 1.96
    sides = np.array([f.cell.lengths()[0] for f in water.frames])
    assert 9.48 < sides.min() and sides.max() < 10.45


def test_water_alpha_is_clausius_mossotti(water):
    """α = (V/32)(ε − 1)(ε + 2)⁻¹ with V in bohr³ (checked in the data's README): a units check.

    The file's α was made with the CODATA 1998 bohr radius (0.529177249 Å): with today's value
    the ratio is off by a uniform 2.2e-7, with this one it holds to 7e-10 (the printed digits).
    1e-8 still catches a wrong unit or a transposed tensor (off-diagonal errors ~1e-3).
    """
    bohr = 0.529177249
    for atoms, eps in zip(water.frames[:20], water.epsilon[:20], strict=True):
        volume = atoms.get_volume() / bohr**3
        expected = volume / 32 * (eps - np.eye(3)) @ np.linalg.inv(eps + 2 * np.eye(3))
        alpha = np.asarray(atoms.info["alpha"], dtype=float).reshape(3, 3)
        np.testing.assert_allclose(alpha, expected, rtol=1e-8)


def test_charged_dimers():
    data = lode_rs.datasets.charged_dimers()
    n = len(data.frames)
    assert n == 130 and data.energy.shape == (n,) and len(data.forces) == n
    assert np.array_equal(np.bincount(data.dimer), [SEPARATIONS_PER_DIMER] * 10)
    assert not any(f.pbc.any() for f in data.frames)
    # binding energies (eV) as documented: −5.22 … −0.94
    assert -5.23 < data.binding_energy.min() < -5.21
    assert -0.95 < data.binding_energy.max() < -0.93
    # separations increase along each curve, by ~0.25 Å
    for d in range(10):
        steps = np.diff(data.distance[data.dimer == d])
        assert np.all(steps > 0) and np.allclose(steps, 0.25, atol=0.05)
    # one cation and one anion per dimer; every dimer is neutral
    assert np.array_equal(np.sort(data.monomer_charges, axis=1), np.tile([-1.0, 1.0], (n, 1)))
    assert all(f.shape == (len(a), 3) for f, a in zip(data.forces, data.frames, strict=True))


def test_dimers_are_finite_systems_for_lode():
    """Isolated molecules go through the real-space route: no vacuum box is involved."""
    data = lode_rs.datasets.charged_dimers()
    calc = lode_rs.LodeExpansion(cutoff=3.0, smearing=1.0, n_max=2, l_max=1)
    values = calc.compute(data.frames[:2]).values
    assert np.isfinite(values).all() and calc.species == [1, 6, 7, 8]


def _plain_sequential_addition(rng, n_atoms, box, min_distance):
    """The reference: every trial tested against every atom placed so far."""
    positions = np.empty((n_atoms, 3))
    placed = 0
    while placed < n_atoms:
        trial = rng.uniform(0.0, box, size=3)
        d = positions[:placed] - trial
        d -= box * np.round(d / box)
        if placed and np.min(np.einsum("ij,ij->i", d, d)) < min_distance**2:
            continue
        positions[placed] = trial
        placed += 1
    return positions


@pytest.mark.parametrize(("n_atoms", "box"), [(64, 12.0), (400, 30.0), (120, 7.4)])
def test_binned_gas_placement_equals_the_full_search(n_atoms, box):
    """The bin search makes the same decisions as the full search: same positions per seed."""
    min_distance = 2.5 if box > 10 else 1.0
    got = _place_atoms(np.random.default_rng(5), n_atoms, box, min_distance)
    expected = _plain_sequential_addition(np.random.default_rng(5), n_atoms, box, min_distance)
    np.testing.assert_array_equal(got, expected)
    d = got[:, None] - got[None]
    d -= box * np.round(d / box)
    r = np.sqrt((d**2).sum(-1)) + np.eye(n_atoms) * box
    assert r.min() >= min_distance


def test_every_shipped_licence_is_declared_in_the_package_metadata():
    """Each data directory states its licence; every licence text shipped with the data is
    matched by ``license-files`` in pyproject.toml (so it lands in the wheel's dist-info), and
    the licence expression names the data's licences besides the code's."""
    tomllib = pytest.importorskip("tomllib")
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    declared = {p for pattern in project["license-files"] for p in root.glob(pattern)}
    assert root / "LICENSE" in declared
    data = root / "python" / "lode_rs" / "data"
    for directory in sorted(p for p in data.iterdir() if p.is_dir()):
        assert "- Licence:" in (directory / "SOURCE.md").read_text(), directory.name
        for text in directory.glob("LICENSE*"):
            assert text in declared, text
    assert (data / "water_dielectric_prl2018" / "LICENSE-LGPL-3.0") in declared
    assert project["license"] == "BSD-3-Clause AND LGPL-3.0-only"
