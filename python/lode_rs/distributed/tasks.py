"""Tasks: computing chunks on the workers, and the runs that collect them."""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import pickle
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from .._lode_rs import InvalidInputError, InvalidParameterError
from ..progress import progress
from .chunks import Chunk, make_chunks
from .store import MANIFEST, _save, concatenate_rows


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
