"""Full Gaussian-process (kernel ridge) regression on structure kernels."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.linalg

from .._lode_rs import InvalidParameterError
from .base import Problem, Regressor, baseline_matrix, min_norm_lstsq
from .data import AtomicData
from .kernels import Kernel, kernel_or_default, structure_kernel, structure_self_kernel


def prepared(kernel: Kernel, data: AtomicData) -> AtomicData:
    """``data`` with its rows passed through ``kernel.prepare`` (weights kept)."""
    return data.with_values(kernel.prepare(data.values))


def warn_zero_rows(data: AtomicData) -> None:
    """Warn when environments have all-zero features (no direction for a normalised kernel)."""
    zero = int(np.count_nonzero(~data.values.any(axis=1)))
    if zero:
        warnings.warn(
            f"{zero} environments have all-zero features and contribute nothing to the "
            "normalised kernel (isolated atoms? check the cutoff)",
            stacklevel=4,
        )


class _GPRProblem(Problem):
    def __init__(
        self,
        data: AtomicData,
        y: np.ndarray,
        kernel: Kernel,
        baseline: str | None,
        match_species: bool,
    ) -> None:
        self.rows = prepared(kernel, data)
        self.k = structure_kernel(kernel, self.rows, self.rows, match_species=match_species)
        self.base = baseline_matrix(data, baseline, np.unique(data.species))
        self.y = y

    def prepare(self, train: np.ndarray):
        offsets = min_norm_lstsq(self.base[train], self.y[train])
        residual = self.y[train] - self.base[train] @ offsets
        k = self.k[np.ix_(train, train)]
        return {
            "train": train,
            "k": k,
            "residual": residual,
            "offsets": offsets,
            "scale": float(np.mean(np.diag(k))),
        }

    def solve(self, state, regularizer: float, *, quiet: bool = False) -> dict[str, Any]:
        sigma2 = regularizer * state["scale"]
        k = state["k"] + sigma2 * np.eye(len(state["train"]))
        try:
            chol = scipy.linalg.cholesky(k, lower=True)
        except np.linalg.LinAlgError:
            raise InvalidParameterError(
                f"the training kernel matrix plus regularizer={regularizer:g} is singular "
                "(duplicate or linearly dependent structures?); increase the regularizer "
                "(e.g. 1e-6) or pass None to cross-validate it"
            ) from None
        diag = np.diag(chol)
        if not quiet and (diag.min() / diag.max()) ** 2 < 1e-13:
            warnings.warn(
                f"GPR: the kernel matrix is nearly singular with regularizer={regularizer:g} "
                "(condition number > 1e13); predictions may be noisy: increase the regularizer",
                stacklevel=4,
            )
        alpha = scipy.linalg.cho_solve((chol, True), state["residual"])
        if not np.all(np.isfinite(alpha)):
            raise InvalidParameterError(
                "GPR weights are not finite: the kernel matrix is singular; increase the "
                "regularizer"
            )
        amplitude = float(state["residual"] @ alpha) / len(alpha) if sigma2 > 0 else None
        return {
            "train": state["train"],
            "alpha": alpha,
            "chol": chol,
            "offsets": state["offsets"],
            "sigma2": sigma2,
            "amplitude": amplitude,
        }

    def predict(self, solution, rows):
        return (
            self.k[np.ix_(rows, solution["train"])] @ solution["alpha"]
            + self.base[rows] @ solution["offsets"]
        )


class GPR(Regressor):
    """Gaussian-process regression (kernel ridge) with structure kernels summed over environments.

    ``y_A ≈ Σ_j α_j K(A, B_j) + baseline(A)`` with ``K(A, B) = Σ_{i∈A, j∈B} k(x_i, x_j)`` (see
    :mod:`lode_rs.models.kernels`), so the model is additive over environments. Builds the full
    ``n_train × n_train`` structure kernel: use :class:`SparseGPR` beyond a few thousand
    structures.

    Args:
        kernel: environment kernel; ``PolynomialKernel(zeta=None)`` cross-validates ζ in
            :data:`ZETA_GRID`.
        regularizer: noise variance relative to the mean diagonal of the training structure
            kernel (``σ² = regularizer × tr(K)/n``); ``None`` cross-validates it on
            :data:`REGULARIZER_GRID` (1e-12 … 1).
        baseline: ``"species"`` (per-species offsets fitted by least squares on the composition,
            removed before the GP), ``"intercept"`` or ``None``.
        match_species: environments are compared only with environments of the same central
            species (``k = 0`` across species).
        cv_folds, seed: k-fold cross-validation when something is left to choose.

    Variance: the latent (noise-free) posterior variance ``a (K(*,*) - K(*,N)(K + σ²)⁻¹K(N,*))``,
    with the amplitude ``a = rᵀ(K + σ²)⁻¹r / n`` estimated from the residual targets ``r``.
    """

    model_type = "GPR"
    _param_names = ("kernel", "regularizer", "baseline", "match_species", "cv_folds", "seed")

    def __init__(
        self,
        kernel: Kernel | None = None,
        regularizer: float | None = 1e-6,
        *,
        baseline: str | None = "species",
        match_species: bool = True,
        cv_folds: int = 5,
        seed: int = 0,
    ) -> None:
        super().__init__(regularizer=regularizer, baseline=baseline, cv_folds=cv_folds, seed=seed)
        self.kernel = kernel_or_default(kernel)
        self.match_species = bool(match_species)

    def _kernel(self) -> Kernel:
        return self.kernel

    def _problem(self, data, y, kernel) -> Problem:
        problem = _GPRProblem(data, y, kernel, self.baseline, self.match_species)
        warn_zero_rows(problem.rows)
        return problem

    def _store(self, problem: _GPRProblem, solution) -> None:
        self._train = problem.rows
        self.alpha_ = solution["alpha"]
        self.offsets_ = solution["offsets"]
        self._chol = solution["chol"]
        self._amplitude = solution["amplitude"]

    def _predict(self, data: AtomicData, base: np.ndarray, variance: bool):
        rows = prepared(self.kernel_, data)
        k = structure_kernel(self.kernel_, rows, self._train, match_species=self.match_species)
        mean = k @ self.alpha_ + base @ self.offsets_
        if not variance or self._amplitude is None:
            return mean, None
        v = scipy.linalg.solve_triangular(self._chol, k.T, lower=True)
        prior = structure_self_kernel(self.kernel_, rows, match_species=self.match_species)
        return mean, self._amplitude * np.maximum(prior - np.einsum("ij,ij->j", v, v), 0.0)

    def _arrays(self) -> dict[str, np.ndarray]:
        return {
            "train_values": self._train.values,
            "train_structure": self._train.structure,
            "train_species": self._train.species,
            "train_weights": self._train.row_weights,
            "alpha": self.alpha_,
            "offsets": self.offsets_,
            "cholesky": self._chol,
            "amplitude": np.array(np.nan if self._amplitude is None else self._amplitude),
        }

    def _load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self._train = AtomicData(
            arrays["train_values"],
            arrays["train_structure"],
            arrays["train_species"],
            len(arrays["alpha"]),
            self.per_structure_,
            weights=arrays.get("train_weights"),
        )
        self.alpha_ = arrays["alpha"]
        self.offsets_ = arrays["offsets"]
        self._chol = arrays["cholesky"]
        amplitude = float(arrays["amplitude"])
        self._amplitude = None if np.isnan(amplitude) else amplitude
