"""Load models written by ``Regressor.save`` (npz arrays + JSON metadata, no pickle).

A model file is untrusted input: it is validated before and after reading, and any defect
(not a zip archive, truncated, malformed JSON, missing or mistyped entries, inconsistent
shapes, NaN or infinite values, object arrays, array headers declaring more data than the
file can hold) raises one ``InvalidInputError("… is not a valid lode_rs model file: …")``.
"""

from __future__ import annotations

import json
import os
import zipfile
from typing import Any

import numpy as np

from .._lode_rs import InvalidInputError
from .base import Regressor
from .data import AtomicData
from .gpr import GPR
from .ridge import Ridge
from .sagpr import SAGPR
from .sparse import SparseGPR
from .tensor import TensorModel

_MODELS: dict[str, Any] = {
    m.model_type: m for m in (Ridge, GPR, SparseGPR, SAGPR, TensorModel)
}

# Arrays allowed to hold NaN: the "no amplitude" marker of a model fitted with regularizer 0.
_NAN_MARKERS = {"amplitude"}

# Uncompressed bytes allowed per byte of file (``Regressor.save`` writes uncompressed npz, so
# the ratio is ~1; this leaves room for files re-compressed by a user, while refusing archives
# or array headers that declare far more data than the file can hold).
_MAX_EXPANSION = 100


class _Invalid(Exception):
    """A defect found while reading; becomes the one ``InvalidInputError``."""


def _read_arrays(path: str) -> dict[str, np.ndarray]:
    """Every array of the archive, after checking each header against the file's size."""
    budget = _MAX_EXPANSION * max(os.path.getsize(path), 1) + (1 << 20)
    arrays = {}
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
        if sum(m.file_size for m in members) > budget:
            raise _Invalid("its archive declares more data than the file can hold")
        for member in members:
            if not member.filename.endswith(".npy"):
                raise _Invalid(f"unexpected entry {member.filename!r}")
            name = member.filename[: -len(".npy")]
            with archive.open(member) as stream:
                version = np.lib.format.read_magic(stream)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
                elif version == (2, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
                else:
                    raise _Invalid(f"array {name!r} has an unsupported .npy version {version}")
                if dtype.hasobject:
                    raise _Invalid(f"array {name!r} holds Python objects (pickles are refused)")
                size = int(np.prod(shape, dtype=object)) * dtype.itemsize
                if size > member.file_size or size > budget:
                    raise _Invalid(
                        f"array {name!r} declares shape {shape} ({size:.3g} bytes), more than "
                        "its entry holds"
                    )
            with archive.open(member) as stream:
                arrays[name] = np.lib.format.read_array(stream, allow_pickle=False)
    return arrays


def _metadata(arrays: dict[str, np.ndarray]) -> dict:
    if "metadata" not in arrays:
        raise _Invalid("no metadata")
    text = arrays.pop("metadata")
    if text.shape != () or text.dtype.kind != "U":
        raise _Invalid("the metadata is not a JSON string")
    metadata = json.loads(str(text))
    if not isinstance(metadata, dict) or metadata.get("format") != "lode_rs.models":
        raise _Invalid("the metadata does not name the lode_rs.models format")
    if metadata.get("version") != 1:
        raise _Invalid(f"unsupported model file version {metadata.get('version')!r}")
    if metadata.get("model") not in _MODELS:
        raise _Invalid(f"unknown model type {metadata.get('model')!r}")
    return metadata


def _check_values(arrays: dict[str, np.ndarray]) -> None:
    for name, array in arrays.items():
        if array.dtype.kind not in "biuf":
            raise _Invalid(f"array {name!r} has dtype {array.dtype}, not numbers")
        if array.dtype.kind == "f":
            bad = ~np.isfinite(array)
            if name in _NAN_MARKERS:
                bad &= ~np.isnan(array)
            if bad.any():
                raise _Invalid(f"array {name!r} holds NaN or infinite values")


def _probe(model: Regressor) -> None:
    """Predict a few synthetic structures: shapes that do not fit together fail here, at
    load time, instead of at the user's first prediction."""
    species = np.asarray(model.species_, dtype=np.int64)
    n_features = int(model.n_features_in_)
    if species.ndim != 1 or species.size == 0 or n_features < 1:
        raise _Invalid("the model has no species or no features")
    values = np.random.default_rng(0).normal(size=(species.size, n_features))
    rows = np.arange(species.size)
    if model.per_structure_:
        data = AtomicData(values, rows, np.zeros(species.size), species.size, True)
    else:
        data = AtomicData(values, rows, species, species.size, False)
    prediction = model.predict(data)
    if prediction.shape != (species.size,) or not np.all(np.isfinite(prediction)):
        raise _Invalid("its predictions are not finite numbers")


def load(path: str | os.PathLike) -> Regressor | SAGPR | TensorModel:
    """Read a model saved with ``model.save(path)``; it predicts exactly as the saved one.

    The feature description given at fit/save time is in ``model.features_``.

    Raises:
        FileNotFoundError: no file at ``path``.
        InvalidInputError: the file is not a valid lode_rs model file (damaged, truncated,
            written by something else, or inconsistent); never unpickles anything.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no model file at {path}")
    try:
        arrays = _read_arrays(path)
        metadata = _metadata(arrays)
        _check_values(arrays)
        model = _MODELS[metadata["model"]]._from_saved(metadata, arrays)
        if isinstance(model, Regressor):  # SA-GPR and tensor models check their own arrays
            _probe(model)
    except InvalidInputError as e:
        raise InvalidInputError(f"{path} is not a valid lode_rs model file: {e}") from None
    except (
        _Invalid,
        zipfile.BadZipFile,
        EOFError,
        OSError,
        ValueError,  # includes json.JSONDecodeError
        KeyError,
        IndexError,
        TypeError,
        AttributeError,
        np.linalg.LinAlgError,
    ) as e:
        reason = str(e) if isinstance(e, _Invalid) else f"{type(e).__name__}: {e}"
        raise InvalidInputError(f"{path} is not a valid lode_rs model file: {reason}") from None
    return model
