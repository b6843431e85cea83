"""Time and peak memory of one periodic LODE route on one large Na/Cl gas.

Usage: python benches/lode_scaling.py N METHOD [THREADS], one measurement per process so
that the peak RSS is this route's. Prints wall time and CPU time (user + system, all threads):
on a busy machine cpu / threads estimates the wall time of an idle one. The gas has 64 atoms
per (16 Å)³, random positions; LODE p = 1, σ = 1 Å, r_c = 3 Å, n_max = 6, l_max = 4, default
accuracy (1e-6).
"""

from __future__ import annotations

import resource
import sys
import time

import ase
import numpy as np

import lode_rs


def gas(n_atoms: int, seed: int = 0) -> ase.Atoms:
    length = 16.0 * (n_atoms / 64.0) ** (1.0 / 3.0)
    rng = np.random.default_rng(seed)
    positions = rng.random((n_atoms, 3)) * length
    numbers = np.where(np.arange(n_atoms) % 2 == 0, 11, 17)
    return ase.Atoms(numbers=numbers, positions=positions, cell=[length] * 3, pbc=True)


def main() -> None:
    n_atoms, method = int(sys.argv[1]), sys.argv[2]
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    atoms = gas(n_atoms)
    calc = lode_rs.LodeExpansion(
        cutoff=3.0,
        smearing=1.0,
        n_max=6,
        l_max=4,
        species=[11, 17],
        method=method,
        n_threads=threads,
    )
    route = calc.routes(atoms)[0]
    usage = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    values = calc.compute(atoms).values
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    per_atom = elapsed / n_atoms * 1e6
    print(
        f"N={n_atoms} method={method} time={elapsed:.2f}s cpu={cpu:.2f}s "
        f"per_atom={per_atom:.1f}us "
        f"peak_rss={peak:.2f}GiB norm={np.abs(values).max():.6g} route=[{route}]"
    )


if __name__ == "__main__":
    main()
