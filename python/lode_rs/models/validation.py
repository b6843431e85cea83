"""Learning curves: test error against training-set size over random structure-level splits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._lode_rs import InvalidParameterError
from .base import Regressor, rmse_percent
from .data import as_atomic_data, check_targets


@dataclass(frozen=True)
class LearningCurve:
    """Test errors of a model against the number of training structures.

    Attributes:
        train_sizes: ``(n_sizes,)`` numbers of training structures.
        errors: ``(n_splits, n_sizes)`` RMSE on the test set, in % of the test targets' std.
        mean: ``(n_sizes,)`` mean over splits.
        std: ``(n_sizes,)`` standard deviation over splits.
        test_size: number of test structures of every split.
        parity: ``(reference, predicted)`` test targets and predictions of the first split at
            the largest training size (for parity plots, :func:`lode_rs.plotting.parity`), or
            ``None`` when not recorded.
    """

    train_sizes: np.ndarray
    errors: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    test_size: int
    parity: tuple[np.ndarray, np.ndarray] | None = None


def learning_curve(
    model: Regressor,
    x: Any,
    y: Any,
    train_sizes: Sequence[int],
    n_splits: int = 5,
    *,
    test_fraction: float = 0.2,
    test_size: int | None = None,
    seed: int = 0,
) -> LearningCurve:
    """Learning curve of ``model`` over random train/test splits of the structures.

    For each of ``n_splits`` random permutations of the structures, the first ``test_size``
    (default ``round(test_fraction * n_structures)``) are the test set and, for every ``n`` in
    ``train_sizes``, a fresh copy of ``model`` (:meth:`Regressor.clone`) is fitted on the next
    ``n`` structures (nested training sets). The error is the test RMSE as a percentage of the
    standard deviation of the test targets.
    """
    data = as_atomic_data(x)
    targets = check_targets(y, data.n_structures)
    n = data.n_structures
    if test_size is None:
        if not 0 < test_fraction < 1:
            raise InvalidParameterError(f"test_fraction must be in (0, 1), got {test_fraction}")
        test_size = int(round(test_fraction * n))
    test_size = int(test_size)
    sizes = np.asarray(sorted({int(s) for s in train_sizes}), dtype=np.int64)
    if sizes.size == 0 or sizes[0] < 1:
        raise InvalidParameterError(f"train_sizes must be positive integers, got {train_sizes}")
    if test_size < 2 or sizes[-1] + test_size > n:
        raise InvalidParameterError(
            f"{n} structures cannot hold a test set of {test_size} (>= 2) and a training set of "
            f"{sizes[-1]}; use train sizes <= {n - max(test_size, 2)}"
        )
    if int(n_splits) != n_splits or n_splits < 1:
        raise InvalidParameterError(f"n_splits must be an integer >= 1, got {n_splits}")
    rng = np.random.default_rng(seed)
    errors = np.zeros((int(n_splits), sizes.size))
    parity = None
    for split in range(int(n_splits)):
        order = rng.permutation(n)
        test = order[:test_size]
        test_data = data.subset(test)
        for j, size in enumerate(sizes):
            train = order[test_size : test_size + size]
            fitted = model.clone().fit(data.subset(train), targets[train])
            predicted = fitted.predict(test_data)
            errors[split, j] = rmse_percent(predicted, targets[test])
            if split == 0 and j == sizes.size - 1:
                parity = (targets[test], np.asarray(predicted))
    return LearningCurve(
        train_sizes=sizes,
        errors=errors,
        mean=errors.mean(axis=0),
        std=errors.std(axis=0),
        test_size=test_size,
        parity=parity,
    )
