"""lode_rs against featomic and dscribe, side by side: time and peak memory on the same structures.

Every measurement runs in its own child process, so its peak memory (max RSS) and its thread
count are its own; structures are generated once by the parent and handed over as files.
featomic and dscribe are optional (``pip install featomic dscribe``): a code that is not
installed is skipped with a message.

Cases (the tracker's settings):

* ``lode-batch``: 100 random 64-atom Na/Cl gases (cubic boxes 12–20 Å, d_min 2.5 Å), one
  thread; LODE p = 1, σ = 1 Å, r_c = 3 Å, n_max 6, l_max 4. lode_rs at its default accuracy
  (1e-6) and at 1e-5, featomic at its default k-cutoff; the error of each against a converged
  reference (lode_rs at accuracy 1e-10, equal to featomic at k_c = 8 Å⁻¹ to 4e-8).
* ``lode-scaling``: one gas of N atoms at 64 atoms per (16 Å)³, all threads.
* ``soap-batch``: the SOAP power spectrum of the same 100 gases, cutoff 6 Å, σ 0.5 Å, n_max 6,
  l_max 4, with 1 and 2 threads (dscribe: 1 and 2 jobs).
* ``soap-scaling``: the SOAP power spectrum of one gas of N atoms, 1 and 2 threads.

Times are steady state: each child first computes a structure of the same kind (a batch's
first structure, or a gas of min(N, 1000) atoms), then times one call; CPU = user + system time
of that call, all threads. Writes ``compare.md`` (tables), ``compare.json`` and
``compare.png`` (log–log time and peak memory against N) into ``--out``.

Run: ``python benches/compare.py [--quick] [--out benches/results]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

LODE = dict(cutoff=3.0, smearing=1.0, n_max=6, l_max=4)
SOAP = dict(cutoff=6.0, smearing=0.5, n_max=6, l_max=4)
SPECIES = [11, 17]
DENSITY_BOX = 16.0  # Å: 64 atoms per DENSITY_BOX³


# ---------------------------------------------------------------------------------- structures
def gas(n_atoms: int, seed: int):
    """One random Na/Cl gas of ``n_atoms`` at 64 atoms per (16 Å)³."""
    import lode_rs

    side = DENSITY_BOX * (n_atoms / 64) ** (1 / 3)
    return lode_rs.datasets.random_ionic_gas(1, n_atoms=n_atoms, box_range=(side, side), seed=seed)[
        0
    ]


def batch():
    import lode_rs

    return lode_rs.datasets.random_ionic_gas(100, seed=2024)


def save_frames(path: Path, frames) -> None:
    np.savez(
        path,
        positions=np.array([f.positions for f in frames]),
        cells=np.array([f.cell.array for f in frames]),
        numbers=np.array([f.numbers for f in frames]),
    )


def load_frames(path: str):
    import ase

    with np.load(path) as data:
        return [
            ase.Atoms(numbers=z, positions=r, cell=c, pbc=True)
            for r, c, z in zip(data["positions"], data["cells"], data["numbers"], strict=True)
        ]


# ---------------------------------------------------------------------------------- calculators
def featomic_lode():
    import featomic
    from featomic.basis import Gto, TensorProduct
    from featomic.density import SmearedPowerLaw

    return featomic.LodeSphericalExpansion(
        density=SmearedPowerLaw(smearing=LODE["smearing"], exponent=1),
        basis=TensorProduct(
            max_angular=LODE["l_max"],
            radial=Gto(max_radial=LODE["n_max"] - 1, radius=LODE["cutoff"]),
        ),
    )


def featomic_lode_values(tensor, frames):
    """featomic's blocks as lode_rs's ``(n_centres, 2, n_max, (l_max+1)²)`` array."""
    offsets = np.cumsum([0] + [len(f) for f in frames])
    n, l_max = LODE["n_max"], LODE["l_max"]
    out = np.zeros((offsets[-1], 2, n, (l_max + 1) ** 2))
    for key, block in tensor.items():
        l = key["o3_lambda"]
        a = SPECIES.index(key["neighbor_type"])
        s = block.samples.values
        out[offsets[s[:, 0]] + s[:, 1], a, :, l * l : (l + 1) ** 2] = np.transpose(
            block.values, (0, 2, 1)
        )
    return out


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


def dscribe_soap():
    from dscribe.descriptors import SOAP as DscribeSoap

    return DscribeSoap(
        species=["Na", "Cl"],
        r_cut=SOAP["cutoff"],
        n_max=SOAP["n_max"],
        l_max=SOAP["l_max"],
        sigma=SOAP["smearing"],
        periodic=True,
        rbf="gto",
    )


def make_work(case: str, code: str, threads: int, accuracy: float):
    """A callable computing ``case`` with ``code``; it returns the values (or ``None``).

    ``code`` is ``lode_rs`` (LODE ``method="auto"``), ``lode_rs:METHOD`` for one LODE route,
    ``featomic`` or ``dscribe``.
    """
    import lode_rs

    if case.startswith("lode"):
        if code.startswith("lode_rs"):
            method = code.partition(":")[2] or "auto"
            calc = lode_rs.LodeExpansion(
                **LODE, species=SPECIES, accuracy=accuracy, n_threads=threads, method=method
            )
            return lambda frames: calc.compute(frames).values
        calc = featomic_lode()
        return lambda frames: featomic_lode_values(calc.compute(frames), frames)
    if code == "lode_rs":
        calc = lode_rs.PowerSpectrum(
            lode_rs.SoapExpansion(**SOAP, species=SPECIES, n_threads=threads)
        )
        return lambda frames: calc.compute(frames).values
    if code == "featomic":
        calc = featomic_soap()
        return lambda frames: calc.compute(frames)
    calc = dscribe_soap()
    return lambda frames: calc.create(frames, n_jobs=threads)


def cpu_time() -> float:
    """User + system time of this process so far, all threads."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(args) -> None:
    """One measurement; prints a JSON line: seconds, peak RSS and (lode-batch) the error."""
    import resource

    frames = load_frames(args.frames)
    work = make_work(args.case, args.code, args.threads, args.accuracy)
    # warm-up: one structure of the batch, or a gas of min(N, 1000) atoms at the same density
    # (lode_rs tables depend on the Ewald split chosen for the size; featomic's do not)
    work(frames[:1] if len(frames) > 1 else [gas(min(len(frames[0]), 1000), seed=99)])
    cpu_start = cpu_time()
    start = time.perf_counter()
    values = work(frames)
    result = {"seconds": time.perf_counter() - start, "cpu_seconds": cpu_time() - cpu_start}
    if args.reference:
        reference = np.load(args.reference)
        result["error"] = float(np.abs(values - reference).max() / np.abs(reference).max())
    result["max_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


# ---------------------------------------------------------------------------------- parent
def available(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        print(f"{module} is not installed (pip install {module}): skipped")
        return False
    return True


class Runner:
    def __init__(self, tmp: Path):
        self.tmp = tmp

    def frames_file(self, name: str, frames) -> Path:
        path = self.tmp / f"{name}.npz"
        if not path.exists():
            save_frames(path, frames)
        return path

    def run(self, case, code, frames_file, threads, accuracy=1e-6, reference=None) -> dict:
        env = dict(os.environ)
        env["RAYON_NUM_THREADS"] = str(threads)  # featomic's pool; lode_rs takes n_threads
        env["OMP_NUM_THREADS"] = str(threads)
        cmd = [
            sys.executable, __file__, "--child", case, code,
            "--frames", str(frames_file),
            "--threads", str(threads), "--accuracy", str(accuracy),
        ]  # fmt: skip
        if reference is not None:
            cmd += ["--reference", str(reference)]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if out.returncode != 0:
            print(f"  {case} {code}: failed\n{out.stderr[-2000:]}")
            return {"seconds": float("nan"), "max_rss_mib": float("nan"), "failed": True}
        return json.loads(out.stdout.strip().splitlines()[-1])


def growth_exponent(sizes, seconds, above: int) -> float | None:
    points = [(n, t) for n, t in zip(sizes, seconds, strict=True) if n >= above and np.isfinite(t)]
    if len(points) < 2:
        return None
    n, t = np.array(points).T
    return float(np.polyfit(np.log(n), np.log(t), 1)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=2, metavar=("CASE", "CODE"))
    parser.add_argument("--frames")
    parser.add_argument("--reference")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--accuracy", type=float, default=1e-6)
    parser.add_argument("--quick", action="store_true", help="small sizes only (a minute)")
    parser.add_argument("--out", default="benches/results")
    parser.add_argument("--lode-sizes", type=int, nargs="+")
    parser.add_argument("--soap-sizes", type=int, nargs="+")
    parser.add_argument("--featomic-max", type=int, default=2000)
    parser.add_argument(
        "--lode-methods",
        nargs="*",
        default=[],
        help="LODE routes to time beside auto in lode-scaling (reciprocal, ewald, mesh)",
    )
    parser.add_argument("--method-max", type=int, default=30000, help="largest N for them")
    parser.add_argument("--dscribe-max", type=int, default=16000)
    parser.add_argument(
        "--cases", nargs="+", default=["lode-batch", "lode-scaling", "soap-batch", "soap-scaling"]
    )
    args = parser.parse_args()
    if args.child:
        args.case, args.code = args.child
        child(args)
        return

    lode_sizes = args.lode_sizes or (
        [216, 1000] if args.quick else [216, 1000, 2000, 4000, 10000, 30000, 100000]
    )
    soap_sizes = args.soap_sizes or ([1000, 4000] if args.quick else [1000, 4000, 16000, 64000])
    have_featomic = available("featomic")
    have_dscribe = available("dscribe")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    ncores = os.cpu_count() or 1
    results: dict = {
        "machine": {"cores": ncores},
        "lode_sizes": lode_sizes,
        "soap_sizes": soap_sizes,
    }
    md: list[str] = [
        f"Measured by `benches/compare.py` on {time.strftime('%Y-%m-%d')}, {ncores} cores.\n"
    ]

    with tempfile.TemporaryDirectory() as tmp_name:
        runner = Runner(Path(tmp_name))
        if "lode-batch" in args.cases or "soap-batch" in args.cases:
            batch_file = runner.frames_file("batch", batch())

        if "lode-batch" in args.cases:
            print("lode-batch: 100 × 64-atom gases, 1 thread")
            import lode_rs

            reference = Path(tmp_name) / "reference.npy"
            np.save(
                reference,
                lode_rs.LodeExpansion(**LODE, species=SPECIES, accuracy=1e-10)
                .compute(load_frames(batch_file))
                .values,
            )
            rows = []
            for code, accuracy, label in [
                ("lode_rs", 1e-6, "lode_rs, accuracy 1e-6 (default)"),
                ("lode_rs", 1e-5, "lode_rs, accuracy 1e-5"),
            ] + ([("featomic", 0, "featomic, default k-cutoff")] if have_featomic else []):
                r = runner.run("lode-batch", code, batch_file, 1, accuracy or 1e-6, reference)
                rows.append((label, r))
                print(
                    f"  {label}: {r['seconds'] * 10:.2f} ms/structure, "
                    f"error {r.get('error', float('nan')):.1e}"
                )
            results["lode_batch"] = {label: r for label, r in rows}
            md += [
                "**LODE, 100 × 64-atom gases, 1 thread** "
                "(p = 1, σ 1 Å, r_c 3 Å, n_max 6, l_max 4)\n",
                "| code | ms / structure | max rel. error | speed-up vs featomic |",
                "| --- | ---: | ---: | ---: |",
            ]
            featomic_t = rows[-1][1]["seconds"] if have_featomic else None
            for label, r in rows:
                ratio = f"{featomic_t / r['seconds']:.1f}×" if featomic_t else "—"
                md.append(f"| {label} | {r['seconds'] * 10:.2f} | {r['error']:.1e} | {ratio} |")
            md.append("")

        if "lode-scaling" in args.cases:
            print(f"lode-scaling: one gas of N atoms, {ncores} threads")
            routes = [f"lode_rs:{m}" for m in args.lode_methods]
            table = {"lode_rs": [], "featomic": [], **{r: [] for r in routes}}
            for n in lode_sizes:
                path = runner.frames_file(f"gas-{n}", [gas(n, seed=7)])
                r = runner.run("lode-scaling", "lode_rs", path, ncores)
                table["lode_rs"].append(r)
                line = (
                    f"  N={n}: lode_rs {r['seconds']:.3f} s (CPU {r['cpu_seconds']:.2f} s) "
                    f"{r['max_rss_mib']:.0f} MiB"
                )
                for route in routes:
                    m = (
                        runner.run("lode-scaling", route, path, ncores)
                        if n <= args.method_max
                        else None
                    )
                    table[route].append(m)
                    if m:
                        line += f"; {route} {m['seconds']:.3f} s"
                if have_featomic and n <= args.featomic_max:
                    f = runner.run("lode-scaling", "featomic", path, ncores)
                    line += (
                        f"; featomic {f['seconds']:.2f} s {f['max_rss_mib']:.0f} MiB "
                        f"({f['seconds'] / r['seconds']:.0f}×)"
                    )
                else:
                    f = None
                table["featomic"].append(f)
                print(line)
            results["lode_scaling"] = table
            exponent = growth_exponent(lode_sizes, [r["seconds"] for r in table["lode_rs"]], 10000)
            results["lode_exponent_above_10k"] = exponent
            md += [
                f"**LODE, one gas of N atoms, {ncores} threads** (same hyper-parameters; lode_rs "
                'with `method="auto"`, CPU = user + system time of all threads)\n',
                "| N | lode_rs (s) | CPU (s) | peak MiB | featomic (s) | peak MiB | speed-up |"
                + "".join(f" {route} (s) |" for route in routes),
                "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |" + " ---: |" * len(routes),
            ]
            for i, n in enumerate(lode_sizes):
                r, f = table["lode_rs"][i], table["featomic"][i]
                theirs = (
                    f"{f['seconds']:.2f} | {f['max_rss_mib']:,.0f} | "
                    f"{f['seconds'] / r['seconds']:.0f}×"
                    if f
                    else "— | — | —"
                )
                extra = "".join(
                    f" {table[route][i]['seconds']:.3f} |" if table[route][i] else " — |"
                    for route in routes
                )
                md.append(
                    f"| {n:,} | {r['seconds']:.3f} | {r['cpu_seconds']:.2f} | "
                    f"{r['max_rss_mib']:,.0f} | {theirs} |{extra}"
                )
            if exponent is not None:
                md.append(f"\nTime growth exponent of lode_rs for N ≥ 10 000: {exponent:.2f}.")
            md.append("")

        if "soap-batch" in args.cases:
            print("soap-batch: power spectrum of 100 × 64-atom gases")
            codes = (
                [("lode_rs", t) for t in (1, 2)]
                + ([("dscribe", t) for t in (1, 2)] if have_dscribe else [])
                + ([("featomic", t) for t in (1, 2)] if have_featomic else [])
            )
            rows = []
            for code, t in codes:
                r = runner.run("soap-batch", code, batch_file, t)
                rows.append((code, t, r))
                print(
                    f"  {code}, {t} thread(s): {r['seconds'] * 1e3:.1f} ms, "
                    f"{6400 / r['seconds']:,.0f} atoms/s"
                )
            results["soap_batch"] = [dict(code=c, threads=t, **r) for c, t, r in rows]
            md += [
                "**SOAP power spectrum, 100 × 64-atom gases** "
                "(r_c 6 Å, σ 0.5 Å, n_max 6, l_max 4)\n",
                "| code | threads | ms | atoms / s | speed-up over its 1 thread |",
                "| --- | ---: | ---: | ---: | ---: |",
            ]
            one = {c: r["seconds"] for c, t, r in rows if t == 1}
            for c, t, r in rows:
                md.append(
                    f"| {c} | {t} | {r['seconds'] * 1e3:.1f} | {6400 / r['seconds']:,.0f} | "
                    f"{one[c] / r['seconds']:.2f}× |"
                )
            if "dscribe" in one:
                md.append(
                    f"\nlode_rs on one thread is {one['dscribe'] / one['lode_rs']:.1f}× "
                    "dscribe on one job."
                )
            md.append("")

        if "soap-scaling" in args.cases:
            print("soap-scaling: power spectrum of one gas of N atoms")
            table: dict = {}
            codes = (
                [("lode_rs", 1), ("lode_rs", 2)]
                + ([("dscribe", 1)] if have_dscribe else [])
                + ([("featomic", 2)] if have_featomic else [])
            )
            for code, t in codes:
                table[f"{code}/{t}"] = []
            for n in soap_sizes:
                path = runner.frames_file(f"gas-{n}", [gas(n, seed=7)])
                for code, t in codes:
                    if code == "dscribe" and n > args.dscribe_max:
                        table[f"{code}/{t}"].append(None)
                        continue
                    r = runner.run("soap-scaling", code, path, t)
                    table[f"{code}/{t}"].append(r)
                    print(
                        f"  N={n}: {code}, {t} thread(s): {r['seconds']:.3f} s, "
                        f"{r['max_rss_mib']:.0f} MiB"
                    )
            results["soap_scaling"] = table
            md += [
                "**SOAP power spectrum, one gas of N atoms** (same hyper-parameters)\n",
                "| N | " + " | ".join(f"{k} (s) | MiB" for k in table) + " |",
                "| ---: |" + " ---: | ---: |" * len(table),
            ]
            for i, n in enumerate(soap_sizes):
                cells = []
                for k in table:
                    r = table[k][i]
                    cells.append(f"{r['seconds']:.3f} | {r['max_rss_mib']:,.0f}" if r else "— | —")
                md.append(f"| {n:,} | " + " | ".join(cells) + " |")
            speedups = [
                a["seconds"] / b["seconds"]
                for a, b in zip(table["lode_rs/1"], table["lode_rs/2"], strict=True)
            ]
            md.append(
                "\nlode_rs speed-up from 1 to 2 threads: "
                + ", ".join(
                    f"{s:.2f}× (N = {n:,})" for s, n in zip(speedups, soap_sizes, strict=True)
                )
                + "."
            )
            md.append("")

    (out_dir / "compare.json").write_text(json.dumps(results, indent=1))
    (out_dir / "compare.md").write_text("\n".join(md) + "\n")
    plot(results, out_dir / "compare.png")
    print(f"wrote {out_dir / 'compare.md'}, compare.json and compare.png")


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = []
    if "lode_scaling" in results:
        panels.append(
            (
                "LODE p = 1",
                results["lode_sizes"],
                {k: v for k, v in results["lode_scaling"].items()},
            )
        )
    if "soap_scaling" in results:
        panels.append(("SOAP power spectrum", results["soap_sizes"], results["soap_scaling"]))
    if not panels:
        return
    fig, axes = plt.subplots(2, len(panels), figsize=(5.5 * len(panels), 7), squeeze=False)
    for column, (title, sizes, table) in enumerate(panels):
        for name, rows in table.items():
            pts = [
                (n, r) for n, r in zip(sizes, rows, strict=True) if r and np.isfinite(r["seconds"])
            ]
            if not pts:
                continue
            n = [p[0] for p in pts]
            axes[0, column].loglog(n, [p[1]["seconds"] for p in pts], "o-", label=name)
            axes[1, column].loglog(n, [p[1]["max_rss_mib"] for p in pts], "o-", label=name)
        axes[0, column].set_title(title)
        axes[0, column].set_ylabel("time (s)")
        axes[1, column].set_ylabel("peak memory (MiB)")
        axes[1, column].set_xlabel("atoms N")
        for ax in axes[:, column]:
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
