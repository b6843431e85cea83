"""``lode-rs`` commands for potentials: ``fit --forces``, ``predict`` with forces, ``md``."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def add_fit_options(fit: argparse.ArgumentParser) -> None:
    """Options of ``lode-rs fit`` that make it fit a :class:`lode_rs.Potential`."""
    fit.add_argument("--forces", help="atoms.arrays key of the forces: fit a potential")
    fit.add_argument("--stress", help="atoms.info key of the stress (Voigt, ASE's sign)")
    for kind, unit in (("energy", "eV/atom"), ("forces", "eV/Å"), ("stress", "eV/Å³")):
        fit.add_argument(
            f"--sigma-{kind}",
            type=float,
            default=None,
            help=f"potential: noise of the {kind} ({unit}); default: cross-validated",
        )


def is_potential(path: str) -> bool:
    """Whether ``path`` holds a potential (rather than a plain model)."""
    import numpy as np

    with np.load(path, allow_pickle=False) as archive:
        if "metadata" not in archive.files:
            return False
        return json.loads(str(archive["metadata"])).get("format") == "lode_rs.potential"


def fit_potential(args: argparse.Namespace, calcs: list, frames: list) -> int:
    """``lode-rs fit ... --forces KEY [--stress KEY]``: fit and save a potential (and its
    in-sample parity plot beside it)."""
    import numpy as np

    import lode_rs

    if args.invariant == "radial":
        blocks = [lode_rs.potential.RadialSpectrum(c) for c in calcs]
    elif args.invariant == "power" or len(calcs) == 1:
        blocks = [lode_rs.PowerSpectrum(c) for c in calcs]
    else:
        blocks = [lode_rs.PowerSpectrum(calcs[0]), lode_rs.PowerSpectrum(calcs[0], calcs[1])]
    if args.model == "ridge":
        model = lode_rs.models.Ridge()
    else:
        model = lode_rs.models.SparseGPR(
            kernel=lode_rs.models.PolynomialKernel(zeta=args.zeta), n_sparse=args.n_sparse
        )
    sigmas = {"energy": args.sigma_energy, "forces": args.sigma_forces, "stress": args.sigma_stress}
    pot = lode_rs.Potential(blocks, model, regularizers={k: v for k, v in sigmas.items() if v})
    start = time.perf_counter()
    pot.fit(frames, energy=args.target, forces=args.forces, stress=args.stress)
    pot.save(args.output)
    print(
        f"fitted a potential on {len(frames)} structures in {time.perf_counter() - start:.1f} s "
        f"(regularizers {pot.regularizers_}) -> {args.output}"
    )
    from .potential_targets import read_energies, read_forces

    energies, forces, _ = pot.predict(frames, stress=False)
    parity = {"energy (eV)": (read_energies(frames, args.target), energies)}
    if args.forces:
        reference = np.concatenate(read_forces(frames, args.forces))
        parity["force components (eV/Å)"] = (reference, np.concatenate(forces))
    written = lode_rs.plotting.parity_beside(args.output, parity, "training set")
    print(f"wrote {written} (in-sample)")
    return 0


def predict_potential(args: argparse.Namespace, frames: list) -> int:
    """``lode-rs predict pot.npz files``: energies printed, ``-o out.xyz`` with forces (and the
    stress of periodic structures)."""
    import numpy as np
    from ase.calculators.singlepoint import SinglePointCalculator

    import lode_rs

    pot = lode_rs.load_potential(args.model, n_threads=args.threads)
    energies, forces, stress = pot.predict(frames, stress=None)
    if args.output:
        if args.output.endswith(".xyz"):
            import ase.io

            for i, atoms in enumerate(frames):
                results = {"energy": energies[i], "forces": forces[i]}
                if stress is not None:
                    results["stress"] = lode_rs.potential_targets.voigt(stress[i])
                atoms.calc = SinglePointCalculator(atoms, **results)
            ase.io.write(args.output, frames)
        else:
            np.savetxt(args.output, energies)
    for value in energies:
        print(f"{value:.10g}")
    return 0


def thermalize(atoms, temperature_k: float, rng) -> None:
    """Maxwell–Boltzmann momenta at ``temperature_k`` (ASE ≥ 3.29 ``thermalize_momenta``,
    else ``MaxwellBoltzmannDistribution``)."""
    from ase.md import velocitydistribution as vd

    if hasattr(vd, "thermalize_momenta"):
        vd.thermalize_momenta(atoms, temperature_k, rng=rng)
    else:
        vd.MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_k, rng=rng)


def _md(args: argparse.Namespace) -> int:
    import ase.io
    import numpy as np
    from ase import units
    from ase.md.velocitydistribution import Stationary

    import lode_rs

    from .progress import progress

    atoms = ase.io.read(args.structure)
    atoms.calc = lode_rs.load_potential(args.potential, n_threads=args.threads).calculator()
    timestep = args.timestep * units.fs
    rng = np.random.default_rng(args.seed)
    if args.temperature:
        thermalize(atoms, args.temperature, rng)
        Stationary(atoms)
    if args.thermostat == "langevin":
        from ase.md.langevin import Langevin

        if not args.temperature:
            raise SystemExit("--thermostat langevin needs --temperature")
        dyn = Langevin(
            atoms,
            timestep,
            temperature_K=args.temperature,
            friction=0.01 / units.fs,
            fixcm=False,
            rng=rng,
        )
    else:
        from ase.md.verlet import VelocityVerlet

        dyn = VelocityVerlet(atoms, timestep)
    times, potential, kinetic = [], [], []

    def record():
        times.append(dyn.get_time() / units.fs)
        potential.append(atoms.get_potential_energy())
        kinetic.append(atoms.get_kinetic_energy())

    record()
    start = time.perf_counter()
    for _ in progress(range(args.steps), desc="MD steps"):
        dyn.run(1)
        record()
    elapsed = time.perf_counter() - start
    if args.trajectory:
        atoms.write(args.trajectory)
    total = np.array(potential) + np.array(kinetic)
    drift = (total[-1] - total[0]) / len(atoms)
    print(
        f"{args.steps} steps of {args.timestep} fs ({args.thermostat}) on {len(atoms)} atoms in "
        f"{elapsed:.1f} s ({elapsed / max(args.steps, 1) * 1e3:.1f} ms/step); total energy "
        f"change {drift * 1e3:.3f} meV/atom, std {np.std(total) / len(atoms) * 1e3:.3f} meV/atom"
    )
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        t = np.array(times)
        ax.plot(t, np.array(potential) / len(atoms), label="potential")
        ax.plot(t, np.array(kinetic) / len(atoms), label="kinetic")
        ax.plot(t, total / len(atoms), label="total")
        ax.set_xlabel("time (fs)")
        ax.set_ylabel("energy per atom (eV)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print(f"wrote {args.plot}")
    if args.log:
        Path(args.log).write_text(
            json.dumps({"time_fs": times, "potential": potential, "kinetic": kinetic})
        )
    return 0


def add_md_parser(sub) -> None:
    """The ``lode-rs md`` subcommand."""
    md = sub.add_parser("md", help="molecular dynamics (ASE) with a saved potential")
    md.add_argument("structure", help="ASE-readable starting structure")
    md.add_argument("potential", help="potential saved by lode-rs fit --forces / Potential.save")
    md.add_argument("--steps", type=int, default=100, help="number of MD steps (default 100)")
    md.add_argument("--timestep", type=float, default=1.0, help="fs")
    md.add_argument("--temperature", type=float, default=None, help="K: initial velocities")
    md.add_argument(
        "--thermostat",
        choices=["nve", "langevin"],
        default="nve",
        help="nve (velocity Verlet, the default) or langevin",
    )
    md.add_argument("--plot", default="md_energy.png", help="energy against time ('' for none)")
    md.add_argument("--trajectory", default=None, help="write the last frame here")
    md.add_argument("--log", default=None, help="energies against time as JSON")
    md.add_argument(
        "--threads", type=int, default=0, help="threads to use (0, the default: all cores)"
    )
    md.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    md.set_defaults(run=_md)
