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
* ``lode-real-space``: one gas of ``--lode-atoms`` atoms, the same LODE hyperparameters (p = 0
  for the pairs route) forced on the ``pairs``, ``ewald`` and ``mesh`` routes: values and
  backward pass (positions and strain) side by side, two threads. ``--mesh-forces N`` runs the
  values and one backward pass of N atoms on the mesh route in a child process (time, peak RSS).

* ``lode`` (``lode_vs_featomic``): LODE p = 1, σ 1 Å, r_c 3 Å, n_max 6, l_max 4 (the
  ``benches/compare.py`` LODE hyperparameters), Na/Cl gases at 64 atoms per (16 Å)³: the
  expansion's positions Jacobian (values included) against featomic's
  ``LodeSphericalExpansion`` with ``gradients=["positions"]`` on the first ``--lode-batch``
  64-atom gases and on one gas of ``--lode-atoms`` (216) atoms, and the backward pass at that
  size against the same featomic call; also the mixed SOAP ⊗ LODE power spectrum's Jacobian and
  backward pass (lode_rs only: featomic has no such invariant). lode_rs runs on the route its
  planner picks (``method="auto"``); where that route has no gradients yet, on
  ``method="reciprocal"`` (said in the table). A lode_rs Jacobian whose time extrapolated from the
  64-atom one (``N³``) exceeds ``--lode-max-seconds`` is skipped and reported as such.

Each time is the best of ``--repeat`` calls after a warm-up (a warm-up above 10 s is the time;
featomic's large gas: one call,
after a warm-up on a 64-atom gas). Prints a Markdown table (and writes
it with ``--out``). Run: ``python benches/gradients.py [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # featomic's pool: one thread, as lode_rs
# numpy's BLAS threads would spin in this process (counted in its CPU time): one thread
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from compare import LODE, featomic_lode, gas  # noqa: E402

SOAP = dict(cutoff=6.0, smearing=0.5, n_max=6, l_max=4)
SPECIES = [11, 17]


def lode_gas(n_atoms: int, seed: int = 7):
    """One random Na/Cl gas at 64 atoms per (16 Å)³ (``benches/compare.py``)."""
    import lode_rs

    side = 16.0 * (n_atoms / 64) ** (1 / 3)
    return lode_rs.datasets.random_ionic_gas(1, n_atoms=n_atoms, box_range=(side, side), seed=seed)


def lode_reciprocal_rows(sizes, repeat: int):
    """Values, backward pass (forces + stress) and their ratio on the reciprocal route."""
    import lode_rs

    calc = lode_rs.LodeExpansion(
        **LODE, exponent=1, species=SPECIES, method="reciprocal", n_threads=1
    )
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


def lode_forces_child(n: int, method: str = "reciprocal") -> None:
    """One backward pass of an n-atom gas (forces and stress): prints seconds and peak RSS."""
    import resource

    import lode_rs

    calc = lode_rs.LodeExpansion(**LODE, exponent=1, species=SPECIES, method=method)
    frames = lode_gas(n)
    start = time.perf_counter()
    values = calc.compute(frames).values
    mid = time.perf_counter()
    calc.backward(frames, np.ones_like(values))
    end = time.perf_counter()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"{n} {mid - start:.2f} {end - mid:.2f} {rss:.2f}")


# the clock of ``best`` and of featomic's large gas: wall time, or with ``--cpu-time`` the
# process's CPU time (``time.process_time``, all its threads), far less sensitive to other load
CLOCK = {"now": time.perf_counter}


def best(work, repeat: int) -> float:
    """Best of ``repeat`` timed calls after a warm-up; a warm-up above 10 s is itself the
    time (a slow call is not noise-limited, and repeating it would take minutes)."""
    now = CLOCK["now"]
    start = now()
    work()
    first = now() - start
    if first > 10.0:
        return first
    times = []
    for _ in range(repeat):
        start = now()
        work()
        times.append(now() - start)
    return min(times)


def best_interleaved(works, repeat: int) -> list[tuple[float, float]]:
    """For each of ``works``: the best wall time and the best CPU time (``time.process_time``:
    every thread of this process, so a library running more threads than announced shows it)
    of ``repeat`` calls after a warm-up, the calls of the different works taking turns so that
    a change of the machine's load hits them alike."""
    for work in works:
        work()
    wall = [float("inf")] * len(works)
    cpu = [float("inf")] * len(works)
    for _ in range(repeat):
        for k, work in enumerate(works):
            start, start_cpu = time.perf_counter(), time.process_time()
            work()
            wall[k] = min(wall[k], time.perf_counter() - start)
            cpu[k] = min(cpu[k], time.process_time() - start_cpu)
    return list(zip(wall, cpu, strict=True))


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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke test)")
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--atoms", type=int, default=2000)
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="time with the process's CPU time instead of wall time (sections lode, lode-*)",
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--lode-batch", type=int, default=4)
    parser.add_argument("--lode-atoms", type=int, default=216)
    parser.add_argument("--lode-max-seconds", type=float, default=300.0)
    parser.add_argument(
        "--sections",
        nargs="+",
        default=["soap", "lode", "lode-reciprocal", "lode-real-space"],
        help="any of soap, lode (against featomic), lode-reciprocal, lode-real-space (default all)",
    )
    parser.add_argument(
        "--lode-sizes",
        type=lambda x: [int(n) for n in x.split(",")],
        default=[64, 216, 1000, 10000],
    )
    parser.add_argument("--lode-forces", type=int, help="forces of one N-atom gas (child process)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-method", default="reciprocal", help=argparse.SUPPRESS)
    parser.add_argument("--real-space-atoms", type=int, default=4000)
    parser.add_argument("--mesh-forces", type=int, help="mesh forces of one N-atom gas (child)")
    args = parser.parse_args()
    if args.cpu_time:
        CLOCK["now"] = time.process_time
    if args.child:
        lode_forces_child(args.child, args.child_method)
        return
    if args.quick:
        args.batch, args.atoms, args.repeat = 2, 200, 1
        args.lode_batch, args.lode_atoms, args.lode_max_seconds = 1, 64, 60.0
        args.lode_sizes = [64, 216]
        args.real_space_atoms = 200
    sections = {
        "soap": soap_sections,
        "lode": lode_vs_featomic,
        "lode-reciprocal": lode_section,
        "lode-real-space": lode_real_space_section,
    }
    lines: list[str] = []
    for name in args.sections:
        lines += sections[name](args) + [""]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


def soap_sections(args) -> list[str]:
    """The SOAP power spectrum against featomic, and the backward pass of a large gas."""
    import lode_rs

    soap = lode_rs.SoapExpansion(**SOAP, species=SPECIES, n_threads=1)
    ps = lode_rs.PowerSpectrum(soap)
    frames = lode_rs.datasets.random_ionic_gas(100, seed=2024)[: args.batch]
    rng = np.random.default_rng(0)
    cotangent = rng.normal(size=ps.compute(frames).values.shape)

    try:
        calc = featomic_soap()
    except ImportError:
        calc = None
        print("featomic not installed: skipped")
    works = {
        "lode_rs power spectrum: values": lambda: ps.compute(frames),
        "lode_rs: values + positions Jacobian": lambda: ps.compute(
            frames, gradients=["positions"]
        ),
        "lode_rs: backward pass (values included)": lambda: ps.backward(frames, cotangent),
    }
    if calc is not None:
        works["featomic power spectrum: values"] = lambda: calc.compute(frames)
        works["featomic: values + positions Jacobian"] = lambda: calc.compute(
            frames, gradients=["positions"]
        )
    times = dict(zip(works, best_interleaved(list(works.values()), args.repeat), strict=True))
    values = times["lode_rs power spectrum: values"]
    rows = [(name, wall, cpu, cpu / values[1]) for name, (wall, cpu) in times.items()]

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
        "| what | ms / structure (CPU) | ms / structure (wall) | × lode_rs values (CPU) |",
        "|---|---:|---:|---:|",
    ]
    for name, wall, cpu, ratio in rows:
        per = 1e3 / args.batch
        lines.append(f"| {name} | {per * cpu:.2f} | {per * wall:.2f} | {ratio:.2f} |")
    if calc is not None:
        ours = times["lode_rs: values + positions Jacobian"]
        theirs = times["featomic: values + positions Jacobian"]
        lines += [
            "",
            f"positions Jacobian (values included): lode_rs {theirs[1] / ours[1]:.1f}× faster "
            f"than featomic in CPU time, {theirs[0] / ours[0]:.1f}× in wall time (CPU / wall: "
            f"lode_rs {ours[1] / ours[0]:.2f}, featomic {theirs[1] / theirs[0]:.2f}; "
            f"load {os.getloadavg()[0]:.1f})",
        ]
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
    return lines + [""]


# ------------------------------------------------------------------------------- LODE (invgrad)
def _plan_name(plan: dict) -> str:
    return plan["route"] + (f" η {plan['eta']:.2f} Å" if "eta" in plan else "")


def lode_calculator(frames):
    """A one-thread LODE expansion (p = 1) on the planner's route if it has gradients, else on
    the reciprocal route; and the name of the route used."""
    import lode_rs

    for method in ("auto", "reciprocal"):
        calc = lode_rs.LodeExpansion(
            **LODE, exponent=1, species=SPECIES, n_threads=1, method=method
        )
        try:
            calc.backward(frames[:1], np.zeros(calc.compute(frames[:1]).values.shape))
        except lode_rs.InvalidParameterError as error:
            if "not implemented" not in str(error):
                raise
            continue
        routes = sorted({r["route"] for r in calc.routes(frames)})
        jacobian = sorted({_plan_name(r) for r in calc.routes(frames, gradients=True)})
        return calc, (
            f"method={method!r} ({', '.join(routes)} route; Jacobians: {', '.join(jacobian)})"
        )
    raise RuntimeError("no LODE route with gradients")


def lode_vs_featomic(args) -> list[str]:
    """LODE positions Jacobians and backward pass against featomic's position gradients."""
    import lode_rs

    small = lode_rs.datasets.random_ionic_gas(100, seed=2024)[: args.lode_batch]
    large = [gas(args.lode_atoms, seed=7)]
    calc, route = lode_calculator(small)
    soap = lode_rs.SoapExpansion(**SOAP, species=SPECIES, n_threads=1)
    mixed = lode_rs.PowerSpectrum(soap, calc)
    rng = np.random.default_rng(1)
    try:
        featomic = featomic_lode()
    except ImportError:
        featomic = None
        print("featomic not installed: LODE comparison without it")
    per = {"small": len(small), "large": 1}
    rows = []  # (what, size, lode_rs seconds | None, featomic seconds | None, note)

    def jacobian(frames):
        return calc.compute(frames, gradients=["positions"])

    values = best(lambda: calc.compute(small), args.repeat)
    jac = best(lambda: jacobian(small), args.repeat)
    f_jac = None
    if featomic is not None:
        f_values = best(lambda: featomic.compute(small), args.repeat)
        f_jac = best(lambda: featomic.compute(small, gradients=["positions"]), args.repeat)
        rows.append(("values", "small", values, f_values, ""))
    rows.append(("values + positions Jacobian", "small", jac, f_jac, ""))
    v = rng.normal(size=calc.compute(small).values.shape)
    rows.append(
        (
            "backward pass (values not included)",
            "small",
            best(lambda: calc.backward(small, v), args.repeat),
            f_jac,
            "vs featomic's Jacobian",
        )
    )
    g = rng.normal(size=mixed.compute(small).values.shape)
    rows.append(
        (
            "SOAP ⊗ LODE power spectrum: Jacobian (values included)",
            "small",
            best(lambda: mixed.compute(small, gradients=["positions"]), args.repeat),
            None,
            "",
        )
    )
    rows.append(
        (
            "SOAP ⊗ LODE power spectrum: backward (values included)",
            "small",
            best(lambda: mixed.backward(small, g), args.repeat),
            None,
            "",
        )
    )

    n_large = args.lode_atoms
    predicted = jac / len(small) * (n_large / 64) ** 3
    f_large = None
    if featomic is not None:
        featomic.compute(small[:1], gradients=["positions"])
        start = CLOCK["now"]()
        featomic.compute(large, gradients=["positions"])
        f_large = CLOCK["now"]() - start
    rows.append(("values", "large", best(lambda: calc.compute(large), args.repeat), None, ""))
    if predicted <= args.lode_max_seconds:
        rows.append(
            (
                "values + positions Jacobian",
                "large",
                best(lambda: jacobian(large), args.repeat),
                f_large,
                "",
            )
        )
    else:
        rows.append(
            (
                "values + positions Jacobian",
                "large",
                None,
                f_large,
                f"skipped: ~{predicted:.0f} s extrapolated (N³) from the 64-atom gases",
            )
        )
    v = rng.normal(size=calc.compute(large).values.shape)
    rows.append(
        (
            "backward pass (values not included)",
            "large",
            best(lambda: calc.backward(large, v), args.repeat),
            f_large,
            "vs featomic's Jacobian",
        )
    )
    rows.append(
        (
            "values + backward pass",
            "large",
            best(lambda: (calc.compute(large), calc.backward(large, v)), args.repeat),
            f_large,
            "vs featomic's Jacobian",
        )
    )

    lines = [
        f"LODE p = 1 (σ {LODE['smearing']} Å, r_c {LODE['cutoff']} Å, n_max {LODE['n_max']}, "
        f"l_max {LODE['l_max']}), Na/Cl gases at 64 atoms per (16 Å)³, one thread, "
        f"{'CPU' if CLOCK['now'] is time.process_time else 'wall'} time; lode_rs "
        f"{route}; featomic {'LodeSphericalExpansion' if featomic else 'not installed'}:",
        "",
        "| what | structures | lode_rs ms / structure | featomic ms / structure | "
        "lode_rs faster by | note |",
        "|---|---|---:|---:|---:|---|",
    ]
    for what, size, ours, theirs, note in rows:
        n = per[size]
        label = f"{len(small)} × 64 atoms" if size == "small" else f"1 × {n_large} atoms"
        ours_text = "—" if ours is None else f"{1e3 * ours / n:.1f}"
        theirs_text = "—" if theirs is None else f"{1e3 * theirs / n:.0f}"
        ratio = "—" if ours is None or theirs is None else f"{theirs / ours:.1f}×"
        lines.append(f"| {what} | {label} | {ours_text} | {theirs_text} | {ratio} | {note} |")
    return lines + [""]


def forces_in_child(n: int, method: str) -> list[str]:
    """Values and one backward pass of an ``n``-atom gas on two threads, in a child process:
    ``[n, values s, backward s, peak RSS GiB]`` as strings."""
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, __file__, "--child", str(n), "--child-method", method],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "RAYON_NUM_THREADS": "2"},
    ).stdout.split()[-4:]


def lode_real_space_section(args) -> list[str]:
    """Values and backward pass of the periodic real-space routes, side by side."""
    import lode_rs

    frames = lode_gas(args.real_space_atoms)
    rng = np.random.default_rng(1)
    lines = [
        f"LODE routes, one gas of {args.real_space_atoms} Na/Cl atoms, two threads "
        "(σ 1 Å, r_c 3 Å, n_max 6, l_max 4); backward = forces and stress of a random cotangent:",
        "",
        "| route | values s | backward s | backward / values |",
        "|---|---:|---:|---:|",
    ]
    for exponent, method in [(0, "auto"), (1, "ewald"), (1, "mesh")]:
        hypers = {**LODE, "exponent": exponent}
        calc = lode_rs.LodeExpansion(**hypers, method=method, species=SPECIES, n_threads=2)
        route = calc.routes(frames)[0]["route"]
        cotangent = rng.normal(size=calc.compute(frames).values.shape)
        values = best(lambda c=calc: c.compute(frames), args.repeat)
        backward = best(lambda c=calc, g=cotangent: c.backward(frames, g), args.repeat)
        ratio = backward / values
        lines.append(f"| {route} (p = {exponent}) | {values:.3f} | {backward:.3f} | {ratio:.2f} |")
    if args.mesh_forces:
        n, values, backward, rss = forces_in_child(args.mesh_forces, "mesh")
        lines += [
            "",
            f"{n} atoms, mesh route, 2 threads: values {values} s, backward (forces + stress) "
            f"{backward} s, peak RSS {rss} GiB",
        ]
    return lines


def lode_section(args) -> list[str]:
    """Values, backward pass and Jacobian on the reciprocal route at growing sizes."""
    rows, (n_jac, jacobian) = lode_reciprocal_rows(args.lode_sizes, args.repeat)
    lines = [
        'LODE, method="reciprocal" (p = 1, σ 1 Å, r_c 3 Å, n_max 6, l_max 4, Na/Cl gases at '
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
        n, values, backward, rss = forces_in_child(args.lode_forces, "reciprocal")
        lines += [
            "",
            f"{n} atoms, 2 threads: values {values} s, backward (forces + stress) {backward} s, "
            f"peak RSS {rss} GiB",
        ]
    return lines


if __name__ == "__main__":
    main()
