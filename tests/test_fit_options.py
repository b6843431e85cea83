"""``lode-rs fit options.yaml``: defaults expanded, overrides, saved options/seed/split that
reproduce the fit exactly, parity plot, clear errors."""

from __future__ import annotations

import json

import ase.io
import numpy as np
import pytest
import yaml

import lode_rs
from lode_rs import options as opts
from lode_rs.cli import main


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("fit") / "train.xyz"
    frames = lode_rs.datasets.random_ionic_gas(
        20, n_atoms=8, box_range=(6.0, 8.0), min_distance=1.8, seed=3
    )
    for f, e in zip(frames, lode_rs.electrostatic_energy(frames), strict=True):
        f.info["energy"] = float(e)
    ase.io.write(path, frames)
    return path


def test_fit_from_options_file(data_file, tmp_path):
    options = {
        "data": {"files": [data_file.name], "test_fraction": 0.25},
        "features": {"lode": {"cutoff": 3.0, "smearing": 1.0, "n_max": 3, "l_max": 2}},
        "model": {"n_sparse": 40, "regularizer": 1e-6},
        "output": str(tmp_path / "model.npz"),
    }
    path = data_file.parent / "options.yaml"
    path.write_text(yaml.safe_dump(options))
    assert main(["fit", str(path), "-r", "model.zeta=1", "-r", "seed=7"]) == 0
    expanded = yaml.safe_load((tmp_path / "model.options.yaml").read_text())
    assert expanded["model"] == {
        "type": "sparse-gpr",
        "zeta": 1,
        "n_sparse": 40,
        "regularizer": 1e-6,
    }
    assert expanded["seed"] == 7 and expanded["features"]["invariant"] == "power"
    assert expanded["data"]["files"] == [str(data_file)]  # resolved beside the options file
    split = json.loads((tmp_path / "model.split.json").read_text())
    assert split["seed"] == 7 and len(split["test"]) == 5
    assert sorted(split["train"] + split["test"]) == list(range(20))
    assert (tmp_path / "model.parity.png").read_bytes()[:4] == b"\x89PNG"
    # the saved options alone reproduce the model exactly
    first = lode_rs.models.load(tmp_path / "model.npz")
    again = tmp_path / "again"
    again.mkdir()
    assert (
        main(["fit", str(tmp_path / "model.options.yaml"), "-r", f"output={again / 'model.npz'}"])
        == 0
    )
    second = lode_rs.models.load(again / "model.npz")
    assert np.array_equal(first.weights_, second.weights_)
    # and the model predicts from the command line
    assert (
        main(
            ["predict", str(tmp_path / "model.npz"), str(data_file), "-o", str(tmp_path / "p.txt")]
        )
        == 0
    )
    assert np.loadtxt(tmp_path / "p.txt").shape == (20,)


@pytest.mark.parametrize(
    "given, overrides, message",
    [
        ({"data": {"files": ["x.xyz"]}, "modle": {}}, [], "unknown option 'modle'"),
        (
            {"data": {"files": ["x.xyz"]}, "features": {"soap": {"cutoff": 3}}},
            ["model.zta=2"],
            "unknown option 'model.zta'",
        ),
        ({"features": {"soap": {"cutoff": 3}}}, [], "data.files is required"),
        ({"data": {"files": ["x.xyz"]}}, [], "features.soap and/or features.lode"),
        (
            {"data": {"files": ["x.xyz"]}, "features": {"soap": {}}, "model": {"type": "mlp"}},
            [],
            "model.type",
        ),
    ],
)
def test_bad_options_are_named(given, overrides, message):
    with pytest.raises(lode_rs.InvalidParameterError, match=message):
        opts.expand(given, overrides)
