"""Farthest-point sampling of active (sparse) environments, per central species."""

from __future__ import annotations

import warnings

import numpy as np

from .._lode_rs import InvalidParameterError

#: FPS looks at most this many candidates per active point (a seeded random subset beyond):
#: each FPS step streams every candidate row, so the cost is O(candidates × n × features)
CANDIDATES_PER_ACTIVE = 20


def farthest_point_sampling(points: np.ndarray, n: int) -> np.ndarray:
    """Indices of ``n`` distinct rows of ``points``, each the farthest from those picked before.

    The first point is the one farthest from the centroid (deterministic). Euclidean distances,
    accumulated in float32 (halves the memory traffic that bounds FPS; selection only needs the
    ordering of distances, not their digits).

    Raises:
        InvalidParameterError: if ``n`` is not in ``[1, len(points)]``.
    """
    points = np.asarray(points, dtype=np.float32)
    n_points = points.shape[0]
    if not 1 <= n <= n_points:
        raise InvalidParameterError(f"cannot pick {n} points out of {n_points}")
    squared_norms = np.einsum("ij,ij->i", points, points)
    centred = points - points.mean(axis=0)
    first = int(np.argmax(np.einsum("ij,ij->i", centred, centred)))
    chosen = np.empty(n, dtype=np.int64)
    chosen[0] = first
    min_d2 = np.full(n_points, np.inf, dtype=np.float32)
    for i in range(1, n):
        last = points[chosen[i - 1]]
        d2 = squared_norms - 2.0 * points @ last + last @ last
        np.minimum(min_d2, d2, out=min_d2)
        min_d2[chosen[:i]] = -np.inf  # never pick twice, even among duplicates
        chosen[i] = int(np.argmax(min_d2))
    return chosen


def species_quotas(counts: dict[int, int], n: int) -> dict[int, int]:
    """Split ``n`` active points among species proportionally to ``counts``, at least 1 each."""
    total = sum(counts.values())
    if n > total:
        raise InvalidParameterError(
            f"n_sparse={n} is larger than the number of training environments ({total}); "
            f"use n_sparse <= {total}"
        )
    if n < len(counts):
        raise InvalidParameterError(
            f"n_sparse={n} is smaller than the number of species ({len(counts)}); every species "
            f"needs at least one active environment: use n_sparse >= {len(counts)}"
        )
    species = sorted(counts)
    exact = {s: n * counts[s] / total for s in species}
    quota = {s: min(counts[s], max(1, int(np.floor(exact[s])))) for s in species}
    while sum(quota.values()) < n:  # largest remainder among species with room left
        room = [s for s in species if quota[s] < counts[s]]
        best = max(room, key=lambda s: (exact[s] - quota[s], counts[s]))
        quota[best] += 1
    while sum(quota.values()) > n:  # only possible through the "at least 1" floor
        best = max((s for s in species if quota[s] > 1), key=lambda s: quota[s] - exact[s])
        quota[best] -= 1
    return quota


def select_active(points: np.ndarray, species: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Row indices of ``n`` active environments: FPS within each species (see species_quotas).

    When a species has more than ``CANDIDATES_PER_ACTIVE`` environments per active point, FPS
    runs on a seeded random subset of that size (keeps selection O(n²) rather than O(N n)).
    """
    species = np.asarray(species)
    rng = np.random.default_rng(seed)
    values, counts = np.unique(species, return_counts=True)
    quota = species_quotas({int(s): int(c) for s, c in zip(values, counts, strict=True)}, n)
    chosen = []
    for s in sorted(quota):
        rows = np.nonzero(species == s)[0]
        limit = CANDIDATES_PER_ACTIVE * quota[s]
        if rows.size > limit:
            rows = np.sort(rng.choice(rows, size=limit, replace=False))
        picked = rows[farthest_point_sampling(points[rows], quota[s])]
        unique = np.unique(points[picked], axis=0).shape[0]
        if unique < picked.size:
            warnings.warn(
                f"species {s}: only {unique} distinct environments among the {picked.size} "
                "active ones; duplicates add nothing (reduce n_sparse)",
                stacklevel=3,
            )
        chosen.append(picked)
    return np.concatenate(chosen)
