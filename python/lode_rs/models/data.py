"""Model inputs: atomic feature rows grouped by structure, targets, and feature-block helpers.

Every model sees its input as *environments* (rows) that belong to *structures*:

* a :class:`lode_rs.Features` object: one row per atomic environment, ``.structure`` gives the
  structure of each row and ``.center_species`` its central species; targets are one per structure
  and additive models predict a structure as the sum over its environments;
* a plain 2D array ``(n_structures, n_features)``: one row per structure (e.g. features already
  summed or averaged per structure); each row is its own "environment" of species ``0``;
* an :class:`AtomicData`, whose rows may carry signed weights: a target is then the weighted sum
  of its environments' contributions. :func:`combine_structures` builds one for targets that are
  linear combinations of structures, e.g. binding energies ``E(AB) − E(A) − E(B)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .._lode_rs import InvalidInputError, InvalidParameterError
from ..results import Features


@dataclass(frozen=True)
class AtomicData:
    """Environments grouped by structure (the internal form of every model input).

    Attributes:
        values: ``(n_rows, n_features)`` float64 features, finite.
        structure: ``(n_rows,)`` structure index of each row, in ``[0, n_structures)``.
        species: ``(n_rows,)`` central species of each row (``0`` for per-structure arrays).
        n_structures: number of structures.
        per_structure: ``True`` when built from a plain ``(n_structures, n_features)`` array.
        weights: ``(n_rows,)`` weight of each row in its structure's sum, or ``None`` (all 1).
            Every model uses them the same way: a structure's prediction is
            ``Σ_i weights_i ε(x_i)``, so kernels between structures are
            ``K(A, B) = Σ_{i∈A, j∈B} w_i w_j k(x_i, x_j)`` and linear models see
            ``Σ_i w_i x_i``.
    """

    values: np.ndarray
    structure: np.ndarray
    species: np.ndarray
    n_structures: int
    per_structure: bool
    weights: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.weights is not None:
            weights = np.asarray(self.weights, dtype=np.float64).reshape(-1)
            if weights.shape[0] != self.values.shape[0]:
                raise InvalidInputError(
                    f"AtomicData.weights has {weights.shape[0]} entries for "
                    f"{self.values.shape[0]} rows"
                )
            if not np.all(np.isfinite(weights)):
                raise InvalidInputError("AtomicData.weights must be finite")
            object.__setattr__(self, "weights", weights)

    @property
    def row_weights(self) -> np.ndarray:
        """``(n_rows,)`` weights, ones when none were given."""
        if self.weights is None:
            return np.ones(self.values.shape[0])
        return self.weights

    def with_values(self, values: np.ndarray) -> AtomicData:
        """The same rows, structures, species and weights with other feature values."""
        return replace(self, values=values)

    @property
    def n_features(self) -> int:
        """Number of feature columns."""
        return int(self.values.shape[1])

    def subset(self, structures: np.ndarray) -> AtomicData:
        """The environments of ``structures`` (in that order), renumbered ``0..len-1``."""
        structures = np.asarray(structures, dtype=np.int64)
        new_index = np.full(self.n_structures, -1, dtype=np.int64)
        new_index[structures] = np.arange(len(structures))
        keep = new_index[self.structure] >= 0
        rows = np.nonzero(keep)[0]
        return AtomicData(
            values=self.values[rows],
            structure=new_index[self.structure[rows]],
            species=self.species[rows],
            n_structures=len(structures),
            per_structure=self.per_structure,
            weights=None if self.weights is None else self.weights[rows],
        )

    def composition(self, species: Sequence[int]) -> np.ndarray:
        """``(n_structures, len(species))`` count of environments of each species per structure
        (weighted: signed counts when rows have negative weights).

        Raises:
            InvalidInputError: if an environment has a species not in ``species``.
        """
        species = np.asarray(species, dtype=np.int64)
        missing = np.setdiff1d(np.unique(self.species), species)
        if missing.size:
            raise InvalidInputError(
                f"central species {missing.tolist()} were not in the training set "
                f"(known: {species.tolist()}); the model cannot predict them"
            )
        column = np.searchsorted(species, self.species)
        out = np.zeros((self.n_structures, len(species)))
        np.add.at(out, (self.structure, column), self.row_weights)
        return out

    def sum_by_structure(self) -> np.ndarray:
        """``(n_structures, n_features)`` weighted sum of the rows of each structure."""
        if self.per_structure and self.weights is None:
            return self.values.copy()
        out = np.zeros((self.n_structures, self.n_features))
        values = self.values if self.weights is None else self.values * self.weights[:, None]
        np.add.at(out, self.structure, values)
        return out


def _check_finite(values: np.ndarray, what: str) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        rows = np.nonzero(bad.any(axis=1))[0]
        raise InvalidInputError(
            f"{what} contain NaN or infinite values in {rows.size} rows (first: "
            f"{rows[:5].tolist()}); recompute or drop those structures"
        )


def as_atomic_data(x: Any) -> AtomicData:
    """Convert a :class:`lode_rs.Features`, a 2D array or an :class:`AtomicData` to AtomicData.

    Raises:
        InvalidInputError: wrong shape, non-finite values or bad structure indices.
    """
    if isinstance(x, AtomicData):
        return x
    if isinstance(x, Features) or (hasattr(x, "values") and hasattr(x, "structure")):
        values = np.asarray(x.values, dtype=np.float64)
        if values.ndim != 2:
            raise InvalidInputError(f"Features.values must be 2D, got shape {values.shape}")
        structure = np.asarray(x.structure, dtype=np.int64).reshape(-1)
        if structure.shape[0] != values.shape[0]:
            raise InvalidInputError(
                f"Features.structure has {structure.shape[0]} entries for {values.shape[0]} rows"
            )
        n_structures = int(getattr(x, "n_structures", structure.max() + 1 if structure.size else 0))
        if structure.size and (structure.min() < 0 or structure.max() >= n_structures):
            raise InvalidInputError(
                f"Features.structure must lie in [0, {n_structures}); "
                f"got [{structure.min()}, {structure.max()}]"
            )
        species = getattr(x, "center_species", None)
        species = (
            np.zeros(values.shape[0], dtype=np.int64)
            if species is None
            else np.asarray(species, dtype=np.int64).reshape(-1)
        )
        if species.shape[0] != values.shape[0]:
            raise InvalidInputError(
                f"Features.center_species has {species.shape[0]} entries for {values.shape[0]} rows"
            )
        _check_finite(values, "features")
        return AtomicData(values, structure, species, n_structures, per_structure=False)
    values = np.asarray(x, dtype=np.float64)
    if values.ndim != 2:
        raise InvalidInputError(
            "features must be a lode_rs.Features (rows = atoms) or a 2D array "
            f"(n_structures, n_features); got an array of shape {values.shape}"
        )
    _check_finite(values, "features")
    n = values.shape[0]
    return AtomicData(
        values,
        np.arange(n, dtype=np.int64),
        np.zeros(n, dtype=np.int64),
        n,
        per_structure=True,
    )


def combine_structures(x: Any, combinations: Any) -> AtomicData:
    """Model input for targets that are linear combinations of structures' properties.

    Target ``t`` is ``Σ_s C[t, s] P(s)`` for an additive property ``P`` (e.g. the binding energy
    ``E(AB) − E(A) − E(B)`` has ``C = +1, −1, −1`` on the dimer and its two monomers). The result
    holds, for every non-zero ``C[t, s]``, the environments of structure ``s`` as rows of target
    ``t`` with weight ``C[t, s]`` (a structure used by several targets is repeated), so every
    model predicts ``Σ_s C[t, s] Σ_{i∈s} ε(x_i)``.

    Args:
        x: :class:`lode_rs.Features` (or AtomicData without weights) of the structures.
        combinations: ``(n_targets, n_structures)`` coefficients, dense or ``scipy.sparse``.

    Returns:
        :class:`AtomicData` with ``n_targets`` structures and row weights.
    """
    import scipy.sparse

    data = as_atomic_data(x)
    if data.per_structure:
        raise InvalidInputError("combine_structures needs Features (rows = environments)")
    if data.weights is not None:
        raise InvalidInputError("combine_structures needs unweighted input")
    c = scipy.sparse.coo_matrix(combinations)
    if c.shape[1] != data.n_structures:
        raise InvalidInputError(
            f"combinations have {c.shape[1]} columns for {data.n_structures} structures"
        )
    if not np.all(np.isfinite(c.data)):
        raise InvalidInputError("combination coefficients must be finite")
    keep = c.data != 0
    targets, sources, coefficients = c.row[keep], c.col[keep], c.data[keep]
    order = np.argsort(data.structure, kind="stable")
    counts = np.bincount(data.structure, minlength=data.n_structures)
    starts = np.concatenate([[0], np.cumsum(counts)])
    rows = [order[starts[s] : starts[s + 1]] for s in sources]
    n_rows = np.array([r.size for r in rows], dtype=np.int64)
    rows = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    return AtomicData(
        values=data.values[rows],
        structure=np.repeat(targets.astype(np.int64), n_rows),
        species=data.species[rows],
        n_structures=int(c.shape[0]),
        per_structure=False,
        weights=np.repeat(coefficients.astype(np.float64), n_rows),
    )


def check_targets(y: Any, n_structures: int) -> np.ndarray:
    """Validate one scalar target per structure; returns a float64 ``(n_structures,)`` array.

    Raises:
        InvalidInputError: wrong length or shape, missing (``None``/NaN) or infinite targets.
    """
    try:
        targets = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InvalidInputError(f"targets must be numbers, one per structure: {error}") from None
    if targets.ndim == 2 and targets.shape[1] == 1:
        targets = targets[:, 0]
    if targets.ndim != 1:
        raise InvalidInputError(
            f"targets must be one scalar per structure, got an array of shape {targets.shape}"
        )
    if targets.shape[0] != n_structures:
        raise InvalidInputError(
            f"got {targets.shape[0]} targets for {n_structures} structures; "
            "there must be exactly one target per structure"
        )
    missing = np.nonzero(np.isnan(targets))[0]
    if missing.size:
        raise InvalidInputError(
            f"targets are missing (None/NaN) for {missing.size} structures (first: "
            f"{missing[:5].tolist()}); drop those structures from both features and targets"
        )
    infinite = np.nonzero(np.isinf(targets))[0]
    if infinite.size:
        raise InvalidInputError(
            f"targets are infinite for structures {infinite[:5].tolist()}; fix or drop them"
        )
    return targets


def check_regularizer(value: float | None, name: str = "regularizer") -> float | None:
    """``None`` (choose by cross-validation) or a finite number ``>= 0``."""
    if value is None:
        return None
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise InvalidParameterError(f"{name} must be a finite number >= 0 or None, got {value}")
    return value


def concatenate(
    blocks: Sequence[Any], weights: Sequence[float] | None = None, *, normalize: bool = False
) -> Any:
    """Join feature blocks column-wise, e.g. SOAP ⊕ LODE, each block scaled by its weight.

    Args:
        blocks: :class:`lode_rs.Features` computed on the same frames (identical rows), or 2D
            arrays with the same number of rows.
        weights: one non-negative factor per block (default 1). With ``normalize=True`` a block's
            weight is the norm of its part of every row, so with a linear kernel on the result the
            block contributes ``weight**2`` times its own normalised kernel.
        normalize: L2-normalise every row of every block before weighting (rows of zeros stay 0).

    Returns:
        The same kind as the inputs. For Features, ``labels`` are ``(block, column in block)``
        with ``label_names == ("block", "feature")``; use ``block_sizes`` with :class:`SumKernel`.
    """
    if len(blocks) == 0:
        raise InvalidParameterError("concatenate needs at least one block")
    weights = [1.0] * len(blocks) if weights is None else [float(w) for w in weights]
    if len(weights) != len(blocks):
        raise InvalidParameterError(f"got {len(weights)} weights for {len(blocks)} blocks")
    if any(not np.isfinite(w) or w < 0 for w in weights):
        raise InvalidParameterError(f"block weights must be finite and >= 0, got {weights}")
    is_features = [hasattr(b, "values") and hasattr(b, "structure") for b in blocks]
    if any(is_features) and not all(is_features):
        raise InvalidInputError("cannot concatenate Features with plain arrays")
    arrays = [
        np.asarray(b.values if f else b, dtype=np.float64)
        for b, f in zip(blocks, is_features, strict=True)
    ]
    for i, a in enumerate(arrays):
        if a.ndim != 2 or a.shape[0] != arrays[0].shape[0]:
            raise InvalidInputError(
                f"block {i} has shape {a.shape}; every block needs {arrays[0].shape[0]} rows"
            )
    if all(is_features):
        first = blocks[0]
        for i, b in enumerate(blocks[1:], start=1):
            for name in ("structure", "centers", "center_species"):
                if not np.array_equal(getattr(b, name), getattr(first, name)):
                    raise InvalidInputError(
                        f"block {i} rows differ from block 0 ({name}); compute every block on "
                        "the same frames with the same centres"
                    )
    parts = []
    for a, w in zip(arrays, weights, strict=True):
        if normalize:
            norms = np.linalg.norm(a, axis=1, keepdims=True)
            a = np.divide(a, norms, out=np.zeros_like(a), where=norms > 0)
        parts.append(w * a)
    values = np.concatenate(parts, axis=1)
    if not all(is_features):
        return values
    labels = np.concatenate(
        [
            np.stack([np.full(a.shape[1], i), np.arange(a.shape[1])], axis=1)
            for i, a in enumerate(arrays)
        ]
    ).astype(np.int32)
    first = blocks[0]
    return Features(
        values=values,
        structure=first.structure,
        centers=first.centers,
        center_species=first.center_species,
        labels=labels,
        label_names=("block", "feature"),
        n_structures=first.n_structures,
    )


def block_sizes(features: Any) -> list[int]:
    """Column count of each block of a :func:`concatenate` result (from its ``labels``)."""
    if tuple(getattr(features, "label_names", ()))[:1] != ("block",):
        raise InvalidInputError("these features were not built by lode_rs.models.concatenate")
    return np.bincount(np.asarray(features.labels)[:, 0]).tolist()


def species_resolved(features: Any, species: Sequence[int] | None = None) -> Any:
    """Features with one block of columns per central species, zero outside the row's block.

    ``species`` fixes the blocks (default: the central species present, sorted); pass it when
    features of different data sets must have the same columns.

    A linear model on the result has weights that depend on the central atom's species (e.g.
    the charge of the centre multiplying its electrostatic potential in ``½ Σ_i q_i V(r_i)``),
    which a single shared weight vector cannot express. Labels gain a leading
    ``center_species`` column.
    """
    if not (hasattr(features, "values") and hasattr(features, "center_species")):
        raise InvalidInputError("species_resolved needs lode_rs.Features (with center_species)")
    present = np.unique(features.center_species)
    species = present if species is None else np.asarray(sorted(species))
    missing = np.setdiff1d(present, species)
    if missing.size:
        raise InvalidInputError(f"central species {missing.tolist()} not in {species.tolist()}")
    n_rows, n_columns = features.values.shape
    values = np.zeros((n_rows, species.size * n_columns))
    labels = []
    for k, z in enumerate(species):
        rows = features.center_species == z
        values[rows, k * n_columns : (k + 1) * n_columns] = features.values[rows]
        labels.append(
            np.concatenate([np.full((n_columns, 1), z), features.labels], axis=1).astype(np.int32)
        )
    return Features(
        values=values,
        structure=features.structure,
        centers=features.centers,
        center_species=features.center_species,
        labels=np.concatenate(labels),
        label_names=("center_species", *features.label_names),
        n_structures=features.n_structures,
    )
