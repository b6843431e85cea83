"""Load models written by ``Regressor.save`` (npz arrays + JSON metadata, no pickle)."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from .._lode_rs import InvalidInputError
from .base import Regressor
from .gpr import GPR
from .ridge import Ridge
from .sagpr import SAGPR
from .sparse import SparseGPR
from .tensor import TensorModel

_MODELS: dict[str, Any] = {
    m.model_type: m for m in (Ridge, GPR, SparseGPR, SAGPR, TensorModel)
}


def load(path: str | os.PathLike) -> Regressor | SAGPR | TensorModel:
    """Read a model saved with ``model.save(path)``; it predicts exactly as the saved one.

    The feature description given at fit/save time is in ``model.features_``.
    """
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    if "metadata" not in arrays:
        raise InvalidInputError(f"{path} is not a lode_rs model file (no metadata)")
    metadata = json.loads(str(arrays.pop("metadata")))
    if metadata.get("format") != "lode_rs.models":
        raise InvalidInputError(f"{path} is not a lode_rs model file")
    if metadata.get("version") != 1:
        raise InvalidInputError(f"{path}: unsupported model file version {metadata.get('version')}")
    kind = metadata.get("model")
    if kind not in _MODELS:
        raise InvalidInputError(f"{path}: unknown model type {kind!r}")
    return _MODELS[kind]._from_saved(metadata, arrays)
