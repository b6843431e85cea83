"""Potentials: a feature recipe and a model fitted on energies, forces and stress.

``E(A) = Σ_{i∈A} ε(x_i) + Σ_i b_{species(i)}`` with ``ε(x) = Σ_p θ_p φ_p(x)`` (see
:mod:`lode_rs.potential_basis`): a linear model in the features (:class:`~lode_rs.models.Ridge`)
or a kernel model on active environments (:class:`~lode_rs.models.SparseGPR`;
:class:`~lode_rs.models.GPR` = every training environment active). Forces ``−∂E/∂r`` and stress
``(1/V) ∂E/∂ε`` (ASE's sign) are linear in ``θ`` too, so energies, force components and stress
components of the training structures are rows of one regularised least-squares problem

    min_θ  Σ_rows  w_A (y_r − a_r·θ)² / σ_r²  +  θᵀ P θ / δ²

with ``P = I`` (ridge) or ``K_MM`` (kernel), noise ``σ_r = σ_E √n_A`` for an energy (σ_E per
atom), ``σ_F`` for a force component and ``σ_S`` for a stress component (one regularizer per kind
of target, as GAP does), per-structure weights ``w_A`` and the prior scale ``δ`` (the standard
deviation of the training energies per atom after the baseline, or of the force components).
Force and stress rows come from the feature Jacobians of the training structures contracted with
the kernel derivative against the active points once per structure (no kernel Hessian);
prediction uses the backward pass (cotangent ``∂ε/∂x`` per row), so forces of a large structure
cost a few feature evaluations.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.linalg

from . import recipe
from .errors import InvalidInputError, InvalidParameterError, NotFittedError
from .models.gpr import GPR
from .models.kernels import PolynomialKernel, kernel_from_dict
from .models.ridge import Ridge
from .models.selection import select_active
from .models.sparse import SparseGPR, active_cholesky
from .potential_basis import Basis
from .potential_fit import build_design, choose_sigmas, solve
from .potential_targets import read_energies, read_forces, read_stress, read_weights
from .recipe import RadialSpectrum
from .systems import as_frame_list

KINDS = ("energy", "forces", "stress")
FORMAT = "lode_rs.potential"


def _model_spec(model: Any) -> dict[str, Any]:
    if isinstance(model, Ridge):
        return {
            "type": "Ridge",
            "baseline": model.baseline,
            "cv_folds": model.cv_folds,
            "seed": model.seed,
        }
    if isinstance(model, (SparseGPR, GPR)):
        kernel = model.kernel
        if not isinstance(kernel, PolynomialKernel) or kernel.zeta is None:
            raise InvalidParameterError(
                "a Potential needs a PolynomialKernel with an integer zeta (give block weights "
                "to the Potential instead of a SumKernel; choose zeta, e.g. 2)"
            )
        n_sparse = model.n_sparse if isinstance(model, SparseGPR) else None
        jitter = model.jitter if isinstance(model, SparseGPR) else 1e-10
        return {
            "type": "SparseGPR",
            "kernel": kernel.to_dict(),
            "n_sparse": n_sparse,
            "baseline": model.baseline,
            "match_species": model.match_species,
            "jitter": jitter,
            "cv_folds": model.cv_folds,
            "seed": model.seed,
        }
    raise InvalidParameterError(
        f"model must be lode_rs.models.Ridge, GPR or SparseGPR, got {type(model).__name__}"
    )


def _check_sigmas(sigmas: dict[str, float] | None) -> dict[str, float]:
    sigmas = dict(sigmas or {})
    for key, value in sigmas.items():
        if key not in KINDS:
            raise InvalidParameterError(f"unknown regularizer {key!r}: use {KINDS}")
        if value is not None and (not np.isfinite(value) or value <= 0):
            raise InvalidParameterError(f"regularizer {key!r} must be finite and > 0, got {value}")
    return {k: float(v) for k, v in sigmas.items() if v is not None}


class Potential:
    """A machine-learned potential: feature blocks and a model, fitted on energies, forces
    and stress (see the module docs for the model and the loss).

    Args:
        features: one invariant or a list (``lode_rs.PowerSpectrum(soap)``,
            ``lode_rs.PowerSpectrum(soap, lode)``, ``lode_rs.potential.RadialSpectrum(lode)``).
        model: ``lode_rs.models.Ridge``, ``GPR`` or ``SparseGPR`` (polynomial kernel with an
            integer ζ). Their ``regularizer`` is not used: see ``regularizers``.
        weights: one weight per feature block (columns multiplied by it; default 1).
        regularizers: noise levels ``{"energy": σ_E (eV/atom), "forces": σ_F (eV/Å),
            "stress": σ_S (eV/Å³)}``; a kind fitted but not given is chosen by
            cross-validation (grouped by structure).
        delta: the prior's energy scale δ (eV); default: from the training targets.
        batch_size: structures whose Jacobians are held in memory at once while fitting.
        species_resolved: with ``Ridge``, one weight vector per centre species
            (``ε(x_i) = w_{Z_i}·x_i``, as ``lode_rs.models.species_resolved`` features): e.g.
            the Coulomb energy ``½ Σ q_i V(r_i)`` is linear in LODE ν = 1 features this way.
    """

    def __init__(
        self,
        features: Any,
        model: Any = None,
        *,
        weights: Sequence[float] | None = None,
        regularizers: dict[str, float] | None = None,
        delta: float | None = None,
        batch_size: int = 16,
        species_resolved: bool = False,
    ) -> None:
        self.blocks = recipe.as_blocks(features, weights)
        model = SparseGPR(kernel=PolynomialKernel(zeta=2)) if model is None else model
        self.model = _model_spec(model)
        if species_resolved:
            if self.model["type"] != "Ridge":
                raise InvalidParameterError(
                    "species_resolved=True is a linear model with weights per centre species: "
                    "use it with lode_rs.models.Ridge (kernel models match species already)"
                )
            self.model["species_resolved"] = True
        self.regularizers = _check_sigmas(regularizers)
        if delta is not None and (not np.isfinite(delta) or delta <= 0):
            raise InvalidParameterError(f"delta must be finite and > 0, got {delta}")
        self.delta = None if delta is None else float(delta)
        if int(batch_size) != batch_size or batch_size < 1:
            raise InvalidParameterError(f"batch_size must be an integer >= 1, got {batch_size}")
        self.batch_size = int(batch_size)
        self._fitted = False

    # ---- fitting ------------------------------------------------------------------------------
    def fit(
        self,
        frames,
        energy: Any = "energy",
        forces: Any = None,
        stress: Any = None,
        *,
        weights: Any = None,
    ) -> Potential:
        """Fit on the targets of ``frames`` (``ase.Atoms``).

        Args:
            energy, forces, stress: a key of ``atoms.info`` (energy, stress) or
                ``atoms.arrays`` (forces), also found in the attached calculator's results
                (extxyz files read by ASE), or the values: energies ``(n_structures,)``,
                forces one ``(n_atoms, 3)`` per structure, stress one Voigt ``(6,)`` or
                ``(3, 3)`` per structure (ASE's sign). ``None``: not fitted.
            weights: one weight ``>= 0`` per structure (default 1).

        Returns:
            ``self``; ``regularizers_`` holds the σ's used, ``cv_scores_`` the
            cross-validation errors (``None`` if nothing was chosen), ``delta_`` the prior scale.
        """
        frames = as_frame_list(frames)
        if not frames:
            raise InvalidInputError("cannot fit a potential on zero structures")
        targets = {
            "energy": read_energies(frames, energy),
            "forces": read_forces(frames, forces),
            "stress": read_stress(frames, stress),
        }
        if all(v is None for v in targets.values()):
            raise InvalidInputError("give at least one of energy=, forces=, stress=")
        structure_weights = read_weights(frames, weights)
        values = recipe.compute(self.blocks, frames)
        self.species_ = np.unique(values.species)
        self.n_features_ = values.values.shape[1]
        self.basis_ = self._make_basis(values)
        self.offsets_, residual = self._baseline(frames, targets["energy"])
        targets["energy"] = residual
        design = build_design(
            self.blocks, self.basis_, frames, values, targets, structure_weights, self.batch_size
        )
        self.delta_ = self.delta if self.delta is not None else design.default_delta()
        prior = self._prior()
        fitted = [k for k in KINDS if targets[k] is not None]
        sigmas, self.cv_scores_ = choose_sigmas(
            design,
            prior,
            self.delta_,
            fitted,
            self.regularizers,
            self.model["cv_folds"],
            self.model["seed"],
        )
        self.regularizers_ = sigmas
        self.theta_, self.r_ = solve(design, prior, self.delta_, sigmas)
        self._fitted = True
        return self

    def _make_basis(self, values: recipe.FeatureBatch) -> Basis:
        if self.model["type"] == "Ridge":
            if self.model.get("species_resolved"):
                return Basis.species_resolved(self.species_, values.values.shape[1])
            return Basis(None)
        kernel = kernel_from_dict(self.model["kernel"])
        match = self.model["match_species"]
        n_sparse = self.model["n_sparse"]
        if n_sparse is None:
            active = np.arange(values.values.shape[0])
        else:
            prepared = kernel.prepare(values.values)
            active = select_active(
                kernel.distance_space(prepared), values.species, n_sparse, seed=self.model["seed"]
            )
        return Basis(kernel, values.values[active], values.species[active] if match else None)

    def _prior(self) -> np.ndarray:
        """Cholesky factor ``L`` of the prior's precision ``P = L Lᵀ``."""
        if self.basis_.kernel is None:
            return np.eye(self.n_features_)
        points = self.basis_.points
        k_mm = self.basis_.kernel.pairwise(points, points)
        if self.basis_.species is not None:
            k_mm[self.basis_.species[:, None] != self.basis_.species[None, :]] = 0.0
        return active_cholesky(k_mm, self.model.get("jitter", 0.0))

    def _composition(self, frames) -> np.ndarray:
        out = np.zeros((len(frames), len(self.species_)))
        for i, atoms in enumerate(frames):
            numbers = np.asarray(atoms.numbers)
            unknown = np.setdiff1d(numbers, self.species_)
            if unknown.size:
                raise InvalidInputError(
                    f"structure {i} has species {unknown.tolist()} the potential was not "
                    f"fitted on (known: {self.species_.tolist()})"
                )
            out[i] = [np.count_nonzero(numbers == s) for s in self.species_]
        return out

    def _baseline(self, frames, energies):
        if energies is None or self.model["baseline"] is None:
            return np.zeros(len(self.species_)), energies
        if self.model["baseline"] == "intercept":
            raise InvalidParameterError(
                "a Potential's baseline is 'species' (per-species energies) or None"
            )
        comp = self._composition(frames)
        offsets = np.linalg.lstsq(comp, energies, rcond=None)[0]
        return offsets, energies - comp @ offsets

    # ---- prediction ---------------------------------------------------------------------------
    def predict(
        self,
        frames,
        *,
        forces: bool = True,
        stress: bool | None = None,
        return_variance: bool = False,
    ):
        """Energies, forces and stress of ``frames``.

        Args:
            forces: compute forces (one backward pass).
            stress: compute the stress (default: when every structure is periodic and every
                feature block has the strain derivative — a LODE route without strain
                gradients gives ``None``; ``stress=True`` then raises an error naming the
                block and the route, as it does for a finite structure).
            return_variance: also return the predictive variance of each energy (eV²): the
                posterior variance of the linear-in-θ model, ``a·(RᵀR)⁻¹·a``.

        Returns:
            ``(energies (n,), forces [(n_atoms, 3)] or None, stress [(3, 3)] or None)``, plus
            the variances ``(n,)`` when ``return_variance``.
        """
        if not self._fitted:
            raise NotFittedError("this Potential is not fitted; call fit() first")
        frames = as_frame_list(frames)
        periodic = [bool(np.all(a.pbc)) for a in frames]
        if stress and not all(periodic):
            i = periodic.index(False)
            raise InvalidInputError(
                f"stress is defined for fully periodic structures only; structure {i} is not "
                "(predict(..., stress=False))"
            )
        values = recipe.compute(self.blocks, frames)
        if values.values.shape[1] != self.n_features_:
            raise InvalidInputError(
                f"the features have {values.values.shape[1]} columns, the potential "
                f"{self.n_features_}; are there new species?"
            )
        phi = self.basis_.values(values.values, values.species)
        per_row = phi @ self.theta_
        energies = np.bincount(values.structure, per_row, minlength=len(frames))
        energies = energies + self._composition(frames) @ self.offsets_
        out_forces = out_stress = None
        required = bool(stress)
        stress = all(periodic) if stress is None else required
        if forces or stress:
            cot = self.basis_.cotangent(values.values, values.species, self.theta_)
            grads = recipe.backward(self.blocks, frames, cot, strain=required)
            if forces:
                out_forces = [-g for g in grads.positions]
            # by default, no stress when a block has no strain derivative (a LODE route)
            stress = stress and all(s is not None for s in grads.strain)
            if stress:
                out_stress = []
                for atoms, s in zip(frames, grads.strain, strict=True):
                    s = s / abs(np.linalg.det(np.asarray(atoms.cell)))
                    out_stress.append(0.5 * (s + s.T))
        if not return_variance:
            return energies, out_forces, out_stress
        a = np.zeros((len(frames), phi.shape[1]))
        np.add.at(a, values.structure, phi)
        v = scipy.linalg.solve_triangular(self.r_, a.T, trans="T")
        return energies, out_forces, out_stress, np.einsum("ij,ij->j", v, v)

    def calculator(self, **kwargs):
        """An ASE calculator (energy, free_energy, forces, stress) using this potential."""
        from .ase_calculator import LodeCalculator

        return LodeCalculator(self, **kwargs)

    # ---- save / load --------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted potential (``.npz``: arrays + one JSON metadata string, no
        pickle); :func:`load_potential` rebuilds the features and predicts identically."""
        if not self._fitted:
            raise NotFittedError("this Potential is not fitted; call fit() first")
        kernel = self.basis_.kernel
        metadata = {
            "format": FORMAT,
            "version": 1,
            "features": [b.to_dict() for b in self.blocks],
            "model": self.model,
            "regularizers": self.regularizers,
            "regularizers_": self.regularizers_,
            "delta": self.delta,
            "delta_": self.delta_,
            "batch_size": self.batch_size,
            "cv_scores_": self.cv_scores_,
            "species_": self.species_.tolist(),
            "n_features_": self.n_features_,
            "basis_species": kernel is not None and self.basis_.species is not None,
        }
        arrays = {"theta": self.theta_, "offsets": self.offsets_, "r": self.r_}
        if kernel is not None:
            arrays["basis_points"] = self.basis_.points
            if self.basis_.species is not None:
                arrays["basis_species"] = self.basis_.species
        np.savez(path, metadata=np.array(json.dumps(metadata)), **arrays)


def load_potential(path: str | os.PathLike, *, n_threads: int = 0) -> Potential:
    """Read a potential written by :meth:`Potential.save`; it predicts exactly as the saved one."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError) as error:
        raise InvalidInputError(f"cannot read {path} as a lode_rs potential: {error}") from None
    if "metadata" not in arrays:
        raise InvalidInputError(f"{path} is not a lode_rs potential file (no metadata)")
    metadata = json.loads(str(arrays["metadata"]))
    if metadata.get("format") != FORMAT:
        raise InvalidInputError(
            f"{path} is not a lode_rs potential file (a model saved by lode_rs.models? read "
            "it with lode_rs.models.load)"
        )
    if metadata.get("version") != 1:
        raise InvalidInputError(f"{path}: unsupported potential version {metadata.get('version')}")
    pot = Potential.__new__(Potential)
    pot.blocks = [recipe.Block.from_dict(b, n_threads) for b in metadata["features"]]
    pot.model = metadata["model"]
    pot.regularizers = metadata["regularizers"]
    pot.regularizers_ = metadata["regularizers_"]
    pot.delta = metadata["delta"]
    pot.delta_ = metadata["delta_"]
    pot.batch_size = metadata["batch_size"]
    pot.cv_scores_ = metadata["cv_scores_"]
    pot.species_ = np.asarray(metadata["species_"], dtype=np.int64)
    pot.n_features_ = int(metadata["n_features_"])
    if pot.model["type"] == "Ridge":
        pot.basis_ = (
            Basis.species_resolved(pot.species_, pot.n_features_)
            if pot.model.get("species_resolved")
            else Basis(None)
        )
    else:
        basis = Basis.__new__(Basis)
        basis.kernel = kernel_from_dict(pot.model["kernel"])
        basis.points = arrays["basis_points"]
        basis.species = arrays.get("basis_species")
        pot.basis_ = basis
    pot.theta_ = arrays["theta"]
    pot.offsets_ = arrays["offsets"]
    pot.r_ = arrays["r"]
    pot._fitted = True
    return pot


__all__ = ["Potential", "RadialSpectrum", "load_potential"]
