"""SOAP power spectrum throughput: lode_rs against dscribe, side by side, same structures.

The issue's benchmark: 100 random periodic Na/Cl gases of 64 atoms (cubic boxes 12–20 Å, no pair
closer than 2.5 Å), cutoff 6 Å, n_max 6, l_max 4, σ 0.5 Å. dscribe is optional
(``pip install dscribe``); without it only lode_rs is timed.

Run: ``python benches/soap_vs_dscribe.py [--repeats 5]``. Prints atoms per second (best of the
repeats) and the ratios; writes nothing else.
"""

from __future__ import annotations

import argparse
import time

import lode_rs

HYPERS = dict(cutoff=6.0, n_max=6, l_max=4, smearing=0.5)


def best_time(work, repeats: int) -> float:
    work()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--n-structures", type=int, default=100)
    args = parser.parse_args()

    frames = lode_rs.datasets.random_ionic_gas(args.n_structures, seed=2024)
    n_atoms = sum(len(f) for f in frames)
    rows = []
    for threads in (1, 2):
        soap = lode_rs.SoapExpansion(**HYPERS, species=[11, 17], n_threads=threads)
        calc = lode_rs.PowerSpectrum(soap)
        rows.append(
            (
                f"lode_rs, {threads} thread(s)",
                best_time(lambda c=calc: c.compute(frames), args.repeats),
            )
        )
    try:
        from dscribe.descriptors import SOAP
    except ImportError:
        print("dscribe is not installed (pip install dscribe): timing lode_rs only")
    else:
        dscribe = SOAP(
            species=["Na", "Cl"],
            r_cut=HYPERS["cutoff"],
            n_max=HYPERS["n_max"],
            l_max=HYPERS["l_max"],
            sigma=HYPERS["smearing"],
            periodic=True,
            rbf="gto",
        )
        for jobs in (1, 2):
            rows.append(
                (
                    f"dscribe, n_jobs={jobs}",
                    best_time(lambda j=jobs: dscribe.create(frames, n_jobs=j), args.repeats),
                )
            )
    print(f"{args.n_structures} structures, {n_atoms} atoms; cutoff 6 Å, n_max 6, l_max 4, σ 0.5 Å")
    print(f"{'code':<24} {'time (ms)':>10} {'atoms/s':>12}")
    for name, t in rows:
        print(f"{name:<24} {t * 1e3:>10.1f} {n_atoms / t:>12,.0f}")
    if len(rows) == 4:
        lode1, lode2, ds1, _ = (t for _, t in rows)
        print(f"lode_rs 1 thread vs dscribe 1 job: {ds1 / lode1:.2f}x")
        print(f"lode_rs 2 threads vs dscribe 1 job: {ds1 / lode2:.2f}x")
        print(f"lode_rs 2 threads vs 1 thread: {lode1 / lode2:.2f}x")


if __name__ == "__main__":
    main()
