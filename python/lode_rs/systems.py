"""Turning user input (``ase.Atoms``, raw arrays, lists of them) into the core's arrays."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ._lode_rs import InvalidInputError

SystemArrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class System:
    """A structure given as raw arrays.

    Args:
        positions: Cartesian positions in Å, shape ``(n_atoms, 3)``.
        numbers: atomic numbers (species labels), shape ``(n_atoms,)``.
        cell: lattice vectors as rows, shape ``(3, 3)``, in Å; ``None`` for no cell.
        pbc: periodicity along each lattice vector (one bool for all three, or three).
        charges: per-atom charges (e), used by charge-weighted LODE; ``None`` if not known.
    """

    positions: np.ndarray
    numbers: np.ndarray
    cell: np.ndarray | None = None
    pbc: bool | Sequence[bool] = False
    charges: np.ndarray | None = None


_INT32 = np.iinfo(np.int32)


def _numbers(numbers) -> np.ndarray:
    """Atomic numbers (species labels) as int32, refusing values int32 cannot hold (a cast
    would silently alias them: 2**32 + 1 would become hydrogen)."""
    numbers_in = np.asarray(numbers)
    if numbers_in.ndim != 1 or not (
        np.issubdtype(numbers_in.dtype, np.integer) or numbers_in.size == 0
    ):
        raise InvalidInputError("atomic numbers must be a 1D array of integers")
    if numbers_in.size and (numbers_in.min() < _INT32.min or numbers_in.max() > _INT32.max):
        bad = numbers_in[(numbers_in < _INT32.min) | (numbers_in > _INT32.max)][0]
        raise InvalidInputError(
            f"atomic number {bad} is out of range: species labels must fit in a 32-bit "
            f"integer ({_INT32.min} to {_INT32.max})"
        )
    return np.ascontiguousarray(numbers_in, dtype=np.int32)


def _pbc(pbc) -> np.ndarray:
    """Periodicity as three bools: one bool for all directions, or one per lattice vector
    (bools, or the integers 0 and 1)."""
    if isinstance(pbc, str | bytes):
        raise InvalidInputError(f"pbc must be a bool or three bools, got the string {pbc!r}")
    values = np.asarray(pbc)
    if values.dtype == object or not (
        values.dtype == bool or np.issubdtype(values.dtype, np.integer)
    ):
        raise InvalidInputError(f"pbc must be a bool or three bools, got {pbc!r}")
    if values.shape not in ((), (3,)) or not np.all((values == 0) | (values == 1)):
        raise InvalidInputError(
            f"pbc must be a bool or three bools (one per lattice vector), got {pbc!r}"
        )
    return np.broadcast_to(values.astype(bool), (3,)).copy()


def _from_arrays(positions, numbers, cell, pbc) -> SystemArrays:
    positions = np.ascontiguousarray(positions, dtype=np.float64)
    if positions.ndim != 2 or positions.shape[1] != 3:
        raise InvalidInputError(f"positions must have shape (n_atoms, 3), got {positions.shape}")
    numbers = _numbers(numbers)
    cell = np.zeros((3, 3)) if cell is None else np.ascontiguousarray(cell, dtype=np.float64)
    if cell.shape != (3, 3):
        raise InvalidInputError(f"cell must have shape (3, 3), got {cell.shape}")
    return positions, numbers, cell, _pbc(pbc)


def as_arrays(frame) -> SystemArrays:
    """One structure as ``(positions, numbers, cell, pbc)`` arrays with the core's dtypes."""
    if isinstance(frame, System):
        return _from_arrays(frame.positions, frame.numbers, frame.cell, frame.pbc)
    # duck-typed ase.Atoms: avoids importing ase for users of raw arrays
    if hasattr(frame, "get_positions") and hasattr(frame, "get_atomic_numbers"):
        return _from_arrays(
            frame.get_positions(), frame.get_atomic_numbers(), frame.cell[:], frame.pbc
        )
    raise InvalidInputError(
        f"cannot read a structure from {type(frame).__name__}: "
        "give ase.Atoms or lode_rs.System (or a list of them)"
    )


def as_frame_list(frames) -> list:
    """A single structure or an iterable of structures (read once), as a list."""
    if isinstance(frames, System) or hasattr(frames, "get_positions"):
        return [frames]
    if not isinstance(frames, Iterable):
        raise InvalidInputError(f"expected a structure or a list of them, got {type(frames)}")
    frames = list(frames)
    if not frames:
        raise InvalidInputError("no structures given")
    return frames


def as_system_list(frames) -> list[SystemArrays]:
    """A single structure or an iterable of structures, as a list of array tuples."""
    return [as_arrays(f) for f in as_frame_list(frames)]


def charges_of(frames: list) -> list[np.ndarray]:
    """Per-atom charges of every structure (ASE initial charges, or ``System.charges``).

    ``frames`` is the list from :func:`as_frame_list`.
    """
    out = []
    for s, frame in enumerate(frames):
        if isinstance(frame, System):
            if frame.charges is None:
                raise InvalidInputError(f"structure {s}: System.charges is not set")
            q = frame.charges
        elif hasattr(frame, "has") and not frame.has("initial_charges"):
            raise InvalidInputError(
                f"structure {s}: charges=True but this ase.Atoms has no initial charges; "
                "set them with atoms.set_initial_charges(...) (all-zero charges would give "
                "all-zero coefficients)"
            )
        else:
            q = frame.get_initial_charges()
        # converted only: counts and values are checked once, by the Rust core
        out.append(np.ascontiguousarray(q, dtype=np.float64))
    return out
