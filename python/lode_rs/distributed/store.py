"""Results on disk: one npz file per chunk, checked against the run's manifest."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from .._lode_rs import InvalidInputError, InvalidParameterError
from ..results import Expansion, Features

MANIFEST = "manifest.json"

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
