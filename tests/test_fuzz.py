"""Property-based fuzzing of the public calculators (hypothesis).

Random structures (1–6 atoms; cells from 0.6 Å to 10⁵ Å, skewed, every periodicity; random
species, charges and positions, including atoms outside the cell) and random hyper-parameters
at the edges of their domains (n_max 1–16, l_max 0–8, tiny and large cutoffs and smearings,
every LODE exponent and route, accuracies 1e-3–1e-8). For each example:

* the call returns, or raises ``InvalidInputError`` / ``InvalidParameterError`` (ValueError
  subclasses) — never another exception (a panic is a ``RuntimeError``), never a hang (each
  example is timed);
* a result is finite and bitwise the same on 1 and 2 threads;
* a result is unchanged under a rigid translation (SOAP: to 1e-9 of the largest coefficient;
  LODE: to the requested accuracy per unit source);
* a periodic LODE result agrees with the reciprocal route, computed 100× more accurately, to
  the requested accuracy per unit source: ``|Δ| ≤ accuracy × max(1, Σ_j |w_j|)`` per channel.
  Small cells are checked too (issue #14, item 1: the routes missed the request there before;
  the cases reported in the issue and found by the fuzzer are the tests below). An explicit
  ``ewald``/``mesh`` may refuse a cell too small for its real-space half (a clean error).

CI runs ``LODE_RS_FUZZ_EXAMPLES`` (default 40) examples per calculator with a fixed seed
(derandomized, reproducible); set it to thousands for a deeper local run.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

import lode_rs

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

EXAMPLES = int(os.environ.get("LODE_RS_FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=EXAMPLES <= 100,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)
# No single example may take longer (a hang or a pathological cost is a failure).
SECONDS_PER_EXAMPLE = 60.0

CLEAN_ERRORS = (lode_rs.InvalidInputError, lode_rs.InvalidParameterError)


@st.composite
def structures(draw, periodicities=None, max_length: float = 1e5):
    """(positions, numbers, cell, pbc, charges) of a random structure."""
    n = draw(st.integers(1, 6))
    pbc = draw(
        st.sampled_from(periodicities)
        if periodicities
        else st.tuples(st.booleans(), st.booleans(), st.booleans())
    )
    scale = draw(st.sampled_from([0.6, 1.5, 4.0, 9.0, 25.0, 200.0, max_length]))
    scale = min(scale, max_length)
    lengths = scale * np.array(draw(st.lists(st.floats(0.7, 1.3), min_size=3, max_size=3)))
    skew = draw(st.sampled_from([0.0, 0.3, 0.9]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    cell = np.diag(lengths) + skew * rng.uniform(-1, 1, (3, 3)) * lengths[:, None]
    # fractional positions, some outside [0, 1) (wrapping), and a random spread for clusters
    fractional = rng.uniform(-0.5, 1.5, (n, 3))
    positions = fractional @ cell
    species_pool = draw(st.sampled_from([(1,), (1, 8), (11, 17), (1, 6, 8, 92)]))
    numbers = rng.choice(species_pool, n)
    charges = rng.normal(size=n)
    charges -= charges.mean()
    return positions, numbers, cell, np.array(pbc), charges


def _system(structure, shift=None) -> lode_rs.System:
    positions, numbers, cell, pbc, charges = structure
    return lode_rs.System(
        positions=positions if shift is None else positions + shift,
        numbers=numbers,
        cell=cell,
        pbc=pbc,
        charges=charges,
    )


def _min_face_distance(cell: np.ndarray) -> float:
    volume = abs(np.linalg.det(cell))
    return min(
        volume / np.linalg.norm(np.cross(cell[j], cell[k])) for j, k in [(1, 2), (2, 0), (0, 1)]
    )


def _compute(calculator, system, n_threads):
    start = time.perf_counter()
    try:
        return calculator.compute(system, n_threads=n_threads).values
    finally:
        elapsed = time.perf_counter() - start
        assert elapsed < SECONDS_PER_EXAMPLE, f"took {elapsed:.0f} s"


def _check_common(make, structure, translation_tolerance):
    """Compute (or a clean error), finiteness, threads, translation; returns the values."""
    try:
        calculator = make()
    except CLEAN_ERRORS as e:
        event(f"hypers refused: {str(e)[:40]}")
        return None
    system = _system(structure)
    try:
        one = _compute(calculator, system, 1)
    except CLEAN_ERRORS as e:
        event(f"structure refused: {str(e)[:40]}")
        # the same refusal on every thread count (not a race)
        with pytest.raises(CLEAN_ERRORS):
            _compute(make(), system, 2)
        return None
    event("computed")
    assert np.all(np.isfinite(one)), "non-finite coefficients"
    two = _compute(calculator, system, 2)
    assert np.array_equal(one, two), "1 and 2 threads differ"
    shift = np.array([0.37, -1.21, 2.9])
    moved = _compute(calculator, _system(structure, shift), 2)
    tolerance = translation_tolerance(one)
    assert np.abs(moved - one).max() <= tolerance, (
        f"translation changed the result by {np.abs(moved - one).max():.3e} > {tolerance:.3e}"
    )
    return one


@FUZZ
@given(
    structure=structures(),
    cutoff=st.sampled_from([0.3, 1.0, 2.5, 5.0]),
    smearing=st.sampled_from([0.05, 0.3, 1.0, 3.0]),
    n_max=st.sampled_from([1, 2, 5, 16]),
    l_max=st.sampled_from([0, 1, 4, 8]),
    center_weight=st.sampled_from([None, 0.0, -1.0, 1e6, 1e7]),
    cutoff_width=st.sampled_from([None, 0.0, 0.25]),
)
def test_soap_fuzz(structure, cutoff, smearing, n_max, l_max, center_weight, cutoff_width):
    def make():
        optional = dict(center_weight=center_weight, cutoff_width=cutoff_width)
        return lode_rs.SoapExpansion(
            cutoff=cutoff,
            smearing=smearing,
            n_max=n_max,
            l_max=l_max,
            **{k: v for k, v in optional.items() if v is not None},
        )

    _check_common(make, structure, lambda values: 1e-9 * max(np.abs(values).max(), 1.0))


ROUTES = ["auto", "reciprocal", "ewald", "mesh"]


@FUZZ
@given(
    structure=structures(
        periodicities=[(True,) * 3, (False,) * 3, (True, True, False)], max_length=40.0
    ),
    cutoff=st.sampled_from([1.0, 3.0, 6.0]),
    smearing=st.sampled_from([0.5, 1.0, 2.5]),
    n_max=st.sampled_from([1, 3, 6]),
    l_max=st.sampled_from([0, 2, 4]),
    exponent=st.sampled_from([0, 1, 2, 3, 4, 6]),
    method=st.sampled_from(ROUTES),
    accuracy=st.sampled_from([1e-3, 1e-5, 1e-7]),
    charges=st.booleans(),
)
def test_lode_fuzz(structure, cutoff, smearing, n_max, l_max, exponent, method, accuracy, charges):
    def make(method=method, accuracy=accuracy):
        return lode_rs.LodeExpansion(
            cutoff=cutoff,
            smearing=smearing,
            n_max=n_max,
            l_max=l_max,
            exponent=exponent,
            method=method,
            accuracy=accuracy,
            charges=charges,
        )

    positions, numbers, cell, pbc, q = structure
    if charges:
        sources = [np.abs(q).sum()]
    else:
        sources = [float(np.sum(numbers == z)) for z in np.unique(numbers)]
    per_source = accuracy * max(1.0, max(sources))
    values = _check_common(make, structure, lambda _: 2 * per_source)
    if values is None or not pbc.all():
        return
    if _min_face_distance(cell) < 2 * smearing:
        event("small cell: face distance < 2 sigma")
    try:
        reference = make("reciprocal", max(accuracy * 1e-2, 1e-10)).compute(_system(structure))
    except CLEAN_ERRORS:
        event("accuracy check skipped: reference refused")
        return  # the reference itself over budget (k-vectors); the route was checked above
    error = np.abs(values - reference.values).max()
    event("accuracy checked against the reciprocal route")
    assert error <= per_source, (
        f"{method} route misses the requested accuracy {accuracy:.0e}: max error {error:.3e} "
        f"(allowed {per_source:.3e}); routes: {make().routes(_system(structure))}"
    )


# The small-cell accuracy failures reported in issue #14 (item 1): the cell is not much
# larger than the smearing. Each now meets the request, or (explicit ewald/mesh) is refused
# with the documented error naming the fix.
ITEM_1_CASES = [
    # (atoms, box Å, smearing, exponent, method, accuracy, cutoff)
    pytest.param(4, 2.0, 2.0, 0, "auto", 1e-6, 3.0, id="2A-cube-sigma2-p0-auto"),
    pytest.param(4, 2.0, 2.0, 1, "ewald", 1e-6, 3.0, id="2A-cube-sigma2-p1-ewald"),
    pytest.param(4, 2.0, 2.0, 1, "mesh", 1e-6, 3.0, id="2A-cube-sigma2-p1-mesh"),
    pytest.param(4, 1.0, 1.0, 4, "ewald", 1e-10, 3.0, id="1A-cube-sigma1-p4-ewald"),
    pytest.param(4, 4.75, 3.98, 0, "auto", 1e-6, 10.0, id="4.75A-cube-sigma3.98-p0"),
]


def _compute_or_refuse(kw, accuracy, system):
    """Values, or None when an explicit ewald/mesh refuses the cell (documented)."""
    try:
        return lode_rs.LodeExpansion(**kw, accuracy=accuracy).compute(system).values
    except lode_rs.InvalidParameterError as error:
        assert kw["method"] in ("ewald", "mesh"), error
        assert 'use method="reciprocal" or "auto"' in str(error), error
        return None


@pytest.mark.parametrize(
    ("n", "box", "smearing", "exponent", "method", "accuracy", "cutoff"), ITEM_1_CASES
)
def test_item_1_small_cells(n, box, smearing, exponent, method, accuracy, cutoff):
    rng = np.random.default_rng(0)
    positions = rng.uniform(0, box, (n, 3))
    system = lode_rs.System(
        positions=positions, numbers=[11, 17] * (n // 2), cell=box * np.eye(3), pbc=True
    )
    kw = dict(cutoff=cutoff, smearing=smearing, n_max=4, l_max=3, exponent=exponent)
    values = _compute_or_refuse(dict(kw, method=method), accuracy, system)
    if values is None:
        return
    reference = lode_rs.LodeExpansion(**kw, method="reciprocal", accuracy=accuracy * 1e-2)
    error = np.abs(values - reference.compute(system).values).max()
    assert error <= accuracy * n / 2


# Found by the fuzzer beyond item 1's bound (face distance ≥ 2σ): the request was missed by
# 1.1–1.3× of the allowance accuracy × (sources per channel); now met, or refused (mesh).
BEYOND_ITEM_1 = [
    pytest.param(
        dict(cutoff=1.0, smearing=0.5, n_max=1, l_max=0, exponent=0, method="auto"),
        1e-3,
        1.5 * np.eye(3),
        [[2.05521727, 1.69756066, -0.7417845]],
        id="pairs-p0-1-atom-1.5A-cube-3sigma",
    ),
    pytest.param(
        dict(cutoff=6.0, smearing=0.5, n_max=3, l_max=2, exponent=3, method="mesh"),
        1e-7,
        [
            [4.359409744387435, 1.1101963097830558, -1.470345515379469],
            [0.8984718367960827, 5.49254510393678, -0.089685532682624],
            [-0.3947817826359689, -0.44410118086334593, 2.8491827740986144],
        ],
        [
            [2.1750817145027335, 3.0195673141411046, 0.8773484913148952],
            [4.806353021340778, 5.182621554008013, 0.2378826591570441],
            [4.441482513871024, 2.2093822893830883, -1.0169498262544638],
            [2.6957058522374573, 0.9055470150084518, -0.8029261868695595],
            [2.301403195789239, 2.724969998915318, 1.8143022168132774],
            [3.0088187109529576, 3.3017169490343106, 0.4443943165836811],
        ],
        id="mesh-p3-6-atoms-5sigma",
    ),
]


@pytest.mark.parametrize(("kw", "accuracy", "cell", "positions"), BEYOND_ITEM_1)
def test_found_route_accuracy_failures(kw, accuracy, cell, positions):
    system = lode_rs.System(positions=positions, numbers=[1] * len(positions), cell=cell, pbc=True)
    values = _compute_or_refuse(kw, accuracy, system)
    if values is None:
        return
    reference = lode_rs.LodeExpansion(**{**kw, "method": "reciprocal"}, accuracy=accuracy * 1e-2)
    error = np.abs(values - reference.compute(system).values).max()
    assert error <= accuracy * len(positions)
