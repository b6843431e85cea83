"""The ``lode-rs`` command line."""

from __future__ import annotations

import argparse
import sys
import time


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
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
