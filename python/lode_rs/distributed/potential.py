"""Potentials fitted on energies and forces, accumulated per chunk and per CV fold on the
workers."""

from __future__ import annotations

import operator

import numpy as np

from .._lode_rs import InvalidInputError, InvalidParameterError
from .chunks import Chunk, make_chunks
from .tasks import Run, Shipped, _check_shippable, _client, _in_chunk


def _slice(values, chunk: Chunk):
    """A chunk's part of per-structure targets given as values (keys pass through)."""
    if values is None or isinstance(values, str):
        return values
    return values[chunk.offset : chunk.offset + chunk.count]


def _survey_chunk(shipped: Shipped, chunk: Chunk):
    """Species of a chunk's atoms and the widths of the potential's feature blocks."""
    from .. import recipe

    frames = chunk.read()
    potential = shipped.get()
    try:
        recipe.compute(potential.blocks, frames[:1])
    except (InvalidInputError, InvalidParameterError) as error:
        raise _in_chunk(chunk, error) from None
    species = np.unique(np.concatenate([np.asarray(a.numbers) for a in frames]))
    return species, [b.n_features for b in potential.blocks]


def _potential_values(shipped: Shipped, chunk: Chunk):
    from .. import recipe

    values = recipe.compute(shipped.get().blocks, chunk.read())
    return values.values, values.species


def _potential_chunk_sums(
    shipped: Shipped, chunk: Chunk, energy, forces, weights, fold_of, n_folds, species, basis
):
    from .. import recipe
    from ..potential_fit import build_design
    from ..potential_sums import PotentialSums
    from ..potential_targets import read_energies, read_forces, read_weights

    frames = chunk.read()
    potential = shipped.get()
    try:
        targets = {
            "energy": read_energies(frames, energy),
            "forces": read_forces(frames, forces),
            "stress": None,
        }
        structure_weights = read_weights(frames, weights)
        values = recipe.compute(potential.blocks, frames)
        design = build_design(
            potential.blocks,
            basis,
            frames,
            values,
            targets,
            structure_weights,
            potential.batch_size,
        )
    except (InvalidInputError, InvalidParameterError) as error:
        raise _in_chunk(chunk, error) from None
    composition = None
    if targets["energy"] is not None and potential.model["baseline"] is not None:
        composition = np.array(
            [[np.count_nonzero(np.asarray(a.numbers) == s) for s in species] for a in frames],
            dtype=np.float64,
        )
    return PotentialSums.of(design, composition, np.asarray(fold_of), n_folds, tuple(species))


def _potential_basis(potential, shipped, chunks, active, client):
    """The potential's basis: linear, or the kernel on ``active`` environments (given, or
    picked by FPS from a seeded sample of chunks as :func:`fit` does)."""
    from ..models.data import as_atomic_data
    from ..models.kernels import kernel_from_dict
    from ..models.selection import CANDIDATES_PER_ACTIVE, select_active
    from ..potential_basis import Basis

    spec = potential.model
    if spec["type"] == "Ridge":
        return Basis(None)
    kernel = kernel_from_dict(spec["kernel"])
    match = spec["match_species"]
    if active is not None:
        if isinstance(active, tuple) and len(active) == 2:
            values = np.asarray(active[0], dtype=np.float64)
            species = np.asarray(active[1], dtype=np.int64).reshape(-1)
        else:
            data = as_atomic_data(active)
            if data.per_structure:
                raise InvalidInputError(
                    "active environments need their central species: give lode_rs.Features "
                    "or (values, species)"
                )
            values, species = data.values, data.species
        if values.ndim != 2 or values.shape[0] != species.shape[0]:
            raise InvalidInputError(
                f"active environments: values (M, F) and species (M,), got {values.shape} and "
                f"{species.shape}"
            )
        return Basis(kernel, values, species if match else None)
    if spec["n_sparse"] is None:
        raise InvalidParameterError(
            "a distributed potential needs n_sparse (every training environment active would "
            "put the whole training set in one process): SparseGPR(n_sparse=...)"
        )
    order = list(np.random.default_rng(spec["seed"]).permutation(len(chunks)))
    wanted = CANDIDATES_PER_ACTIVE * spec["n_sparse"]
    first = chunks[order.pop(0)]
    parts = [client.submit(_potential_values, shipped, first, pure=False)]
    per_structure = max(parts[0].result()[0].shape[0] / first.count, 1.0)
    structures = first.count
    while order and structures * per_structure < wanted:
        chunk = chunks[order.pop(0)]
        parts.append(client.submit(_potential_values, shipped, chunk, pure=False))
        structures += chunk.count
    gathered = client.gather(parts)
    values = np.concatenate([v for v, _ in gathered])
    species = np.concatenate([s for _, s in gathered])
    prepared = kernel.prepare(values)
    index = select_active(
        kernel.distance_space(prepared), species, spec["n_sparse"], seed=spec["seed"]
    )
    return Basis(kernel, values[index], species[index] if match else None)


def fit_potential(
    potential,
    frames_or_paths,
    energy="energy",
    forces=None,
    *,
    weights=None,
    client=None,
    chunk_size: int = 100,
    active=None,
    show_progress: bool = True,
    tune_malloc: bool = True,
):
    """Fit a :class:`lode_rs.Potential` on energies and forces of a data set whose Jacobians
    never sit in one process: each chunk's design rows (energies, and force rows from the
    feature Jacobians) are reduced to the normal-equation sums of
    :mod:`lode_rs.potential_sums` on the worker that computed them, per cross-validation fold,
    and the sums are added pairwise on the workers. The noise levels not given in
    ``potential.regularizers`` are chosen by the same cross-validation as
    :meth:`Potential.fit` (same folds, grid and score). The result equals the in-memory fit on
    the same data (same active set) to ~1e-10.

    Args:
        potential: an unfitted :class:`lode_rs.Potential` whose feature blocks have fixed
            species (``species=`` or ``fix_species``); fitted in place and returned.
        frames_or_paths, client, chunk_size, show_progress, tune_malloc: as in
            :func:`compute`; each task uses the threads of the potential's calculators
            (their ``n_threads``).
        energy, forces: as in :meth:`Potential.fit` (keys read on the workers, or values in
            data-set order: energies ``(n,)``, forces one ``(n_atoms, 3)`` per structure).
            Stress is not supported here.
        weights: one weight per structure (values) or ``None``.
        active: SparseGPR potentials: the active environments, ``(values (M, F), species
            (M,))`` of the potential's (weighted) features or :class:`lode_rs.Features`;
            default ``n_sparse`` environments picked by FPS within each species from a seeded
            random sample of chunks.
    """
    from ..models.base import kfold_indices
    from ..potential import Potential

    client = _client(client)
    if not isinstance(potential, Potential):
        raise InvalidParameterError(f"expected a lode_rs.Potential, got {type(potential).__name__}")
    for block in potential.blocks:
        for calc in (block.invariant.first, getattr(block.invariant, "second", None)):
            if calc is not None:
                _check_shippable(calc)
    if energy is None and forces is None:
        raise InvalidInputError("give at least one of energy=, forces=")
    if potential.model["baseline"] == "intercept":
        raise InvalidParameterError(
            "a Potential's baseline is 'species' (per-species energies) or None"
        )
    chunks = make_chunks(frames_or_paths, chunk_size)
    n = sum(c.count for c in chunks)
    for name, values in (("energies", energy), ("forces", forces), ("weights", weights)):
        if values is not None and not isinstance(values, str) and len(values) != n:
            raise InvalidInputError(f"got {len(values)} {name} for {n} structures")
    shipped = Shipped(potential, tune_malloc)
    survey = client.gather([client.submit(_survey_chunk, shipped, c, pure=False) for c in chunks])
    species = tuple(int(s) for s in np.unique(np.concatenate([s for s, _ in survey])))
    widths = survey[0][1]
    fitted = [k for k, v in (("energy", energy), ("forces", forces)) if v is not None]
    todo = [k for k in fitted if k not in potential.regularizers]
    fold_of = np.zeros(n, dtype=np.int64)
    n_folds = 1
    if todo:
        if n < 2:
            raise InvalidParameterError(
                f"cannot cross-validate the regularizers of {todo} with one structure; give "
                "regularizers={...} explicitly"
            )
        folds = kfold_indices(n, min(potential.model["cv_folds"], n), potential.model["seed"])
        n_folds = len(folds)
        for f, (_, test) in enumerate(folds):
            fold_of[test] = f
    basis = _potential_basis(potential, shipped, chunks, active, client)
    futures = [
        client.submit(
            _potential_chunk_sums,
            shipped,
            chunk,
            _slice(energy, chunk),
            _slice(forces, chunk),
            _slice(weights, chunk),
            fold_of[chunk.offset : chunk.offset + chunk.count],
            n_folds,
            species,
            basis,
            pure=False,
        )
        for chunk in chunks
    ]
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
    for block, width in zip(potential.blocks, widths, strict=True):
        block.n_features = width
    potential.species_ = np.asarray(species, dtype=np.int64)
    potential.n_features_ = int(sum(widths))
    potential.basis_ = basis
    offsets = sums.offsets() if "energy" in sums.kinds else np.zeros(len(species))
    potential.offsets_ = offsets
    if potential.delta is not None:
        delta = potential.delta
    else:
        delta = next(
            (
                s
                for s in (sums.scale(k, offsets) for k in ("energy", "forces") if k in sums.kinds)
                if s > 0
            ),
            1.0,
        )
    potential.delta_ = delta
    prior = potential._prior()
    precision = prior @ prior.T / delta**2
    sigmas, potential.cv_scores_ = sums.choose_sigmas(
        precision, offsets, delta, potential.regularizers
    )
    potential.regularizers_ = sigmas
    potential.theta_, potential.r_ = sums.solve(precision, offsets, sigmas)
    potential._fitted = True
    return potential
