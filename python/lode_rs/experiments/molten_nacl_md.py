"""Molecular dynamics analysis of the molten-NaCl experiment: NVE runs of fitted potentials,
radial distribution functions and energy drift.

- :func:`run_nve`: velocity Verlet (ASE) with a potential's calculator from a given start
  (positions and velocities), recording positions and energies, stopped early (and reported
  as unstable) when the run blows up.
- :func:`rdf`: partial radial distribution functions ``g_ab(r)`` of a trajectory in a cubic box
  (minimum image, ``r < L/2``), ``g_ab(r) = V ⟨n_ab(r, r+dr)⟩ / (N_a N'_b 4π r² dr)`` with
  ``N'_b = N_b − δ_ab`` (ordered pairs, no self pairs).
- :func:`drift`: the least-squares slope of the total energy per atom against time.
"""

from __future__ import annotations

import numpy as np

#: the three partial RDFs, as atomic-number pairs
PAIRS = ((11, 11), (11, 17), (17, 17))
PAIR_NAMES = ("Na–Na", "Na–Cl", "Cl–Cl")

#: a run is stopped as unstable when two ions come closer than this (Å) ...
MIN_DISTANCE = 1.2
#: ... or when its total energy moves by more than this (eV/atom) from the start
MAX_ENERGY_CHANGE = 0.5


def _min_distance(positions: np.ndarray, side: np.ndarray) -> float:
    d = positions[:, None, :] - positions[None, :, :]
    d -= side * np.round(d / side)
    r2 = np.einsum("ijk,ijk->ij", d, d)
    np.fill_diagonal(r2, np.inf)
    return float(np.sqrt(r2.min()))


def run_nve(start, calculator, *, timestep_fs: float, n_steps: int, record_every: int) -> dict:
    """Velocity Verlet from ``start`` (``ase.Atoms`` with velocities) with ``calculator``.

    Returns:
        ``positions`` ``(n_records, n_atoms, 3)`` (wrapped), ``time`` (fs), ``potential`` and
        ``kinetic`` (eV), ``stable`` (False if stopped early: ions closer than
        :data:`MIN_DISTANCE` or total energy off by :data:`MAX_ENERGY_CHANGE` eV/atom, or a
        non-finite energy), ``seconds_per_step``.
    """
    import time

    from ase import units
    from ase.md.verlet import VelocityVerlet

    atoms = start.copy()
    atoms.set_velocities(start.get_velocities())
    atoms.calc = calculator
    side = np.diag(atoms.cell[:])
    n = len(atoms)
    dyn = VelocityVerlet(atoms, timestep=timestep_fs * units.fs)
    records: dict[str, list] = {"positions": [], "time": [], "potential": [], "kinetic": []}

    def record(step: int) -> bool:
        e_pot = float(atoms.get_potential_energy())
        e_kin = float(atoms.get_kinetic_energy())
        records["positions"].append(atoms.get_positions(wrap=True))
        records["time"].append(step * timestep_fs)
        records["potential"].append(e_pot)
        records["kinetic"].append(e_kin)
        total = np.array(records["potential"]) + np.array(records["kinetic"])
        return (
            np.isfinite(e_pot)
            and abs(total[-1] - total[0]) / n < MAX_ENERGY_CHANGE
            and _min_distance(atoms.positions, side) > MIN_DISTANCE
        )

    stable = record(0)
    begin = time.perf_counter()
    steps = 0
    while stable and steps < n_steps:
        dyn.run(record_every)
        steps += record_every
        stable = record(steps)
    elapsed = time.perf_counter() - begin
    return {
        "positions": np.asarray(records["positions"]),
        "time": np.asarray(records["time"]),
        "potential": np.asarray(records["potential"]),
        "kinetic": np.asarray(records["kinetic"]),
        "stable": bool(stable),
        "seconds_per_step": elapsed / max(steps, 1),
    }


def rdf(positions: np.ndarray, numbers, side: float, *, n_bins: int = 100):
    """Partial RDFs of a cubic-box trajectory ``(n_frames, n_atoms, 3)``.

    Returns:
        ``(r, g)``: bin centres ``(n_bins,)`` up to ``side/2`` and ``g`` of shape
        ``(len(PAIRS), n_bins)`` in the order of :data:`PAIRS`.
    """
    numbers = np.asarray(numbers)
    edges = np.linspace(0.0, side / 2, n_bins + 1)
    r = 0.5 * (edges[1:] + edges[:-1])
    shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    volume = side**3
    g = np.zeros((len(PAIRS), n_bins))
    for frame in positions:
        d = frame[:, None, :] - frame[None, :, :]
        d -= side * np.round(d / side)
        dist = np.sqrt(np.einsum("ijk,ijk->ij", d, d))
        for k, (a, b) in enumerate(PAIRS):
            block = dist[np.ix_(numbers == a, numbers == b)]
            if a == b:
                block = block[~np.eye(len(block), dtype=bool)]
            g[k] += np.histogram(block, bins=edges)[0]
    for k, (a, b) in enumerate(PAIRS):
        n_a = np.count_nonzero(numbers == a)
        n_b = np.count_nonzero(numbers == b) - (a == b)
        g[k] *= volume / (n_a * n_b * shell * len(positions))
    return r, g


def rdf_difference(g: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``∫|g − g_ref| dr / ∫ g_ref dr`` for each pair (0: identical), on :func:`rdf`'s uniform
    bins."""
    return np.sum(np.abs(g - reference), axis=1) / np.sum(reference, axis=1)


def drift(time_fs: np.ndarray, total: np.ndarray, n_atoms: int) -> tuple[float, float]:
    """``(slope, fluctuation)``: least-squares slope of the total energy per atom against time
    (meV/atom/ps) and the standard deviation of its residual (meV/atom)."""
    t = np.asarray(time_fs) * 1e-3
    e = np.asarray(total) / n_atoms * 1e3
    if len(t) < 3:
        return float("nan"), float("nan")
    slope, intercept = np.polyfit(t, e, 1)
    return float(slope), float(np.std(e - (slope * t + intercept)))
