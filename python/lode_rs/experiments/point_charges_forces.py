"""Point charges with forces: potentials fitted on the Ewald energies and/or forces of the random
Na⁺/Cl⁻ gases, force errors on held-out structures.

Data: :func:`lode_rs.datasets.random_ionic_gas` (64 point charges ±1 e in cubic boxes of
12–20 Å), energies, forces and stress from :func:`lode_rs.electrostatic_energy`. Potentials
(:class:`lode_rs.Potential`, sparse GPR, ζ = 2) fitted on energies only or on energies and
forces, for a few training sizes; force RMSE in % of the standard deviation of the test forces.

Feature sets: SOAP power spectra (4 and 6 Å, sparse GPR ζ = 2, 500 active environments), LODE
ν = 1 (σ 1 and 0.5 Å, r_c 2 Å, n_max 6, l_max 0; ridge with one weight vector per centre
species: the Ewald energy ½ Σ q_i V(r_i) is linear in the potential at the atoms) and SOAP 4 Å
+ SOAP ⊗ LODE (σ 1 Å, r_c 3 Å, n_max 6, l_max 4). LODE uses the reciprocal
route (periodic position gradients). A combination whose fit needs gradients that are not
available yet (the Jacobians of ν = 2 invariants with LODE) is reported as such instead of
being skipped silently.

Run: ``python -m lode_rs.experiments.point_charges_forces [--quick] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from .. import datasets
from ..calculators import LodeExpansion, SoapExpansion
from ..electrostatics import electrostatic_energy
from ..invariants import PowerSpectrum
from ..models import PolynomialKernel, Ridge, SparseGPR
from ..potential import Potential, RadialSpectrum

SPECIES = [11, 17]


def _feature_sets(n_threads: int) -> dict:
    """Name → (fresh feature blocks, fresh model for n structures, targets fitted)."""

    def soap(cutoff):
        return SoapExpansion(
            cutoff=cutoff, smearing=0.5, n_max=6, l_max=4, species=SPECIES, n_threads=n_threads
        )

    def lode(**hypers):
        # the reciprocal route: the periodic LODE route with position gradients today
        hypers = {"smearing": 1.0, "exponent": 1, "method": "reciprocal", **hypers}
        return LodeExpansion(species=SPECIES, n_threads=n_threads, **hypers)

    def sparse(n_sparse):
        return lambda n: SparseGPR(kernel=PolynomialKernel(zeta=2), n_sparse=min(n_sparse, 64 * n))

    def linear(n):
        # ε(x_i) = w_{Z_i} · x_i: one weight vector per centre species on the raw LODE ν = 1
        # features (the Ewald energy ½ Σ q_i V(r_i) is linear in them this way)
        return Ridge()

    both = ("energy", "energy+forces")
    return {
        "SOAP 4 Å": (lambda: [PowerSpectrum(soap(4.0))], sparse(500), both),
        "SOAP 6 Å": (lambda: [PowerSpectrum(soap(6.0))], sparse(500), both),
        "LODE ν=1 σ=1 Å (linear)": (
            lambda: [RadialSpectrum(lode(cutoff=2.0, n_max=6, l_max=0))],
            linear,
            both,
        ),
        # σ = 0.5 Å: 8× more k-vectors, so its Jacobians (fits on forces) are left out
        "LODE ν=1 σ=0.5 Å (linear)": (
            lambda: [RadialSpectrum(lode(cutoff=2.0, n_max=6, l_max=0, smearing=0.5))],
            linear,
            ("energy",),
        ),
        "SOAP 4 Å + SOAP⊗LODE": (
            lambda: [
                PowerSpectrum(soap(4.0)),
                PowerSpectrum(soap(4.0), lode(cutoff=3.0, n_max=6, l_max=4)),
            ],
            sparse(500),
            both,
        ),
    }


def run(
    out: Path,
    *,
    quick: bool = False,
    seed: int = 0,
    n_threads: int = 0,
    only=None,
    sizes=None,
) -> dict:
    """Fit, evaluate, write ``point_charges_forces.{md,json,png}`` in ``out``; ``only``: names
    of the feature sets to run (default all), their rows replacing those of an earlier run's
    JSON in ``out``; ``sizes``: training sizes (default 2, 5, 10, 30, 100; the data set and
    the test set do not depend on them)."""
    out.mkdir(parents=True, exist_ok=True)
    n_test, default = (20, (2, 5, 20)) if quick else (50, (2, 5, 10, 30, 100))
    sizes = tuple(sizes or default)
    frames = datasets.random_ionic_gas(n_test + max(sizes + default), seed=seed)
    energies, forces, _ = electrostatic_energy(frames, forces=True)
    test, train = frames[:n_test], frames[n_test:]
    f_test = np.concatenate(forces[:n_test])
    std = float(np.std(f_test))
    e_test = energies[:n_test] / 64
    results: dict = {"force_std": std, "energy_std_per_atom": float(np.std(e_test)), "rows": []}
    sets = _feature_sets(n_threads)
    if only:
        previous = out / "point_charges_forces.json"
        if previous.exists():
            kept = json.loads(previous.read_text())["rows"]
            results["rows"] = [r for r in kept if r["features"] not in only]
        sets = {k: v for k, v in sets.items() if k in only}
    for name, (make, model, kinds) in sets.items():
        for targets in kinds:
            for n in sizes:
                row = {"features": name, "targets": targets, "n_train": n}
                linear = isinstance(model(n), Ridge)
                pot = Potential(make(), model(n), species_resolved=linear)
                start = time.perf_counter()
                try:
                    pot.fit(
                        train[:n],
                        energy=energies[n_test : n_test + n],
                        forces=forces[n_test : n_test + n] if targets != "energy" else None,
                    )
                    row["fit_s"] = time.perf_counter() - start
                    e_pred, predicted, _ = pot.predict(test, stress=False)
                except NotImplementedError as error:
                    row["error"] = str(error).split(":")[0]
                    results["rows"].append(row)
                    print(name, targets, n, "not available:", row["error"], flush=True)
                    break
                rmse = float(np.sqrt(np.mean((np.concatenate(predicted) - f_test) ** 2)))
                row["force_rmse_percent"] = 100 * rmse / std
                e_rmse = float(np.sqrt(np.mean((e_pred / 64 - e_test) ** 2)))
                row["energy_rmse_percent"] = 100 * e_rmse / results["energy_std_per_atom"]
                results["rows"].append(row)
                print(
                    name,
                    targets,
                    n,
                    f"forces {row['force_rmse_percent']:.3g} %",
                    f"energy {row['energy_rmse_percent']:.3g} %",
                    f"fit {row['fit_s']:.1f} s",
                    flush=True,
                )
    (out / "point_charges_forces.json").write_text(json.dumps(results, indent=1))
    _write_table(results, out / "point_charges_forces.md")
    _plot(results, out / "point_charges_forces.png")
    return results


def _write_table(results: dict, path: Path) -> None:
    lines = [
        "# Point charges with forces",
        "",
        "Random Na⁺/Cl⁻ gases (64 point charges, cubic boxes of 12–20 Å), Ewald energies and "
        "forces; potentials fitted on the energies (and forces) of `n_train` gases, errors on "
        f"held-out gases in % of the standard deviation of the test forces "
        f"({results['force_std']:.3g} eV/Å) and energies per atom "
        f"({1000 * results['energy_std_per_atom']:.3g} meV). Command: "
        "`python -m lode_rs.experiments.point_charges_forces`.",
        "",
        "![force errors](point_charges_forces.png)",
        "",
        "| features | fitted on | n_train | force RMSE (% of std) | energy RMSE (% of std) "
        "| fit time (s) |",
        "|---|---|---|---|---|---|",
    ]
    for row in results["rows"]:
        if "error" in row:
            lines.append(f"| {row['features']} | {row['targets']} | – | {row['error']} | – | – |")
        else:
            lines.append(
                f"| {row['features']} | {row['targets']} | {row['n_train']} | "
                f"{row['force_rmse_percent']:.3g} | {row['energy_rmse_percent']:.3g} | "
                f"{row['fit_s']:.1f} |"
            )
    path.write_text("\n".join(lines) + "\n")


def _plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    curves: dict = {}
    for row in results["rows"]:
        if "error" not in row:
            key = f"{row['features']}, {row['targets']}"
            curves.setdefault(key, []).append((row["n_train"], row["force_rmse_percent"]))
    for key, points in curves.items():
        n, err = zip(*points, strict=True)
        ax.loglog(n, err, "o-" if "forces" in key else "s--", label=key)
    ax.set_xlabel("training structures")
    ax.set_ylabel("force RMSE (% of std)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default="lode-rs-results")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--only", nargs="+", help="feature sets to (re)run")
    parser.add_argument("--sizes", type=int, nargs="+", help="training sizes")
    args = parser.parse_args()
    run(Path(args.out), quick=args.quick, n_threads=args.threads, only=args.only, sizes=args.sizes)
