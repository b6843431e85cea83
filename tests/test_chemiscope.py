"""chemiscope maps: projections checked by two routes, the file's fields, the CLI."""

from __future__ import annotations

import gzip
import json

import ase.io
import numpy as np
import pytest

import lode_rs
from lode_rs.interop.chemiscope import kernel_pca, pca, write_map
from lode_rs.models import PolynomialKernel


@pytest.fixture(scope="module")
def data():
    frames = lode_rs.datasets.random_ionic_gas(
        12, n_atoms=8, box_range=(6.0, 8.0), min_distance=1.8, seed=2
    )
    for f, e in zip(frames, lode_rs.electrostatic_energy(frames), strict=True):
        f.info["energy"] = float(e)
    soap = lode_rs.SoapExpansion(cutoff=3.0, smearing=0.4, n_max=3, l_max=2)
    return frames, lode_rs.PowerSpectrum(soap).compute(frames)


def test_pca_is_linear_kernel_pca(data):
    """PCA of the normalised per-structure features and kernel PCA with the linear kernel are
    the same projection computed two ways (SVD of the data, eigenvectors of the Gram matrix)."""
    _, x = data
    a = pca(x)
    b = kernel_pca(x, PolynomialKernel(zeta=1, normalize=False), match_species=False)
    assert a.shape == (12, 2)
    assert np.allclose(a, b, rtol=0, atol=1e-10 * np.abs(a).max())
    # the first coordinate carries the largest variance, and the projection is not trivial
    assert np.var(a[:, 0]) >= np.var(a[:, 1]) > 0


def test_map_file_has_chemiscope_fields(data, tmp_path):
    pytest.importorskip("chemiscope")
    frames, x = data
    prediction = np.arange(12.0)
    coordinates = write_map(
        tmp_path / "map.json.gz",
        frames,
        x,
        properties={"prediction": prediction},
        method="kpca",
        png=tmp_path / "map.png",
    )
    with gzip.open(tmp_path / "map.json.gz", "rt") as f:
        content = json.load(f)
    assert {"meta", "structures", "properties", "settings"} <= set(content)
    assert len(content["structures"]) == 12
    first = content["structures"][0]
    assert first["size"] == 8 and len(first["x"]) == 8 and len(first["cell"]) == 9
    props = content["properties"]
    assert np.allclose(props["KPCA[1]"]["values"], coordinates[:, 0])
    assert np.allclose(props["KPCA[2]"]["values"], coordinates[:, 1])
    assert np.allclose(props["energy"]["values"], [f.info["energy"] for f in frames])
    assert props["prediction"]["values"] == prediction.tolist()
    assert props["n_atoms"]["target"] == "structure"
    assert content["settings"]["map"]["x"]["property"] == "KPCA[1]"
    assert (tmp_path / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_map_cli(data, tmp_path):
    pytest.importorskip("chemiscope")
    frames, _ = data
    ase.io.write(tmp_path / "data.xyz", frames)
    from lode_rs.cli import main

    soap = '{"cutoff": 3.0, "smearing": 0.4, "n_max": 3, "l_max": 2}'
    assert (
        main(["map", str(tmp_path / "data.xyz"), "-o", str(tmp_path / "m.json.gz"), "--soap", soap])
        == 0
    )
    with gzip.open(tmp_path / "m.json.gz", "rt") as f:
        content = json.load(f)
    assert "PCA[1]" in content["properties"] and "energy" in content["properties"]
    assert (tmp_path / "m.png").exists()
    # with a model: its features, its kernel for kPCA, its predictions as a property
    assert (
        main(
            [
                "fit",
                str(tmp_path / "data.xyz"),
                "--target",
                "energy",
                "--soap",
                soap,
                "--n-sparse",
                "20",
                "--regularizer",
                "1e-6",
                "-o",
                str(tmp_path / "model.npz"),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "map",
                str(tmp_path / "data.xyz"),
                "--model",
                str(tmp_path / "model.npz"),
                "-o",
                str(tmp_path / "k.json"),
                "--png",
                str(tmp_path / "k.png"),
            ]
        )
        == 0
    )
    content = json.loads((tmp_path / "k.json").read_text())
    assert "KPCA[1]" in content["properties"] and "prediction" in content["properties"]
