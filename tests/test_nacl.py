"""The molten-NaCl reference (Tosi–Fumi + Ewald in OpenMM) and its data generator.

OpenMM's two terms are checked separately against independent evaluations: the Coulomb term
against ``lode_rs.electrostatic_energy`` (the Rust Ewald sum), the short range against the numpy
pair sum of ``nacl_reference.short_range`` (ASE's neighbour list). Tolerances:

- Reference platform (double precision): short range to 1e-9 relative (same formula, both in
  double); Coulomb energy to 1e-6 relative and forces to 1e-5 of the RMS force (OpenMM's Ewald
  tolerance is 1e-6, and its Coulomb constant differs from the core's in the 8th digit).
- CPU platform (single-precision pair kernels): 1e-5 relative for energies, 1e-4 of the RMS
  force for forces.

A sign or factor error in any term changes energies by O(1) relative, far outside these.
"""

from __future__ import annotations

import numpy as np
import pytest

import lode_rs
from lode_rs.datasets import nacl
from lode_rs.datasets.nacl_reference import TosiFumi, short_range
from lode_rs.errors import InvalidParameterError

openmm = pytest.importorskip(
    "openmm", reason="the NaCl engine needs OpenMM: pip install .[datasets]"
)

from lode_rs.datasets.nacl_engine import (  # noqa: E402
    COULOMB_GROUP,
    SHORT_RANGE_GROUP,
    Engine,
)

#: the Madelung constant of rock salt
MADELUNG = 1.7475645946331822


def _disordered_box(seed: int = 0):
    """64 ions in an orthorhombic box (three different sides), displaced from the lattice."""
    atoms = nacl.rock_salt(2, 1.5)
    atoms.set_cell(np.diag([12.4, 13.1, 13.9]) * atoms.cell[0, 0] / 12.8, scale_atoms=True)
    atoms.positions += np.random.default_rng(seed).normal(0.0, 0.35, (len(atoms), 3))
    atoms.wrap()
    return atoms


def _independent(atoms):
    e_sr, f_sr = short_range(atoms)
    e_c, f_c, _ = lode_rs.electrostatic_energy(atoms, forces=True)
    return (float(e_c[0]), f_c[0]), (e_sr, f_sr)


def _openmm_terms(atoms, platform):
    engine = Engine(atoms.numbers, atoms.cell[:], platform=platform)
    engine.set_positions(atoms.positions)
    coulomb = engine.state({COULOMB_GROUP})
    short = engine.state({SHORT_RANGE_GROUP})
    total = engine.state()
    return (coulomb["energy"], coulomb["forces"]), (short["energy"], short["forces"]), total


@pytest.mark.parametrize(
    ("platform", "energy_rtol", "coulomb_ftol", "short_rtol", "short_ftol"),
    [("Reference", 1e-6, 1e-5, 1e-9, 1e-9), ("CPU", 1e-5, 1e-4, 1e-5, 1e-4)],
)
def test_openmm_terms_equal_independent_evaluation(
    platform, energy_rtol, coulomb_ftol, short_rtol, short_ftol
):
    atoms = _disordered_box()
    (e_c, f_c), (e_sr, f_sr) = _independent(atoms)
    (o_c, of_c), (o_sr, of_sr), total = _openmm_terms(atoms, platform)
    rms = np.sqrt(np.mean((f_c + f_sr) ** 2))
    assert abs(e_sr) > 1.0 and rms > 0.5  # the configuration probes both terms
    assert o_c == pytest.approx(e_c, rel=energy_rtol)
    assert np.max(np.abs(of_c - f_c)) < coulomb_ftol * rms
    assert o_sr == pytest.approx(e_sr, rel=short_rtol)
    assert np.max(np.abs(of_sr - f_sr)) < short_ftol * rms
    assert total["energy"] == pytest.approx(e_c + e_sr, rel=energy_rtol)
    assert np.max(np.abs(total["forces"] - f_c - f_sr)) < coulomb_ftol * rms


def test_openmm_coulomb_of_the_lattice_is_the_madelung_energy():
    """Perfect rock salt: E = −N/2 · α k_e / r₀ (closed form), forces zero by symmetry."""
    atoms = nacl.rock_salt(2, 1.5)
    r0 = atoms.cell[0, 0] / 4
    (o_c, of_c), _, _ = _openmm_terms(atoms, "Reference")
    expected = -len(atoms) / 2 * MADELUNG * lode_rs.constants.COULOMB_CONSTANT / r0
    assert o_c == pytest.approx(expected, rel=1e-6)
    assert np.max(np.abs(of_c)) < 1e-5


def test_reference_forces_are_minus_the_energy_gradient():
    """Central differences of OpenMM's double-precision energy (h = 1e-4 Å: truncation
    ~h² φ'''' ≲ 1e-6 eV/Å, round-off ~1e-16·200 eV/h ≈ 2e-10 eV/Å)."""
    atoms = _disordered_box(1)
    engine = Engine(atoms.numbers, atoms.cell[:], platform="Reference")
    _, forces = engine.evaluate(atoms.positions)
    h = 1e-4
    for atom, axis in [(0, 0), (7, 1), (33, 2), (63, 0)]:
        shifted = []
        for sign in (1, -1):
            r = atoms.positions.copy()
            r[atom, axis] += sign * h
            shifted.append(engine.evaluate(r)[0])
        fd = -(shifted[0] - shifted[1]) / (2 * h)
        assert fd == pytest.approx(forces[atom, axis], abs=2e-6)
    assert np.max(np.abs(forces)) > 0.5


def test_shifted_force_short_range_vanishes_at_the_cutoff():
    """The pair energy and force of the shifted form go to zero at r_c, and below it the form
    differs from φ by the linear term only."""
    import ase

    model = TosiFumi()
    for numbers in ([11, 11], [11, 17], [17, 17]):
        energies = []
        for r in (model.cutoff - 1e-6, 4.0):
            atoms = ase.Atoms(
                numbers, positions=[[0, 0, 0], [r, 0, 0]], cell=[20, 20, 20], pbc=True
            )
            energies.append(short_range(atoms, model))
        (e_c, f_c), (e_4, f_4) = energies
        assert abs(e_c) < 1e-12 and np.max(np.abs(f_c)) < 1e-6
        a, b = (0 if z == 11 else 1 for z in numbers)
        phi, dphi = model.phi(a, b, 4.0)
        phi_c, dphi_c = model.phi(a, b, model.cutoff)
        assert e_4 == pytest.approx(phi - phi_c - (4.0 - model.cutoff) * dphi_c, rel=1e-12)
        assert f_4[1, 0] == pytest.approx(-(dphi - dphi_c), rel=1e-12)
        assert np.allclose(f_4.sum(axis=0), 0.0, atol=1e-12)


def _tiny_protocol() -> nacl.Protocol:
    return nacl.Protocol(
        temperatures=(1200.0, 1400.0),
        n_trajectories=2,
        melt_ps=0.05,
        equilibrate_ps=0.05,
        stride_fs=20.0,
    )


def test_generator_is_deterministic_and_labels_match_positions(tmp_path):
    protocol = _tiny_protocol()
    a = nacl.generate(4, protocol, seed=3)
    b = nacl.generate(4, protocol, seed=3)
    for key in a:
        assert np.array_equal(a[key], b[key]), key
    c = nacl.generate(4, protocol, seed=4)
    assert not np.array_equal(a["positions"], c["positions"])
    assert sorted(set(a["temperature"].tolist())) == [1200.0, 1400.0]
    # the stored labels are the reference energy and forces of the stored positions
    data = nacl.molten_nacl(4, seed=3, protocol=protocol, cache_dir=tmp_path)
    assert np.array_equal(data.energy, a["energy"])
    for atoms, energy, forces in zip(data.frames, data.energy, data.forces, strict=True):
        (e_c, f_c), (e_sr, f_sr) = _independent(atoms)
        assert energy == pytest.approx(e_c + e_sr, rel=1e-5)
        assert np.max(np.abs(forces - f_c - f_sr)) < 1e-4 * np.sqrt(np.mean(forces**2))
        assert np.allclose(atoms.get_initial_charges(), np.where(atoms.numbers == 11, 1, -1))
    # the molten boxes are disordered: no ion within 0.2 Å of its lattice site... on average
    lattice = nacl.rock_salt(2, nacl.liquid_density(1200.0)).positions
    assert np.mean(np.linalg.norm(data.frames[0].positions - lattice, axis=1)) > 0.5


def test_dataset_is_read_back_from_the_cache(tmp_path):
    protocol = _tiny_protocol()
    first = nacl.molten_nacl(3, seed=1, protocol=protocol, cache_dir=tmp_path)
    files = list(tmp_path.glob("molten_nacl-*.npz"))
    assert len(files) == 1
    stamp = files[0].stat().st_mtime_ns
    second = nacl.molten_nacl(3, seed=1, protocol=protocol, cache_dir=tmp_path)
    assert files[0].stat().st_mtime_ns == stamp  # read, not regenerated
    assert np.array_equal(first.energy, second.energy)
    assert np.array_equal(first.frames[2].positions, second.frames[2].positions)


def test_bad_input_is_refused():
    atoms = nacl.rock_salt(2, 1.5)
    with pytest.raises(InvalidParameterError, match="Na .11. and Cl .17. only"):
        Engine([11, 8], np.eye(3) * 20)
    with pytest.raises(InvalidParameterError, match="twice the cutoff"):
        Engine(atoms.numbers, np.eye(3) * 10)
    with pytest.raises(InvalidParameterError, match="orthorhombic"):
        Engine(atoms.numbers, atoms.cell[:] + np.triu(np.ones((3, 3)), 1))
    with pytest.raises(InvalidParameterError, match="n_structures"):
        nacl.generate(0, _tiny_protocol(), seed=0)
    with pytest.raises(InvalidParameterError, match="n_structures"):
        nacl.molten_nacl(2.5, protocol=_tiny_protocol())
    with pytest.raises(InvalidParameterError, match="n_cells"):
        nacl.rock_salt(0, 1.5)


def test_reference_run_hands_over_velocities_in_ase_units(tmp_path):
    """The NVE start that other potentials continue from carries OpenMM's velocities in ASE's
    units: its kinetic energy is OpenMM's (2 %: OpenMM's leapfrog reports the mean of the two
    half-step kinetic energies; a unit error is a factor 10 or more). Recorded positions are
    wrapped into the box, and the run is cached."""
    run = nacl.molten_nacl_md(
        2, 1300.0, equilibrate_ps=0.02, nve_ps=0.01, record_every=5, cache_dir=tmp_path
    )
    assert run.start.get_kinetic_energy() == pytest.approx(run.kinetic[0], rel=0.02)
    temperature = run.kinetic[0] / (1.5 * len(run.start) * 8.617333e-5)
    assert 500 < temperature < 5000
    assert run.positions.shape == (3, 64, 3) and run.time.tolist() == [0.0, 5.0, 10.0]
    side = run.start.cell[0, 0]
    assert np.all((run.positions >= 0) & (run.positions < side))
    total = run.potential + run.kinetic
    assert np.ptp(total) / 64 < 1e-3  # NVE: eV/atom over 10 fs
    again = nacl.molten_nacl_md(
        2, 1300.0, equilibrate_ps=0.02, nve_ps=0.01, record_every=5, cache_dir=tmp_path
    )
    assert np.array_equal(again.positions, run.positions)
