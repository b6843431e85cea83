"""Features of the three experiments' data, saved or compared bitwise.

Refactors must not change a single bit of the features. Run on the code before the change
with ``--save before.npz``, then on the code after it with ``--compare before.npz``: the script
exits non-zero and names the block when any array differs in any bit.

The blocks cover every LODE route (reciprocal, shells, Ewald, mesh, pairs for p = 0, finite
real space), p = 0…6, species and charge channels, ``center_weight``, SOAP at the experiments'
cutoffs, ν = 1 and ν = 2 (plain and mixed SOAP ⊗ LODE), on:
- the point-charge gases (``datasets.point_charges``, first 24 structures),
- the charged dimers (``datasets.charged_dimers``, first 24 structures),
- the water boxes (``datasets.water_dielectric``, first 6 boxes).

Usage::

    python benches/features_identical.py --save before.npz
    python benches/features_identical.py --compare before.npz
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

import lode_rs
from lode_rs import LodeExpansion, PowerSpectrum, SoapExpansion, datasets, invariants


def _frames() -> dict[str, list]:
    gases, _ = datasets.point_charges(n_structures=24, seed=0)
    dimers = datasets.charged_dimers()
    water = datasets.water_dielectric()
    return {
        "gases": list(gases[:24]),
        "dimers": list(dimers.frames[:24]),
        "water": list(water.frames[:6]),
    }


def _blocks(frames: dict[str, list]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    gases, dimers, water = frames["gases"], frames["dimers"], frames["water"]
    basis = dict(n_max=6, l_max=4, n_threads=1)

    # point-charge gases: SOAP cutoffs of the experiment, LODE on every route and exponent
    for cutoff in (3.0, 6.0):
        soap = SoapExpansion(cutoff=cutoff, smearing=0.5, species=[11, 17], **basis)
        out[f"gases/soap{cutoff:g}/ps"] = PowerSpectrum(soap).compute(gases).values
    for method in ("reciprocal", "ewald", "mesh", "auto"):
        for p in (1, 2, 3, 4, 6):
            lode = LodeExpansion(
                cutoff=3.0, smearing=1.0, exponent=p, method=method, species=[11, 17], **basis
            )
            out[f"gases/lode/{method}/p{p}"] = lode.compute(gases).values
    lode0 = LodeExpansion(cutoff=3.0, smearing=1.0, exponent=0, species=[11, 17], **basis)
    out["gases/lode/pairs/p0"] = lode0.compute(gases).values
    radial = LodeExpansion(cutoff=2.0, smearing=0.5, n_max=6, l_max=0, species=[11, 17])
    out["gases/radial"] = invariants.radial(radial, gases).values
    lode = LodeExpansion(cutoff=3.0, smearing=1.0, species=[11, 17], **basis)
    out["gases/lode/ps"] = PowerSpectrum(lode).compute(gases).values
    charged = LodeExpansion(cutoff=3.0, smearing=1.0, charges=True, **basis)
    out["gases/lode/charges"] = charged.compute(gases).values
    shells = LodeExpansion(cutoff=3.0, smearing=1.0, k_cutoff=3.0, species=[11, 17], **basis)
    out["gases/lode/k_cutoff"] = shells.compute(gases).values

    # charged dimers: finite systems, SOAP ⊗ LODE, species and charge channels
    species = [1, 6, 7, 8]
    soap = SoapExpansion(cutoff=3.0, smearing=0.3, species=species, **basis)
    for p in range(7):
        lode = LodeExpansion(cutoff=3.0, smearing=1.0, exponent=p, species=species, **basis)
        out[f"dimers/lode/p{p}"] = lode.compute(dimers).values
    lode = LodeExpansion(cutoff=3.0, smearing=1.0, species=species, **basis)
    out["dimers/soap x lode"] = PowerSpectrum(soap, lode).compute(dimers).values
    for atoms in dimers:
        atoms.set_initial_charges(np.linspace(-1, 1, len(atoms)))
    charged = LodeExpansion(cutoff=3.0, smearing=1.0, charges=True, **basis)
    out["dimers/lode/charges"] = charged.compute(dimers).values

    # water boxes: SOAP at the three cutoffs, LODE with centre weight 0, mixed ν = 2
    species = [1, 8]
    basis = dict(n_max=4, l_max=3, n_threads=1)
    for cutoff in (3.0, 4.0, 6.0):
        soap = SoapExpansion(cutoff=cutoff, smearing=0.3, species=species, **basis)
        out[f"water/soap{cutoff:g}/ps"] = PowerSpectrum(soap).compute(water).values
    lode = LodeExpansion(
        cutoff=3.0, smearing=0.3, center_weight=0.0, species=species, **basis
    )
    out["water/lode/ps"] = PowerSpectrum(lode).compute(water).values
    out["water/soap x lode"] = PowerSpectrum(soap, lode).compute(water).values
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--save", help="write the features to this .npz file")
    group.add_argument("--compare", help="compare the features with this .npz file, bitwise")
    args = parser.parse_args(argv)
    blocks = _blocks(_frames())
    if args.save:
        np.savez_compressed(args.save, **blocks)
        print(f"saved {len(blocks)} blocks to {args.save} (lode_rs {lode_rs.__version__})")
        return 0
    with np.load(args.compare) as reference:
        names = set(reference.files)
        differ = []
        for name, values in blocks.items():
            if name not in names:
                differ.append(f"{name}: not in {args.compare}")
                continue
            before = reference[name]
            if before.shape != values.shape or before.tobytes() != values.tobytes():
                diff = (
                    np.max(np.abs(before - values)) if before.shape == values.shape else "shape"
                )
                differ.append(f"{name}: differs (max |Δ| = {diff})")
        missing = names - set(blocks)
        differ += [f"{name}: missing now" for name in sorted(missing)]
    for line in differ:
        print(line)
    print(f"{len(blocks) - len(differ)} of {len(blocks)} blocks bitwise identical")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
