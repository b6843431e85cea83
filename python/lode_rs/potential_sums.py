"""A potential's training system as sums over chunks of structures (for fits whose Jacobians
never sit in one process, :func:`lode_rs.distributed.fit_potential`).

:meth:`lode_rs.Potential.fit` stacks the weighted design rows of energies and forces and solves
by QR (:mod:`lode_rs.potential_fit`). The same minimiser follows from the normal equations

    (P/δ² + Σ_k G_k/σ_k²) θ = Σ_k b_k/σ_k²,   G_k = A_kᵀ U_k A_k,   b_k = A_kᵀ U_k y_k,

sums over structures that each chunk forms where its Jacobians were computed. Two things of the
in-memory fit depend on the whole training set and are handled by carrying extra columns:

* the per-species energy baseline ``o = C⁺E`` (``C`` the composition matrix): the energy targets
  are ``y = E − C o``, so with ``Y = [E, C]`` (one column per species) and ``v = (1, −o)``,
  ``b = (AᵀU Y) v`` once ``o`` is known from the summed ``CᵀC`` and ``CᵀE``;
* the cross-validated noise levels: every sum is also kept per fold (folds over structures, as
  in :func:`lode_rs.potential_fit.choose_sigmas`), a fold's test error
  ``Σ (ã·θ − ỹ)² = θᵀ(ÃᵀÃ)θ − 2θᵀ(ÃᵀỸ)v + vᵀ(ỸᵀỸ)v`` (``ã = a/n_A``, ``ỹ = y/n_A`` for
  energies, per atom as in the in-memory score).

Forming normal equations squares the condition number: agreement with the QR solve is
``~ cond(H) · 1e-16`` (measured 1e-12 relative on the test problems).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.linalg

from .errors import InvalidInputError, InvalidParameterError
from .potential_fit import Design, search_sigmas


@dataclass
class KindSums:
    """Sums of the rows of one kind of target (``"energy"`` or ``"forces"``) in one fold.

    ``gram = AᵀUA``, ``rhs = AᵀUY``, ``err_gram = ÃᵀÃ``, ``err_rhs = ÃᵀỸ``, ``err_yy = ỸᵀỸ``,
    ``y_sum = Σ Ỹ`` (per column) and ``count`` rows; ``Y`` has the target in column 0 and, for
    energies with a per-species baseline, the composition in the other columns.
    """

    gram: np.ndarray
    rhs: np.ndarray
    err_gram: np.ndarray
    err_rhs: np.ndarray
    err_yy: np.ndarray
    y_sum: np.ndarray
    count: int

    def __add__(self, other: KindSums) -> KindSums:
        return KindSums(
            *(getattr(self, n) + getattr(other, n) for n in _KIND_ARRAYS),
            count=self.count + other.count,
        )


_KIND_ARRAYS = ("gram", "rhs", "err_gram", "err_rhs", "err_yy", "y_sum")


def _kind_sums(a, u, y_matrix, per_row) -> KindSums:
    weighted = a * u[:, None]
    a_err = a / per_row[:, None]
    y_err = y_matrix / per_row[:, None]
    return KindSums(
        gram=weighted.T @ a,
        rhs=weighted.T @ y_matrix,
        err_gram=a_err.T @ a_err,
        err_rhs=a_err.T @ y_err,
        err_yy=y_err.T @ y_err,
        y_sum=y_err.sum(axis=0),
        count=int(a.shape[0]),
    )


@dataclass
class PotentialSums:
    """Additive sums of a chunk of training structures: per kind and fold :class:`KindSums`,
    and the composition sums ``CᵀC``, ``CᵀE`` of the energy baseline (columns: ``species``)."""

    species: tuple[int, ...]
    n_structures: int
    n_folds: int
    kinds: dict[str, list[KindSums]] = field(default_factory=dict)
    ctc: np.ndarray | None = None
    cte: np.ndarray | None = None

    @classmethod
    def of(
        cls,
        design: Design,
        composition: np.ndarray | None,
        fold_of: np.ndarray,
        n_folds: int,
        species: tuple[int, ...],
    ) -> PotentialSums:
        """Sums of one chunk's ``design`` (built with the raw energies as targets), its
        ``composition`` ``(n, S)`` (``None``: no baseline) and the fold of each structure."""
        out = cls(tuple(species), design.n_structures, n_folds)
        for kind, rows in design.rows.items():
            if kind == "stress":
                raise InvalidParameterError("fits from sums support energies and forces only")
            y = rows.y[:, None]
            per_row = np.ones(len(rows.y))
            if kind == "energy":
                per_row = rows.per_atom.astype(np.float64)
                if composition is not None:
                    y = np.concatenate([y, composition], axis=1)
            folds = fold_of[rows.structure]
            out.kinds[kind] = [
                _kind_sums(rows.a[m], rows.u[m], y[m], per_row[m])
                for m in (folds == f for f in range(n_folds))
            ]
        if composition is not None and "energy" in design.rows:
            energies = design.rows["energy"].y
            out.ctc = composition.T @ composition
            out.cte = composition.T @ energies
        return out

    def __add__(self, other: PotentialSums) -> PotentialSums:
        if (self.species, self.n_folds, set(self.kinds)) != (
            other.species,
            other.n_folds,
            set(other.kinds),
        ):
            raise InvalidInputError("cannot add sums of different species, folds or targets")
        kinds = {
            k: [a + b for a, b in zip(v, other.kinds[k], strict=True)]
            for k, v in self.kinds.items()
        }
        ctc = None if self.ctc is None else self.ctc + other.ctc
        cte = None if self.cte is None else self.cte + other.cte
        return PotentialSums(
            self.species, self.n_structures + other.n_structures, self.n_folds, kinds, ctc, cte
        )

    # ---- the solution ---------------------------------------------------------------------
    def offsets(self) -> np.ndarray:
        """Per-species energies ``o = (CᵀC)⁺CᵀE`` (the minimum-norm least-squares solution,
        as ``lstsq`` in the in-memory fit); zeros without a baseline."""
        if self.ctc is None:
            return np.zeros(len(self.species))
        pinv = np.linalg.pinv(self.ctc, rcond=1e-12, hermitian=True)
        return pinv @ self.cte

    def _contraction(self, kind: str, offsets: np.ndarray) -> np.ndarray:
        """``v``: the target column combination (``(1, −o)`` for energies with a baseline)."""
        width = self.kinds[kind][0].rhs.shape[1]
        return np.concatenate([[1.0], -offsets]) if width > 1 else np.ones(1)

    def total(self, kind: str) -> KindSums:
        """Sums of ``kind`` over every fold."""
        parts = self.kinds[kind]
        out = parts[0]
        for p in parts[1:]:
            out = out + p
        return out

    def scale(self, kind: str, offsets: np.ndarray) -> float:
        """Spread of the targets (per atom for energies, after the baseline), as ``np.std``
        in :func:`lode_rs.potential_fit.build_design`."""
        t = self.total(kind)
        v = self._contraction(kind, offsets)
        if t.count <= 1:
            raise InvalidInputError("fits from sums need at least two target values per kind")
        mean = float(t.y_sum @ v) / t.count
        second = float(v @ t.err_yy @ v) / t.count
        return float(np.sqrt(max(second - mean * mean, 0.0)))

    def _system(self, sigmas, offsets, precision, skip_fold: int | None = None):
        h = precision.copy()
        rhs = np.zeros(h.shape[0])
        for kind in self.kinds:
            t = self.total(kind)
            gram, b = t.gram, t.rhs
            if skip_fold is not None:
                f = self.kinds[kind][skip_fold]
                gram, b = gram - f.gram, b - f.rhs
            v = self._contraction(kind, offsets)
            h += gram / sigmas[kind] ** 2
            rhs += (b @ v) / sigmas[kind] ** 2
        return h, rhs

    def choose_sigmas(
        self,
        precision: np.ndarray,
        offsets: np.ndarray,
        delta: float,
        given: dict[str, float],
    ) -> tuple[dict[str, float], dict | None]:
        """Noise levels: given, or chosen by the cross-validation of
        :func:`lode_rs.potential_fit.choose_sigmas` (same folds, grid, search and score)."""
        fitted = list(self.kinds)
        todo = [k for k in fitted if k not in given]
        sigmas = {k: given[k] for k in fitted if k in given}
        if not todo:
            return sigmas, None
        if self.n_structures < 2:
            raise InvalidParameterError(
                f"cannot cross-validate the regularizers of {todo} with one structure; give "
                "regularizers={...} explicitly"
            )
        scale = {k: (self.scale(k, offsets) or delta) for k in fitted}
        from .potential_fit import SIGMA_START

        for k in todo:
            sigmas[k] = SIGMA_START * scale[k]
        v = {k: self._contraction(k, offsets) for k in fitted}

        def score(trial: dict[str, float]) -> float:
            total = 0.0
            for f in range(self.n_folds):
                h, rhs = self._system(trial, offsets, precision, skip_fold=f)
                try:
                    theta = scipy.linalg.cho_solve(scipy.linalg.cho_factor(h), rhs)
                except (np.linalg.LinAlgError, ValueError):
                    return np.inf
                for k in fitted:
                    part = self.kinds[k][f]
                    squared = (
                        theta @ part.err_gram @ theta
                        - 2 * theta @ (part.err_rhs @ v[k])
                        + v[k] @ part.err_yy @ v[k]
                    )
                    total += max(float(squared), 0.0) / max(part.count, 1) / scale[k] ** 2
            return total

        return search_sigmas(score, todo, sigmas, scale, self.n_folds)

    def solve(
        self, precision: np.ndarray, offsets: np.ndarray, sigmas: dict[str, float]
    ) -> tuple[np.ndarray, np.ndarray]:
        """``θ`` and the upper triangular ``R`` with ``RᵀR`` the posterior precision (as
        :func:`lode_rs.potential_fit.solve`, up to the signs of ``R``'s rows)."""
        h, rhs = self._system(sigmas, offsets, precision)
        try:
            r = scipy.linalg.cholesky(0.5 * (h + h.T), lower=False)
        except np.linalg.LinAlgError:
            raise InvalidParameterError(
                "the potential's normal equations are not positive definite; increase the "
                "regularizers or reduce n_sparse"
            ) from None
        theta = scipy.linalg.cho_solve((r, False), rhs)
        if not np.all(np.isfinite(theta)):
            raise InvalidParameterError(
                "the potential's weights are not finite; increase the regularizers or reduce "
                "n_sparse"
            )
        return theta, r


__all__ = ["KindSums", "PotentialSums"]
