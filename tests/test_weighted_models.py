"""Signed environment weights in the models: targets that are linear combinations of structures
(binding energies E(AB) − E(A) − E(B)) against explicit constructions."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse

from lode_rs import Features
from lode_rs.models import (
    GPR,
    AtomicData,
    PolynomialKernel,
    Ridge,
    SparseGPR,
    combine_structures,
    load,
    structure_kernel,
    structure_self_kernel,
)
from lode_rs.models.data import as_atomic_data
from test_models import random_features


def binding_combinations(n_dimers: int) -> scipy.sparse.csr_matrix:
    """Structures 3t, 3t+1, 3t+2 are a dimer and its two monomers: target t = +1, −1, −1."""
    rows = np.repeat(np.arange(n_dimers), 3)
    cols = np.arange(3 * n_dimers)
    data = np.tile([1.0, -1.0, -1.0], n_dimers)
    return scipy.sparse.csr_matrix((data, (rows, cols)), shape=(n_dimers, 3 * n_dimers))


def test_combine_structures_rows_and_weights():
    f = random_features(0, 6, 4)
    c = np.zeros((3, 6))
    c[0, [0, 1]] = [1.0, -1.0]
    c[1, 5] = 2.0
    c[2, [1, 2, 3]] = [1.0, 0.0, -0.5]  # an explicit zero is skipped
    data = combine_structures(f, c)
    assert data.n_structures == 3 and data.weights is not None
    expected = np.zeros((3, f.values.shape[1]))
    for t in range(3):
        for s in range(6):
            expected[t] += c[t, s] * f.values[f.structure == s].sum(axis=0)
    np.testing.assert_allclose(data.sum_by_structure(), expected, atol=1e-12)
    # a structure used by two targets appears twice
    assert data.values.shape[0] == sum(
        np.count_nonzero(f.structure == s) for t in range(3) for s in range(6) if c[t, s]
    )
    with pytest.raises(ValueError, match="columns"):
        combine_structures(f, np.ones((2, 5)))


def test_weighted_structure_kernel_is_w_k_w():
    f = random_features(1, 8, 5, species=(1, 6, 8))
    rng = np.random.default_rng(2)
    kernel = PolynomialKernel(2)
    x = kernel.prepare(f.values)
    w = rng.normal(size=x.shape[0])
    data = AtomicData(x, f.structure, f.center_species, f.n_structures, False, weights=w)
    assignment = np.eye(f.n_structures)[f.structure].T * w  # (n_structures, n_rows)
    for match in (True, False):
        k = kernel.pairwise(x, x)
        if match:
            k = k * (f.center_species[:, None] == f.center_species[None, :])
        dense = assignment @ k @ assignment.T
        got = structure_kernel(kernel, data, data, match_species=match)
        np.testing.assert_allclose(got, dense, atol=1e-12)
        np.testing.assert_allclose(
            structure_self_kernel(kernel, data, match_species=match), np.diag(dense), atol=1e-12
        )


def test_ridge_on_signed_weights_equals_ridge_on_differences():
    f = random_features(3, 3 * 20, 6)
    y = np.random.default_rng(4).normal(size=20)
    c = binding_combinations(20)
    weighted = Ridge(regularizer=1e-3, baseline=None).fit(combine_structures(f, c), y)
    sums = as_atomic_data(f).sum_by_structure()
    differences = c @ sums
    explicit = Ridge(regularizer=1e-3, baseline=None).fit(differences, y)
    np.testing.assert_allclose(weighted.weights_, explicit.weights_, atol=1e-12)


def test_gpr_on_weighted_sums_equals_explicit_kernel_model():
    f = random_features(5, 3 * 15, 5)
    y = np.random.default_rng(6).normal(size=15)
    c = binding_combinations(15)
    kernel = PolynomialKernel(2)
    train = combine_structures(f, c)
    model = GPR(kernel=kernel, regularizer=1e-3, baseline=None).fit(train, y)
    # explicit: structure kernel of the 45 structures, combined as C K Cᵀ
    plain = AtomicData(
        kernel.prepare(f.values), f.structure, f.center_species, f.n_structures, False
    )
    k_full = structure_kernel(kernel, plain, plain, match_species=True)
    k = c @ k_full @ c.T
    sigma2 = 1e-3 * np.mean(np.diag(k))
    alpha = np.linalg.solve(k + sigma2 * np.eye(15), y)
    np.testing.assert_allclose(model.alpha_, alpha, rtol=1e-9, atol=1e-9)
    test = random_features(7, 3 * 4, 5)
    c_test = binding_combinations(4)
    plain_test = AtomicData(
        kernel.prepare(test.values), test.structure, test.center_species, test.n_structures, False
    )
    k_test = c_test @ structure_kernel(kernel, plain_test, plain, match_species=True) @ c.T
    np.testing.assert_allclose(
        model.predict(combine_structures(test, c_test)), k_test @ alpha, atol=1e-9
    )
    # sparse GPR on every environment gives the full GPR's mean
    sparse = SparseGPR(kernel=kernel, n_sparse=None, regularizer=1e-3, baseline=None)
    sparse.fit(train, y)
    np.testing.assert_allclose(
        sparse.predict(combine_structures(test, c_test)), k_test @ alpha, atol=1e-8
    )


def test_weighted_models_save_and_load(tmp_path):
    f = random_features(8, 3 * 12, 4)
    y = np.random.default_rng(9).normal(size=12)
    data = combine_structures(f, binding_combinations(12))
    test = combine_structures(random_features(10, 9, 4), binding_combinations(3))
    for model in (
        GPR(kernel=PolynomialKernel(2), regularizer=1e-4, baseline=None),
        SparseGPR(kernel=PolynomialKernel(2), n_sparse=20, regularizer=1e-4, baseline=None),
        Ridge(regularizer=1e-4, baseline=None),
    ):
        model.fit(data, y)
        path = tmp_path / f"{model.model_type}.npz"
        model.save(str(path))
        again = load(path)
        pred, var = again.predict(test, return_variance=True)
        np.testing.assert_allclose(pred, model.predict(test), atol=1e-12)
        assert np.all(var >= 0)


def test_monomer_limit_is_exactly_zero():
    """A 'dimer' whose environments are those of its monomers has a binding prediction of 0."""
    a, b = random_features(11, 1, 4), random_features(12, 1, 4)
    dimer = np.concatenate([a.values, b.values])
    values = np.concatenate([dimer, a.values, b.values])
    n = len(dimer)
    f = Features(
        values=values,
        structure=np.repeat([0, 1, 2], [n, len(a.values), len(b.values)]),
        centers=np.arange(len(values)),
        center_species=np.concatenate([a.center_species, b.center_species] * 2),
        labels=np.arange(4)[:, None],
        label_names=("feature",),
        n_structures=3,
    )
    train = combine_structures(random_features(13, 3 * 10, 4), binding_combinations(10))
    model = GPR(kernel=PolynomialKernel(3), regularizer=1e-3, baseline=None)
    model.fit(train, np.random.default_rng(14).normal(size=10))
    assert abs(model.predict(combine_structures(f, binding_combinations(1)))[0]) < 1e-10
