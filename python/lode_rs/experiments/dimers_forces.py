"""Charged dimers with forces: SOAP vs SOAP + LODE potentials along GFN2-xTB binding curves.

Data: dimers made by :mod:`lode_rs.datasets.dimer_generator` with forces recorded (GFN2-xTB
energies and analytical forces of the 13 rigid separations and of the two isolated monomers;
``python -m lode_rs.datasets.dimer_generator -o FILE`` writes them, tblite and rdkit needed).

Potentials (:class:`lode_rs.Potential`, sparse GPR ζ = 2, noise levels cross-validated) fitted
on the total energies and forces of the dimers' ``n_train_separations`` closest points and of
their isolated monomers, for the training dimers; whole dimers are held out. Molecules are
finite: LODE uses the exact real-space pair sum.

- **SOAP**: power spectrum (σ 0.3 Å, r_c 3 Å);
- **SOAP + LODE ν = 1**: the same plus LODE ν = 1 (p = 1, σ 1 Å, r_c 3 Å, l_max 0) of the
  ``charges`` channel (each monomer's net charge spread evenly over its atoms, as in
  :mod:`lode_rs.experiments.dimers`), the two blocks scaled to the same RMS row norm (and a
  variant with the LODE block at 0.3 of that). One normalised ζ = 2 kernel on the joined blocks:
  a potential holds one kernel (the energy experiment's sum of a SOAP kernel and a linear LODE
  kernel is not a :class:`lode_rs.Potential` model).

Errors along the curves, on the test dimers: the *binding forces* ``F(AB) − F(A) ⊕ F(B)`` (what
the interaction adds to the monomers' own forces) per atom, and the *intermolecular force*: the
binding force summed over monomer B (the force between the two molecules, ``∝ Q_A Q_B / d²``
at long range), RMSE per separation, in meV/Å.

Run: ``python -m lode_rs.experiments.dimers_forces --data FILE [--quick] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np

from ..calculators import LodeExpansion, SoapExpansion
from ..datasets import dimer_generator as generator
from ..invariants import PowerSpectrum
from ..models import PolynomialKernel, SparseGPR
from ..potential import Potential, RadialSpectrum
from .dimers import SPECIES, monomer_charges


def frames_of(dimer: generator.Dimer) -> tuple[list, list]:
    """The 13 dimer frames and the two monomers (``ase.Atoms`` with the monomers' net charges
    spread over their atoms as initial charges), with energies and forces in ``info`` /
    ``arrays``."""
    import ase

    n_a = len(dimer.numbers_a)
    charges = (dimer.charge_a, dimer.charge_b)
    curve = []
    for k in range(len(dimer.separations)):
        atoms = ase.Atoms(numbers=dimer.numbers, positions=dimer.positions(k), pbc=False)
        atoms = monomer_charges(atoms, n_a, charges)
        atoms.info["energy"] = dimer.energy[k]
        atoms.arrays["forces"] = dimer.forces[k]
        curve.append(atoms)
    first = curve[0]
    a, b = first[:n_a], first[n_a:]
    a.info["energy"], b.info["energy"] = dimer.energy_a, dimer.energy_b
    a.arrays["forces"] = dimer.monomer_forces[:n_a]
    b.arrays["forces"] = dimer.monomer_forces[n_a:]
    return curve, [a, b]


def recipes(n_threads: int) -> dict:
    """Name → (feature blocks, kernel, weight of the LODE block relative to equal RMS norms)."""
    common = {"n_max": 4, "n_threads": n_threads}
    soap = SoapExpansion(cutoff=3.0, smearing=0.3, l_max=3, species=SPECIES, **common)
    lode = LodeExpansion(cutoff=3.0, smearing=1.0, l_max=0, exponent=1, charges=True, **common)
    both = [PowerSpectrum(soap), RadialSpectrum(lode)]
    normalised = PolynomialKernel(zeta=2)
    return {
        "SOAP": ([PowerSpectrum(soap)], normalised, 1.0),
        "SOAP + LODE ν=1": (both, normalised, 1.0),
        "SOAP + LODE ν=1, LODE weight 0.3": (both, normalised, 0.3),
    }


def _rms_norm(block, frames) -> float:
    values = block.compute(frames).values
    return float(np.sqrt(np.mean(np.sum(values**2, axis=1))))


def run(
    data: Path,
    out: Path,
    *,
    quick: bool = False,
    seed: int = 0,
    n_threads: int = 0,
    n_train_separations: int = 9,
    only=None,
) -> dict:
    """Fit, evaluate, write ``dimers_forces.{md,json,png}`` in ``out``; ``only``: names of the
    models to (re)run, the others kept from an earlier run's JSON in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    dimers, description = generator.load(data)
    dimers = [d for d in dimers if d.forces.size and d.monomer_forces.size]
    if not dimers:
        raise ValueError(f"{data} has no forces: regenerate it with this version")
    if quick:
        dimers = dimers[:40]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(dimers))
    n_test = max(1, len(dimers) // 5)
    test = [dimers[i] for i in order[:n_test]]
    train = [dimers[i] for i in order[n_test:]]
    train_frames = []
    for d in train:
        curve, monomers = frames_of(d)
        train_frames += curve[:n_train_separations] + monomers
    n_sparse = 400 if quick else 500
    results: dict = {
        "data": str(data),
        "n_train_dimers": len(train),
        "n_test_dimers": len(test),
        "n_train_structures": len(train_frames),
        "n_train_separations": n_train_separations,
        "n_sparse": n_sparse,
        "models": {},
    }
    n_sep = len(test[0].separations)
    reference = _binding(test, lambda frames: [f.arrays["forces"] for f in frames])
    models = recipes(n_threads)
    if only:
        previous = out / "dimers_forces.json"
        if previous.exists():
            results["models"] = {
                k: v for k, v in json.loads(previous.read_text())["models"].items() if k not in only
            }
        models = {k: v for k, v in models.items() if k in only}
    for name, (blocks, kernel, lode_weight) in models.items():
        weights = [1.0 / _rms_norm(b, train_frames[:200]) for b in blocks]
        weights[1:] = [lode_weight * w for w in weights[1:]]
        pot = Potential(blocks, SparseGPR(kernel=kernel, n_sparse=n_sparse), weights=weights)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            pot.fit(train_frames, energy="energy", forces="forces")
        fit_s = time.perf_counter() - start
        predicted = _binding(test, lambda frames, pot=pot: pot.predict(frames, stress=False)[1])
        per_atom = np.sqrt(
            [np.mean((predicted[0][k] - reference[0][k]) ** 2) for k in range(n_sep)]
        )
        inter = np.sqrt(np.mean((predicted[1] - reference[1]) ** 2, axis=(0, 2)))
        results["models"][name] = {
            "fit_s": fit_s,
            "regularizers": pot.regularizers_,
            "binding_force_rmse": per_atom.tolist(),
            "intermolecular_force_rmse": inter.tolist(),
        }
        print(
            name,
            f"fit {fit_s:.0f} s;",
            "intermolecular force RMSE (meV/Å) by separation:",
            " ".join(f"{1000 * v:.0f}" for v in inter),
            flush=True,
        )
    results["reference_intermolecular_rms"] = np.sqrt(
        np.mean(reference[1] ** 2, axis=(0, 2))
    ).tolist()
    results["reference_binding_rms"] = np.sqrt(
        [np.mean(reference[0][k] ** 2) for k in range(n_sep)]
    ).tolist()
    (out / "dimers_forces.json").write_text(json.dumps(results, indent=1))
    (out / "dimers_forces.md").write_text(table(results))
    figure(results, out / "dimers_forces.png")
    return results


def _binding(dimers, forces_of):
    """Binding forces ``F(AB) − F(A) ⊕ F(B)`` of every curve point (a list over separations of
    stacked per-atom arrays) and the intermolecular force on B, ``(n_dimers, n_sep, 3)``."""
    per_sep: list[list[np.ndarray]] = []
    inter = []
    for d in dimers:
        curve, monomers = frames_of(d)
        forces = forces_of(curve + monomers)
        own = np.concatenate(forces[-2:])
        n_a = len(d.numbers_a)
        rows = []
        for k, f in enumerate(forces[:-2]):
            binding = f - own
            if len(per_sep) <= k:
                per_sep.append([])
            per_sep[k].append(binding)
            rows.append(binding[n_a:].sum(axis=0))
        inter.append(rows)
    return [np.concatenate(p) for p in per_sep], np.array(inter)


def table(results: dict) -> str:
    ks = (0, 2, 4, 8, 12)
    lines = [
        "# Charged dimers with forces",
        "",
        "Command: `python -m lode_rs.experiments.dimers_forces --data FILE` (FILE written by "
        "`python -m lode_rs.datasets.dimer_generator`, which records GFN2-xTB forces).",
        "",
        "![intermolecular force errors](dimers_forces.png)",
        "",
        f"{results['n_train_dimers']} training dimers ({results['n_train_structures']} structures: "
        f"the {results['n_train_separations']} closest points and the two monomers), "
        f"{results['n_test_dimers']} test dimers (all 13 points); sparse GPR ζ = 2, "
        f"{results['n_sparse']} active environments; RMSE in meV/Å",
        "",
        "| model | fit (s) | binding force, all points | "
        + " | ".join(f"intermolecular, point {k}" for k in ks)
        + " |",
        "|---|---|---|" + "---|" * len(ks),
    ]
    ref = results["reference_intermolecular_rms"]
    lines.append(
        "| reference (RMS of xTB) | – | "
        f"{1000 * np.sqrt(np.mean(np.square(results['reference_binding_rms']))):.0f} | "
        + " | ".join(f"{1000 * ref[k]:.0f}" for k in ks)
        + " |"
    )
    for name, m in results["models"].items():
        lines.append(
            f"| {name} | {m['fit_s']:.0f} | "
            f"{1000 * np.sqrt(np.mean(np.square(m['binding_force_rmse']))):.0f} | "
            + " | ".join(f"{1000 * m['intermolecular_force_rmse'][k]:.0f}" for k in ks)
            + " |"
        )
    return "\n".join(lines) + "\n"


def figure(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    k = np.arange(len(results["reference_intermolecular_rms"]))
    ax.semilogy(k, 1000 * np.array(results["reference_intermolecular_rms"]), "k:", label="xTB RMS")
    for name, m in results["models"].items():
        ax.semilogy(k, 1000 * np.array(m["intermolecular_force_rmse"]), "o-", label=name)
    ax.axvline(results["n_train_separations"] - 0.5, color="grey", lw=0.8)
    ax.set_xlabel("curve point (0 = contact, step 0.3 Å); right of the line: not trained on")
    ax.set_ylabel("intermolecular force RMSE (meV/Å)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="a dimer file written with forces")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default="lode-rs-results")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--only", nargs="+", help="models to (re)run")
    args = parser.parse_args()
    run(Path(args.data), Path(args.out), quick=args.quick, n_threads=args.threads, only=args.only)
