"""Cost of gradients: Jacobians against featomic, and the backward pass against the values.

Cases (same hyperparameters as ``benches/compare.py``: SOAP cutoff 6 Å, σ 0.5 Å, n_max 6,
l_max 4, Na/Cl gases of 64 atoms per (16 Å)³), all on one thread, in one run:

* ``soap-batch``: the SOAP power spectrum of the first ``--batch`` 64-atom gases of the
  compare.py batch: values; values + positions Jacobian (lode_rs and featomic
  ``gradients=["positions"]``); the backward pass of a random cotangent (lode_rs).
* ``soap-large``: one gas of ``--atoms`` atoms: values and backward pass of the power spectrum
  and of the SOAP expansion itself.
* ``lode-real-space``: one gas of ``--lode-atoms`` atoms, LODE (p = 1, σ 1 Å, r_c 3 Å, n_max 6,
  l_max 4; p = 0 for the pairs route) forced on the ``pairs``, ``ewald`` and ``mesh`` routes:
  values and backward pass (positions and strain) side by side, two threads.
* ``lode-forces``: forces and stress of a LODE-based energy (a linear model on the p = 1 mesh
  coefficients) for one gas of ``--forces-atoms`` atoms (default 100 000) on two threads, in a
  child process: time of the values, of the backward pass, and the child's peak RSS.

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


LODE = dict(cutoff=3.0, smearing=1.0, n_max=6, l_max=4)


def lode_gas(n_atoms: int, seed: int = 7):
    """One Na/Cl gas of ``n_atoms`` at the density of the 64-atom gases (64 per (16 Å)³)."""
    import lode_rs

    side = 16.0 * (n_atoms / 64) ** (1 / 3)
    return lode_rs.datasets.random_ionic_gas(1, n_atoms=n_atoms, box_range=(side, side), seed=seed)


def lode_real_space_rows(n_atoms: int, repeat: int) -> list[str]:
    """Values and backward pass of the periodic real-space routes, side by side."""
    import lode_rs

    frames = lode_gas(n_atoms)
    rng = np.random.default_rng(1)
    lines = [
        f"LODE routes, one gas of {n_atoms} Na/Cl atoms, two threads (σ 1 Å, r_c 3 Å, n_max 6, "
        "l_max 4):",
        "",
        "| route | values s | backward s | backward / values |",
        "|---|---:|---:|---:|",
    ]
    for exponent, method in [(0, "auto"), (1, "ewald"), (1, "mesh")]:
        calc = lode_rs.LodeExpansion(
            **LODE, exponent=exponent, method=method, species=SPECIES, n_threads=2
        )
        route = calc.routes(frames)[0]["route"]
        cotangent = rng.normal(size=calc.compute(frames).values.shape)
        values = best(lambda: calc.compute(frames), repeat)
        backward = best(lambda: calc.backward(frames, cotangent), repeat)
        lines.append(
            f"| {route} (p = {exponent}) | {values:.3f} | {backward:.3f} | {backward / values:.2f} |"
        )
    return lines


def lode_forces_child(n_atoms: int) -> None:
    """In a child process: values, then forces and stress of ``E = Σ_i w · c_i``; prints JSON."""
    import json
    import resource

    import lode_rs

    frames = lode_gas(n_atoms, seed=11)
    calc = lode_rs.LodeExpansion(**LODE, exponent=1, method="mesh", species=SPECIES, n_threads=2)
    start = time.perf_counter()
    values = calc.compute(frames).values
    t_values = time.perf_counter() - start
    weights = np.random.default_rng(3).normal(size=values.shape[1:])
    cotangent = np.broadcast_to(weights, values.shape)
    del values
    start = time.perf_counter()
    back = calc.backward(frames, cotangent)
    t_backward = time.perf_counter() - start
    forces = -back.positions[0]
    stress = back.strain[0] / frames[0].get_volume()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(
        json.dumps(
            dict(
                values=t_values,
                backward=t_backward,
                rss=rss,
                route=calc.routes(frames)[0]["route"],
                max_force=float(np.abs(forces).max()),
                net_force=float(np.abs(forces.sum(axis=0)).max()),
                pressure=float(-np.trace(stress) / 3),
            )
        )
    )


def lode_forces_rows(n_atoms: int) -> list[str]:
    """Forces of a LODE-based energy for a large gas, measured in a child process."""
    import json
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, __file__, "--forces-child", str(n_atoms)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    r = json.loads(out.strip().splitlines()[-1])
    return [
        f"Forces and stress of a LODE energy (linear in the p = 1 coefficients, route "
        f"{r['route']}), one gas of {n_atoms} atoms, two threads:",
        "",
        "| values s | backward (forces + stress) s | total s | peak RSS GiB |",
        "|---:|---:|---:|---:|",
        f"| {r['values']:.1f} | {r['backward']:.1f} | {r['values'] + r['backward']:.1f} | "
        f"{r['rss'] / 2**30:.2f} |",
        "",
        f"(largest |F| {r['max_force']:.3g}, |Σ F| {r['net_force']:.2g}: the mesh breaks "
        "translation invariance by its discretisation error only)",
    ]


def main() -> None:
    import lode_rs

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke test)")
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--atoms", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--lode-atoms", type=int, default=4000)
    parser.add_argument("--forces-atoms", type=int, default=100_000)
    parser.add_argument("--forces-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.forces_child:
        lode_forces_child(args.forces_child)
        return
    if args.quick:
        args.batch, args.atoms, args.repeat = 2, 200, 1
        args.lode_atoms, args.forces_atoms = 200, 500

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
    lines += ["", *lode_real_space_rows(args.lode_atoms, args.repeat)]
    lines += ["", *lode_forces_rows(args.forces_atoms)]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
