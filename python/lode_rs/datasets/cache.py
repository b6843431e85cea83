"""The on-disk cache of generated data and precomputed arrays (one code for every user).

A cache entry is one file (plus any sidecar files its writer adds) in the cache directory,
stored together with the JSON *parameters* that made it: an entry is reused only when its stored
parameters equal the requested ones, otherwise (or when it cannot be read) it is recomputed and
overwritten. Entries are written in a temporary directory beside them and renamed into place,
sidecars first, so a reader never sees a half-written entry.

The directory is ``cache_dir`` when given, else ``$LODE_RS_CACHE``, else ``~/.cache/lode_rs``.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np

T = TypeVar("T")

#: what reading a damaged or foreign file may raise: the entry is then recomputed
_UNREADABLE = (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile, lzma.LZMAError)


def cache_directory(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir``, else ``$LODE_RS_CACHE``, else ``~/.cache/lode_rs``."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("LODE_RS_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "lode_rs"


def digest(parameters: dict) -> str:
    """16 hex digits of the SHA-256 of ``parameters`` as sorted JSON (for file names)."""
    return hashlib.sha256(json.dumps(parameters, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Format(Generic[T]):
    """How one kind of entry is stored.

    Attributes:
        write: ``write(path, value, parameters)`` writes ``value`` and the JSON-serialisable
            ``parameters`` to ``path`` (and, if it likes, sidecar files beside it).
        read: ``read(path)`` returns ``(value, stored parameters)``.
    """

    write: Callable[[Path, T, dict], None]
    read: Callable[[Path], tuple[T, Any]]


def _write_npz(compress: bool) -> Callable[[Path, dict, dict], None]:
    save = np.savez_compressed if compress else np.savez

    def write(path: Path, arrays: dict, parameters: dict) -> None:
        with open(path, "wb") as handle:
            save(handle, parameters=np.array(json.dumps(parameters)), **arrays)

    return write


def _read_npz(path: Path) -> tuple[dict, Any]:
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files if key != "parameters"}
        return arrays, json.loads(str(data["parameters"]))


def npz(*, compress: bool) -> Format[dict[str, np.ndarray]]:
    """A dict of arrays in one ``.npz`` file, the parameters as a JSON string entry."""
    return Format(write=_write_npz(compress), read=_read_npz)


def cached(
    name: str,
    parameters: dict,
    compute: Callable[[], T],
    storage: Format[T],
    *,
    cache_dir: str | os.PathLike | None = None,
) -> tuple[T, bool]:
    """The value stored as ``name`` in the cache for ``parameters``, or ``compute()`` stored there.

    Args:
        name: file name of the entry (e.g. ``point_charges-n60-seed5.npz``; put
            :func:`digest` in it when the parameters do not fit in a name).
        parameters: JSON-serialisable; everything the value depends on, package version included.
        compute: makes the value when the cache has none for these parameters.
        storage: the entry's :class:`Format`.
        cache_dir: see :func:`cache_directory`.

    Returns:
        ``(value, True)`` when read from the cache, ``(value, False)`` when computed.
    """
    expected = json.loads(json.dumps(parameters))  # the form parameters take once stored
    path = cache_directory(cache_dir) / name
    if path.exists():
        try:
            value, stored = storage.read(path)
            if stored == expected:
                return value, True
        except _UNREADABLE:
            pass
    value = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=path.parent, prefix=".tmp-"))
    try:
        storage.write(scratch / name, value, expected)
        for sidecar in sorted(scratch.iterdir()):
            if sidecar.name != name:
                os.replace(sidecar, path.parent / sidecar.name)
        os.replace(scratch / name, path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return value, False
