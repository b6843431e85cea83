"""The LODE Jacobian's own plan (docs/gradients.md, cost): for a 64-atom gas the Ewald split of
``compute(frames, gradients=...)`` is re-chosen for the Jacobian's cost (wider: fewer k-vectors,
more pairs), and the values returned with the Jacobians come from that plan.

- the re-plan happens (a wider η, or an Ewald split where the values take the reciprocal route);
- the values of the gradient call differ from ``compute``'s (another split) by less than 1e-6 of
  their largest entry (each is within ``accuracy`` = 1e-7 per unit source of the exact sum; a
  wrong split or a missing term would be of the order of the values);
- the Jacobian equals central differences of those values (H = 1e-5 Å, measured error 1e-10 of
  the largest entry; strain 1e-7: a strain moves every one of the ~40 000 pairs, and at 1e-5 a
  few of them cross the short range's reach, each a jump of up to the accuracy share in the
  values, ~1e-4 of the tolerance scale once divided by 2H; rounding at 1e-7 is ~1e-9); tolerance
  1e-6 of the largest Jacobian entry: a sign or factor error is of its order; two atoms, two
  strain components;
- every row sums to zero over the atoms (1e-12 of the largest entry);
- the backward pass (on the values' plan) equals Jᵀ·v to 1e-5 of its size: two splits of the same
  sum, each accurate; not to rounding, unlike structures whose Jacobian keeps the values' plan
  (``test_lode_gradients_real_space.py``, 1e-12);
- 1 and 2 threads give bitwise identical Jacobians.
"""

from __future__ import annotations

import numpy as np

import lode_rs
from test_gradients import dense_positions, jacobian_transpose, moved, random_cotangent, strained

HYPERS = dict(cutoff=3.0, smearing=1.0, n_max=4, l_max=3, exponent=1, accuracy=1e-7)


def gas():
    """A 64-atom gas in a triclinic cell: no degenerate k-shells, so the Jacobian's k-space
    table is the dense one and the re-plan is to a wider split (in a cubic cell the table by
    shells makes k-vectors cheap and the values' split is kept for these hypers)."""
    atoms = lode_rs.datasets.random_ionic_gas(1, n_atoms=64, box_range=(16.0, 16.0), seed=7)[0]
    atoms.set_cell(np.array([[16.0, 0, 0], [1.5, 15.5, 0], [-1.0, 0.8, 16.5]]), scale_atoms=True)
    return atoms


def test_jacobian_plan_of_a_64_atom_gas():
    atoms = gas()
    calc = lode_rs.LodeExpansion(**HYPERS, species=[11, 17], n_threads=1)
    values_plan = calc.routes(atoms)[0]
    jacobian_plan = calc.routes(atoms, gradients=True)[0]
    assert jacobian_plan["route"] == "ewald"
    assert values_plan["route"] == "reciprocal" or jacobian_plan["eta"] > values_plan["eta"]
    assert jacobian_plan["k_cutoff"] < values_plan["k_cutoff"]

    result = calc.compute(atoms, gradients=["positions", "strain"])
    plain = calc.compute(atoms).values
    scale = np.max(np.abs(plain))
    difference = np.max(np.abs(result.values - plain))
    assert 0 < difference < 1e-6 * scale

    n = len(atoms)
    dense = dense_positions(result.gradient("positions"), n, n)
    strain = result.gradient("strain").values
    size = np.max(np.abs(dense))

    def values(frames):
        return calc.compute(frames, gradients=["positions"]).values

    h = 1e-5
    for atom in (0, 37):
        for alpha in range(3):
            fd = (values(moved(atoms, atom, alpha, h)) - values(moved(atoms, atom, alpha, -h))) / (
                2 * h
            )
            np.testing.assert_allclose(dense[:, atom, alpha], fd, rtol=0, atol=1e-6 * size)
    h = 1e-7
    for a, b in ((0, 0), (1, 2)):
        fd = (values(strained(atoms, a, b, h)) - values(strained(atoms, a, b, -h))) / (2 * h)
        np.testing.assert_allclose(strain[:, a, b], fd, rtol=0, atol=1e-6 * np.max(np.abs(strain)))

    np.testing.assert_allclose(dense.sum(axis=1), 0, atol=1e-12 * size)

    v = random_cotangent(result.values.shape, seed=3)
    forces, virial = jacobian_transpose(result, v, n)
    out = calc.backward(atoms, v)
    np.testing.assert_allclose(out.positions[0], forces, rtol=0, atol=1e-5 * np.max(np.abs(forces)))
    np.testing.assert_allclose(out.strain[0], virial, rtol=0, atol=1e-5 * np.max(np.abs(virial)))

    two = calc.compute(atoms, gradients=["positions", "strain"], n_threads=2)
    assert np.array_equal(two.values, result.values)
    assert np.array_equal(two.gradient("positions").values, result.gradient("positions").values)
    assert np.array_equal(two.gradient("strain").values, result.gradient("strain").values)


def test_power_spectrum_jacobian_on_the_jacobian_plan():
    """ν = 2 of the re-planned gas: the invariant's values with gradients are those of the
    Jacobian plan's coefficients (so they differ from the plain values, by less than 1e-6 of
    their size: two accurate splits), and its positions Jacobian equals central differences of
    them (H = 1e-5 Å, 1e-6 of the largest entry, one atom)."""
    atoms = gas()
    calc = lode_rs.LodeExpansion(**HYPERS, species=[11, 17], n_threads=1)
    ps = lode_rs.PowerSpectrum(calc)
    result = ps.compute(atoms, gradients=["positions"])
    plain = ps.compute(atoms).values
    difference = np.max(np.abs(result.values - plain))
    assert 0 < difference < 1e-6 * np.max(np.abs(plain))
    n = len(atoms)
    dense = dense_positions(result.gradient("positions"), n, n)
    size = np.max(np.abs(dense))
    h = 1e-5

    def values(frames):
        return ps.compute(frames, gradients=["positions"]).values

    for alpha in range(3):
        fd = (values(moved(atoms, 5, alpha, h)) - values(moved(atoms, 5, alpha, -h))) / (2 * h)
        np.testing.assert_allclose(dense[:, 5, alpha], fd, rtol=0, atol=1e-6 * size)
