"""Shared machinery of the regression models: input checks, baselines, cross-validation, save."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from ..errors import InvalidInputError, InvalidParameterError, NotFittedError
from .data import AtomicData, as_atomic_data, check_regularizer, check_targets
from .kernels import Kernel, kernel_from_dict

#: regularizers tried by cross-validation (relative to the kernel scale); down to 1e-12 because
#: noise-free targets (Ewald energies, exact electrostatics) need very weak regularisation
REGULARIZER_GRID: tuple[float, ...] = tuple(10.0**p for p in range(-12, 1))
#: exponents tried by cross-validation when a PolynomialKernel has ``zeta=None``
ZETA_GRID: tuple[int, ...] = (1, 2, 3, 4)

BASELINES = ("species", "intercept", None)


def kfold_indices(
    n: int, n_folds: int, seed: int, groups: np.ndarray | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Random ``(train, test)`` index pairs of ``n_folds``-fold cross-validation of ``n`` items.

    With ``groups`` (one label per item) whole groups are assigned to folds, so that items of a
    group (e.g. the points of one binding curve) are never split between train and test.
    """
    if groups is None:
        labels, inverse = np.arange(n), np.arange(n)
    else:
        groups = np.asarray(groups).reshape(-1)
        if groups.shape[0] != n:
            raise InvalidInputError(f"got {groups.shape[0]} groups for {n} structures")
        labels, inverse = np.unique(groups, return_inverse=True)
    what = "structures" if groups is None else "groups"
    if n_folds < 2 or labels.size < n_folds:
        raise InvalidParameterError(
            f"{n_folds}-fold cross-validation needs at least {max(n_folds, 2)} {what}, got "
            f"{labels.size}; give the regularizer (and zeta) explicitly or add data"
        )
    order = np.random.default_rng(seed).permutation(labels.size)
    fold_of_label = np.empty(labels.size, dtype=np.int64)
    for k, part in enumerate(np.array_split(order, n_folds)):
        fold_of_label[part] = k
    fold = fold_of_label[inverse.reshape(-1)]
    folds = [np.nonzero(fold == k)[0] for k in range(n_folds)]
    return [
        (np.sort(np.concatenate(folds[:i] + folds[i + 1 :])), np.sort(folds[i]))
        for i in range(n_folds)
    ]


def baseline_matrix(data: AtomicData, kind: str | None, species: np.ndarray) -> np.ndarray:
    """``(n_structures, n_columns)`` design of the baseline: species counts, ones or nothing."""
    if not data.per_structure:
        data.composition(species)  # raises on unknown central species
    if kind == "species":
        return data.composition(species)
    if kind == "intercept":
        return np.ones((data.n_structures, 1))
    return np.zeros((data.n_structures, 0))


def min_norm_lstsq(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Minimum-norm least-squares solution (SVD, relative cutoff); empty ``a`` gives ``[]``."""
    if a.shape[1] == 0:
        return np.zeros(0)
    return np.linalg.lstsq(a, b, rcond=None)[0]


class Problem(ABC):
    """A model's training data in precomputed form, solved for many folds and regularizers."""

    @abstractmethod
    def prepare(self, train: np.ndarray) -> Any:
        """Everything that depends on the training structures but not on the regularizer."""

    @abstractmethod
    def solve(self, state: Any, regularizer: float, *, quiet: bool = False) -> dict[str, Any]:
        """Fitted parameters; raises ``ValueError`` when the system cannot be solved."""

    @abstractmethod
    def predict(self, solution: dict[str, Any], rows: np.ndarray) -> np.ndarray:
        """Predictions for the structures ``rows`` of the training data."""

    def cv_predictions(
        self, state: Any, regularizers: list[float], test: np.ndarray
    ) -> list[np.ndarray | None]:
        """Predictions for ``test`` at every regularizer (``None`` where unsolvable)."""
        out: list[np.ndarray | None] = []
        for regularizer in regularizers:
            try:
                out.append(self.predict(self.solve(state, regularizer, quiet=True), test))
            except ValueError:
                out.append(None)
        return out


def cross_validation_errors(
    problem: Problem,
    targets: np.ndarray,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    regularizers: Sequence[float],
) -> np.ndarray:
    """Squared errors of ``problem``'s predictions summed over the test parts of ``folds``
    (e.g. :func:`kfold_indices`), one per regularizer; ``inf`` where a fold cannot be solved."""
    squared = np.zeros(len(regularizers))
    for train, test in folds:
        predictions = problem.cv_predictions(problem.prepare(train), list(regularizers), test)
        for ir, prediction in enumerate(predictions):
            if prediction is None:
                squared[ir] = np.inf
            else:
                error = prediction - targets[test]
                squared[ir] += float(error @ error)
    return squared


class Regressor(ABC):
    """Base of :class:`Ridge`, :class:`GPR` and :class:`SparseGPR` (see their docs)."""

    model_type: ClassVar[str]
    _param_names: ClassVar[tuple[str, ...]]

    def __init__(
        self, *, regularizer: float | None, baseline: str | None, cv_folds: int, seed: int
    ) -> None:
        self.regularizer = check_regularizer(regularizer)
        if baseline not in BASELINES:
            raise InvalidParameterError(f"baseline must be one of {BASELINES}, got {baseline!r}")
        self.baseline = baseline
        if int(cv_folds) != cv_folds or cv_folds < 2:
            raise InvalidParameterError(f"cv_folds must be an integer >= 2, got {cv_folds!r}")
        self.cv_folds = int(cv_folds)
        self.seed = int(seed)
        self._fitted = False

    # ---- hooks --------------------------------------------------------------------------------
    @abstractmethod
    def _problem(self, data: AtomicData, y: np.ndarray, kernel: Kernel | None) -> Problem:
        """Precompute the training system."""

    @abstractmethod
    def _store(self, problem: Problem, solution: dict[str, Any]) -> None:
        """Keep what prediction needs from the final solution."""

    @abstractmethod
    def _predict(self, data: AtomicData, base: np.ndarray, variance: bool):
        """Mean (and latent variance or None) for validated data; ``base`` = baseline design."""

    @abstractmethod
    def _arrays(self) -> dict[str, np.ndarray]:
        """Fitted arrays for :meth:`save`."""

    @abstractmethod
    def _load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Inverse of :meth:`_arrays`."""

    def _kernel(self) -> Kernel | None:
        return None

    # ---- public API ---------------------------------------------------------------------------
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor arguments of this model (scikit-learn convention).

        With ``deep``, the kernel's own parameters are added as ``kernel__<name>``.
        """
        params = {name: getattr(self, name) for name in self._param_names}
        kernel = params.get("kernel")
        if deep and isinstance(kernel, Kernel):
            params.update({f"kernel__{k}": v for k, v in kernel.get_params().items()})
        return params

    def set_params(self, **params: Any) -> Regressor:
        """Change constructor arguments (``kernel__zeta=3`` changes the kernel's); returns
        ``self``. The values are validated as by the constructor; a fitted state is kept
        until the next :meth:`fit`.

        Raises:
            InvalidParameterError: unknown parameter names or invalid values.
        """
        current = self.get_params(deep=False)
        nested = {k.split("__", 1)[1]: v for k, v in params.items() if k.startswith("kernel__")}
        plain = {k: v for k, v in params.items() if not k.startswith("kernel__")}
        unknown = sorted(set(plain) - set(current))
        if unknown or (nested and not isinstance(current.get("kernel"), Kernel)):
            names = unknown or sorted(f"kernel__{k}" for k in nested)
            raise InvalidParameterError(
                f"{type(self).__name__} has no parameters {names}; valid: "
                f"{sorted(self.get_params(deep=True))}"
            )
        merged = {**current, **plain}
        if nested:
            kernel = merged["kernel"]
            merged["kernel"] = type(kernel)(**{**kernel.get_params(), **nested})
        validated = type(self)(**merged)  # the constructor's checks
        for name in self._param_names:
            setattr(self, name, getattr(validated, name))
        return self

    def clone(self) -> Regressor:
        """A new, unfitted model with the same constructor arguments."""
        return type(self)(**self.get_params(deep=False))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params(deep=False).items())
        return f"{type(self).__name__}({args})"

    def __reduce__(self):
        # pickled as the save file is: constructor arguments, fitted arrays, JSON metadata
        if not self._fitted:
            return (_unpickle, (type(self), self.get_params(deep=False), None, None))
        metadata, arrays = self._saved_form(self.features_)
        return (_unpickle, (type(self), None, metadata, arrays))

    def fit(
        self,
        x: Any,
        y: Any,
        *,
        features: dict[str, Any] | None = None,
        groups: Any = None,
    ) -> Regressor:
        """Fit on per-structure targets.

        Args:
            x: :class:`lode_rs.Features` (rows = environments; the model is additive over them)
                or a 2D array ``(n_structures, n_features)``.
            y: one target per structure (e.g. energies), finite, no missing values.
            features: optional JSON-serialisable description of how ``x`` was computed (the
                calculators' hyper-parameters); saved with the model.
            groups: optional label per structure; cross-validation then keeps every group in
                one fold (grouped k-fold), e.g. all points of one binding curve.

        Returns:
            ``self``. After fitting: ``regularizer_``, ``kernel_`` (kernel models), ``cv_scores_``
            (``None`` unless hyper-parameters were cross-validated), ``species_``.

        Raises:
            InvalidInputError: bad features or targets (see :func:`check_targets`).
            InvalidParameterError: a system that cannot be solved with these hyper-parameters.
        """
        data = as_atomic_data(x)
        targets = check_targets(y, data.n_structures)
        if data.n_structures == 0:
            raise InvalidInputError("cannot fit a model on zero structures")
        self.features_ = _check_features_metadata(features)
        self.species_ = np.unique(data.species)
        self.per_structure_ = data.per_structure
        self.n_features_in_ = data.n_features
        kernel = self._kernel()
        kernels = (
            [kernel.with_zeta(z) for z in ZETA_GRID]
            if kernel is not None and kernel.needs_zeta
            else [kernel]
        )
        regularizers = list(REGULARIZER_GRID) if self.regularizer is None else [self.regularizer]
        problem = None
        if len(kernels) * len(regularizers) > 1:
            problem, best_kernel, best_reg = self._cross_validate(
                data, targets, kernels, regularizers, groups
            )
        else:
            best_kernel, best_reg = kernels[0], regularizers[0]
            self.cv_scores_ = None
        if problem is None:
            problem = self._problem(data, targets, best_kernel)
        solution = problem.solve(problem.prepare(np.arange(data.n_structures)), best_reg)
        self.kernel_ = best_kernel
        self.regularizer_ = best_reg
        self._store(problem, solution)
        self._fitted = True
        return self

    def predict(self, x: Any, return_variance: bool = False):
        """Predict one value per structure.

        Args:
            x: the same kind of input as in :meth:`fit` (same columns).
            return_variance: also return the model's latent (noise-free) predictive variance,
                in target units squared (see the class docs for its definition).

        Returns:
            ``pred`` ``(n_structures,)``, or ``(pred, variance)``.
        """
        if not self._fitted:
            raise NotFittedError(f"this {type(self).__name__} is not fitted; call fit() first")
        data = as_atomic_data(x)
        if data.per_structure != self.per_structure_:
            kinds = {True: "a 2D per-structure array", False: "Features (rows = environments)"}
            raise InvalidInputError(
                f"the model was fitted on {kinds[self.per_structure_]} but got "
                f"{kinds[data.per_structure]}"
            )
        if data.n_features != self.n_features_in_:
            raise InvalidInputError(
                f"the model was fitted on {self.n_features_in_} features, got {data.n_features}; "
                "compute the features with the same hyper-parameters"
            )
        base = baseline_matrix(data, self.baseline, self.species_)
        mean, variance = self._predict(data, base, return_variance)
        if return_variance:
            if variance is None:
                raise InvalidInputError(
                    "no predictive variance with regularizer 0 (the noise level is zero); "
                    "refit with regularizer > 0"
                )
            return mean, variance
        return mean

    def score(self, x: Any, y: Any) -> float:
        """RMSE of the predictions as a percentage of the standard deviation of ``y``."""
        y = check_targets(y, as_atomic_data(x).n_structures)
        return rmse_percent(self.predict(x), y)

    def save(self, path: str, *, features: dict[str, Any] | None = None) -> None:
        """Write the fitted model to ``path`` (``.npz``: arrays + one JSON metadata string).

        No pickle: :func:`lode_rs.models.load` reads it back with ``allow_pickle=False``
        (NumPy appends ``.npz`` to a path without it).
        ``features`` (JSON-serialisable) replaces the description given to :meth:`fit`.
        """
        if not self._fitted:
            raise NotFittedError(f"this {type(self).__name__} is not fitted; nothing to save")
        features = self.features_ if features is None else _check_features_metadata(features)
        metadata, arrays = self._saved_form(features)
        np.savez(path, metadata=np.array(json.dumps(metadata)), **arrays)

    def _saved_form(self, features: dict[str, Any] | None):
        """The JSON metadata and the arrays of a fitted model (what :meth:`save` writes)."""
        params = {
            k: (v.to_dict() if isinstance(v, Kernel) else v)
            for k, v in self.get_params(deep=False).items()
        }
        metadata = {
            "format": "lode_rs.models",
            "version": 1,
            "model": self.model_type,
            "params": params,
            "kernel_": None if self.kernel_ is None else self.kernel_.to_dict(),
            "regularizer_": self.regularizer_,
            "cv_scores_": self.cv_scores_,
            "species_": self.species_.tolist(),
            "per_structure_": self.per_structure_,
            "n_features_in_": self.n_features_in_,
            "features": features,
        }
        return metadata, self._arrays()

    @classmethod
    def _from_saved(cls, metadata: dict[str, Any], arrays: dict[str, np.ndarray]) -> Regressor:
        params = dict(metadata["params"])
        if "kernel" in params:
            params["kernel"] = kernel_from_dict(params["kernel"])
        model = cls(**params)
        model.kernel_ = (
            None if metadata["kernel_"] is None else kernel_from_dict(metadata["kernel_"])
        )
        model.regularizer_ = metadata["regularizer_"]
        model.cv_scores_ = metadata["cv_scores_"]
        model.species_ = np.asarray(metadata["species_"], dtype=np.int64)
        model.per_structure_ = bool(metadata["per_structure_"])
        model.n_features_in_ = int(metadata["n_features_in_"])
        model.features_ = metadata["features"]
        model._load_arrays(arrays)
        model._fitted = True
        return model

    # ---- cross-validation ---------------------------------------------------------------------
    def _cross_validate(self, data, targets, kernels, regularizers, groups=None):
        # fewer structures than folds (small training sets in learning curves): leave-one-out
        n_groups = data.n_structures if groups is None else np.unique(groups).size
        n_folds = min(self.cv_folds, n_groups)
        folds = kfold_indices(data.n_structures, n_folds, self.seed, groups)
        rmse = np.full((len(kernels), len(regularizers)), np.inf)
        best = (np.inf, None, None, None)
        for ik, kernel in enumerate(kernels):
            problem = self._problem(data, targets, kernel)
            squared = cross_validation_errors(problem, targets, folds, regularizers)
            rmse[ik] = np.sqrt(squared / data.n_structures)
            ir = int(np.argmin(rmse[ik]))
            if rmse[ik, ir] < best[0]:
                best = (rmse[ik, ir], problem, kernel, regularizers[ir])
        if best[1] is None:
            raise InvalidParameterError(
                "cross-validation could not solve the system for any regularizer in the grid"
            )
        self.cv_scores_ = {
            "regularizers": list(regularizers),
            "zetas": list(ZETA_GRID) if len(kernels) > 1 else None,
            "rmse": rmse.tolist(),
            "n_folds": n_folds,
        }
        return best[1], best[2], best[3]


def _unpickle(cls, params, metadata, arrays) -> Regressor:
    """Rebuild a pickled model: unfitted from its parameters, fitted as :func:`load` does."""
    if metadata is None:
        return cls(**params)
    return cls._from_saved(metadata, arrays)


def rmse_percent(prediction: np.ndarray, target: np.ndarray) -> float:
    """RMSE as a percentage of the standard deviation of ``target`` (the papers' metric)."""
    std = float(np.std(target))
    rmse = float(np.sqrt(np.mean((np.asarray(prediction) - target) ** 2)))
    if std == 0:
        raise InvalidInputError("the test targets are all equal: their standard deviation is 0")
    return 100.0 * rmse / std


def _check_features_metadata(features: dict[str, Any] | None) -> dict[str, Any] | None:
    if features is None:
        return None
    if not isinstance(features, dict):
        raise InvalidParameterError(f"features must be a dict, got {type(features).__name__}")
    try:
        return json.loads(json.dumps(features))
    except (TypeError, ValueError) as error:
        raise InvalidParameterError(
            f"features must be JSON-serialisable (numbers, strings, lists, dicts): {error}"
        ) from None
