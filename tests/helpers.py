"""Shared structure generators for the tests (seeded, small): ``from helpers import ...``.

Fixtures built on them are in ``conftest.py``.
"""

from __future__ import annotations

import ase
import numpy as np
from scipy.special import sph_harm_y


def random_periodic(seed: int, n_atoms: int = 12, species=(1, 8), skew: float = 0.3):
    """A random triclinic periodic structure with atoms at least 0.9 Å apart."""
    rng = np.random.default_rng(seed)
    cell = np.diag(rng.uniform(4.5, 6.5, 3)) + skew * rng.uniform(-1, 1, (3, 3)) * 3.0
    atoms = ase.Atoms(cell=cell, pbc=True)
    while len(atoms) < n_atoms:
        frac = rng.uniform(0, 1, 3)
        trial = ase.Atoms(
            numbers=[species[len(atoms) % len(species)]],
            scaled_positions=[frac],
            cell=cell,
            pbc=True,
        )
        candidate = atoms + trial
        if len(atoms) == 0:
            atoms = candidate
        elif np.min(candidate.get_distances(-1, range(len(atoms)), mic=True)) > 0.9:
            atoms = candidate
    return atoms


def random_cluster(seed: int, n_atoms: int = 8, species=(1, 6, 8), radius: float = 3.0):
    """A random open cluster, atoms at least 0.9 Å apart."""
    rng = np.random.default_rng(seed)
    positions: list[np.ndarray] = []
    while len(positions) < n_atoms:
        trial = rng.uniform(-radius, radius, 3)
        if all(np.linalg.norm(trial - p) > 0.9 for p in positions):
            positions.append(trial)
    numbers = [species[i % len(species)] for i in range(n_atoms)]
    return ase.Atoms(numbers=numbers, positions=positions)


def real_harmonics(l_max, theta, phi):
    """Real Y_lm (index l² + l + m, Y_1,1 = +√(3/4π) x/r) from scipy's complex ones.

    Built independently of lode_rs, for tests that check it by another route.
    """
    out = []
    for l in range(l_max + 1):
        for m in range(-l, l + 1):
            y = sph_harm_y(l, abs(m), theta, phi)
            if m > 0:
                out.append(np.sqrt(2) * (-1) ** m * y.real)
            elif m < 0:
                out.append(np.sqrt(2) * (-1) ** m * y.imag)
            else:
                out.append(y.real)
    return np.array(out)
