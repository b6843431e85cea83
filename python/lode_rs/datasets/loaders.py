"""The datasets of the LODE paper's experiments: shipped files read, generated sets cached.

``water_dielectric`` and ``charged_dimers`` read the real data of the paper's third and second
experiments, shipped with the package (compressed, with source and licence notes in
``lode_rs/data/*/SOURCE.md``). ``xtb_dimers`` reads the shipped GFN2-xTB stand-in for the
paper's 661 dimers, or runs :mod:`lode_rs.datasets.dimer_generator`. ``point_charges`` makes
random Na⁺/Cl⁻ gases (:func:`lode_rs.datasets.random_ionic_gas`) and their Ewald energies.
Generated sets are cached on disk (:mod:`lode_rs.datasets.cache`).
"""

from __future__ import annotations

import io
import lzma
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .. import electrostatics
from .._lode_rs import InvalidParameterError
from .._version import __version__
from .cache import Format, cached, digest, npz
from .ionic_gas import random_ionic_gas
from .records import SEPARATIONS_PER_DIMER, ChargedDimers, WaterDielectric

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

    from . import dimer_generator

# The dimer generator is imported by the functions that use it, not here: it is also a script
# (``python -m lode_rs.datasets.dimer_generator``), which must not be imported with the package.

#: the shipped GFN2-xTB stand-in for the paper's 661 dimers (see ``data/.../SOURCE.md``)
XTB_DIMERS_FILE = ("xtb_charged_dimers", "dimers.xyz.xz")

# Everything that determines the ``point_charges`` data, besides n_structures and seed.
_POINT_CHARGES = {
    "n_atoms": 64,
    "box_range": [12.0, 20.0],
    "min_distance": 2.5,
    "species": [11, 17],
    "charges": [1.0, -1.0],
    "accuracy": 1e-10,
    "format": 1,
}


def packaged(*parts: str) -> Traversable:
    """A data file shipped inside the package: ``lode_rs/data/<parts>``."""
    return files("lode_rs").joinpath("data", *parts)


def _frames_from_arrays(positions, cells, numbers, charges):
    import ase

    frames = []
    for r, cell, z, q in zip(positions, cells, numbers, charges, strict=True):
        atoms = ase.Atoms(numbers=z, positions=r, cell=cell, pbc=True)
        atoms.set_initial_charges(q)
        frames.append(atoms)
    return frames


def point_charges(n_structures: int = 2000, seed: int = 0, cache_dir=None):
    """Random periodic Na⁺/Cl⁻ gases and their Coulomb energies (the first experiment).

    Each structure: 64 atoms (32 Na with charge +1, 32 Cl with charge −1) in a cubic periodic
    box of side uniform in [12, 20] Å, no two atoms closer than 2.5 Å (minimum image), made by
    :func:`random_ionic_gas`. Energies (eV) from :func:`lode_rs.electrostatic_energy` (Ewald,
    relative accuracy 1e-10, ``k_e`` = :data:`lode_rs.constants.COULOMB_CONSTANT`).
    Deterministic for a seed.

    The arrays (positions, cells, numbers, charges, energies) are cached as a compressed
    ``.npz`` under ``cache_dir`` (default: ``$LODE_RS_CACHE`` or ``~/.cache/lode_rs``), together
    with the generator parameters and the package version; a cached file made with other
    parameters (or another version) is regenerated.

    Returns:
        ``(frames, energies)``: a list of ``ase.Atoms`` with initial charges set, and a float64
        array of shape ``(n_structures,)`` in eV.
    """
    if int(n_structures) != n_structures or n_structures < 1:
        raise InvalidParameterError(f"n_structures must be a positive integer, got {n_structures}")
    n_structures, seed = int(n_structures), int(seed)
    p = _POINT_CHARGES

    def generate() -> dict[str, np.ndarray]:
        frames = random_ionic_gas(
            n_structures,
            n_atoms=p["n_atoms"],
            box_range=tuple(p["box_range"]),
            min_distance=p["min_distance"],
            species=tuple(p["species"]),
            charges=tuple(p["charges"]),
            seed=seed,
        )
        energies = electrostatics.electrostatic_energy(frames, accuracy=p["accuracy"])
        return {
            "positions": np.stack([a.get_positions() for a in frames]),
            "cells": np.stack([a.cell[:] for a in frames]),
            "numbers": np.stack([a.get_atomic_numbers() for a in frames]).astype(np.int32),
            "charges": np.stack([a.get_initial_charges() for a in frames]),
            "energies": np.asarray(energies, dtype=np.float64),
        }

    arrays, _ = cached(
        f"point_charges-n{n_structures}-seed{seed}.npz",
        dict(p, n_structures=n_structures, seed=seed, version=__version__),
        generate,
        npz(compress=True),
        cache_dir=cache_dir,
    )
    frames = _frames_from_arrays(
        arrays["positions"], arrays["cells"], arrays["numbers"], arrays["charges"]
    )
    return frames, arrays["energies"]


def water_dielectric() -> WaterDielectric:
    """The LODE paper's water data (Grisafi et al., PRL 120, 036002 (2018); LGPL v3)."""
    import ase.io

    with packaged("water_dielectric_prl2018", "coords_1000.xyz.xz").open("rb") as handle:
        text = lzma.decompress(handle.read()).decode()
    frames = ase.io.read(io.StringIO(text), ":", format="extxyz")
    epsilon = np.array([np.asarray(f.info["epsilon"], dtype=float).reshape(3, 3) for f in frames])
    for atoms in frames:
        atoms.pbc = True
    return WaterDielectric(frames=frames, epsilon=epsilon)


def _first_fragment_size(atoms) -> int:
    """Atoms in the first connected fragment (covalent radii), which must be the leading ones."""
    from ase.neighborlist import NeighborList, natural_cutoffs
    from scipy.sparse.csgraph import connected_components

    neighbors = NeighborList(natural_cutoffs(atoms), self_interaction=False, bothways=True)
    neighbors.update(atoms)
    n, labels = connected_components(neighbors.get_connectivity_matrix())
    n_a = int(np.count_nonzero(labels == labels[0]))
    if n != 2 or not np.all(labels[:n_a] == labels[0]):
        raise RuntimeError("a dimer is not two contiguous fragments; the data file is damaged")
    return n_a


def charged_dimers() -> ChargedDimers:
    """10 charged–charged dimers × 13 separations (lab-cosmo atomistic-cookbook; BSD-3).

    Monomer A is the first connected fragment of each curve's farthest frame.
    """
    import ase.io

    with packaged("bfdb_charge_charge_subset", "charge-charge.xyz.xz").open("rb") as handle:
        text = lzma.decompress(handle.read()).decode()
    frames = ase.io.read(io.StringIO(text), ":", format="extxyz")
    energy = np.array([f.get_potential_energy() for f in frames])
    forces = [f.get_forces() for f in frames]
    monomers = np.array([[f.info["energyA"], f.info["energyB"]] for f in frames])
    charges = np.array([[f.info["chargeA"], f.info["chargeB"]] for f in frames], dtype=float)
    distance = np.array([f.info["distance"] for f in frames])
    for atoms in frames:
        # the 30 Å box of the file is nominal: these are isolated molecules
        atoms.pbc = False
        atoms.cell = np.zeros((3, 3))
        atoms.calc = None
    dimer = np.arange(len(frames)) // SEPARATIONS_PER_DIMER
    last = [np.nonzero(dimer == d)[0][-1] for d in range(dimer.max() + 1)]
    n_atoms_a = np.array([_first_fragment_size(frames[i]) for i in last])[dimer]
    return ChargedDimers(
        frames=frames,
        energy=energy,
        binding_energy=energy - monomers.sum(axis=1),
        dimer=dimer,
        distance=distance,
        monomer_charges=charges,
        forces=forces,
        n_atoms_a=n_atoms_a,
        monomer_energies=monomers,
    )


def _xtb_storage(settings: dimer_generator.Settings, n_dimers: int) -> Format:
    """Cache entries of generated dimers: the generator's own ``.xyz.xz`` + ``.json`` files,
    the cache parameters kept under ``"key"`` in the JSON description."""
    from . import dimer_generator as generator

    def write(path: Path, value, parameters: dict) -> None:
        dimers, failures = value
        description = generator.metadata(settings, n_dimers, failures)
        description["key"] = parameters
        generator.save(path, dimers, description)

    def read(path: Path):
        dimers, description = generator.load(path)
        return (dimers, description["failures"]), description.get("key")

    return Format(write=write, read=read)


def xtb_dimers(
    n_dimers: int | None = None,
    *,
    source: str = "shipped",
    seed: int = 0,
    n_processes: int = 2,
    cache_dir=None,
) -> ChargedDimers:
    """GFN2-xTB binding curves of random charged dimers (:mod:`lode_rs.datasets.dimer_generator`).

    Args:
        n_dimers: ``source="shipped"``: the first ``n_dimers`` curves (default all);
            ``source="generate"``: dimers attempted (default 720; those whose SCF fails or whose
            charge leaks between monomers are dropped).
        source: ``"shipped"`` reads the copy in the package (no extra dependency);
            ``"generate"`` runs the generator (needs ``pip install 'lode_rs[datasets]'``) and
            caches the result under ``cache_dir`` (default ``$LODE_RS_CACHE`` or
            ``~/.cache/lode_rs``), keyed by the settings, ``n_dimers`` and the package version.
        seed: the generator's seed (``source="generate"``).
        n_processes: worker processes of the generator (one OpenMP thread each).

    Returns:
        :class:`ChargedDimers`, 13 frames per dimer, forces ``None``.
    """
    from . import dimer_generator as generator

    if source == "shipped":
        dimers, _ = generator.load(packaged(*XTB_DIMERS_FILE))
        if n_dimers is not None:
            if int(n_dimers) != n_dimers or not 1 <= n_dimers <= len(dimers):
                raise InvalidParameterError(
                    f"n_dimers must be in [1, {len(dimers)}] for the shipped set, got {n_dimers}"
                )
            dimers = dimers[: int(n_dimers)]
        return generator.to_charged_dimers(dimers)
    if source != "generate":
        raise InvalidParameterError(f"source must be 'shipped' or 'generate', got {source!r}")
    n_dimers = int(720 if n_dimers is None else n_dimers)
    settings = generator.Settings(seed=int(seed))
    key = dict(settings.to_dict(), n_dimers=n_dimers, version=__version__)
    (dimers, _), _ = cached(
        f"xtb_dimers-n{n_dimers}-{digest(key)}.xyz.xz",
        key,
        lambda: generator.generate(n_dimers, settings, n_processes=n_processes),
        _xtb_storage(settings, n_dimers),
        cache_dir=cache_dir,
    )
    return generator.to_charged_dimers(dimers)
