"""Ridge regression on features summed per structure (linear additive model)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .base import Problem, Regressor, baseline_matrix, min_norm_lstsq
from .data import AtomicData
from .kernels import Kernel


class _RidgeProblem(Problem):
    def __init__(self, data: AtomicData, y: np.ndarray, baseline: str | None) -> None:
        self.x = data.sum_by_structure()
        self.base = baseline_matrix(data, baseline, np.unique(data.species))
        self.y = y

    def prepare(self, train: np.ndarray):
        x, base, y = self.x[train], self.base[train], self.y[train]
        # project out the (unregularised) baseline columns: orthonormal basis of span(base)
        if base.shape[1]:
            u, s, _ = np.linalg.svd(base, full_matrices=False)
            q = u[:, s > s[0] * max(base.shape) * np.finfo(float).eps]
            px, py = x - q @ (q.T @ x), y - q @ (q.T @ y)
        else:
            px, py = x, y
        u, s, vt = np.linalg.svd(px, full_matrices=False)
        scale = float(s @ s) / len(train)  # mean diagonal of the Gram matrix px px^T
        # rank cutoff for regularizer=0, relative to the largest singular value of the
        # features *before* the baseline projection: directions of x inside the baseline's
        # span leave rounding noise of that size in px, which must count as zero
        sigma_max = max(float(np.linalg.norm(x, 2)) if x.size else 0.0, s[0] if s.size else 0.0)
        rank_cutoff = sigma_max * max(px.shape) * np.finfo(float).eps
        return {
            "train": train,
            "x": x,
            "base": base,
            "y": y,
            "px": px,
            "py": py,
            "u": u,
            "s": s,
            "vt": vt,
            "scale": scale,
            "rank_cutoff": rank_cutoff,
        }

    def solve(self, state, regularizer: float, *, quiet: bool = False) -> dict[str, Any]:
        s, uty = state["s"], state["u"].T @ state["py"]
        lam = regularizer * state["scale"]
        n_features = state["x"].shape[1]
        if lam > 0:
            factor = s / (s * s + lam)
        else:
            keep = s > state["rank_cutoff"]
            factor = np.divide(1.0, s, out=np.zeros_like(s), where=keep)
            if not quiet and int(keep.sum()) < n_features:
                warnings.warn(
                    f"Ridge: the feature matrix has rank {int(keep.sum())} < {n_features} "
                    "features; with regularizer=0 the minimum-norm solution is returned "
                    "(set regularizer > 0, e.g. 1e-6, or None to cross-validate it)",
                    stacklevel=4,
                )
        weights = state["vt"].T @ (factor * uty)
        offsets = min_norm_lstsq(state["base"], state["y"] - state["x"] @ weights)
        amplitude = None
        if lam > 0:
            residual = state["py"] - state["px"] @ weights
            amplitude = max(float(state["py"] @ residual) / (lam * len(state["y"])), 0.0)
        return {
            "weights": weights,
            "offsets": offsets,
            "lam": lam,
            "amplitude": amplitude,
            "s": s,
            "vt": state["vt"],
        }

    def predict(self, solution, rows):
        return self.x[rows] @ solution["weights"] + self.base[rows] @ solution["offsets"]


class Ridge(Regressor):
    """Linear ridge regression on features summed over the environments of each structure.

    ``y_A ≈ Σ_{i∈A} w·x_i + baseline(A)``: an additive linear model (the LODE ν=1 model is this).
    The baseline (not regularised) is ``"species"`` (one offset per central species, i.e. a
    linear model in the composition), ``"intercept"`` (one constant) or ``None``.

    Regularisation: minimises ``|P(y - X w)|² + λ |w|²`` with ``X`` the summed features, ``P`` the
    projector removing the baseline columns, and ``λ = regularizer × tr(P X Xᵀ P) / n_train``
    (relative to the mean diagonal of the Gram matrix, so ``Ridge(regularizer=r)`` is kernel
    ridge regression with the linear kernel ``x·x'`` at the same ``r``). Solved with an SVD of
    ``P X`` (no normal equations). ``regularizer=None`` picks it by ``cv_folds``-fold
    cross-validation on :data:`REGULARIZER_GRID` (1e-12 … 1, one point per decade).

    Variance (``predict(..., return_variance=True)``): latent variance of the equivalent Gaussian
    process ``a λ xᵀ(XᵀPX + λ)⁻¹x`` with the amplitude ``a`` estimated from the training targets;
    the baseline's uncertainty is not included.
    """

    model_type = "Ridge"
    _param_names = ("regularizer", "baseline", "cv_folds", "seed")

    def __init__(
        self,
        regularizer: float | None = 1e-6,
        *,
        baseline: str | None = "species",
        cv_folds: int = 5,
        seed: int = 0,
    ) -> None:
        super().__init__(regularizer=regularizer, baseline=baseline, cv_folds=cv_folds, seed=seed)

    def _problem(self, data, y, kernel: Kernel | None) -> Problem:
        return _RidgeProblem(data, y, self.baseline)

    def _store(self, problem, solution) -> None:
        self.weights_ = solution["weights"]
        self.offsets_ = solution["offsets"]
        self._lam = solution["lam"]
        self._amplitude = solution["amplitude"]
        self._s = solution["s"]
        self._vt = solution["vt"]

    def _predict(self, data: AtomicData, base: np.ndarray, variance: bool):
        x = data.sum_by_structure()
        mean = x @ self.weights_ + base @ self.offsets_
        if not variance or self._amplitude is None:
            return mean, None
        shrink = self._s**2 / (self._s**2 + self._lam)
        projections = x @ self._vt.T
        latent = np.einsum("ij,ij->i", x, x) - (projections**2) @ shrink
        return mean, self._amplitude * np.maximum(latent, 0.0)

    def _arrays(self) -> dict[str, np.ndarray]:
        return {
            "weights": self.weights_,
            "offsets": self.offsets_,
            "lam": np.array(self._lam),
            "amplitude": np.array(np.nan if self._amplitude is None else self._amplitude),
            "singular_values": self._s,
            "vt": self._vt,
        }

    def _load_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.weights_ = arrays["weights"]
        self.offsets_ = arrays["offsets"]
        self._lam = float(arrays["lam"])
        amplitude = float(arrays["amplitude"])
        self._amplitude = None if np.isnan(amplitude) else amplitude
        self._s = arrays["singular_values"]
        self._vt = arrays["vt"]
