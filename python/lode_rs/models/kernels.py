"""Kernels between atomic environments, and structure kernels summed over environment pairs.

A kernel acts on *prepared* rows (:meth:`Kernel.prepare`, e.g. L2-normalised features). The kernel
between two structures ``A`` and ``B`` is the sum over their environments,

    K(A, B) = sum_{i in A} sum_{j in B} w_i w_j k(x_i, x_j) [delta(a_i, a_j) if match_species],

with the row weights ``w`` of :class:`AtomicData` (1 unless given), which makes a kernel model
additive: its prediction for a structure is a (weighted) sum of environment contributions.
:func:`structure_kernel` never builds the ``n_rows x n_rows`` matrix: it works on blocks of rows
and reduces each block to structures at once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse

from .._lode_rs import InvalidInputError, InvalidParameterError
from .data import AtomicData

#: environments per block in :func:`structure_kernel` (a 2048 x 2048 float64 block is 32 MiB)
_BLOCK = 2048


def _normalize_rows(values: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(values, axis=1, keepdims=True)
    return np.divide(values, norms, out=np.zeros_like(values), where=norms > 0)


class Kernel(ABC):
    """A kernel between atomic environments (rows of features)."""

    @abstractmethod
    def prepare(self, values: np.ndarray) -> np.ndarray:
        """Rows in the form :meth:`pairwise` expects (e.g. normalised)."""

    @abstractmethod
    def pairwise(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``(len(a), len(b))`` kernel between prepared rows."""

    def diag(self, a: np.ndarray) -> np.ndarray:
        """``k(x_i, x_i)`` of prepared rows."""
        return np.array([self.pairwise(row[None], row[None])[0, 0] for row in a])

    def distance_space(self, a: np.ndarray) -> np.ndarray:
        """Rows whose Euclidean distances are used for farthest-point sampling."""
        return a

    def distance_key(self) -> str:
        """Identifies :meth:`distance_space` (kernels with equal keys give equal distances)."""
        return repr(self)

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable description, inverse of :func:`kernel_from_dict`."""

    def with_zeta(self, zeta: int) -> Kernel:
        """A copy with every unset (``None``) exponent set to ``zeta``."""
        return self

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor arguments (``type(k)(**k.get_params())`` rebuilds an equal kernel)."""
        return {k: v for k, v in self.to_dict().items() if k != "type"}

    @property
    def needs_zeta(self) -> bool:
        """Whether an exponent is left to cross-validation."""
        return False

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items() if k != "type")
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Kernel) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(repr(self))


class PolynomialKernel(Kernel):
    """``k(x, x') = (x̂ · x̂')^ζ`` on L2-normalised features ``x̂ = x / |x|`` (default), or
    ``(x · x')^ζ`` on the raw features with ``normalize=False``.

    Args:
        zeta: integer exponent ``>= 1``; ``None`` lets the model choose it by cross-validation
            among ``(1, 2, 3, 4)``. ``ζ = 1`` on normalised features is a linear model in ``x̂``.
        normalize: normalise rows first. Keep the magnitude (``False``) when it carries the
            physics, as for LODE features, whose size is the strength of the potential.

    Rows of zeros (an environment with no neighbours) have no direction: they are kept as zeros
    and contribute nothing.
    """

    def __init__(self, zeta: int | None = 2, *, normalize: bool = True) -> None:
        if zeta is not None:
            if isinstance(zeta, bool) or int(zeta) != zeta or zeta < 1:
                raise InvalidParameterError(f"zeta must be an integer >= 1 or None, got {zeta!r}")
            zeta = int(zeta)
        self.zeta = zeta
        self.normalize = bool(normalize)

    def prepare(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        return _normalize_rows(values) if self.normalize else values

    def pairwise(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if self.zeta is None:
            raise InvalidParameterError("PolynomialKernel.zeta is None: fit a model to choose it")
        k = a @ b.T
        return k if self.zeta == 1 else k**self.zeta

    def diag(self, a: np.ndarray) -> np.ndarray:
        return np.einsum("ij,ij->i", a, a) ** (self.zeta or 1)

    def distance_key(self) -> str:
        # any zeta: distances between the prepared rows
        return "normalised" if self.normalize else "raw"

    def to_dict(self) -> dict[str, Any]:
        return {"type": "PolynomialKernel", "zeta": self.zeta, "normalize": self.normalize}

    def with_zeta(self, zeta: int) -> Kernel:
        return PolynomialKernel(zeta if self.zeta is None else self.zeta, normalize=self.normalize)

    @property
    def needs_zeta(self) -> bool:
        return self.zeta is None


def kernel_or_default(kernel: Kernel | None) -> Kernel:
    """``kernel``, or a normalised ζ = 2 polynomial kernel when ``None``.

    Raises:
        InvalidParameterError: if ``kernel`` is not a :class:`Kernel`.
    """
    kernel = PolynomialKernel(zeta=2) if kernel is None else kernel
    if not isinstance(kernel, Kernel):
        raise InvalidParameterError("kernel must be a lode_rs.models kernel")
    return kernel


class SumKernel(Kernel):
    """Weighted sum of kernels, each on its own block of feature columns.

    ``k(x, x') = Σ_b w_b k_b(x[b], x'[b])`` where ``x[b]`` are the columns of block ``b``; use with
    :func:`lode_rs.models.concatenate` (and :func:`lode_rs.models.block_sizes`) to combine, e.g.,
    SOAP (short range) and LODE (long range) features in one model.

    Args:
        kernels: one kernel per block.
        block_sizes: number of columns of each block, in column order.
        weights: non-negative weight of each block (default 1).
    """

    def __init__(
        self,
        kernels: Sequence[Kernel],
        block_sizes: Sequence[int],
        weights: Sequence[float] | None = None,
    ) -> None:
        self.kernels = list(kernels)
        self.block_sizes = [int(s) for s in block_sizes]
        self.weights = [1.0] * len(self.kernels) if weights is None else [float(w) for w in weights]
        if not self.kernels:
            raise InvalidParameterError("SumKernel needs at least one kernel")
        if len(self.block_sizes) != len(self.kernels) or len(self.weights) != len(self.kernels):
            raise InvalidParameterError(
                f"SumKernel got {len(self.kernels)} kernels, {len(self.block_sizes)} block sizes "
                f"and {len(self.weights)} weights; they must match"
            )
        if any(s < 1 for s in self.block_sizes):
            raise InvalidParameterError(f"block sizes must be >= 1, got {self.block_sizes}")
        if any(not np.isfinite(w) or w < 0 for w in self.weights):
            raise InvalidParameterError(f"weights must be finite and >= 0, got {self.weights}")
        if not all(isinstance(k, Kernel) for k in self.kernels):
            raise InvalidParameterError("SumKernel kernels must be lode_rs.models kernels")
        self._edges = np.concatenate([[0], np.cumsum(self.block_sizes)])

    def _blocks(self, a: np.ndarray):
        for i, kernel in enumerate(self.kernels):
            yield kernel, self.weights[i], a[:, self._edges[i] : self._edges[i + 1]]

    def prepare(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        if values.shape[1] != self._edges[-1]:
            raise InvalidInputError(
                f"SumKernel blocks have {int(self._edges[-1])} columns in total, "
                f"the features have {values.shape[1]}"
            )
        return np.concatenate([k.prepare(block) for k, _, block in self._blocks(values)], axis=1)

    def pairwise(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = np.zeros((a.shape[0], b.shape[0]))
        pairs = zip(self._blocks(a), self._blocks(b), strict=True)
        for (kernel, w, block_a), (_, _, block_b) in pairs:
            if w != 0:
                out += w * kernel.pairwise(block_a, block_b)
        return out

    def diag(self, a: np.ndarray) -> np.ndarray:
        return sum(w * kernel.diag(block) for kernel, w, block in self._blocks(a))

    def distance_space(self, a: np.ndarray) -> np.ndarray:
        return np.concatenate(
            [np.sqrt(w) * kernel.distance_space(block) for kernel, w, block in self._blocks(a)],
            axis=1,
        )

    def distance_key(self) -> str:
        keys = [k.distance_key() for k in self.kernels]
        return f"sum({keys}, {self.block_sizes}, {self.weights})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "SumKernel",
            "kernels": [k.to_dict() for k in self.kernels],
            "block_sizes": self.block_sizes,
            "weights": self.weights,
        }

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {
            "kernels": list(self.kernels),
            "block_sizes": list(self.block_sizes),
            "weights": list(self.weights),
        }

    def with_zeta(self, zeta: int) -> Kernel:
        return SumKernel([k.with_zeta(zeta) for k in self.kernels], self.block_sizes, self.weights)

    @property
    def needs_zeta(self) -> bool:
        return any(k.needs_zeta for k in self.kernels)


def kernel_from_dict(data: dict[str, Any]) -> Kernel:
    """Rebuild a kernel from :meth:`Kernel.to_dict`."""
    kind = data.get("type")
    if kind == "PolynomialKernel":
        return PolynomialKernel(zeta=data["zeta"], normalize=data.get("normalize", True))
    if kind == "SumKernel":
        return SumKernel(
            [kernel_from_dict(k) for k in data["kernels"]], data["block_sizes"], data["weights"]
        )
    raise InvalidInputError(f"unknown kernel type {kind!r}")


def _compact_indicator(
    structure: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, scipy.sparse.csr_matrix]:
    """Structures present in a block of rows, and the ``(n_present, n_rows)`` membership matrix
    holding each row's weight."""
    present, inverse = np.unique(structure, return_inverse=True)
    n = structure.shape[0]
    membership = scipy.sparse.csr_matrix(
        (weights, (inverse.reshape(-1), np.arange(n))), shape=(present.size, n)
    )
    return present, membership


def _species_groups(a: AtomicData, b: AtomicData, match_species: bool):
    if not match_species:
        yield np.arange(a.values.shape[0]), np.arange(b.values.shape[0])
        return
    for s in np.intersect1d(a.species, b.species):
        yield np.nonzero(a.species == s)[0], np.nonzero(b.species == s)[0]


def structure_kernel(
    kernel: Kernel,
    a: AtomicData,
    b: AtomicData,
    *,
    match_species: bool,
    reduce_b: bool = True,
) -> np.ndarray:
    """Kernel between the structures of ``a`` and those of ``b`` (rows already prepared).

    Returns ``(a.n_structures, b.n_structures)``, or ``(a.n_structures, n_rows(b))`` when
    ``reduce_b`` is false (structures against individual environments, e.g. K_NM). Works on
    ``_BLOCK x _BLOCK`` blocks of environments, each reduced at once to the structures it touches:
    memory is O(output + block), never O(n_rows(a) * n_rows(b)). With ``match_species`` only
    same-species blocks are computed; when ``b is a`` only blocks on or above the diagonal.
    """
    n_right = b.n_structures if reduce_b else b.values.shape[0]
    upper = np.zeros((a.n_structures, n_right))
    symmetric = reduce_b and a is b
    diagonal = np.zeros_like(upper) if symmetric else upper
    for rows_a, rows_b in _species_groups(a, b, match_species):
        values_a, structure_a = a.values[rows_a], a.structure[rows_a]
        values_b, structure_b = b.values[rows_b], b.structure[rows_b]
        weights_a, weights_b = a.row_weights[rows_a], b.row_weights[rows_b]
        for i0 in range(0, rows_a.size, _BLOCK):
            i1 = min(i0 + _BLOCK, rows_a.size)
            present_a, member_a = _compact_indicator(structure_a[i0:i1], weights_a[i0:i1])
            for j0 in range(i0 if symmetric else 0, rows_b.size, _BLOCK):
                j1 = min(j0 + _BLOCK, rows_b.size)
                k = member_a @ kernel.pairwise(values_a[i0:i1], values_b[j0:j1])
                if reduce_b:
                    present_b, member_b = _compact_indicator(structure_b[j0:j1], weights_b[j0:j1])
                    k = (member_b @ k.T).T
                else:
                    # environments of b enter unweighted (active points of sparse models)
                    present_b = rows_b[j0:j1]
                target = diagonal if symmetric and j0 == i0 else upper
                target[np.ix_(present_a, present_b)] += k
    if symmetric:
        return upper + upper.T + diagonal
    return upper


def structure_self_kernel(kernel: Kernel, a: AtomicData, *, match_species: bool) -> np.ndarray:
    """``K(A, A)`` of every structure of ``a`` (the diagonal of the structure kernel)."""
    counts = np.bincount(a.structure, minlength=a.n_structures)
    weights = a.row_weights
    if counts.size == 0 or counts.max() <= 1:
        out = np.zeros(a.n_structures)
        out[a.structure] = weights**2 * kernel.diag(a.values)
        return out
    order = np.argsort(a.structure, kind="stable")
    edges = np.concatenate([[0], np.cumsum(counts)])
    out = np.zeros(a.n_structures)
    for s in range(a.n_structures):
        rows = order[edges[s] : edges[s + 1]]
        if rows.size == 0:
            continue
        k = kernel.pairwise(a.values[rows], a.values[rows])
        if match_species:
            k[a.species[rows, None] != a.species[None, rows]] = 0.0
        out[s] = weights[rows] @ k @ weights[rows]
    return out
