"""lode_rs.Potential with LODE blocks: ν = 1 LODE (fitted on forces through its Jacobians) and
SOAP ⊗ LODE (forces predicted through the backward pass), on periodic gases (the reciprocal
route) and finite clusters (the exact pair sum): forces are −∂E/∂r, a linear-in-features
target is recovered from forces, save/load and a fresh process predict identically, and the
stress is either the strain derivative or a clear error naming what is missing."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import lode_rs
from lode_rs.models import PolynomialKernel, Ridge, SparseGPR
from lode_rs.potential import RadialSpectrum

SPECIES = [11, 17]
SOAP = {"cutoff": 4.0, "smearing": 0.5, "n_max": 4, "l_max": 3}
LODE = {"cutoff": 3.0, "smearing": 1.0, "n_max": 4, "l_max": 2}


def _gases(n, seed, periodic=True, box=(8.0, 10.0)):
    frames = lode_rs.datasets.random_ionic_gas(
        n, n_atoms=8, box_range=box, min_distance=2.0, seed=seed
    )
    if not periodic:
        for atoms in frames:
            atoms.pbc = False
    return frames


def _lode(periodic=True):
    method = {"method": "reciprocal"} if periodic else {}
    return lode_rs.LodeExpansion(species=SPECIES, n_threads=1, **LODE, **method)


def _soap():
    return lode_rs.SoapExpansion(species=SPECIES, n_threads=1, **SOAP)


def _targets(frames):
    energies, forces, _ = lode_rs.electrostatic_energy(frames, forces=True)
    return energies, forces


def _energy(pot, atoms):
    return pot.predict([atoms], forces=False, stress=False)[0][0]


def _fit(periodic: bool, recipe: str):
    frames = _gases(6, seed=3, periodic=periodic)
    energies, forces = _targets(frames)
    if recipe == "radial":
        # SOAP ν = 2 and LODE ν = 1 blocks, fitted on energies and forces (LODE Jacobians)
        blocks = [lode_rs.PowerSpectrum(_soap()), RadialSpectrum(_lode(periodic))]
        fit_forces = forces
    elif recipe == "lode":
        # LODE ν = 1 alone, normalised kernel ζ = 2: the forces are LODE's only
        blocks = [RadialSpectrum(_lode(periodic))]
        fit_forces = forces
    elif recipe == "mixed-forces":
        # SOAP ⊗ LODE fitted on energies and forces (Jacobians of the mixed invariant)
        blocks = [lode_rs.PowerSpectrum(_soap(), _lode(periodic))]
        fit_forces = forces
    else:
        # SOAP ⊗ LODE fitted on energies: its forces come from the backward pass alone
        blocks = [lode_rs.PowerSpectrum(_soap(), _lode(periodic))]
        fit_forces = None
    pot = lode_rs.Potential(
        blocks,
        SparseGPR(kernel=PolynomialKernel(zeta=2), n_sparse=24),
        weights=[1.0, 2.0][: len(blocks)],
        regularizers={"energy": 1e-3, "forces": 1e-2},
    )
    return pot.fit(frames, energy=energies, forces=fit_forces)


CASES = [(p, r) for r in ("radial", "lode", "mixed", "mixed-forces") for p in (True, False)]


@pytest.fixture(scope="module", params=CASES, ids=lambda c: f"{'pbc' if c[0] else 'finite'}-{c[1]}")
def fitted(request):
    periodic, recipe = request.param
    return periodic, _fit(periodic, recipe)


def test_forces_are_minus_gradient_of_energy(fitted):
    # central differences, h = 1e-4 Å: truncation ~h² |E'''| ≲ 1e-8 eV/Å against forces of
    # O(0.1–1) eV/Å; the tolerance 1e-6 (relative, floor 1) catches any sign, factor or
    # missing term (a missing LODE block changes the forces at the 1e-2 level)
    periodic, pot = fitted
    atoms = _gases(1, seed=9, periodic=periodic)[0]
    _, forces, _ = pot.predict([atoms], stress=False)
    h = 1e-4
    for j, a in [(0, 0), (3, 1), (6, 2)]:
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions[j, a] += h
        minus.positions[j, a] -= h
        fd = -(_energy(pot, plus) - _energy(pot, minus)) / (2 * h)
        assert abs(forces[0][j, a] - fd) < 1e-6 * max(1.0, abs(fd)), (j, a, forces[0][j, a], fd)
    assert np.abs(forces[0]).max() > 1e-2
    # translation invariance (both routes are exact in this respect)
    np.testing.assert_allclose(forces[0].sum(axis=0), 0.0, atol=1e-9)


def _stress_fd(pot, atoms, a, b, h=1e-5):
    energies = []
    for sign in (1, -1):
        strained = atoms.copy()
        eps = np.eye(3)
        eps[a, b] += sign * h
        strained.set_cell(atoms.cell[:] @ eps.T, scale_atoms=False)
        strained.positions = atoms.positions @ eps.T
        energies.append(_energy(pot, strained))
    return (energies[0] - energies[1]) / (2 * h) / atoms.get_volume()


def test_stress_is_the_strain_derivative_or_a_clear_error(fitted):
    periodic, pot = fitted
    if not periodic:
        pytest.skip("stress of finite structures is refused (tested in test_potential.py)")
    atoms = _gases(1, seed=12)[0]
    try:
        _, _, stress = pot.predict([atoms], stress=True)
    except lode_rs.InvalidParameterError as error:
        # the route has no strain derivative yet: the error names the block and the route,
        # the default prediction leaves the stress out, forces stay available
        message = str(error)
        assert "no stress" in message and "LodeExpansion" in message, message
        assert '"reciprocal" route' in message and "stress=False" in message, message
        e, f, s = pot.predict([atoms])
        assert s is None and f[0].shape == (8, 3)
        calc_atoms = atoms.copy()
        calc_atoms.calc = pot.calculator()
        np.testing.assert_array_equal(calc_atoms.get_forces(), f[0])
        with pytest.raises(lode_rs.InvalidParameterError, match="no stress"):
            calc_atoms.get_stress()
        return
    # the route provides the strain derivative: (1/V) ∂E/∂ε by central differences
    # (h = 1e-5, error ~1e-10 eV/Å³ against stresses of ~1e-3)
    for a, b in [(0, 0), (1, 2), (2, 2)]:
        fd = _stress_fd(pot, atoms, a, b)
        sym = 0.5 * (stress[0][a, b] + stress[0][b, a])
        assert abs(sym - fd) < 1e-6 * max(1e-3, abs(fd)) + 1e-10


def test_fitting_stress_without_strain_route_is_a_clear_error():
    frames = _gases(3, seed=4)
    energies, forces, stress = lode_rs.electrostatic_energy(frames, forces=True, stress=True)
    pot = lode_rs.Potential(
        RadialSpectrum(_lode()), Ridge(), regularizers={"energy": 1e-3, "stress": 1e-3}
    )
    try:
        pot.fit(frames, energy=energies, stress=stress)
    except lode_rs.InvalidParameterError as error:
        assert "strain" in str(error) and "reciprocal" in str(error), str(error)
    else:  # the route has strain gradients: the fitted stress is the strain derivative
        _, _, s = pot.predict(frames[:1], stress=True)
        fd = _stress_fd(pot, frames[0], 1, 1)
        assert abs(s[0][1, 1] - fd) < 1e-6 * max(1e-3, abs(fd)) + 1e-10


def _linear_target(frames, weights, periodic):
    """Energy Σ_i w·x_i of the LODE ν = 1 features and its forces from their backward pass
    (independent of the Jacobians the fit uses)."""
    block = RadialSpectrum(_lode(periodic))
    x = block.compute(frames)
    energies = np.bincount(x.structure, x.values @ weights, minlength=len(frames))
    cot = np.broadcast_to(weights, x.values.shape).copy()
    forces = [-g for g in block.backward(frames, cot).positions]
    return energies, forces


@pytest.mark.parametrize("periodic", [True, False], ids=["pbc", "finite"])
def test_forces_of_linear_target_recover_it(periodic):
    # one box size: the features' structure-independent part (the centre's own term, the
    # k = 0 convention) is the same for every structure, so forces fix the energies up to one
    # constant, and the energy differences must match
    box = (9.0, 9.0)
    train = _gases(6, seed=5, periodic=periodic, box=box)
    n_features = RadialSpectrum(_lode(periodic)).compute(train[:1]).values.shape[1]
    weights = np.random.default_rng(3).standard_normal(n_features)
    _, forces = _linear_target(train, weights, periodic)
    pot = lode_rs.Potential(
        RadialSpectrum(_lode(periodic)), Ridge(baseline=None), regularizers={"forces": 1e-9}
    ).fit(train, energy=None, forces=forces)
    test = _gases(3, seed=15, periodic=periodic, box=box)
    e_ref, f_ref = _linear_target(test, weights, periodic)
    e, f, _ = pot.predict(test, stress=False)
    scale = np.abs(np.concatenate(f_ref)).max()
    assert scale > 1e-2
    np.testing.assert_allclose(np.concatenate(f), np.concatenate(f_ref), atol=1e-6 * scale)
    np.testing.assert_allclose(e - e[0], e_ref - e_ref[0], atol=1e-6 * np.abs(e_ref).max())


def test_save_load_round_trip_and_fresh_process(tmp_path):
    pot = _fit(True, "radial")
    path = tmp_path / "lode_pot.npz"
    pot.save(path)
    loaded = lode_rs.load_potential(path)
    assert loaded.blocks[1].invariant.first.hypers["method"] == "reciprocal"
    test = _gases(2, seed=21)
    for a, b in zip(pot.predict(test), loaded.predict(test), strict=True):
        if a is None:
            assert b is None
            continue
        np.testing.assert_array_equal(
            np.concatenate([np.ravel(v) for v in a]), np.concatenate([np.ravel(v) for v in b])
        )
    test[0].write(tmp_path / "test.xyz")
    code = (
        "import ase.io, numpy as np, lode_rs\n"
        f"pot = lode_rs.load_potential({str(path)!r})\n"
        f"atoms = ase.io.read({str(tmp_path / 'test.xyz')!r})\n"
        "e, f, s = pot.predict(atoms, stress=False)\n"
        f"np.save({str(tmp_path / 'f.npy')!r}, f[0])\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    import ase.io

    expected = pot.predict(ase.io.read(tmp_path / "test.xyz"), stress=False)[1][0]
    np.testing.assert_array_equal(np.load(tmp_path / "f.npy"), expected)


def test_species_resolved_ridge_recovers_per_species_weights(tmp_path):
    # ε(x_i) = w_{Z_i}·x_i with different weights per centre species: recovered from forces to
    # 1e-6 by species_resolved=True, not by a plain ridge (one weight vector for every atom);
    # saved and loaded, it predicts bit for bit
    box = (9.0, 9.0)
    train = _gases(6, seed=41, box=box)
    block = RadialSpectrum(_lode())
    x = block.compute(train)
    rng = np.random.default_rng(8)
    w = {11: rng.standard_normal(x.values.shape[1]), 17: rng.standard_normal(x.values.shape[1])}

    def target(frames):
        x = block.compute(frames)
        cot = np.stack([w[int(z)] for z in x.center_species])
        return [-g for g in block.backward(frames, cot).positions]

    forces = target(train)
    test = _gases(2, seed=42, box=box)
    f_ref = np.concatenate(target(test))
    errors = {}
    for resolved in (True, False):
        pot = lode_rs.Potential(
            RadialSpectrum(_lode()),
            Ridge(baseline=None),
            regularizers={"forces": 1e-9},
            species_resolved=resolved,
        ).fit(train, energy=None, forces=forces)
        f = np.concatenate(pot.predict(test, stress=False)[1])
        errors[resolved] = np.abs(f - f_ref).max() / np.abs(f_ref).max()
    assert errors[True] < 1e-6 and errors[False] > 1e-2, errors
    pot.save(tmp_path / "plain.npz")
    resolved = lode_rs.Potential(
        RadialSpectrum(_lode()), Ridge(), regularizers={"forces": 1e-9}, species_resolved=True
    ).fit(train, energy=None, forces=forces)
    resolved.save(tmp_path / "resolved.npz")
    loaded = lode_rs.load_potential(tmp_path / "resolved.npz")
    np.testing.assert_array_equal(
        np.concatenate(loaded.predict(test, stress=False)[1]),
        np.concatenate(resolved.predict(test, stress=False)[1]),
    )
    with pytest.raises(lode_rs.InvalidParameterError, match="species_resolved"):
        lode_rs.Potential(RadialSpectrum(_lode()), SparseGPR(), species_resolved=True)


def test_md_calls_build_no_pools_and_keep_their_calculators():
    # an MD step pays no setup: the thread pools are built once and leased again, the
    # expansions (their Rust cores, splines and cached route tables) are the potential's own
    from lode_rs._lode_rs import testing

    pot = _fit(True, "radial")
    atoms = _gases(1, seed=30)[0]
    atoms.calc = pot.calculator()
    cores = [id(c._core) for b in pot.blocks for c in b.invariant.calculators]
    atoms.get_forces()
    built = testing.pools_built()
    assert built >= 1
    for step in range(3):
        atoms.positions[step, 0] += 0.01
        atoms.get_forces()
    assert testing.pools_built() == built
    assert [id(c._core) for b in pot.blocks for c in b.invariant.calculators] == cores
