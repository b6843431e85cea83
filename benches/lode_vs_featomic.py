"""LODE speed, accuracy and memory: lode_rs against featomic 0.6, side by side, same structures.

p = 1, σ = 1 Å, r_c = 3 Å, n_max 6, l_max 4 (the issue's settings). featomic is optional
(``pip install featomic``); without it only lode_rs is measured. Every measurement runs in a
child process so that its peak memory (max RSS) and thread count are its own.

1. ``batch``: 100 random 64-atom Na/Cl gases (cubic boxes 12–20 Å, d_min 2.5 Å), one thread:
   time per structure, and the error of each code against a converged reference (lode_rs at
   accuracy 1e-10, itself equal to featomic at k_cutoff 8 Å⁻¹ to 1e-8).
2. ``scaling``: one gas at 64 atoms / 16³ Å³ with N atoms, all threads: time and peak memory;
   growth exponent fitted over the sizes measured.

Run: ``python benches/lode_vs_featomic.py [--sizes 216 1000 2000 8000 16000]
[--featomic-max 2000]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HYPERS = dict(cutoff=3.0, smearing=1.0, n_max=6, l_max=4)


def gas(n_atoms: int, seed: int):
    import lode_rs

    side = 16.0 * (n_atoms / 64) ** (1 / 3)
    return lode_rs.datasets.random_ionic_gas(1, n_atoms=n_atoms, box_range=(side, side), seed=seed)[
        0
    ]


def featomic_calculator(k_cutoff=None):
    import featomic
    from featomic.basis import Gto, TensorProduct
    from featomic.density import SmearedPowerLaw

    return featomic.LodeSphericalExpansion(
        density=SmearedPowerLaw(smearing=HYPERS["smearing"], exponent=1),
        basis=TensorProduct(
            max_angular=HYPERS["l_max"],
            radial=Gto(max_radial=HYPERS["n_max"] - 1, radius=HYPERS["cutoff"]),
        ),
        k_cutoff=k_cutoff,
    )


def featomic_values(tensor, frames):
    offsets = np.cumsum([0] + [len(f) for f in frames])
    n, l_max = HYPERS["n_max"], HYPERS["l_max"]
    out = np.zeros((offsets[-1], 2, n, (l_max + 1) ** 2))
    for key, block in tensor.items():
        l = key["o3_lambda"]
        a = [11, 17].index(key["neighbor_type"])
        s = block.samples.values
        out[offsets[s[:, 0]] + s[:, 1], a, :, l * l : (l + 1) ** 2] = np.transpose(
            block.values, (0, 2, 1)
        )
    return out


def child(args) -> None:
    """One measurement; prints a JSON line with the time, peak RSS and (batch) the error."""
    import resource

    import lode_rs

    result = {}
    if args.task == "batch":
        frames = lode_rs.datasets.random_ionic_gas(100, seed=2024)
        reference = lode_rs.LodeExpansion(**HYPERS, species=[11, 17], accuracy=1e-10)
        ref = reference.compute(frames).values
        if args.code == "lode_rs":
            calc = lode_rs.LodeExpansion(
                **HYPERS, species=[11, 17], accuracy=args.accuracy, n_threads=1
            )
            calc.compute(frames[:2])
            start = time.perf_counter()
            values = calc.compute(frames).values
        else:
            calc = featomic_calculator()
            calc.compute(frames[:2])
            start = time.perf_counter()
            values = featomic_values(calc.compute(frames), frames)
        result["seconds"] = time.perf_counter() - start
        result["error"] = float(np.abs(values - ref).max() / np.abs(ref).max())
    else:
        atoms = gas(args.n_atoms, seed=7)
        start = time.perf_counter()
        if args.code == "lode_rs":
            lode_rs.LodeExpansion(**HYPERS, species=[11, 17], accuracy=args.accuracy).compute(atoms)
        else:
            featomic_calculator().compute(atoms)
        result["seconds"] = time.perf_counter() - start
    result["max_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def run_child(task: str, code: str, threads: int | None, **kw) -> dict:
    env = dict(os.environ)
    if threads is not None:
        env["RAYON_NUM_THREADS"] = str(threads)
    cmd = [sys.executable, __file__, "--child", task, code]
    for k, v in kw.items():
        cmd += [f"--{k.replace('_', '-')}", str(v)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child", nargs=2, metavar=("TASK", "CODE"))
    parser.add_argument("--n-atoms", type=int, default=0)
    parser.add_argument("--accuracy", type=float, default=1e-6)
    parser.add_argument("--sizes", type=int, nargs="+", default=[216, 1000, 2000, 8000, 16000])
    parser.add_argument("--featomic-max", type=int, default=2000)
    parser.add_argument("--skip-batch", action="store_true")
    args = parser.parse_args()
    if args.child:
        args.task, args.code = args.child
        child(args)
        return

    try:
        import featomic  # noqa: F401

        have_featomic = True
    except ImportError:
        have_featomic = False
        print("featomic is not installed (pip install featomic): timing lode_rs only")

    print("LODE p=1, σ=1 Å, r_c=3 Å, n_max=6, l_max=4")
    if not args.skip_batch:
        print("\n100 random 64-atom Na/Cl gases, 1 thread")
        print(f"{'code':<28}{'ms/structure':>14}{'max rel. error':>16}")
        rows = {}
        for code, label in [("lode_rs", f"lode_rs (accuracy {args.accuracy:g})")] + (
            [("featomic", "featomic (default k_cutoff)")] if have_featomic else []
        ):
            r = run_child("batch", code, 1, accuracy=args.accuracy)
            rows[code] = r
            print(f"{label:<28}{r['seconds'] * 10:>14.2f}{r['error']:>16.1e}")
        if have_featomic:
            print(f"speed-up: {rows['featomic']['seconds'] / rows['lode_rs']['seconds']:.1f}x")

    print("\none periodic gas of N atoms (64 atoms per 16³ Å³), all threads")
    print(f"{'N':>7}{'lode_rs s':>12}{'MiB':>8}{'featomic s':>13}{'MiB':>8}{'ratio':>8}")
    times = []
    for n in args.sizes:
        ours = run_child("scaling", "lode_rs", None, n_atoms=n, accuracy=args.accuracy)
        times.append(ours["seconds"])
        line = f"{n:>7}{ours['seconds']:>12.3f}{ours['max_rss_mib']:>8.0f}"
        if have_featomic and n <= args.featomic_max:
            theirs = run_child("scaling", "featomic", None, n_atoms=n)
            ratio = theirs["seconds"] / ours["seconds"]
            line += f"{theirs['seconds']:>13.2f}{theirs['max_rss_mib']:>8.0f}{ratio:>8.1f}"
        print(line)
    if len(args.sizes) >= 2:
        big = [i for i, n in enumerate(args.sizes) if n >= 1000] or list(range(len(args.sizes)))
        if len(big) >= 2:
            slope = np.polyfit(
                np.log([args.sizes[i] for i in big]), np.log([times[i] for i in big]), 1
            )[0]
            print(f"growth exponent (N >= 1000): {slope:.2f}")


if __name__ == "__main__":
    main()
