"""Cost of a potential: fitting with forces, a force call against an energy-only call, and an MD
step, for a SOAP or a SOAP + LODE recipe.

Recipes (``--recipe``): ``soap`` — SOAP power spectrum (cutoff 4 Å, σ 0.5 Å, n_max 6, l_max 4);
``soap+lode`` — the same plus LODE ν = 1 (p = 1, cutoff 3 Å, σ 1 Å, n_max 4, l_max 0,
``method="reciprocal"``: the periodic route with LODE Jacobians today). Sparse GPR ζ = 2 on
``--n-sparse`` environments, fitted on the Ewald energies and forces of ``--train`` 64-atom
Na/Cl gases (fit time, the size of the force design matrix, peak memory of the process), then
timed on one gas of each size in
``--atoms`` (the 64-atom density): ``predict`` with energies only, with energies + forces (the
backward pass), and one velocity-Verlet step of ASE with the potential's calculator (forces
only, as MD asks), with the LODE block computed by each method of ``--methods`` (the fitted
weights are kept: routes agree to the accuracy; the reciprocal sum, O(N²), is skipped above
``--max-reciprocal`` atoms). Best of ``--repeat`` after a warm-up; one thread unless
``--threads`` (``--repeat 0``: one energy call as the warm-up, then one timed call each and no
MD step, for the largest sizes). A route without gradients yet is reported as such. The MD
step is timed with the LODE calculators' per-cell cache (plans, k-vectors, mesh modes kept
while the cell is unchanged) and, in the same run, without it (``set_cell_cache(False)``;
``--no-uncached`` skips that), interleaved step by step; ``--cpu-time`` reports CPU times (the
work of a one-thread run on a loaded machine). Prints Markdown tables, with the machine's load.

Run: ``python benches/potential.py [--recipe soap+lode] [--atoms 1000 10000 100000]``;
``--fit-only`` skips the timings (the 1 000-structure fit: ``--train 1000 --fit-only``; its
LODE block on ``--fit-method``, default ``auto``), ``--no-fit`` fits on energies of ten gases
only (the timings do not depend on the fitted weights).
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

import lode_rs
from lode_rs._lode_rs import testing


def best(work, repeat: int, clock=time.perf_counter) -> float:
    """Best of ``repeat`` timed calls after a warm-up call; ``repeat = 0``: one timed call (the
    caller warms up, for the largest sizes)."""
    if repeat == 0:
        start = clock()
        work()
        return clock() - start
    work()
    times = []
    for _ in range(repeat):
        start = clock()
        work()
        times.append(clock() - start)
    return min(times)


def peak_memory_mib() -> float:
    """Peak resident memory of this process so far (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def lode_expansion(threads: int, method: str):
    return lode_rs.LodeExpansion(
        cutoff=3.0,
        smearing=1.0,
        n_max=4,
        l_max=0,
        species=[11, 17],
        method=method,
        n_threads=threads,
    )


def load() -> str:
    """The 1, 5 and 15 minute load averages."""
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def recipe(name: str, threads: int, method: str = "reciprocal") -> list:
    soap = lode_rs.SoapExpansion(
        cutoff=4.0, smearing=0.5, n_max=6, l_max=4, species=[11, 17], n_threads=threads
    )
    blocks = [lode_rs.PowerSpectrum(soap)]
    if name == "soap+lode":
        blocks.append(lode_rs.potential.RadialSpectrum(lode_expansion(threads, method)))
    return blocks


def fit(args) -> lode_rs.Potential:
    n_train = 10 if args.no_fit else args.train
    frames = lode_rs.datasets.random_ionic_gas(n_train, seed=0)
    energies, forces, _ = lode_rs.electrostatic_energy(frames, forces=True)
    pot = lode_rs.Potential(
        recipe(args.recipe, args.threads, args.fit_method),
        lode_rs.models.SparseGPR(
            kernel=lode_rs.models.PolynomialKernel(zeta=2), n_sparse=args.n_sparse
        ),
        regularizers={"energy": 1e-3, "forces": 1e-2},
    )
    before = peak_memory_mib()
    start, cpu = time.perf_counter(), time.process_time()
    pot.fit(frames, energy=energies, forces=None if args.no_fit else forces)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    if args.no_fit:
        print(f"fitted on the energies of {n_train} gases ({seconds:.1f} s)")
        return pot
    rows = 3 * 64 * n_train
    print(
        f"{args.recipe}: fit on {n_train} gases of 64 atoms (energies + {rows} force components, "
        f"{args.n_sparse} active environments): {seconds:.1f} s ({cpu:.1f} s CPU); force design "
        f"{rows * args.n_sparse * 8 / 2**20:.0f} MiB; peak memory {peak_memory_mib():.0f} MiB "
        f"(before fitting {before:.0f} MiB); LODE on {args.fit_method}; load {load()}",
        flush=True,
    )
    return pot


def md_steps(
    pot, atoms, repeat: int, uncached: bool, cpu: bool = False
) -> tuple[float, float | None]:
    """Best time of one velocity-Verlet step with the cell cache and, when ``uncached``, without
    it: the two interleaved step by step (``repeat`` each, after a warm-up step of each), so
    that a change of the machine's load hits both alike; with ``cpu``, the process's CPU time
    (the work of a one-thread run, whatever the load) instead of the elapsed time."""
    clock = time.process_time if cpu else time.perf_counter
    from ase import units
    from ase.md.verlet import VelocityVerlet

    atoms = atoms.copy()
    atoms.calc = pot.calculator()
    rng = np.random.default_rng(0)
    atoms.set_velocities(0.01 * rng.standard_normal((len(atoms), 3)))
    dyn = VelocityVerlet(atoms, timestep=1.0 * units.fs)
    modes = [True, False] if uncached else [True]
    times: dict[bool, list[float]] = {mode: [] for mode in modes}
    previous = testing.set_cell_cache(True)
    try:
        for r in range(repeat + 1):
            for mode in modes:
                testing.set_cell_cache(mode)
                start = clock()
                dyn.run(1)
                if r > 0:
                    times[mode].append(clock() - start)
    finally:
        testing.set_cell_cache(previous)
    return min(times[True]), (min(times[False]) if uncached else None)


def timings(pot, args) -> None:
    print(f"\n{args.recipe}, {args.threads} thread(s), load {load()}")
    unit = "CPU s" if args.cpu_time else "s"
    print(
        f"| atoms | LODE route | energy only ({unit}) | energy + forces ({unit}) | ratio "
        f"| MD step ({unit}) "
        f"| MD step, no cell cache ({unit}) |"
    )
    print("|---|---|---|---|---|---|---|")
    lode_block = next(
        (b for b in pot.blocks if isinstance(b.invariant, lode_rs.potential.RadialSpectrum)), None
    )
    methods = args.methods if lode_block is not None else ["–"]
    for n_atoms in args.atoms:
        box = 16.0 * (n_atoms / 64) ** (1 / 3)
        (big,) = lode_rs.datasets.random_ionic_gas(1, n_atoms=n_atoms, box_range=(box, box), seed=1)
        for method in methods:
            route = "–"
            if lode_block is not None:
                if method == "reciprocal" and n_atoms > args.max_reciprocal:
                    continue
                lode_block.invariant.first = lode_expansion(args.threads, method)
                route = lode_block.invariant.first.routes([big])[0]["route"]
            clock = time.process_time if args.cpu_time else time.perf_counter
            if args.repeat == 0:
                # one untimed energy call builds the route's tables
                pot.predict([big], forces=False, stress=False)
            energy = best(
                lambda big=big: pot.predict([big], forces=False, stress=False), args.repeat, clock
            )
            try:
                both = best(
                    lambda big=big: pot.predict([big], forces=True, stress=False),
                    args.repeat,
                    clock,
                )
            except lode_rs.InvalidParameterError as error:
                reason = str(error).split(";")[0]
                print(f"| {n_atoms} | {route} | {energy:.3f} | {reason} | – | – | – |", flush=True)
                continue
            if args.repeat == 0:
                # one call each, no MD step (its first step computes the forces twice)
                step, uncached = float("nan"), None
            else:
                step, uncached = md_steps(pot, big, args.repeat, args.uncached, args.cpu_time)
            print(
                f"| {n_atoms} | {route} | {energy:.3f} | {both:.3f} | {both / energy:.2f} | "
                f"{step:.3f} | {'–' if uncached is None else f'{uncached:.3f}'} |",
                flush=True,
            )
    print(f"peak memory {peak_memory_mib():.0f} MiB; load {load()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipe", choices=["soap", "soap+lode"], default="soap+lode")
    parser.add_argument("--methods", nargs="+", default=["reciprocal", "auto"])
    parser.add_argument("--max-reciprocal", type=int, default=10000)
    parser.add_argument("--train", type=int, default=100)
    parser.add_argument("--n-sparse", type=int, default=500)
    parser.add_argument("--atoms", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--fit-method", default="auto")
    parser.add_argument(
        "--cpu-time", action="store_true", help="CPU times (one thread, loaded machine)"
    )
    parser.add_argument("--no-uncached", dest="uncached", action="store_false")
    parser.add_argument("--fit-only", action="store_true")
    parser.add_argument("--no-fit", action="store_true")
    parser.add_argument("--quick", action="store_true", help="--test-sized run")
    parser.add_argument("--test", action="store_true", help="smoke run (CI)")
    args = parser.parse_args()
    if args.quick or args.test:
        args.train, args.n_sparse, args.atoms, args.repeat = 4, 100, [512], 1
    pot = fit(args)
    if not args.fit_only:
        timings(pot, args)


if __name__ == "__main__":
    main()
