"""Cost of slab gradients: the backward pass (forces and stress) against the values, on the slab
route and on the same atoms as a 3D crystal, side by side in one run.

LODE p = 1, σ 1 Å, r_c 3 Å, n_max 6, l_max 4 (the ``benches/compare.py`` hyperparameters),
accuracy 1e-6, ``method="auto"``, Na/Cl charge channel and species channels; rocksalt (001) slabs
of ``--layers`` layers of ``--side``² primitive in-plane cells (2 ions each, 2.8 Å), and the
same atoms stacked periodically (the crystal). Also the slab Coulomb energy against its forces
and stress. Each time is the best of ``--repeat`` calls after a warm-up.

Run: ``python benches/slab_gradients.py [--side 8 --layers 8 --repeat 3 --threads 1]``.
"""

from __future__ import annotations

import argparse
import os
import time

import ase
import numpy as np

import lode_rs


def rocksalt(side, layers, d=2.8, slab=True):
    positions, symbols, charges = [], [], []
    for k in range(layers):
        sign = (-1) ** k
        for i in range(side):
            for j in range(side):
                origin = np.array([d * (i + j), d * (i - j), k * d])
                positions += [origin, origin + [d, 0.0, 0.0]]
                symbols += ["Na", "Cl"] if sign > 0 else ["Cl", "Na"]
                charges += [sign, -sign]
    rng = np.random.default_rng(0)
    positions = np.array(positions) + rng.normal(scale=0.05, size=(len(positions), 3))
    cell = [[side * d, side * d, 0.0], [side * d, -side * d, 0.0], [0.0, 0.0, layers * d]]
    atoms = ase.Atoms(symbols, positions=positions, cell=cell,
                      pbc=[True, True, not slab])
    atoms.set_initial_charges(charges)
    return atoms


def best(f, repeat):
    f()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--side", type=int, default=8)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    hypers = dict(cutoff=3.0, smearing=1.0, n_max=6, l_max=4, exponent=1, accuracy=1e-6,
                  n_threads=args.threads)
    rows = []
    for name, slab in (("slab", True), ("crystal", False)):
        atoms = rocksalt(args.side, args.layers, slab=slab)
        for channels in ({"charges": True}, {"species": [11, 17]}):
            calc = lode_rs.LodeExpansion(**channels, **hypers)
            route = calc.routes(atoms)[0]
            inner = route.get("inner_route", route["route"])
            shape = calc.compute(atoms).values.shape
            v = np.random.default_rng(1).normal(size=shape)
            values = best(lambda c=calc, a=atoms: c.compute(a), args.repeat)
            backward = best(lambda c=calc, a=atoms, w=v: c.backward(a, w), args.repeat)
            label = "charges" if "charges" in channels else "species"
            rows.append((f"LODE {name} ({route['route']}/{inner}), {label}", len(atoms),
                         values, backward))
        if slab:
            e = best(lambda a=atoms: lode_rs.electrostatic_energy(a, n_threads=args.threads),
                     args.repeat)
            g = best(lambda a=atoms: lode_rs.electrostatic_energy(
                a, forces=True, n_threads=args.threads), args.repeat)
            rows.append(("Coulomb slab energy → forces", len(atoms), e, g))
    load = os.getloadavg()[0]
    print(f"threads {args.threads}, load average {load:.1f}")
    print("| case | atoms | values (s) | backward (s) | ratio |")
    print("|---|---|---|---|---|")
    for name, n, t_values, t_back in rows:
        print(f"| {name} | {n} | {t_values:.3f} | {t_back:.3f} | {t_back / t_values:.2f} |")


if __name__ == "__main__":
    main()
