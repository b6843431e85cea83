"""Result containers: coefficients (:class:`Expansion`) and feature matrices (:class:`Features`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

GRADIENT_NAMES = ("positions", "strain")
"""The gradients an expansion or invariant can carry."""


@dataclass(frozen=True)
class Gradient:
    """One gradient of a result (the Jacobian), featomic's layout.

    Attributes:
        values: ``"positions"``: ``(n_samples, 3, *value_shape)``, ``d value[row] / d r[atom]``
            along x, y, z; ``"strain"``: ``(n_rows, 3, 3, *value_shape)``,
            ``d value[row] / d strain[a, b]`` for the homogeneous deformation
            ``x -> (1 + strain) x`` of positions and cell together (stress = (1/V) dE/dstrain).
        samples: ``"positions"``: ``(n_samples, 3)`` integers ``(row, structure, atom)``, one per
            non-zero (row, atom) pair, sorted by row then atom; ``"strain"``: ``(n_rows, 2)``
            integers ``(row, structure)``.
        sample_names: the names of the sample columns.
    """

    values: np.ndarray
    samples: np.ndarray
    sample_names: tuple[str, ...]


@dataclass(frozen=True)
class Backward:
    """The result of a backward pass (vector–Jacobian product) for a cotangent ``g``.

    Attributes:
        positions: one ``(n_atoms, 3)`` array per structure, ``d sum(g * values) / d r``
            (forces of an energy ``E = sum(g * values)`` are ``-positions``).
        strain: one ``(3, 3)`` array per periodic structure (``None`` for finite ones),
            ``d sum(g * values) / d strain``; the stress of such an energy is ``strain / V``.
    """

    positions: list[np.ndarray]
    strain: list[np.ndarray | None]

    def __add__(self, other: Backward) -> Backward:
        """The sum of two backward passes of the same structures (e.g. both factors of a
        mixed invariant)."""
        strain = [
            None if a is None or b is None else a + b
            for a, b in zip(self.strain, other.strain, strict=True)
        ]
        return Backward(
            [a + b for a, b in zip(self.positions, other.positions, strict=True)], strain
        )


def strain_gradient(values: np.ndarray, structure: np.ndarray) -> Gradient:
    """A ``"strain"`` :class:`Gradient` of ``values`` ``(n_rows, 3, 3, ...)``, samples
    ``(row, structure)``."""
    rows = np.arange(len(structure), dtype=np.int64)
    samples = np.stack([rows, np.asarray(structure, dtype=np.int64)], axis=1)
    return Gradient(values, samples, ("row", "structure"))


def _gradient(gradients: dict, name: str) -> Gradient:
    if name not in GRADIENT_NAMES:
        raise ValueError(f"unknown gradient {name!r}: the gradients are {GRADIENT_NAMES}")
    if name not in gradients:
        raise ValueError(
            f"the {name!r} gradient was not computed: pass gradients=[{name!r}] to compute"
        )
    return gradients[name]


def _reduce_by_structure(values: np.ndarray, structure: np.ndarray, n_structures: int, mean: bool):
    out = np.zeros((n_structures,) + values.shape[1:])
    np.add.at(out, structure, values)
    if mean:
        counts = np.bincount(structure, minlength=n_structures).astype(np.float64)
        out /= np.maximum(counts, 1.0).reshape((-1,) + (1,) * (values.ndim - 1))
    return out


@dataclass(frozen=True)
class Expansion:
    """Expansion coefficients ``c^a_nlm(i)`` of every centre.

    Attributes:
        values: ``(n_centres, n_species, n_max, (l_max+1)**2)``; ``lm`` at index ``l*l + l + m``.
        structure: structure index of each row.
        centers: atom index (inside its structure) of each row.
        center_species: atomic number of each row's centre.
        species: atomic numbers of the species channels (axis 1 of ``values``).
        n_structures: number of structures computed.
        gradients: the gradients computed with the values (``compute(gradients=[...])``),
            by name; read them with :meth:`gradient`.
    """

    values: np.ndarray
    structure: np.ndarray
    centers: np.ndarray
    center_species: np.ndarray
    species: list[int]
    n_structures: int
    gradients: dict[str, Gradient] = field(default_factory=dict)

    def gradient(self, name: str) -> Gradient:
        """The ``"positions"`` or ``"strain"`` gradient of the coefficients: ``.values``
        ``(n_samples, 3, n_species, n_max, n_lm)`` or ``(n_rows, 3, 3, n_species, n_max, n_lm)``
        and ``.samples``; see :class:`Gradient`."""
        return _gradient(self.gradients, name)

    @property
    def n_max(self) -> int:
        """Number of radial functions."""
        return self.values.shape[2]

    @property
    def l_max(self) -> int:
        """Largest angular momentum."""
        return int(round(np.sqrt(self.values.shape[3]))) - 1

    def block(self, l: int) -> np.ndarray:  # noqa: E741
        """The ``(n_centres, n_species, n_max, 2l+1)`` block of angular momentum ``l``."""
        return self.values[..., l * l : (l + 1) * (l + 1)]

    def sum_by_structure(self) -> np.ndarray:
        """Coefficients summed over the centres of each structure: ``(n_structures, ...)``."""
        return _reduce_by_structure(self.values, self.structure, self.n_structures, mean=False)

    def to_tensormap(self, gradients=(), keep_zero_rows: bool = False):
        """These coefficients as a metatensor ``TensorMap`` in featomic's spherical-expansion
        layout (keys ``o3_lambda, o3_sigma, center_type, neighbor_type``; samples
        ``system, atom``; properties ``n``). Needs ``metatensor-core``; see
        :mod:`lode_rs.interop.metatensor`."""
        from .interop.metatensor import expansion_to_tensormap

        return expansion_to_tensormap(self, gradients, keep_zero_rows)


@dataclass(frozen=True)
class Features:
    """A feature matrix with row and column descriptions.

    Attributes:
        values: ``(n_centres, n_features)`` float64.
        structure: structure index of each row.
        centers: atom index (inside its structure) of each row.
        center_species: atomic number of each row's centre.
        labels: ``(n_features, len(label_names))`` integers saying what each column is.
        label_names: names of the label columns, e.g.
            ``("species_a", "species_b", "n", "n'", "l")``.
        n_structures: number of structures computed.
        gradients: the gradients computed with the values, by name; read them with
            :meth:`gradient`.
        folded: ``True`` for the power spectrum of one expansion with itself, whose symmetric
            copies are folded (``species_a <= species_b``; ``n <= n'`` when the species are
            equal, off-diagonal terms weighted by √2).
    """

    values: np.ndarray
    structure: np.ndarray
    centers: np.ndarray
    center_species: np.ndarray
    labels: np.ndarray
    label_names: tuple[str, ...]
    n_structures: int
    gradients: dict[str, Gradient] = field(default_factory=dict)
    folded: bool = False

    def gradient(self, name: str) -> Gradient:
        """The ``"positions"`` gradient ``(n_samples, 3, n_features)`` or the ``"strain"``
        gradient ``(n_rows, 3, 3, n_features)`` of the features; see :class:`Gradient`."""
        return _gradient(self.gradients, name)

    @property
    def shape(self) -> tuple[int, int]:
        """Shape of ``values``."""
        return self.values.shape

    def sum_by_structure(self) -> np.ndarray:
        """Features summed over the centres of each structure: ``(n_structures, n_features)``."""
        return _reduce_by_structure(self.values, self.structure, self.n_structures, mean=False)

    def mean_by_structure(self) -> np.ndarray:
        """Features averaged over the centres of each structure."""
        return _reduce_by_structure(self.values, self.structure, self.n_structures, mean=True)

    def to_tensormap(self, gradients=(), keep_zero_rows: bool = False):
        """These features as a metatensor ``TensorMap`` in featomic's layout (power spectrum:
        keys ``center_type, neighbor_1_type, neighbor_2_type``, properties ``l, n_1, n_2``).
        Needs ``metatensor-core``; see :mod:`lode_rs.interop.metatensor`."""
        from .interop.metatensor import features_to_tensormap

        return features_to_tensormap(self, gradients, keep_zero_rows)
