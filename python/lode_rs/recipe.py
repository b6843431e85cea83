"""Feature recipes of potentials: weighted blocks of invariants, their values, Jacobians and
backward passes, and their JSON description (so that a saved potential rebuilds them).

A recipe is a list of blocks, each an invariant of one or two expansions with a weight:
:class:`lode_rs.PowerSpectrum` (ν = 2, one expansion or SOAP ⊗ LODE) or :class:`RadialSpectrum`
(ν = 1). The features of an environment are the blocks' values side by side, each multiplied by
its weight; the Jacobians and the backward pass follow by linearity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .calculators import LodeExpansion, SoapExpansion
from .errors import InvalidInputError, InvalidParameterError
from .invariants import PowerSpectrum, radial, radial_backward
from .results import Backward


class RadialSpectrum:
    """ν = 1 invariants of one expansion as a feature block (``invariants.radial``)."""

    def __init__(self, calculator) -> None:
        self.first = calculator

    def compute(self, frames, *, gradients=None, max_memory=None):
        """Same as ``lode_rs.invariants.radial(calculator, frames, ...)``."""
        return radial(self.first, frames, gradients=gradients, max_memory=max_memory)

    def backward(self, frames, cotangent) -> Backward:
        """Same as ``lode_rs.invariants.radial_backward(calculator, frames, cotangent)``."""
        return radial_backward(self.first, frames, cotangent)

    @property
    def calculators(self) -> list:
        """The expansion this block is built from."""
        return [self.first]

    def __repr__(self) -> str:
        return f"RadialSpectrum({self.first!r})"


def _calculator_to_dict(calculator) -> dict[str, Any]:
    if isinstance(calculator, SoapExpansion):
        kind = "soap"
    elif isinstance(calculator, LodeExpansion):
        kind = "lode"
    else:
        raise InvalidParameterError(
            f"feature blocks are built from SoapExpansion or LodeExpansion, got "
            f"{type(calculator).__name__}"
        )
    out = {"type": kind, "hypers": calculator.hypers, "species": calculator.species}
    if kind == "lode":
        out["charges"] = calculator.charges
    return out


def _calculator_from_dict(data: dict[str, Any], n_threads: int):
    hypers = dict(data["hypers"])
    if data["type"] == "soap":
        return SoapExpansion(species=data["species"], n_threads=n_threads, **hypers)
    if data["type"] == "lode":
        species = None if data.get("charges") else data["species"]
        return LodeExpansion(
            species=species, charges=bool(data.get("charges")), n_threads=n_threads, **hypers
        )
    raise InvalidInputError(f"unknown calculator type {data['type']!r}")


@dataclass
class Block:
    """One weighted feature block."""

    invariant: Any
    weight: float = 1.0
    #: number of columns (known after the first computation, saved with a potential)
    n_features: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON description (calculators' hyper-parameters and species, weight, width)."""
        inv = self.invariant
        out: dict[str, Any] = {"weight": self.weight, "n_features": self.n_features}
        if isinstance(inv, RadialSpectrum):
            return {**out, "type": "radial", "first": _calculator_to_dict(inv.first)}
        second = None if inv.second is None else _calculator_to_dict(inv.second)
        return {
            **out,
            "type": "power_spectrum",
            "first": _calculator_to_dict(inv.first),
            "second": second,
        }

    @staticmethod
    def from_dict(data: dict[str, Any], n_threads: int = 0) -> Block:
        """Inverse of :meth:`to_dict`."""
        first = _calculator_from_dict(data["first"], n_threads)
        width = data.get("n_features")
        if data["type"] == "radial":
            return Block(RadialSpectrum(first), float(data["weight"]), width)
        second = data.get("second")
        second = None if second is None else _calculator_from_dict(second, n_threads)
        return Block(PowerSpectrum(first, second), float(data["weight"]), width)


def as_blocks(features: Any, weights: Sequence[float] | None) -> list[Block]:
    """Blocks from one invariant or a list of them, with optional weights (default 1)."""
    items = list(features) if isinstance(features, (list, tuple)) else [features]
    if not items:
        raise InvalidParameterError("a potential needs at least one feature block")
    weights = [1.0] * len(items) if weights is None else [float(w) for w in weights]
    if len(weights) != len(items):
        raise InvalidParameterError(f"got {len(weights)} weights for {len(items)} feature blocks")
    blocks = []
    for item, weight in zip(items, weights, strict=True):
        if isinstance(item, (SoapExpansion, LodeExpansion)):
            raise InvalidParameterError(
                "give invariants as feature blocks: lode_rs.PowerSpectrum(calculator) (ν=2), "
                "lode_rs.PowerSpectrum(soap, lode) (mixed) or "
                "lode_rs.potential.RadialSpectrum(calculator) (ν=1)"
            )
        if not isinstance(item, (PowerSpectrum, RadialSpectrum)):
            raise InvalidParameterError(
                f"unknown feature block {type(item).__name__}: use lode_rs.PowerSpectrum or "
                "lode_rs.potential.RadialSpectrum"
            )
        if not np.isfinite(weight) or weight <= 0:
            raise InvalidParameterError(f"block weights must be finite and > 0, got {weight}")
        blocks.append(Block(item, weight))
    return blocks


@dataclass
class FeatureBatch:
    """Features of a batch of structures, with Jacobians when asked.

    ``positions``: ``(values (n_samples, 3, F), samples (n_samples, 3) = (row, structure, atom))``
    over the union of the blocks' samples; ``strain``: ``(n_rows, 3, 3, F)``. Computed with
    ``merge=False``, ``position_parts`` holds each block's Jacobian on its own samples instead,
    ``(values (n_samples, 3, width), samples, columns)`` with ``columns`` the block's slice of
    the ``F`` feature columns (a union densifies every block over every block's samples: a
    SOAP block over the all-pairs samples of a LODE block).
    """

    values: np.ndarray
    structure: np.ndarray
    species: np.ndarray
    positions: tuple[np.ndarray, np.ndarray] | None = None
    strain: np.ndarray | None = None
    position_parts: list[tuple[np.ndarray, np.ndarray, slice]] | None = None


def _merge_samples(parts: list[tuple[np.ndarray, np.ndarray]], widths: list[int]):
    """Position Jacobians of blocks with different samples, side by side on their union."""
    stride = 1 + max(int(s[:, 2].max(initial=0)) for _, s in parts)
    samples = np.unique(np.concatenate([s for _, s in parts]), axis=0)
    keys = samples[:, 0] * stride + samples[:, 2]  # a row fixes the structure
    values = np.zeros((len(samples), 3, sum(widths)))
    start = 0
    for (block_values, block_samples), width in zip(parts, widths, strict=True):
        index = np.searchsorted(keys, block_samples[:, 0] * stride + block_samples[:, 2])
        values[index, :, start : start + width] = block_values
        start += width
    return values, samples


def compute(
    blocks: list[Block], frames, gradients: Sequence[str] = (), *, merge: bool = True
) -> FeatureBatch:
    """Weighted features (and Jacobians) of ``frames``; position Jacobians on the union of the
    blocks' samples, or block by block with ``merge=False`` (see :class:`FeatureBatch`)."""
    results = [b.invariant.compute(frames, gradients=list(gradients) or None) for b in blocks]
    first = results[0]
    values = np.concatenate([b.weight * r.values for b, r in zip(blocks, results, strict=True)], 1)
    batch = FeatureBatch(values, np.asarray(first.structure), np.asarray(first.center_species))
    widths = [r.values.shape[1] for r in results]
    for b, width in zip(blocks, widths, strict=True):
        b.n_features = width
    if "positions" in gradients:
        parts = []
        for b, r in zip(blocks, results, strict=True):
            g = r.gradient("positions")
            parts.append((b.weight * g.values, np.asarray(g.samples, dtype=np.int64)))
        if merge:
            batch.positions = parts[0] if len(parts) == 1 else _merge_samples(parts, widths)
        else:
            ends = np.cumsum(widths)
            batch.position_parts = [
                (values, samples, slice(int(end - width), int(end)))
                for (values, samples), width, end in zip(parts, widths, ends, strict=True)
            ]
    if "strain" in gradients:
        batch.strain = np.concatenate(
            [b.weight * r.gradient("strain").values for b, r in zip(blocks, results, strict=True)],
            axis=-1,
        )
    return batch


def backward(
    blocks: list[Block], frames, cotangent: np.ndarray, *, strain: bool = False
) -> Backward:
    """Backward pass of the weighted features for a cotangent ``(n_rows, F)``.

    With ``strain=True`` every periodic structure must get its strain derivative from every
    block; a block whose expansion has none yet (a LODE route without strain gradients) is an
    ``InvalidParameterError`` naming the block, the structure and the route. Without it, such
    structures have ``strain`` ``None``.
    """
    total = None
    start = 0
    for b in blocks:
        if b.n_features is None:
            raise InvalidInputError("feature widths unknown: compute the features first")
        part = b.weight * cotangent[:, start : start + b.n_features]
        start += b.n_features
        out = b.invariant.backward(frames, np.ascontiguousarray(part))
        if strain:
            _check_strain(b, frames, out)
        total = out if total is None else total + out
    return total


def _check_strain(block: Block, frames, out: Backward) -> None:
    for i, (atoms, s) in enumerate(zip(frames, out.strain, strict=True)):
        if s is None and bool(np.all(atoms.pbc)):
            raise InvalidParameterError(
                f"no stress: the feature block {block.invariant!r} has no strain derivative "
                f"for structure {i}{_route_note(block, atoms)}; predict with stress=False "
                "(forces are available), or use a LODE method whose route has strain gradients"
            )


def _route_note(block: Block, atoms) -> str:
    """`` (LODE route "x")`` for the first LODE expansion of ``block``, else ``""``."""
    for calculator in block.invariant.calculators:
        if isinstance(calculator, LodeExpansion):
            route = calculator.routes([atoms])[0]["route"]
            return f' (its LODE expansion is computed on the "{route}" route)'
    return ""
