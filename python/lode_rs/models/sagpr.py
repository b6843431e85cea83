"""Symmetry-adapted GPR (SA-GPR) of λ-tensors (Grisafi, Wilkins, Csányi, Ceriotti, PRL 120,
036002 (2018)) on :class:`lode_rs.EquivariantFeatures`.

Environment kernel of two centres ``i, j`` (zero unless their central species agree)::

    k^λ_{μμ'}(i, j) = x̂^λ_μ(i) · x̂^λ_μ'(j) · (x̂^0(i) · x̂^0(j))^(ζ−1)

with ``x̂^λ(i) = x^λ(i) / ‖x^λ(i)‖`` (Frobenius norm over ``μ`` and features: rotation
invariant) and ``x̂^0`` the normalised ``(0, +1)`` block. The structure kernel is additive,
``K^λ_{μμ'}(A, B) = Σ_{i∈A} Σ_{j∈B} k^λ_{μμ'}(i, j)``, and the model predicts the ``2λ+1``
spherical components of a structure's tensor as ``t_μ(A) = Σ_{B,μ'} K^λ_{μμ'}(A, B) α_{Bμ'}``
(full GPR) or through ``M`` active environments (sparse GPR, subset of regressors). Because
``k^λ(RA, B) = D^λ(R) k^λ(A, B)``, predictions rotate with ``D^λ`` exactly.

With ζ = 1 the full GPR is ridge regression on the structure sums of ``x̂^λ`` (one weight per
feature, shared by the ``2λ+1`` components): that primal form is what is solved (same
predictions, cost set by the number of features rather than of structures).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._lode_rs import InvalidInputError, InvalidParameterError
from ..results import EquivariantBlock, EquivariantFeatures
from .base import REGULARIZER_GRID, kfold_indices
from .selection import select_active

#: rows of environment kernels computed at once (bounds memory at ~ this × M × (2λ+1)² doubles)
_CHUNK = 512


def normalized(values: np.ndarray) -> np.ndarray:
    """``x / ‖x‖`` per environment (norm over every axis but the first; zero rows stay zero)."""
    norms = np.sqrt(np.sum(values * values, axis=tuple(range(1, values.ndim))))
    shape = (-1,) + (1,) * (values.ndim - 1)
    return values / np.where(norms > 0, norms, 1.0).reshape(shape)


def _indicator(structure: np.ndarray, n_structures: int) -> np.ndarray:
    out = np.zeros((n_structures, structure.size))
    out[structure, np.arange(structure.size)] = 1.0
    return out


@dataclass(frozen=True)
class EquivariantSums:
    """Per-structure sums of (normalised) λ-features, one slot per central species:
    ``Φ_{μ,s,f}(A) = Σ_{i∈A, species(i)=s} x̂^λ_{μf}(i)``, all that linear (ζ = 1, full) SA-GPR
    needs. Much smaller than the per-atom features: large data sets can be reduced batch by
    batch (:meth:`from_features` on each, then :meth:`stack`).

    Attributes:
        values: ``(n_structures, 2λ+1, n_species, n_features)``.
        species: central species of axis 2.
        o3_lambda, o3_sigma: the block summed.
        normalize: whether environments were normalised before summing.
    """

    values: np.ndarray
    species: tuple[int, ...]
    o3_lambda: int
    o3_sigma: int
    normalize: bool

    @property
    def n_structures(self) -> int:
        """Number of structures (rows)."""
        return self.values.shape[0]

    @classmethod
    def from_features(
        cls,
        features: EquivariantFeatures,
        o3_lambda: int,
        o3_sigma: int = 1,
        *,
        species,
        normalize: bool = True,
    ) -> EquivariantSums:
        """Sums of the ``(o3_lambda, o3_sigma)`` block of ``features`` per structure and
        central species (``species``: the slots, a centre of another species is an error)."""
        block = features.block(o3_lambda, o3_sigma)
        species = tuple(int(s) for s in species)
        unknown = np.setdiff1d(np.unique(block.center_species), species)
        if unknown.size:
            raise InvalidInputError(f"central species {unknown.tolist()} are not in {species}")
        x = normalized(block.values) if normalize else block.values
        out = np.zeros((block.n_structures, x.shape[1], len(species), x.shape[2]))
        for k, s in enumerate(species):
            rows = block.center_species == s
            np.add.at(out[:, :, k, :], block.structure[rows], x[rows])
        return cls(out, species, int(o3_lambda), int(o3_sigma), bool(normalize))

    @staticmethod
    def concatenate(parts: list[EquivariantSums], weights=None) -> EquivariantSums:
        """Feature-wise concatenation of sums of the same structures (``weights`` scale each
        part: the linear kernel becomes ``Σ_k w_k² K_k``)."""
        weights = [1.0] * len(parts) if weights is None else list(weights)
        first = parts[0]
        for p in parts:
            if (p.o3_lambda, p.o3_sigma, p.species, p.n_structures) != (
                first.o3_lambda,
                first.o3_sigma,
                first.species,
                first.n_structures,
            ):
                raise InvalidInputError(
                    "can only concatenate sums of the same block and structures"
                )
        values = np.concatenate([w * p.values for w, p in zip(weights, parts, strict=True)], axis=3)
        return EquivariantSums(
            values, first.species, first.o3_lambda, first.o3_sigma, first.normalize
        )

    @staticmethod
    def stack(parts: list[EquivariantSums]) -> EquivariantSums:
        """Structure-wise concatenation (batches of the same features)."""
        first = parts[0]
        values = np.concatenate([p.values for p in parts], axis=0)
        return EquivariantSums(
            values, first.species, first.o3_lambda, first.o3_sigma, first.normalize
        )

    def select(self, structures) -> EquivariantSums:
        """The rows of some structures, in that order."""
        values = self.values[np.asarray(structures, dtype=np.int64)]
        return EquivariantSums(values, self.species, self.o3_lambda, self.o3_sigma, self.normalize)


class _Environments:
    """Normalised environment features of one ``(λ, σ)`` block (and of ``(0, +1)`` for ζ > 1)."""

    def __init__(self, x: np.ndarray, x0: np.ndarray | None, species, structure, n_structures):
        self.x = x  # (n_env, 2λ+1, n_features)
        self.x0 = x0  # (n_env, n_features_0) or None
        self.species = np.asarray(species)
        self.structure = np.asarray(structure)
        self.n_structures = int(n_structures)

    def subset_rows(self, rows: np.ndarray) -> _Environments:
        x0 = None if self.x0 is None else self.x0[rows]
        return _Environments(self.x[rows], x0, self.species[rows], self.structure[rows], 0)

    def pair_kernel(self, other: _Environments, zeta: int) -> np.ndarray:
        """``k^λ_{μμ'}(i, j)``: ``(n_env, 2λ+1, n_env', 2λ+1)``."""
        k = np.einsum("imf,jnf->imjn", self.x, other.x)
        mask = (self.species[:, None] == other.species[None, :]).astype(float)
        if zeta > 1:
            mask = mask * (self.x0 @ other.x0.T) ** (zeta - 1)
        return k * mask[:, None, :, None]


class SAGPR:
    """SA-GPR of one λ-tensor per structure (module docs), full or sparse.

    Args:
        o3_lambda: λ of the target (0 scalars, 1 vectors, 2 the traceless symmetric part of a
            rank-2 tensor).
        o3_sigma: parity of the feature block used (+1 for proper tensors).
        zeta: exponent of the scalar kernel multiplying the λ kernel (1: linear).
        regularizer: noise/regularizer relative to the mean diagonal of the kernel; ``None``
            picks it from ``REGULARIZER_GRID`` by ``cv_folds``-fold cross-validation.
        n_sparse: number of active environments (farthest-point sampled per species) for
            sparse GPR; ``None`` for full GPR.
        intercept: fit a constant (only for λ = 0, where a constant is rotation invariant): jointly
            and unpenalised for ζ = 1 full GPR, as the mean of the training targets otherwise.
        normalize: normalise every environment's λ-features (and scalar features) to unit
            norm (the SA-GPR kernel); ``False`` keeps their magnitude (e.g. LODE's density).
        cv_folds, seed: cross-validation folds and seed (folds and active-set subsampling).
        jitter: sparse GPR drops directions of the active-set kernel whose eigenvalue is below
            ``jitter`` × the largest (duplicate or linearly dependent active environments).
    """

    model_type = "SAGPR"
    _param_names = (
        "o3_lambda",
        "o3_sigma",
        "zeta",
        "regularizer",
        "n_sparse",
        "intercept",
        "normalize",
        "cv_folds",
        "seed",
        "jitter",
    )

    def __init__(
        self,
        *,
        o3_lambda: int,
        o3_sigma: int = 1,
        zeta: int = 1,
        regularizer: float | None = None,
        n_sparse: int | None = None,
        intercept: bool = True,
        normalize: bool = True,
        cv_folds: int = 5,
        seed: int = 0,
        jitter: float = 1e-12,
    ) -> None:
        if int(o3_lambda) != o3_lambda or o3_lambda < 0:
            raise InvalidParameterError(f"o3_lambda must be an integer >= 0, got {o3_lambda!r}")
        if o3_sigma not in (1, -1):
            raise InvalidParameterError(f"o3_sigma must be +1 or -1, got {o3_sigma!r}")
        if int(zeta) != zeta or zeta < 1:
            raise InvalidParameterError(f"zeta must be an integer >= 1, got {zeta!r}")
        if regularizer is not None and not (np.isfinite(regularizer) and regularizer >= 0):
            raise InvalidParameterError(f"regularizer must be >= 0 or None, got {regularizer!r}")
        if n_sparse is not None and (int(n_sparse) != n_sparse or n_sparse < 1):
            raise InvalidParameterError(f"n_sparse must be a positive integer, got {n_sparse!r}")
        if int(cv_folds) != cv_folds or cv_folds < 2:
            raise InvalidParameterError(f"cv_folds must be an integer >= 2, got {cv_folds!r}")
        self.o3_lambda = int(o3_lambda)
        self.o3_sigma = int(o3_sigma)
        self.zeta = int(zeta)
        self.regularizer = None if regularizer is None else float(regularizer)
        self.n_sparse = None if n_sparse is None else int(n_sparse)
        self.intercept = bool(intercept) and self.o3_lambda == 0
        self.normalize = bool(normalize)
        self.cv_folds = int(cv_folds)
        self.seed = int(seed)
        self.jitter = float(jitter)
        self._fitted = False

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor arguments of this model (scikit-learn convention; nothing nested, so
        ``deep`` changes nothing)."""
        del deep
        return {name: getattr(self, name) for name in self._param_names}

    def set_params(self, **params: Any) -> SAGPR:
        """Change constructor arguments, validated as by the constructor; returns ``self``
        (a fitted state is kept until the next :meth:`fit`).

        Raises:
            InvalidParameterError: unknown parameter names or invalid values.
        """
        unknown = sorted(set(params) - set(self._param_names))
        if unknown:
            raise InvalidParameterError(
                f"SAGPR has no parameters {unknown}; valid: {sorted(self._param_names)}"
            )
        validated = type(self)(**{**self.get_params(), **params})
        for name in self._param_names:
            setattr(self, name, getattr(validated, name))
        return self

    def clone(self) -> SAGPR:
        """A new, unfitted model with the same constructor arguments."""
        return type(self)(**self.get_params())

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"SAGPR({args})"

    # ---- inputs --------------------------------------------------------------------------------
    def _environments(self, features: EquivariantFeatures) -> _Environments:
        if not isinstance(features, EquivariantFeatures):
            raise InvalidInputError(
                "SAGPR needs lode_rs.EquivariantFeatures (from "
                f"EquivariantPowerSpectrum(...).compute), got {type(features).__name__}"
            )
        block: EquivariantBlock = features.block(self.o3_lambda, self.o3_sigma)
        x0 = None
        if self.zeta > 1:
            x0 = features.block(0, 1).values[:, 0, :]
            x0 = normalized(x0) if self.normalize else x0
        for values in (block.values, x0):
            if values is not None and not np.all(np.isfinite(values)):
                raise InvalidInputError("the features contain NaN or infinite values")
        if self._fitted and block.values.shape[2] != self.n_features_in_:
            raise InvalidInputError(
                f"the model was fitted on {self.n_features_in_} features per component, got "
                f"{block.values.shape[2]}; compute the features with the same hyper-parameters"
            )
        return _Environments(
            normalized(block.values) if self.normalize else block.values,
            x0,
            block.center_species,
            block.structure,
            block.n_structures,
        )

    def _sums(self, env: _Environments) -> EquivariantSums:
        """Per-structure, per-species sums of the (already normalised) environments."""
        width = 2 * self.o3_lambda + 1
        out = np.zeros((env.n_structures, width, len(self.species_), env.x.shape[2]))
        for k, s in enumerate(self.species_):
            rows = env.species == s
            np.add.at(out[:, :, k, :], env.structure[rows], env.x[rows])
        species = tuple(int(s) for s in self.species_)
        return EquivariantSums(out, species, self.o3_lambda, self.o3_sigma, self.normalize)

    def _checked_sums(self, sums: EquivariantSums) -> EquivariantSums:
        if self.zeta != 1 or self.n_sparse is not None:
            raise InvalidParameterError(
                "EquivariantSums only serve linear full SA-GPR (zeta=1, n_sparse=None); give "
                "EquivariantFeatures"
            )
        if (sums.o3_lambda, sums.o3_sigma) != (self.o3_lambda, self.o3_sigma):
            raise InvalidInputError(
                f"the sums are of block ({sums.o3_lambda}, {sums.o3_sigma}), the model needs "
                f"({self.o3_lambda}, {self.o3_sigma})"
            )
        if sums.normalize != self.normalize:
            raise InvalidInputError(
                f"the sums were built with normalize={sums.normalize}, the model has "
                f"normalize={self.normalize}"
            )
        if self._fitted and sums.values.shape[3] != self.n_features_in_:
            raise InvalidInputError(
                f"the model was fitted on {self.n_features_in_} features, got "
                f"{sums.values.shape[3]}"
            )
        if not np.all(np.isfinite(sums.values)):
            raise InvalidInputError("the features contain NaN or infinite values")
        return sums

    def _targets(self, targets: Any, n_structures: int) -> np.ndarray:
        width = 2 * self.o3_lambda + 1
        y = np.asarray(targets, dtype=np.float64)
        if width == 1 and y.ndim == 1:
            y = y[:, None]
        if y.shape != (n_structures, width):
            raise InvalidInputError(
                f"λ = {self.o3_lambda} targets must have shape (n_structures, {width}) = "
                f"({n_structures}, {width}) (spherical components μ = −λ…λ), got {y.shape}"
            )
        if not np.all(np.isfinite(y)):
            raise InvalidInputError("the targets contain NaN or infinite values")
        return y

    # ---- design ------------------------------------------------------------------------------
    def _kernel_to(self, env: _Environments, basis: _Environments) -> np.ndarray:
        """``Σ_{i∈A} k(i, b)`` for every structure ``A`` of ``env`` and row ``b`` of ``basis``:
        ``(n_structures, 2λ+1, n_basis, 2λ+1)``."""
        width = 2 * self.o3_lambda + 1
        out = np.zeros((env.n_structures, width, basis.x.shape[0], width))
        for start in range(0, env.x.shape[0], _CHUNK):
            rows = np.arange(start, min(start + _CHUNK, env.x.shape[0]))
            k = env.subset_rows(rows).pair_kernel(basis, self.zeta)
            np.add.at(out, env.structure[rows], k)
        return out

    def _design(self, env: _Environments) -> np.ndarray:
        """Rows ``(A, μ)`` of the regression: summed features (linear full), or the kernel to the
        training structures (full, ζ > 1) or to the active environments (sparse)."""
        width = 2 * self.o3_lambda + 1
        if isinstance(env, EquivariantSums):
            phi = env.values.reshape(env.n_structures * width, -1)
            if self.intercept:  # an unpenalised constant (see _solve)
                phi = np.concatenate([phi, np.ones((phi.shape[0], 1))], axis=1)
            return phi
        basis = self._basis
        k = self._kernel_to(env, basis)
        if self._route == "full":
            # structure kernel: sum the basis' environments into their structures
            member = _indicator(basis.structure, self._n_train)
            k = np.einsum("AmjB,Sj->AmSB", k, member)
        return k.reshape(env.n_structures * width, -1)

    # ---- fit / predict -------------------------------------------------------------------------
    def fit(self, features: EquivariantFeatures | EquivariantSums, targets: Any) -> SAGPR:
        """Fit on one λ-tensor per structure.

        Args:
            features: :class:`lode_rs.EquivariantFeatures` with the ``(o3_lambda, o3_sigma)``
                block (and ``(0, +1)`` when ``zeta > 1``), or precomputed
                :class:`EquivariantSums` (linear full SA-GPR only).
            targets: ``(n_structures, 2λ+1)`` spherical components (for λ = 0 also
                ``(n_structures,)``), in the order of the real harmonics ``Y_λμ``.

        Returns:
            ``self``; ``regularizer_`` and ``cv_scores_`` (``None`` unless cross-validated).
        """
        self._fitted = False
        if isinstance(features, EquivariantSums):
            env = self._checked_sums(features)
            self.species_ = np.asarray(env.species, dtype=np.int64)
            self.n_features_in_ = env.values.shape[3]
        else:
            env = self._environments(features)
            self.species_ = np.unique(env.species)
            self.n_features_in_ = env.x.shape[2]
        y = self._targets(targets, env.n_structures)
        if env.n_structures == 0:
            raise InvalidInputError("cannot fit a model on zero structures")
        self._n_train = env.n_structures
        if isinstance(env, EquivariantSums):
            self._route = "linear"
        elif self.n_sparse is not None:
            self._route = "sparse"
            if self.n_sparse > env.x.shape[0]:
                raise InvalidParameterError(
                    f"n_sparse = {self.n_sparse} is more than the {env.x.shape[0]} training "
                    "environments"
                )
            active = select_active(
                env.x.reshape(env.x.shape[0], -1), env.species, self.n_sparse, self.seed
            )
            self._basis = env.subset_rows(np.sort(active))
        elif self.zeta == 1:
            self._route = "linear"
            env = self._sums(env)
        else:
            self._route = "full"
            self._basis = env
        design = self._design(env)
        self._diagonal = self._kernel_diagonal(env, design)
        # the linear route fits its intercept jointly; kernel routes subtract the mean
        self.offset_ = float(np.mean(y)) if self.intercept and self._route != "linear" else 0.0
        target = (y - self.offset_).reshape(-1)
        width = 2 * self.o3_lambda + 1
        grid = list(REGULARIZER_GRID) if self.regularizer is None else [self.regularizer]
        self.cv_scores_ = None
        if len(grid) > 1:
            n_folds = min(self.cv_folds, env.n_structures)
            folds = kfold_indices(env.n_structures, n_folds, self.seed)
            squared = np.zeros(len(grid))
            for train, test in folds:
                rows = (train[:, None] * width + np.arange(width)).reshape(-1)
                test_rows = (test[:, None] * width + np.arange(width)).reshape(-1)
                solutions = self._solve(design, target, rows, grid)
                for ir, weights in enumerate(solutions):
                    error = design[test_rows] @ weights - target[test_rows]
                    squared[ir] += float(error @ error) if weights is not None else np.inf
            rmse = np.sqrt(squared / target.size)
            self.regularizer_ = grid[int(np.argmin(rmse))]
            self.cv_scores_ = {"regularizers": grid, "rmse": rmse.tolist(), "n_folds": n_folds}
        else:
            self.regularizer_ = grid[0]
        all_rows = np.arange(target.size)
        (self.weights_,) = self._solve(design, target, all_rows, [self.regularizer_])
        if self.weights_ is None:
            raise InvalidParameterError(
                f"could not solve with regularizer {self.regularizer_}; raise it"
            )
        self._fitted = True
        return self

    def _kernel_diagonal(self, env: _Environments, design: np.ndarray) -> np.ndarray:
        """``K^λ_{μμ}(A, A)`` of every row ``(A, μ)``: the scale of the regularizer, the same
        on every route (so that full and sparse GPR with the same ``regularizer`` agree)."""
        if self._route == "linear":
            phi = design[:, :-1] if self.intercept else design
            return np.einsum("ij,ij->i", phi, phi)
        if self._route == "full":
            return np.diag(design).copy()
        width = 2 * self.o3_lambda + 1
        out = np.zeros((env.n_structures, width))
        for a in range(env.n_structures):
            own = env.subset_rows(np.nonzero(env.structure == a)[0])
            k = own.pair_kernel(own, self.zeta)
            out[a] = np.einsum("imjm->m", k)
        return out.reshape(-1)

    def _solve(self, design, target, rows, grid) -> list[np.ndarray | None]:
        """Weights of the design's columns for every regularizer of ``grid`` (relative to the
        mean diagonal of the structure kernel) using only the training ``rows``."""
        a, b = design[rows], target[rows]
        scale = float(np.mean(self._diagonal[rows]))
        if scale <= 0:
            raise InvalidInputError("the training features are all zero")
        if self._route == "linear":
            # ridge: w = V (S² + r)⁻¹ S Uᵀ b, r relative to the mean kernel diagonal ‖φ‖²;
            # with an intercept (last column), on centred columns, the constant unpenalised
            if self.intercept:
                a, mean_a = a[:, :-1], a[:, :-1].mean(axis=0)
                mean_b = float(b.mean())
                a, b = a - mean_a, b - mean_b
            u, s, vt = np.linalg.svd(a, full_matrices=False)
            ub = u.T @ b
            out = []
            for r in grid:
                denominator = s**2 + r * scale
                keep = denominator > 1e-14 * max(float(s[0] ** 2), 1e-300) if s.size else s > 0
                factor = np.where(keep, s / np.where(keep, denominator, 1.0), 0.0)
                w = vt.T @ (factor * ub)
                if self.intercept:
                    w = np.append(w, mean_b - mean_a @ w)
                out.append(w)
            return out
        if self._route == "full":
            # (K + r·scale·1) α = y on the training structures; columns of other structures 0
            k = a[:, rows]
            values, vectors = np.linalg.eigh(k)
            vb = vectors.T @ b
            out = []
            for r in grid:
                alpha = np.zeros(design.shape[1])
                denominator = values + r * scale
                alpha[rows] = vectors @ (vb / denominator) if np.all(denominator > 0) else np.nan
                out.append(alpha if np.all(np.isfinite(alpha)) else None)
            return out
        # sparse (subset of regressors): (K_NMᵀ K_NM + r·scale·K_MM) w = K_NMᵀ y, solved stably
        # as ridge in v with w = T v, T = V Λ^{-1/2} on K_MM = V Λ Vᵀ (eigenvalues below
        # jitter × the largest dropped: K_NM has no component along them):
        # min ‖K_NM T v − y‖² + r·scale ‖v‖²
        values, vectors = np.linalg.eigh(self._kernel_to_basis_self())
        kept = values > self.jitter * max(float(values[-1]), 1e-300)
        transform = vectors[:, kept] / np.sqrt(values[kept])
        u, s, vt = np.linalg.svd(a @ transform, full_matrices=False)
        ub = u.T @ b
        out = []
        for r in grid:
            denominator = s**2 + r * scale
            keep = denominator > 1e-14 * max(float(s[0] ** 2), 1e-300)
            v = vt.T @ np.where(keep, s * ub / np.where(keep, denominator, 1.0), 0.0)
            out.append(transform @ v)
        return out

    def _kernel_to_basis_self(self) -> np.ndarray:
        width = 2 * self.o3_lambda + 1
        k = self._basis.pair_kernel(self._basis, self.zeta)
        n = self._basis.x.shape[0] * width
        return k.reshape(n, n)

    def predict(self, features: EquivariantFeatures | EquivariantSums) -> np.ndarray:
        """``(n_structures, 2λ+1)`` predicted spherical components."""
        if not self._fitted:
            raise InvalidInputError("this SAGPR is not fitted; call fit() first")
        if isinstance(features, EquivariantSums):
            if self._route != "linear":
                raise InvalidInputError("this model was not fitted on EquivariantSums")
            env = self._checked_sums(features)
            if tuple(env.species) != tuple(self.species_.tolist()):
                raise InvalidInputError(
                    f"the sums have species slots {env.species}, the model {self.species_}"
                )
        else:
            env = self._environments(features)
            unknown = np.setdiff1d(np.unique(env.species), self.species_)
            if unknown.size:
                raise InvalidInputError(
                    f"central species {unknown.tolist()} were not in the training data"
                )
            if self._route == "linear":
                env = self._sums(env)
        width = 2 * self.o3_lambda + 1
        prediction = self._design(env) @ self.weights_
        return prediction.reshape(env.n_structures, width) + self.offset_

    # ---- save / load ---------------------------------------------------------------------------
    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON metadata and arrays of the fitted model (for :class:`TensorModel` files)."""
        metadata = {
            "params": self.get_params(),
            "route": self._route,
            "regularizer_": self.regularizer_,
            "cv_scores_": self.cv_scores_,
            "species_": self.species_.tolist(),
            "n_features_in_": self.n_features_in_,
            "offset_": self.offset_,
            "n_train": self._n_train,
        }
        arrays = {"weights": self.weights_}
        if self._route != "linear":
            arrays["basis_x"] = self._basis.x
            arrays["basis_species"] = self._basis.species
            arrays["basis_structure"] = self._basis.structure
            if self._basis.x0 is not None:
                arrays["basis_x0"] = self._basis.x0
        return metadata, arrays

    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted model (``.npz``: arrays + JSON metadata, no pickle); read it back
        with :func:`lode_rs.models.load`."""
        if not self._fitted:
            raise InvalidInputError("this SAGPR is not fitted; nothing to save")
        state, arrays = self._state()
        metadata = {"format": "lode_rs.models", "version": 1, "model": self.model_type, **state}
        np.savez(path, metadata=np.array(json.dumps(metadata)), **arrays)

    @classmethod
    def _from_saved(cls, metadata: dict[str, Any], arrays: dict[str, np.ndarray]) -> SAGPR:
        return cls._from_state(metadata, arrays)

    @classmethod
    def _from_state(cls, metadata: dict[str, Any], arrays: dict[str, np.ndarray]) -> SAGPR:
        model = cls(**metadata["params"])
        model._route = metadata["route"]
        model.regularizer_ = metadata["regularizer_"]
        model.cv_scores_ = metadata["cv_scores_"]
        model.species_ = np.asarray(metadata["species_"], dtype=np.int64)
        model.n_features_in_ = int(metadata["n_features_in_"])
        model.offset_ = float(metadata["offset_"])
        model._n_train = int(metadata["n_train"])
        model.weights_ = arrays["weights"]
        if model._route != "linear":
            model._basis = _Environments(
                arrays["basis_x"],
                arrays.get("basis_x0"),
                arrays["basis_species"],
                arrays["basis_structure"],
                0,
            )
        model._fitted = True
        return model
