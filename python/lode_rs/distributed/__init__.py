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

from .chunks import Chunk, count_frames, make_chunks
from .fits import fit
from .potential import fit_potential
from .store import load
from .tasks import Run, compute, submit

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
