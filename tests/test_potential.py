"""lode_rs.Potential: forces and stress are derivatives of the fitted energy, fits recover known
targets, sparse = full kernel model, save/load, bad input."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import scipy.linalg

import lode_rs
from lode_rs import recipe
from lode_rs.models import GPR, PolynomialKernel, Ridge, SparseGPR
from lode_rs.potential_fit import build_design, solve
from potential_data import SOAP, lj_boxes


def _soap(**extra):
    return lode_rs.SoapExpansion(species=[18], **{**SOAP, **extra})


@pytest.fixture(scope="module")
def frames():
    return lj_boxes(12, seed=1)


@pytest.fixture(scope="module")
def fitted(frames):
    pot = lode_rs.Potential(
        lode_rs.PowerSpectrum(_soap()),
        SparseGPR(kernel=PolynomialKernel(zeta=2), n_sparse=60),
    )
    return pot.fit(frames, energy="energy", forces="forces", stress="stress")


def _energy(pot, atoms):
    return pot.predict([atoms], forces=False, stress=False)[0][0]


def test_forces_are_minus_gradient_of_energy(fitted, frames):
    # central differences, h = 1e-4 Å: truncation error ~h² |E'''| ~ 1e-9 eV/Å; the forces are
    # O(0.1–1) eV/Å, so 1e-6 catches any sign, factor or missing term
    atoms = frames[0].copy()
    _, forces, _ = fitted.predict([atoms])
    h = 1e-4
    for j, a in [(0, 0), (3, 1), (7, 2)]:
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions[j, a] += h
        minus.positions[j, a] -= h
        fd = -(_energy(fitted, plus) - _energy(fitted, minus)) / (2 * h)
        assert abs(forces[0][j, a] - fd) < 1e-6 * max(1.0, abs(fd))
    assert np.abs(forces[0]).max() > 1e-2  # not trivially zero
    np.testing.assert_allclose(forces[0].sum(axis=0), 0.0, atol=1e-10)  # translation invariance


def test_stress_is_strain_derivative_over_volume(fitted, frames):
    # ASE's sign: σ = (1/V) ∂E/∂ε, ε applied to cell and positions together
    atoms = frames[1].copy()
    _, _, stress = fitted.predict([atoms])
    h = 1e-5
    volume = atoms.get_volume()
    for a, b in [(0, 0), (1, 2), (2, 2), (0, 1)]:
        energies = []
        for sign in (1, -1):
            strained = atoms.copy()
            eps = np.eye(3)
            eps[a, b] += sign * h
            strained.set_cell(atoms.cell[:] @ eps.T, scale_atoms=False)
            strained.positions = atoms.positions @ eps.T
            energies.append(_energy(fitted, strained))
        fd = (energies[0] - energies[1]) / (2 * h) / volume
        sym = 0.5 * (stress[0][a, b] + stress[0][b, a])
        assert abs(sym - fd) < 1e-6 * max(1e-3, abs(fd)) + 1e-10
    np.testing.assert_allclose(stress[0], stress[0].T, atol=1e-12)


def test_fit_reproduces_lj_forces(fitted, frames):
    test = lj_boxes(4, seed=7)
    e, f, s = fitted.predict(test)
    f_ref = np.concatenate([a.arrays["forces"] for a in test])
    rmse = np.sqrt(np.mean((np.concatenate(f) - f_ref) ** 2))
    # 12 boxes of 8 atoms, 60 active environments
    assert rmse < 0.3 * np.std(f_ref), (rmse, np.std(f_ref))


def _linear_target(frames, weights):
    """Energy Σ_i w·x_i and its forces by the features' backward pass (independent of the
    Jacobians the fit uses)."""
    spectrum = lode_rs.PowerSpectrum(_soap())
    x = spectrum.compute(frames)
    energies = np.bincount(x.structure, x.values @ weights, minlength=len(frames))
    cot = np.broadcast_to(weights, x.values.shape).copy()
    forces = [-g for g in spectrum.backward(frames, cot).positions]
    return x, energies, forces


def test_forces_of_linear_target_recover_it(frames):
    n_features = lode_rs.PowerSpectrum(_soap()).compute(frames[:1]).values.shape[1]
    weights = np.random.default_rng(3).standard_normal(n_features)
    _, energies, forces = _linear_target(frames, weights)
    pot = lode_rs.Potential(
        lode_rs.PowerSpectrum(_soap()),
        Ridge(baseline=None),
        regularizers={"forces": 1e-9},
    ).fit(frames, energy=None, forces=forces)
    # forces fix w up to the features' null space; the energies it predicts must match
    test = lj_boxes(3, seed=11)
    _, e_ref, f_ref = _linear_target(test, weights)
    e, f, _ = pot.predict(test)
    np.testing.assert_allclose(e, e_ref, rtol=1e-6, atol=1e-6 * np.abs(e_ref).max())
    np.testing.assert_allclose(np.concatenate(f), np.concatenate(f_ref), atol=1e-6)


def test_sparse_all_active_equals_gpr_on_energies(frames):
    # same n_atoms everywhere: noise σ_E² n_A and prior δ² give the structure GP with
    # σ²/δ² = σ_E² n / δ², i.e. models.GPR(regularizer = σ_E² n / (δ² mean K(A, A)))
    sigma, delta = 1e-2, 0.5
    pot = lode_rs.Potential(
        lode_rs.PowerSpectrum(_soap()),
        SparseGPR(kernel=PolynomialKernel(zeta=2), n_sparse=None, jitter=0.0),
        regularizers={"energy": sigma},
        delta=delta,
    ).fit(frames)
    x = lode_rs.PowerSpectrum(_soap()).compute(frames)
    kernel = PolynomialKernel(zeta=2)
    k = lode_rs.models.structure_kernel(
        kernel,
        lode_rs.models.data.as_atomic_data(x).with_values(kernel.prepare(x.values)),
        lode_rs.models.data.as_atomic_data(x).with_values(kernel.prepare(x.values)),
        match_species=True,
    )
    reg = sigma**2 * 8 / (delta**2 * np.mean(np.diag(k)))
    gpr = GPR(kernel=kernel, regularizer=reg).fit(x, [a.info["energy"] for a in frames])
    test = lj_boxes(3, seed=5)
    np.testing.assert_allclose(
        pot.predict(test, forces=False, stress=False)[0],
        gpr.predict(lode_rs.PowerSpectrum(_soap()).compute(test)),
        rtol=1e-8,
    )


def test_sparse_all_active_with_forces_equals_dual_solution(frames):
    # every environment active: the QR (weight-space) solution equals the kernel-space one,
    # α = K⁻¹Φᵀ(ΦK⁻¹Φᵀ + Σ/δ²)⁻¹y — a second route through the same rows
    sub = frames[:4]
    sigmas = {"energy": 1e-2, "forces": 1e-2}
    pot = lode_rs.Potential(
        lode_rs.PowerSpectrum(_soap()),
        SparseGPR(kernel=PolynomialKernel(zeta=2), n_sparse=None, baseline=None),
        regularizers=sigmas,
        delta=1.0,
    ).fit(sub, forces="forces")
    design = build_design(
        pot.blocks,
        pot.basis_,
        sub,
        recipe.compute(pot.blocks, sub),
        {
            "energy": np.array([a.info["energy"] for a in sub]),
            "forces": [a.arrays["forces"] for a in sub],
            "stress": None,
        },
        np.ones(len(sub)),
        16,
    )
    phi = np.vstack([design.rows[k].a for k in ("energy", "forces")])
    y = np.concatenate([design.rows[k].y for k in ("energy", "forces")])
    noise = np.concatenate([sigmas[k] ** 2 / design.rows[k].u for k in ("energy", "forces")])
    k_mm = pot.basis_.kernel.pairwise(pot.basis_.points, pot.basis_.points)
    k_mm += 1e-10 * np.linalg.eigvalsh(k_mm)[-1] * np.eye(len(k_mm))
    k_inv_phi_t = scipy.linalg.solve(k_mm, phi.T, assume_a="pos")
    alpha = k_inv_phi_t @ scipy.linalg.solve(phi @ k_inv_phi_t + np.diag(noise), y)
    np.testing.assert_allclose(pot.theta_, alpha, rtol=1e-5, atol=1e-6 * np.abs(alpha).max())
    # the blocked QR: 5 rows at a time gives the one-block solution to rounding
    blocked, _ = solve(design, pot._prior(), pot.delta_, sigmas, rows=5)
    one_block, _ = solve(design, pot._prior(), pot.delta_, sigmas, rows=10**9)
    np.testing.assert_allclose(blocked, one_block, rtol=1e-9, atol=1e-12 * np.abs(alpha).max())


def test_cross_validation_picks_each_regularizer(frames):
    pot = lode_rs.Potential(
        lode_rs.PowerSpectrum(_soap()), SparseGPR(kernel=PolynomialKernel(zeta=2), n_sparse=30)
    ).fit(frames[:8], forces="forces")
    assert set(pot.regularizers_) == {"energy", "forces"}
    assert set(pot.cv_scores_["scores"]) == {"energy", "forces"}


def test_variance_is_positive_and_grows_away_from_data(fitted, frames):
    *_, var_train = fitted.predict(frames[:2], return_variance=True)
    far = lj_boxes(1, n_atoms=8, box=4.6, seed=9)  # compressed: unlike the training boxes
    *_, var_far = fitted.predict(far, return_variance=True)
    assert np.all(var_train > 0)
    assert var_far[0] > var_train.max()


def test_save_load_round_trip(fitted, tmp_path):
    path = tmp_path / "pot.npz"
    fitted.save(path)
    loaded = lode_rs.load_potential(path)
    test = lj_boxes(2, seed=21)
    for a, b in zip(fitted.predict(test), loaded.predict(test), strict=True):
        np.testing.assert_array_equal(
            np.concatenate([np.ravel(v) for v in a]), np.concatenate([np.ravel(v) for v in b])
        )
    test[0].write(tmp_path / "test.xyz")
    code = (
        "import ase.io, numpy as np, lode_rs\n"
        f"pot = lode_rs.load_potential({str(path)!r})\n"
        f"e, f, s = pot.predict(ase.io.read({str(tmp_path / 'test.xyz')!r}))\n"
        f"np.save({str(tmp_path / 'f.npy')!r}, f[0])\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    expected = fitted.predict(ase_read(tmp_path / "test.xyz"))[1][0]
    np.testing.assert_array_equal(np.load(tmp_path / "f.npy"), expected)


def ase_read(path):
    import ase.io

    return ase.io.read(path)


def test_ridge_and_mixed_blocks_save_load(frames, tmp_path):
    soap_a, soap_b = _soap(), _soap(cutoff=3.0)
    pot = lode_rs.Potential(
        [lode_rs.PowerSpectrum(soap_a), lode_rs.potential.RadialSpectrum(soap_b)],
        Ridge(),
        weights=[1.0, 0.5],
        regularizers={"energy": 1e-3, "forces": 1e-2},
    ).fit(frames[:6], forces="forces")
    pot.save(tmp_path / "ridge.npz")
    loaded = lode_rs.load_potential(tmp_path / "ridge.npz")
    e1, f1, _ = pot.predict(frames[6:8])
    e2, f2, _ = loaded.predict(frames[6:8])
    np.testing.assert_array_equal(e1, e2)
    np.testing.assert_array_equal(f1[0], f2[0])


# ---- bad input ------------------------------------------------------------------------------
def _pot():
    return lode_rs.Potential(
        lode_rs.PowerSpectrum(_soap()), Ridge(), regularizers={"energy": 1e-3, "forces": 1e-2}
    )


def test_forces_of_wrong_shape(frames):
    bad = [a.arrays["forces"] for a in frames[:3]]
    bad[1] = bad[1][:, :2]
    with pytest.raises(lode_rs.InvalidInputError, match=r"structure 1 have shape \(8, 2\)"):
        _pot().fit(frames[:3], forces=bad)


def test_missing_keys(frames):
    with pytest.raises(lode_rs.InvalidInputError, match="no energy 'dft_energy'"):
        _pot().fit(frames[:3], energy="dft_energy")
    with pytest.raises(lode_rs.InvalidInputError, match="no forces 'dft_forces'"):
        _pot().fit(frames[:3], forces="dft_forces")


def test_nan_targets(frames):
    energies = [a.info["energy"] for a in frames[:3]]
    energies[2] = np.nan
    with pytest.raises(lode_rs.InvalidInputError, match="NaN"):
        _pot().fit(frames[:3], energy=energies)
    forces = [a.arrays["forces"].copy() for a in frames[:3]]
    forces[0][1, 1] = np.nan
    with pytest.raises(lode_rs.InvalidInputError, match="forces of structure 0 contain NaN"):
        _pot().fit(frames[:3], forces=forces)


def test_stress_of_finite_systems(fitted):
    finite = lj_boxes(2, pbc=False, seed=4)
    with pytest.raises(lode_rs.InvalidInputError, match="not periodic"):
        _pot().fit(finite, stress=[np.zeros(6)] * 2)
    with pytest.raises(lode_rs.InvalidInputError, match="periodic"):
        fitted.predict(finite, stress=True)
    e, f, s = fitted.predict(finite)  # default: no stress for finite systems
    assert s is None and f[0].shape == (8, 3)


def test_unfitted_and_bad_parameters(tmp_path):
    with pytest.raises(lode_rs.NotFittedError):
        _pot().predict(lj_boxes(1))
    with pytest.raises(lode_rs.InvalidParameterError, match="unknown regularizer"):
        lode_rs.Potential(lode_rs.PowerSpectrum(_soap()), regularizers={"force": 1.0})
    with pytest.raises(lode_rs.InvalidParameterError, match="integer zeta"):
        lode_rs.Potential(lode_rs.PowerSpectrum(_soap()), GPR(kernel=PolynomialKernel(None)))
    with pytest.raises(lode_rs.InvalidParameterError, match="invariants as feature blocks"):
        lode_rs.Potential(_soap())
    np.savez(tmp_path / "x.npz", a=np.zeros(2))
    with pytest.raises(lode_rs.InvalidInputError, match="not a lode_rs potential"):
        lode_rs.load_potential(tmp_path / "x.npz")


def test_design_rows_are_derivatives_of_energy_rows():
    # force rows = −∂(energy row)/∂r and stress rows = (1/V) ∂(energy row)/∂ε by central
    # differences: checks the Jacobian contraction with the normalised kernel derivative, the
    # union of samples of two blocks with different cutoffs, species matching and the stress
    # assembly; h = 1e-5, error ~1e-9 on rows of size ~1, tolerance 1e-6
    atoms = lj_boxes(1, seed=60)[0]
    atoms.numbers[:3] = 10
    soap_a = lode_rs.SoapExpansion(species=[10, 18], **SOAP)
    soap_b = lode_rs.SoapExpansion(species=[10, 18], **{**SOAP, "cutoff": 3.0})
    pot = lode_rs.Potential(
        [lode_rs.PowerSpectrum(soap_a), lode_rs.PowerSpectrum(soap_b)],
        SparseGPR(kernel=PolynomialKernel(zeta=3), n_sparse=6),
        weights=[1.0, 0.7],
        regularizers={"energy": 1e-3},
    ).fit(lj_boxes(2, seed=61) + [atoms], energy=np.zeros(3))

    def rows(frame, kinds=("energy", "forces", "stress")):
        targets = {
            "energy": np.zeros(1),
            "forces": [np.zeros((8, 3))] if "forces" in kinds else None,
            "stress": [np.zeros((3, 3))] if "stress" in kinds else None,
        }
        values = recipe.compute(pot.blocks, [frame])
        design = build_design(pot.blocks, pot.basis_, [frame], values, targets, np.ones(1), 4)
        return design.rows

    exact = rows(atoms)
    assert np.abs(exact["forces"].a).max() > 1e-2
    h = 1e-5
    for j, a in [(0, 0), (4, 2)]:
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions[j, a] += h
        minus.positions[j, a] -= h
        fd = -(rows(plus, ())["energy"].a - rows(minus, ())["energy"].a)[0] / (2 * h)
        np.testing.assert_allclose(exact["forces"].a[3 * j + a], fd, atol=1e-6)
    for k, (a, b) in enumerate([(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]):
        energies = []
        for sign in (1, -1):
            strained = atoms.copy()
            eps = np.eye(3)
            eps[a, b] += sign * h / (1 if a == b else 2)
            eps[b, a] = eps[a, b] if a != b else eps[a, b]
            strained.set_cell(atoms.cell[:] @ eps.T, scale_atoms=False)
            strained.positions = atoms.positions @ eps.T
            energies.append(rows(strained, ())["energy"].a[0])
        fd = (energies[0] - energies[1]) / (2 * h) / atoms.get_volume()
        np.testing.assert_allclose(exact["stress"].a[k], fd, atol=1e-6)


def test_lode_recipe_save_load_energies(tmp_path):
    # LODE blocks (species channels and charge channel) are rebuilt from the saved JSON; until
    # LODE has gradients such potentials are fitted on energies and predict energies only
    frames = lode_rs.datasets.random_ionic_gas(6, n_atoms=8, box_range=(8.0, 10.0), seed=2)
    energies = lode_rs.electrostatic_energy(frames)
    soap = lode_rs.SoapExpansion(species=[11, 17], **SOAP)
    lode = lode_rs.LodeExpansion(cutoff=3.0, smearing=1.0, n_max=4, l_max=2, species=[11, 17])
    charged = lode_rs.LodeExpansion(cutoff=3.0, smearing=1.0, n_max=4, l_max=0, charges=True)
    pot = lode_rs.Potential(
        [
            lode_rs.PowerSpectrum(soap, lode),
            lode_rs.potential.RadialSpectrum(charged),
        ],
        Ridge(),
        regularizers={"energy": 1e-3},
    ).fit(frames[:4], energy=energies[:4])
    pot.save(tmp_path / "lode.npz")
    loaded = lode_rs.load_potential(tmp_path / "lode.npz")
    e1 = pot.predict(frames[4:], forces=False, stress=False)[0]
    e2 = loaded.predict(frames[4:], forces=False, stress=False)[0]
    np.testing.assert_array_equal(e1, e2)
    assert loaded.blocks[1].invariant.first.charges
