"""Kernel ridge regression on precomputed structure kernels, and those kernels for several ζ.

For learning curves and model comparisons whose kernels are expensive (e.g. 96 000 environments)
but whose fits are cheap (a few hundred training structures): the ``(n_structures,
n_structures)`` structure kernels are computed once, for several exponents ζ in one pass
(:func:`polynomial_structure_kernels`), and every training subset, cross-validation fold,
regularizer and kernel combination reuses them (:func:`fit_precomputed`).

The kernels are those of :class:`lode_rs.models.GPR` with a :class:`PolynomialKernel` and
``match_species=True``,

    K_ζ(A, B) = Σ_{i∈A} Σ_{j∈B} δ(a_i, a_j) (x̂_i · x̂_j)^ζ,

and the fit is that of ``GPR(baseline="intercept")``: ``y ≈ ȳ + K α`` with
``(K + λ t I) α = y − ȳ``, ``t`` the mean diagonal of the training kernel (so ``λ`` is relative to
the kernel scale), the same regularizer grid, folds (:func:`kfold_indices`) and cross-validation
loop (:func:`cross_validation_errors`) as the models, with every regularizer of a fold solved from
one eigendecomposition. Tests hold both against :func:`structure_kernel` and :class:`GPR`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InvalidInputError, InvalidParameterError
from .base import REGULARIZER_GRID, Problem, cross_validation_errors, kfold_indices
from .data import as_atomic_data

#: structures per block of :func:`polynomial_structure_kernels` (64 × 64 water boxes: a 4096²
#: block of H–H)
_BLOCK = 64


def _reducer(structure: np.ndarray):
    """``(present structures, function summing rows of a block by structure)``."""
    present, counts = np.unique(structure, return_counts=True)
    if np.all(counts == counts[0]) and np.all(np.diff(structure) >= 0):
        c = int(counts[0])
        return present, lambda m: m.reshape(present.size, c, -1).sum(axis=1)
    index = np.searchsorted(present, structure)

    def reduce(m):
        out = np.zeros((present.size, m.shape[1]))
        np.add.at(out, index, m)
        return out

    return present, reduce


def polynomial_structure_kernels(
    features: Any, zetas: Sequence[int], *, normalize: Sequence[bool] = (True,)
) -> dict[tuple[bool, int], np.ndarray]:
    """Structure kernels of additive polynomial models, for several ``ζ`` in one pass.

    Args:
        features: :class:`lode_rs.Features` (rows = environments, compared only within a
            central species) or an unweighted :class:`AtomicData`.
        zetas: integer exponents ``>= 1``.
        normalize: which kinds to compute: ``True``, on L2-normalised environments
            (``PolynomialKernel(ζ)``); ``False``, on the raw features divided by one constant, their
            root-mean-square row norm (``PolynomialKernel(ζ, normalize=False)`` times
            ``s^(-2ζ)``: the same model once the regularizer is relative to the kernel scale).

    Returns:
        ``{(normalize, ζ): (n_structures, n_structures) array}``, symmetric.

    Cost: one GEMM per same-species block pair (upper triangle only, shared by both kinds) and
    one element-wise power per kind and ``ζ``; memory O(block²), never O(n_environments²).
    """
    zetas = sorted({int(z) for z in zetas})
    kinds = sorted({bool(k) for k in normalize})
    if not zetas or zetas[0] < 1:
        raise InvalidParameterError(f"zetas must be integers >= 1, got {zetas}")
    if not kinds:
        raise InvalidParameterError("normalize must name at least one kind (True and/or False)")
    data = as_atomic_data(features)
    if data.weights is not None:
        raise InvalidInputError(
            "polynomial_structure_kernels takes unweighted environments; use structure_kernel "
            "for AtomicData with row weights"
        )
    values = np.asarray(data.values, dtype=np.float64)
    norms = np.linalg.norm(values, axis=1)
    rms = float(np.sqrt(np.mean(norms**2)))
    if rms > 0:
        values, norms = values / rms, norms / rms
    inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    structure = np.asarray(data.structure, dtype=np.int64)
    species = np.asarray(data.species)
    n = int(data.n_structures)
    out = {(k, z): np.zeros((n, n)) for k in kinds for z in zetas}
    for s in np.unique(species):
        rows = np.nonzero(species == s)[0]
        rows = rows[np.argsort(structure[rows], kind="stable")]
        x, owner, inv = values[rows], structure[rows], inverse[rows]
        edges = np.searchsorted(owner, np.arange(0, n + _BLOCK, _BLOCK))
        blocks = [(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]
        reducers = [_reducer(owner[a:b]) for a, b in blocks]
        for i, (a0, a1) in enumerate(blocks):
            present_a, reduce_a = reducers[i]
            for j in range(i, len(blocks)):
                b0, b1 = blocks[j]
                present_b, reduce_b = reducers[j]
                raw = x[a0:a1] @ x[b0:b1].T
                for kind in kinds:
                    gram = raw * np.outer(inv[a0:a1], inv[b0:b1]) if kind else raw
                    power = gram.copy()
                    for z in range(1, zetas[-1] + 1):
                        if z > 1:
                            power *= gram
                        if (kind, z) not in out:
                            continue
                        k = reduce_b(reduce_a(power).T).T
                        out[kind, z][np.ix_(present_a, present_b)] += k
                        if j != i:
                            out[kind, z][np.ix_(present_b, present_a)] += k.T
    return out


@dataclass(frozen=True)
class PrecomputedFit:
    """A kernel ridge fit on precomputed kernels (:func:`fit_precomputed`).

    Attributes:
        variant: name of the kernel chosen (a key of the candidates).
        regularizer: λ chosen (relative to the mean diagonal of the training kernel).
        cv_rmse: cross-validated RMSE of the chosen hyper-parameters (target units).
        prediction: predictions for the requested test structures.
    """

    variant: str
    regularizer: float
    cv_rmse: float
    prediction: np.ndarray


class _PrecomputedProblem(Problem):
    """Kernel ridge with an intercept on a given ``(n, n)`` structure kernel ``k``."""

    def __init__(self, k: np.ndarray, y: np.ndarray) -> None:
        self.k, self.y = k, y

    def prepare(self, train: np.ndarray):
        ktt = self.k[np.ix_(train, train)]
        return {
            "train": train,
            "k": ktt,
            "mean": self.y[train].mean(),
            "scale": float(np.mean(np.diag(ktt))),
        }

    def solve(self, state, regularizer: float, *, quiet: bool = False) -> dict[str, Any]:
        n = state["train"].size
        lhs = state["k"] + regularizer * state["scale"] * np.eye(n)
        alpha = np.linalg.solve(lhs, self.y[state["train"]] - state["mean"])
        return {"train": state["train"], "alpha": alpha, "mean": state["mean"]}

    def predict(self, solution, rows: np.ndarray) -> np.ndarray:
        return self.k[np.ix_(rows, solution["train"])] @ solution["alpha"] + solution["mean"]

    def cv_predictions(self, state, regularizers: list[float], test: np.ndarray):
        """Every regularizer from one eigendecomposition of the training kernel."""
        train, mean, scale = state["train"], state["mean"], state["scale"]
        eigenvalues, vectors = np.linalg.eigh(state["k"])
        projected = vectors.T @ (self.y[train] - mean)
        kvt = self.k[np.ix_(test, train)] @ vectors
        out: list[np.ndarray | None] = []
        for lam in regularizers:
            denominator = eigenvalues + lam * scale
            out.append(None if denominator.min() <= 0 else kvt @ (projected / denominator) + mean)
        return out


def fit_precomputed(
    kernels: Mapping[str, np.ndarray],
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    *,
    regularizers: Sequence[float] = REGULARIZER_GRID,
    cv_folds: int = 5,
    seed: int = 0,
) -> PrecomputedFit:
    """Choose a kernel and λ by k-fold CV on ``train`` only, refit on ``train``, predict ``test``.

    Args:
        kernels: candidate ``(n, n)`` structure kernels over all structures, by name.
        y: ``(n,)`` targets of all structures (only ``y[train]`` is read).
        train, test: indices into the structures.
        regularizers: λ grid; the first of equal CV errors wins (the grid runs small to large).
        cv_folds: folds (leave-one-out when ``train`` is smaller).
    """
    train, test = np.asarray(train), np.asarray(test)
    if not kernels:
        raise InvalidParameterError("no candidate kernels")
    if train.size < 2:
        raise InvalidInputError(f"need at least 2 training structures, got {train.size}")
    y = np.asarray(y, dtype=np.float64)
    grid = [float(r) for r in regularizers]
    folds = [
        (train[a], train[b]) for a, b in kfold_indices(train.size, min(cv_folds, train.size), seed)
    ]
    best = (np.inf, "", 0.0)
    for name, k in kernels.items():
        squared = cross_validation_errors(_PrecomputedProblem(k, y), y, folds, grid)
        r = int(np.argmin(squared))
        if squared[r] < best[0]:
            best = (float(squared[r]), name, grid[r])
    if not np.isfinite(best[0]):
        raise InvalidParameterError("no kernel and regularizer gave a solvable system")
    _, name, lam = best
    problem = _PrecomputedProblem(kernels[name], y)
    solution = problem.solve(problem.prepare(train), lam)
    return PrecomputedFit(
        variant=name,
        regularizer=lam,
        cv_rmse=float(np.sqrt(best[0] / train.size)),
        prediction=problem.predict(solution, test),
    )
