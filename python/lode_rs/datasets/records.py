"""The records the loaders return: plain frozen dataclasses of frames and targets.

Generators (e.g. :mod:`lode_rs.datasets.dimer_generator`) build these records too, so this module
imports nothing else of the package: loaders and generators depend on it, never the reverse.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: separations per binding curve in the charged-dimer data
SEPARATIONS_PER_DIMER = 13


@dataclass(frozen=True)
class WaterDielectric:
    """Liquid water boxes with their electronic dielectric tensors (see ``data/.../SOURCE.md``).

    Attributes:
        frames: 1000 periodic ``ase.Atoms`` of 32 H2O (cubic cells 9.48–10.44 Å).
        epsilon: ``(1000, 3, 3)`` dielectric tensors ε∞ (dimensionless), row-major as stored.
    """

    frames: list
    epsilon: np.ndarray

    @property
    def isotropic(self) -> np.ndarray:
        """ε₀ = tr(ε∞)/3 of every frame, the target of the paper's third experiment."""
        return np.trace(self.epsilon, axis1=1, axis2=2) / 3.0


@dataclass(frozen=True)
class ChargedDimers:
    """Binding curves of organic dimers with at least one charged monomer.

    Frames ``13 k … 13 k + 12`` are the rigid binding curve of dimer ``k`` at increasing
    separation; in every frame the first ``n_atoms_a`` atoms are monomer A, the others monomer B
    (:meth:`monomers` splits a frame: the isolated monomers, whose binding energy is 0).

    Attributes:
        frames: finite (``pbc`` False) ``ase.Atoms``, 13 consecutive separations per dimer.
        energy: total energies (eV).
        binding_energy: ``energy − energyA − energyB`` (eV), the monomers' energies removed.
        dimer: index of the binding curve of every frame (``0 … n_dimers − 1``).
        distance: centre-of-mass separation of the monomers (Å).
        monomer_charges: ``(n, 2)`` formal charges of monomer A and B.
        forces: list of ``(n_atoms, 3)`` forces (eV/Å), or ``None`` when the data has none.
        n_atoms_a: ``(n,)`` number of atoms of monomer A (the first atoms of the frame).
        monomer_energies: ``(n, 2)`` energies (eV) of the isolated monomers A and B.
    """

    frames: list
    energy: np.ndarray
    binding_energy: np.ndarray
    dimer: np.ndarray
    distance: np.ndarray
    monomer_charges: np.ndarray
    forces: list | None
    n_atoms_a: np.ndarray
    monomer_energies: np.ndarray

    @property
    def n_dimers(self) -> int:
        """Number of binding curves."""
        return int(self.dimer.max()) + 1 if self.dimer.size else 0

    def monomers(self, i: int) -> tuple:
        """The isolated monomers A and B of frame ``i`` (same geometry, ``pbc`` False)."""
        atoms, n_a = self.frames[i], int(self.n_atoms_a[i])
        return atoms[:n_a], atoms[n_a:]

    def select(self, dimers) -> ChargedDimers:
        """The curves of ``dimers`` (indices), renumbered ``0 … len − 1`` in that order."""
        dimers = np.asarray(dimers, dtype=np.int64)
        rows = np.concatenate([np.nonzero(self.dimer == d)[0] for d in dimers])
        new = np.concatenate(
            [np.full(np.count_nonzero(self.dimer == d), k) for k, d in enumerate(dimers)]
        )
        return ChargedDimers(
            frames=[self.frames[i] for i in rows],
            energy=self.energy[rows],
            binding_energy=self.binding_energy[rows],
            dimer=new,
            distance=self.distance[rows],
            monomer_charges=self.monomer_charges[rows],
            forces=None if self.forces is None else [self.forces[i] for i in rows],
            n_atoms_a=self.n_atoms_a[rows],
            monomer_energies=self.monomer_energies[rows],
        )
