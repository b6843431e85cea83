"""scikit-learn estimators: transformers from structures to features, regressors on them.

Structures go in (a list of ``ase.Atoms`` or :class:`lode_rs.System`), features come out, so
lode_rs fits in ``Pipeline``, ``GridSearchCV`` and ``clone`` like any other estimator::

    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline
    from lode_rs.sklearn import KernelRegressor, PowerSpectrumTransformer, Soap

    pipe = Pipeline([
        ("features", PowerSpectrumTransformer(Soap(cutoff=3.0, smearing=0.3, n_max=6, l_max=4),
                                              output="features")),
        ("model", KernelRegressor(zeta=2, n_sparse=500)),
    ])
    search = GridSearchCV(pipe, {"features__first__cutoff": [3.0, 4.0],
                                 "model__zeta": [1, 2, 3]}).fit(frames, energies)

:class:`Soap` and :class:`Lode` hold the hyper-parameters of :class:`lode_rs.SoapExpansion` and
:class:`lode_rs.LodeExpansion` (the same keyword arguments, so the grid can reach them); a
transformer builds the calculators in ``fit`` and fixes their species there (given, or every
species of the training structures), so ``transform`` always returns the same columns.

``output`` chooses what ``transform`` returns: ``"sum"`` (default) or ``"mean"`` over the atoms of
each structure, ``(n_structures, n_features)``, for any scikit-learn model (a linear model on
summed features is additive over atoms); ``"atoms"``, one row per atom (rows are then atoms, not
samples: for unsupervised use, e.g. clustering environments); ``"features"``, the
:class:`lode_rs.Features` object, which :class:`KernelRegressor` and :class:`RidgeRegressor` fit
as models additive over atoms.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

import numpy as np

try:
    from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "lode_rs.sklearn needs scikit-learn >= 1.6: pip install 'lode_rs[sklearn]'"
    ) from error

from .. import _lode_rs, invariants, models
from .._lode_rs import InvalidParameterError
from ..calculators import LodeExpansion, SoapExpansion
from ..results import Expansion, Features
from ..systems import as_frame_list

OUTPUTS = ("sum", "mean", "atoms", "features")


def _hyper_signature(calculator: type, core: type) -> inspect.Signature:
    """The calculator's keyword arguments without ``n_threads`` (a transformer parameter): its
    own (``species``, ``charges``) and the core's hyper-parameters (declared once, in Rust)."""
    signature = inspect.signature(calculator.__init__)
    params = [
        p
        for p in signature.parameters.values()
        if p.name != "n_threads" and p.kind != inspect.Parameter.VAR_KEYWORD
    ]
    fields = getattr(core, "hyper_fields", None)
    if fields is not None:  # the constructor takes **hypers: list them from the core
        known = {p.name for p in params}
        for name, _doc, default, required in fields():
            if name not in known:
                params.append(
                    inspect.Parameter(
                        name,
                        inspect.Parameter.KEYWORD_ONLY,
                        default=inspect.Parameter.empty if required else default,
                    )
                )
    return signature.replace(parameters=params)


class _Hypers(BaseEstimator):
    """Hyper-parameters of one expansion, as a nested scikit-learn parameter."""

    _calculator: ClassVar[type]

    def __init__(self, **hypers: Any) -> None:
        bound = type(self).__init__.__signature__.bind(self, **hypers)
        bound.apply_defaults()
        for name, value in bound.arguments.items():
            if name != "self":
                setattr(self, name, value)

    def build(self, n_threads: int = 0):
        """A new :class:`lode_rs.SoapExpansion` / :class:`lode_rs.LodeExpansion` (``None``:
        the core's default)."""
        given = {k: v for k, v in self.get_params(deep=False).items() if v is not None}
        return self._calculator(**given, n_threads=n_threads)


class Soap(_Hypers):
    """Hyper-parameters of :class:`lode_rs.SoapExpansion` (same keyword arguments)."""

    _calculator = SoapExpansion

    def __init__(self, **hypers: Any) -> None:
        super().__init__(**hypers)

    __init__.__signature__ = _hyper_signature(SoapExpansion, _lode_rs.SoapCalculator)  # type: ignore[attr-defined]


class Lode(_Hypers):
    """Hyper-parameters of :class:`lode_rs.LodeExpansion` (same keyword arguments)."""

    _calculator = LodeExpansion

    def __init__(self, **hypers: Any) -> None:
        super().__init__(**hypers)

    __init__.__signature__ = _hyper_signature(LodeExpansion, _lode_rs.LodeCalculator)  # type: ignore[attr-defined]


def _frames(x: Any) -> list:
    if isinstance(x, np.ndarray) and x.dtype != object:
        raise InvalidParameterError(
            "lode_rs transformers take structures (ase.Atoms or lode_rs.System, or a list of "
            f"them), not a numeric array of shape {x.shape}"
        )
    return as_frame_list(list(x) if isinstance(x, np.ndarray) else x)


def _expansion_features(e: Expansion) -> Features:
    """Coefficients flattened per atom, labelled ``(species, n, l, m)``."""
    n_species, n_max, n_lm = e.values.shape[1:]
    l_of = np.repeat(np.arange(e.l_max + 1), 2 * np.arange(e.l_max + 1) + 1)
    m_of = np.arange(n_lm) - l_of * (l_of + 1)
    grid = np.meshgrid(np.asarray(e.species), np.arange(n_max), np.arange(n_lm), indexing="ij")
    labels = np.stack([grid[0], grid[1], l_of[grid[2]], m_of[grid[2]]], axis=-1)
    return Features(
        values=e.values.reshape(e.values.shape[0], -1),
        structure=e.structure,
        centers=e.centers,
        center_species=e.center_species,
        labels=labels.reshape(-1, 4).astype(np.int32),
        label_names=("species", "n", "l", "m"),
        n_structures=e.n_structures,
    )


class _FeaturesTransformer(TransformerMixin, BaseEstimator):
    """Shared ``fit``/``transform`` of the transformers: fit fixes the species channels."""

    def _invariant(self):
        """A new, unfitted lode_rs calculator or invariant from the parameters."""
        raise NotImplementedError

    def _compute(self, frames) -> Features:
        result = self.calculator_.compute(frames, n_threads=self.n_threads)
        return _expansion_features(result) if isinstance(result, Expansion) else result

    def fit(self, X: Any, y: Any = None) -> _FeaturesTransformer:
        """Build the calculators and fix their species (given, or all of ``X``'s)."""
        if self.output not in OUTPUTS:
            raise InvalidParameterError(f"output must be one of {OUTPUTS}, got {self.output!r}")
        frames = _frames(X)
        self.calculator_ = self._invariant().fix_species(frames)
        probe = self._compute(frames[:1])
        self.feature_labels_ = probe.labels
        self.feature_label_names_ = probe.label_names
        self.n_features_out_ = probe.values.shape[1]
        return self

    def transform(self, X: Any):
        """Features of the structures ``X`` in the form chosen by ``output``."""
        check_is_fitted(self, "calculator_")
        features = self._compute(_frames(X))
        if self.output == "features":
            return features
        if self.output == "atoms":
            return features.values
        if self.output == "mean":
            return features.mean_by_structure()
        return features.sum_by_structure()

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Column names built from the labels, e.g. ``"species_a=1,species_b=8,n=0,n'=1,l=2"``."""
        check_is_fitted(self, "calculator_")
        names = self.feature_label_names_
        return np.array(
            [
                ",".join(f"{k}={v}" for k, v in zip(names, row, strict=True))
                for row in self.feature_labels_
            ],
            dtype=object,
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # structures, not numeric arrays
        tags.requires_fit = True
        return tags


class PowerSpectrumTransformer(_FeaturesTransformer):
    """ν = 2 invariants (:class:`lode_rs.PowerSpectrum`) of structures.

    Args:
        first: :class:`Soap` or :class:`Lode` hyper-parameters.
        second: optional second expansion (e.g. ``Lode`` after ``Soap``: the multi-scale
            ρ ⊗ V features); ``None`` for the power spectrum of ``first`` with itself.
        output: ``"sum"``, ``"mean"``, ``"atoms"`` or ``"features"`` (see the module docs).
        n_threads: threads per ``transform`` call (0 = all cores).
    """

    def __init__(
        self,
        first: _Hypers,
        second: _Hypers | None = None,
        *,
        output: str = "sum",
        n_threads: int = 0,
    ) -> None:
        self.first = first
        self.second = second
        self.output = output
        self.n_threads = n_threads

    def _invariant(self):
        second = None if self.second is None else self.second.build(self.n_threads)
        return invariants.PowerSpectrum(self.first.build(self.n_threads), second)


class RadialSpectrumTransformer(_FeaturesTransformer):
    """ν = 1 invariants (:func:`lode_rs.invariants.radial`) of structures.

    Args:
        expansion: :class:`Soap` or :class:`Lode` hyper-parameters.
        output, n_threads: as in :class:`PowerSpectrumTransformer`.
    """

    def __init__(self, expansion: _Hypers, *, output: str = "sum", n_threads: int = 0) -> None:
        self.expansion = expansion
        self.output = output
        self.n_threads = n_threads

    def _invariant(self):
        return invariants.RadialSpectrum(self.expansion.build(self.n_threads))


class ExpansionTransformer(_FeaturesTransformer):
    """The expansion coefficients themselves, flattened per atom (labels ``(species, n, l, m)``).

    Not rotation invariant: for equivariant models or inspection; ``output="atoms"`` by default.

    Args:
        expansion: :class:`Soap` or :class:`Lode` hyper-parameters.
        output, n_threads: as in :class:`PowerSpectrumTransformer`.
    """

    def __init__(self, expansion: _Hypers, *, output: str = "atoms", n_threads: int = 0) -> None:
        self.expansion = expansion
        self.output = output
        self.n_threads = n_threads

    def _invariant(self):
        return self.expansion.build(self.n_threads)


def _is_features(x: Any) -> bool:
    return hasattr(x, "values") and hasattr(x, "structure")


class _ModelRegressor(RegressorMixin, BaseEstimator):
    """Shared ``fit``/``predict`` of the regressors wrapping :mod:`lode_rs.models`."""

    def _model(self, n_rows: int) -> models.Regressor:
        raise NotImplementedError

    def fit(self, X: Any, y: Any) -> _ModelRegressor:
        """Fit on :class:`lode_rs.Features` (additive over atoms) or a 2D array (one row per
        structure), one target per structure."""
        if _is_features(X):
            self.n_features_in_ = int(np.asarray(X.values).shape[1])
            n_rows = int(np.asarray(X.values).shape[0])
        else:
            X, y = validate_data(self, X, y, y_numeric=True)
            n_rows = X.shape[0]
        self.model_ = self._model(n_rows).fit(X, y)
        return self

    def predict(self, X: Any, return_std: bool = False):
        """One prediction per structure (and the latent standard deviation if asked)."""
        check_is_fitted(self, "model_")
        if not _is_features(X):
            X = validate_data(self, X, reset=False)
        if return_std:
            mean, variance = self.model_.predict(X, return_variance=True)
            return mean, np.sqrt(variance)
        return self.model_.predict(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.single_output = True
        tags.target_tags.multi_output = False
        return tags


class KernelRegressor(_ModelRegressor):
    """Sparse Gaussian-process regression (:class:`lode_rs.models.SparseGPR`) with a polynomial
    kernel ``(x̂·x̂')^ζ``, additive over atoms when given :class:`lode_rs.Features`.

    Args:
        zeta: kernel exponent (``None``: cross-validated among 1…4 inside ``fit``).
        normalize: normalise feature rows before the kernel.
        n_sparse: active environments; clipped to the number of training environments (so that
            cross-validation folds of any size fit), ``None`` uses all (the full GPR mean).
        regularizer, baseline, match_species, jitter, cv_folds, seed: as in
            :class:`lode_rs.models.SparseGPR`.
    """

    def __init__(
        self,
        zeta: int | None = 2,
        *,
        normalize: bool = True,
        n_sparse: int | None = 500,
        regularizer: float | None = 1e-6,
        baseline: str | None = "species",
        match_species: bool = True,
        jitter: float = 1e-10,
        cv_folds: int = 5,
        seed: int = 0,
    ) -> None:
        self.zeta = zeta
        self.normalize = normalize
        self.n_sparse = n_sparse
        self.regularizer = regularizer
        self.baseline = baseline
        self.match_species = match_species
        self.jitter = jitter
        self.cv_folds = cv_folds
        self.seed = seed

    def _model(self, n_rows: int) -> models.SparseGPR:
        n_sparse = None if self.n_sparse is None or self.n_sparse >= n_rows else self.n_sparse
        return models.SparseGPR(
            kernel=models.PolynomialKernel(self.zeta, normalize=self.normalize),
            n_sparse=n_sparse,
            regularizer=self.regularizer,
            baseline=self.baseline,
            match_species=self.match_species,
            jitter=self.jitter,
            cv_folds=self.cv_folds,
            seed=self.seed,
        )


class RidgeRegressor(_ModelRegressor):
    """Linear ridge regression on features summed per structure (:class:`lode_rs.models.Ridge`),
    with an unregularised per-species baseline.

    Args:
        regularizer, baseline, cv_folds, seed: as in :class:`lode_rs.models.Ridge`.
    """

    def __init__(
        self,
        regularizer: float | None = 1e-6,
        *,
        baseline: str | None = "species",
        cv_folds: int = 5,
        seed: int = 0,
    ) -> None:
        self.regularizer = regularizer
        self.baseline = baseline
        self.cv_folds = cv_folds
        self.seed = seed

    def _model(self, n_rows: int) -> models.Ridge:
        return models.Ridge(
            regularizer=self.regularizer,
            baseline=self.baseline,
            cv_folds=self.cv_folds,
            seed=self.seed,
        )
