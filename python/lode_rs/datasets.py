"""Built-in datasets.

``water_dielectric`` and ``charged_dimers``: the real data of the paper's third and second
experiments, shipped with the package (compressed, with source and licence notes in
``lode_rs/data/*/SOURCE.md``).

``random_ionic_gas``: the paper's first test system — random periodic gases of point charges
(Na⁺/Cl⁻ by default) in cubic boxes, no two charges closer than a minimum distance.

``point_charges``: those gases with their Ewald (Coulomb) energies in eV, cached on disk.
"""

from __future__ import annotations

import io
import json
import lzma
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._lode_rs import InvalidParameterError


def _place_atoms(rng: np.random.Generator, n_atoms: int, box: float, min_distance: float):
    """Random sequential addition in a cubic periodic box (minimum-image distances)."""
    positions = np.empty((n_atoms, 3))
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
        if placed:
            d = positions[:placed] - trial
            d -= box * np.round(d / box)
            if np.min(np.einsum("ij,ij->i", d, d)) < min_distance**2:
                continue
        positions[placed] = trial
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


def _cache_directory(cache_dir) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("LODE_RS_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "lode_rs"


def _load_cached(path: Path, parameters: dict):
    """The arrays of a cache file made with exactly ``parameters``, or ``None``."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if json.loads(str(data["parameters"])) != parameters:
                return None
            return {key: data[key] for key in data.files}
    except (OSError, KeyError, ValueError):
        return None


def _save_cached(path: Path, parameters: dict, arrays: dict, *, compress: bool) -> None:
    """Write ``arrays`` and their ``parameters`` (JSON) to ``path``, read by :func:`_load_cached`.

    Written to a temporary file then renamed, so that a reader never sees a half-written file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    save = np.savez_compressed if compress else np.savez
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            save(f, parameters=np.array(json.dumps(parameters)), **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
    relative accuracy 1e-10, ``k_e = 14.399645 eV·Å/e²``). Deterministic for a seed.

    The arrays (positions, cells, numbers, charges, energies) are cached as a compressed
    ``.npz`` under ``cache_dir`` (default: ``$LODE_RS_CACHE`` or ``~/.cache/lode_rs``), together
    with the generator parameters and the package version; a cached file made with other
    parameters (or another version) is regenerated.

    Returns:
        ``(frames, energies)``: a list of ``ase.Atoms`` with initial charges set, and a float64
        array of shape ``(n_structures,)`` in eV.
    """
    from . import __version__
    from .electrostatics import electrostatic_energy

    if int(n_structures) != n_structures or n_structures < 1:
        raise InvalidParameterError(f"n_structures must be a positive integer, got {n_structures}")
    n_structures, seed = int(n_structures), int(seed)
    parameters = dict(_POINT_CHARGES, n_structures=n_structures, seed=seed, version=__version__)
    directory = _cache_directory(cache_dir)
    path = directory / f"point_charges-n{n_structures}-seed{seed}.npz"

    cached = _load_cached(path, parameters) if path.exists() else None
    if cached is not None:
        frames = _frames_from_arrays(
            cached["positions"], cached["cells"], cached["numbers"], cached["charges"]
        )
        return frames, cached["energies"]

    p = _POINT_CHARGES
    frames = random_ionic_gas(
        n_structures,
        n_atoms=p["n_atoms"],
        box_range=tuple(p["box_range"]),
        min_distance=p["min_distance"],
        species=tuple(p["species"]),
        charges=tuple(p["charges"]),
        seed=seed,
    )
    energies = electrostatic_energy(frames, accuracy=p["accuracy"])
    arrays = {
        "positions": np.stack([a.get_positions() for a in frames]),
        "cells": np.stack([a.cell[:] for a in frames]),
        "numbers": np.stack([a.get_atomic_numbers() for a in frames]).astype(np.int32),
        "charges": np.stack([a.get_initial_charges() for a in frames]),
        "energies": np.asarray(energies, dtype=np.float64),
    }
    _save_cached(path, parameters, arrays, compress=True)
    return frames, arrays["energies"]


def _packaged(*parts: str):
    """Path of a data file shipped inside the package."""
    from importlib.resources import files

    return files("lode_rs").joinpath("data", *parts)


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


def water_dielectric() -> WaterDielectric:
    """The LODE paper's water data (Grisafi et al., PRL 120, 036002 (2018); LGPL v3)."""
    import ase.io

    with _packaged("water_dielectric_prl2018", "coords_1000.xyz.xz").open("rb") as handle:
        text = lzma.decompress(handle.read()).decode()
    frames = ase.io.read(io.StringIO(text), ":", format="extxyz")
    epsilon = np.array([np.asarray(f.info["epsilon"], dtype=float).reshape(3, 3) for f in frames])
    for atoms in frames:
        atoms.pbc = True
    return WaterDielectric(frames=frames, epsilon=epsilon)


@dataclass(frozen=True)
class ChargedDimers:
    """Binding curves of charged–charged organic dimers (see ``data/.../SOURCE.md``).

    Attributes:
        frames: 130 finite (``pbc`` False) ``ase.Atoms``, 13 consecutive separations per dimer.
        energy: total energies (eV).
        binding_energy: ``energy − energyA − energyB`` (eV), the monomers' energies removed.
        dimer: index of the binding curve (0–9) of every frame.
        distance: centre-of-mass separation of the monomers (Å).
        monomer_charges: ``(n, 2)`` charges of monomer A (first fragment) and B.
        forces: list of ``(n_atoms, 3)`` forces (eV/Å).
    """

    frames: list
    energy: np.ndarray
    binding_energy: np.ndarray
    dimer: np.ndarray
    distance: np.ndarray
    monomer_charges: np.ndarray
    forces: list


#: separations per binding curve in the charged-dimer data
SEPARATIONS_PER_DIMER = 13


def charged_dimers() -> ChargedDimers:
    """10 charged–charged dimers × 13 separations (lab-cosmo atomistic-cookbook; BSD-3)."""
    import ase.io

    with _packaged("bfdb_charge_charge_subset", "charge-charge.xyz.xz").open("rb") as handle:
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
    return ChargedDimers(
        frames=frames,
        energy=energy,
        binding_energy=energy - monomers.sum(axis=1),
        dimer=np.arange(len(frames)) // SEPARATIONS_PER_DIMER,
        distance=distance,
        monomer_charges=charges,
        forces=forces,
    )
