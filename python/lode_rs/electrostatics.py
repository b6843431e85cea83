"""Coulomb energies of point charges: Ewald summation (periodic cells), direct sum (finite).

Conventions (see the Rust module ``electrostatics``): energies in eV with
``k_e = 14.399645 eV·Å/e²``; charges in e, lengths in Å. Fully periodic cells are summed by
Ewald (tinfoil boundary conditions, no surface dipole term); a non-zero total charge ``Q`` is
compensated by a uniform background ``-Q/V`` whose energy is included. Finite systems (``pbc``
all false) use the pair sum over ``i < j``. Slabs and wires are refused.
"""

from __future__ import annotations

import numpy as np

from ._lode_rs import ewald_energy
from .systems import as_frame_list, as_system_list, charges_of

__all__ = ["electrostatic_energy"]


def electrostatic_energy(frames, charges=None, accuracy=None, n_threads=0) -> np.ndarray:
    """Coulomb energy (eV) of each structure.

    Args:
        frames: an ``ase.Atoms`` / :class:`lode_rs.System`, or a list of them.
        charges: per-atom charges (e), one array per structure (a single array for a single
            structure); default: ``atoms.get_initial_charges()`` (``System.charges``).
        accuracy: relative accuracy of the Ewald summation (``None``: the core's default,
            ``1e-10``).
        n_threads: threads to use, 0 for all cores. Results do not depend on it.

    Returns:
        float64 array of shape ``(n_structures,)``.
    """
    frames = as_frame_list(frames)
    systems = as_system_list(frames)
    if charges is None:
        charges = charges_of(frames)
    else:
        if len(frames) == 1 and np.ndim(charges) == 1:
            charges = [charges]
        # converted only: counts, shapes and values are checked once, by the Rust core
        charges = [np.ascontiguousarray(q, dtype=np.float64) for q in charges]
    kwargs = {} if accuracy is None else {"accuracy": float(accuracy)}
    return ewald_energy(systems, charges, n_threads=n_threads, **kwargs)
