"""SA-GPR and TensorModel: spherical basis, recovery of known linear targets, two solution routes,
rotation of predicted tensors, save/load, bad targets."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

import lode_rs
from helpers import random_cluster, real_harmonics
from lode_rs.models import (
    SAGPR,
    EquivariantSums,
    TensorModel,
    cartesian_to_spherical,
    spherical_to_cartesian,
)
from lode_rs.models.sagpr import normalized
from lode_rs.models.tensor import B2
from test_equivariant import rotated, wigner_d

SPECIES = [1, 8]


@pytest.fixture(scope="module")
def data():
    frames = [
        random_cluster(seed, n_atoms=4 + seed % 3, species=(1, 8), radius=2.0)
        for seed in range(100)
    ]
    soap = lode_rs.SoapExpansion(cutoff=3.0, smearing=0.4, n_max=2, l_max=2, species=SPECIES)
    calc = lode_rs.EquivariantPowerSpectrum(soap, lambda_max=2)
    return frames, calc, calc.compute(frames)


def linear_target(features, lam: int, seed: int) -> np.ndarray:
    """``t_μ(A) = Σ_{i∈A} w_{s(i)} · x̂^λ_μ(i)``: exactly the form of a linear SA-GPR model."""
    block = features.block(lam, 1)
    x = normalized(block.values)
    rng = np.random.default_rng(seed)
    weights = {s: rng.normal(size=x.shape[2]) for s in SPECIES}
    out = np.zeros((features.n_structures, 2 * lam + 1))
    for i, s in enumerate(block.center_species):
        out[block.structure[i]] += x[i] @ weights[int(s)]
    return out


def test_spherical_basis_matches_the_harmonics():
    """rᵀ B²_μ r = √(8π/15) Y_2μ(r) for unit r, with scipy's real harmonics."""
    rng = np.random.default_rng(0)
    r = rng.normal(size=(20, 3))
    r /= np.linalg.norm(r, axis=1, keepdims=True)
    y2 = real_harmonics(2, np.arccos(r[:, 2]), np.arctan2(r[:, 1], r[:, 0]))[4:9].T
    quadratic = np.einsum("na,mab,nb->nm", r, B2, r)
    np.testing.assert_allclose(quadratic, np.sqrt(8 * np.pi / 15) * y2, atol=1e-14)
    # orthonormal and traceless
    np.testing.assert_allclose(np.einsum("mab,nab->mn", B2, B2), np.eye(5), atol=1e-15)
    np.testing.assert_allclose(np.trace(B2, axis1=1, axis2=2), 0, atol=1e-15)


def test_cartesian_spherical_round_trip_and_rotation():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(6, 3, 3))
    t = a + a.transpose(0, 2, 1)
    t0, t2 = cartesian_to_spherical(t)
    np.testing.assert_allclose(t0[:, 0], np.trace(t, axis1=1, axis2=2) / np.sqrt(3), atol=1e-14)
    np.testing.assert_allclose(spherical_to_cartesian(t0, t2), t, atol=1e-14)
    rotation = Rotation.random(random_state=3).as_matrix()
    r0, r2 = cartesian_to_spherical(rotation @ t @ rotation.T)
    np.testing.assert_allclose(r0, t0, atol=1e-13)
    np.testing.assert_allclose(r2, t2 @ wigner_d(2, rotation).T, atol=1e-13)


@pytest.mark.parametrize("lam", [1, 2])
def test_known_linear_target_is_recovered(data, lam):
    """A target in the model's span is reproduced on unseen structures (to 1e-8 relative; the
    regularizer 1e-12 biases it by about that much)."""
    frames, calc, features = data
    features = lode_rs.EquivariantPowerSpectrum(calc.first, lambda_max=2).compute(frames)
    y = linear_target(features, lam, seed=lam)
    train, test = np.arange(80), np.arange(80, 100)
    model = SAGPR(o3_lambda=lam, regularizer=1e-12)
    model.fit(features.select(train), y[train])
    prediction = model.predict(features.select(test))
    assert np.std(y[test]) > 0.1
    np.testing.assert_allclose(prediction, y[test], rtol=0, atol=1e-8 * np.max(np.abs(y)))
    # cross-validation picks a tiny regularizer for noise-free data and still recovers it
    cv = SAGPR(o3_lambda=lam).fit(features.select(train), y[train])
    assert cv.regularizer_ <= 1e-6
    np.testing.assert_allclose(
        cv.predict(features.select(test)), y[test], rtol=0, atol=1e-4 * np.max(np.abs(y))
    )


def test_tensor_model_recovers_a_known_tensor(data):
    _, _, features = data
    t0 = linear_target(features, 0, seed=5) + 3.0
    t2 = linear_target(features, 2, seed=6)
    tensors = spherical_to_cartesian(t0, t2)
    train, test = np.arange(80), np.arange(80, 100)
    model = TensorModel(regularizer=1e-12).fit(features.select(train), tensors[train])
    prediction = model.predict(features.select(test))
    np.testing.assert_allclose(
        prediction, tensors[test], rtol=0, atol=1e-8 * np.max(np.abs(tensors))
    )


@pytest.mark.parametrize("zeta", [1, 2])
def test_full_and_sparse_routes_agree(data, zeta):
    """Full GPR (primal ridge for ζ = 1, kernel eigen-solve for ζ = 2) equals sparse GPR with
    every training environment active: two routes to the same predictions. The sparse route
    drops the directions of K_MM below ``jitter`` × its largest eigenvalue; at 1e-14 the routes
    agree to ~1e-9 here (ζ = 1: 2e-13; at the default 1e-12, ζ = 2 differs by ~1e-6), so 1e-7."""
    warnings.simplefilter("ignore")  # a few duplicate environments among the active ones
    _, _, features = data
    y = np.random.default_rng(zeta).normal(size=(features.n_structures, 5))
    train, test = np.arange(30), np.arange(30, 48)
    sub = features.select(train)
    n_env = sub.block(2).values.shape[0]
    full = SAGPR(o3_lambda=2, zeta=zeta, regularizer=1e-3).fit(sub, y[train])
    sparse = SAGPR(o3_lambda=2, zeta=zeta, regularizer=1e-3, n_sparse=n_env, jitter=1e-14)
    sparse.fit(sub, y[train])
    a, b = full.predict(features.select(test)), sparse.predict(features.select(test))
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-7 * np.max(np.abs(a)))


@pytest.mark.parametrize("options", [dict(), dict(zeta=2, n_sparse=40)])
def test_predictions_rotate_and_survive_save_load(data, tmp_path, options):
    """R·structure → R ε Rᵀ: exact in the model, 1e-10 relative in floating point (feature
    rounding, ~1e-15, amplified by the weights of a weakly regularised fit)."""
    frames, calc, features = data
    rng = np.random.default_rng(7)
    a = rng.normal(size=(len(frames), 3, 3))
    tensors = a + a.transpose(0, 2, 1) + 4 * np.eye(3)
    model = TensorModel(regularizer=1e-4, **options).fit(features, tensors)
    test = [random_cluster(100 + k, n_atoms=5, species=(1, 8), radius=2.0) for k in range(4)]
    prediction = model.predict(calc.compute(test))
    assert np.max(np.abs(prediction - 4 * np.eye(3))) > 1e-3
    np.testing.assert_allclose(prediction, prediction.transpose(0, 2, 1), atol=1e-14)
    for seed in range(2):
        rotation = Rotation.random(random_state=seed).as_matrix()
        moved = model.predict(calc.compute([rotated(f, rotation) for f in test]))
        expected = rotation @ prediction @ rotation.T
        np.testing.assert_allclose(moved, expected, rtol=0, atol=1e-10 * np.max(np.abs(expected)))
    path = tmp_path / "tensor.npz"
    model.save(path)
    loaded = lode_rs.models.load(path)
    assert isinstance(loaded, TensorModel)
    np.testing.assert_array_equal(loaded.predict(calc.compute(test)), prediction)
    part = tmp_path / "l2.npz"
    model.lambda2.save(part)
    np.testing.assert_array_equal(
        lode_rs.models.load(part).predict(calc.compute(test)),
        model.lambda2.predict(calc.compute(test)),
    )


def test_bad_targets_and_inputs_are_clear_errors(data):
    _, _, features = data
    n = features.n_structures
    tensors = np.tile(np.eye(3), (n, 1, 1))
    skew = tensors.copy()
    skew[:, 0, 1] += 0.1
    with pytest.raises(lode_rs.InvalidInputError, match="must be symmetric"):
        TensorModel().fit(features, skew)
    with pytest.raises(lode_rs.InvalidInputError, match=r"shape \(n_structures, 3, 3\)"):
        TensorModel().fit(features, np.zeros((n, 9)))
    with pytest.raises(lode_rs.InvalidInputError, match="got 3 tensors"):
        TensorModel().fit(features, tensors[:3])
    with pytest.raises(lode_rs.InvalidInputError, match=r"shape \(n_structures, 3\)"):
        SAGPR(o3_lambda=1).fit(features, np.zeros((n, 5)))
    with pytest.raises(lode_rs.InvalidInputError, match="not fitted"):
        TensorModel().predict(features)
    with pytest.raises(lode_rs.InvalidParameterError, match="no block"):
        SAGPR(o3_lambda=3).fit(features, np.zeros((n, 7)))
    with pytest.raises(lode_rs.InvalidParameterError, match="lambda2 λ = 2"):
        TensorModel(lambda2=SAGPR(o3_lambda=1))
    with pytest.raises(lode_rs.InvalidInputError, match="EquivariantFeatures"):
        SAGPR(o3_lambda=0).fit(np.zeros((n, 4)), np.zeros(n))
    nan = tensors.copy()
    nan[0, 0, 0] = np.nan
    with pytest.raises(lode_rs.InvalidInputError, match="NaN"):
        TensorModel().fit(features, nan)


def test_precomputed_sums_give_the_same_model(data):
    """Linear SA-GPR on EquivariantSums (built in two batches, stacked) = on the features."""
    _, _, features = data
    y = linear_target(features, 2, seed=9)
    direct = SAGPR(o3_lambda=2, regularizer=1e-6).fit(features.select(np.arange(60)), y[:60])
    batches = [
        EquivariantSums.from_features(features.select(rows), 2, species=SPECIES)
        for rows in (np.arange(30), np.arange(30, 60))
    ]
    sums = EquivariantSums.stack(batches)
    via_sums = SAGPR(o3_lambda=2, regularizer=1e-6).fit(sums, y[:60])
    test = features.select(np.arange(60, 100))
    test_sums = EquivariantSums.from_features(test, 2, species=SPECIES)
    expected = direct.predict(test)
    np.testing.assert_allclose(via_sums.predict(test_sums), expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(via_sums.predict(test), expected, rtol=0, atol=1e-12)
    doubled = EquivariantSums.concatenate([sums, sums])
    assert doubled.values.shape[3] == 2 * sums.values.shape[3]
    with pytest.raises(lode_rs.InvalidParameterError, match="only serve linear"):
        SAGPR(o3_lambda=2, zeta=2).fit(sums, y[:60])
    with pytest.raises(lode_rs.InvalidInputError, match="block"):
        SAGPR(o3_lambda=0).fit(sums, y[:60, :1])


def test_params_clone_and_pickle(data):
    import pickle

    _, _, features = data
    t0 = linear_target(features, 0, seed=5) + 3.0
    t2 = linear_target(features, 2, seed=6)
    tensors = spherical_to_cartesian(t0, t2)
    model = TensorModel(regularizer=1e-6)
    assert model.get_params()["lambda2__regularizer"] == 1e-6
    model.set_params(lambda2__zeta=2, lambda2__n_sparse=40)
    assert (model.lambda2.zeta, model.lambda2.n_sparse, model.lambda0.zeta) == (2, 40, 1)
    with pytest.raises(lode_rs.InvalidParameterError, match="no parameters"):
        model.set_params(lambda2__zetaa=2)
    with pytest.raises(lode_rs.InvalidParameterError, match="zeta"):
        model.set_params(lambda2__zeta=0)
    with pytest.raises(lode_rs.InvalidParameterError, match="λ = 2"):
        TensorModel().set_params(lambda2=SAGPR(o3_lambda=1))
    sagpr = SAGPR(o3_lambda=2).set_params(regularizer=1e-3)
    assert sagpr.get_params(deep=True) == sagpr.clone().get_params(deep=False)
    model.fit(features, tensors)
    again = pickle.loads(pickle.dumps(model))
    assert np.array_equal(again.predict(features), model.predict(features))
