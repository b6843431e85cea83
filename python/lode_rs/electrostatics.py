"""Coulomb energies of point charges: Ewald summation (periodic cells), direct sum (finite).

Conventions (see the Rust module ``electrostatics``): energies in eV with
``k_e = 14.399645 eV·Å/e²``; charges in e, lengths in Å. Fully periodic cells are summed by
Ewald (tinfoil boundary conditions, no surface dipole term); a non-zero total charge ``Q`` is
compensated by a uniform background ``-Q/V`` whose energy is included. Finite systems (``pbc``
all false) use the pair sum over ``i < j``. Slabs (two periodic directions, any open axis) are
summed exactly over their in-plane images (docs/math.md §15.3; neutral slabs only), with forces
and stress (§15.4); wires are refused.
"""

from __future__ import annotations

import numpy as np

from ._lode_rs import InvalidInputError, ewald_energy, ewald_gradients
from .systems import as_frame_list, as_system_list, charges_of

__all__ = ["electrostatic_energy"]


def electrostatic_energy(
    frames,
    charges=None,
    accuracy=None,
    n_threads=0,
    *,
    forces: bool = False,
    stress: bool = False,
):
    """Coulomb energy (eV) of each structure, and its forces and stress if asked.

    Args:
        frames: an ``ase.Atoms`` / :class:`lode_rs.System`, or a list of them.
        charges: per-atom charges (e), one array per structure (a single array for a single
            structure); default: ``atoms.get_initial_charges()`` (``System.charges``).
        accuracy: relative accuracy of the Ewald summation (``None``: the core's default,
            ``1e-10``).
        n_threads: threads to use, 0 for all cores. Results do not depend on it.
        forces: also return the forces ``-dE/dr`` (eV/Å), one ``(n_atoms, 3)`` array per
            structure (exact derivatives of the Ewald or direct sum).
        stress: also return the stress ``(1/V) dE/dstrain`` (eV/Å³, ASE's sign and
            convention: ``atoms.get_stress(voigt=False)``), one ``(3, 3)`` array per structure;
            periodic structures and slabs only. ``V`` is the cell's volume ``|det cell|``, as
            ASE's ``atoms.get_volume()``; for a slab it depends on the open cell vector (which
            must then span a volume), and ``stress * V / A`` (``A`` the in-plane area) is the
            2D stress per area, independent of it (docs/slabs.md).

    Returns:
        float64 array of shape ``(n_structures,)`` when neither ``forces`` nor ``stress`` is
        asked; otherwise the tuple ``(energies, forces, stress)``, with ``None`` in place of
        what was not asked.
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
    if not (forces or stress):
        return ewald_energy(systems, charges, n_threads=n_threads, **kwargs)
    energies, gradients, strain = ewald_gradients(
        systems, charges, stress=stress, n_threads=n_threads, **kwargs
    )
    out_forces = [-g for g in gradients] if forces else None
    out_stress = None
    if stress:
        out_stress = []
        for i, (d, s) in enumerate(zip(strain, systems, strict=True)):
            volume = abs(np.linalg.det(np.asarray(s[2])))
            if volume == 0.0:
                raise InvalidInputError(
                    f"structure {i}: the stress (1/V) dE/dstrain needs the cell's volume V, and "
                    "this slab's open cell vector spans none: give it a length along the normal "
                    "(e.g. atoms.cell[2] = [0, 0, L]; the energy and forces do not depend on it), "
                    "or compute the 2D stress per area as stress * V / A"
                )
            out_stress.append(d / volume)
    return energies, out_forces, out_stress
