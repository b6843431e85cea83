"""Reading and checking the training targets of a potential: energies, forces and stress,
given as keys of ``atoms.info`` / ``atoms.arrays`` (or the attached calculator) or as arrays."""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import InvalidInputError

VOIGT = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))
"""ASE's Voigt order of the stress: xx, yy, zz, yz, xz, xy."""


def voigt(stress: np.ndarray) -> np.ndarray:
    """``(…, 3, 3)`` → ``(…, 6)`` in ASE's order (the matrix symmetrised first)."""
    sym = 0.5 * (stress + np.swapaxes(stress, -1, -2))
    return np.stack([sym[..., a, b] for a, b in VOIGT], axis=-1)


def _from_calc(atoms, name: str):
    calc = getattr(atoms, "calc", None)
    if calc is None or name not in getattr(calc, "results", {}):
        return None
    return calc.results[name]


def _lookup(atoms, key: str, index: int, where: str, what: str):
    container = atoms.info if where == "info" else atoms.arrays
    if key in container:
        return container[key]
    value = _from_calc(atoms, key)
    if value is not None:
        return value
    available = sorted(
        set(atoms.info) | set(atoms.arrays) | set(getattr(atoms.calc, "results", {}))
    )
    raise InvalidInputError(
        f"structure {index} has no {what} {key!r} (in atoms.{where} or its calculator's "
        f"results); available keys: {available}"
    )


def _finite(value: np.ndarray, what: str, index: int) -> np.ndarray:
    if not np.all(np.isfinite(value)):
        raise InvalidInputError(
            f"the {what} of structure {index} contain NaN or infinite values; drop or fix "
            "that structure"
        )
    return value


def read_energies(frames: list, energy: Any) -> np.ndarray | None:
    """One energy per structure, or ``None``."""
    if energy is None:
        return None
    if isinstance(energy, str):
        values = [
            float(np.asarray(_lookup(a, energy, i, "info", "energy"))) for i, a in enumerate(frames)
        ]
        out = np.array(values)
    else:
        out = np.asarray(energy, dtype=np.float64).reshape(-1)
        if out.shape[0] != len(frames):
            raise InvalidInputError(f"got {out.shape[0]} energies for {len(frames)} structures")
    bad = np.nonzero(~np.isfinite(out))[0]
    if bad.size:
        raise InvalidInputError(
            f"the energies of structures {bad[:5].tolist()} are NaN or infinite; drop them"
        )
    return out


def read_forces(frames: list, forces: Any) -> list[np.ndarray] | None:
    """One ``(n_atoms, 3)`` array per structure, or ``None``."""
    if forces is None:
        return None
    if isinstance(forces, str):
        raw = [_lookup(a, forces, i, "arrays", "forces") for i, a in enumerate(frames)]
    else:
        raw = list(forces)
        if len(raw) != len(frames):
            raise InvalidInputError(f"got forces of {len(raw)} structures for {len(frames)}")
    out = []
    for i, (atoms, f) in enumerate(zip(frames, raw, strict=True)):
        f = np.asarray(f, dtype=np.float64)
        if f.shape != (len(atoms), 3):
            raise InvalidInputError(
                f"the forces of structure {i} have shape {f.shape}, expected ({len(atoms)}, 3) "
                "(one row of x, y, z per atom)"
            )
        out.append(_finite(f, "forces", i))
    return out


def read_stress(frames: list, stress: Any) -> list[np.ndarray] | None:
    """One ``(3, 3)`` stress (ASE sign: ``(1/V) dE/dstrain``) per structure, or ``None``."""
    if stress is None:
        return None
    if isinstance(stress, str):
        raw = [_lookup(a, stress, i, "info", "stress") for i, a in enumerate(frames)]
    else:
        raw = list(stress)
        if len(raw) != len(frames):
            raise InvalidInputError(f"got stress of {len(raw)} structures for {len(frames)}")
    out = []
    for i, (atoms, s) in enumerate(zip(frames, raw, strict=True)):
        if not np.all(atoms.pbc):
            raise InvalidInputError(
                f"structure {i} is not periodic (pbc={atoms.pbc.tolist()}): stress is defined "
                "for fully periodic structures only; leave stress=None for finite ones"
            )
        s = np.asarray(s, dtype=np.float64)
        if s.shape == (6,):
            full = np.empty((3, 3))
            for k, (a, b) in enumerate(VOIGT):
                full[a, b] = full[b, a] = s[k]
            s = full
        elif s.shape == (9,):
            s = s.reshape(3, 3)
        if s.shape != (3, 3):
            raise InvalidInputError(
                f"the stress of structure {i} has shape {s.shape}; expected Voigt (6,) or (3, 3)"
            )
        out.append(_finite(s, "stress", i))
    return out


def read_weights(frames: list, weights: Any) -> np.ndarray:
    """Per-structure weights (default 1), finite and ``>= 0``."""
    if weights is None:
        return np.ones(len(frames))
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.shape[0] != len(frames):
        raise InvalidInputError(f"got {w.shape[0]} weights for {len(frames)} structures")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise InvalidInputError("structure weights must be finite and >= 0")
    return w
