"""Symmetric rank-2 tensors (3×3 per structure, e.g. ε∞ or polarizabilities) learned as their
λ = 0 and λ = 2 spherical parts with two :class:`SAGPR` models.

Spherical components in the basis of the real harmonics (``docs/math.md``): a symmetric ``T``
is ``T = t₀ B⁰ + Σ_μ t₂,μ B²_μ`` with Frobenius-orthonormal matrices, ``t = ⟨B, T⟩``::

    B⁰ = 1/√3                                   (t₀ = tr T / √3)
    B²₋₂ = (e_x e_yᵀ + e_y e_xᵀ)/√2      ↔  Y_2,−2 ∝ xy
    B²₋₁ = (e_y e_zᵀ + e_z e_yᵀ)/√2      ↔  Y_2,−1 ∝ yz
    B²₀  = diag(−1, −1, 2)/√6            ↔  Y_2,0  ∝ 2z² − x² − y²
    B²₁  = (e_x e_zᵀ + e_z e_xᵀ)/√2      ↔  Y_2,1  ∝ xz
    B²₂  = diag(1, −1, 0)/√2             ↔  Y_2,2  ∝ x² − y²

``rᵀ B²_μ r = √(8π/15) Y_2μ(r)`` for unit ``r`` (the same positive constant for every μ), so
``t₂(R T Rᵀ) = D²(R) t₂(T)`` with the Wigner matrix of the features: rotating a structure
rotates its predicted tensor as ``R T Rᵀ``.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from .._lode_rs import InvalidInputError, InvalidParameterError
from ..results import EquivariantFeatures
from .sagpr import SAGPR, EquivariantSums


def _basis() -> tuple[np.ndarray, np.ndarray]:
    s2, s6 = np.sqrt(2.0), np.sqrt(6.0)
    b0 = np.eye(3) / np.sqrt(3.0)
    b2 = np.zeros((5, 3, 3))
    b2[0, 0, 1] = b2[0, 1, 0] = 1 / s2
    b2[1, 1, 2] = b2[1, 2, 1] = 1 / s2
    b2[2] = np.diag([-1.0, -1.0, 2.0]) / s6
    b2[3, 0, 2] = b2[3, 2, 0] = 1 / s2
    b2[4] = np.diag([1.0, -1.0, 0.0]) / s2
    return b0, b2


B0, B2 = _basis()


def check_symmetric_tensors(tensors: Any, *, tolerance: float = 1e-8) -> np.ndarray:
    """``tensors`` as a float ``(n, 3, 3)`` array; error unless finite and symmetric to
    ``tolerance`` × the largest entry."""
    t = np.asarray(tensors, dtype=np.float64)
    if t.ndim != 3 or t.shape[1:] != (3, 3):
        raise InvalidInputError(
            f"tensor targets must have shape (n_structures, 3, 3), got {t.shape}"
        )
    if not np.all(np.isfinite(t)):
        raise InvalidInputError("the tensor targets contain NaN or infinite values")
    asymmetry = float(np.max(np.abs(t - t.transpose(0, 2, 1)), initial=0.0))
    scale = float(np.max(np.abs(t), initial=0.0))
    if asymmetry > tolerance * max(scale, 1e-300):
        raise InvalidInputError(
            f"tensor targets must be symmetric: max |T − Tᵀ| = {asymmetry:.3g} "
            f"(largest entry {scale:.3g}); the antisymmetric part is not a λ = 0 or λ = 2 "
            "component. Symmetrise with (T + T.swapaxes(1, 2)) / 2 if it is noise, or raise "
            "`symmetry_tolerance`"
        )
    return t


def cartesian_to_spherical(tensors: Any, *, tolerance: float = 1e-8):
    """Spherical parts ``(t₀ (n, 1), t₂ (n, 5))`` of symmetric ``(n, 3, 3)`` tensors."""
    t = check_symmetric_tensors(tensors, tolerance=tolerance)
    t = 0.5 * (t + t.transpose(0, 2, 1))
    return np.einsum("ab,nab->n", B0, t)[:, None], np.einsum("mab,nab->nm", B2, t)


def spherical_to_cartesian(t0: Any, t2: Any) -> np.ndarray:
    """Symmetric ``(n, 3, 3)`` tensors from ``t₀ (n,)`` or ``(n, 1)`` and ``t₂ (n, 5)``."""
    t0 = np.asarray(t0, dtype=np.float64).reshape(-1)
    t2 = np.asarray(t2, dtype=np.float64)
    if t2.ndim != 2 or t2.shape != (t0.size, 5):
        raise InvalidInputError(f"t2 must have shape ({t0.size}, 5), got {t2.shape}")
    return t0[:, None, None] * B0 + np.einsum("nm,mab->nab", t2, B2)


class TensorModel:
    """A symmetric 3×3 tensor per structure: λ = 0 (trace) and λ = 2 (anisotropic) parts, each
    fitted with its own :class:`SAGPR`, reassembled into Cartesian tensors.

    Args:
        lambda0: model of the λ = 0 part (default ``SAGPR(o3_lambda=0, **options)``).
        lambda2: model of the λ = 2 part (default ``SAGPR(o3_lambda=2, **options)``).
        symmetry_tolerance: largest accepted ``max|T − Tᵀ|`` relative to ``max|T|``.
        **options: passed to the default SAGPR models (``zeta``, ``regularizer``,
            ``n_sparse``, ``cv_folds``, ``seed``, ...).

    Example::

        lam = lode_rs.EquivariantPowerSpectrum(soap, lode, lambda_max=2).compute(frames)
        tm = lode_rs.models.TensorModel().fit(lam, epsilon)      # epsilon: (n_structures, 3, 3)
        tm.predict(lam_test)                                       # (n_test, 3, 3)
    """

    model_type = "TensorModel"

    def __init__(
        self,
        *,
        lambda0: SAGPR | None = None,
        lambda2: SAGPR | None = None,
        symmetry_tolerance: float = 1e-8,
        **options: Any,
    ) -> None:
        self.lambda0 = lambda0 if lambda0 is not None else SAGPR(o3_lambda=0, **options)
        self.lambda2 = lambda2 if lambda2 is not None else SAGPR(o3_lambda=2, **options)
        if self.lambda0.o3_lambda != 0 or self.lambda2.o3_lambda != 2:
            raise InvalidParameterError("lambda0 must model λ = 0 and lambda2 λ = 2")
        if self.lambda0.o3_sigma != 1 or self.lambda2.o3_sigma != 1:
            raise InvalidParameterError("a symmetric tensor has σ = +1 parts only")
        self.symmetry_tolerance = float(symmetry_tolerance)
        self._fitted = False

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor arguments (scikit-learn convention); with ``deep`` also the parts'
        own, as ``lambda0__<name>`` and ``lambda2__<name>``."""
        params: dict[str, Any] = {
            "lambda0": self.lambda0,
            "lambda2": self.lambda2,
            "symmetry_tolerance": self.symmetry_tolerance,
        }
        if deep:
            for part in ("lambda0", "lambda2"):
                params.update({f"{part}__{k}": v for k, v in params[part].get_params().items()})
        return params

    def set_params(self, **params: Any) -> TensorModel:
        """Change constructor arguments (``lambda2__zeta=2`` changes the λ = 2 model's);
        returns ``self``.

        Raises:
            InvalidParameterError: unknown parameter names or invalid values.
        """
        valid = set(self.get_params(deep=True))
        unknown = sorted(set(params) - valid)
        if unknown:
            raise InvalidParameterError(
                f"TensorModel has no parameters {unknown}; valid: {sorted(valid)}"
            )
        parts = {}
        for part in ("lambda0", "lambda2"):
            model = params.get(part, getattr(self, part)).clone()
            nested = {
                k.split("__", 1)[1]: v for k, v in params.items() if k.startswith(part + "__")
            }
            parts[part] = (
                model.set_params(**nested) if nested else params.get(part, getattr(self, part))
            )
        if parts["lambda0"].o3_lambda != 0 or parts["lambda2"].o3_lambda != 2:
            raise InvalidParameterError("lambda0 must model λ = 0 and lambda2 λ = 2")
        self.lambda0, self.lambda2 = parts["lambda0"], parts["lambda2"]
        if "symmetry_tolerance" in params:
            self.symmetry_tolerance = float(params["symmetry_tolerance"])
        return self

    @staticmethod
    def _parts(features) -> tuple[Any, Any]:
        if isinstance(features, EquivariantFeatures):
            return features, features
        if (
            isinstance(features, tuple)
            and len(features) == 2
            and all(isinstance(f, EquivariantSums) for f in features)
        ):
            return features
        raise InvalidInputError(
            "TensorModel needs lode_rs.EquivariantFeatures or a pair (EquivariantSums of λ = 0, "
            f"EquivariantSums of λ = 2), got {type(features).__name__}"
        )

    def fit(self, features: EquivariantFeatures | tuple, tensors: Any) -> TensorModel:
        """Fit both parts on ``tensors`` ``(n_structures, 3, 3)`` (symmetric).

        ``features``: :class:`lode_rs.EquivariantFeatures` with the λ = 0 and λ = 2 blocks, or
        a pair of :class:`EquivariantSums` (λ = 0, λ = 2) for linear models.
        """
        t0, t2 = cartesian_to_spherical(tensors, tolerance=self.symmetry_tolerance)
        f0, f2 = self._parts(features)
        for f in (f0, f2):
            if t0.shape[0] != f.n_structures:
                raise InvalidInputError(
                    f"got {t0.shape[0]} tensors for {f.n_structures} structures"
                )
        self.lambda0.fit(f0, t0)
        self.lambda2.fit(f2, t2)
        self._fitted = True
        return self

    def predict_spherical(self, features) -> tuple[np.ndarray, np.ndarray]:
        """Predicted ``(t₀ (n, 1), t₂ (n, 5))``."""
        if not self._fitted:
            raise InvalidInputError("this TensorModel is not fitted; call fit() first")
        f0, f2 = self._parts(features)
        return self.lambda0.predict(f0), self.lambda2.predict(f2)

    def predict(self, features) -> np.ndarray:
        """Predicted symmetric tensors ``(n_structures, 3, 3)``."""
        return spherical_to_cartesian(*self.predict_spherical(features))

    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted model (``.npz``: arrays + JSON metadata, no pickle); read it back
        with :func:`lode_rs.models.load`."""
        if not self._fitted:
            raise InvalidInputError("this TensorModel is not fitted; nothing to save")
        metadata: dict[str, Any] = {
            "format": "lode_rs.models",
            "version": 1,
            "model": self.model_type,
            "symmetry_tolerance": self.symmetry_tolerance,
            "parts": {},
        }
        arrays = {}
        for name, model in (("lambda0", self.lambda0), ("lambda2", self.lambda2)):
            part, part_arrays = model._state()
            metadata["parts"][name] = part
            arrays.update({f"{name}.{k}": v for k, v in part_arrays.items()})
        np.savez(path, metadata=np.array(json.dumps(metadata)), **arrays)

    @classmethod
    def _from_saved(cls, metadata: dict[str, Any], arrays: dict[str, np.ndarray]) -> TensorModel:
        parts = {}
        for name in ("lambda0", "lambda2"):
            prefix = f"{name}."
            own = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
            parts[name] = SAGPR._from_state(metadata["parts"][name], own)
        model = cls(symmetry_tolerance=metadata["symmetry_tolerance"], **parts)
        model._fitted = True
        return model
