"""Fits of models on features computed chunk by chunk on the workers."""

from __future__ import annotations

import operator

import numpy as np

from .._lode_rs import InvalidInputError, InvalidParameterError
from .chunks import Chunk, make_chunks
from .store import concatenate_rows
from .tasks import Run, Shipped, _check_shippable, _client, _compute_chunk, _in_chunk


def _targets_of(frames: list, targets) -> np.ndarray:
    if not isinstance(targets, str):
        return np.asarray(targets, dtype=np.float64)
    values = []
    for i, atoms in enumerate(frames):
        if targets in atoms.info:
            values.append(float(atoms.info[targets]))
        elif targets == "energy" and atoms.calc is not None:
            values.append(float(atoms.get_potential_energy()))
        else:
            raise InvalidInputError(f"structure {i} of the chunk has no property {targets!r}")
    return np.array(values)


def _chunk_sums(shipped: Shipped, chunk: Chunk, targets, n_threads: int, model, active):
    from ..models.normal_equations import RidgeSums, SparseGPRSums

    frames = chunk.read()
    try:
        x = shipped.get().compute(frames, n_threads=n_threads)
    except (InvalidInputError, InvalidParameterError) as error:
        raise _in_chunk(chunk, error) from None
    y = _targets_of(frames, targets)
    if active is None:
        return RidgeSums.of(x, y, model.baseline)
    return SparseGPRSums.of(x, y, model, active)


def _select_active(shipped, chunks, model, n_threads, client, seed):
    """FPS active set (prepared rows) from seeded random chunks holding about as many
    environments as the in-memory selection looks at (``CANDIDATES_PER_ACTIVE`` per point)."""
    from ..models.data import AtomicData
    from ..models.selection import CANDIDATES_PER_ACTIVE, select_active

    order = list(np.random.default_rng(seed).permutation(len(chunks)))
    wanted = CANDIDATES_PER_ACTIVE * model.n_sparse
    parts = [client.submit(_compute_chunk, shipped, chunks[order.pop(0)], n_threads, None)]
    first = parts[0].result()
    per_structure = max(first.values.shape[0] / max(first.n_structures, 1), 1.0)
    structures = first.n_structures
    batch = []
    while order and (structures + sum(c.count for c in batch)) * per_structure < wanted:
        batch.append(chunks[order.pop(0)])
    parts += [client.submit(_compute_chunk, shipped, c, n_threads, None) for c in batch]
    x = concatenate_rows(client.gather(parts))
    values = model.kernel.prepare(x.values)
    species = np.asarray(x.center_species, dtype=np.int64)
    index = select_active(model.kernel.distance_space(values), species, model.n_sparse, seed=seed)
    return AtomicData(values[index], np.arange(index.size), species[index], index.size, False)


def fit(
    model,
    calculator,
    frames_or_paths,
    targets,
    *,
    client=None,
    chunk_size: int = 100,
    active=None,
    n_threads: int = 1,
    show_progress: bool = True,
    tune_malloc: bool = True,
):
    """Fit a :class:`lode_rs.models.Ridge` or :class:`lode_rs.models.SparseGPR` on a data set
    whose features never sit in one process: every chunk's normal-equation sums are computed on
    the worker that computed its features, and the sums are reduced pairwise on the workers
    (see :mod:`lode_rs.models.normal_equations`). Equal to the in-memory fit on the same data
    (same active set) to ~1e-12 in the predictions.

    Args:
        model: an unfitted ``Ridge`` or ``SparseGPR`` with an explicit ``regularizer``; it is
            fitted in place and returned.
        calculator, frames_or_paths, client, chunk_size, n_threads, tune_malloc: as in
            :func:`compute` (also ``show_progress``).
        targets: one value per structure (array, in data-set order), or the name of an
            ``atoms.info`` property (``"energy"`` also reads an attached calculator), read on
            the workers.
        active: SparseGPR only: the active environments (:class:`lode_rs.Features`, whose
            ``center_species`` are used, or a fitted model's ``AtomicData``); default:
            ``model.n_sparse`` environments picked by farthest-point sampling within each
            species from a seeded random sample of chunks.
    """
    from ..models import Ridge, SparseGPR
    from ..models.data import AtomicData, as_atomic_data
    from ..models.gpr import prepared

    client = _client(client)
    _check_shippable(calculator)
    if not isinstance(model, (Ridge, SparseGPR)):
        raise InvalidParameterError(
            f"distributed fits support Ridge and SparseGPR, got {type(model).__name__}"
        )
    if model.regularizer is None or (isinstance(model, SparseGPR) and model.kernel.needs_zeta):
        raise InvalidParameterError(
            "distributed fits need an explicit regularizer (and zeta): cross-validation needs "
            "every fold's data; choose them on a subset with the in-memory model first, or "
            "fit a lode_rs.Potential with fit_potential (its noise levels are cross-validated "
            "from per-fold sums)"
        )
    chunks = make_chunks(frames_or_paths, chunk_size)
    if not isinstance(targets, str):
        targets = np.asarray(targets, dtype=np.float64).reshape(-1)
        n = sum(c.count for c in chunks)
        if targets.shape[0] != n:
            raise InvalidInputError(f"got {targets.shape[0]} targets for {n} structures")
    shipped = Shipped(calculator, tune_malloc)
    prepared_active = None
    if isinstance(model, SparseGPR):
        if active is None:
            if model.n_sparse is None:
                raise InvalidParameterError("distributed SparseGPR needs n_sparse (not None)")
            prepared_active = _select_active(shipped, chunks, model, n_threads, client, model.seed)
        else:
            data = as_atomic_data(active)
            if data.per_structure:
                raise InvalidInputError(
                    "active environments need their central species: give lode_rs.Features"
                )
            data = AtomicData(
                data.values, np.arange(len(data.values)), data.species, len(data.values), False
            )
            prepared_active = prepared(model.kernel, data)
    futures = []
    for chunk in chunks:
        y = (
            targets
            if isinstance(targets, str)
            else targets[chunk.offset : chunk.offset + chunk.count]
        )
        futures.append(
            client.submit(
                _chunk_sums, shipped, chunk, y, int(n_threads), model, prepared_active, pure=False
            )
        )
    if show_progress:
        Run(client, chunks, futures, None, True).wait()
    while len(futures) > 1:  # pairwise reduction on the workers, in a fixed order
        futures = [
            client.submit(operator.add, futures[i], futures[i + 1], pure=False)
            if i + 1 < len(futures)
            else futures[i]
            for i in range(0, len(futures), 2)
        ]
    sums = futures[0].result()
    if prepared_active is None:
        return sums.solve(model)
    return sums.solve(model, prepared_active)
