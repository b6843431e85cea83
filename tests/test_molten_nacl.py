"""The molten-NaCl experiment: its MD analysis (RDFs, drift) on closed forms, and the quick run
of ``lode-rs reproduce molten-nacl`` end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lode_rs.datasets import nacl
from lode_rs.experiments import molten_nacl_md as md


def test_rdf_of_the_rock_salt_lattice_has_its_shells_at_the_right_distances():
    """Na–Cl neighbours at a, 3^½ a, ...; like ions at 2^½ a, 2a, ... (a the ion spacing),
    with 6 unlike and 12 like first neighbours: the integral of ρ_b g_ab 4πr² dr over a peak is
    its coordination number (bins' exact shell volumes)."""
    atoms = nacl.rock_salt(3, 2.0)
    side = atoms.cell[0, 0]
    a = side / 6
    r, g = md.rdf(atoms.positions[None], atoms.numbers, side, n_bins=300)
    dr = r[1] - r[0]
    shell = 4 / 3 * np.pi * ((r + dr / 2) ** 3 - (r - dr / 2) ** 3)
    for k, shells in [(1, [(a, 6), (np.sqrt(3) * a, 8)]), (0, [(np.sqrt(2) * a, 12), (2 * a, 6)])]:
        density_b = (108 - (k != 1)) / side**3  # N_b − δ_ab other ions per volume
        for distance, count in shells:
            window = np.abs(r - distance) < 2 * dr
            assert np.sum(g[k][window] * density_b * shell[window]) == pytest.approx(count, 1e-9)
        # nothing between the shells
        assert np.all(g[k][(r > 0.2 * a) & (r < 0.9 * a)] == 0)
    assert np.array_equal(g[0], g[2])  # Na and Cl sublattices are the same lattice


def test_rdf_of_uniform_random_points_is_one():
    rng = np.random.default_rng(0)
    side = 10.0
    positions = rng.uniform(0, side, (200, 64, 3))
    numbers = np.repeat([11, 17], 32)
    r, g = md.rdf(positions, numbers, side, n_bins=10)
    # 200 frames × ~1000 pairs per pair type: a few % noise in the outer bins
    assert np.all(np.abs(g[:, 3:] - 1) < 0.06)
    assert md.rdf_difference(g, g).tolist() == [0.0, 0.0, 0.0]


def test_drift_is_the_slope_per_atom():
    t = np.linspace(0, 2000, 101)  # fs
    total = 64 * (1e-3 * (0.5 * t * 1e-3 + 0.01 * np.sin(t)))  # eV: 0.5 meV/atom/ps
    slope, fluctuation = md.drift(t, total, 64)
    assert slope == pytest.approx(0.5, abs=2e-3)
    assert fluctuation == pytest.approx(0.01 / np.sqrt(2), rel=0.05)


def test_quick_reproduce_runs_end_to_end(tmp_path):
    pytest.importorskip("openmm", reason="the NaCl data need OpenMM: pip install .[datasets]")
    from lode_rs.cli import main

    out = tmp_path / "out"
    argv = ["reproduce", "molten-nacl", "--quick", "--out", str(out), "--cache", str(tmp_path)]
    assert main([*argv, "--threads", "1"]) == 0
    results = json.loads((out / "molten_nacl.json").read_text())
    names = {row["features"] for row in results["rows"]}
    assert names == {"SOAP 4 Å", "SOAP 6 Å", "SOAP 4 Å + LODE", "SOAP 6 Å + LODE"}
    for row in results["rows"]:
        assert np.isfinite(row["energy_rmse_mev"]) and 0 < row["force_rmse_percent"] < 200
    runs = results["md"]["runs"]
    assert set(runs) == names | {"reference (OpenMM)"}
    assert results["md"]["n_atoms"] == 216 > results["n_atoms_train"] == 64
    for run in runs.values():
        assert run["stable"] and len(run["time"]) >= 2
    assert (out / "molten_nacl.png").stat().st_size > 10_000
    assert "| SOAP 4 Å + LODE |" in (out / "molten_nacl.md").read_text()
