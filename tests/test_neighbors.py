"""The Rust neighbour list against ``ase.neighborlist.neighbor_list`` (seeded random cells).

Every comparison asks for identical sets of ``(i, j, S)`` and distances/vectors within 1e-12 Å.
The extension wraps positions into the cell; ASE does not. Most tests therefore hand both the
same already-wrapped positions; ``test_unwrapped_positions`` translates our shifts back to the
unwrapped positions instead.
"""

import numpy as np
import pytest
from ase import Atoms
from ase.neighborlist import neighbor_list as ase_neighbor_list

from lode_rs import _lode_rs
from lode_rs._lode_rs import testing

TOL = 1e-12
N_RANDOM = 60
KINDS = ("orthorhombic", "triclinic", "skewed", "small", "slab", "wire")


def as_system(positions, cell, pbc, numbers=None):
    positions = np.ascontiguousarray(positions, dtype=np.float64)
    if numbers is None:
        numbers = np.ones(len(positions), dtype=np.int32)
    return (
        positions,
        np.asarray(numbers, dtype=np.int32),
        np.ascontiguousarray(cell, dtype=np.float64),
        np.asarray(pbc, dtype=bool),
    )


def rotation(rng):
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    return q * np.sign(np.diag(r))


def random_structure(seed):
    """A random structure of one of ``KINDS`` and a cutoff suited to it."""
    rng = np.random.default_rng(seed)
    kind = KINDS[seed % len(KINDS)]
    pbc = [True, True, True]
    if kind == "orthorhombic":
        cell = np.diag(rng.uniform(3.0, 10.0, 3))
    elif kind in ("triclinic", "skewed", "small"):
        lengths = rng.uniform(1.5, 3.0, 3) if kind == "small" else rng.uniform(3.0, 9.0, 3)
        skew = {"triclinic": 0.4, "skewed": 1.5, "small": 0.6}[kind]
        cell = np.diag(lengths)
        for k in range(3):
            for m in range(k):
                cell[k, m] = skew * lengths[k] * rng.uniform(-1.0, 1.0)
        cell = cell @ rotation(rng)
    elif kind == "slab":
        cell = np.diag(rng.uniform(3.0, 9.0, 3))
        cell[1, 0] = rng.uniform(-3.0, 3.0)
        cell = cell @ rotation(rng)
        pbc = [True, True, False]
    else:
        cell = np.diag(rng.uniform(3.0, 9.0, 3))
        cell[2, :2] = rng.uniform(-2.0, 2.0, 2)
        pbc = [False, False, True]

    n = 1 + int(rng.integers(0, 5 if kind == "small" else 30))
    fractional = rng.uniform(0.0, 1.0, (n, 3))
    for k in range(3):
        if not pbc[k]:
            fractional[:, k] = rng.uniform(-1.0, 2.0, n)
    positions = fractional @ cell
    if kind == "small":
        cutoff = 2.0 * np.linalg.norm(cell, axis=1).max() + rng.uniform(0.1, 1.5)
    else:
        cutoff = rng.uniform(1.0, 8.0)
    if not all(pbc) and seed % 4 == 0:
        # the vectors along free directions are irrelevant and may be zero
        cell[[k for k in range(3) if not pbc[k]]] = 0.0
    return kind, positions, cell, pbc, cutoff


def ours(positions, cell, pbc, cutoff, n_threads=0):
    return testing.neighbor_list(as_system(positions, cell, pbc), cutoff, n_threads=n_threads)


def reference(positions, cell, pbc, cutoff):
    atoms = Atoms(positions=positions, cell=cell, pbc=pbc)
    i, j, S, d, D = ase_neighbor_list("ijSdD", atoms, cutoff)
    order = np.lexsort((S[:, 2], S[:, 1], S[:, 0], j, i))
    return i[order], j[order], S[order], d[order], D[order]


def assert_same_lists(got, expected):
    i, j, S, d, D = got
    ei, ej, eS, ed, eD = expected
    assert len(i) == len(ei)
    np.testing.assert_array_equal(i, ei)
    np.testing.assert_array_equal(j, ej)
    np.testing.assert_array_equal(S, eS)
    np.testing.assert_allclose(d, ed, rtol=0.0, atol=TOL)
    np.testing.assert_allclose(D, eD, rtol=0.0, atol=TOL)


@pytest.mark.parametrize("seed", range(N_RANDOM))
def test_random_cells_match_ase(seed):
    kind, positions, cell, pbc, cutoff = random_structure(seed)
    got = ours(positions, cell, pbc, cutoff)
    assert_same_lists(got, reference(positions, cell, pbc, cutoff))
    if kind == "small":
        assert cutoff > 2.0 * np.linalg.norm(cell, axis=1).max()
        assert np.abs(got[2]).max() >= 2


@pytest.mark.parametrize("seed", range(10))
def test_open_clusters_match_ase(seed):
    rng = np.random.default_rng(1000 + seed)
    n = int(rng.integers(1, 60))
    positions = rng.uniform(-4.0, 9.0, (n, 3))
    if seed == 0:
        positions[0] = [300.0, -250.0, 1e4]  # far from the rest
    cutoff = rng.uniform(0.5, 6.0)
    cell = np.zeros((3, 3))
    assert_same_lists(
        ours(positions, cell, [False] * 3, cutoff),
        reference(positions, cell, [False] * 3, cutoff),
    )


@pytest.mark.parametrize("seed", range(12))
def test_unwrapped_positions(seed):
    """Positions up to two cells outside: same vectors as ASE on the unwrapped positions."""
    _, positions, cell, pbc, cutoff = random_structure(seed)
    rng = np.random.default_rng(seed)
    full = Atoms(positions=positions, cell=cell, pbc=pbc).cell.complete()
    periodic = np.array(pbc)
    jumps = rng.integers(-2, 3, positions.shape) * periodic
    unwrapped = positions + jumps @ np.asarray(full)

    i, j, S, d, D = ours(unwrapped, cell, pbc, cutoff)
    # our vectors use wrapped positions r - n·M: undo the wrap in the shifts
    n = np.floor(np.linalg.solve(np.asarray(full).T, unwrapped.T).T).astype(np.int32) * periodic
    S = S - n[j] + n[i]
    order = np.lexsort((S[:, 2], S[:, 1], S[:, 0], j, i))
    got = (i[order], j[order], S[order], d[order], D[order])
    assert_same_lists(got, reference(unwrapped, cell, pbc, cutoff))


@pytest.mark.parametrize(
    "cell",
    [
        np.diag([4.0, 4.0, 4.0]),
        np.array([[3.0, 0.0, 0.0], [2.9, 1.0, 0.0], [-0.3, 1.1, 2.7]]),
    ],
)
@pytest.mark.parametrize("cutoff", [0.9, 2.0, 4.0, 6.5])
def test_positions_on_cell_faces(cell, cutoff):
    fractional = np.array(
        [
            [0.0, 0.0, 0.0],
            [1.0, 0.0, 0.0],
            [1.0, 1.0, 1.0],
            [0.5, 1.0, 0.0],
            [0.25, 0.75, 0.5],
        ]
    )
    positions = fractional @ cell
    i, j, S, d, D = ours(positions, cell, [True] * 3, cutoff)
    atoms = Atoms(positions=positions, cell=cell, pbc=True)
    ei, ej, _, ed, eD = ase_neighbor_list("ijSdD", atoms, cutoff)
    assert len(i) == len(ei)
    # shifts differ by the wrap; compare the vectors of each (i, j) as sets
    for a in range(len(positions)):
        for b in range(len(positions)):
            mine = D[(i == a) & (j == b)]
            theirs = eD[(ei == a) & (ej == b)]
            assert len(mine) == len(theirs)
            key = np.round(mine, 6)
            mine = mine[np.lexsort(key.T[::-1])]
            key = np.round(theirs, 6)
            theirs = theirs[np.lexsort(key.T[::-1])]
            np.testing.assert_allclose(mine, theirs, rtol=0.0, atol=TOL)
    np.testing.assert_allclose(np.sort(d), np.sort(ed), rtol=0.0, atol=TOL)


def test_outputs_layout_and_threads():
    rng = np.random.default_rng(42)
    cell = np.diag([16.0, 17.0, 18.0])
    cell[1, 0] = 3.0
    positions = rng.uniform(0.0, 1.0, (600, 3)) @ cell
    one = ours(positions, cell, [True] * 3, 5.0, n_threads=1)
    two = ours(positions, cell, [True] * 3, 5.0, n_threads=2)
    dtypes = [np.int64, np.int64, np.int32, np.float64, np.float64]
    shapes = [(len(one[0]),), (len(one[0]),), (len(one[0]), 3), (len(one[0]),), (len(one[0]), 3)]
    for a, b, dtype, shape in zip(one, two, dtypes, shapes, strict=True):
        assert a.dtype == dtype and a.shape == shape and a.flags.c_contiguous
        assert a.tobytes() == b.tobytes()
    i, j, S, d, D = one
    assert np.all(np.diff(i) >= 0)
    np.testing.assert_allclose(np.linalg.norm(D, axis=1), d, rtol=0.0, atol=TOL)
    assert np.all(d < 5.0)


def test_own_images_of_a_single_atom():
    i, j, S, d, D = ours(np.zeros((1, 3)), np.eye(3), [True] * 3, 1.5)
    assert len(i) == 18  # 6 at distance 1 and 12 at sqrt(2)
    assert np.all(i == 0) and np.all(j == 0)
    assert not np.any(np.all(S == 0, axis=1))
    # strict inequality: neighbours exactly at the cutoff are left out, as in ASE
    assert len(ours(np.zeros((1, 3)), np.eye(3), [True] * 3, 1.0)[0]) == 0


def test_nan_position_is_rejected():
    positions = np.array([[0.0, 0.0, 0.0], [np.nan, 1.0, 1.0]])
    with pytest.raises(_lode_rs.InvalidInputError, match="not finite"):
        ours(positions, np.eye(3) * 5.0, [True] * 3, 2.0)


def test_degenerate_cell_is_rejected():
    cell = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
    with pytest.raises(_lode_rs.InvalidInputError, match="degenerate"):
        ours(np.zeros((1, 3)), cell, [True] * 3, 2.0)


@pytest.mark.parametrize("cutoff", [0.0, -1.0, np.nan, np.inf])
def test_bad_cutoff_is_rejected(cutoff):
    with pytest.raises(_lode_rs.InvalidParameterError, match="cutoff"):
        ours(np.zeros((1, 3)), np.eye(3) * 5.0, [True] * 3, cutoff)
    assert issubclass(_lode_rs.InvalidParameterError, ValueError)


def test_memory_guard():
    with pytest.raises(_lode_rs.InvalidParameterError, match="cutoff 1000"):
        ours(np.zeros((1, 3)), np.eye(3) * 2.0, [True] * 3, 1000.0)
