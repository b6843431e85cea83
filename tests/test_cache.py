"""The one cache of generated data and precomputed arrays (``lode_rs.datasets.cache``)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lode_rs.datasets.cache import Format, cache_directory, cached, digest, npz


class Counter:
    def __init__(self, value):
        self.value, self.calls = value, 0

    def __call__(self):
        self.calls += 1
        return self.value


def test_arrays_are_computed_once_then_read(tmp_path):
    compute = Counter({"x": np.arange(5.0)})
    parameters = {"a": 1, "b": (2.0, 3.0)}  # a tuple comes back from JSON as a list
    first, hit = cached("entry.npz", parameters, compute, npz(compress=True), cache_dir=tmp_path)
    assert not hit and compute.calls == 1
    again, hit = cached("entry.npz", parameters, compute, npz(compress=True), cache_dir=tmp_path)
    assert hit and compute.calls == 1
    np.testing.assert_array_equal(again["x"], first["x"])
    assert set(again) == {"x"}
    # nothing left behind but the entry
    assert [p.name for p in tmp_path.iterdir()] == ["entry.npz"]


def test_other_parameters_or_a_damaged_file_recompute(tmp_path):
    compute = Counter({"x": np.ones(3)})
    cached("e.npz", {"a": 1}, compute, npz(compress=False), cache_dir=tmp_path)
    _, hit = cached("e.npz", {"a": 2}, compute, npz(compress=False), cache_dir=tmp_path)
    assert not hit and compute.calls == 2
    with np.load(tmp_path / "e.npz") as data:
        assert json.loads(str(data["parameters"])) == {"a": 2}
    (tmp_path / "e.npz").write_bytes(b"PK\x03\x04 not a zip file")
    _, hit = cached("e.npz", {"a": 2}, compute, npz(compress=False), cache_dir=tmp_path)
    assert not hit and compute.calls == 3
    _, hit = cached("e.npz", {"a": 2}, compute, npz(compress=False), cache_dir=tmp_path)
    assert hit and compute.calls == 3


def test_a_format_with_a_sidecar_file(tmp_path):
    def write(path, value, parameters):
        path.write_text(value)
        path.with_suffix(".json").write_text(json.dumps(parameters))

    def read(path):
        return path.read_text(), json.loads(path.with_suffix(".json").read_text())

    text = Format(write=write, read=read)
    compute = Counter("hello")
    cached("t.txt", {"k": [1]}, compute, text, cache_dir=tmp_path / "sub")
    value, hit = cached("t.txt", {"k": [1]}, compute, text, cache_dir=tmp_path / "sub")
    assert hit and value == "hello" and compute.calls == 1
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["t.json", "t.txt"]


def test_a_failed_computation_leaves_no_entry(tmp_path):
    def fail():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        cached("e.npz", {}, fail, npz(compress=False), cache_dir=tmp_path)
    assert not list(tmp_path.iterdir())


def test_directory_and_digest(tmp_path, monkeypatch):
    assert cache_directory(tmp_path) == tmp_path
    monkeypatch.setenv("LODE_RS_CACHE", str(tmp_path / "env"))
    assert cache_directory() == tmp_path / "env"
    monkeypatch.delenv("LODE_RS_CACHE")
    assert cache_directory().parts[-2:] == (".cache", "lode_rs")
    assert digest({"a": 1, "b": 2}) == digest({"b": 2, "a": 1})
    assert digest({"a": 1}) != digest({"a": 2}) and len(digest({})) == 16


def test_generated_dimers_are_cached_in_the_generators_own_files(tmp_path, monkeypatch):
    """``xtb_dimers(source="generate")`` through the cache, with the xTB run replaced by two
    shipped dimers (so neither RDKit nor tblite is needed)."""
    import lode_rs
    from lode_rs.datasets import dimer_generator as generator
    from lode_rs.datasets.loaders import packaged

    shipped, _ = generator.load(packaged(*lode_rs.datasets.XTB_DIMERS_FILE))
    calls = []

    def fake_generate(n_dimers, settings, *, n_processes):
        calls.append((n_dimers, settings.seed))
        return shipped[:n_dimers], ["dimer 9 (a + b): dropped"]

    monkeypatch.setattr(generator, "generate", fake_generate)
    first = lode_rs.datasets.xtb_dimers(2, source="generate", seed=4, cache_dir=tmp_path)
    again = lode_rs.datasets.xtb_dimers(2, source="generate", seed=4, cache_dir=tmp_path)
    assert calls == [(2, 4)]
    np.testing.assert_array_equal(again.energy, first.energy)
    np.testing.assert_array_equal(first.energy, lode_rs.datasets.xtb_dimers(2).energy)
    (data,) = tmp_path.glob("xtb_dimers-n2-*.xyz.xz")
    description = json.loads(data.with_name(data.name.replace(".xyz.xz", ".json")).read_text())
    assert description["failures"] == ["dimer 9 (a + b): dropped"]
    assert description["key"]["seed"] == 4 and description["key"]["n_dimers"] == 2
    lode_rs.datasets.xtb_dimers(2, source="generate", seed=5, cache_dir=tmp_path)
    assert calls == [(2, 4), (2, 5)]
