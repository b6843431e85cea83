"""Experiment 3 of the LODE paper: the electronic dielectric constant of liquid water.

Data: :func:`lode_rs.datasets.water_dielectric` — 1000 periodic boxes of 32 H₂O with their
electronic dielectric tensors; the target is ε₀ = tr(ε∞)/3. A fixed random test set of 200
boxes; learning curves on random subsets of the other 800 (several subsets per size).

Models (additive over atoms; kernels compare environments of the same central species):

- SOAP power spectrum (σ 0.3 Å), r_c = 3, 4 and 6 Å;
- LODE power spectrum (p = 1, σ 0.3 Å, the centre's own potential left out; periodic: the
  calculator picks the k-space or Ewald route), r_c = 3 Å;
- SOAP + LODE, both 3 Å: sums ``K_SOAP + w K_LODE`` (kinds, exponents and weights on a grid)
  and the multi-scale ρ ⊗ V power spectrum are all candidates;
- for reference, ε₀ linear in the number density N/V of the box (not additive over atoms).

Every model offers to cross-validation polynomial kernels (x̂·x̂')^ζ on normalised environments
and (x·x')^ζ on raw features, ζ = 1…4; 5-fold cross-validation on each training set (never
the test set) picks the candidate and the regularizer. The structure kernels are computed once
for all boxes (:func:`lode_rs.models.polynomial_structure_kernels`) and cached on disk
(:mod:`lode_rs.datasets.cache`); the fits are :func:`lode_rs.models.fit_precomputed`.

Errors: test RMSE in % of the standard deviation of the test targets.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .. import datasets, models, plotting
from .._version import __version__
from ..calculators import LodeExpansion, SoapExpansion
from ..datasets.cache import cached, digest, npz
from ..invariants import PowerSpectrum
from ..models import LearningCurve, fit_precomputed, polynomial_structure_kernels
from ..progress import progress

SPECIES = [1, 8]
#: Gaussian width of the LODE charges (Å), chosen by cross-validation on the training pool
#: among 1.0, 0.5 and 0.3 (see the README)
LODE_SMEARING = 0.3


@dataclass(frozen=True)
class Settings:
    """Sizes and basis of one run.

    Attributes:
        n_structures: boxes used (the first ``n_structures`` of a seeded permutation).
        test_size: fixed test set (taken from the same permutation).
        train_sizes: training-set sizes of the learning curves.
        n_splits: random training subsets per size (one when the size is the whole pool).
        n_max, l_max: radial and angular basis of every expansion.
        zetas: kernel exponents offered to cross-validation.
        sum_zetas: exponents of the ``K_SOAP + w K_LODE`` candidates (a subset of ``zetas``).
        weights: LODE weights ``w`` of the ``K_SOAP + w K_LODE`` candidates.
    """

    n_structures: int
    test_size: int
    train_sizes: tuple[int, ...]
    n_splits: int
    n_max: int
    l_max: int
    zetas: tuple[int, ...]
    sum_zetas: tuple[int, ...]
    weights: tuple[float, ...]


FULL = Settings(
    n_structures=1000,
    test_size=200,
    train_sizes=(25, 50, 100, 200, 400, 800),
    n_splits=4,
    n_max=6,
    l_max=4,
    zetas=(1, 2, 3, 4),
    sum_zetas=(1, 2),
    weights=(0.3, 1.0, 3.0),
)
QUICK = Settings(
    n_structures=160,
    test_size=40,
    train_sizes=(30, 60, 120),
    n_splits=2,
    n_max=4,
    l_max=3,
    zetas=(1, 2),
    sum_zetas=(1,),
    weights=(1.0,),
)


def blocks(settings: Settings, n_threads: int) -> dict[str, tuple[dict, Callable]]:
    """Feature block name → (hyper-parameters, features of a list of frames)."""
    basis = {"n_max": settings.n_max, "l_max": settings.l_max}

    def soap(cutoff: float) -> SoapExpansion:
        return SoapExpansion(
            cutoff=cutoff, smearing=0.3, species=SPECIES, n_threads=n_threads, **basis
        )

    def lode() -> LodeExpansion:
        return LodeExpansion(
            cutoff=3.0,
            smearing=LODE_SMEARING,
            exponent=1,
            center_weight=0.0,
            species=SPECIES,
            n_threads=n_threads,
            **basis,
        )

    out = {}
    for cutoff in (3.0, 4.0, 6.0):
        calc = soap(cutoff)
        out[f"soap{cutoff:g}"] = (calc.hypers, PowerSpectrum(calc).compute)
    calc = lode()
    out["lode3"] = (calc.hypers, PowerSpectrum(calc).compute)
    pair = (soap(3.0), lode())
    out["soap3 x lode3"] = (
        {"soap": pair[0].hypers, "lode": pair[1].hypers},
        PowerSpectrum(*pair).compute,
    )
    return out


Kernels = dict[tuple[bool, int], np.ndarray]

#: the two kinds of polynomial kernel (see :func:`lode_rs.models.polynomial_structure_kernels`)
KINDS = {True: "normalised", False: "raw"}


def _cached_kernels(
    name: str, hypers: dict, featurize: Callable, frames, settings: Settings, cache_dir, key: str
) -> tuple[Kernels, float]:
    """Structure kernels of one feature block, both kinds and every ζ (computed, or read from
    the cache), and the seconds spent computing them (0 when cached)."""
    parameters = {
        "block": name,
        "hypers": hypers,
        "zetas": list(settings.zetas),
        "structures": key,
        "version": __version__,
        "format": 2,
    }
    names = {(k, z): f"{KINDS[k]}_zeta{z}" for k in KINDS for z in settings.zetas}
    seconds = 0.0

    def compute() -> dict[str, np.ndarray]:
        nonlocal seconds
        start = time.perf_counter()
        kernels = polynomial_structure_kernels(
            featurize(frames), settings.zetas, normalize=tuple(KINDS)
        )
        seconds = time.perf_counter() - start
        return {names[kz]: k for kz, k in kernels.items()}

    arrays, _ = cached(
        f"water-kernels-{digest(parameters)}.npz",
        parameters,
        compute,
        npz(compress=False),
        cache_dir=cache_dir,
    )
    return {kz: arrays[label] for kz, label in names.items()}, seconds


def _unit_scale(k: np.ndarray) -> np.ndarray:
    """``k`` divided by its mean diagonal (over all boxes; no targets are involved), so that
    the weights of a sum of kernels are relative."""
    return k / np.mean(np.diag(k))


def candidates(kernels: dict[str, Kernels], settings: Settings) -> dict[str, dict]:
    """Model name → {candidate kernel name → structure kernel}; CV picks among candidates.

    Every model is offered both kinds (normalised and raw features) and every ζ. SOAP + LODE
    is offered ``K_SOAP + w K_LODE`` (each scaled to unit mean diagonal, any kinds, ζ and ``w``)
    and the multi-scale ρ ⊗ V power spectrum.
    """

    def single(block: str, prefix: str = "") -> dict[str, np.ndarray]:
        return {f"{prefix}{KINDS[k]} ζ={z}": kernels[block][k, z] for k, z in kernels[block]}

    combined = {
        f"SOAP {KINDS[ks]} ζ={zs} + {w:g}·LODE {KINDS[kl]} ζ={zl}": _unit_scale(
            kernels["soap3"][ks, zs]
        )
        + w * _unit_scale(kernels["lode3"][kl, zl])
        for ks in KINDS
        for kl in KINDS
        for zs in settings.sum_zetas
        for zl in settings.sum_zetas
        for w in settings.weights
    }
    combined.update(single("soap3 x lode3", prefix="ρ⊗V "))
    return {
        "SOAP r_c=3 Å": single("soap3"),
        "SOAP r_c=4 Å": single("soap4"),
        "SOAP r_c=6 Å": single("soap6"),
        "LODE r_c=3 Å": single("lode3"),
        "SOAP + LODE (3 Å)": combined,
    }


#: reference model: ε₀ linear in the number density of the box (a global, non-additive input)
DENSITY = "density only (linear in N/V)"

#: the blocks each model needs (for timing)
NEEDS = {
    "SOAP r_c=3 Å": ("soap3",),
    "SOAP r_c=4 Å": ("soap4",),
    "SOAP r_c=6 Å": ("soap6",),
    "LODE r_c=3 Å": ("lode3",),
    "SOAP + LODE (3 Å)": ("soap3", "lode3", "soap3 x lode3"),
    DENSITY: (),
}


@dataclass(frozen=True)
class Result:
    """One model's learning curve and the hyper-parameters cross-validation chose.

    Attributes:
        curve: errors (% of the test std) per split and size.
        chosen: ``(n_splits, n_sizes)`` name of the candidate kernel picked for each fit.
        regularizers: ``(n_splits, n_sizes)`` regularizer picked for each fit.
        seconds: features, kernels and fits (kernels read from the cache count 0).
    """

    curve: LearningCurve
    chosen: list[list[str]]
    regularizers: list[list[float]]
    seconds: float


def _split(settings: Settings, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(boxes used, test positions, training pool positions); positions index the boxes used."""
    order = np.random.default_rng(seed).permutation(1000)
    used = np.sort(order[: settings.n_structures])
    positions = np.random.default_rng(seed + 1).permutation(settings.n_structures)
    return used, np.sort(positions[: settings.test_size]), positions[settings.test_size :]


def learning_curves(
    models_: dict[str, dict[str, np.ndarray]],
    y: np.ndarray,
    test: np.ndarray,
    pool: np.ndarray,
    settings: Settings,
    seed: int,
) -> dict[str, tuple[LearningCurve, list[list[str]], list[list[float]], float]]:
    """For every model, size and split: CV on a random training subset of ``pool``, test error."""
    sizes = [n for n in settings.train_sizes if n <= pool.size]
    out = {}
    for name, kernels in models_.items():
        start = time.perf_counter()
        errors = np.zeros((settings.n_splits, len(sizes)))
        chosen = [[""] * len(sizes) for _ in range(settings.n_splits)]
        lams = [[0.0] * len(sizes) for _ in range(settings.n_splits)]
        parity = None
        for split in range(settings.n_splits):
            rng = np.random.default_rng([seed, split])
            for j, n in enumerate(sizes):
                if split and n == pool.size:  # the whole pool: the same fit every split
                    errors[split, j] = errors[0, j]
                    chosen[split][j], lams[split][j] = chosen[0][j], lams[0][j]
                    continue
                train = np.sort(rng.permutation(pool)[:n])
                fit = fit_precomputed(kernels, y, train, test, seed=seed + split)
                errors[split, j] = models.rmse_percent(fit.prediction, y[test])
                if split == 0 and j == len(sizes) - 1:
                    parity = (y[test], fit.prediction)
                chosen[split][j], lams[split][j] = fit.variant, fit.regularizer
        curve = LearningCurve(
            train_sizes=np.asarray(sizes),
            errors=errors,
            mean=errors.mean(axis=0),
            std=errors.std(axis=0),
            test_size=int(test.size),
            parity=parity,
        )
        out[name] = (curve, chosen, lams, time.perf_counter() - start)
    return out


def run(
    out_dir: str | Path,
    *,
    quick: bool = False,
    seed: int = 0,
    n_threads: int = 0,
    cache_dir: str | Path | None = None,
    settings: Settings | None = None,
) -> dict[str, Result]:
    """Run the experiment; writes ``water.{png,md,json}`` (plot, table, raw errors and the
    hyper-parameters chosen) and ``water.parity.png`` (test predictions at the largest training
    size) to ``out_dir``.

    Args:
        out_dir: output directory (created).
        quick: the reduced :data:`QUICK` run instead of :data:`FULL`.
        seed: test set, training subsets and CV folds.
        n_threads: threads of the feature calculators (0: all cores).
        cache_dir: where structure kernels are cached (default ``$LODE_RS_CACHE`` or
            ``~/.cache/lode_rs``).
        settings: overrides ``quick`` (for tests and studies).
    """
    settings = settings or (QUICK if quick else FULL)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = datasets.water_dielectric()
    used, test, pool = _split(settings, seed)
    frames = [data.frames[i] for i in used]
    y = data.isotropic[used]
    key = hashlib.sha256(used.tobytes()).hexdigest()[:16]

    kernels: dict[str, Kernels] = {}
    block_seconds: dict[str, float] = {}
    for name, (hypers, featurize) in progress(
        list(blocks(settings, n_threads).items()), desc="kernels"
    ):
        kernels[name], block_seconds[name] = _cached_kernels(
            name, hypers, featurize, frames, settings, cache_dir, key
        )
    per_model = candidates(kernels, settings)
    # centred on the mean over all boxes (inputs only): the model is linear with an intercept
    density = np.array([len(f) / f.get_volume() for f in frames])
    density -= density.mean()
    per_model[DENSITY] = {"linear": np.outer(density, density)}
    curves = learning_curves(per_model, y, test, pool, settings, seed)
    results = {
        name: Result(
            curve=curve,
            chosen=chosen,
            regularizers=lams,
            seconds=fit_seconds + sum(block_seconds[b] for b in NEEDS[name]),
        )
        for name, (curve, chosen, lams, fit_seconds) in curves.items()
    }

    title = "Water: ε∞ (isotropic)" + (" — quick run" if quick else "")
    plotting.learning_curves(
        {k: r.curve for k, r in results.items()}, out / "water.png", title=title
    )
    plotting.curve_parities(
        {k: r.curve for k, r in results.items()}, out / "water.parity.png", title=f"{title}: ε₀"
    )
    (out / "water.md").write_text(table(results, settings, y[test]))
    (out / "water.json").write_text(
        json.dumps(
            {
                "settings": asdict(settings),
                "seed": seed,
                "test_std": float(np.std(y[test])),
                "kernel_seconds": block_seconds,
                "models": {
                    name: {
                        "train_sizes": r.curve.train_sizes.tolist(),
                        "errors": r.curve.errors.tolist(),
                        "chosen": r.chosen,
                        "regularizers": r.regularizers,
                        "seconds": r.seconds,
                    }
                    for name, r in results.items()
                },
            },
            indent=1,
            ensure_ascii=False,
        )
    )
    return results


def table(results: dict[str, Result], settings: Settings, y_test: np.ndarray) -> str:
    """Markdown table: mean RMSE (% of test std) per model and training size, the kernel
    cross-validation chose most often at the largest size, and the time."""
    sizes = results[next(iter(results))].curve.train_sizes.tolist()
    lines = [
        f"{settings.n_structures} boxes, fixed test set of {settings.test_size} "
        f"(std of ε₀ {np.std(y_test):.4f}), {settings.n_splits} random training subsets per "
        "size; RMSE in % of the test std (mean ± std over subsets)",
        "",
        "| model | "
        + " | ".join(str(n) for n in sizes)
        + " | chosen at the largest size | time (s) |",
        "| --- |" + " ---: |" * len(sizes) + " --- | ---: |",
    ]
    for name, r in results.items():
        cells = [f"{m:.3g} ± {s:.2g}" for m, s in zip(r.curve.mean, r.curve.std, strict=True)]
        picked = Counter(row[-1] for row in r.chosen).most_common(1)[0][0]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {picked} | {r.seconds:.0f} |")
    return "\n".join(lines) + "\n"


def error_at(result: Result, n: int) -> float:
    """Mean test error of a model at training size ``n``."""
    return float(result.curve.mean[list(result.curve.train_sizes).index(n)])
