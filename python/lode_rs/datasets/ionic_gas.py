"""Random periodic gases of point charges: the LODE paper's first test system."""

from __future__ import annotations

import numpy as np

from .._lode_rs import InvalidParameterError


def _place_atoms(rng: np.random.Generator, n_atoms: int, box: float, min_distance: float):
    """Random sequential addition in a cubic periodic box (minimum-image distances).

    Each trial is tested against the atoms already placed; in boxes of at least three bins of
    side ``min_distance`` only the 27 surrounding bins are searched, which makes the same
    accept/reject decisions as the full search (so the same positions for a seed) in O(N).
    """
    positions = np.empty((n_atoms, 3))
    n_bins = int(box // min_distance) if min_distance > 0 else 0
    bins: dict[tuple[int, int, int], list[int]] | None = {} if n_bins >= 3 else None
    placed = 0
    attempts = 0
    max_attempts = 2000 * n_atoms
    while placed < n_atoms:
        attempts += 1
        if attempts > max_attempts:
            raise InvalidParameterError(
                f"could not place {n_atoms} atoms at least {min_distance} Å apart in a "
                f"{box:.2f} Å box: lower n_atoms or min_distance, or use larger boxes"
            )
        trial = rng.uniform(0.0, box, size=3)
        if bins is None:
            others = positions[:placed]
        else:
            key = tuple(int(x) for x in np.minimum(trial * (n_bins / box), n_bins - 1))
            near = [
                j
                for dx in (-1, 0, 1)
                for dy in (-1, 0, 1)
                for dz in (-1, 0, 1)
                for j in bins.get(
                    ((key[0] + dx) % n_bins, (key[1] + dy) % n_bins, (key[2] + dz) % n_bins), ()
                )
            ]
            others = positions[near]
        if len(others):
            d = others - trial
            d -= box * np.round(d / box)
            if np.min(np.einsum("ij,ij->i", d, d)) < min_distance**2:
                continue
        positions[placed] = trial
        if bins is not None:
            bins.setdefault(key, []).append(placed)
        placed += 1
    return positions


def random_ionic_gas(
    n_structures: int,
    *,
    n_atoms: int = 64,
    box_range: tuple[float, float] = (12.0, 20.0),
    min_distance: float = 2.5,
    species: tuple[int, int] = (11, 17),
    charges: tuple[float, float] = (1.0, -1.0),
    seed: int = 0,
):
    """Random neutral periodic gases of two ion species.

    Half the atoms are ``species[0]`` with charge ``charges[0]``, half ``species[1]`` with
    ``charges[1]``; each structure is a cubic periodic box of side uniform in ``box_range``,
    with no two atoms closer than ``min_distance`` (minimum image). The charges are stored as
    ASE initial charges. Deterministic for a given ``seed``.

    Returns:
        A list of ``ase.Atoms``.
    """
    import ase

    if n_atoms < 2 or n_atoms % 2:
        raise InvalidParameterError(f"n_atoms must be even and at least 2, got {n_atoms}")
    low, high = box_range
    if not (0 < low <= high):
        raise InvalidParameterError(f"box_range must satisfy 0 < low <= high, got {box_range}")
    rng = np.random.default_rng(seed)
    numbers = np.repeat(np.asarray(species), n_atoms // 2)
    q = np.repeat(np.asarray(charges, dtype=float), n_atoms // 2)
    frames = []
    for _ in range(n_structures):
        box = rng.uniform(low, high)
        positions = _place_atoms(rng, n_atoms, box, min_distance)
        atoms = ase.Atoms(numbers=numbers, positions=positions, cell=np.eye(3) * box, pbc=True)
        atoms.set_initial_charges(q)
        frames.append(atoms)
    return frames
