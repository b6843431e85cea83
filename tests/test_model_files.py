"""Damaged and hostile model files: one InvalidInputError on load, never a pickle."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

import lode_rs
from lode_rs.models import GPR, PolynomialKernel, Ridge, SparseGPR, load
from lode_rs.results import Features

INVALID = "is not a valid lode_rs model file"


def _features(seed: int, n_structures: int = 12, n_features: int = 5) -> Features:
    rng = np.random.default_rng(seed)
    counts = rng.integers(2, 5, n_structures)
    structure = np.repeat(np.arange(n_structures), counts)
    centers = np.concatenate([np.arange(c) for c in counts])
    return Features(
        values=rng.normal(size=(structure.size, n_features)),
        structure=structure,
        centers=centers,
        center_species=np.array([1, 8])[centers % 2],
        labels=np.arange(n_features)[:, None],
        label_names=("feature",),
        n_structures=n_structures,
    )


MODELS = {
    "ridge": lambda: Ridge(regularizer=1e-3),
    "ridge0": lambda: Ridge(regularizer=0.0),
    "gpr": lambda: GPR(kernel=PolynomialKernel(2), regularizer=1e-3),
    "sparse": lambda: SparseGPR(kernel=PolynomialKernel(2), n_sparse=8, regularizer=1e-3),
}


@pytest.fixture(params=sorted(MODELS))
def saved(request, tmp_path):
    """A fitted model saved to disk, with its predictions on a test set."""
    x, test = _features(0), _features(1, n_structures=4)
    y = np.random.default_rng(2).normal(size=x.n_structures)
    model = MODELS[request.param]().fit(x, y)
    path = tmp_path / "model.npz"
    model.save(path)
    return path, test, model.predict(test)


def _entries(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {m.filename: archive.read(m) for m in archive.infolist()}


def _write(path, entries: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def _arrays(path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def test_round_trip(saved):
    path, test, expected = saved
    np.testing.assert_array_equal(load(path).predict(test), expected)


def _damage(kind: str, path, tmp_path):
    out = tmp_path / f"{kind}.npz"
    data = path.read_bytes()
    entries = _entries(path)
    arrays = _arrays(path)
    metadata = json.loads(str(arrays["metadata"]))
    first_float = next(k for k, v in arrays.items() if v.dtype.kind == "f" and v.size > 1)
    if kind == "empty":
        out.write_bytes(b"")
    elif kind == "text":
        out.write_text("this is not a model\n")
    elif kind == "truncated":
        out.write_bytes(data[: len(data) // 2])
    elif kind == "truncated-entry":
        name = f"{first_float}.npy"
        entries[name] = entries[name][: len(entries[name]) // 2]
        _write(out, entries)
    elif kind == "bad-json":
        entries["metadata.npy"] = _npy(np.array("{not json"))
        _write(out, entries)
    elif kind == "json-list":
        entries["metadata.npy"] = _npy(np.array("[1, 2]"))
        _write(out, entries)
    elif kind == "no-metadata":
        del entries["metadata.npy"]
        _write(out, entries)
    elif kind == "wrong-format":
        entries["metadata.npy"] = _npy(np.array(json.dumps({**metadata, "format": "other"})))
        _write(out, entries)
    elif kind == "wrong-version":
        entries["metadata.npy"] = _npy(np.array(json.dumps({**metadata, "version": 99})))
        _write(out, entries)
    elif kind == "unknown-model":
        entries["metadata.npy"] = _npy(np.array(json.dumps({**metadata, "model": "Evil"})))
        _write(out, entries)
    elif kind == "missing-key":
        del entries[f"{first_float}.npy"]
        _write(out, entries)
    elif kind == "missing-metadata-key":
        del metadata["params"]
        entries["metadata.npy"] = _npy(np.array(json.dumps(metadata)))
        _write(out, entries)
    elif kind == "wrong-shape":
        entries[f"{first_float}.npy"] = _npy(np.ones(arrays[first_float].size + 3))
        _write(out, entries)
    elif kind == "nan":
        bad = arrays[first_float].copy()
        bad.flat[0] = np.nan
        entries[f"{first_float}.npy"] = _npy(bad)
        _write(out, entries)
    elif kind == "wrong-n-features":
        entries["metadata.npy"] = _npy(np.array(json.dumps({**metadata, "n_features_in_": 10**6})))
        _write(out, entries)
    elif kind == "object-array":
        entries[f"{first_float}.npy"] = _npy(np.array([{"a": 1}, None], dtype=object))
        _write(out, entries)
    elif kind == "huge-header":
        # a header declaring 1e11 float64 elements (800 GB) followed by a few bytes
        header = {"descr": "<f8", "fortran_order": False, "shape": (10**11,)}
        buffer = io.BytesIO()
        np.lib.format.write_array_header_1_0(buffer, header)
        entries[f"{first_float}.npy"] = buffer.getvalue() + b"\0" * 64
        _write(out, entries)
    elif kind == "string-array":
        entries[f"{first_float}.npy"] = _npy(np.array(["a", "b"]))
        _write(out, entries)
    else:
        raise AssertionError(kind)
    return out


KINDS = [
    "empty",
    "text",
    "truncated",
    "truncated-entry",
    "bad-json",
    "json-list",
    "no-metadata",
    "wrong-format",
    "wrong-version",
    "unknown-model",
    "missing-key",
    "missing-metadata-key",
    "wrong-shape",
    "nan",
    "wrong-n-features",
    "object-array",
    "huge-header",
    "string-array",
]


@pytest.mark.parametrize("kind", KINDS)
def test_damaged_files_raise_one_clear_error(saved, tmp_path, kind):
    path, _, _ = saved
    damaged = _damage(kind, path, tmp_path)
    with pytest.raises(lode_rs.InvalidInputError, match=INVALID) as info:
        load(damaged)
    assert "allow_pickle" not in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "nothing.npz")
