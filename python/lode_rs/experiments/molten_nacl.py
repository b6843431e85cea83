"""Molten NaCl: SOAP and SOAP+LODE potentials of a rigid-ion reference, learning curves and MD.

Reference: Tosi–Fumi Born–Mayer–Huggins + Ewald (:mod:`lode_rs.datasets.nacl_reference`),
snapshots of 64-ion boxes at 1100–1500 K from OpenMM MD (:func:`lode_rs.datasets.nacl.molten_nacl`;
an independent set of trajectories for the test). Potentials (:class:`lode_rs.Potential`, sparse
GPR, ζ = 2) fitted on energies and forces for a few training sizes, with

- SOAP power spectra at two cutoffs (4 and 6 Å), and
- each of them + LODE ν = 1 (``RadialSpectrum`` of the charge-weighted LODE expansion, p = 1,
  σ = 1.5 Å, l = 0, on the reciprocal route).

Errors on the held-out snapshots: energy RMSE (meV/atom) and force RMSE (eV/Å and % of the
force standard deviation). The potentials fitted on the most structures then run NVE MD on a
larger box (216 ions) from the same start (positions and velocities) as an OpenMM NVE run of
the reference (:func:`lode_rs.datasets.nacl.molten_nacl_md`): partial radial distribution
functions against the reference's, and the energy drift of each run.

Run: ``lode-rs reproduce molten-nacl [--quick]`` (needs ``pip install 'lode_rs[datasets]'``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..calculators import LodeExpansion, SoapExpansion
from ..datasets import nacl
from ..errors import InvalidParameterError
from ..invariants import PowerSpectrum
from ..models import PolynomialKernel, SparseGPR
from ..potential import Potential
from ..recipe import RadialSpectrum
from . import molten_nacl_md as md

SPECIES = [11, 17]


@dataclass(frozen=True)
class Settings:
    """Sizes of one run of the experiment."""

    n_train: int
    n_test: int
    sizes: tuple[int, ...]
    n_sparse: int
    n_max: int
    l_max: int
    protocol: nacl.Protocol
    md_cells: int
    md_equilibrate_ps: float
    md_ps: float
    md_timestep_fs: float
    md_record_every: int
    md_temperature: float = 1200.0


FULL = Settings(
    n_train=100,
    n_test=60,
    sizes=(10, 30, 80),
    n_sparse=600,
    n_max=6,
    l_max=4,
    protocol=nacl.Protocol(),
    md_cells=3,
    md_equilibrate_ps=5.0,
    md_ps=1.5,
    md_timestep_fs=1.0,
    md_record_every=10,
)

QUICK = Settings(
    n_train=4,
    n_test=2,
    sizes=(2, 4),
    n_sparse=30,
    n_max=3,
    l_max=2,
    protocol=nacl.Protocol(
        temperatures=(1200.0, 1400.0),
        n_trajectories=2,
        melt_ps=0.05,
        equilibrate_ps=0.05,
        stride_fs=20.0,
    ),
    md_cells=3,
    md_equilibrate_ps=0.02,
    md_ps=0.01,
    md_timestep_fs=1.0,
    md_record_every=5,
)


def feature_sets(settings: Settings, n_threads: int) -> dict:
    """Name → a function making the feature blocks (fresh calculators for each fit)."""

    def soap(cutoff: float) -> SoapExpansion:
        return SoapExpansion(
            cutoff=cutoff,
            smearing=0.5,
            n_max=settings.n_max,
            l_max=settings.l_max,
            species=SPECIES,
            n_threads=n_threads,
        )

    def lode() -> LodeExpansion:
        return LodeExpansion(
            cutoff=4.0,
            smearing=1.5,
            n_max=min(settings.n_max, 4),
            l_max=0,
            exponent=1,
            charges=True,
            method="reciprocal",
            n_threads=n_threads,
        )

    return {
        "SOAP 4 Å": lambda: [PowerSpectrum(soap(4.0))],
        "SOAP 6 Å": lambda: [PowerSpectrum(soap(6.0))],
        "SOAP 4 Å + LODE": lambda: [PowerSpectrum(soap(4.0)), RadialSpectrum(lode())],
        "SOAP 6 Å + LODE": lambda: [PowerSpectrum(soap(6.0)), RadialSpectrum(lode())],
    }


def _errors(pot: Potential, test: nacl.MoltenNaCl) -> dict:
    energies, forces, _ = pot.predict(test.frames, stress=False)
    n_atoms = np.array([len(a) for a in test.frames])
    de = (energies - test.energy) / n_atoms
    f_ref = np.concatenate(test.forces)
    df = np.concatenate(forces) - f_ref
    rmse_f = float(np.sqrt(np.mean(df**2)))
    return {
        "energy_rmse_mev": 1e3 * float(np.sqrt(np.mean(de**2))),
        "force_rmse": rmse_f,
        "force_rmse_percent": 100 * rmse_f / float(np.std(f_ref)),
    }


def learning_curves(
    settings: Settings, train, test, n_threads: int, only: Sequence[str] | None = None
) -> tuple[list, dict]:
    """Fit every feature set (or those named in ``only``) at every size; the rows and the
    potential fitted on the most structures of each set."""
    rows, largest = [], {}
    sets = feature_sets(settings, n_threads)
    unknown = sorted(set(only or ()) - set(sets))
    if unknown:
        raise InvalidParameterError(f"unknown feature sets {unknown}; known: {list(sets)}")
    for name, make in sets.items():
        if only is not None and name not in only:
            continue
        for n in settings.sizes:
            pot = Potential(
                make(),
                SparseGPR(kernel=PolynomialKernel(zeta=2), n_sparse=min(settings.n_sparse, 64 * n)),
            )
            start = time.perf_counter()
            pot.fit(train.frames[:n], energy=train.energy[:n], forces=train.forces[:n])
            row = {"features": name, "n_train": n, "fit_s": time.perf_counter() - start}
            row.update(_errors(pot, test))
            row["regularizers"] = {k: float(v) for k, v in pot.regularizers_.items()}
            rows.append(row)
            largest[name] = pot
            print(
                f"{name:16s} n={n:4d}  E {row['energy_rmse_mev']:7.2f} meV/atom  "
                f"F {row['force_rmse']:.4f} eV/Å ({row['force_rmse_percent']:.1f} %)  "
                f"fit {row['fit_s']:.1f} s",
                flush=True,
            )
    return rows, largest


def molecular_dynamics(settings: Settings, potentials: dict, reference: nacl.NaClRun) -> dict:
    """NVE runs of the potentials from the reference's start; RDFs and drift of every run."""
    start = reference.start
    side = float(start.cell[0, 0])
    n_atoms = len(start)
    n_steps = round(settings.md_ps * 1e3 / settings.md_timestep_fs)
    r, g_ref = md.rdf(reference.positions, start.numbers, side)
    half = len(reference.positions) // 2
    noise = None
    if half >= 2:
        _, g_first = md.rdf(reference.positions[:half], start.numbers, side)
        _, g_second = md.rdf(reference.positions[half:], start.numbers, side)
        noise = md.rdf_difference(g_first, g_second).tolist()
    slope, fluct = md.drift(reference.time, reference.potential + reference.kinetic, n_atoms)
    runs = {
        "reference (OpenMM)": {
            "g": g_ref.tolist(),
            "time": reference.time.tolist(),
            "total": ((reference.potential + reference.kinetic) / n_atoms).tolist(),
            "drift_mev_per_ps": slope,
            "fluctuation_mev": fluct,
            "temperature": _temperature(reference.kinetic, n_atoms),
            "stable": True,
            "ps": float(reference.time[-1]) * 1e-3,
        }
    }
    for name, pot in potentials.items():
        run = md.run_nve(
            start,
            pot.calculator(stress=False),
            timestep_fs=settings.md_timestep_fs,
            n_steps=n_steps,
            record_every=settings.md_record_every,
        )
        total = run["potential"] + run["kinetic"]
        slope, fluct = md.drift(run["time"], total, n_atoms)
        _, g = md.rdf(run["positions"], start.numbers, side)
        runs[name] = {
            "g": g.tolist(),
            "time": run["time"].tolist(),
            "total": (total / n_atoms).tolist(),
            "drift_mev_per_ps": slope,
            "fluctuation_mev": fluct,
            "temperature": _temperature(run["kinetic"], n_atoms),
            "stable": run["stable"],
            "ps": float(run["time"][-1]) * 1e-3,
            "rdf_difference": md.rdf_difference(g, g_ref).tolist(),
            "seconds_per_step": run["seconds_per_step"],
        }
        print(
            f"MD {name:16s} {runs[name]['ps']:.2f} ps  stable {run['stable']}  drift "
            f"{slope:+.3f} meV/atom/ps  RDF diff "
            + " ".join(f"{x:.3f}" for x in runs[name]["rdf_difference"]),
            flush=True,
        )
    return {"r": r.tolist(), "n_atoms": n_atoms, "rdf_noise": noise, "runs": runs}


def _temperature(kinetic: np.ndarray, n_atoms: int) -> float:
    from ase import units

    return float(np.mean(kinetic) / (1.5 * n_atoms * units.kB))


def run(
    out: Path,
    *,
    quick: bool = False,
    seed: int = 0,
    n_threads: int = 0,
    cache_dir=None,
    settings: Settings | None = None,
    only: Sequence[str] | None = None,
) -> dict:
    """Generate (or read from the cache) the data, fit, run MD, write
    ``molten_nacl.{md,json,png}`` in ``out``; ``only``: the names of the feature sets to run
    (default all)."""
    settings = settings or (QUICK if quick else FULL)
    out.mkdir(parents=True, exist_ok=True)
    begin = time.perf_counter()
    protocol = settings.protocol
    train = nacl.molten_nacl(settings.n_train, seed=seed, protocol=protocol, cache_dir=cache_dir)
    test = nacl.molten_nacl(
        settings.n_test, seed=seed + 1000, protocol=protocol, cache_dir=cache_dir
    )
    reference = nacl.molten_nacl_md(
        settings.md_cells,
        settings.md_temperature,
        equilibrate_ps=settings.md_equilibrate_ps,
        nve_ps=settings.md_ps,
        timestep_fs=settings.md_timestep_fs,
        record_every=settings.md_record_every,
        seed=seed,
        cache_dir=cache_dir,
    )
    print(f"data: {time.perf_counter() - begin:.0f} s", flush=True)
    rows, largest = learning_curves(settings, train, test, n_threads, only)
    dynamics = molecular_dynamics(settings, largest, reference)
    f_test = np.concatenate(test.forces)
    results = {
        "settings": _settings_dict(settings),
        "n_atoms_train": len(train.frames[0]),
        "force_std": float(np.std(f_test)),
        "energy_std_mev": 1e3 * float(np.std(test.energy / len(test.frames[0]))),
        "rows": rows,
        "md": dynamics,
        "seconds": time.perf_counter() - begin,
    }
    (out / "molten_nacl.json").write_text(json.dumps(results, indent=1))
    write_table(results, out / "molten_nacl.md")
    plot(results, out / "molten_nacl.png")
    return results


def _settings_dict(settings: Settings) -> dict:
    d = {k: v for k, v in settings.__dict__.items() if k != "protocol"}
    d["sizes"] = list(settings.sizes)
    d["protocol"] = settings.protocol.to_dict()
    return d


def write_table(results: dict, path: Path) -> None:
    """The learning-curve and MD tables (markdown)."""
    s = results["settings"]
    p = s["protocol"]
    temperatures = ", ".join(f"{t:.0f}" for t in p["temperatures"])
    lines = [
        "# Molten NaCl",
        "",
        "Made by `lode-rs reproduce molten-nacl"
        + (" --quick" if s["n_train"] < FULL.n_train else "")
        + "` (module `lode_rs.experiments.molten_nacl`); every number below is from that run.",
        "",
        "Reference: rigid ions ±1 e, Tosi–Fumi Born–Mayer–Huggins short range (shifted force, "
        f"cutoff {p['model']['cutoff']} Å) + Ewald electrostatics, in OpenMM (CPU platform). "
        f"Data: {results['n_atoms_train']}-ion boxes at the liquid density of {temperatures} K, "
        f"snapshots every {p['stride_fs']:.0f} fs of {p['n_trajectories']} Langevin trajectories "
        "(training) and of independent trajectories (test). Potentials: `lode_rs.Potential`, "
        f"sparse GPR (ζ = 2, up to {s['n_sparse']} active environments, noise levels "
        "cross-validated) fitted on energies and forces; SOAP power spectra (σ 0.5 Å, "
        f"n_max {s['n_max']}, l_max {s['l_max']}) at 4 and 6 Å, each alone and with LODE ν = 1 "
        "(charge-weighted potential, p = 1, σ 1.5 Å, l = 0, n_max "
        f"{min(s['n_max'], 4)}, reciprocal route).",
        "",
        "![Learning curves, radial distribution functions and energy conservation]"
        "(molten_nacl.png)",
        "",
        "## Learning curves",
        "",
        f"Test set: {s['n_test']} boxes of {results['n_atoms_train']} ions from independent "
        f"trajectories; force std {results['force_std']:.3f} eV/Å, energy std "
        f"{results['energy_std_mev']:.1f} meV/atom.",
        "",
        "| features | n_train | energy RMSE (meV/atom) | force RMSE (eV/Å) | "
        "force RMSE (% of std) | fit time (s) |",
        "|---|---|---|---|---|---|",
    ]
    for row in results["rows"]:
        lines.append(
            f"| {row['features']} | {row['n_train']} | {row['energy_rmse_mev']:.2f} | "
            f"{row['force_rmse']:.4f} | {row['force_rmse_percent']:.1f} | {row['fit_s']:.1f} |"
        )
    dyn = results["md"]
    noise = dyn["rdf_noise"]
    lines += [
        "",
        "## Molecular dynamics on a larger box",
        "",
        f"NVE MD, {dyn['n_atoms']} ions (the training boxes have {results['n_atoms_train']}), "
        f"time step {s['md_timestep_fs']} fs, every run from the same positions and velocities "
        f"(an OpenMM Langevin equilibration at {s['md_temperature']:.0f} K). RDF difference = "
        "∫|g − g_ref| dr / ∫ g_ref dr over r < L/2 (Na–Na, Na–Cl, Cl–Cl)"
        + (
            "; the statistical floor: the first and second halves of the reference run differ by "
            + ", ".join(f"{x:.3f}" for x in noise)
            if noise
            else ""
        )
        + ".",
        "",
        "| run | length (ps) | stable | mean T (K) | drift (meV/atom/ps) | "
        "fluctuation (meV/atom) | RDF difference | time per step (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, run in dyn["runs"].items():
        diff = run.get("rdf_difference")
        lines.append(
            f"| {name} | {run['ps']:.2f} | {'yes' if run['stable'] else 'no'} | "
            f"{run['temperature']:.0f} | {run['drift_mev_per_ps']:+.3f} | "
            f"{run['fluctuation_mev']:.3f} | "
            + (", ".join(f"{x:.3f}" for x in diff) if diff else "–")
            + (f" | {run['seconds_per_step']:.3f} |" if "seconds_per_step" in run else " | – |")
        )
    lines += ["", *VERIFIED.strip("\n").split("\n")]
    path.write_text("\n".join(lines) + "\n")


VERIFIED = """
## What is verified

`tests/test_nacl.py`, `tests/test_molten_nacl.py`:

- OpenMM's two terms separately equal independent evaluations on a disordered 64-ion box in an
  orthorhombic cell. The Coulomb term equals `lode_rs.electrostatic_energy` (the Rust Ewald
  sum) to 1e-6 relative in energy and 1e-5 of the RMS force in forces on the double-precision
  Reference platform (measured 2e-8 and 6e-6), 1e-5 and 1e-4 on the CPU platform, whose pair
  kernels are single precision (measured 2e-7 and 6e-6). The short range equals a numpy pair
  sum over ASE's neighbour list to 1e-9 (measured 1e-15) on the Reference platform, 1e-5 and
  1e-4 on the CPU platform (measured 2e-7 and 4e-6).
- The Coulomb energy of the perfect rock-salt lattice is the Madelung energy −N α k_e/(2 r₀)
  (α = 1.747565) to 1e-6 (measured 1.2e-7: OpenMM's Coulomb constant differs from the core's
  in the 8th digit), with zero forces.
- The reference forces are −∂E/∂r by central differences of OpenMM's energy (h = 1e-4 Å,
  tolerance 2e-6 eV/Å, measured 1e-8 eV/Å); the shifted-force pair term and its force vanish
  at the cutoff.
- The generator is deterministic for a seed (bitwise), differs for another seed, and the stored
  energies and forces are the reference's at the stored positions (independent evaluation,
  1e-5); the data and the NVE run are read back from the cache unchanged; the NVE start carries
  OpenMM's velocities in ASE's units (its kinetic energy is OpenMM's to 0.2 %).
- The RDF code puts the rock-salt shells at a, √2 a, √3 a, 2a with coordination numbers 6, 12,
  8, 6 (to 1e-9), gives g = 1 for uniform random points; the drift is the fitted slope.
- `lode-rs reproduce molten-nacl --quick` runs end to end (every feature set fitted, every MD
  run stable, table and figure written).
"""


def plot(results: dict, path: Path) -> None:
    """Learning curves (energy, forces), RDFs and total energy against time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, axes = plt.subplots(2, 2, figsize=(10, 7.5))
    curves: dict = {}
    for row in results["rows"]:
        curves.setdefault(row["features"], []).append(row)
    for name, rows in curves.items():
        n = [r["n_train"] for r in rows]
        axes[0, 0].loglog(n, [r["energy_rmse_mev"] for r in rows], "o-", label=name)
        axes[0, 1].loglog(n, [r["force_rmse"] for r in rows], "o-", label=name)
    sizes = results["settings"]["sizes"]
    for ax, label in ((axes[0, 0], "energy RMSE (meV/atom)"), (axes[0, 1], "force RMSE (eV/Å)")):
        ax.set(xlabel=f"training boxes ({results['n_atoms_train']} ions)", ylabel=label)
        ax.set_xticks(sizes, [str(n) for n in sizes])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    axes[0, 0].legend(fontsize=8)
    dyn = results["md"]
    r = np.asarray(dyn["r"])
    styles = ["k-", "C0--", "C1--", "C2--", "C3--"]
    for (name, run), style in zip(dyn["runs"].items(), styles, strict=False):
        g = np.asarray(run["g"])
        for k, offset in enumerate((0.0, 3.0, 6.0)):
            axes[1, 0].plot(r, g[k] + offset, style, lw=1)
        t = np.asarray(run["time"]) * 1e-3
        e = np.asarray(run["total"])
        axes[1, 1].plot(t, 1e3 * (e - e[0]), style, lw=1, label=name)
    for k, name in enumerate(md.PAIR_NAMES):
        axes[1, 0].text(r[-1], 3.0 * k + 1.1, name, ha="right", fontsize=8)
    axes[1, 0].set(xlabel="r (Å)", ylabel="g(r) (offset by 3)")
    axes[1, 1].set(xlabel="time (ps)", ylabel="E_total − E_total(0) (meV/atom)")
    axes[1, 1].legend(fontsize=7)
    fig.suptitle(f"Molten NaCl (Tosi–Fumi + Ewald), MD box {dyn['n_atoms']} ions")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


__all__ = ["FULL", "QUICK", "Settings", "feature_sets", "learning_curves", "run"]
