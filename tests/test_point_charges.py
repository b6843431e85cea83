"""The point-charge experiment: δ-limit physics, the reduced end-to-end run, the CLI."""

from __future__ import annotations

import json

import ase.io
import numpy as np
import pytest

import lode_rs
from lode_rs import models
from lode_rs.cli import main
from lode_rs.experiments import point_charges
from lode_rs.models.data import species_resolved


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return lode_rs.datasets.point_charges(60, seed=5, cache_dir=tmp_path_factory.mktemp("cache"))


def test_linear_nu1_model_in_the_delta_limit_recovers_ewald_energies(dataset):
    """With a small smearing and basis, c^a_000(i) is the potential of species a at atom i (times
    a constant), so E = ½ Σ_i q_i V(r_i) is exactly linear in the species-resolved ν = 1
    features: held-out energies within 0.1 % (the issue's bound; we measure 3.5e-9)."""
    frames, energies = dataset
    calc = lode_rs.LodeExpansion(
        cutoff=0.4, smearing=0.2, n_max=1, l_max=0, species=[11, 17], accuracy=1e-9
    )
    x = species_resolved(lode_rs.invariants.radial(calc, frames))
    model = models.Ridge(regularizer=1e-12).fit(
        lode_rs.Features(
            values=x.values[x.structure < 40],
            structure=x.structure[x.structure < 40],
            centers=x.centers[x.structure < 40],
            center_species=x.center_species[x.structure < 40],
            labels=x.labels,
            label_names=x.label_names,
            n_structures=40,
        ),
        energies[:40],
    )
    test = x.structure >= 40
    prediction = model.predict(
        lode_rs.Features(
            values=x.values[test],
            structure=x.structure[test] - 40,
            centers=x.centers[test],
            center_species=x.center_species[test],
            labels=x.labels,
            label_names=x.label_names,
            n_structures=20,
        )
    )
    relative = np.abs(prediction - energies[40:]) / np.abs(energies[40:])
    assert relative.max() < 1e-3


def test_species_resolved_blocks():
    frames = lode_rs.datasets.random_ionic_gas(2, n_atoms=8, box_range=(8, 9), seed=1)
    calc = lode_rs.LodeExpansion(cutoff=2.0, smearing=1.0, n_max=3, l_max=0, species=[11, 17])
    x = lode_rs.invariants.radial(calc, frames)
    y = species_resolved(x)
    assert y.values.shape == (x.values.shape[0], 2 * x.values.shape[1])
    na = x.center_species == 11
    np.testing.assert_array_equal(y.values[na, :6], x.values[na])
    assert not y.values[na, 6:].any() and not y.values[~na, :6].any()
    assert y.label_names[0] == "center_species"
    with pytest.raises(lode_rs.InvalidInputError, match="not in"):
        species_resolved(x, species=[11])


def test_raw_polynomial_kernel_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(30, 4)), rng.normal(size=30)
    model = models.GPR(kernel=models.PolynomialKernel(2, normalize=False), regularizer=1e-3)
    model.fit(x, y)
    model.save(tmp_path / "m.npz")
    again = models.load(tmp_path / "m.npz")
    assert again.kernel_.normalize is False
    np.testing.assert_array_equal(again.predict(x), model.predict(x))
    # the raw kernel keeps magnitudes: scaling the features changes the kernel
    k = models.PolynomialKernel(2, normalize=False)
    assert np.allclose(
        k.pairwise(k.prepare(2 * x[:2]), k.prepare(x[:2])), 4 * k.pairwise(x[:2], x[:2])
    )


def test_reduced_end_to_end_run(tmp_path, monkeypatch):
    tiny = point_charges.Settings(40, 10, (10, 30), 1, 200)
    monkeypatch.setattr(point_charges, "QUICK", tiny)
    curves = point_charges.run(tmp_path, quick=True, cache_dir=tmp_path / "cache")
    assert (tmp_path / "point_charges.png").stat().st_size > 1000
    table = (tmp_path / "point_charges.md").read_text()
    assert table.count("|") > 20 and "LODE ν=1" in table
    linear = curves["LODE ν=1 σ=1.0 Å (linear)"]
    soap = curves["SOAP r_c=3 Å"]
    # even on 30 structures the long-range model wins by far over the local one
    assert point_charges.errors_at(linear, 30) < 0.2 * point_charges.errors_at(soap, 30)
    # the parity plot shows the predictions that were scored (first split, largest size)
    assert (tmp_path / "point_charges.parity.png").stat().st_size > 1000
    for curve in curves.values():
        reference, predicted = curve.parity
        assert reference.shape == predicted.shape == (10,)
        assert lode_rs.models.rmse_percent(predicted, reference) == curve.errors[0, -1]


def test_cli_featurize_fit_predict(tmp_path, dataset):
    frames, energies = dataset
    for atoms, e in zip(frames[:30], energies[:30], strict=True):
        atoms.info["ewald"] = e
    path = tmp_path / "train.xyz"
    ase.io.write(path, frames[:30])
    lode = json.dumps({"cutoff": 2.0, "smearing": 1.0, "n_max": 4, "l_max": 2})
    assert main(["featurize", str(path), "--lode", lode, "-o", str(tmp_path / "f.npz")]) == 0
    data = np.load(tmp_path / "f.npz")
    assert data["values"].shape[0] == 30 * 64
    model = tmp_path / "model.npz"
    args = ["fit", str(path), "--target", "ewald", "--lode", lode, "--model", "ridge"]
    assert main([*args, "-o", str(model)]) == 0
    assert main(["predict", str(model), str(path), "-o", str(tmp_path / "p.txt")]) == 0
    predicted = np.loadtxt(tmp_path / "p.txt")
    assert predicted.shape == (30,)
    assert np.sqrt(np.mean((predicted - energies[:30]) ** 2)) < np.std(energies[:30])
    with pytest.raises(SystemExit, match="no target"):
        main(["fit", str(path), "--target", "missing", "--lode", lode])
