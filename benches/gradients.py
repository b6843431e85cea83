"""Cost of gradients: Jacobians against featomic, and the backward pass against the values.

Cases (same hyperparameters as ``benches/compare.py``: SOAP cutoff 6 Å, σ 0.5 Å, n_max 6,
l_max 4, Na/Cl gases of 64 atoms per (16 Å)³), all on one thread, in one run:

* ``soap-batch``: the SOAP power spectrum of the first ``--batch`` 64-atom gases of the
  compare.py batch: values; values + positions Jacobian (lode_rs and featomic
  ``gradients=["positions"]``); the backward pass of a random cotangent (lode_rs).
* ``soap-large``: one gas of ``--atoms`` atoms: values and backward pass of the power spectrum
  and of the SOAP expansion itself.
* ``lode-reciprocal``: LODE (p = 1, σ 1 Å, r_c 3 Å, n_max 6, l_max 4, Na/Cl, the
  ``benches/compare.py`` hyperparameters and density), ``method="reciprocal"``, one gas of each
  size in ``--lode-sizes``: values, backward pass (forces and stress), their ratio, and the
  positions + strain Jacobian at the smallest size. ``--lode-forces N`` runs one backward pass
  of N atoms in a child process and reports its time and peak RSS.

Each time is the best of ``--repeat`` calls after a warm-up. Prints a Markdown table (and writes
it with ``--out``). Run: ``python benches/gradients.py [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # featomic's pool: one thread, as lode_rs

import numpy as np  # noqa: E402

SOAP = dict(cutoff=6.0, smearing=0.5, n_max=6, l_max=4)
LODE = dict(cutoff=3.0, smearing=1.0, n_max=6, l_max=4, exponent=1)
SPECIES = [11, 17]


def lode_gas(n_atoms: int, seed: int = 7):
    """One random Na/Cl gas at 64 atoms per (16 Å)³ (``benches/compare.py``)."""
    import lode_rs

    side = 16.0 * (n_atoms / 64) ** (1 / 3)
    return lode_rs.datasets.random_ionic_gas(1, n_atoms=n_atoms, box_range=(side, side), seed=seed)


def lode_reciprocal_rows(sizes, repeat: int):
    """Values, backward pass (forces + stress) and their ratio on the reciprocal route."""
    import lode_rs

    calc = lode_rs.LodeExpansion(**LODE, species=SPECIES, method="reciprocal", n_threads=1)
    rows = []
    for n in sizes:
        frames = lode_gas(n)
        cotangent = np.random.default_rng(n).normal(size=calc.compute(frames).values.shape)
        reps = repeat if n <= 1000 else 1
        values = best(lambda f=frames: calc.compute(f), reps)
        backward = best(lambda f=frames, g=cotangent: calc.backward(f, g), reps)
        cell = frames[0].cell.array
        cubic = np.allclose(cell, cell[0, 0] * np.eye(3))
        rows.append((n, values, backward, "shells" if cubic else "dense"))
    if sizes[0] > 216:
        return rows, (sizes[0], None)
    frames = lode_gas(sizes[0])
    jacobian = best(lambda: calc.compute(frames, gradients=["positions", "strain"]), 1)
    return rows, (sizes[0], jacobian)


def lode_forces_child(n: int) -> None:
    """One backward pass of an n-atom gas (forces and stress): prints seconds and peak RSS."""
    import resource

    import lode_rs

    calc = lode_rs.LodeExpansion(**LODE, species=SPECIES, method="reciprocal")
    frames = lode_gas(n)
    start = time.perf_counter()
    values = calc.compute(frames).values
    mid = time.perf_counter()
    calc.backward(frames, np.ones_like(values))
    end = time.perf_counter()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"{n} {mid - start:.2f} {end - mid:.2f} {rss:.2f}")


def best(work, repeat: int) -> float:
    work()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def featomic_soap():
    import featomic
    from featomic.basis import Gto, TensorProduct
    from featomic.cutoff import Cutoff, ShiftedCosine
    from featomic.density import Gaussian

    return featomic.SoapPowerSpectrum(
        cutoff=Cutoff(radius=SOAP["cutoff"], smoothing=ShiftedCosine(width=0.5)),
        density=Gaussian(width=SOAP["smearing"]),
        basis=TensorProduct(
            max_angular=SOAP["l_max"],
            radial=Gto(max_radial=SOAP["n_max"] - 1, radius=SOAP["cutoff"]),
        ),
    )


def main() -> None:
    import lode_rs

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke test)")
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--atoms", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--lode-sizes",
        type=lambda x: [int(n) for n in x.split(",")],
        default=[64, 216, 1000, 10000],
    )
    parser.add_argument("--lode-only", action="store_true", help="only the LODE cases")
    parser.add_argument("--lode-forces", type=int, help="forces of one N-atom gas (child process)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        lode_forces_child(args.child)
        return
    if args.quick:
        args.batch, args.atoms, args.repeat = 2, 200, 1
        args.lode_sizes = [64, 216]
    lode_lines = lode_section(args)
    if args.lode_only:
        text = "\n".join(lode_lines)
        print(text)
        if args.out:
            args.out.write_text(text + "\n")
        return

    soap = lode_rs.SoapExpansion(**SOAP, species=SPECIES, n_threads=1)
    ps = lode_rs.PowerSpectrum(soap)
    frames = lode_rs.datasets.random_ionic_gas(100, seed=2024)[: args.batch]
    rng = np.random.default_rng(0)
    cotangent = rng.normal(size=ps.compute(frames).values.shape)

    rows = []
    values = best(lambda: ps.compute(frames), args.repeat)
    jacobian = best(lambda: ps.compute(frames, gradients=["positions"]), args.repeat)
    backward = best(lambda: ps.backward(frames, cotangent), args.repeat)
    rows.append(("lode_rs power spectrum: values", values, 1.0))
    rows.append(("lode_rs: values + positions Jacobian", jacobian, jacobian / values))
    rows.append(("lode_rs: backward pass (values included)", backward, backward / values))
    featomic_jacobian = None
    try:
        calc = featomic_soap()
    except ImportError:
        calc = None
        print("featomic not installed: skipped")
    if calc is not None:
        f_values = best(lambda: calc.compute(frames), args.repeat)
        featomic_jacobian = best(lambda: calc.compute(frames, gradients=["positions"]), args.repeat)
        rows.append(("featomic power spectrum: values", f_values, f_values / values))
        rows.append(
            ("featomic: values + positions Jacobian", featomic_jacobian, featomic_jacobian / values)
        )

    side = 16.0 * (args.atoms / 64) ** (1 / 3)
    large = lode_rs.datasets.random_ionic_gas(1, n_atoms=args.atoms, box_range=(side, side), seed=7)
    c = soap.compute(large)
    g_c = rng.normal(size=c.values.shape)
    g_p = rng.normal(size=ps.compute(large).values.shape)
    large_rows = []
    for name, work in [
        ("SOAP expansion: values", lambda: soap.compute(large)),
        ("SOAP expansion: backward pass", lambda: soap.backward(large, g_c)),
        ("power spectrum: values", lambda: ps.compute(large)),
        ("power spectrum: backward pass (values included)", lambda: ps.backward(large, g_p)),
    ]:
        large_rows.append((name, best(work, args.repeat)))

    lines = [
        f"SOAP power spectrum, {args.batch} gases of 64 Na/Cl atoms, one thread "
        f"(cutoff {SOAP['cutoff']} Å, σ {SOAP['smearing']} Å, n_max {SOAP['n_max']}, "
        f"l_max {SOAP['l_max']}):",
        "",
        "| what | ms / structure | × lode_rs values |",
        "|---|---:|---:|",
    ]
    for name, seconds, ratio in rows:
        lines.append(f"| {name} | {1e3 * seconds / args.batch:.2f} | {ratio:.2f} |")
    if featomic_jacobian is not None:
        lines.append("")
        lines.append(
            f"positions Jacobian: lode_rs {featomic_jacobian / jacobian:.1f}× faster than featomic"
        )
    lines += [
        "",
        f"One gas of {args.atoms} atoms, one thread:",
        "",
        "| what | s | × values |",
        "|---|---:|---:|",
    ]
    for k, (name, seconds) in enumerate(large_rows):
        reference = large_rows[k - k % 2][1]
        lines.append(f"| {name} | {seconds:.3f} | {seconds / reference:.2f} |")
    text = "\n".join(lines + [""] + lode_lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


def lode_section(args) -> list[str]:
    import subprocess
    import sys

    rows, (n_jac, jacobian) = lode_reciprocal_rows(args.lode_sizes, args.repeat)
    lines = [
        "LODE, method=\"reciprocal\" (p = 1, σ 1 Å, r_c 3 Å, n_max 6, l_max 4, Na/Cl gases at "
        "64 atoms per (16 Å)³), one thread; backward = forces and stress of a random cotangent:",
        "",
        "| atoms | engine | values (s) | backward (s) | backward / values |",
        "|---:|---|---:|---:|---:|",
    ]
    for n, values, backward, engine in rows:
        ratio = backward / values
        lines.append(f"| {n} | {engine} | {values:.4f} | {backward:.4f} | {ratio:.2f} |")
    if jacobian is not None:
        lines += ["", f"positions + strain Jacobian, {n_jac} atoms: {jacobian:.3f} s"]
    if args.lode_forces:
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(args.lode_forces)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "RAYON_NUM_THREADS": "2"},
        ).stdout.split()
        n, values, backward, rss = out[-4:]
        lines += [
            "",
            f"{n} atoms, 2 threads: values {values} s, backward (forces + stress) {backward} s, "
            f"peak RSS {rss} GiB",
        ]
    return lines


if __name__ == "__main__":
    main()
