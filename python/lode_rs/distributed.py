"""Features and fits of data sets larger than one machine, on a Dask cluster
(``pip install lode_rs[distributed]``).

Example::

    from dask.distributed import Client
    import lode_rs, lode_rs.distributed

    client = Client("tcp://scheduler:8786")          # or Client(LocalCluster(n_workers=2))
    calc = lode_rs.PowerSpectrum(soap).fix_species(some_frames)   # species fixed before shipping
    x = lode_rs.distributed.compute(calc, ["part-0.xyz", "part-1.xyz"], client=client,
                                    chunk_size=200, output="features/")   # resumable
    model = lode_rs.distributed.fit(lode_rs.models.Ridge(regularizer=1e-6), calc,
                                    ["part-0.xyz", "part-1.xyz"], "energy", client=client)

Work is cut into chunks of ``chunk_size`` structures. Each chunk is one task: the worker reads
its structures (from the paths, which every worker must be able to open, or shipped with the
task), computes them with its copy of the calculator (unpickled from the hyper-parameters, so
the species channels must be fixed first) and returns the result or writes it to
``output/chunk-XXXXXX.npz``. A chunk whose worker dies is recomputed by Dask on another worker;
a run that dies as a whole restarts where it stopped (finished chunk files are kept, checked
against ``output/manifest.json``). Results equal the in-process ``calculator.compute`` bitwise:
the core's results do not depend on the thread count or on which structures share a call.

Threads: every task uses ``n_threads`` threads (default 1), and every Dask worker thread runs one
task; run workers with ``--nthreads 1`` and pass ``n_threads=<cores>`` for fewer, larger tasks.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import operator
import os
import pickle
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ._lode_rs import InvalidInputError, InvalidParameterError
from .progress import progress
from .results import Expansion, Features
from .systems import as_system_list

MANIFEST = "manifest.json"
XYZ_SUFFIXES = (".xyz", ".extxyz")


def _client(client):
    try:
        from dask.distributed import get_client
    except ImportError as error:
        raise ImportError(
            "lode_rs.distributed needs dask.distributed: pip install 'lode_rs[distributed]'"
        ) from error
    if client is not None:
        return client
    try:
        return get_client()
    except ValueError:
        raise InvalidParameterError(
            "no Dask client: give client=Client('tcp://scheduler:8786') (or a LocalCluster)"
        ) from None


# ---- chunks ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Chunk:
    """Structures ``offset .. offset + count`` of the data set: shipped ``frames``, or frames
    ``start:start + count`` of the file ``path``."""

    index: int
    offset: int
    count: int
    frames: tuple | None = None
    path: str | None = None
    start: int = 0

    def read(self) -> list:
        """The structures of this chunk (read from the file on the worker)."""
        if self.frames is not None:
            return list(self.frames)
        import ase.io

        frames = ase.io.read(self.path, index=f"{self.start}:{self.start + self.count}")
        if len(frames) != self.count:
            raise InvalidInputError(
                f"{self.path}: expected {self.count} structures from {self.start}, read "
                f"{len(frames)} (was the file changed during the run?)"
            )
        return frames

    def fingerprint(self) -> str:
        """Identifies the chunk's input (for resuming): the file and range, or a hash of the
        shipped structures' arrays."""
        if self.path is not None:
            stat = os.stat(self.path)
            return f"{os.path.abspath(self.path)}:{self.start}:{self.count}:{stat.st_size}"
        digest = hashlib.sha256()
        for arrays in as_system_list(list(self.frames)):
            for a in arrays:
                digest.update(np.ascontiguousarray(a).tobytes())
        return digest.hexdigest()


def count_frames(path: str | os.PathLike) -> int:
    """Number of structures in an ASE-readable file (extended XYZ: counted without parsing)."""
    path = str(path)
    if any(path.endswith(s) or path.endswith(s + ".gz") for s in XYZ_SUFFIXES):
        from ase.io.formats import open_with_compression

        count = 0
        with open_with_compression(path, "r") as f:
            while True:
                line = f.readline()
                if not line.strip():
                    return count
                for _ in range(int(line) + 1):
                    f.readline()
                count += 1
    import ase.io

    return len(ase.io.read(path, ":"))


def _is_path(item) -> bool:
    return isinstance(item, (str, os.PathLike))


def make_chunks(frames_or_paths, chunk_size: int) -> list[Chunk]:
    """Cut a list of structures, a path or a list of paths into chunks (never across files)."""
    if int(chunk_size) != chunk_size or chunk_size < 1:
        raise InvalidParameterError(f"chunk_size must be an integer >= 1, got {chunk_size!r}")
    items = [frames_or_paths] if _is_path(frames_or_paths) else list(frames_or_paths)
    if not items:
        raise InvalidInputError("no structures given")
    chunks: list[Chunk] = []
    offset = 0
    if all(_is_path(i) for i in items):
        for path in items:
            n = count_frames(path)
            for start in range(0, n, chunk_size):
                count = min(chunk_size, n - start)
                chunks.append(Chunk(len(chunks), offset, count, path=str(path), start=start))
                offset += count
        return chunks
    if any(_is_path(i) for i in items):
        raise InvalidInputError("give either structures or paths, not a mixture")
    for start in range(0, len(items), chunk_size):
        part = tuple(items[start : start + chunk_size])
        chunks.append(Chunk(len(chunks), start, len(part), frames=part))
    return chunks


# ---- results on disk ---------------------------------------------------------------------------
_FIELDS = {
    "Features": (
        "values",
        "structure",
        "centers",
        "center_species",
        "labels",
        "label_names",
        "n_structures",
        "folded",
    ),
    "Expansion": ("values", "structure", "centers", "center_species", "species", "n_structures"),
}


def _save(result: Features | Expansion, path: Path) -> None:
    kind = type(result).__name__
    if getattr(result, "gradients", None):
        raise InvalidParameterError("chunk files hold values only, not gradients")
    arrays = {name: np.asarray(getattr(result, name)) for name in _FIELDS[kind]}
    arrays["kind"] = np.array(kind)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as f:
        np.savez(f, **arrays)
    os.replace(partial, path)  # a chunk file is complete or absent, never half written


def _load_one(path: Path) -> Features | Expansion:
    with np.load(path, allow_pickle=False) as archive:
        data = {name: archive[name] for name in archive.files}
    kind = str(data.pop("kind"))
    data["n_structures"] = int(data["n_structures"])
    if kind == "Features":
        data["label_names"] = tuple(str(n) for n in data["label_names"])
        data["folded"] = bool(data["folded"])
        return Features(**data)
    data["species"] = [int(s) for s in data["species"]]
    return Expansion(**data)


def concatenate_rows(parts: list[Features | Expansion]) -> Features | Expansion:
    """Results of consecutive chunks (global structure indices) joined into one."""
    first = parts[0]
    joined = {
        name: np.concatenate([getattr(p, name) for p in parts])
        for name in ("values", "structure", "centers", "center_species")
    }
    total = sum(p.n_structures for p in parts)
    return replace(first, n_structures=total, **joined)


def load(output: str | os.PathLike) -> Features | Expansion:
    """The whole result of a finished :func:`compute` run written to ``output``."""
    output = Path(output)
    manifest = json.loads((output / MANIFEST).read_text())
    paths = [output / name for name in manifest["files"]]
    missing = [p.name for p in paths if not p.exists()]
    if missing:
        raise InvalidInputError(
            f"{output}: {len(missing)} chunks are not computed yet (first: {missing[0]}); "
            "run lode_rs.distributed.compute again with the same arguments to finish"
        )
    return concatenate_rows([_load_one(p) for p in paths])


# ---- tasks -------------------------------------------------------------------------------------
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters


def large_array_malloc() -> bool:
    """Undo, in this process, the malloc setting Dask gives its workers, which slows lode_rs
    2-3x; returns whether it changed anything.

    Dask starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``. Any such variable turns off
    glibc's dynamic thresholds, so every array above 128 KiB is a fresh ``mmap``: page faults and
    zeroing on each allocation, which dominate a chunk's time (measured: 2.1 s instead of 0.6 s
    of wall time, same arithmetic). This sets the ceilings glibc's dynamic rule would reach
    (arrays up to 32 MiB from the heap, trimmed above 64 MiB of free memory), so a worker keeps
    at most a few tens of MiB more than Dask intends. Linux/glibc only; elsewhere a no-op.
    """
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)) and bool(
            libc.mallopt(M_TRIM_THRESHOLD, 64 << 20)
        )
    except (OSError, AttributeError):
        return False


class Shipped:
    """A calculator pickled once on the client. Tasks carry these bytes (a few hundred: the
    hyper-parameters) and each worker process rebuilds the calculator once and keeps it: building
    the splined radial integrals takes ~0.1-0.5 s, far more than a chunk's transfer. The first
    use in a process also applies :func:`large_array_malloc` when ``tune_malloc``."""

    _cache: dict[str, Any] = {}  # per process: sha256 -> calculator (the last few)
    _malloc_tuned = False

    def __init__(self, calculator, tune_malloc: bool = True):
        self.data = pickle.dumps(calculator)
        self.sha256 = hashlib.sha256(self.data).hexdigest()
        self.tune_malloc = tune_malloc

    def get(self):
        """The calculator, rebuilt at most once per process."""
        if self.tune_malloc and not Shipped._malloc_tuned:
            large_array_malloc()
            Shipped._malloc_tuned = True
        cache = Shipped._cache
        if self.sha256 not in cache:
            if len(cache) >= 4:
                cache.pop(next(iter(cache)))
            cache[self.sha256] = pickle.loads(self.data)
        return cache[self.sha256]


def _in_chunk(chunk: Chunk, error: Exception) -> Exception:
    """The same error, saying which structures of the data set the chunk holds."""
    where = f"{chunk.path}, frames " if chunk.path else "structures "
    first = chunk.start if chunk.path else chunk.offset
    return type(error)(
        f"chunk {chunk.index} ({where}{first}..{first + chunk.count - 1}; structure numbers "
        f"below count from {first}): {error}"
    )


def _compute_chunk(shipped: Shipped, chunk: Chunk, n_threads: int, path: str | None):
    try:
        result = shipped.get().compute(chunk.read(), n_threads=n_threads)
    except (InvalidInputError, InvalidParameterError) as error:
        raise _in_chunk(chunk, error) from None
    result = replace(result, structure=result.structure + chunk.offset)
    if path is None:
        return result
    _save(result, Path(path))
    return path


def _check_shippable(calculator) -> None:
    if not getattr(calculator, "species_fixed", True):
        raise InvalidParameterError(
            "the calculator's species are not fixed: workers seeing different chunks would "
            "return features of different shapes. Give species=[...] to the expansions or "
            "call calculator.fix_species(frames) (with frames holding every species) first"
        )


def _calculator_id(calculator) -> str:
    return Shipped(calculator).sha256


def _prepare_output(output: Path, calculator, chunks: list[Chunk]) -> list[str]:
    """Create or check ``output/manifest.json``; returns the chunk file names."""
    files = [f"chunk-{c.index:06d}.npz" for c in chunks]
    manifest = {
        "format": "lode_rs.distributed",
        "version": 1,
        "calculator": repr(calculator),
        "calculator_sha256": _calculator_id(calculator),
        "n_structures": sum(c.count for c in chunks),
        "chunks": [c.fingerprint() for c in chunks],
        "files": files,
    }
    output.mkdir(parents=True, exist_ok=True)
    existing = output / MANIFEST
    if existing.exists():
        previous = json.loads(existing.read_text())
        if previous != manifest:
            raise InvalidParameterError(
                f"{output} holds another run (different calculator, data or chunks); give "
                "another output directory or delete this one"
            )
    else:
        existing.write_text(json.dumps(manifest, indent=1))
    return files


class Run:
    """A submitted :func:`submit` run: ``futures`` (one per chunk still to compute) and
    :meth:`result`."""

    def __init__(self, client, chunks, futures, output, show_progress: bool):
        self.client = client
        self.chunks = chunks
        self.futures = futures
        self.output = output
        self.show_progress = show_progress

    def wait(self) -> None:
        """Block until every chunk is done (a progress bar on a terminal)."""
        from dask.distributed import as_completed

        pending = [f for f in self.futures if f is not None]
        for future in progress(as_completed(pending), desc="chunks", total=len(pending)):
            if future.status == "error":
                future.result()  # raises the worker's exception here

    def result(self):
        """The joined result, or with ``output`` the list of chunk files (see :func:`load`)."""
        if self.show_progress:
            self.wait()
        if self.output is not None:
            self.client.gather([f for f in self.futures if f is not None])
            return [str(self.output / f"chunk-{c.index:06d}.npz") for c in self.chunks]
        return concatenate_rows(self.client.gather(self.futures))


def submit(
    calculator,
    frames_or_paths,
    *,
    client=None,
    chunk_size: int = 100,
    output: str | os.PathLike | None = None,
    n_threads: int = 1,
    show_progress: bool = True,
    tune_malloc: bool = True,
) -> Run:
    """Start :func:`compute` without waiting (same arguments); returns a :class:`Run`."""
    client = _client(client)
    _check_shippable(calculator)
    chunks = make_chunks(frames_or_paths, chunk_size)
    # shipped inside every task, not scattered: a task must be recomputable on any worker, even
    # after the workers holding scattered data died
    shipped = Shipped(calculator, tune_malloc)
    futures = []
    out = None if output is None else Path(output)
    files = None if out is None else _prepare_output(out, calculator, chunks)
    for chunk in chunks:
        target = None if out is None else out / files[chunk.index]
        if target is not None and target.exists():
            futures.append(None)  # finished in an earlier run
            continue
        futures.append(
            client.submit(
                _compute_chunk,
                shipped,
                chunk,
                int(n_threads),
                None if target is None else str(target),
                pure=False,
            )
        )
    return Run(client, chunks, futures, out, show_progress)


def compute(
    calculator,
    frames_or_paths,
    *,
    client=None,
    chunk_size: int = 100,
    output: str | os.PathLike | None = None,
    n_threads: int = 1,
    show_progress: bool = True,
    tune_malloc: bool = True,
):
    """Compute ``calculator`` (an expansion or invariant with fixed species) on a data set in
    chunks on a Dask cluster.

    Args:
        calculator: e.g. :class:`lode_rs.PowerSpectrum`, :class:`lode_rs.SoapExpansion`; its
            species must be fixed (``species=`` or ``calculator.fix_species(frames)``).
        frames_or_paths: a list of structures (shipped with the tasks), or one or more paths of
            ASE-readable files (read by the workers: they must see the same file system).
        client: a ``dask.distributed.Client`` (default: the current one).
        chunk_size: structures per task.
        output: a directory: each chunk is written there as ``chunk-XXXXXX.npz`` as soon as it is
            done, and a rerun skips the chunks already written (resume).
        n_threads: threads per task.
        show_progress: a progress bar on a terminal.
        tune_malloc: on the workers, undo Dask's malloc setting that slows lode_rs 2-3x (see
            :func:`large_array_malloc`).

    Returns:
        The joined :class:`lode_rs.Features` / :class:`lode_rs.Expansion` (structure indices
        count through all chunks), equal bitwise to ``calculator.compute`` on all the
        structures; with ``output``, the list of chunk files (join them with :func:`load`).
    """
    run = submit(
        calculator,
        frames_or_paths,
        client=client,
        chunk_size=chunk_size,
        output=output,
        n_threads=n_threads,
        show_progress=show_progress,
        tune_malloc=tune_malloc,
    )
    return run.result()


# ---- fits --------------------------------------------------------------------------------------
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
    from .models.normal_equations import RidgeSums, SparseGPRSums

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
    from .models.data import AtomicData
    from .models.selection import CANDIDATES_PER_ACTIVE, select_active

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
    from .models import Ridge, SparseGPR
    from .models.data import AtomicData, as_atomic_data
    from .models.gpr import prepared

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


# ---- potentials: energies and forces -----------------------------------------------------------
def _slice(values, chunk: Chunk):
    """A chunk's part of per-structure targets given as values (keys pass through)."""
    if values is None or isinstance(values, str):
        return values
    return values[chunk.offset : chunk.offset + chunk.count]


def _survey_chunk(shipped: Shipped, chunk: Chunk):
    """Species of a chunk's atoms and the widths of the potential's feature blocks."""
    from . import recipe

    frames = chunk.read()
    potential = shipped.get()
    try:
        recipe.compute(potential.blocks, frames[:1])
    except (InvalidInputError, InvalidParameterError) as error:
        raise _in_chunk(chunk, error) from None
    species = np.unique(np.concatenate([np.asarray(a.numbers) for a in frames]))
    return species, [b.n_features for b in potential.blocks]


def _potential_values(shipped: Shipped, chunk: Chunk):
    from . import recipe

    values = recipe.compute(shipped.get().blocks, chunk.read())
    return values.values, values.species


def _potential_chunk_sums(
    shipped: Shipped, chunk: Chunk, energy, forces, weights, fold_of, n_folds, species, basis
):
    from . import recipe
    from .potential_fit import build_design
    from .potential_sums import PotentialSums
    from .potential_targets import read_energies, read_forces, read_weights

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
    from .models.data import as_atomic_data
    from .models.kernels import kernel_from_dict
    from .models.selection import CANDIDATES_PER_ACTIVE, select_active
    from .potential_basis import Basis

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
    from .models.base import kfold_indices
    from .potential import Potential

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


__all__ = [
    "Chunk",
    "Run",
    "compute",
    "count_frames",
    "fit",
    "fit_potential",
    "load",
    "make_chunks",
    "submit",
]
