"""The ``lode-rs`` command line: reproduce the paper's experiments, featurize, fit, predict."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .cli_potential import add_fit_options, add_md_parser


def _example(args: argparse.Namespace) -> int:
    import lode_rs

    frames = lode_rs.datasets.random_ionic_gas(args.n_structures, seed=args.seed)
    soap = lode_rs.SoapExpansion(
        cutoff=args.cutoff, smearing=0.5, n_max=6, l_max=4, n_threads=args.threads
    )
    calculator = lode_rs.PowerSpectrum(soap)
    calculator.compute(frames[:1])  # warm-up: thread pool, page faults
    start = time.perf_counter()
    features = calculator.compute(frames)
    elapsed = time.perf_counter() - start
    n_atoms = features.values.shape[0]
    print(f"{args.n_structures} random Na/Cl gases, {n_atoms} atoms, species {soap.species}")
    print(f"SOAP power spectrum: cutoff {args.cutoff} Å, σ 0.5 Å, n_max 6, l_max 4")
    print(f"features: {features.values.shape} (n_atoms, n_features), labels {features.label_names}")
    print(f"time: {elapsed * 1e3:.1f} ms, {n_atoms / elapsed:,.0f} atoms/s")
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    from .experiments import point_charges, water, water_tensor

    out = Path(args.out)
    start = time.perf_counter()
    if args.experiment == "dimers":
        return _reproduce_dimers(args, out, start)
    experiment = {
        "point-charges": point_charges,
        "water": water,
        "water-tensor": water_tensor,
    }[args.experiment]
    stem = args.experiment.replace("-", "_")
    experiment.run(
        out, quick=args.quick, seed=args.seed, n_threads=args.threads, cache_dir=args.cache
    )
    print((out / f"{stem}.md").read_text())
    print(f"wrote {out / f'{stem}.png'} and {out / f'{stem}.md'}")
    print(f"total time {time.perf_counter() - start:.0f} s")
    return 0


def _reproduce_dimers(args: argparse.Namespace, out: Path, start: float) -> int:
    from .experiments import dimers

    dimers.run(out, quick=args.quick, data=args.data, seed=args.seed, n_threads=args.threads)
    print((out / "dimers.md").read_text())
    print(f"wrote {out / 'dimers.png'}, {out / 'dimers.md'} and {out / 'dimers.json'}")
    print(f"total time {time.perf_counter() - start:.0f} s")
    return 0


def _calculators(args: argparse.Namespace) -> list:
    import lode_rs

    calcs = []
    if args.soap:
        calcs.append(lode_rs.SoapExpansion(**json.loads(args.soap), n_threads=args.threads))
    if args.lode:
        calcs.append(lode_rs.LodeExpansion(**json.loads(args.lode), n_threads=args.threads))
    if not calcs:
        raise SystemExit("give --soap and/or --lode hyper-parameters (JSON)")
    return calcs


def _features(calcs: list, invariant: str, frames):
    import lode_rs

    if invariant == "radial":
        blocks = [lode_rs.invariants.radial(c, frames) for c in calcs]
    elif invariant == "power" or len(calcs) == 1:
        blocks = [lode_rs.PowerSpectrum(c).compute(frames) for c in calcs]
    else:  # "mixed": SOAP ⊗ LODE
        blocks = [lode_rs.PowerSpectrum(calcs[0], calcs[1]).compute(frames)]
    return blocks[0] if len(blocks) == 1 else lode_rs.models.concatenate(blocks)


def _read(paths: list[str]):
    import ase.io

    frames = []
    for path in paths:
        frames.extend(ase.io.read(path, ":"))
    return frames


def _featurize(args: argparse.Namespace) -> int:
    import numpy as np

    frames = _read(args.files)
    x = _features(_calculators(args), args.invariant, frames)
    np.savez_compressed(
        args.output,
        values=x.values,
        structure=x.structure,
        centers=x.centers,
        center_species=x.center_species,
        labels=x.labels,
        label_names=np.array(x.label_names),
        hypers=json.dumps({"soap": args.soap, "lode": args.lode, "invariant": args.invariant}),
    )
    print(f"{len(frames)} structures -> {x.values.shape} features in {args.output}")
    return 0


def _targets(frames, name: str):
    import numpy as np

    values = []
    for i, atoms in enumerate(frames):
        if name in atoms.info:
            values.append(float(atoms.info[name]))
        elif name == "energy" and atoms.calc is not None:
            values.append(float(atoms.get_potential_energy()))
        else:
            raise SystemExit(f"structure {i} has no target property '{name}'")
    return np.array(values)


def _fit(args: argparse.Namespace) -> int:
    import lode_rs

    frames = _read(args.files)
    if getattr(args, "forces", None) or getattr(args, "stress", None):
        from .cli_potential import fit_potential

        return fit_potential(args, _calculators(args), frames)
    y = _targets(frames, args.target)
    x = _features(_calculators(args), args.invariant, frames)
    if args.model == "ridge":
        model = lode_rs.models.Ridge(regularizer=args.regularizer)
    else:
        kernel = lode_rs.models.PolynomialKernel(zeta=args.zeta)
        model = lode_rs.models.SparseGPR(
            kernel=kernel, n_sparse=args.n_sparse, regularizer=args.regularizer
        )
    hypers = {"soap": args.soap, "lode": args.lode, "invariant": args.invariant}
    model.fit(x, y, features=hypers)
    model.save(args.output)
    print(f"fitted {model!r} on {len(frames)} structures -> {args.output}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    import numpy as np

    import lode_rs

    from .cli_potential import is_potential, predict_potential

    if is_potential(args.model):
        return predict_potential(args, _read(args.files))
    model = lode_rs.models.load(args.model)
    hypers = model.features_
    ns = argparse.Namespace(soap=hypers["soap"], lode=hypers["lode"], threads=args.threads)
    frames = _read(args.files)
    x = _features(_calculators(ns), hypers["invariant"], frames)
    prediction = model.predict(x)
    if args.output:
        np.savetxt(args.output, prediction)
    for value in prediction:
        print(f"{value:.10g}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``lode-rs`` console script."""
    parser = argparse.ArgumentParser(prog="lode-rs", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    example = sub.add_parser(
        "example", help="SOAP power spectra of the built-in random Na/Cl gases, with timing"
    )
    example.add_argument("--n-structures", type=int, default=100)
    example.add_argument("--cutoff", type=float, default=6.0)
    example.add_argument("--threads", type=int, default=0, help="0: all cores")
    example.add_argument("--seed", type=int, default=0)
    example.set_defaults(run=_example)

    reproduce = sub.add_parser("reproduce", help="run one of the paper's experiments")
    reproduce.add_argument(
        "experiment", choices=["point-charges", "dimers", "water", "water-tensor"]
    )
    reproduce.add_argument("--quick", action="store_true", help="reduced run (minutes)")
    reproduce.add_argument("--out", default="lode-rs-results")
    reproduce.add_argument(
        "--cache", default=None, help="dataset and kernel cache (default ~/.cache/lode_rs)"
    )
    reproduce.add_argument("--threads", type=int, default=0)
    reproduce.add_argument("--seed", type=int, default=0)
    reproduce.add_argument(
        "--data",
        choices=["generated", "bfdb"],
        default="generated",
        help="dimers: the shipped GFN2-xTB set or the paper's 10 public dimers",
    )
    reproduce.set_defaults(run=_reproduce)

    def calculator_options(p):
        p.add_argument(
            "--soap",
            help='SOAP hyper-parameters as JSON, e.g. \'{"cutoff": 4, '
            '"smearing": 0.3, "n_max": 6, "l_max": 4}\'',
        )
        p.add_argument("--lode", help="LODE hyper-parameters as JSON (LodeExpansion arguments)")
        p.add_argument("--invariant", choices=["radial", "power", "mixed"], default="power")
        p.add_argument("--threads", type=int, default=0)

    featurize = sub.add_parser("featurize", help="features of ASE-readable files -> .npz")
    featurize.add_argument("files", nargs="+")
    featurize.add_argument("-o", "--output", default="features.npz")
    calculator_options(featurize)
    featurize.set_defaults(run=_featurize)

    fit = sub.add_parser("fit", help="fit a model on extxyz files with a target property")
    fit.add_argument("files", nargs="+")
    fit.add_argument("--target", required=True, help="atoms.info key (or 'energy')")
    fit.add_argument("--model", choices=["ridge", "sparse-gpr"], default="sparse-gpr")
    fit.add_argument("--zeta", type=int, default=2)
    fit.add_argument("--n-sparse", type=int, default=500)
    fit.add_argument("--regularizer", type=float, default=None, help="default: cross-validated")
    fit.add_argument("-o", "--output", default="model.npz")
    calculator_options(fit)
    add_fit_options(fit)
    fit.set_defaults(run=_fit)

    predict = sub.add_parser("predict", help="predict with a saved model")
    predict.add_argument("model")
    predict.add_argument("files", nargs="+")
    predict.add_argument("-o", "--output", default=None)
    predict.add_argument("--threads", type=int, default=0)
    predict.set_defaults(run=_predict)

    add_md_parser(sub)

    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
