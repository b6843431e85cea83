"""Experiment 1 of the LODE paper: learning the Ewald energy of random Na⁺/Cl⁻ gases.

2000 configurations of 64 point charges in cubic boxes (12–20 Å), energies from
:func:`lode_rs.electrostatic_energy`. Models (the issue's list):

- SOAP power spectrum (σ 0.5 Å, n_max 6, l_max 4) with cutoffs 3, 6 and 9 Å, sparse GPR;
- LODE ν = 1 (r_c 2 Å, l_max 0), σ = 1.0 and 0.5 Å, linear ridge with weights per centre species;
- LODE ν = 2 (σ 1 Å, r_c 3 Å, n_max 6, l_max 4) with a linear kernel and weights per centre
  species (ridge on species-resolved features). The energy ½ Σ_i q_i V(r_i) is linear in the
  potential; ν = 2 features c c' contain it through the constant self term of each product,
  which a linear kernel uses directly, while (x̂·x̂')^ζ kernels on normalised features lose the
  magnitude of V and stay above 40 % (measured).

Learning curves: RMSE as % of the test targets' standard deviation, on a log grid of training
sizes, averaged over random splits; written as a PNG and a Markdown table.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import datasets, invariants, models, plotting
from ..calculators import LodeExpansion, SoapExpansion
from ..invariants import PowerSpectrum
from ..models.data import species_resolved
from ..progress import progress

SPECIES = [11, 17]


@dataclass(frozen=True)
class Settings:
    """Sizes of one run."""

    n_structures: int
    test_size: int
    train_sizes: tuple[int, ...]
    n_splits: int
    n_sparse: int


FULL = Settings(2000, 500, (10, 30, 100, 300, 1000, 1500), 3, 1000)
QUICK = Settings(360, 60, (10, 30, 100, 300), 2, 300)


def feature_sets(n_threads: int) -> dict[str, tuple[Callable, Callable[[], models.Regressor]]]:
    """Name → (features of a list of frames, a fresh model)."""

    def soap_ps(cutoff):
        calc = SoapExpansion(
            cutoff=cutoff, smearing=0.5, n_max=6, l_max=4, species=SPECIES, n_threads=n_threads
        )
        return lambda frames: PowerSpectrum(calc).compute(frames)

    def lode_radial(smearing):
        calc = LodeExpansion(
            cutoff=2.0, smearing=smearing, n_max=6, l_max=0, species=SPECIES, n_threads=n_threads
        )
        return lambda frames: species_resolved(invariants.radial(calc, frames))

    lode2 = LodeExpansion(
        cutoff=3.0, smearing=1.0, n_max=6, l_max=4, species=SPECIES, n_threads=n_threads
    )

    def sparse(zeta):
        return lambda: models.SparseGPR(
            kernel=models.PolynomialKernel(zeta=zeta), n_sparse=None, regularizer=None
        )

    return {
        "SOAP r_c=3 Å": (soap_ps(3.0), sparse(2)),
        "SOAP r_c=6 Å": (soap_ps(6.0), sparse(2)),
        "SOAP r_c=9 Å": (soap_ps(9.0), sparse(2)),
        "LODE ν=1 σ=1.0 Å (linear)": (lode_radial(1.0), lambda: models.Ridge(regularizer=None)),
        "LODE ν=1 σ=0.5 Å (linear)": (lode_radial(0.5), lambda: models.Ridge(regularizer=None)),
        "LODE ν=2 σ=1.0 Å (linear kernel)": (
            lambda frames: species_resolved(PowerSpectrum(lode2).compute(frames)),
            lambda: models.Ridge(regularizer=None),
        ),
    }


def run(
    out_dir: str | Path,
    *,
    quick: bool = False,
    seed: int = 0,
    n_threads: int = 0,
    cache_dir: str | Path | None = None,
    only: list[str] | None = None,
) -> dict[str, models.LearningCurve]:
    """Run the experiment; writes ``point_charges.{png,md,json}`` (plot, table, raw errors) and
    ``point_charges.parity.png`` (test predictions at the largest training size) to ``out_dir``."""
    settings = QUICK if quick else FULL
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    frames, energies = datasets.point_charges(settings.n_structures, seed=seed, cache_dir=cache_dir)
    curves: dict[str, models.LearningCurve] = {}
    timings: dict[str, float] = {}
    for name, (featurize, make_model) in progress(
        list(feature_sets(n_threads).items()), desc="models"
    ):
        if only and not any(o in name for o in only):
            continue
        start = time.perf_counter()
        features = featurize(frames)
        with warnings.catch_warnings():
            # SOAP at 3 Å sees many isolated ions: identical environments in the active set
            warnings.filterwarnings("ignore", message=".*distinct environments.*")
            curves[name] = _curve(make_model, features, energies, settings, seed)
        timings[name] = time.perf_counter() - start
    title = "Point charges (Ewald energies)" + (" — quick run" if quick else "")
    plotting.learning_curves(curves, out / "point_charges.png", title=title)
    plotting.curve_parities(curves, out / "point_charges.parity.png", title=f"{title}: test set")
    (out / "point_charges.md").write_text(table(curves, timings, settings))
    (out / "point_charges.json").write_text(
        json.dumps(
            {
                name: {
                    "train_sizes": c.train_sizes.tolist(),
                    "errors": c.errors.tolist(),
                    "test_size": c.test_size,
                    "seconds": timings[name],
                }
                for name, c in curves.items()
            },
            indent=1,
        )
    )
    return curves


def _curve(make_model, features, energies, settings: Settings, seed: int) -> models.LearningCurve:
    """Learning curve; sparse models get at most ``n_sparse`` active environments, and never
    more than the training set has (one curve per size: the splits depend only on the seed, so
    they are the same for every size)."""
    model = make_model()
    kw = dict(n_splits=settings.n_splits, test_size=settings.test_size, seed=seed)
    if not isinstance(model, models.SparseGPR):
        return models.learning_curve(model, features, energies, settings.train_sizes, **kw)
    atoms_per_structure = features.values.shape[0] / features.n_structures
    parts = []
    for n in settings.train_sizes:
        model = make_model()
        model.n_sparse = int(min(settings.n_sparse, n * atoms_per_structure))
        parts.append(models.learning_curve(model, features, energies, [n], **kw))
    errors = np.concatenate([p.errors for p in parts], axis=1)
    return models.LearningCurve(
        train_sizes=np.asarray(settings.train_sizes),
        errors=errors,
        mean=errors.mean(axis=0),
        std=errors.std(axis=0),
        test_size=settings.test_size,
        parity=parts[-1].parity,
    )


def table(curves: dict[str, models.LearningCurve], timings: dict[str, float], settings) -> str:
    """Markdown table: mean RMSE (% of test std) per model and training size."""
    sizes = list(settings.train_sizes)
    lines = [
        f"{settings.n_structures} structures, test set {settings.test_size}, "
        f"{settings.n_splits} random splits; RMSE in % of the test std (mean ± std over splits)",
        "",
        "| model | " + " | ".join(str(n) for n in sizes) + " | time (s) |",
        "| --- |" + " ---: |" * (len(sizes) + 1),
    ]
    for name, curve in curves.items():
        cells = []
        for n in sizes:
            k = list(curve.train_sizes).index(n)
            cells.append(f"{curve.mean[k]:.3g} ± {curve.std[k]:.2g}")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {timings[name]:.0f} |")
    return "\n".join(lines) + "\n"


def errors_at(curve: models.LearningCurve, n: int) -> float:
    """Mean error at training size ``n``."""
    return float(np.asarray(curve.mean)[list(curve.train_sizes).index(n)])
