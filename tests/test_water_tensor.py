"""The water-tensor experiment end to end on a few boxes: outputs, the parity plot shows the
scored predictions, and the Clausius–Mossotti map and its inverse."""

from __future__ import annotations

import json

import numpy as np

from lode_rs import datasets, models
from lode_rs.experiments import water_tensor

TINY = water_tensor.Settings(
    n_structures=24,
    test_size=6,
    train_sizes=(8, 18),
    n_splits=2,
    n_max=2,
    l_max=2,
    batch=24,
    second_route_sizes=(18,),
)


def test_clausius_mossotti_route_inverts_exactly():
    data = datasets.water_dielectric()
    eps = 0.5 * (data.epsilon[:20] + data.epsilon[:20].transpose(0, 2, 1))
    volume = np.array([f.get_volume() for f in data.frames[:20]])
    parts = water_tensor.targets(eps, volume, "clausius-mossotti")
    back = water_tensor.to_epsilon(parts[0], parts[2], volume, "clausius-mossotti")
    np.testing.assert_allclose(back, eps, rtol=0, atol=1e-12)
    # the polarizability of a box is extensive: ~ 1.5 Å³ per molecule for ε ≈ 1.8
    alpha = 3 * parts[0][:, 0] / np.sqrt(3) / 3  # tr α / 3
    assert np.all((alpha / 32 > 1.0) & (alpha / 32 < 2.0))


def test_tiny_end_to_end_run(tmp_path):
    results = water_tensor.run(tmp_path, settings=TINY, cache_dir=tmp_path / "cache")
    for name in ("water_tensor.png", "water_tensor.parity.png"):
        assert (tmp_path / name).stat().st_size > 1000
    table = (tmp_path / "water_tensor.md").read_text()
    assert "SOAP + LODE (3 Å)" in table and "clausius-mossotti" in table and "| — |" in table
    raw = json.loads((tmp_path / "water_tensor.json").read_text())
    assert set(raw["models"]) == set(results)
    for result in results.values():
        for label, curve in result.curves.items():
            # the second route at the whole pool only
            n_sizes = 2 if label.startswith("direct") else 1
            assert curve.errors.shape == (2, n_sizes) and np.isfinite(curve.errors).all(), label
            # the largest size is the whole pool: both subsets are the same fit
            assert curve.errors[0, -1] == curve.errors[1, -1]
            reference, predicted = curve.parity
            assert models.rmse_percent(predicted, reference) == curve.errors[0, -1]
            assert reference.shape == (6, 1 if label.endswith("0") else 5)
