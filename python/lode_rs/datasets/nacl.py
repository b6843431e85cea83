"""Molten NaCl: configurations from OpenMM molecular dynamics of the Tosi–Fumi + Ewald model.

Two data sets, both deterministic for a seed and cached on disk (:mod:`.cache`), generated with
OpenMM's CPU platform (``pip install 'lode_rs[datasets]'``; one thread, deterministic forces):

- :func:`molten_nacl`: independent snapshots of small boxes (default 64 ions) with the
  reference energies and forces (:mod:`.nacl_reference`), for fitting and testing potentials.
  Each trajectory starts from the rock-salt lattice at the experimental liquid density of its
  temperature, melts at ``melt_temperature``, equilibrates with a Langevin thermostat at its
  temperature, then gives one snapshot every ``stride_fs``; the trajectories cycle over
  ``temperatures``.
- :func:`molten_nacl_md`: one NVE run of a larger box (default 216 ions) after a Langevin
  equilibration: its start (positions and velocities, for running another potential from the
  same point), the recorded positions and the potential and kinetic energies.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .._lode_rs import InvalidParameterError
from .._version import __version__
from .cache import cached, digest, npz
from .nacl_reference import CHLORINE, SODIUM, TosiFumi, charges_of

#: Avogadro's number and the NaCl formula mass (g/mol, ASE's masses)
_AVOGADRO = 6.02214076e23


def liquid_density(temperature: float) -> float:
    """Density (g/cm³) of liquid NaCl, ``2.139 − 5.43·10⁻⁴ T`` (the linear fit of Janz's
    measurements, 1080–1300 K; extrapolated beyond)."""
    return 2.139 - 5.43e-4 * float(temperature)


def rock_salt(n_cells: int, density: float):
    """``8 n_cells³`` ions on the rock-salt lattice in a cubic box of ``density`` (g/cm³)."""
    import ase
    from ase.data import atomic_masses

    if int(n_cells) != n_cells or n_cells < 1:
        raise InvalidParameterError(f"n_cells must be a positive integer, got {n_cells}")
    if not density > 0:
        raise InvalidParameterError(f"density must be > 0, got {density}")
    m = 2 * int(n_cells)
    grid = np.stack(np.meshgrid(*(np.arange(m),) * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    numbers = np.where(grid.sum(axis=1) % 2 == 0, SODIUM, CHLORINE)
    grams = atomic_masses[numbers].sum() / _AVOGADRO
    side = (grams / density * 1e24) ** (1 / 3)  # Å
    atoms = ase.Atoms(
        numbers=numbers, positions=(grid + 0.25) * side / m, cell=np.eye(3) * side, pbc=True
    )
    atoms.set_initial_charges(charges_of(numbers))
    return atoms


@dataclass(frozen=True)
class Protocol:
    """How :func:`molten_nacl` makes its snapshots (times in ps or fs, temperatures in K).

    Attributes:
        n_cells: box of ``8 n_cells³`` ions (2: 64 ions, ~12.7 Å).
        temperatures: the trajectories cycle over these.
        n_trajectories: independent trajectories (each from its own seed).
        melt_temperature, melt_ps: the lattice is melted first.
        equilibrate_ps: Langevin equilibration at the trajectory's temperature.
        stride_fs: time between snapshots.
        timestep_fs, friction: Langevin integrator (friction in 1/ps).
        ewald_tolerance: OpenMM's Ewald error tolerance.
        model: the Tosi–Fumi parameters.
    """

    n_cells: int = 2
    temperatures: tuple[float, ...] = (1100.0, 1300.0, 1500.0)
    n_trajectories: int = 6
    melt_temperature: float = 3000.0
    melt_ps: float = 1.0
    equilibrate_ps: float = 2.0
    stride_fs: float = 100.0
    timestep_fs: float = 2.0
    friction: float = 5.0
    ewald_tolerance: float = 1e-6
    model: TosiFumi = field(default_factory=TosiFumi)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["temperatures"] = list(self.temperatures)
        d["model"] = self.model.to_dict()
        return d


@dataclass(frozen=True)
class MoltenNaCl:
    """Snapshots of molten NaCl with their reference energies and forces.

    Attributes:
        frames: periodic ``ase.Atoms`` (initial charges ±1 set).
        energy: ``(n,)`` potential energies (eV).
        forces: one ``(n_atoms, 3)`` array (eV/Å) per frame.
        temperature: ``(n,)`` thermostat temperature of each snapshot (K).
        trajectory: ``(n,)`` index of the trajectory each snapshot comes from.
    """

    frames: list
    energy: np.ndarray
    forces: list
    temperature: np.ndarray
    trajectory: np.ndarray


def _steps(ps: float, timestep_fs: float) -> int:
    return max(1, round(ps * 1e3 / timestep_fs))


def _start(engine, atoms, temperature: float, protocol: Protocol, seed: int) -> None:
    """Lattice → melt → equilibrate at ``temperature`` (Langevin)."""
    dt = protocol.timestep_fs
    engine.set_positions(atoms.positions)
    engine.use_langevin(protocol.melt_temperature, protocol.friction, dt, seed)
    engine.thermalize(protocol.melt_temperature, seed)
    engine.step(_steps(protocol.melt_ps, dt))
    engine.use_langevin(temperature, protocol.friction, dt, seed + 1)
    engine.step(_steps(protocol.equilibrate_ps, dt))


def _check_count(n_structures) -> None:
    if int(n_structures) != n_structures or n_structures < 1:
        raise InvalidParameterError(f"n_structures must be a positive integer, got {n_structures}")


def generate(n_structures: int, protocol: Protocol, seed: int) -> dict[str, np.ndarray]:
    """The arrays of :func:`molten_nacl` (no cache)."""
    from .nacl_engine import Engine

    _check_count(n_structures)
    if protocol.n_trajectories < 1 or not protocol.temperatures:
        raise InvalidParameterError("the protocol needs at least one trajectory and temperature")
    n_traj = min(int(n_structures), protocol.n_trajectories)
    per = -(-int(n_structures) // n_traj)
    stride = _steps(protocol.stride_fs * 1e-3, protocol.timestep_fs)
    rng = np.random.default_rng(seed)
    out: dict[str, list] = {k: [] for k in ("positions", "cells", "energy", "forces", "T", "traj")}
    numbers = None
    for k in range(n_traj):
        temperature = protocol.temperatures[k % len(protocol.temperatures)]
        atoms = rock_salt(protocol.n_cells, liquid_density(temperature))
        numbers = atoms.numbers
        engine = Engine(
            atoms.numbers,
            atoms.cell[:],
            protocol.model,
            ewald_tolerance=protocol.ewald_tolerance,
        )
        _start(engine, atoms, temperature, protocol, int(rng.integers(1, 2**30)))
        for _ in range(per):
            engine.step(stride)
            state = engine.state()
            out["positions"].append(state["positions"])
            out["cells"].append(atoms.cell[:].copy())
            out["energy"].append(state["energy"])
            out["forces"].append(state["forces"])
            out["T"].append(temperature)
            out["traj"].append(k)
    order = rng.permutation(len(out["energy"]))[: int(n_structures)]
    return {
        "numbers": np.asarray(numbers, dtype=np.int32),
        "positions": np.asarray(out["positions"])[order],
        "cells": np.asarray(out["cells"])[order],
        "energy": np.asarray(out["energy"])[order],
        "forces": np.asarray(out["forces"])[order],
        "temperature": np.asarray(out["T"])[order],
        "trajectory": np.asarray(out["traj"], dtype=np.int32)[order],
    }


def _frames(numbers, positions, cells) -> list:
    import ase

    frames = []
    for r, cell in zip(positions, cells, strict=True):
        atoms = ase.Atoms(numbers=numbers, positions=r, cell=cell, pbc=True)
        atoms.set_initial_charges(charges_of(numbers))
        frames.append(atoms)
    return frames


def molten_nacl(
    n_structures: int = 300,
    seed: int = 0,
    protocol: Protocol | None = None,
    cache_dir=None,
) -> MoltenNaCl:
    """Snapshots of molten NaCl boxes with Tosi–Fumi + Ewald energies and forces.

    Generated by OpenMM (``pip install 'lode_rs[datasets]'``) as the module docs describe, and
    cached under ``cache_dir`` (default ``$LODE_RS_CACHE`` or ``~/.cache/lode_rs``) keyed by
    the protocol, ``n_structures``, ``seed`` and the package version. The snapshots are in a
    random order (the seed's), so any leading subset mixes trajectories and temperatures; use
    another seed for an independent test set.
    """
    _check_count(n_structures)
    protocol = protocol or Protocol()
    key = dict(protocol.to_dict(), n_structures=int(n_structures), seed=int(seed))
    key.update(version=__version__, format=1)
    arrays, _ = cached(
        f"molten_nacl-n{int(n_structures)}-seed{int(seed)}-{digest(key)}.npz",
        key,
        lambda: generate(n_structures, protocol, int(seed)),
        npz(compress=True),
        cache_dir=cache_dir,
    )
    return MoltenNaCl(
        frames=_frames(arrays["numbers"], arrays["positions"], arrays["cells"]),
        energy=arrays["energy"],
        forces=list(arrays["forces"]),
        temperature=arrays["temperature"],
        trajectory=arrays["trajectory"],
    )


@dataclass(frozen=True)
class NaClRun:
    """An NVE run of the reference model (:func:`molten_nacl_md`).

    Attributes:
        start: the ``ase.Atoms`` the NVE run starts from, velocities set (ASE units).
        positions: ``(n_frames, n_atoms, 3)`` recorded positions (Å, wrapped).
        time: ``(n_frames,)`` time of each record (fs; the start is 0).
        potential, kinetic: ``(n_frames,)`` energies (eV).
        timestep: the NVE time step (fs).
    """

    start: object
    positions: np.ndarray
    time: np.ndarray
    potential: np.ndarray
    kinetic: np.ndarray
    timestep: float


def run_reference_md(
    n_cells: int,
    temperature: float,
    *,
    equilibrate_ps: float,
    nve_ps: float,
    timestep_fs: float,
    record_every: int,
    seed: int,
    model: TosiFumi | None = None,
) -> dict[str, np.ndarray]:
    """The arrays of :func:`molten_nacl_md` (no cache)."""
    from .nacl_engine import Engine

    protocol = Protocol(n_cells=int(n_cells), equilibrate_ps=equilibrate_ps)
    model = model or protocol.model
    atoms = rock_salt(n_cells, liquid_density(temperature))
    engine = Engine(atoms.numbers, atoms.cell[:], model)
    _start(engine, atoms, temperature, protocol, int(seed) + 1)
    engine.use_verlet(timestep_fs)
    first = engine.state()
    records = [first]
    for _ in range(_steps(nve_ps, timestep_fs) // record_every):
        engine.step(record_every)
        records.append(engine.state())
    return {
        "numbers": atoms.numbers.astype(np.int32),
        "cell": atoms.cell[:].copy(),
        "velocities": first["velocities"],
        "positions": np.asarray([r["positions"] for r in records]),
        "time": np.arange(len(records)) * record_every * float(timestep_fs),
        "potential": np.asarray([r["energy"] for r in records]),
        "kinetic": np.asarray([r["kinetic"] for r in records]),
    }


def molten_nacl_md(
    n_cells: int = 3,
    temperature: float = 1200.0,
    *,
    equilibrate_ps: float = 5.0,
    nve_ps: float = 5.0,
    timestep_fs: float = 1.0,
    record_every: int = 20,
    seed: int = 0,
    cache_dir=None,
) -> NaClRun:
    """An NVE run of ``8 n_cells³`` ions of the reference model with OpenMM (cached).

    Rock-salt lattice at the liquid density of ``temperature``, melted and equilibrated with a
    Langevin thermostat (:class:`Protocol`'s melt, then ``equilibrate_ps`` at ``temperature``),
    then velocity Verlet for ``nve_ps`` at ``timestep_fs``, recording every ``record_every``
    steps.
    """
    if int(record_every) != record_every or record_every < 1:
        raise InvalidParameterError(f"record_every must be an integer >= 1, got {record_every}")
    settings = {
        "n_cells": int(n_cells),
        "temperature": float(temperature),
        "equilibrate_ps": float(equilibrate_ps),
        "nve_ps": float(nve_ps),
        "timestep_fs": float(timestep_fs),
        "record_every": int(record_every),
        "seed": int(seed),
    }
    key = dict(settings, model=TosiFumi().to_dict(), version=__version__, format=1)
    arrays, _ = cached(
        f"molten_nacl_md-{digest(key)}.npz",
        key,
        lambda: run_reference_md(**settings),
        npz(compress=True),
        cache_dir=cache_dir,
    )
    start = _frames(arrays["numbers"], arrays["positions"][:1], arrays["cell"][None])[0]
    start.set_velocities(arrays["velocities"])
    return NaClRun(
        start=start,
        positions=arrays["positions"],
        time=arrays["time"],
        potential=arrays["potential"],
        kinetic=arrays["kinetic"],
        timestep=float(timestep_fs),
    )
