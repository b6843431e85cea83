"""Sparse Gaussian-process regression (subset of regressors) on an FPS active set."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.linalg

from .._lode_rs import InvalidParameterError
from .base import Problem, Regressor, baseline_matrix, min_norm_lstsq
from .data import AtomicData
from .gpr import prepared, warn_zero_rows
from .kernels import Kernel, kernel_or_default, structure_kernel, structure_self_kernel
from .selection import select_active

#: jitters tried (relative to the largest eigenvalue of K_MM) until K_MM + jitter is Cholesky-able
_JITTERS = (1e-12, 1e-10, 1e-8, 1e-6, 1e-4)


def active_cholesky(k_mm: np.ndarray, jitter: float, quiet: bool = False) -> np.ndarray:
    """Lower Cholesky factor of ``k_mm + jitter * λ_max(k_mm) * I`` (larger jitter if needed)."""
    largest = float(scipy.linalg.eigvalsh(k_mm, subset_by_index=[len(k_mm) - 1] * 2)[0])
    if largest <= 0:
        raise InvalidParameterError(
            "the kernel between active environments is zero (all-zero features?)"
        )
    for j in [jitter] + [j for j in _JITTERS if j > jitter]:
        try:
            chol = scipy.linalg.cholesky(k_mm + j * largest * np.eye(len(k_mm)), lower=True)
        except np.linalg.LinAlgError:
            continue
        if j != jitter and not quiet:
            warnings.warn(
                f"SparseGPR: K_MM needed a relative jitter of {j:g} (asked {jitter:g}); the active "
                "set has (nearly) linearly dependent environments: reduce n_sparse",
                stacklevel=5,
            )
        return chol
    raise InvalidParameterError(
        "K_MM is not positive definite even with a relative jitter of 1e-4; reduce n_sparse"
    )


class _SparseProblem(Problem):
    def __init__(self, data: AtomicData, y: np.ndarray, kernel: Kernel, model: SparseGPR) -> None:
        self.rows = prepared(kernel, data)
        n_rows = self.rows.values.shape[0]
        if model.n_sparse is None:
            active = np.arange(n_rows)
        else:
            key = kernel.distance_key()
            if key not in model._selections:  # FPS once per fit, shared by every zeta tried
                model._selections[key] = select_active(
                    kernel.distance_space(self.rows.values),
                    self.rows.species,
                    model.n_sparse,
                    seed=model.seed,
                )
            active = model._selections[key]
        self.active = AtomicData(
            self.rows.values[active],
            np.arange(len(active)),
            self.rows.species[active],
            len(active),
            False,
        )
        match = model.match_species
        self.k_nm = structure_kernel(
            kernel, self.rows, self.active, match_species=match, reduce_b=False
        )
        k_mm = kernel.pairwise(self.active.values, self.active.values)
        if match:
            k_mm[self.active.species[:, None] != self.active.species[None, :]] = 0.0
        self.chol_mm = active_cholesky(k_mm, model.jitter)
        self.k_nn = structure_self_kernel(kernel, self.rows, match_species=match)
        self.base = baseline_matrix(data, model.baseline, np.unique(data.species))
        self.y = y

    def prepare(self, train: np.ndarray):
        offsets = min_norm_lstsq(self.base[train], self.y[train])
        residual = self.y[train] - self.base[train] @ offsets
        return {
            "train": train,
            "k_nm": self.k_nm[train],
            "residual": residual,
            "offsets": offsets,
            "scale": float(np.mean(self.k_nn[train])),
        }

    def solve(self, state, regularizer: float, *, quiet: bool = False) -> dict[str, Any]:
        sigma2 = regularizer * state["scale"]
        k_nm, residual = state["k_nm"], state["residual"]
        m = k_nm.shape[1]
        if sigma2 > 0:
            # min |r - K_NM w|² + σ² wᵀ K_MM w  ==  least squares of [K_NM; σ L_MMᵀ] w = [r; 0]
            stacked = np.vstack([k_nm, np.sqrt(sigma2) * self.chol_mm.T])
            q, r = scipy.linalg.qr(stacked, mode="economic")
            weights = scipy.linalg.solve_triangular(r, q[: len(residual)].T @ residual)
            fit_residual = residual - k_nm @ weights
            amplitude = max(float(residual @ fit_residual) / (sigma2 * len(residual)), 0.0)
        else:
            weights, _, rank, _ = scipy.linalg.lstsq(k_nm, residual)
            r, amplitude = None, None
            if rank < m and not quiet:
                warnings.warn(
                    f"SparseGPR: with regularizer=0, K_NM has rank {rank} < {m} active "
                    "environments; the minimum-norm solution is returned (set regularizer > 0)",
                    stacklevel=4,
                )
        if not np.all(np.isfinite(weights)):
            raise InvalidParameterError(
                "SparseGPR weights are not finite; increase the regularizer or reduce n_sparse"
            )
        return {
            "weights": weights,
            "offsets": state["offsets"],
            "r": r,
            "sigma2": sigma2,
            "amplitude": amplitude,
        }

    def cv_predictions(self, state, regularizers, test):
        # one SVD per fold for every regularizer: with B = K_NM L⁻ᵀ = U S Vᵀ the weights are
        # w(σ²) = L⁻ᵀ V diag(s / (s² + σ²)) Uᵀ r (the same minimiser as the QR route)
        b = scipy.linalg.solve_triangular(self.chol_mm, state["k_nm"].T, lower=True).T
        u, s, vt = scipy.linalg.svd(b, full_matrices=False)
        projected = u.T @ state["residual"]
        k_test = self.k_nm[test]
        basis = scipy.linalg.solve_triangular(self.chol_mm, vt.T, lower=True, trans="T")
        test_basis = k_test @ basis
        base = self.base[test] @ state["offsets"]
        out = []
        for regularizer in regularizers:
            sigma2 = regularizer * state["scale"]
            if sigma2 > 0:
                factor = s / (s * s + sigma2)
            else:
                factor = np.divide(1.0, s, out=np.zeros_like(s), where=s > s[0] * 1e-12)
            out.append(test_basis @ (factor * projected) + base)
        return out

    def predict(self, solution, rows):
        return self.k_nm[rows] @ solution["weights"] + self.base[rows] @ solution["offsets"]


class SparseGPR(Regressor):
    """Sparse GPR (subset of regressors / projected process) on an active set of environments.

    ``y_A ≈ Σ_m w_m K(A, x_m) + baseline(A)``, ``K(A, x_m) = Σ_{i∈A} k(x_i, x_m)``: additive over
    environments. The ``n_sparse`` active environments are chosen by farthest-point sampling
    within each central species, in proportion to the species' counts (at least one each);
    ``n_sparse=None`` uses every training environment (then the mean equals :class:`GPR`).

    The weights minimise ``|r - K_NM w|² + σ² wᵀ K_MM w`` (``r``: targets minus baseline), solved
    by QR of the stacked ``[K_NM; σ L_MMᵀ]`` with ``L_MM`` the Cholesky factor of
    ``K_MM + jitter λ_max(K_MM) I`` (no normal equations). Memory is O(n_train × n_sparse): K_NM
    is built in blocks of environments.

    Args:
        kernel: environment kernel (ζ=None: cross-validated in :data:`ZETA_GRID`).
        n_sparse: number of active environments (<= number of training environments).
        regularizer: ``σ² = regularizer × mean_A K(A, A)`` over training structures; ``None``
            cross-validates it on :data:`REGULARIZER_GRID` (1e-12 … 1; the active set is chosen
            once from all training structures, which uses no targets).
        baseline, match_species, cv_folds, seed: as in :class:`GPR`.
        jitter: relative jitter added to K_MM (raised, with a warning, if K_MM is singular).

    Variance: the projected-process (DTC) latent variance
    ``a · [K(*,*) - Q(*,*) + K_*M Σ K_M*]`` with ``Σ = (K_MM + K_MN K_NM/σ²)⁻¹`` and
    ``Q(*,*) = K_*M K_MM⁻¹ K_M*``, scaled by the amplitude ``a = rᵀ(Q_NN + σ²)⁻¹r / n`` estimated
    from the residual targets. The term ``K_*M Σ K_M*`` alone is the subset-of-regressors (SoR)
    variance, which vanishes far from the active set; ``K - Q`` restores the prior variance there.
    """

    model_type = "SparseGPR"
    _param_names = (
        "kernel",
        "n_sparse",
        "regularizer",
        "baseline",
        "match_species",
        "jitter",
        "cv_folds",
        "seed",
    )

    def __init__(
        self,
        kernel: Kernel | None = None,
        n_sparse: int | None = 500,
        regularizer: float | None = 1e-6,
        *,
        baseline: str | None = "species",
        match_species: bool = True,
        jitter: float = 1e-10,
        cv_folds: int = 5,
        seed: int = 0,
    ) -> None:
        super().__init__(regularizer=regularizer, baseline=baseline, cv_folds=cv_folds, seed=seed)
        self.kernel = kernel_or_default(kernel)
        if n_sparse is not None and (
            isinstance(n_sparse, bool) or int(n_sparse) != n_sparse or n_sparse < 1
        ):
            raise InvalidParameterError(
                f"n_sparse must be an integer >= 1 or None, got {n_sparse!r}"
            )
        self.n_sparse = None if n_sparse is None else int(n_sparse)
        jitter = float(jitter)
        if not np.isfinite(jitter) or not 0 <= jitter < 1:
            raise InvalidParameterError(f"jitter must be in [0, 1), got {jitter}")
        self.jitter = jitter
        self.match_species = bool(match_species)

    def _kernel(self) -> Kernel:
        return self.kernel

    def fit(
        self, x: Any, y: Any, *, features: dict[str, Any] | None = None, groups: Any = None
    ) -> SparseGPR:
        self._selections: dict[str, np.ndarray] = {}
        try:
            super().fit(x, y, features=features, groups=groups)
        finally:
            del self._selections
        return self

    fit.__doc__ = Regressor.fit.__doc__

    def _problem(self, data, y, kernel) -> Problem:
        problem = _SparseProblem(data, y, kernel, self)
        warn_zero_rows(problem.rows)
        return problem

    def _store(self, problem: _SparseProblem, solution) -> None:
        self._active = problem.active
        self._chol_mm = problem.chol_mm
        self.weights_ = solution["weights"]
        self.offsets_ = solution["offsets"]
        self._r = solution["r"]
        self._sigma2 = solution["sigma2"]
        self._amplitude = solution["amplitude"]

    @property
    def active_species_(self) -> np.ndarray:
        """Central species of the active environments."""
        return self._active.species

    def _predict(self, data: AtomicData, base: np.ndarray, variance: bool):
        rows = prepared(self.kernel_, data)
        k = structure_kernel(
            self.kernel_, rows, self._active, match_species=self.match_species, reduce_b=False
        )
        mean = k @ self.weights_ + base @ self.offsets_
        if not variance or self._amplitude is None:
            return mean, None
        # Σ = σ² (RᵀR)⁻¹ with R from the QR of the stacked system; Q = |L_MM⁻¹ K_M*|²
        v = scipy.linalg.solve_triangular(self._r, k.T, trans="T")
        sor = self._sigma2 * np.einsum("ij,ij->j", v, v)
        u = scipy.linalg.solve_triangular(self._chol_mm, k.T, lower=True)
        prior = structure_self_kernel(self.kernel_, rows, match_species=self.match_species)
        residual = np.maximum(prior - np.einsum("ij,ij->j", u, u), 0.0)
        return mean, self._amplitude * (residual + sor)

    def _arrays(self) -> dict[str, np.ndarray]:
        nan = np.array(np.nan)
        return {
            "active_values": self._active.values,
            "active_species": self._active.species,
            "weights": self.weights_,
            "offsets": self.offsets_,
            "r": np.zeros((0, 0)) if self._r is None else self._r,
            "cholesky_mm": self._chol_mm,
            "sigma2": np.array(self._sigma2),
            "amplitude": nan if self._amplitude is None else np.array(self._amplitude),
        }

    def _load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        m = len(arrays["weights"])
        self._active = AtomicData(
            arrays["active_values"], np.arange(m), arrays["active_species"], m, False
        )
        self.weights_ = arrays["weights"]
        self.offsets_ = arrays["offsets"]
        self._r = None if arrays["r"].size == 0 else arrays["r"]
        self._chol_mm = arrays["cholesky_mm"]
        self._sigma2 = float(arrays["sigma2"])
        amplitude = float(arrays["amplitude"])
        self._amplitude = None if np.isnan(amplitude) else amplitude
