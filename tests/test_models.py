"""Regression models on synthetic features: accuracy, equivalences, persistence, bad input."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import lode_rs
from lode_rs import Features
from lode_rs.models import (
    GPR,
    PolynomialKernel,
    Ridge,
    SparseGPR,
    SumKernel,
    block_sizes,
    concatenate,
    farthest_point_sampling,
    load,
    select_active,
    species_quotas,
)


def random_features(seed: int, n_structures: int, n_features: int, species=(1, 8), atoms=(2, 5)):
    """Features with a random number of environments per structure, species cycling."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(atoms[0], atoms[1] + 1, n_structures)
    structure = np.repeat(np.arange(n_structures), counts)
    centers = np.concatenate([np.arange(c) for c in counts])
    center_species = np.asarray(species)[centers % len(species)]
    values = rng.normal(size=(structure.size, n_features))
    return Features(
        values=values,
        structure=structure,
        centers=centers,
        center_species=center_species,
        labels=np.arange(n_features)[:, None],
        label_names=("feature",),
        n_structures=n_structures,
    )


def fourier_features(t: np.ndarray, n_harmonics: int = 3) -> np.ndarray:
    """Per-structure features [1, cos kt, sin kt] of a 1D variable (constant norm)."""
    columns = [np.ones_like(t)]
    for k in range(1, n_harmonics + 1):
        columns += [np.cos(k * t), np.sin(k * t)]
    return np.stack(columns, axis=1)


def smooth(t: np.ndarray) -> np.ndarray:
    return np.exp(np.sin(t)) + 0.3 * np.cos(2 * t)


def rmse(a, b) -> float:
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


# ---- accuracy and equivalences ------------------------------------------------------------------


def test_gpr_recovers_smooth_function():
    rng = np.random.default_rng(0)
    t_train, t_test = rng.uniform(0, 2 * np.pi, 80), rng.uniform(0, 2 * np.pi, 200)
    model = GPR(kernel=PolynomialKernel(zeta=6), regularizer=1e-10)
    model.fit(fourier_features(t_train), smooth(t_train))
    error = rmse(model.predict(fourier_features(t_test)), smooth(t_test))
    assert error < 1e-3 * np.std(smooth(t_test))


def test_sparse_with_all_environments_equals_full_gpr():
    train, test = random_features(1, 30, 20), random_features(2, 10, 20)
    y = np.random.default_rng(3).normal(size=30)
    full = GPR(kernel=PolynomialKernel(zeta=2), regularizer=1e-4).fit(train, y)
    sparse = SparseGPR(kernel=PolynomialKernel(zeta=2), n_sparse=None, regularizer=1e-4)
    sparse.fit(train, y)
    np.testing.assert_allclose(sparse.predict(test), full.predict(test), rtol=0, atol=1e-8)
    # an FPS active set of every environment gives the same
    n_rows = train.values.shape[0]
    fps = SparseGPR(kernel=PolynomialKernel(zeta=2), n_sparse=n_rows, regularizer=1e-4).fit(
        train, y
    )
    np.testing.assert_allclose(fps.predict(test), full.predict(test), rtol=0, atol=1e-8)


def test_ridge_recovers_additive_linear_model():
    train, test = random_features(4, 60, 6), random_features(5, 20, 6)
    weights = np.array([0.5, -1.0, 2.0, 0.0, 0.25, 3.0])
    offsets = {1: -0.5, 8: -75.0}

    def target(f: Features) -> np.ndarray:
        atomic = f.values @ weights + np.vectorize(offsets.get)(f.center_species)
        return np.bincount(f.structure, weights=atomic, minlength=f.n_structures)

    model = Ridge(regularizer=0.0).fit(train, target(train))
    np.testing.assert_allclose(model.weights_, weights, atol=1e-10)
    np.testing.assert_allclose(model.offsets_, [-0.5, -75.0], atol=1e-9)
    np.testing.assert_allclose(model.predict(test), target(test), atol=1e-9)


@pytest.mark.parametrize("match_species", [True, False])
def test_blocked_structure_kernel_matches_dense(monkeypatch, match_species):
    from lode_rs.models import AtomicData, structure_kernel, structure_self_kernel

    def data(f: Features) -> AtomicData:
        kernel = PolynomialKernel(3)
        return AtomicData(
            kernel.prepare(f.values), f.structure, f.center_species, f.n_structures, False
        )

    a = data(random_features(40, 12, 5, species=(1, 8, 8)))
    b = data(random_features(41, 9, 5))
    kernel = PolynomialKernel(3)

    def dense(x: AtomicData, y: AtomicData, reduce_y: bool = True) -> np.ndarray:
        k = kernel.pairwise(x.values, y.values)
        if match_species:
            k = k * (x.species[:, None] == y.species[None, :])
        left = np.eye(x.n_structures)[x.structure].T
        return left @ k @ np.eye(y.n_structures)[y.structure] if reduce_y else left @ k

    monkeypatch.setattr("lode_rs.models.kernels._BLOCK", 7)  # many blocks, ragged edges
    for x, y in ((a, a), (a, b), (b, a)):
        np.testing.assert_allclose(
            structure_kernel(kernel, x, y, match_species=match_species), dense(x, y), atol=1e-12
        )
    np.testing.assert_allclose(
        structure_kernel(kernel, a, b, match_species=match_species, reduce_b=False),
        dense(a, b, reduce_y=False),
        atol=1e-12,
    )
    np.testing.assert_allclose(
        structure_self_kernel(kernel, a, match_species=match_species),
        np.diag(dense(a, a)),
        atol=1e-12,
    )


def test_sparse_cross_validation_route_matches_the_qr_solution():
    from lode_rs.models.data import as_atomic_data

    x, y = random_features(50, 30, 6), np.random.default_rng(51).normal(size=30)
    model = SparseGPR(PolynomialKernel(2), n_sparse=25)
    model._selections = {}
    problem = model._problem(as_atomic_data(x), y, model.kernel)
    train, test = np.arange(0, 30, 3), np.setdiff1d(np.arange(30), np.arange(0, 30, 3))
    state = problem.prepare(train)  # 10 structures < 25 active: rank-deficient K_NM
    regularizers = [1e-8, 1e-4, 1e-1]
    for reg, fast in zip(
        regularizers, problem.cv_predictions(state, regularizers, test), strict=True
    ):
        exact = problem.predict(problem.solve(state, reg), test)
        np.testing.assert_allclose(fast, exact, rtol=1e-6, atol=1e-9 * np.abs(exact).max())


def test_kernel_models_are_additive_over_environments():
    train, test = random_features(6, 25, 8), random_features(7, 3, 8)
    y = np.random.default_rng(8).normal(size=25)
    # every environment of the test set as its own structure
    atoms = Features(
        test.values,
        np.arange(test.values.shape[0]),
        test.centers,
        test.center_species,
        test.labels,
        test.label_names,
        test.values.shape[0],
    )
    for model in (GPR(regularizer=1e-3), SparseGPR(n_sparse=20, regularizer=1e-3), Ridge()):
        model.fit(train, y)
        per_atom = np.bincount(test.structure, weights=model.predict(atoms))
        np.testing.assert_allclose(model.predict(test), per_atom, atol=1e-10)


def test_sum_kernel_on_concatenated_blocks():
    a, b = random_features(9, 20, 5), random_features(9, 20, 3)
    b = Features(
        np.random.default_rng(10).normal(size=b.values.shape),
        a.structure,
        a.centers,
        a.center_species,
        b.labels,
        b.label_names,
        a.n_structures,
    )
    both = concatenate([a, b], weights=[1.0, 2.0])
    assert block_sizes(both) == [5, 3]
    np.testing.assert_array_equal(both.values[:, 5:], 2.0 * b.values)
    y = np.random.default_rng(11).normal(size=20)
    only_a = SumKernel([PolynomialKernel(2), PolynomialKernel(1)], block_sizes(both), [1.0, 0.0])
    reference = GPR(PolynomialKernel(2), regularizer=1e-3).fit(a, y).predict(a)
    np.testing.assert_allclose(
        GPR(only_a, regularizer=1e-3).fit(both, y).predict(both), reference, atol=1e-10
    )
    mixed = GPR(SumKernel([PolynomialKernel(2), PolynomialKernel(1)], [5, 3], [1.0, 0.5]))
    assert np.all(np.isfinite(mixed.fit(both, y).predict(both)))


def test_variances_are_positive_and_grow_away_from_data():
    rng = np.random.default_rng(12)
    t = rng.uniform(0, np.pi, 40)
    x, y = fourier_features(t), smooth(t) + 0.01 * rng.normal(size=40)
    far = fourier_features(np.array([1.5 * np.pi, 1.6 * np.pi]))
    for model in (
        GPR(PolynomialKernel(4), regularizer=1e-4),
        SparseGPR(PolynomialKernel(4), n_sparse=15, regularizer=1e-4),
    ):
        model.fit(x, y)
        _, var_train = model.predict(x, return_variance=True)
        _, var_far = model.predict(far, return_variance=True)
        assert np.all(var_train >= 0) and np.all(np.isfinite(var_far))
        assert var_far.min() > 10 * np.median(var_train), type(model).__name__
    # linear model: the latent variance is a quadratic form of the summed features
    ridge = Ridge(regularizer=1e-4).fit(x, y)
    _, var = ridge.predict(far, return_variance=True)
    _, var3 = ridge.predict(3 * far, return_variance=True)
    assert np.all(var > 0)
    np.testing.assert_allclose(var3, 9 * var, rtol=1e-10)


# ---- farthest-point sampling --------------------------------------------------------------------


def test_fps_picks_distinct_extreme_points():
    points = np.linspace(0, 1, 11)[:, None]
    chosen = farthest_point_sampling(points, 3)
    assert sorted(chosen.tolist()) == [0, 5, 10]
    duplicated = np.repeat(np.random.default_rng(0).normal(size=(4, 3)), 2, axis=0)
    assert len(set(farthest_point_sampling(duplicated, 8).tolist())) == 8


def test_fps_respects_species():
    rng = np.random.default_rng(1)
    species = np.array([1] * 60 + [8] * 30 + [6] * 2)
    points = rng.normal(size=(species.size, 4))
    assert species_quotas({1: 60, 8: 30, 6: 2}, 10) == {1: 6, 6: 1, 8: 3}
    chosen = select_active(points, species, 10)
    assert len(set(chosen.tolist())) == 10
    assert np.bincount(species[chosen]).tolist()[1] == 6
    assert sorted(np.unique(species[chosen]).tolist()) == [1, 6, 8]
    assert species_quotas({1: 5, 8: 1}, 6) == {1: 5, 8: 1}
    model = SparseGPR(n_sparse=9, regularizer=1e-3).fit(random_features(2, 10, 6), np.ones(10))
    assert sorted(np.unique(model.active_species_).tolist()) == [1, 8]


# ---- hyper-parameters by cross-validation, learning curves --------------------------------------


def test_cross_validation_picks_a_sensible_regularizer():
    rng = np.random.default_rng(2)
    t, t_test = rng.uniform(0, 2 * np.pi, 60), np.linspace(0, 2 * np.pi, 200)
    x = fourier_features(t, n_harmonics=6)
    y = smooth(t) + 0.3 * rng.normal(size=t.size)
    chosen = GPR(PolynomialKernel(zeta=None), regularizer=None).fit(x, y)
    assert chosen.regularizer_ > 1e-6
    assert chosen.kernel_.zeta in (1, 2, 3, 4)
    grid = len(lode_rs.models.REGULARIZER_GRID)
    assert np.asarray(chosen.cv_scores_["rmse"]).shape == (4, grid)
    x_test, truth = fourier_features(t_test, n_harmonics=6), smooth(t_test)
    assert rmse(chosen.predict(x_test), truth) < 0.25  # noise std 0.3
    # at a fixed, flexible zeta the cross-validated regularizer beats interpolating the noise
    tuned = GPR(PolynomialKernel(zeta=3), regularizer=None).fit(x, y)
    overfit = GPR(PolynomialKernel(zeta=3), regularizer=1e-8).fit(x, y)
    assert rmse(tuned.predict(x_test), truth) < 0.5 * rmse(overfit.predict(x_test), truth)
    ridge = Ridge(regularizer=None).fit(x, y)
    assert ridge.regularizer_ in lode_rs.models.REGULARIZER_GRID
    few = GPR(regularizer=None).fit(x[:3], y[:3])  # fewer structures than folds: leave-one-out
    assert few.cv_scores_["n_folds"] == 3
    with pytest.raises(ValueError, match="cross-validation needs at least 2 structures"):
        GPR(regularizer=None).fit(x[:1], y[:1])


def test_learning_curve_decreases(tmp_path):
    rng = np.random.default_rng(3)
    t = rng.uniform(0, 2 * np.pi, 120)
    x, y = fourier_features(t), smooth(t)
    model = GPR(PolynomialKernel(zeta=4), regularizer=1e-8)
    curve = lode_rs.learning_curve(
        model, x, y, train_sizes=[4, 8, 16, 32], n_splits=3, test_size=40
    )
    assert curve.errors.shape == (3, 4)
    assert np.all(np.diff(curve.mean) < 0)
    assert curve.mean[-1] < 1.0  # % of the test std
    sparse_curve = lode_rs.learning_curve(
        SparseGPR(PolynomialKernel(zeta=4), n_sparse=4, regularizer=1e-6), x, y, [8, 32], n_splits=2
    )
    path = tmp_path / "curves.png"
    lode_rs.plotting.learning_curves(
        {"GPR": curve, "SparseGPR": sparse_curve}, path, title="synthetic"
    )
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---- persistence --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model",
    [
        Ridge(regularizer=1e-6),
        GPR(PolynomialKernel(3), regularizer=1e-5),
        SparseGPR(PolynomialKernel(2), n_sparse=12, regularizer=1e-5),
        GPR(SumKernel([PolynomialKernel(2), PolynomialKernel(1)], [4, 3], [1.0, 0.3])),
    ],
    ids=["ridge", "gpr", "sparse", "sum-kernel"],
)
def test_save_then_load_predicts_identically(model, tmp_path):
    train, test = random_features(20, 15, 7), random_features(21, 5, 7)
    y = np.random.default_rng(22).normal(size=15)
    description = {"calculator": "SoapExpansion", "cutoff": 3.0, "n_max": 6, "species": [1, 8]}
    model.fit(train, y, features=description)
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = load(path)
    assert type(loaded) is type(model)
    assert loaded.features_ == description
    assert loaded.kernel_ == model.kernel_ and loaded.regularizer_ == model.regularizer_
    mean, var = model.predict(test, return_variance=True)
    mean2, var2 = loaded.predict(test, return_variance=True)
    np.testing.assert_array_equal(mean, mean2)
    np.testing.assert_array_equal(var, var2)
    with np.load(path, allow_pickle=False) as archive:  # no pickled objects inside
        assert json.loads(str(archive["metadata"]))["model"] == type(model).__name__


# ---- bad input ----------------------------------------------------------------------------------


def _small():
    return random_features(30, 8, 4), np.random.default_rng(31).normal(size=8)


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        (lambda y: y[:-1], "7 targets for 8 structures"),
        (lambda y: np.where(np.arange(8) == 3, np.nan, y), r"missing \(None/NaN\)"),
        (lambda y: [None if i == 2 else v for i, v in enumerate(y)], r"structures \(first: \[2\]"),
        (lambda y: np.where(np.arange(8) == 1, np.inf, y), "infinite"),
        (lambda y: np.stack([y, y], axis=1), "one scalar per structure"),
    ],
)
def test_bad_targets(targets, message):
    x, y = _small()
    for model in (Ridge(), GPR(), SparseGPR(n_sparse=5)):
        with pytest.raises(lode_rs.InvalidInputError, match=message):
            model.fit(x, targets(y))


def test_bad_features():
    x, y = _small()
    values = x.values.copy()
    values[4, 1] = np.nan
    bad = Features(values, x.structure, x.centers, x.center_species, x.labels, x.label_names, 8)
    with pytest.raises(ValueError, match="NaN or infinite"):
        GPR().fit(bad, y)
    with pytest.raises(ValueError, match="2D array"):
        Ridge().fit(np.ones(8), y)
    model = GPR(regularizer=1e-3).fit(x, y)
    with pytest.raises(ValueError, match="fitted on 4 features, got 3"):
        model.predict(random_features(1, 2, 3))
    with pytest.raises(ValueError, match=r"central species \[6\] were not in the training set"):
        model.predict(random_features(1, 2, 4, species=(1, 6)))
    with pytest.raises(ValueError, match="fitted on Features"):
        model.predict(np.ones((2, 4)))
    with pytest.raises(ValueError, match="not fitted"):
        GPR().predict(x)
    with pytest.raises(ValueError, match="every block needs 25 rows"):
        concatenate([x, random_features(99, 8, 2)])


def test_bad_parameters_and_singular_systems():
    x, y = _small()
    n_rows = x.values.shape[0]
    with pytest.raises(
        ValueError, match=f"larger than the number of training environments \\({n_rows}"
    ):
        SparseGPR(n_sparse=n_rows + 1).fit(x, y)
    with pytest.raises(ValueError, match="smaller than the number of species"):
        SparseGPR(n_sparse=1).fit(x, y)
    with pytest.raises(ValueError, match="regularizer must be"):
        GPR(regularizer=-1.0)
    with pytest.raises(ValueError, match="zeta must be"):
        PolynomialKernel(zeta=1.5)
    with pytest.raises(ValueError, match="JSON"):
        Ridge().fit(x, y, features={"cutoff": object()})
    # duplicated structures: singular kernel matrix without regularization
    dup = np.tile(fourier_features(np.linspace(0, 1, 3)), (2, 1))
    with pytest.raises(ValueError, match="singular"):
        GPR(regularizer=0.0, baseline=None).fit(dup, np.arange(6.0))
    # more features than structures: rank-deficient ridge warns and stays finite
    wide = np.random.default_rng(0).normal(size=(5, 10))
    with pytest.warns(UserWarning, match="rank 4 < 10"):
        model = Ridge(regularizer=0.0).fit(wide, np.arange(5.0))
    assert np.all(np.isfinite(model.predict(wide)))
    # zero-norm environments contribute nothing, with a warning
    values = x.values.copy()
    values[0] = 0.0
    zero = Features(values, x.structure, x.centers, x.center_species, x.labels, x.label_names, 8)
    with pytest.warns(UserWarning, match="all-zero features"):
        GPR(regularizer=1e-3).fit(zero, y)
    with pytest.raises(ValueError, match="train sizes"):
        lode_rs.learning_curve(Ridge(), x, y, train_sizes=[7], test_size=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Ridge(regularizer=None).fit(x, y)  # CV never warns


@pytest.mark.parametrize("model", [Ridge(), GPR(), SparseGPR(n_sparse=4)])
def test_an_unfitted_model_raises_not_fitted(model, tmp_path):
    x, y = _small()
    for use in (lambda: model.predict(x), lambda: model.save(tmp_path / "m.npz")):
        with pytest.raises(lode_rs.NotFittedError, match="not fitted") as error:
            use()
        # a ValueError like the other usage errors, an AttributeError like scikit-learn's,
        # and not an input error: the input is fine, the model is not ready
        assert isinstance(error.value, ValueError) and isinstance(error.value, AttributeError)
        assert not isinstance(error.value, lode_rs.InvalidInputError)
    assert lode_rs.models.NotFittedError is lode_rs.NotFittedError
    model.fit(x, y).predict(x)
