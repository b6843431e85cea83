"""The LODE calculators' per-cell cache (plans, k-vectors, mesh modes kept across calls while the
cell is unchanged): cached, uncached and fresh-calculator results are bitwise identical (values,
Jacobians, backward pass), a changed cell rebuilds, an MD step on a fixed cell builds nothing,
and the results stay independent of the thread count.

Hits and builds are read from ``lode_rs._lode_rs.testing.cell_cache_counts()`` (process-wide
counters); ``set_cell_cache(False)`` switches every cache off.
"""

from __future__ import annotations

import numpy as np
import pytest

import lode_rs
from lode_rs._lode_rs import testing
from test_potential_lode import _fit, _gases

SPECIES = [11, 17]


def gas(skew: float):
    """24 Na/Cl atoms in a 10 Å cell, cubic or skewed (shells or dense k-space engine)."""
    (atoms,) = lode_rs.datasets.random_ionic_gas(1, n_atoms=24, box_range=(10.0, 10.0), seed=3)
    cell = np.array(atoms.cell)
    cell[1, 0] += skew * cell[1, 1]
    atoms.set_cell(cell, scale_atoms=True)
    return atoms


def lode(method: str, n_threads: int = 1):
    return lode_rs.LodeExpansion(
        cutoff=3.0,
        smearing=1.0,
        n_max=3,
        l_max=2,
        species=SPECIES,
        method=method,
        accuracy=1e-6,
        n_threads=n_threads,
    )


def everything(calc, atoms) -> list[np.ndarray]:
    """Values, Jacobians (positions and strain) and the backward pass of one structure."""
    with_gradients = calc.compute(atoms, gradients=["positions", "strain"])
    values = calc.compute(atoms).values
    v = np.random.default_rng(5).standard_normal(values.shape)
    back = calc.backward(atoms, v)
    return [
        values,
        with_gradients.values,
        with_gradients.gradient("positions").values,
        with_gradients.gradient("strain").values,
        back.positions[0],
        back.strain[0],
    ]


def assert_identical(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def moved(atoms, seed: int):
    out = atoms.copy()
    out.positions += 0.05 * np.random.default_rng(seed).standard_normal(out.positions.shape)
    return out


def strained(atoms, factor: float):
    out = atoms.copy()
    out.set_cell(np.array(atoms.cell) * factor, scale_atoms=True)
    return out


@pytest.mark.parametrize("method", ["reciprocal", "ewald", "mesh"])
@pytest.mark.parametrize("skew", [0.0, 0.3])
def test_cached_uncached_and_fresh_are_identical(method, skew):
    atoms = gas(skew)
    calc = lode(method)
    assert calc.routes([atoms])[0]["route"] == method
    everything(calc, atoms)
    # new positions in the same cell: every preparation is a hit, nothing is built
    step = moved(atoms, 1)
    hits, builds = testing.cell_cache_counts()
    cached = everything(calc, step)
    after = testing.cell_cache_counts()
    assert after[1] == builds and after[0] > hits, (hits, builds, after)
    assert_identical(cached, everything(lode(method), step))
    previous = testing.set_cell_cache(False)
    try:
        hits, builds = testing.cell_cache_counts()
        uncached = everything(calc, step)
        after = testing.cell_cache_counts()
        assert after[0] == hits and after[1] > builds
    finally:
        testing.set_cell_cache(previous)
    assert_identical(cached, uncached)
    # 1 and 2 threads, cached: bitwise identical
    two = lode(method, n_threads=2)
    everything(two, step)
    assert_identical(cached, everything(two, step))


@pytest.mark.parametrize("method", ["reciprocal", "ewald", "mesh"])
def test_a_new_cell_rebuilds(method):
    atoms = gas(0.2)
    calc = lode(method)
    first = everything(calc, atoms)
    other = strained(moved(atoms, 2), 1.02)
    hits, builds = testing.cell_cache_counts()
    changed = everything(calc, other)
    assert testing.cell_cache_counts()[1] > builds
    assert_identical(changed, everything(lode(method), other))
    assert not np.array_equal(changed[0], first[0])
    # back to the first cell: still cached (a few cells are kept), same results
    hits, builds = testing.cell_cache_counts()
    assert_identical(first, everything(calc, atoms))
    assert testing.cell_cache_counts()[1] == builds


def test_md_steps_on_a_fixed_cell_build_nothing():
    # the potential's LODE block through the ASE calculator: after the first step, moving the
    # atoms prepares nothing again; a new cell (an NPT step) does
    pot = _fit(True, "radial")
    atoms = _gases(1, seed=31)[0]
    atoms.calc = pot.calculator()
    atoms.get_forces()
    _, builds = testing.cell_cache_counts()
    for step in range(3):
        atoms.positions[step, 0] += 0.01
        atoms.get_forces()
    assert testing.cell_cache_counts()[1] == builds
    atoms.set_cell(np.array(atoms.cell) * 1.01, scale_atoms=True)
    atoms.get_forces()
    assert testing.cell_cache_counts()[1] > builds


def test_slabs_reuse_their_vacuum_cell():
    # a slab's plan depends on its positions (not kept); its inner route's k-vectors are the
    # vacuum cell's, kept while that cell is unchanged: results equal a fresh calculator's
    atoms = gas(0.0)
    atoms.pbc = [True, True, False]
    atoms.positions[:, 2] = 2.0 + 0.5 * (atoms.positions[:, 2] % 4.0)
    calc = lode("ewald")
    assert calc.routes([atoms])[0]["route"] == "slab"
    everything(calc, atoms)
    step = moved(atoms, 4)
    hits, _ = testing.cell_cache_counts()
    cached = everything(calc, step)
    assert testing.cell_cache_counts()[0] > hits
    assert_identical(cached, everything(lode("ewald"), step))
