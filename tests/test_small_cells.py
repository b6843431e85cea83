"""The accuracy contract in periodic cells small compared with the pair routes' reach
(issue 14, item 1): the images beyond a short-range table's reach add up when the cell is
small, so the planner keeps a pair-based route (``p = 0`` pairs, an Ewald or mesh step) only
where the lattice tail of ``docs/math.md`` §7 fits the accuracy. ``auto`` then falls back to the
reciprocal route; an explicit ``ewald``/``mesh`` with no admissible step raises
``InvalidParameterError`` naming the fix. Every result is checked against the reciprocal route
at accuracy 1e-12 (its own error is below 1e-12, far below every tolerance here)."""

from __future__ import annotations

import functools

import ase
import numpy as np
import pytest

import lode_rs

SPECIES = [11, 17]


def gas(length: float, n_atoms: int, seed: int) -> ase.Atoms:
    rng = np.random.default_rng(seed)
    return ase.Atoms(
        numbers=(SPECIES * n_atoms)[:n_atoms],
        positions=rng.uniform(0, length, (n_atoms, 3)),
        cell=np.eye(3) * length,
        pbc=True,
    )


def lode(method, accuracy, *, smearing, exponent, cutoff=3.0, n_max=3, l_max=2):
    return lode_rs.LodeExpansion(
        cutoff=cutoff,
        smearing=smearing,
        n_max=n_max,
        l_max=l_max,
        exponent=exponent,
        method=method,
        accuracy=accuracy,
        species=SPECIES,
    )


@functools.cache
def reference(length, n_atoms, seed, smearing, exponent, cutoff, n_max, l_max):
    calc = lode("reciprocal", 1e-12, smearing=smearing, exponent=exponent, cutoff=cutoff,
                n_max=n_max, l_max=l_max)
    return calc.compute(gas(length, n_atoms, seed)).values


def check(length, n_atoms, smearing, exponent, method, accuracy, *, cutoff=3.0, n_max=3,
          l_max=2, seed=0):
    """Error / accuracy of `method` against the reference, or None if the explicit method was
    refused with the documented error."""
    calc = lode(method, accuracy, smearing=smearing, exponent=exponent, cutoff=cutoff,
                n_max=n_max, l_max=l_max)
    frame = gas(length, n_atoms, seed)
    try:
        values = calc.compute(frame).values
    except lode_rs.InvalidParameterError as error:
        assert method in ("ewald", "mesh"), f"auto refused: {error}"
        message = str(error)
        assert "cannot reach accuracy" in message and 'method="reciprocal"' in message, message
        assert "volume" in message and "covering radius" in message, message
        return None
    ref = reference(length, n_atoms, seed, smearing, exponent, cutoff, n_max, l_max)
    ratio = float(np.max(np.abs(values - ref))) / accuracy
    route = calc.routes(frame)[0]["route"]
    assert ratio <= 1.0, f"{method} → {route}: error {ratio:.3g} × the accuracy"
    return ratio


# the cases of the issue (errors 15–3000× the request before the fix)
ISSUE_CASES = [
    (2.0, 4, 2.0, 0, "auto", 1e-6, 3.0),
    (2.0, 4, 2.0, 1, "ewald", 1e-6, 3.0),
    (2.0, 4, 2.0, 1, "mesh", 1e-6, 3.0),
    (1.0, 2, 1.0, 4, "ewald", 1e-10, 3.0),
    (4.75, 4, 3.98, 0, "auto", 1e-6, 10.0),
]


@pytest.mark.parametrize("case", ISSUE_CASES)
def test_issue_cases_meet_the_accuracy_or_refuse(case):
    length, n_atoms, smearing, p, method, accuracy, cutoff = case
    check(length, n_atoms, smearing, p, method, accuracy, cutoff=cutoff, n_max=4, l_max=3)
    # auto always computes, within the request
    assert check(length, n_atoms, smearing, p, "auto", accuracy, cutoff=cutoff, n_max=4,
                 l_max=3) is not None


def grid():
    """A deterministic sample of cube sizes 1–6 Å, σ 0.5–4 Å, p = 0, 1, 2, 4, 6, accuracies
    1e-4 … 1e-10 and the three methods (the full product is 1 500 cases; every value of each
    axis appears several times)."""
    lengths = [1.0, 2.0, 3.0, 4.5, 6.0]
    sigmas = [0.5, 1.0, 2.0, 4.0]
    exponents = [0, 1, 2, 4, 6]
    accuracies = [1e-4, 1e-6, 1e-8, 1e-10]
    methods = ["auto", "ewald", "mesh"]
    for i in range(60):
        yield (lengths[i % 5], sigmas[(i // 5) % 4], exponents[(i * 3) % 5],
               accuracies[(i * 7) % 4], methods[i % 3])


# Before the bound on the structure's own lattice (docs/math.md §7), two sampled cases missed:
# a 6 Å cube with σ = 2 Å, p = 2, 1e-8, explicit ``mesh`` (grid case 14, 1.2×) and ``ewald``
# (case 34, 1.2×), their dropped images alone 0.9× the request while the shift-averaged estimate
# said 1.6×. The bound for these 4 atoms is 1.74× at the narrowest width (the brute-force sum
# with the exact integral 1.58×, the signed l = 0 sum 0.83×: the Rust test
# `direct_bound_holds_against_exact_image_sums`), above the 0.75× allowance: both are refused.
REFUSED_NOW = [c for i, c in enumerate(grid()) if i in (14, 34)]


def boundary_cases():
    """Cells around the allowance's edge, where the image bound of the narrowest Ewald width
    crosses 0.75× the request (cube edge 4–8 Å at σ = 2 Å, p = 1, 2, 1e-6 … 1e-10; 4 atoms):
    12 cases, each computed within the request or refused, and ``auto`` always within it."""
    for length in [4.5, 6.0, 7.0, 8.0]:
        for p, accuracy in [(1, 1e-6), (2, 1e-8), (2, 1e-10)]:
            yield (length, 2.0, p, accuracy)


@pytest.mark.parametrize("case", list(grid()))
def test_small_cell_grid(case):
    length, smearing, p, accuracy, method = case
    try:
        ratio = check(length, 4, smearing, p, method, accuracy)
    except lode_rs.InvalidParameterError as error:
        # tables refuse accuracies their exact integral cannot reach (documented, §7)
        assert "accuracy" in str(error), error
        pytest.skip(str(error)[:80])
    if case in REFUSED_NOW:
        assert ratio is None, f"{case} computed ({ratio:.2f}× the request) instead of refused"


@pytest.mark.parametrize("case", list(boundary_cases()))
@pytest.mark.parametrize("method", ["ewald", "mesh", "auto"])
def test_small_cells_at_the_edge_of_the_allowance(case, method):
    length, smearing, p, accuracy = case
    check(length, 4, smearing, p, method, accuracy)


def test_normal_cells_keep_their_pair_routes():
    """In a 12 Å cell with σ = 1 the lattice tail is small: p = 0 stays on the pair route and
    p = 1 on a split route (the routes of every existing feature are unchanged)."""
    frame = gas(12.0, 24, 1)
    assert lode("auto", 1e-6, smearing=1.0, exponent=0).routes(frame)[0]["route"] == "pairs"
    assert lode("ewald", 1e-6, smearing=1.0, exponent=1).routes(frame)[0]["route"] == "ewald"
