"""Physical constants and unit conversions used by lode_rs (one place for each).

``COULOMB_CONSTANT`` is the Rust core's own value (``electrostatics::COULOMB_CONSTANT``), so the
energies computed in Rust and any Python formula use the same number.
"""

from __future__ import annotations

from ._lode_rs import COULOMB_CONSTANT

#: Hartree energy in eV (CODATA 2018)
HARTREE_EV = 27.211386245988
#: Bohr radius in Å (CODATA 2018)
BOHR_ANGSTROM = 0.529177210903

__all__ = ["BOHR_ANGSTROM", "COULOMB_CONSTANT", "HARTREE_EV"]
