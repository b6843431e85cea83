"""The ``lode-rs`` command line: reproduce the paper's experiments, featurize, fit, predict.

Every user error (missing or unreadable file, malformed JSON, bad hyper-parameters, an output
directory that does not exist, ...) is reported as one line on stderr with exit status 1
(``main`` raises ``SystemExit`` with that line); Ctrl-C exits with status 130.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import zipfile
from pathlib import Path

from .cli_potential import add_fit_options, add_md_parser


class UserError(Exception):
    """An error in what the user asked for: printed as one line, no traceback."""


def _note(message: str) -> None:
    print(f"lode-rs: note: {message}", file=sys.stderr)


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
    from .experiments import molten_nacl, point_charges, water, water_tensor

    out = Path(args.out)
    start = time.perf_counter()
    if args.experiment == "dimers":
        return _reproduce_dimers(args, out, start)
    experiment = {
        "point-charges": point_charges,
        "water": water,
        "water-tensor": water_tensor,
        "molten-nacl": molten_nacl,
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


def _hypers(text: str | None, option: str) -> dict | None:
    """The JSON object given to ``--soap``/``--lode``."""
    if text is None:
        return None
    try:
        hypers = json.loads(text)
    except json.JSONDecodeError as e:
        raise UserError(f"{option}: not valid JSON ({e.msg} at character {e.pos}): {text!r}") from e
    if not isinstance(hypers, dict):
        raise UserError(f"{option}: expected a JSON object of hyper-parameters, got {text!r}")
    return hypers


def _calculators(args: argparse.Namespace) -> list:
    import lode_rs

    calcs = []
    for option, name in (("--soap", "soap"), ("--lode", "lode")):
        hypers = _hypers(getattr(args, name), option)
        if hypers is None:
            continue
        kind = lode_rs.SoapExpansion if name == "soap" else lode_rs.LodeExpansion
        try:
            calcs.append(kind(**hypers, n_threads=args.threads))
        except TypeError as e:  # unknown or missing keyword
            raise UserError(f"{option}: {e}".replace(".__init__() ", " ")) from e
    if not calcs:
        raise UserError("give --soap and/or --lode hyper-parameters (JSON)")
    if args.invariant == "mixed" and len(calcs) != 2:
        raise UserError(
            "--invariant mixed (the SOAP x LODE power spectrum) needs both --soap and --lode"
        )
    return calcs


def _features(calcs: list, invariant: str, frames, args: argparse.Namespace | None = None):
    import lode_rs

    if invariant == "radial":
        invariants = [lode_rs.invariants.RadialSpectrum(c) for c in calcs]
    elif invariant == "power":
        invariants = [lode_rs.PowerSpectrum(c) for c in calcs]
    else:  # "mixed": SOAP ⊗ LODE
        invariants = [lode_rs.PowerSpectrum(calcs[0], calcs[1])]
    scheduler = getattr(args, "scheduler", None)
    if scheduler:
        blocks = _distributed_features(invariants, frames, scheduler, args.chunk_size)
    else:
        blocks = [i.compute(frames) for i in invariants]
    return blocks[0] if len(blocks) == 1 else lode_rs.models.concatenate(blocks)


def _distributed_features(invariants: list, frames, scheduler: str, chunk_size: int) -> list:
    from dask.distributed import Client

    import lode_rs.distributed

    with Client(scheduler) as client:
        return [
            lode_rs.distributed.compute(
                i.fix_species(frames), frames, client=client, chunk_size=chunk_size
            )
            for i in invariants
        ]


def _read(paths: list[str]):
    import ase.io

    frames = []
    for path in paths:
        if not os.path.isfile(path):
            raise UserError(f"{path}: no such file")
        try:
            read = ase.io.read(path, ":")
        except Exception as e:  # ase raises many types for unreadable files
            raise UserError(f"{path}: cannot read structures ({type(e).__name__}: {e})") from e
        read = read if isinstance(read, list) else [read]
        if not read:
            raise UserError(f"{path}: the file holds no structures")
        frames.extend(read)
    return frames


def _writable(path: str) -> None:
    """Fail before any computation when ``path`` cannot be written."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise UserError(f"{path}: the output directory {directory} does not exist")
    if not os.access(directory, os.W_OK):
        raise UserError(f"{path}: the output directory {directory} is not writable")


def _featurize(args: argparse.Namespace) -> int:
    import numpy as np

    _writable(args.output)
    calcs = _calculators(args)
    frames = _read(args.files)
    x = _features(calcs, args.invariant, frames, args)
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
            raise UserError(
                f"structure {i} has no target property {name!r} (an atoms.info key, or "
                "'energy' for a stored calculator energy)"
            )
    return np.array(values)


def _fit(args: argparse.Namespace) -> int:
    import lode_rs

    if len(args.files) == 1 and args.files[0].endswith((".yaml", ".yml")):
        return _fit_options(args)
    if args.override:
        raise UserError("-r/--override needs an options file: lode-rs fit options.yaml -r ...")
    if args.target is None:
        raise UserError("give --target (an atoms.info key), or fit with an options.yaml file")
    _writable(args.output)
    calcs = _calculators(args)
    frames = _read(args.files)
    if getattr(args, "forces", None) or getattr(args, "stress", None):
        from .cli_potential import fit_potential

        return fit_potential(args, calcs, frames)
    y = _targets(frames, args.target)
    x = _features(calcs, args.invariant, frames, args)
    if args.model == "ridge":
        model = lode_rs.models.Ridge(regularizer=args.regularizer)
    else:
        n_environments = x.values.shape[0]
        n_sparse = args.n_sparse
        if n_sparse > n_environments:
            _note(
                f"--n-sparse {n_sparse} is more than the {n_environments} environments of the "
                f"training set: using all {n_environments}"
            )
            n_sparse = n_environments
        kernel = lode_rs.models.PolynomialKernel(zeta=args.zeta)
        model = lode_rs.models.SparseGPR(
            kernel=kernel, n_sparse=n_sparse, regularizer=args.regularizer
        )
    hypers = {"soap": args.soap, "lode": args.lode, "invariant": args.invariant}
    model.fit(x, y, features=hypers)
    model.save(args.output)
    print(f"fitted {model!r} on {len(frames)} structures -> {args.output}")
    return 0


def _fit_options(args: argparse.Namespace) -> int:
    import numpy as np

    import lode_rs
    from lode_rs import options as opts
    from lode_rs.models.data import as_atomic_data

    options = opts.read(args.files[0], args.override or [])
    data, feats, spec = options["data"], options["features"], options["model"]
    frames = _read(data["files"])
    y = _targets(frames, data["target"])
    rng = np.random.default_rng(options["seed"])
    order = rng.permutation(len(frames))
    n_test = int(round(data["test_fraction"] * len(frames)))
    test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
    hypers = {
        "soap": None if feats["soap"] is None else json.dumps(feats["soap"]),
        "lode": None if feats["lode"] is None else json.dumps(feats["lode"]),
        "invariant": feats["invariant"],
    }
    ns = argparse.Namespace(
        soap=hypers["soap"],
        lode=hypers["lode"],
        threads=feats["threads"],
        invariant=feats["invariant"],
        scheduler=options["scheduler"],
        chunk_size=options["chunk_size"],
    )
    x = _features(_calculators(ns), feats["invariant"], frames, ns)
    if spec["type"] == "ridge":
        model = lode_rs.models.Ridge(regularizer=spec["regularizer"], seed=options["seed"])
    else:
        model = lode_rs.models.SparseGPR(
            kernel=lode_rs.models.PolynomialKernel(zeta=spec["zeta"]),
            n_sparse=spec["n_sparse"],
            regularizer=spec["regularizer"],
            seed=options["seed"],
        )
    train_x = as_atomic_data(x).subset(train)
    model.fit(train_x, y[train], features=hypers)
    output = Path(options["output"])
    model.save(str(output))
    stem = output.with_suffix("")
    opts.write(options, f"{stem}.options.yaml")
    split = {"seed": options["seed"], "train": train.tolist(), "test": test.tolist()}
    Path(f"{stem}.split.json").write_text(json.dumps(split))
    print(f"fitted {model!r} on {len(train)} structures -> {output}")
    print(f"wrote {stem}.options.yaml (all options) and {stem}.split.json (seed, split)")
    if n_test:
        test_x = as_atomic_data(x).subset(test)
        predicted = model.predict(test_x)
        lode_rs.plotting.parity({data["target"]: (y[test], predicted)}, f"{stem}.parity.png")
        error = lode_rs.models.rmse_percent(predicted, y[test])
        print(f"test RMSE {error:.2f} % of the std on {n_test} structures; {stem}.parity.png")
    return 0


def _predict(args: argparse.Namespace) -> int:
    import numpy as np

    import lode_rs

    if args.output:
        _writable(args.output)
    if not os.path.isfile(args.model):
        raise UserError(f"{args.model}: no such model file")

    from .cli_potential import is_potential, predict_potential

    try:
        potential = is_potential(args.model)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        potential = False  # not a readable archive: models.load says why, in one error
    if potential:
        return predict_potential(args, _read(args.files))
    model = lode_rs.models.load(args.model)
    hypers = model.features_
    if not isinstance(hypers, dict) or not {"soap", "lode", "invariant"} <= set(hypers):
        raise UserError(
            f"{args.model}: the model does not record the features it was fitted on (save it "
            "with `lode-rs fit`, or compute the features in Python)"
        )
    ns = argparse.Namespace(
        soap=hypers["soap"],
        lode=hypers["lode"],
        invariant=hypers["invariant"],
        threads=args.threads,
    )
    frames = _read(args.files)
    x = _features(_calculators(ns), hypers["invariant"], frames)
    prediction = model.predict(x)
    if args.output:
        np.savetxt(args.output, prediction)
    for value in prediction:
        print(f"{value:.10g}")
    return 0


DEFAULT_MAP_SOAP = '{"cutoff": 4.0, "smearing": 0.3, "n_max": 6, "l_max": 4}'


def _map(args: argparse.Namespace) -> int:
    import lode_rs
    from lode_rs.interop.chemiscope import write_map

    frames = _read(args.files)
    kernel, match, properties = None, False, {}
    if args.model:
        model = lode_rs.models.load(args.model)
        hypers = model.features_ or {}
        args.soap, args.lode = hypers.get("soap"), hypers.get("lode")
        args.invariant = hypers.get("invariant", args.invariant)
        kernel, match = getattr(model, "kernel_", None), getattr(model, "match_species", False)
    elif not (args.soap or args.lode):
        args.soap = DEFAULT_MAP_SOAP
    x = _features(_calculators(args), args.invariant, frames)
    if args.model:
        properties["prediction"] = model.predict(x)
    method = args.projection or ("kpca" if kernel is not None else "pca")
    if method == "kpca" and kernel is None:
        kernel = lode_rs.models.PolynomialKernel(zeta=args.zeta)
    output = Path(args.output)
    png = args.png or str(output.with_name(output.name.split(".")[0] + ".png"))
    write_map(
        args.output,
        frames,
        x,
        properties=properties,
        method=method,
        kernel=kernel,
        match_species=match,
        png=png,
        color=args.color,
        name=", ".join(Path(f).name for f in args.files),
    )
    print(f"{len(frames)} structures, {method.upper()} of {x.values.shape[1]} features")
    print(f"wrote {args.output} (open at https://chemiscope.org) and {png}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lode-rs", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    threads_help = "threads to use (0, the default: all cores; results do not depend on it)"
    seed_help = "random seed (default 0)"

    example = sub.add_parser(
        "example", help="SOAP power spectra of the built-in random Na/Cl gases, with timing"
    )
    example.add_argument(
        "--n-structures", type=int, default=100, help="number of gases (default 100)"
    )
    example.add_argument("--cutoff", type=float, default=6.0, help="SOAP cutoff in Å (default 6)")
    example.add_argument("--threads", type=int, default=0, help=threads_help)
    example.add_argument("--seed", type=int, default=0, help=seed_help)
    example.set_defaults(run=_example)

    reproduce = sub.add_parser("reproduce", help="run one of the paper's experiments")
    reproduce.add_argument(
        "experiment",
        choices=["point-charges", "dimers", "water", "water-tensor", "molten-nacl"],
        help="the experiment to run",
    )
    reproduce.add_argument("--quick", action="store_true", help="reduced run (minutes)")
    reproduce.add_argument(
        "--out", default="lode-rs-results", help="output directory (default lode-rs-results)"
    )
    reproduce.add_argument(
        "--cache", default=None, help="dataset and kernel cache (default ~/.cache/lode_rs)"
    )
    reproduce.add_argument("--threads", type=int, default=0, help=threads_help)
    reproduce.add_argument("--seed", type=int, default=0, help=seed_help)
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
            '"smearing": 0.3, "n_max": 6, "l_max": 4}\' (SoapExpansion arguments)',
        )
        p.add_argument("--lode", help="LODE hyper-parameters as JSON (LodeExpansion arguments)")
        p.add_argument(
            "--invariant",
            choices=["radial", "power", "mixed"],
            default="power",
            help="features: radial (nu=1), power (nu=2 power spectrum of each expansion, the "
            "default) or mixed (the SOAP x LODE power spectrum; needs --soap and --lode)",
        )
        p.add_argument("--threads", type=int, default=0, help=threads_help)
        p.add_argument(
            "--scheduler",
            default=None,
            help="Dask scheduler address (tcp://host:8786): features computed on its workers",
        )
        p.add_argument(
            "--chunk-size", type=int, default=100, help="structures per Dask task (default 100)"
        )

    featurize = sub.add_parser("featurize", help="features of ASE-readable files -> .npz")
    featurize.add_argument("files", nargs="+", help="structure files (any format ASE reads)")
    featurize.add_argument(
        "-o", "--output", default="features.npz", help="output file (default features.npz)"
    )
    calculator_options(featurize)
    featurize.set_defaults(run=_featurize)

    fit = sub.add_parser(
        "fit",
        help="fit a model: 'fit options.yaml [-r key=value]' or 'fit files --target ...'",
    )
    fit.add_argument(
        "files", nargs="+", help="an options.yaml file, or training structures (any ASE format)"
    )
    fit.add_argument(
        "-r",
        "--override",
        action="append",
        help="with an options file: override an option, e.g. -r model.zeta=3",
    )
    fit.add_argument(
        "--target", default=None, help="the target: an atoms.info key, or 'energy'"
    )
    fit.add_argument(
        "--model",
        choices=["ridge", "sparse-gpr"],
        default="sparse-gpr",
        help="linear ridge regression or sparse Gaussian process (default sparse-gpr)",
    )
    fit.add_argument(
        "--zeta", type=int, default=2, help="sparse-gpr: polynomial kernel exponent (default 2)"
    )
    fit.add_argument(
        "--n-sparse",
        type=int,
        default=500,
        help="sparse-gpr: active environments (default 500; capped at the number of "
        "training environments)",
    )
    fit.add_argument(
        "--regularizer",
        type=float,
        default=None,
        help="regularizer relative to the kernel's scale (default: cross-validated)",
    )
    fit.add_argument("-o", "--output", default="model.npz", help="model file (default model.npz)")
    calculator_options(fit)
    add_fit_options(fit)
    fit.set_defaults(run=_fit)

    predict = sub.add_parser("predict", help="predict with a saved model")
    predict.add_argument("model", help="a model file written by `lode-rs fit`")
    predict.add_argument("files", nargs="+", help="structures to predict (any format ASE reads)")
    predict.add_argument(
        "-o", "--output", default=None, help="also write the predictions to this text file"
    )
    predict.add_argument("--threads", type=int, default=0, help=threads_help)
    predict.set_defaults(run=_predict)

    chart = sub.add_parser(
        "map", help="chemiscope map (2D projection of the features) of ASE-readable files"
    )
    chart.add_argument("files", nargs="+", help="structures to map (any format ASE reads)")
    chart.add_argument(
        "-o", "--output", default="map.json.gz", help="chemiscope input (default map.json.gz)"
    )
    chart.add_argument("--png", default=None, help="PNG of the map (default: beside the output)")
    chart.add_argument(
        "--model", default=None, help="a saved model: its features, kernel (kPCA), predictions"
    )
    chart.add_argument(
        "--projection",
        choices=["pca", "kpca"],
        default=None,
        help="PCA, or kernel PCA (default: kpca with --model, else pca)",
    )
    chart.add_argument("--color", default=None, help="property colouring the map")
    chart.add_argument("--zeta", type=int, default=2, help="kPCA kernel exponent (no --model)")
    calculator_options(chart)
    chart.set_defaults(run=_map)
    add_md_parser(sub)
    return parser


def _one_line(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``lode-rs`` console script; returns the exit status.

    A user error raises ``SystemExit`` with its one-line message (printed on stderr with exit
    status 1 by the interpreter, as argparse does for usage errors).
    """
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("lode-rs: interrupted", file=sys.stderr)
        return 130
    except (UserError, OSError, ValueError) as e:
        # user errors: our own, files (missing, unwritable), and lode_rs's InvalidInputError /
        # InvalidParameterError (ValueError subclasses); anything else is a bug and keeps its
        # traceback
        raise SystemExit(f"lode-rs {args.command}: error: {_one_line(e)}") from None


if __name__ == "__main__":
    sys.exit(main())
