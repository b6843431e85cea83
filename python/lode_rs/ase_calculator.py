"""An ASE calculator for :class:`lode_rs.Potential` (MD integrators, optimisers)."""

from __future__ import annotations

import numpy as np
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes

from .potential_targets import voigt


class LodeCalculator(Calculator):
    """ASE calculator of a fitted :class:`lode_rs.Potential`: ``energy``, ``free_energy``
    (equal to the energy), ``forces`` and ``stress`` (Voigt, ASE's sign; periodic structures
    only). ASE's cache recomputes only when the atoms change; one call computes the energy and
    forces (and the stress of periodic structures) together.

    Args:
        potential: a fitted potential (e.g. ``lode_rs.load_potential("pot.npz")``).
        stress: compute the stress with the forces (default: when the atoms are periodic and
            every feature block has the strain derivative; always when ASE asks for it).
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, potential, *, stress: bool | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.potential = potential
        self._stress = stress

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        unknown = [p for p in properties if p not in self.implemented_properties]
        if unknown:
            raise PropertyNotImplementedError(
                f"lode_rs potentials compute {self.implemented_properties}, not {unknown}"
            )
        super().calculate(atoms, properties, system_changes)
        periodic = bool(np.all(self.atoms.pbc))
        if "stress" in properties and not periodic:
            raise PropertyNotImplementedError(
                "stress is defined for fully periodic structures only (these atoms have "
                f"pbc={self.atoms.pbc.tolist()})"
            )
        # asked for: required (an error names a feature block without strain derivative);
        # otherwise computed along with the forces when the features provide it
        if "stress" in properties or self._stress:
            stress = True
        else:
            stress = None if self._stress is None and periodic else False
        energies, forces, stresses = self.potential.predict(
            [self.atoms], forces=True, stress=stress
        )
        self.results = {
            "energy": float(energies[0]),
            "free_energy": float(energies[0]),
            "forces": forces[0],
        }
        if stresses is not None:
            self.results["stress"] = voigt(stresses[0])
