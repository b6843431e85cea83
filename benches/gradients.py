"""Cost of gradients: Jacobians against featomic, and the backward pass against the values.

Cases (same hyperparameters as ``benches/compare.py``: SOAP cutoff 6 Å, σ 0.5 Å, n_max 6,
l_max 4, Na/Cl gases of 64 atoms per (16 Å)³), all on one thread, in one run:

* ``soap-batch``: the SOAP power spectrum of the first ``--batch`` 64-atom gases of the
  compare.py batch: values; values + positions Jacobian (lode_rs and featomic
  ``gradients=["positions"]``); the backward pass of a random cotangent (lode_rs).
* ``soap-large``: one gas of ``--atoms`` atoms: values and backward pass of the power spectrum
  and of the SOAP expansion itself.

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
SPECIES = [11, 17]


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
    args = parser.parse_args()
    if args.quick:
        args.batch, args.atoms, args.repeat = 2, 200, 1

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
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
