"""The particle-mesh route of periodic LODE (method="mesh"): agreement with the k-space
routes on triclinic, small and charge-weighted cells for every exponent, explicit mesh
settings, thread independence and the route choice of ``auto``."""

from __future__ import annotations

import ase
import numpy as np
import pytest

import lode_rs
from helpers import random_periodic

BASIS = dict(cutoff=3.0, smearing=1.0, n_max=4, l_max=3)


def lode(**kw) -> lode_rs.LodeExpansion:
    return lode_rs.LodeExpansion(**{**BASIS, "species": [1, 8], **kw})


def max_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)))


@pytest.mark.parametrize("exponent", [1, 2, 3, 4, 5, 6])
def test_mesh_agrees_with_reciprocal_and_ewald(exponent):
    """At accuracy 1e-9 the mesh route is within 1e-9 (absolute, per coefficient) of a 1e-11
    reciprocal reference on skewed triclinic cells, and so is the Ewald route it shares its
    short range with."""
    frames = [random_periodic(s, n_atoms=12, species=(1, 8), skew=0.4) for s in range(2)]
    reference = lode(exponent=exponent, method="reciprocal", accuracy=1e-11).compute(frames)
    mesh = lode(exponent=exponent, method="mesh", accuracy=1e-9)
    assert all(r["route"] == "mesh" for r in mesh.routes(frames))
    values = mesh.compute(frames).values
    assert max_error(values, reference.values) < 1e-9
    ewald = lode(exponent=exponent, method="ewald", accuracy=1e-9).compute(frames).values
    assert max_error(values, ewald) < 2e-9


@pytest.mark.parametrize("accuracy", [1e-3, 1e-5, 1e-8])
def test_mesh_accuracy_on_a_larger_cell(accuracy):
    """48 atoms in a skewed cell: the error stays below the requested accuracy."""
    atoms = random_periodic(3, n_atoms=6, species=(1, 8), skew=0.3).repeat((2, 2, 2))
    atoms.rattle(0.2, seed=1)
    reference = lode(method="reciprocal", accuracy=1e-11).compute(atoms).values
    values = lode(method="mesh", accuracy=accuracy).compute(atoms).values
    assert max_error(values, reference) < accuracy


def test_cell_smaller_than_the_spline_stencil():
    """A 2.6 Å cell: the mesh would have fewer points per axis than the spline order, and its
    stencils would wrap around the periodic mesh. The images the narrowest Ewald width drops
    here are bounded by 1.7× the request (docs/math.md §7; the old shift-averaged estimate said
    7×), above the 0.75× allowance, so an explicit mesh (or Ewald) is refused naming the fix,
    and ``auto`` takes the reciprocal route within the request. (Its measured error, computed
    before the refusal, was below the request: the bound assumes every harmonic and sign
    aligned, which a lattice of 2 atoms does not reach.)"""
    atoms = ase.Atoms(
        "HO",
        scaled_positions=[[0.1, 0.2, 0.3], [0.6, 0.55, 0.8]],
        cell=[[2.6, 0, 0], [0.3, 2.5, 0], [0.1, 0.2, 2.7]],
        pbc=True,
    )
    reference = lode(method="reciprocal", accuracy=1e-11).compute(atoms).values
    for method in ["mesh", "ewald"]:
        with pytest.raises(lode_rs.InvalidParameterError) as error:
            lode(method=method, accuracy=1e-8).compute(atoms)
        message = str(error.value)
        assert "cannot reach accuracy 1e-8" in message, message
        assert 'use method="reciprocal" or "auto"' in message, message
    auto = lode(accuracy=1e-8)
    assert auto.routes(atoms)[0]["route"] == "reciprocal"
    assert max_error(auto.compute(atoms).values, reference) < 1e-8


def test_charge_channel():
    atoms = random_periodic(5, n_atoms=10, species=(11, 17), skew=0.3)
    atoms.set_initial_charges(np.where(atoms.numbers == 11, 1.0, -1.0))
    kw = dict(**BASIS, charges=True)
    reference = lode_rs.LodeExpansion(**kw, method="reciprocal", accuracy=1e-11).compute(atoms)
    mesh = lode_rs.LodeExpansion(**kw, method="mesh", accuracy=1e-8).compute(atoms)
    assert mesh.values.shape == reference.values.shape
    assert max_error(mesh.values, reference.values) < 1e-8


def test_explicit_mesh_settings():
    """mesh_spacing and spline_order override the error model: a coarse low-order mesh is
    visibly less accurate, a fine high-order one as accurate as requested."""
    atoms = random_periodic(2, n_atoms=12, species=(1, 8), skew=0.3)
    reference = lode(method="reciprocal", accuracy=1e-11).compute(atoms).values
    coarse = lode(method="mesh", mesh_spacing=1.2, spline_order=3)
    assert coarse.routes(atoms)[0]["spline_order"] == 3
    fine = lode(method="mesh", mesh_spacing=0.25, spline_order=10, accuracy=1e-8)
    coarse_error = max_error(coarse.compute(atoms).values, reference)
    fine_error = max_error(fine.compute(atoms).values, reference)
    assert fine_error < 1e-8 < 1e-5 < coarse_error
    assert coarse.hypers["mesh_spacing"] == 1.2 and coarse.hypers["spline_order"] == 3


def test_threads_give_identical_results():
    frames = [random_periodic(s, n_atoms=10, species=(1, 8)) for s in range(3)]
    one = lode(method="mesh", n_threads=1).compute(frames).values
    two = lode(method="mesh", n_threads=2).compute(frames).values
    np.testing.assert_array_equal(one, two)


def test_auto_picks_the_mesh_for_large_cells_only():
    """The cost model: a few dozen atoms go to the k-space routes, a 20 000-atom gas (64 atoms
    per (16 Å)³, the benchmark density) to the mesh."""
    small = random_periodic(0, n_atoms=12, species=(1, 8))
    rng = np.random.default_rng(0)
    n = 20_000
    length = 16.0 * (n / 64) ** (1 / 3)
    big = ase.Atoms(
        numbers=np.where(np.arange(n) % 2 == 0, 1, 8),
        positions=rng.random((n, 3)) * length,
        cell=[length] * 3,
        pbc=True,
    )
    calc = lode()
    small_route, big_route = calc.routes([small, big])
    assert small_route["route"] != "mesh"
    assert big_route["route"] == "mesh"
