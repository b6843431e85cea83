"""scikit-learn adapters: transformers equal the direct lode_rs calls, estimators follow the
conventions (clone, pickle, Pipeline, GridSearchCV) and pass scikit-learn's own checks where the
input is a numeric array.

Which of ``sklearn.utils.estimator_checks`` cannot apply, and why: every check feeds numeric 2D
arrays (``make_blobs``, ``make_regression``...), but the transformers take *structures*
(``ase.Atoms``), which no numeric array can stand for. For them we run the checks that do not
need data (parameters, ``clone``, ``set_params``, ``__init__`` hygiene) and test the rest
(fit/transform consistency, pickling, pipelines) here with structures. The regressors take
numeric arrays and run the full ``check_estimator``.
"""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

import lode_rs

pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.utils import estimator_checks as checks  # noqa: E402

from lode_rs.sklearn import (  # noqa: E402
    ExpansionTransformer,
    KernelRegressor,
    Lode,
    PowerSpectrumTransformer,
    RadialSpectrumTransformer,
    RidgeRegressor,
    Soap,
)


@pytest.fixture(scope="module")
def data():
    frames = lode_rs.datasets.random_ionic_gas(
        24, n_atoms=8, box_range=(6.0, 8.0), min_distance=1.8, seed=1
    )
    return frames, lode_rs.electrostatic_energy(frames)


SOAP = dict(cutoff=3.0, smearing=0.4, n_max=3, l_max=2)
LODE = dict(cutoff=3.0, smearing=1.0, n_max=3, l_max=2)


def test_transformers_equal_direct_calls(data):
    frames, _ = data
    soap = lode_rs.SoapExpansion(**SOAP)
    lode = lode_rs.LodeExpansion(**LODE)
    mixed = lode_rs.PowerSpectrum(soap, lode).compute(frames)
    t = PowerSpectrumTransformer(Soap(**SOAP), Lode(**LODE)).fit(frames)
    assert np.array_equal(t.transform(frames), mixed.sum_by_structure())
    t.set_params(output="mean")
    assert np.array_equal(t.transform(frames), mixed.mean_by_structure())
    t.set_params(output="atoms")
    assert np.array_equal(t.transform(frames), mixed.values)
    assert t.get_feature_names_out()[0] == "species_a=11,species_b=11,n=0,n'=0,l=0"
    radial = lode_rs.invariants.radial(lode_rs.LodeExpansion(**LODE), frames)
    r = RadialSpectrumTransformer(Lode(**LODE), output="features").fit_transform(frames)
    assert np.array_equal(r.values, radial.values)
    e = ExpansionTransformer(Soap(**SOAP)).fit_transform(frames)
    c = lode_rs.SoapExpansion(**SOAP).compute(frames).values
    assert np.array_equal(e, c.reshape(len(c), -1))


def test_species_are_fixed_in_fit(data):
    frames, _ = data
    t = PowerSpectrumTransformer(Soap(**SOAP)).fit(frames)
    sodium_only = [f[f.numbers == 11] for f in frames[:3]]
    assert t.transform(sodium_only).shape[1] == t.n_features_out_
    carbon = frames[0].copy()
    carbon.numbers[:] = 6
    with pytest.raises(lode_rs.InvalidParameterError, match="species 6"):
        t.transform([carbon])
    with pytest.raises(lode_rs.InvalidParameterError, match="structures"):
        t.fit(np.zeros((3, 4)))


def test_clone_and_pickle(data):
    frames, y = data
    pipe = Pipeline(
        [
            ("features", PowerSpectrumTransformer(Soap(**SOAP), Lode(**LODE), output="features")),
            ("model", KernelRegressor(zeta=2, n_sparse=30, regularizer=1e-6)),
        ]
    )
    cloned = clone(pipe)
    assert cloned.get_params()["features__second__smearing"] == 1.0
    assert repr(cloned) == repr(pipe)
    pipe.fit(frames, y)
    prediction = pipe.predict(frames)
    again = pickle.loads(pickle.dumps(pipe))
    assert np.array_equal(again.predict(frames), prediction)
    assert np.array_equal(clone(pipe).fit(frames, y).predict(frames), prediction)


def test_grid_search_equals_manual_cross_validation(data):
    frames, y = data
    pipe = Pipeline(
        [
            ("features", PowerSpectrumTransformer(Soap(**SOAP), output="features")),
            ("model", KernelRegressor(n_sparse=40, regularizer=1e-8)),
        ]
    )
    grid = {"features__first__cutoff": [2.5, 3.5], "model__zeta": [1, 2]}
    folds = KFold(3, shuffle=True, random_state=0)
    search = GridSearchCV(pipe, grid, cv=folds, scoring="neg_mean_squared_error").fit(frames, y)
    # the same scores by hand: lode_rs features and models, no scikit-learn estimator
    manual = {}
    for cutoff in grid["features__first__cutoff"]:
        for zeta in grid["model__zeta"]:
            errors = []
            for train, test in folds.split(frames):
                calc = lode_rs.PowerSpectrum(lode_rs.SoapExpansion(**{**SOAP, "cutoff": cutoff}))
                calc.fix_species([frames[i] for i in train])
                model = lode_rs.models.SparseGPR(
                    kernel=lode_rs.models.PolynomialKernel(zeta),
                    n_sparse=40,
                    regularizer=1e-8,
                )
                model.fit(calc.compute([frames[i] for i in train]), y[train])
                p = model.predict(calc.compute([frames[i] for i in test]))
                errors.append(-np.mean((p - y[test]) ** 2))
            manual[(cutoff, zeta)] = np.mean(errors)
    for params, score in zip(
        search.cv_results_["params"], search.cv_results_["mean_test_score"], strict=True
    ):
        key = (params["features__first__cutoff"], params["model__zeta"])
        assert score == pytest.approx(manual[key], rel=1e-12)
    best = max(manual, key=manual.get)
    assert search.best_params_ == {"features__first__cutoff": best[0], "model__zeta": best[1]}


def test_ridge_on_summed_features_is_additive(data):
    frames, y = data
    t = PowerSpectrumTransformer(Lode(**LODE), output="features").fit(frames)
    x = t.transform(frames)
    on_features = RidgeRegressor(regularizer=1e-6).fit(x, y).predict(x)
    on_sums = RidgeRegressor(regularizer=1e-6, baseline=None).fit(x.sum_by_structure(), y)
    direct = lode_rs.models.Ridge(regularizer=1e-6).fit(x, y).predict(x)
    assert np.array_equal(on_features, direct)
    assert cross_val_score(RidgeRegressor(), x.sum_by_structure(), y, cv=3).shape == (3,)
    assert on_sums.predict(x.sum_by_structure()).shape == (len(frames),)


def _check_results(estimator, expected_failed=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = checks.check_estimator(
            estimator, on_fail=None, expected_failed_checks=expected_failed or {}
        )
    failed = [(r["check_name"], r["exception"]) for r in results if r["status"] == "failed"]
    assert not failed, failed
    return results


def test_regressors_pass_sklearn_checks():
    for estimator in [RidgeRegressor(), KernelRegressor(zeta=1, normalize=False, n_sparse=None)]:
        results = _check_results(estimator)
        assert sum(r["status"] == "passed" for r in results) > 30
    # the default kernel (normalised rows, zeta=2) is made for atomic environments; on
    # make_regression's linear target in raw coordinates it scores R^2 < 0.5, the one check failing
    with warnings.catch_warnings(), pytest.raises(AssertionError):
        warnings.simplefilter("ignore")
        checks.check_regressors_train("KernelRegressor", KernelRegressor())


@pytest.mark.parametrize(
    "estimator",
    [
        PowerSpectrumTransformer(Soap(**SOAP), Lode(**LODE)),
        RadialSpectrumTransformer(Lode(**LODE)),
        ExpansionTransformer(Soap(**SOAP)),
        Soap(**SOAP),
        Lode(**LODE, charges=True),
    ],
)
def test_transformers_pass_the_checks_that_need_no_numeric_data(estimator):
    name = type(estimator).__name__
    checks.check_get_params_invariance(name, estimator)
    checks.check_set_params(name, estimator)
    checks.check_no_attributes_set_in_init(name, estimator)
    assert repr(clone(estimator)) == repr(estimator)
