"""Chunks of a data set: structures given in memory or as extxyz paths, read by the worker."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import numpy as np

from .._lode_rs import InvalidInputError, InvalidParameterError
from ..systems import as_system_list

XYZ_SUFFIXES = (".xyz", ".extxyz")


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
