"""The training system of a potential: design rows of energies, forces and stress (from the
feature Jacobians), the regularised least-squares solve, and the cross-validated choice of the
noise levels (one per kind of target). See :mod:`lode_rs.potential` for the loss."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg

from . import recipe
from .errors import InvalidParameterError
from .models.base import kfold_indices
from .potential_basis import Basis
from .potential_targets import voigt

#: noise levels tried by cross-validation, relative to the spread of each kind of target
SIGMA_GRID: tuple[float, ...] = tuple(10.0**p for p in range(-6, 1))
#: starting relative noise of a kind being cross-validated while another one is scanned
SIGMA_START = 1e-2


@dataclass
class Rows:
    """Design rows of one kind of target: ``a`` ``(n, P)``, targets ``y``, row weights
    ``u`` (``w_A / n_A`` for energies, ``w_A`` otherwise, before the ``1/σ²``), the structure
    of each row and the spread (``scale``) of the targets, per atom for energies."""

    a: np.ndarray
    y: np.ndarray
    u: np.ndarray
    structure: np.ndarray
    scale: float
    per_atom: np.ndarray | None = None


@dataclass
class Design:
    """All design rows of a training set, by kind."""

    n_structures: int
    rows: dict[str, Rows] = field(default_factory=dict)

    def default_delta(self) -> float:
        """The prior scale δ: the spread of the energies per atom, else of the forces."""
        for kind in ("energy", "forces", "stress"):
            if kind in self.rows and self.rows[kind].scale > 0:
                return self.rows[kind].scale
        return 1.0


def _spread(values: np.ndarray) -> float:
    return float(np.std(values)) if values.size > 1 else float(np.abs(values).max(initial=0.0))


#: Jacobian samples contracted at once: bounds the temporary ``(3 samples, n_basis)`` rows
SAMPLE_CHUNK = 2048


def _all_pairs(samples: np.ndarray, n_atoms: np.ndarray, env_offset: np.ndarray):
    """Per structure of a batch, ``(first sample, first environment, n)`` when ``samples``
    (``(row, structure, atom)``) hold every (centre, atom) pair of every structure in row-major
    order — a LODE block's Jacobian —, else ``None``."""
    if len(samples) != int(np.sum(n_atoms.astype(np.int64) ** 2)):
        return None
    out = []
    first = 0
    for s, n in enumerate(n_atoms):
        part = samples[first : first + n * n]
        rows = env_offset[s] + np.arange(n)
        if not (
            np.all(part[:, 1] == s)
            and np.array_equal(part[:, 0], np.repeat(rows, n))
            and np.array_equal(part[:, 2], np.tile(np.arange(n), n))
        ):
            return None
        out.append((first, int(env_offset[s]), int(n)))
        first += n * n
    return out


def _add_force_rows(
    local: np.ndarray, basis: Basis, batch: recipe.FeatureBatch, atom_offset: np.ndarray
) -> None:
    """``local[3 j + α] −= Σ_i (∂φ/∂x_i)·∂x_i/∂r_jα`` for the atoms ``j`` of one batch (``local``
    its force rows, ``atom_offset`` the first row of each of its structures / 3), block by
    block on each block's own Jacobian samples: a block whose samples are every pair of every
    structure (LODE) by :meth:`Basis.contract_pairs`, structure by structure (the sum over
    centres as matrix products), any other by :meth:`Basis.contract`, :data:`SAMPLE_CHUNK`
    samples at a time. The temporaries stay ``O(SAMPLE_CHUNK · n_basis)`` (or one structure's
    ``3 N · n_basis`` rows) whatever the batch and the blocks."""
    n_structures = int(batch.structure.max(initial=-1)) + 1
    n_atoms = np.diff(atom_offset[: n_structures + 1])
    env_offset = np.concatenate([[0], np.cumsum(np.bincount(batch.structure, minlength=0))])
    for values, samples, columns in batch.position_parts:
        pairs = _all_pairs(samples, n_atoms, env_offset)
        if pairs is not None:
            for s, (first, env, n) in enumerate(pairs):
                jac = values[first : first + n * n].reshape(n, 3 * n, values.shape[-1])
                rows = slice(env, env + n)
                d = basis.contract_pairs(jac, batch.values[rows], batch.species[rows], columns)
                local[3 * atom_offset[s] : 3 * atom_offset[s + 1]] -= d
            continue
        for s0 in range(0, len(samples), SAMPLE_CHUNK):
            part = samples[s0 : s0 + SAMPLE_CHUNK]
            jac = values[s0 : s0 + SAMPLE_CHUNK]
            # the environments of this chunk only
            envs, rows = np.unique(np.repeat(part[:, 0], 3), return_inverse=True)
            d = basis.contract(
                jac.reshape(-1, jac.shape[-1]),
                rows,
                batch.values[envs],
                batch.species[envs],
                columns,
            )
            target = 3 * (atom_offset[part[:, 1]] + part[:, 2])
            index = (target[:, None] + np.arange(3)[None, :]).reshape(-1)
            # Σ over the rows of each target: sorted runs, one reduceat (np.add.at is slow)
            order = np.argsort(index, kind="stable")
            unique, first = np.unique(index[order], return_index=True)
            local[unique] -= np.add.reduceat(d[order], first, axis=0)


def build_design(
    blocks: list[recipe.Block],
    basis: Basis,
    frames: list,
    values: recipe.FeatureBatch,
    targets: dict[str, Any],
    weights: np.ndarray,
    batch_size: int,
) -> Design:
    """Design rows of every target; Jacobians computed ``batch_size`` structures at a time."""
    n = len(frames)
    n_atoms = np.array([len(a) for a in frames])
    n_basis = basis.size(values.values.shape[1])
    design = Design(n)
    if targets["energy"] is not None:
        a = np.zeros((n, n_basis))
        np.add.at(a, values.structure, basis.values(values.values, values.species))
        y = targets["energy"]
        design.rows["energy"] = Rows(
            a, y, weights / n_atoms, np.arange(n), _spread(y / n_atoms), per_atom=n_atoms
        )
    gradients = [g for g, k in (("positions", "forces"), ("strain", "stress")) if targets[k]]
    if not gradients:
        return design
    atom_offset = np.concatenate([[0], np.cumsum(n_atoms)])
    force_rows = np.zeros((3 * atom_offset[-1], n_basis)) if targets["forces"] else None
    stress_rows = np.zeros((n, 6, n_basis)) if targets["stress"] else None
    for start in range(0, n, batch_size):
        batch_frames = frames[start : start + batch_size]
        batch = recipe.compute(blocks, batch_frames, gradients, merge=False)
        if force_rows is not None:
            local = force_rows[3 * atom_offset[start] : 3 * atom_offset[start + len(batch_frames)]]
            _add_force_rows(local, basis, batch, atom_offset[start:] - atom_offset[start])
        if stress_rows is not None:
            strain = batch.strain
            rows = np.repeat(np.arange(strain.shape[0]), 9)
            d = basis.contract(
                strain.reshape(-1, strain.shape[-1]), rows, batch.values, batch.species
            ).reshape(strain.shape[0], 3, 3, n_basis)
            per_structure = np.zeros((len(batch_frames), 3, 3, n_basis))
            np.add.at(per_structure, batch.structure, d)
            volumes = np.array([abs(np.linalg.det(np.asarray(a.cell))) for a in batch_frames])
            per_structure /= volumes[:, None, None, None]
            # Voigt of the symmetrised matrix, the basis axis moved out of the way
            sym = voigt(np.moveaxis(per_structure, -1, 1))  # (batch, P, 6)
            stress_rows[start : start + len(batch_frames)] = np.moveaxis(sym, -1, 1)
    if force_rows is not None:
        y = np.concatenate([f.reshape(-1) for f in targets["forces"]])
        structure = np.repeat(np.arange(n), 3 * n_atoms)
        design.rows["forces"] = Rows(force_rows, y, weights[structure], structure, _spread(y))
    if stress_rows is not None:
        y = voigt(np.array(targets["stress"])).reshape(-1)
        structure = np.repeat(np.arange(n), 6)
        design.rows["stress"] = Rows(
            stress_rows.reshape(6 * n, n_basis), y, weights[structure], structure, _spread(y)
        )
    return design


def _weighted_blocks(design: Design, sigmas: dict[str, float], rows: int):
    """The rows of the weighted system ``(a √u / σ, y √u / σ)``, ``rows`` at a time."""
    for kind, part in design.rows.items():
        for start in range(0, len(part.y), rows):
            stop = start + rows
            scale = np.sqrt(part.u[start:stop]) / sigmas[kind]
            yield part.a[start:stop] * scale[:, None], part.y[start:stop] * scale


def solve(
    design: Design, prior: np.ndarray, delta: float, sigmas: dict[str, float], rows: int = 8192
) -> tuple[np.ndarray, np.ndarray]:
    """``θ`` minimising the loss, by QR of the stacked weighted system (no normal equations),
    and the triangular ``R`` with ``RᵀR`` the posterior precision of ``θ``.

    The QR is blocked: ``R`` and ``Qᵀy`` are updated with ``rows`` rows at a time
    (``[R; A_block] = Q' R'``), so memory beyond the design is O(rows × P), not a copy of it.
    """
    r = prior.T / delta  # the prior rows [Lᵀ/δ] with zero targets start the factorisation
    qty = np.zeros(prior.shape[0])
    for a, y in _weighted_blocks(design, sigmas, rows):
        q, r = scipy.linalg.qr(np.vstack([r, a]), mode="economic")
        qty = q.T @ np.concatenate([qty, y])
    theta = scipy.linalg.solve_triangular(r, qty)
    if not np.all(np.isfinite(theta)):
        raise InvalidParameterError(
            "the potential's weights are not finite; increase the regularizers or reduce n_sparse"
        )
    return theta, r


def _gram(rows: Rows, select: np.ndarray | None = None):
    a, u, y = rows.a, rows.u, rows.y
    if select is not None:
        a, u, y = a[select], u[select], y[select]
    weighted = a * u[:, None]
    return weighted.T @ a, weighted.T @ y


def choose_sigmas(
    design: Design,
    prior: np.ndarray,
    delta: float,
    fitted: list[str],
    given: dict[str, float],
    cv_folds: int,
    seed: int,
) -> tuple[dict[str, float], dict[str, Any] | None]:
    """The noise level of every fitted kind: given, or chosen by k-fold cross-validation over
    structures on :data:`SIGMA_GRID` × the spread of that kind (coordinate search, two passes),
    scoring the sum over kinds of the mean squared test error over the squared spread."""
    todo = [k for k in fitted if k not in given]
    sigmas = {k: given[k] for k in fitted if k in given}
    if not todo:
        return sigmas, None
    n = design.n_structures
    if n < 2:
        raise InvalidParameterError(
            f"cannot cross-validate the regularizers of {todo} with one structure; give "
            "regularizers={...} explicitly"
        )
    folds = kfold_indices(n, min(cv_folds, n), seed)
    scale = {k: (design.rows[k].scale or delta) for k in fitted}
    for k in todo:
        sigmas[k] = SIGMA_START * scale[k]
    precision = prior @ prior.T / delta**2
    full = {k: _gram(design.rows[k]) for k in fitted}
    parts = []
    for _, test in folds:
        part = {}
        for k in fitted:
            rows = design.rows[k]
            mask = np.isin(rows.structure, test)
            g, b = _gram(rows, mask)
            part[k] = (full[k][0] - g, full[k][1] - b, mask)
        parts.append(part)

    def score(trial: dict[str, float]) -> float:
        total = 0.0
        for part in parts:
            h = precision.copy()
            rhs = np.zeros(h.shape[0])
            for k in fitted:
                h += part[k][0] / trial[k] ** 2
                rhs += part[k][1] / trial[k] ** 2
            try:
                theta = scipy.linalg.cho_solve(scipy.linalg.cho_factor(h), rhs)
            except (np.linalg.LinAlgError, ValueError):
                return np.inf
            for k in fitted:
                rows, mask = design.rows[k], part[k][2]
                err = rows.a[mask] @ theta - rows.y[mask]
                if rows.per_atom is not None:
                    err = err / rows.per_atom[mask]
                total += float(err @ err) / max(int(mask.sum()), 1) / scale[k] ** 2
        return total

    return search_sigmas(score, todo, sigmas, scale, len(folds))


def search_sigmas(
    score, todo: list[str], sigmas: dict[str, float], scale: dict[str, float], n_folds: int
) -> tuple[dict[str, float], dict[str, Any]]:
    """Coordinate search of the noise levels ``todo`` on :data:`SIGMA_GRID` × ``scale`` (two
    passes), from the starting ``sigmas``, minimising ``score(sigmas)``; returns the chosen
    levels and the table of scores (``cv_scores_``)."""
    sigmas = dict(sigmas)
    table: dict[str, Any] = {"grid": list(SIGMA_GRID), "scores": {}}
    for _ in range(2):
        for k in todo:
            scores = [score({**sigmas, k: r * scale[k]}) for r in SIGMA_GRID]
            best = int(np.argmin(scores))
            if not np.isfinite(scores[best]):
                raise InvalidParameterError(
                    "cross-validation could not solve the system for any regularizer; give "
                    "regularizers={...} explicitly"
                )
            sigmas[k] = SIGMA_GRID[best] * scale[k]
            table["scores"][k] = scores
    table["n_folds"] = n_folds
    return sigmas, table
