"""Ridge and sparse-GPR fits from sums accumulated over chunks of the training set.

The in-memory fits (:class:`Ridge`, :class:`SparseGPR`) factorise the whole design matrix. For
training sets that do not fit in one process, the same minimisers are reached from sums over
chunks of structures (the normal equations), each chunk reduced to a few small arrays where it
was computed (see :mod:`lode_rs.distributed`)::

    sums = RidgeSums.of(x_chunk_0, y_0) + RidgeSums.of(x_chunk_1, y_1) + ...
    model = sums.solve(Ridge(regularizer=1e-6))

Ridge, with ``X`` the per-structure feature sums, ``B`` the baseline design and ``P = I − B B⁺``
its complement projector: ``XᵀPX = XᵀX − XᵀB (BᵀB)⁺ BᵀX`` and ``XᵀPy`` likewise, so
``w = (XᵀPX + λ)⁻¹ XᵀPy`` and the offsets ``(BᵀB)⁺ Bᵀ(y − Xw)`` need only
``XᵀX, Xᵀy, BᵀX, BᵀB, Bᵀy, yᵀy``. Sparse GPR, with ``K = K_NM`` against a fixed active set and
the residual ``r = y − B o`` (``o = (BᵀB)⁺Bᵀy``): ``(KᵀK + σ² L Lᵀ) w = Kᵀr`` needs
``KᵀK, Kᵀy, KᵀB`` and the same baseline sums. Both solve the problems the in-memory models solve
by SVD/QR; forming the normal equations squares the condition number, so agreement with the
in-memory fit is ``~ cond · 1e-16`` (1e-10 relative for regularizers ≳ 1e-6 on typical data).

Baseline columns are keyed (``species``: by atomic number), so chunks with different central
species add up correctly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.linalg

from .._lode_rs import InvalidInputError, InvalidParameterError
from .base import baseline_matrix
from .data import AtomicData, as_atomic_data, check_targets
from .gpr import prepared
from .kernels import structure_kernel, structure_self_kernel
from .ridge import Ridge
from .sparse import SparseGPR, active_cholesky


def _baseline(data: AtomicData, kind: str | None) -> tuple[np.ndarray, tuple]:
    """Baseline design of ``data`` and the key of each column."""
    if kind == "species":
        species = np.unique(data.species)
        return baseline_matrix(data, kind, species), tuple(int(s) for s in species)
    return baseline_matrix(data, kind, np.unique(data.species)), (
        ("intercept",) if kind == "intercept" else ()
    )


def _embed(matrix: np.ndarray, keys: tuple, union: tuple, axes: tuple[int, ...]) -> np.ndarray:
    """``matrix`` with its baseline ``axes`` (none, the first, or the first two) re-indexed from
    ``keys`` to ``union``, zeros for the columns it does not have."""
    if not axes:
        return matrix
    index = np.array([union.index(k) for k in keys], dtype=np.int64)
    out = np.zeros((len(union),) * len(axes) + matrix.shape[len(axes) :])
    if len(axes) == 2:
        out[np.ix_(index, index)] = matrix
    else:
        out[index] = matrix
    return out


@dataclass
class _Sums:
    """Additive sums over structures; ``keys`` name the baseline columns."""

    keys: tuple
    n_structures: int
    n_features: int
    per_structure: bool
    species: tuple

    # (array name, baseline axes) pairs; arrays are summed after aligning those axes
    _fields: ClassVar[tuple] = ()

    def __add__(self, other: _Sums) -> _Sums:
        if type(other) is not type(self):
            return NotImplemented
        if other.n_features != self.n_features or other.per_structure != self.per_structure:
            raise InvalidInputError("cannot add sums of different feature sets")
        union = tuple(sorted(set(self.keys) | set(other.keys), key=str))
        merged = {}
        for name, axes in self._fields:
            merged[name] = _embed(getattr(self, name), self.keys, union, axes) + _embed(
                getattr(other, name), other.keys, union, axes
            )
        return type(self)(
            keys=union,
            n_structures=self.n_structures + other.n_structures,
            n_features=self.n_features,
            per_structure=self.per_structure,
            species=tuple(sorted(set(self.species) | set(other.species))),
            **merged,
            **self._scalars(other),
        )

    def _scalars(self, other) -> dict:
        return {}

    def _baseline_solution(self):
        """``(BᵀB)⁺`` and the offsets ``o = (BᵀB)⁺ Bᵀy`` of the baseline alone."""
        pinv = np.linalg.pinv(self.btb, hermitian=True) if self.btb.size else self.btb
        return pinv, (pinv @ self.bty if self.bty.size else np.zeros(0))

    def _finish(self, model, regularizer: float):
        model.kernel_ = getattr(model, "kernel", None)
        model.regularizer_ = regularizer
        model.cv_scores_ = None
        model.species_ = np.array(self.species, dtype=np.int64)
        model.per_structure_ = self.per_structure
        model.n_features_in_ = self.n_features
        model.features_ = None
        model._fitted = True
        return model


def _regularizer_of(model) -> float:
    if model.regularizer is None:
        raise InvalidParameterError(
            "fits from accumulated sums need an explicit regularizer (cross-validation needs "
            "every fold's data): give regularizer=..."
        )
    return model.regularizer


@dataclass
class RidgeSums(_Sums):
    """``XᵀX, Xᵀy, BᵀX, BᵀB, Bᵀy, yᵀy`` of a chunk of structures (see the module docs)."""

    xtx: np.ndarray = None
    xty: np.ndarray = None
    btx: np.ndarray = None
    btb: np.ndarray = None
    bty: np.ndarray = None
    yty: float = 0.0
    _fields: ClassVar[tuple] = (
        ("xtx", ()),
        ("xty", ()),
        ("btx", (0,)),
        ("btb", (0, 1)),
        ("bty", (0,)),
    )

    def _scalars(self, other) -> dict:
        return {"yty": self.yty + other.yty}

    @classmethod
    def of(cls, x, y, baseline: str | None = "species") -> RidgeSums:
        """Sums of one chunk: ``x`` as for :meth:`Ridge.fit`, one target per structure."""
        data = as_atomic_data(x)
        y = check_targets(y, data.n_structures)
        summed = data.sum_by_structure()
        base, keys = _baseline(data, baseline)
        return cls(
            keys=keys,
            n_structures=data.n_structures,
            n_features=data.n_features,
            per_structure=data.per_structure,
            species=tuple(int(s) for s in np.unique(data.species)),
            xtx=summed.T @ summed,
            xty=summed.T @ y,
            btx=base.T @ summed,
            btb=base.T @ base,
            bty=base.T @ y,
            yty=float(y @ y),
        )

    def solve(self, model: Ridge) -> Ridge:
        """Fit ``model`` (its hyper-parameters; ``regularizer`` must be given) from the sums."""
        regularizer = _regularizer_of(model)
        pinv, _ = self._baseline_solution()
        ptp = self.xtx - self.btx.T @ pinv @ self.btx
        pty = self.xty - self.btx.T @ pinv @ self.bty
        ptp = 0.5 * (ptp + ptp.T)
        lam = regularizer * float(np.trace(ptp)) / self.n_structures
        eigenvalues, vectors = np.linalg.eigh(ptp)
        eigenvalues = np.clip(eigenvalues, 0.0, None)[::-1]
        vectors = vectors[:, ::-1]
        if lam > 0:
            weights = vectors @ ((vectors.T @ pty) / (eigenvalues + lam))
        else:
            keep = eigenvalues > eigenvalues[0] * 1e-14 if eigenvalues.size else eigenvalues > 0
            inverse = np.divide(1.0, eigenvalues, out=np.zeros_like(eigenvalues), where=keep)
            weights = vectors @ (inverse * (vectors.T @ pty))
        offsets = pinv @ (self.bty - self.btx @ weights) if self.bty.size else np.zeros(0)
        amplitude = None
        if lam > 0:
            pyy = self.yty - self.bty @ pinv @ self.bty if self.bty.size else self.yty
            amplitude = max(float(pyy - pty @ weights) / (lam * self.n_structures), 0.0)
        model.weights_ = weights
        model.offsets_ = offsets
        model._lam = lam
        model._amplitude = amplitude
        model._s = np.sqrt(eigenvalues)
        model._vt = vectors.T
        return self._finish(model, regularizer)


@dataclass
class SparseGPRSums(_Sums):
    """``KᵀK, Kᵀy, BᵀK, BᵀB, Bᵀy, yᵀy`` and ``Σ K(A, A)`` of a chunk, ``K = K_NM`` against a
    fixed active set (see the module docs)."""

    ktk: np.ndarray = None
    kty: np.ndarray = None
    btk: np.ndarray = None
    btb: np.ndarray = None
    bty: np.ndarray = None
    yty: float = 0.0
    knn: float = 0.0
    _fields: ClassVar[tuple] = (
        ("ktk", ()),
        ("kty", ()),
        ("btk", (0,)),
        ("btb", (0, 1)),
        ("bty", (0,)),
    )

    def _scalars(self, other) -> dict:
        return {"yty": self.yty + other.yty, "knn": self.knn + other.knn}

    @classmethod
    def of(cls, x, y, model: SparseGPR, active: AtomicData) -> SparseGPRSums:
        """Sums of one chunk for ``model``'s kernel, baseline and species matching, against the
        ``active`` environments (already passed through ``model.kernel.prepare``)."""
        data = as_atomic_data(x)
        y = check_targets(y, data.n_structures)
        rows = prepared(model.kernel, data)
        k = structure_kernel(
            model.kernel, rows, active, match_species=model.match_species, reduce_b=False
        )
        knn = structure_self_kernel(model.kernel, rows, match_species=model.match_species)
        base, keys = _baseline(data, model.baseline)
        return cls(
            keys=keys,
            n_structures=data.n_structures,
            n_features=data.n_features,
            per_structure=data.per_structure,
            species=tuple(int(s) for s in np.unique(data.species)),
            ktk=k.T @ k,
            kty=k.T @ y,
            btk=base.T @ k,
            btb=base.T @ base,
            bty=base.T @ y,
            yty=float(y @ y),
            knn=float(knn.sum()),
        )

    def solve(self, model: SparseGPR, active: AtomicData) -> SparseGPR:
        """Fit ``model`` (``regularizer`` must be given) on the ``active`` set from the sums."""
        regularizer = _regularizer_of(model)
        k_mm = model.kernel.pairwise(active.values, active.values)
        if model.match_species:
            k_mm[active.species[:, None] != active.species[None, :]] = 0.0
        chol_mm = active_cholesky(k_mm, model.jitter)
        _, offsets = self._baseline_solution()
        ktr = self.kty - self.btk.T @ offsets if offsets.size else self.kty
        rtr = self.yty - 2 * offsets @ self.bty + offsets @ self.btb @ offsets
        sigma2 = regularizer * self.knn / self.n_structures
        normal = self.ktk + sigma2 * (chol_mm @ chol_mm.T)
        if sigma2 <= 0:
            raise InvalidParameterError("fits from sums need regularizer > 0")
        r = scipy.linalg.cholesky(0.5 * (normal + normal.T), lower=False)
        weights = scipy.linalg.cho_solve((r, False), ktr)
        if not np.all(np.isfinite(weights)):
            raise InvalidParameterError(
                "SparseGPR weights are not finite; increase the regularizer"
            )
        model._active = active
        model._chol_mm = chol_mm
        model.weights_ = weights
        model.offsets_ = offsets
        model._r = r
        model._sigma2 = sigma2
        model._amplitude = max(float(rtr - ktr @ weights) / (sigma2 * self.n_structures), 0.0)
        model.kernel_ = model.kernel
        return self._finish(model, regularizer)
