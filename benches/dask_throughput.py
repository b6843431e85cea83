"""Throughput of lode_rs.distributed.compute with 1 and 2 Dask workers against the in-process call.

    python benches/dask_throughput.py [--n-structures 400] [--chunk-size 25] [--repeats 3]

Every configuration computes the same features (SOAP ⊗ LODE power spectrum of random Na/Cl
gases) with one thread per task: in-process with 1 and 2 threads, then on a LocalCluster of 1
and 2 worker processes (one thread each), after a warm-up run that starts the workers and their
thread pools. Reports the best of ``--repeats`` wall times, structures per second, and the
overhead of Dask against the in-process call with the same total number of threads.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

import lode_rs
import lode_rs.distributed as ld


def best_time(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    from dask.distributed import Client, LocalCluster

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n-structures", type=int, default=400)
    parser.add_argument("--n-atoms", type=int, default=32)
    parser.add_argument("--chunk-size", type=int, default=25)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    frames = lode_rs.datasets.random_ionic_gas(
        args.n_structures, n_atoms=args.n_atoms, box_range=(10.0, 12.0), min_distance=2.0, seed=0
    )
    soap = lode_rs.SoapExpansion(cutoff=4.0, smearing=0.3, n_max=6, l_max=4)
    lode = lode_rs.LodeExpansion(cutoff=4.0, smearing=1.0, n_max=6, l_max=4)
    calc = lode_rs.PowerSpectrum(soap, lode).fix_species(frames)
    reference = calc.compute(frames[:2], n_threads=1)  # warm-up

    rows = []
    for threads in (1, 2):
        seconds = best_time(lambda t=threads: calc.compute(frames, n_threads=t), args.repeats)
        rows.append((f"in-process, {threads} thread(s)", threads, seconds))
    reference = calc.compute(frames, n_threads=1)
    for workers in (1, 2):
        with (
            LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            Client(cluster) as client,
        ):

            def run(c=client):
                return ld.compute(
                    calc, frames, client=c, chunk_size=args.chunk_size, show_progress=False
                )

            result = run()  # warm-up: worker imports, first tasks
            assert np.array_equal(result.values, reference.values), "not bitwise equal"
            seconds = best_time(run, args.repeats)
            rows.append((f"Dask, {workers} worker(s), gathered", workers, seconds))

            def write(c=client):
                with tempfile.TemporaryDirectory() as out:
                    ld.compute(
                        calc,
                        frames,
                        client=c,
                        chunk_size=args.chunk_size,
                        output=out,
                        show_progress=False,
                    )

            seconds = best_time(write, args.repeats)
            rows.append((f"Dask, {workers} worker(s), npz per chunk", workers, seconds))

    n_atoms = reference.values.shape[0]
    print(
        f"{args.n_structures} structures x {args.n_atoms} atoms, SOAP ⊗ LODE power spectrum "
        f"({reference.values.shape[1]} features), chunks of {args.chunk_size}"
    )
    print(f"{'configuration':34s} {'time (s)':>9s} {'structures/s':>13s} {'overhead':>9s}")
    in_process = {threads: seconds for name, threads, seconds in rows if "in-process" in name}
    for name, threads, seconds in rows:
        overhead = "" if "in-process" in name else f"{seconds / in_process[threads] - 1:+.0%}"
        print(f"{name:34s} {seconds:9.3f} {args.n_structures / seconds:13.1f} {overhead:>9s}")
    per_structure = in_process[1] / args.n_structures
    print(
        f"in-process cost: {per_structure * 1e3:.2f} ms per structure, "
        f"{in_process[1] / n_atoms * 1e6:.1f} µs per atom (1 thread)"
    )


if __name__ == "__main__":
    main()
