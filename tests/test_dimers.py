"""Charged dimers: the GFN2-xTB generator, the shipped stand-in set, its loader and cache, grouped
cross-validation, and the reduced end-to-end binding-curve experiment with its CLI."""

from __future__ import annotations

import importlib.metadata
import json

import numpy as np
import pytest

import lode_rs
from lode_rs.cli import main
from lode_rs.datasets import dimer_generator as generator
from lode_rs.datasets.loaders import packaged
from lode_rs.experiments import dimers as experiment
from lode_rs.models import kfold_indices


def _needs_generator():
    pytest.importorskip("rdkit", reason="the dimer generator needs rdkit: pip install .[datasets]")
    pytest.importorskip(
        "tblite", reason="the dimer generator needs tblite: pip install .[datasets]"
    )


# ---- loaders -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped():
    return lode_rs.datasets.xtb_dimers()


def test_shipped_xtb_dimers_layout(shipped):
    data = shipped
    n = len(data.frames)
    assert data.n_dimers >= 500 and n == 13 * data.n_dimers
    np.testing.assert_array_equal(data.dimer, np.repeat(np.arange(data.n_dimers), 13))
    np.testing.assert_allclose(
        data.binding_energy, data.energy - data.monomer_energies.sum(axis=1), atol=1e-12
    )
    assert np.all(np.any(data.monomer_charges != 0, axis=1)), "a dimer without an ion"
    steps = np.diff(data.distance.reshape(-1, 13), axis=1)
    np.testing.assert_allclose(steps, 0.3, atol=1e-6)
    for i in (0, 14, n - 1):
        atoms = data.frames[i]
        assert not atoms.pbc.any()
        a, b = data.monomers(i)
        assert len(a) == data.n_atoms_a[i] and len(a) + len(b) == len(atoms)
        masses = atoms.get_masses()
        com = [
            m @ p / m.sum()
            for m, p in ((masses[: len(a)], a.positions), (masses[len(a) :], b.positions))
        ]
        assert np.linalg.norm(com[1] - com[0]) == pytest.approx(data.distance[i], abs=1e-6)
    # ion pairs of opposite sign bind, at the farthest point within 40 % of Coulomb's law
    far = np.arange(12, n, 13)
    product = data.monomer_charges[far].prod(axis=1)
    coulomb = 14.399645 * product / data.distance[far]
    opposite = product < 0
    ratio = data.binding_energy[far][opposite] / coulomb[opposite]
    assert np.all(ratio > 0.6) and np.all(ratio < 1.6)
    first = lode_rs.datasets.xtb_dimers(3)
    assert first.n_dimers == 3
    np.testing.assert_array_equal(first.energy, data.energy[:39])
    with pytest.raises(lode_rs.InvalidParameterError):
        lode_rs.datasets.xtb_dimers(0)


def test_bfdb_monomer_split():
    data = lode_rs.datasets.charged_dimers()
    assert data.n_dimers == 10
    a, b = data.monomers(12)
    assert len(a) + len(b) == len(data.frames[12])
    # A is a whole molecule: its closest atom in B is beyond covalent bonding distance
    d = np.linalg.norm(a.positions[:, None] - b.positions[None], axis=2)
    assert d.min() > 1.5
    sub = data.select([3, 1])
    assert sub.n_dimers == 2
    np.testing.assert_array_equal(sub.energy[:13], data.energy[39:52])


# ---- generator --------------------------------------------------------------------------------


def test_contact_distance_is_where_the_closest_pair_touches():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 3)), rng.normal(size=(4, 3))
    za, zb = np.array([1, 6, 7, 8, 1]), np.array([8, 1, 1, 6])
    u = rng.normal(size=3)
    u /= np.linalg.norm(u)
    d0 = generator.contact_distance(a, za, b, zb, u, 0.8)
    radii = np.array([generator.VDW_RADII[z] for z in np.r_[za, zb]])
    limit = 0.8 * (radii[:5, None] + radii[None, 5:])

    def ratio(d):
        r = np.linalg.norm(a[:, None] - (b[None] + d * u), axis=2)
        return (r / limit).min()

    assert ratio(d0) == pytest.approx(1.0, abs=1e-9)
    assert all(ratio(d) >= 1.0 - 1e-12 for d in d0 + np.linspace(0, 5, 51))
    assert ratio(d0 - 1e-3) < 1.0


def test_generator_on_a_tiny_dimer():
    _needs_generator()
    library = [
        generator.embed_monomer("ammonium", "[NH4+]"),
        generator.embed_monomer("water", "O"),
    ]
    settings = generator.Settings(seed=3)
    dimer = generator.build_dimer(1, library, settings)
    again = generator.build_dimer(1, library, settings)
    np.testing.assert_array_equal(dimer.positions(4), again.positions(4))
    assert dimer.charge_a == 1
    generator.compute_energies(dimer)
    binding = dimer.energy - dimer.energy_a - dimer.energy_b
    assert np.all(np.isfinite(binding)) and np.all(np.abs(dimer.transfer) <= 0.1)
    # a cation and a polar molecule: bound by at most ~1 eV, decaying with distance
    assert abs(binding).max() < 1.5 and abs(binding[-1]) < abs(binding).max()
    # the isolated monomer's energy does not depend on its random orientation
    reference, _ = generator.xtb_energy(library[0].numbers, library[0].positions, 1)
    assert dimer.energy_a == pytest.approx(reference, abs=1e-6)
    # forces of every curve point, −∂E/∂r by central differences of the xTB energy (h = 1e-3 Å:
    # truncation ~h² × third derivative ≲ 1e-5 eV/Å, SCF noise ≲ 1e-5 eV/Å; tolerance 1e-3 eV/Å
    # against forces of ~1 eV/Å catches a sign, unit (Hartree/Bohr) or ordering error)
    n = len(dimer.numbers)
    assert dimer.forces.shape == (13, n, 3)
    positions = dimer.positions(2)
    h = 1e-3
    for atom, axis in [(0, 0), (n - 1, 2)]:
        energies = []
        for sign in (1, -1):
            moved = positions.copy()
            moved[atom, axis] += sign * h
            energies.append(generator.xtb_energy(dimer.numbers, moved, 1)[0])
        fd = -(energies[0] - energies[1]) / (2 * h)
        assert dimer.forces[2][atom, axis] == pytest.approx(fd, abs=1e-3)
    assert np.abs(dimer.forces).max() > 0.1


def test_shipped_energies_match_the_generator(shipped):
    """GFN2-xTB on the shipped geometries gives the shipped energies; with the RDKit version that
    made the file, the geometries themselves are regenerated too."""
    _needs_generator()
    dimers, description = generator.load(packaged(*lode_rs.datasets.XTB_DIMERS_FILE))
    for d in dimers[:2]:
        for k in (0, 12):
            numbers, positions = d.numbers, d.positions(k)
            energy, _ = generator.xtb_energy(numbers, positions, d.charge_a + d.charge_b)
            assert energy == pytest.approx(d.energy[k], abs=1e-5)
    if importlib.metadata.version("rdkit") == description["versions"]["rdkit"]:
        settings = generator.Settings(seed=description["settings"]["seed"])
        library = generator.monomer_library(settings.embed_seed)
        for d in dimers[:3]:
            built = generator.build_dimer(d.index, library, settings)
            np.testing.assert_allclose(built.positions(7), d.positions(7), atol=1e-6)


def test_generated_set_is_cached(tmp_path, monkeypatch):
    _needs_generator()
    first = lode_rs.datasets.xtb_dimers(2, source="generate", n_processes=1, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("xtb_dimers-*.xyz.xz"))) == 1

    def fail(*args, **kwargs):
        raise AssertionError("regenerated although cached")

    monkeypatch.setattr(generator, "generate", fail)
    again = lode_rs.datasets.xtb_dimers(2, source="generate", cache_dir=tmp_path)
    np.testing.assert_allclose(again.energy, first.energy, atol=1e-9)
    with pytest.raises(AssertionError, match="regenerated"):
        lode_rs.datasets.xtb_dimers(2, source="generate", seed=1, cache_dir=tmp_path)


# ---- grouped cross-validation -------------------------------------------------------------------


def test_grouped_folds_never_split_a_group():
    groups = np.repeat(np.arange(7), 13)
    folds = kfold_indices(groups.size, 3, seed=0, groups=groups)
    seen = np.concatenate([test for _, test in folds])
    np.testing.assert_array_equal(np.sort(seen), np.arange(groups.size))
    for train, test in folds:
        assert not set(groups[train]) & set(groups[test])
    with pytest.raises(lode_rs.InvalidParameterError, match="groups"):
        kfold_indices(groups.size, 8, seed=0, groups=groups)


# ---- the experiment -----------------------------------------------------------------------------


def test_structures_combination_gives_binding_energies():
    data = lode_rs.datasets.charged_dimers().select([0, 1])
    frames, combination = experiment.structures(data)
    assert len(frames) == 26 + 4
    energies = np.r_[data.energy, data.monomer_energies[[0, 13], :].reshape(-1)]
    np.testing.assert_allclose(combination @ energies, data.binding_energy, atol=1e-9)


def test_quick_run_end_to_end(tmp_path):
    summary = experiment.run(tmp_path, quick=True)
    for name in ("dimers.png", "dimers.parity.png", "dimers.md", "dimers.json"):
        assert (tmp_path / name).stat().st_size > 0
    stored = json.loads((tmp_path / "dimers.json").read_text())
    assert set(stored["models"]) == set(experiment.MODELS)
    errors = {k: v["rmse_percent"] for k, v in summary["models"].items()}
    # even the reduced run shows it: SOAP cannot see beyond 3 Å, LODE can
    assert errors["SOAP + LODE ν=2"] < 0.6 * errors["SOAP"]
    tail = {k: v["tail_change_captured"] for k, v in summary["models"].items()}
    assert abs(tail["SOAP"]) < 0.2 and tail["SOAP + LODE ν=2"] > 0.5
    assert "| SOAP + LODE ν=2 |" in (tmp_path / "dimers.md").read_text()


def test_cli_reproduce_dimers_on_the_public_dimers(tmp_path, capsys):
    assert main(["reproduce", "dimers", "--quick", "--data", "bfdb", "--out", str(tmp_path)]) == 0
    assert "SOAP + LODE ν=1" in capsys.readouterr().out
    assert (tmp_path / "dimers.png").exists()


def test_dimers_forces_frames_and_binding_forces(tmp_path):
    # the plumbing of the dimers-with-forces experiment on a synthetic dimer (no xTB): frames
    # carry the curve's energies and forces and the monomers' own, charges spread per monomer;
    # binding forces are F(AB) − F(A) ⊕ F(B) and the intermolecular force sums them over B
    from lode_rs.experiments import dimers_forces

    rng = np.random.default_rng(0)
    n_a, n_b, n_sep = 2, 3, 13
    dimer = generator.Dimer(
        index=0,
        name_a="a",
        name_b="b",
        numbers_a=np.array([7, 1]),
        numbers_b=np.array([8, 1, 1]),
        positions_a=rng.standard_normal((n_a, 3)),
        positions_b=rng.standard_normal((n_b, 3)) + [4.0, 0, 0],
        charge_a=1,
        charge_b=-1,
        direction=np.array([1.0, 0, 0]),
        separations=4.0 + 0.3 * np.arange(n_sep),
        energy=rng.standard_normal(n_sep),
        energy_a=-1.0,
        energy_b=-2.0,
        transfer=np.zeros(n_sep),
        forces=rng.standard_normal((n_sep, n_a + n_b, 3)),
        monomer_forces=rng.standard_normal((n_a + n_b, 3)),
    )
    curve, (a, b) = dimers_forces.frames_of(dimer)
    assert len(curve) == n_sep and len(a) == n_a and len(b) == n_b
    np.testing.assert_array_equal(curve[5].positions, dimer.positions(5))
    np.testing.assert_array_equal(curve[5].arrays["forces"], dimer.forces[5])
    np.testing.assert_array_equal(b.positions, dimer.positions_b)
    assert curve[5].info["energy"] == dimer.energy[5] and b.info["energy"] == -2.0
    np.testing.assert_allclose(curve[0].get_initial_charges(), [0.5, 0.5, -1 / 3, -1 / 3, -1 / 3])
    np.testing.assert_allclose(b.get_initial_charges(), [-1 / 3] * 3)
    per_sep, inter = dimers_forces._binding([dimer], lambda fs: [f.arrays["forces"] for f in fs])
    expected = dimer.forces[7] - dimer.monomer_forces
    np.testing.assert_allclose(per_sep[7], expected)
    np.testing.assert_allclose(inter[0, 7], expected[n_a:].sum(axis=0))
    # the stored file keeps the forces (extxyz info arrays, full precision)
    generator.save(tmp_path / "d.xyz.xz", [dimer], {"settings": {}})
    (loaded,), _ = generator.load(tmp_path / "d.xyz.xz")
    np.testing.assert_array_equal(loaded.forces, dimer.forces)
    np.testing.assert_array_equal(loaded.monomer_forces, dimer.monomer_forces)
