"""λ-equivariant features against the power spectrum on the same coefficients, and featomic's
equivariant power spectrum side by side.

Structures: the first ``--boxes`` water boxes of ``lode_rs.datasets.water_dielectric()`` (96
atoms each). Expansions: SOAP r_c = 4 Å, σ 0.3 Å, and LODE p = 1, r_c = 3 Å, σ 0.3 Å, both
n_max 6, l_max 4, species H, O (12 channels per centre).

1. Products only (the coefficients computed once, outside the timing): the power spectrum and
   the λ-features for λ_max = 0, 2, 4, 8 (SOAP ⊗ SOAP) and λ_max = 2, 8 (SOAP ⊗ LODE), 1 and 2
   threads: µs per centre, GFLOP/s of the tile updates (flop counts from the core:
   ``_lode_rs.equivariant_flop_count``; the power spectrum's ``2 r r' (l_max+1)²``) and the
   fraction of one core's peak (``--peak``, GFLOP/s per core; the default assumes AVX2
   without FMA, the widest the kernels use: 4 doubles × 2 ports × the clock of
   ``/proc/cpuinfo``).
2. End to end, one thread (expansion + product, SOAP ⊗ SOAP, every λ ≤ 2 l_max = 8):
   lode_rs against ``featomic.clebsch_gordan.EquivariantPowerSpectrum`` (featomic 0.6.x),
   and each code's expansion alone, so that the product's share is the difference.

Times are CPU times (user + system of all threads, best of ``--repeat`` runs): the machine this
runs on is shared, and wall times there count waits for a core. Writes a markdown table to
stdout and to ``--out`` if given.

Run: ``python benches/equivariant.py [--boxes 10] [--out docs/bench/equivariant.md]``.
"""

from __future__ import annotations

import os

# one thread for featomic's rayon pool and for NumPy's BLAS: set before they start
for _name in ("RAYON_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import re  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import lode_rs  # noqa: E402
from lode_rs import _lode_rs  # noqa: E402

SPECIES = [1, 8]
SOAP = dict(cutoff=4.0, smearing=0.3, n_max=6, l_max=4)
LODE = dict(cutoff=3.0, smearing=0.3, n_max=6, l_max=4, exponent=1)


def best_time(work, repeat: int) -> float:
    """Best of ``repeat`` CPU times (user + system, all threads) of ``work()``: on a shared
    machine wall time also counts the waits for a core; CPU time does not."""
    times = []
    for _ in range(repeat):
        start = time.process_time()
        work()
        times.append(time.process_time() - start)
    return min(times)


def clock_ghz() -> float:
    text = Path("/proc/cpuinfo").read_text()
    match = re.search(r"cpu MHz\s*:\s*([0-9.]+)", text)
    return float(match.group(1)) / 1000 if match else float("nan")


def products(frames, repeat: int, peak: float) -> list[str]:
    soap = lode_rs.SoapExpansion(**SOAP, species=SPECIES, n_threads=1)
    lode = lode_rs.LodeExpansion(**LODE, species=SPECIES, center_weight=0.0, n_threads=1)
    a = soap.compute(frames)
    b = lode.compute(frames)
    n_centres = a.values.shape[0]
    rows = len(SPECIES) * SOAP["n_max"]
    l_max = SOAP["l_max"]
    lines = [
        f"Products only: {n_centres} centres ({len(frames)} water boxes), "
        f"{rows} channels per centre, l_max {l_max}; peak {peak:.1f} GFLOP/s per core assumed",
        "",
        "| features | columns × components | threads | CPU µs / centre | GFLOP/s per core "
        "| % of peak |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    cases = [("power spectrum (SOAP ⊗ SOAP)", None, None)]
    cases += [(f"λ ≤ {lam}, SOAP ⊗ SOAP", lam, None) for lam in (0, 2, 4, 8)]
    cases += [(f"λ ≤ {lam}, SOAP ⊗ LODE", lam, b) for lam in (2, 8)]
    for name, lam, other in cases:
        for threads in (1, 2):
            if lam is None:
                flops = 2.0 * rows * rows * (l_max + 1) ** 2

                def work(threads=threads):
                    return _lode_rs.power_spectrum(a.values, a.species, n_threads=threads)

                size = work()[0].shape[1]
            else:
                extra = {} if other is None else {"other": other.values, "other_species": SPECIES}
                flops = _lode_rs.equivariant_flop_count(
                    l_max, l_max, lam, other is None, rows, rows
                )

                def work(threads=threads, lam=lam, extra=extra):
                    return _lode_rs.equivariant_power_spectrum(
                        a.values, a.species, lam, n_threads=threads, **extra
                    )

                size = sum(v.shape[1] * v.shape[2] for _, _, v, _ in work())
            seconds = best_time(work, repeat)  # CPU time of all threads
            rate = flops * n_centres / seconds / 1e9
            lines.append(
                f"| {name} | {size} | {threads} | {seconds / n_centres * 1e6:.2f} | "
                f"{rate:.2f} | {100 * rate / peak:.0f} |"
            )
    return lines


def featomic_side_by_side(frames, repeat: int) -> list[str]:
    try:
        import featomic
        from featomic.basis import Gto, TensorProduct
        from featomic.clebsch_gordan import EquivariantPowerSpectrum
        from featomic.cutoff import Cutoff, ShiftedCosine
        from featomic.density import Gaussian
    except ImportError as error:
        return [f"featomic not available ({error}); side-by-side skipped"]
    expansion = featomic.SphericalExpansion(
        cutoff=Cutoff(radius=SOAP["cutoff"], smoothing=ShiftedCosine(width=0.5)),
        density=Gaussian(width=SOAP["smearing"]),
        basis=TensorProduct(
            max_angular=SOAP["l_max"],
            radial=Gto(max_radial=SOAP["n_max"] - 1, radius=SOAP["cutoff"]),
        ),
    )
    featomic_eps = EquivariantPowerSpectrum(expansion, neighbor_types=SPECIES)
    soap = lode_rs.SoapExpansion(**SOAP, species=SPECIES, n_threads=1)
    ours = lode_rs.EquivariantPowerSpectrum(soap, lambda_max=2 * SOAP["l_max"])
    n_centres = sum(len(f) for f in frames)
    timings = {
        "lode_rs expansion": best_time(lambda: soap.compute(frames), repeat),
        "lode_rs expansion + λ-features": best_time(lambda: ours.compute(frames), repeat),
        "featomic expansion": best_time(lambda: expansion.compute(frames), repeat),
        "featomic expansion + λ-features": best_time(
            lambda: featomic_eps.compute(frames, neighbors_to_properties=True), repeat
        ),
    }
    lines = [
        f"End to end, one thread (featomic {featomic.__version__}, RAYON_NUM_THREADS=1 and "
        f"one BLAS thread), SOAP ⊗ SOAP, every λ ≤ {2 * SOAP['l_max']}, both parities, "
        f"{n_centres} centres:",
        "",
        "| code | step | ms | µs / centre |",
        "| --- | --- | ---: | ---: |",
    ]
    for name, seconds in timings.items():
        code, step = name.split(" ", 1)
        lines.append(f"| {code} | {step} | {seconds * 1e3:.1f} | {seconds / n_centres * 1e6:.1f} |")
    ours_product = timings["lode_rs expansion + λ-features"] - timings["lode_rs expansion"]
    theirs_product = timings["featomic expansion + λ-features"] - timings["featomic expansion"]
    lines += [
        "",
        f"λ-features alone (difference): lode_rs {ours_product * 1e3:.1f} ms, featomic "
        f"{theirs_product * 1e3:.1f} ms ({theirs_product / ours_product:.1f}× lode_rs).",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--boxes", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--peak", type=float, default=None, help="GFLOP/s per core")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    frames = lode_rs.datasets.water_dielectric().frames[: args.boxes]
    peak = args.peak if args.peak is not None else 8.0 * clock_ghz()
    lines = products(frames, args.repeat, peak) + [""] + featomic_side_by_side(frames, args.repeat)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
