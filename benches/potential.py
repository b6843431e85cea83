"""Cost of a SOAP potential: fitting with forces, and a force call against an energy-only call.

A :class:`lode_rs.Potential` (SOAP power spectrum, cutoff 4 Å, σ 0.5 Å, n_max 6, l_max 4,
sparse GPR ζ = 2 on ``--n-sparse`` environments) is fitted on the Ewald energies and forces of
``--train`` 64-atom Na/Cl gases (fit time and the size of the force design matrix), then
timed on one gas of each size in ``--atoms`` (the 64-atom density): ``predict`` with energies
only, and with energies + forces (the backward pass). Best of ``--repeat`` after a warm-up; one
thread unless ``--threads``. Prints a Markdown table. Run: ``python benches/potential.py``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import lode_rs


def best(work, repeat: int) -> float:
    work()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=int, default=100)
    parser.add_argument("--n-sparse", type=int, default=500)
    parser.add_argument("--atoms", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="--test-sized run")
    parser.add_argument("--test", action="store_true", help="smoke run (CI)")
    args = parser.parse_args()
    if args.quick or args.test:
        args.train, args.n_sparse, args.atoms, args.repeat = 10, 100, [512], 1
    frames = lode_rs.datasets.random_ionic_gas(args.train, seed=0)
    energies, forces, _ = lode_rs.electrostatic_energy(frames, forces=True)
    soap = lode_rs.SoapExpansion(
        cutoff=4.0, smearing=0.5, n_max=6, l_max=4, species=[11, 17], n_threads=args.threads
    )
    pot = lode_rs.Potential(
        lode_rs.PowerSpectrum(soap),
        lode_rs.models.SparseGPR(
            kernel=lode_rs.models.PolynomialKernel(zeta=2), n_sparse=args.n_sparse
        ),
        regularizers={"energy": 1e-3, "forces": 1e-2},
    )
    start = time.perf_counter()
    pot.fit(frames, energy=energies, forces=forces)
    fit = time.perf_counter() - start
    rows = 3 * 64 * args.train
    print(
        f"fit on {args.train} gases of 64 atoms (energies + {rows} force components, "
        f"{args.n_sparse} active environments): {fit:.1f} s; force design "
        f"{rows * args.n_sparse * 8 / 2**20:.0f} MiB"
    )
    print("| atoms | energy only (s) | energy + forces (s) | ratio |")
    print("|---|---|---|---|")
    for n_atoms in args.atoms:
        box = 16.0 * (n_atoms / 64) ** (1 / 3)
        (big,) = lode_rs.datasets.random_ionic_gas(1, n_atoms=n_atoms, box_range=(box, box), seed=1)
        energy = best(lambda big=big: pot.predict([big], forces=False, stress=False), args.repeat)
        both = best(lambda big=big: pot.predict([big], forces=True, stress=False), args.repeat)
        print(f"| {n_atoms} | {energy:.3f} | {both:.3f} | {both / energy:.2f} |")
    assert np.isfinite(fit)


if __name__ == "__main__":
    main()
