"""The ASE calculator of a Potential: properties, caching, errors, NVE energy conservation, and
the ``lode-rs fit --forces`` / ``predict`` / ``md`` commands."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase import units
from ase.calculators.calculator import PropertyNotImplementedError
from ase.md.velocitydistribution import Stationary
from ase.md.verlet import VelocityVerlet

import lode_rs
from lode_rs.cli import main
from lode_rs.cli_potential import thermalize
from lode_rs.models import PolynomialKernel, SparseGPR
from potential_data import SOAP, lj_boxes


@pytest.fixture(scope="module")
def potential():
    frames = lj_boxes(12, seed=2)
    soap = lode_rs.SoapExpansion(species=[18], **SOAP)
    pot = lode_rs.Potential(
        lode_rs.PowerSpectrum(soap), SparseGPR(kernel=PolynomialKernel(zeta=2), n_sparse=40)
    )
    return pot.fit(frames, forces="forces", stress="stress")


def test_calculator_properties_and_cache(potential):
    atoms = lj_boxes(1, seed=30)[0]
    atoms.calc = potential.calculator()
    e, f, s = potential.predict([atoms])
    assert atoms.get_potential_energy() == e[0]
    assert atoms.get_potential_energy(force_consistent=True) == e[0]
    np.testing.assert_array_equal(atoms.get_forces(), f[0])
    np.testing.assert_array_equal(atoms.get_stress(voigt=False), s[0])
    calls = []
    original = potential.predict
    potential.predict = lambda *a, **k: calls.append(1) or original(*a, **k)
    try:
        atoms.get_forces()
        atoms.get_potential_energy()
        assert calls == []  # cached: atoms unchanged
        atoms.positions[0, 0] += 0.01
        atoms.get_forces()
        assert calls == [1]
    finally:
        del potential.predict


def test_calculator_errors(potential):
    atoms = lj_boxes(1, seed=31)[0]
    atoms.calc = potential.calculator()
    with pytest.raises(PropertyNotImplementedError):
        atoms.calc.get_property("dipole", atoms)
    finite = lj_boxes(1, seed=32, pbc=False)[0]
    finite.calc = potential.calculator()
    assert finite.get_forces().shape == (8, 3)
    with pytest.raises(PropertyNotImplementedError, match="periodic"):
        finite.get_stress()


def _nve_total_energies(potential, timestep_fs: float, steps: int = 200) -> np.ndarray:
    atoms = lj_boxes(1, seed=40)[0]
    atoms.calc = potential.calculator()
    thermalize(atoms, 300, np.random.default_rng(0))
    Stationary(atoms)
    dyn = VelocityVerlet(atoms, timestep_fs * units.fs)
    totals, kinetic = [], []
    for _ in range(steps):
        dyn.run(1)
        totals.append(atoms.get_total_energy())
        kinetic.append(atoms.get_kinetic_energy())
    assert np.ptp(kinetic) / len(atoms) > 0.05  # the atoms move and exchange energy
    return np.array(totals) / len(atoms)


def test_nve_conserves_energy(potential):
    # 8 atoms at 300 K, 200 velocity-Verlet steps: the kinetic energy swings by ~0.15 eV/atom
    # while the total energy stays within 4.7e-5 eV/atom at 1 fs (measured; bound 2e-4) and
    # its fluctuation grows as dt² (measured ×4.3 from 1 to 2 fs), as it must when the forces
    # are the exact gradient of the energy; a force error would add a drift that does not
    totals_1 = _nve_total_energies(potential, 1.0)
    totals_2 = _nve_total_energies(potential, 2.0)
    assert np.ptp(totals_1) < 2e-4, np.ptp(totals_1)
    assert 2.5 < np.ptp(totals_2) / np.ptp(totals_1) < 6.5


def test_optimiser_relaxes(potential):
    from ase.optimize import BFGS

    atoms = lj_boxes(1, seed=41)[0]
    atoms.calc = potential.calculator()
    start = atoms.get_potential_energy()
    assert BFGS(atoms, logfile=None).run(fmax=0.01, steps=300)
    assert atoms.get_potential_energy() < start
    assert np.abs(atoms.get_forces()).max() < 0.01


def test_cli_fit_predict_md(tmp_path):
    import ase.io

    train = tmp_path / "train.xyz"
    ase.io.write(train, lj_boxes(6, seed=50))
    ase.io.write(tmp_path / "one.xyz", lj_boxes(1, seed=51))
    soap = json.dumps(SOAP)
    pot = str(tmp_path / "pot.npz")
    assert (
        main(
            [
                "fit",
                str(train),
                "--target",
                "energy",
                "--forces",
                "forces",
                "--stress",
                "stress",
                "--soap",
                soap,
                "--n-sparse",
                "20",
                "--sigma-energy",
                "1e-3",
                "--sigma-forces",
                "1e-2",
                "--sigma-stress",
                "1e-3",
                "-o",
                pot,
            ]
        )
        == 0
    )
    assert (tmp_path / "pot.parity.png").read_bytes()[:4] == b"\x89PNG"  # beside the model
    out = tmp_path / "pred.xyz"
    assert main(["predict", pot, str(tmp_path / "one.xyz"), "-o", str(out)]) == 0
    predicted = ase.io.read(out)
    expected = lode_rs.load_potential(pot).predict(ase.io.read(tmp_path / "one.xyz"))
    # extxyz keeps 8 significant digits
    np.testing.assert_allclose(predicted.get_forces(), expected[1][0], rtol=1e-6, atol=1e-8)
    plot, log = tmp_path / "md.png", tmp_path / "md.json"
    assert (
        main(
            [
                "md",
                str(tmp_path / "one.xyz"),
                pot,
                "--steps",
                "5",
                "--timestep",
                "1",
                "--temperature",
                "100",
                "--plot",
                str(plot),
                "--log",
                str(log),
            ]
        )
        == 0
    )
    assert plot.exists()
    assert (
        main(
            [
                "md",
                str(tmp_path / "one.xyz"),
                pot,
                "--steps",
                "3",
                "--temperature",
                "300",
                "--thermostat",
                "langevin",
                "--plot",
                "",
            ]
        )
        == 0
    )
    assert len(json.loads(log.read_text())["time_fs"]) == 6
