"""Small periodic Lennard-Jones boxes for the potential tests (reference: ASE's smooth LJ)."""

from __future__ import annotations

import numpy as np

SOAP = {"cutoff": 4.0, "smearing": 0.3, "n_max": 6, "l_max": 4}
LJ = {"sigma": 2.0, "epsilon": 0.1, "rc": 4.0, "smooth": True}


def lj_boxes(n_frames: int, n_atoms: int = 8, box: float = 5.5, seed: int = 0, pbc=True):
    """Random boxes of ``n_atoms`` argon-like atoms (no pair closer than 1.9 Å), with the LJ
    energy, forces and stress stored as ``info["energy"]``, ``arrays["forces"]`` and
    ``info["stress"]`` (Voigt)."""
    import ase
    from ase.calculators.lj import LennardJones

    rng = np.random.default_rng(seed)
    frames = []
    while len(frames) < n_frames:
        cell = np.diag(box * (1 + 0.05 * rng.standard_normal(3)))
        positions = []
        while len(positions) < n_atoms:
            p = rng.random(3) @ cell
            atoms = ase.Atoms("Ar" * (len(positions) + 1), positions + [p], cell=cell, pbc=pbc)
            if (
                len(positions) == 0
                or atoms.get_distances(len(positions), range(len(positions)), mic=pbc).min() > 1.9
            ):
                positions.append(p)
        atoms = ase.Atoms("Ar" * n_atoms, positions, cell=cell, pbc=pbc)
        atoms.calc = LennardJones(**LJ)
        atoms.info["energy"] = atoms.get_potential_energy()
        atoms.arrays["forces"] = atoms.get_forces()
        if pbc:
            atoms.info["stress"] = atoms.get_stress()
        atoms.calc = None
        frames.append(atoms)
    return frames
