"""λ-equivariant features: covariance, parity, permutations, the λ = 0 block, bad input."""

from __future__ import annotations

import ase
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

import lode_rs
from helpers import random_cluster, random_periodic, real_harmonics

SOAP = dict(cutoff=3.5, smearing=0.4, n_max=3, l_max=3)
LODE = dict(cutoff=3.0, smearing=0.8, n_max=3, l_max=2, exponent=1)
SPECIES = [1, 6, 8]


def calculators(periodic: bool):
    soap = lode_rs.SoapExpansion(**SOAP, species=SPECIES)
    lode_hypers = dict(LODE, method="reciprocal", k_cutoff=4.0) if periodic else LODE
    lode = lode_rs.LodeExpansion(**lode_hypers, species=SPECIES)
    return soap, lode


def wigner_d(l: int, rotation: np.ndarray) -> np.ndarray:
    """Real D^l(R) with Y_l(R r) = D^l Y_l(r), fitted by least squares on random directions
    from scipy's harmonics (no lode_rs code involved)."""
    rng = np.random.default_rng(l)
    r = rng.normal(size=(6 * (2 * l + 1), 3))
    r /= np.linalg.norm(r, axis=1, keepdims=True)

    def harmonics(v):
        theta, phi = np.arccos(v[:, 2]), np.arctan2(v[:, 1], v[:, 0])
        return real_harmonics(l, theta, phi)[l * l :].T  # (n_points, 2l+1)

    a, b = harmonics(r), harmonics(r @ rotation.T)
    dt, residual, *_ = np.linalg.lstsq(a, b, rcond=None)
    assert np.max(np.abs(a @ dt - b)) < 1e-12
    return dt.T


def rotated(atoms: ase.Atoms, matrix: np.ndarray) -> ase.Atoms:
    out = atoms.copy()
    out.positions = atoms.positions @ matrix.T
    if atoms.pbc.any():
        out.cell = atoms.cell[:] @ matrix.T
    return out


def structures(kind: str, seed: int) -> list[ase.Atoms]:
    if kind == "cluster":
        return [random_cluster(seed, n_atoms=7), random_cluster(seed + 10, n_atoms=5)]
    return [random_periodic(seed, n_atoms=8, species=(1, 6, 8))]


@pytest.mark.parametrize("kind", ["cluster", "periodic"])
@pytest.mark.parametrize("pair", ["soap", "lode", "soap x lode"])
def test_covariance_under_rotations(kind, pair):
    """x(R·structure) = D^λ(R) x(structure) for every block, to 1e-10 of the block's scale."""
    soap, lode = calculators(kind == "periodic")
    first, second = {"soap": (soap, None), "lode": (lode, None), "soap x lode": (soap, lode)}[pair]
    calc = lode_rs.EquivariantPowerSpectrum(first, second, lambda_max=4)
    frames = structures(kind, 3)
    reference = calc.compute(frames)
    assert len(reference.keys) >= 8
    for seed in range(2):
        rotation = Rotation.random(random_state=seed).as_matrix()
        result = calc.compute([rotated(f, rotation) for f in frames])
        assert result.keys == reference.keys
        for (lam, sigma), block in reference.blocks.items():
            expected = np.einsum("mk,ikf->imf", wigner_d(lam, rotation), block.values)
            got = result.block(lam, sigma).values
            scale = np.max(np.abs(block.values))
            assert scale > 1e-6
            np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10 * scale)


def test_inversion_gives_sigma_times_parity():
    soap, lode = calculators(False)
    calc = lode_rs.EquivariantPowerSpectrum(soap, lode, lambda_max=3)
    frames = structures("cluster", 4)
    reference = calc.compute(frames)
    inverted = calc.compute([rotated(f, -np.eye(3)) for f in frames])
    for (lam, sigma), block in reference.blocks.items():
        sign = sigma * (-1) ** lam
        scale = np.max(np.abs(block.values))
        np.testing.assert_allclose(
            inverted.block(lam, sigma).values, sign * block.values, rtol=0, atol=1e-12 * scale
        )
    assert {s for _, s in reference.keys} == {1, -1}


def test_permutation_of_atoms_permutes_rows():
    soap, lode = calculators(False)
    calc = lode_rs.EquivariantPowerSpectrum(soap, lode, lambda_max=2)
    atoms = random_cluster(5, n_atoms=7)
    order = np.random.default_rng(0).permutation(len(atoms))
    reference = calc.compute(atoms)
    permuted = calc.compute(atoms[order])
    for key, block in reference.blocks.items():
        got = permuted.block(*key)
        scale = np.max(np.abs(block.values))
        np.testing.assert_allclose(got.values, block.values[order], rtol=0, atol=1e-12 * scale)
        np.testing.assert_array_equal(got.center_species, block.center_species[order])


@pytest.mark.parametrize("mixed", [False, True])
def test_lambda_zero_is_the_power_spectrum(mixed):
    """(λ, σ) = (0, +1) holds the power spectrum's columns exactly (matched by labels)."""
    soap, lode = calculators(False)
    second = lode if mixed else None
    frames = structures("cluster", 6)
    power = lode_rs.PowerSpectrum(soap, second).compute(frames)
    block = lode_rs.EquivariantPowerSpectrum(soap, second, lambda_max=1).compute(frames).block(0)
    assert block.values.shape == (power.values.shape[0], 1, power.values.shape[1])
    assert block.label_names[:2] == ("o3_lambda", "o3_sigma")
    columns = {tuple(label): k for k, label in enumerate(power.labels.tolist())}
    labels = block.labels
    assert np.all(labels[:, 6] == labels[:, 7])
    order = [columns[tuple(label)] for label in labels[:, [2, 3, 4, 5, 6]].tolist()]
    assert sorted(order) == list(range(power.values.shape[1]))
    scale = np.max(np.abs(power.values))
    np.testing.assert_allclose(
        block.values[:, 0, :], power.values[:, order], rtol=0, atol=1e-14 * scale
    )
    np.testing.assert_array_equal(block.structure, power.structure)
    np.testing.assert_array_equal(block.centers, power.centers)


def test_mixed_keeps_every_l_pair_and_structure_sums():
    soap, lode = calculators(False)
    frames = structures("cluster", 7)
    result = lode_rs.EquivariantPowerSpectrum(soap, lode, lambda_max=2).compute(frames)
    block = result.block(o3_lambda=2, o3_sigma=1)
    pairs = {tuple(p) for p in block.labels[:, 6:8].tolist()}
    # ρ_{l=2} ⊗ V_{l=0} and ρ_{l=3} ⊗ V_{l=1} are there, as well as their mirror images
    assert {(2, 0), (0, 2), (3, 1), (1, 1), (2, 2)} <= pairs
    sums = block.sum_by_structure()
    assert sums.shape == (2, 5, block.values.shape[2])
    np.testing.assert_allclose(sums[1], block.values[block.structure == 1].sum(axis=0))


def test_bad_input_is_a_clear_error():
    soap, lode = calculators(False)
    frames = structures("cluster", 8)
    with pytest.raises(lode_rs.InvalidParameterError, match="lambda_max = 7 is above"):
        lode_rs.EquivariantPowerSpectrum(soap, lambda_max=7).compute(frames)
    with pytest.raises(lode_rs.InvalidParameterError, match="lambda_max = 6 is above"):
        lode_rs.EquivariantPowerSpectrum(soap, lode, lambda_max=6).compute(frames)
    with pytest.raises(lode_rs.InvalidParameterError, match="lambda_max must be >= 0"):
        lode_rs.EquivariantPowerSpectrum(soap, lambda_max=-1).compute(frames)
    result = lode_rs.EquivariantPowerSpectrum(soap, lambda_max=1).compute(frames)
    with pytest.raises(lode_rs.InvalidParameterError, match="no block"):
        result.block(o3_lambda=0, o3_sigma=-1)
    with pytest.raises(lode_rs.InvalidParameterError, match="no block"):
        result.block(o3_lambda=2)


def test_clebsch_gordan_matches_featomic_up_to_one_sign_per_triple():
    """featomic 0.6 builds real CG coefficients for the same real harmonics, with its own phase
    choice: every (l1, l2, λ) array must equal ours up to one overall sign, to 1e-14."""
    cg = pytest.importorskip("featomic.clebsch_gordan")
    theirs = cg.calculate_cg_coefficients(
        4, cg_backend="python-dense", arrays_backend="numpy", dtype=np.float64, device="cpu"
    )
    checked = 0
    for key, block in theirs.items():
        l1, l2, lam = int(key["l1"]), int(key["l2"]), int(key["lambda"])
        their = block.values.reshape(2 * l1 + 1, 2 * l2 + 1, 2 * lam + 1)
        ours = lode_rs._lode_rs.real_clebsch_gordan(l1, l2, lam)
        k = np.unravel_index(np.argmax(np.abs(ours)), ours.shape)
        sign = np.sign(ours[k] * their[k])
        np.testing.assert_allclose(ours, sign * their, rtol=0, atol=1e-14)
        checked += 1
    assert checked > 30
