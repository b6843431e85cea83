"""The full dielectric tensor ε∞ of liquid water, learned as its λ = 0 and λ = 2 parts with
symmetry-adapted (SA-)GPR on λ-equivariant features.

Data: :func:`lode_rs.datasets.water_dielectric` — 1000 periodic boxes of 32 H₂O and their
electronic dielectric tensors. The tensors of the data are symmetric only to ~4e-4 (relative);
they are symmetrised, ``(ε + εᵀ)/2``, and the largest asymmetry is reported. The fixed test set
of 200 boxes and the training pool of 800 are those of the isotropic experiment
(:mod:`.water`); learning curves on random subsets of the pool.

Targets: ``t₀ = tr ε / √3`` (λ = 0) and the five λ = 2 components of ε in the basis of the real
harmonics (:mod:`lode_rs.models.tensor`). Errors: test RMSE in % of the standard deviation of
the test targets, for λ = 0, and for λ = 2 pooled over its five components.

Models: linear SA-GPR (ζ = 1, :class:`lode_rs.models.SAGPR`) on the structure sums of the
λ-features, one weight vector per central species, an unpenalised intercept for λ = 0. Per model,
5-fold cross-validation on the training set picks the regularizer and a candidate feature set:
normalised environments (the SA-GPR kernel) or raw ones (which keep the magnitude of the
features: the local density, the strength of the potential), and for SOAP + LODE also the
concatenation ρ⊗ρ ⊕ ρ⊗V ⊕ V⊗V of raw features (each block scaled to unit mean square over all
boxes; no targets involved).

Feature sets (σ = 0.3 Å everywhere): SOAP ⊗ SOAP at r_c = 3, 4, 6 Å; LODE ⊗ LODE (p = 1, the
centre's own potential left out) at 3 Å; SOAP ⊗ LODE (ρ ⊗ V, every (l, l')) at 3 Å.

Second route (Clausius–Mossotti): learn the extensive tensor ``α = (3V/4π)(ε − 1)(ε + 2)⁻¹``
(the polarizability of the box, Å³) with the same features, and map predictions back with
``ε = (1 + 2X)(1 − X)⁻¹``, ``X = 4πα/(3V)``.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .. import datasets, models, plotting
from ..calculators import LodeExpansion, SoapExpansion
from ..equivariant import EquivariantPowerSpectrum
from ..models import SAGPR, EquivariantSums, LearningCurve
from ..models.tensor import cartesian_to_spherical, spherical_to_cartesian
from ..progress import progress
from .water import LODE_SMEARING, _split

SPECIES = [1, 8]
LAMBDAS = (0, 2)


@dataclass(frozen=True)
class Settings:
    """Sizes and basis of one run (see :class:`.water.Settings` for the split fields)."""

    n_structures: int
    test_size: int
    train_sizes: tuple[int, ...]
    n_splits: int
    n_max: int
    l_max: int
    batch: int
    #: training sizes of the second (Clausius–Mossotti) route; empty: ``train_sizes``
    second_route_sizes: tuple[int, ...] = ()


FULL = Settings(
    n_structures=1000,
    test_size=200,
    train_sizes=(25, 50, 100, 200, 400, 800),
    n_splits=3,
    n_max=4,
    l_max=3,
    batch=25,
    second_route_sizes=(800,),
)
QUICK = Settings(
    n_structures=160,
    test_size=40,
    train_sizes=(30, 60, 120),
    n_splits=2,
    n_max=3,
    l_max=2,
    batch=20,
)


def calculators(settings: Settings, n_threads: int) -> dict[str, EquivariantPowerSpectrum]:
    """Feature set name → λ-feature calculator (λ ≤ 2)."""
    basis = {"n_max": settings.n_max, "l_max": settings.l_max, "species": SPECIES}

    def soap(cutoff: float) -> SoapExpansion:
        return SoapExpansion(cutoff=cutoff, smearing=0.3, n_threads=n_threads, **basis)

    lode = LodeExpansion(
        cutoff=3.0,
        smearing=LODE_SMEARING,
        exponent=1,
        center_weight=0.0,
        n_threads=n_threads,
        **basis,
    )
    out = {f"soap{c:g}": EquivariantPowerSpectrum(soap(c), lambda_max=2) for c in (3.0, 4.0, 6.0)}
    out["lode3"] = EquivariantPowerSpectrum(lode, lambda_max=2)
    out["soap3 x lode3"] = EquivariantPowerSpectrum(soap(3.0), lode, lambda_max=2)
    return out


def _cache_directory(cache_dir) -> Path:
    path = Path(cache_dir or os.environ.get("LODE_RS_CACHE") or "~/.cache/lode_rs").expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


Sums = dict[tuple[int, bool], EquivariantSums]


def structure_sums(
    name: str, calc: EquivariantPowerSpectrum, frames, settings: Settings, cache_dir, key: str
) -> tuple[Sums, float]:
    """``{(λ, normalised): sums}`` of one feature set over ``frames`` (computed batch by batch,
    never holding every atom's features; cached on disk), and the seconds spent (0 if cached)."""
    from .. import __version__

    parameters = {"set": name, "hypers": calc.hypers, "boxes": key, "version": __version__}
    digest = hashlib.sha256(json.dumps(parameters, sort_keys=True).encode()).hexdigest()[:16]
    path = _cache_directory(cache_dir) / f"water-tensor-sums-{digest}.npz"
    names = {
        (lam, norm): f"lambda{lam}_{'normalised' if norm else 'raw'}"
        for lam in LAMBDAS
        for norm in (True, False)
    }
    if path.exists():
        with np.load(path, allow_pickle=False) as archive:
            if json.loads(str(archive["parameters"])) == parameters:
                return {
                    (lam, norm): EquivariantSums(archive[n], tuple(SPECIES), lam, 1, norm)
                    for (lam, norm), n in names.items()
                }, 0.0
    start = time.perf_counter()
    parts: dict[tuple[int, bool], list[EquivariantSums]] = {k: [] for k in names}
    for first in range(0, len(frames), settings.batch):
        features = calc.compute(frames[first : first + settings.batch])
        for lam, norm in names:
            parts[lam, norm].append(
                EquivariantSums.from_features(features, lam, species=SPECIES, normalize=norm)
            )
    sums = {k: EquivariantSums.stack(v) for k, v in parts.items()}
    seconds = time.perf_counter() - start
    np.savez(
        path,
        parameters=np.array(json.dumps(parameters)),
        **{names[k]: s.values for k, s in sums.items()},
    )
    return sums, seconds


def _unit(s: EquivariantSums) -> EquivariantSums:
    """Scaled to unit mean square norm per structure (inputs only): relative weights."""
    scale = np.sqrt(np.mean(np.sum(s.values**2, axis=(1, 2, 3))))
    return EquivariantSums(s.values / scale, s.species, s.o3_lambda, s.o3_sigma, s.normalize)


def candidates(sums: dict[str, Sums], lam: int) -> dict[str, dict[str, EquivariantSums]]:
    """Model name → {candidate name → λ sums}; cross-validation picks among candidates."""

    def kinds(block: str) -> dict[str, EquivariantSums]:
        return {
            "normalised": sums[block][lam, True],
            "raw": sums[block][lam, False],
        }

    mixed = {f"ρ⊗V {k}": v for k, v in kinds("soap3 x lode3").items()}
    blocks = [sums[b][lam, False] for b in ("soap3", "soap3 x lode3", "lode3")]
    mixed["ρ⊗ρ ⊕ ρ⊗V ⊕ V⊗V raw"] = EquivariantSums.concatenate([_unit(b) for b in blocks])
    return {
        "SOAP r_c=3 Å": kinds("soap3"),
        "SOAP r_c=4 Å": kinds("soap4"),
        "SOAP r_c=6 Å": kinds("soap6"),
        "LODE r_c=3 Å": kinds("lode3"),
        "SOAP + LODE (3 Å)": mixed,
    }


@dataclass(frozen=True)
class Fit:
    """Predictions of one training set and what cross-validation chose."""

    prediction: np.ndarray
    candidate: str
    regularizer: float


def fit_predict(cands: dict[str, EquivariantSums], y, lam, train, test, seed) -> Fit:
    """Linear SA-GPR: CV (on ``train``) over candidates and regularizers, test predictions."""
    best = None
    for name, s in cands.items():
        model = SAGPR(o3_lambda=lam, normalize=s.normalize, seed=seed)
        model.fit(s.select(train), y[train])
        score = min(model.cv_scores_["rmse"])
        if best is None or score < best[0]:
            best = (score, name, model)
    _, name, model = best
    return Fit(model.predict(cands[name].select(test)), name, model.regularizer_)


def targets(epsilon: np.ndarray, volume: np.ndarray, route: str) -> dict[int, np.ndarray]:
    """λ = 0 ``(n, 1)`` and λ = 2 ``(n, 5)`` targets of the direct or Clausius–Mossotti route."""
    if route == "direct":
        t0, t2 = cartesian_to_spherical(epsilon)
    else:
        eye = np.eye(3)
        alpha = (3 * volume / (4 * np.pi))[:, None, None] * np.linalg.solve(
            epsilon + 2 * eye, epsilon - eye
        )
        t0, t2 = cartesian_to_spherical(0.5 * (alpha + alpha.transpose(0, 2, 1)))
    return {0: t0, 2: t2}


def to_epsilon(t0, t2, volume: np.ndarray, route: str) -> np.ndarray:
    """Cartesian ε from predicted parts of either route."""
    tensor = spherical_to_cartesian(t0, t2)
    if route == "direct":
        return tensor
    x = (4 * np.pi / (3 * volume))[:, None, None] * tensor
    eye = np.eye(3)
    # ε = (1 + 2X)(1 − X)⁻¹ (X symmetric, the two factors commute)
    return np.linalg.solve(
        (eye - x).transpose(0, 2, 1), (eye + 2 * x).transpose(0, 2, 1)
    ).transpose(0, 2, 1)


@dataclass(frozen=True)
class Result:
    """Learning curves of one model: λ = 0 and λ = 2 errors of ε (direct and CM routes)."""

    curves: dict[str, LearningCurve]
    chosen: dict[str, list[list[str]]]
    seconds: float


def learning_curves(
    per_lambda: dict[int, dict[str, dict[str, EquivariantSums]]],
    epsilon: np.ndarray,
    volume: np.ndarray,
    test: np.ndarray,
    pool: np.ndarray,
    settings: Settings,
    seed: int,
    routes: tuple[str, ...],
) -> dict[str, Result]:
    """For every model, route, size and split: fit λ = 0 and λ = 2, test errors of ε's parts."""
    true0, true2 = cartesian_to_spherical(epsilon)
    out = {}
    for name in progress(list(per_lambda[0]), desc="models"):
        start = time.perf_counter()
        curves, chosen = {}, {}
        for route in routes:
            wanted = settings.train_sizes
            if route != routes[0] and settings.second_route_sizes:
                wanted = settings.second_route_sizes
            sizes = [n for n in wanted if n <= pool.size]
            y = targets(epsilon, volume, route)
            errors = {lam: np.zeros((settings.n_splits, len(sizes))) for lam in LAMBDAS}
            picks = {lam: [[""] * len(sizes) for _ in range(settings.n_splits)] for lam in LAMBDAS}
            parity: dict[int, tuple] = {}
            for split in range(settings.n_splits):
                rng = np.random.default_rng([seed, split])
                for j, n in enumerate(sizes):
                    if split and n == pool.size:
                        for lam in LAMBDAS:
                            errors[lam][split, j] = errors[lam][0, j]
                            picks[lam][split][j] = picks[lam][0][j]
                        continue
                    train = np.sort(rng.permutation(pool)[:n])
                    fits = {
                        lam: fit_predict(per_lambda[lam][name], y[lam], lam, train, test, seed)
                        for lam in LAMBDAS
                    }
                    eps = to_epsilon(fits[0].prediction, fits[2].prediction, volume[test], route)
                    p0, p2 = cartesian_to_spherical(eps)
                    errors[0][split, j] = models.rmse_percent(p0, true0[test])
                    errors[2][split, j] = models.rmse_percent(p2, true2[test])
                    if split == 0 and j == len(sizes) - 1:
                        parity = {0: (true0[test], p0), 2: (true2[test], p2)}
                    for lam in LAMBDAS:
                        picks[lam][split][j] = fits[lam].candidate
            for lam in LAMBDAS:
                label = f"{route} λ={lam}"
                curves[label] = LearningCurve(
                    train_sizes=np.asarray(sizes),
                    errors=errors[lam],
                    mean=errors[lam].mean(axis=0),
                    std=errors[lam].std(axis=0),
                    test_size=int(test.size),
                    parity=parity.get(lam),
                )
                chosen[label] = picks[lam]
        out[name] = Result(curves, chosen, time.perf_counter() - start)
    return out


def run(
    out_dir: str | Path,
    *,
    quick: bool = False,
    seed: int = 0,
    n_threads: int = 0,
    cache_dir: str | Path | None = None,
    settings: Settings | None = None,
    routes: tuple[str, ...] = ("direct", "clausius-mossotti"),
) -> dict[str, Result]:
    """Run the experiment; writes ``water_tensor.{png,md,json}`` and ``water_tensor.parity.png``
    (test predictions at the largest training size) to ``out_dir``.

    Args:
        out_dir: output directory (created).
        quick: the reduced :data:`QUICK` run instead of :data:`FULL`.
        seed: test set, training subsets and CV folds (the split is the isotropic experiment's).
        n_threads: threads of the feature calculators (0: all cores).
        cache_dir: where structure sums are cached (default ``$LODE_RS_CACHE`` or
            ``~/.cache/lode_rs``).
        settings: overrides ``quick``.
        routes: ``"direct"`` (learn ε) and/or ``"clausius-mossotti"`` (learn α, map to ε).
    """
    settings = settings or (QUICK if quick else FULL)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = datasets.water_dielectric()
    used, test, pool = _split(settings, seed)
    frames = [data.frames[i] for i in used]
    raw = data.epsilon[used]
    asymmetry = float(np.max(np.abs(raw - raw.transpose(0, 2, 1))))
    epsilon = 0.5 * (raw + raw.transpose(0, 2, 1))
    volume = np.array([f.get_volume() for f in frames])
    key = hashlib.sha256(used.tobytes()).hexdigest()[:16]

    sums: dict[str, Sums] = {}
    feature_seconds: dict[str, float] = {}
    for name, calc in progress(list(calculators(settings, n_threads).items()), desc="features"):
        sums[name], feature_seconds[name] = structure_sums(
            name, calc, frames, settings, cache_dir, key
        )
    per_lambda = {lam: candidates(sums, lam) for lam in LAMBDAS}
    results = learning_curves(per_lambda, epsilon, volume, test, pool, settings, seed, routes)

    title = "Water: ε∞ tensor, λ = 0 and λ = 2 parts" + (" — quick run" if quick else "")
    plot_curves = {
        f"{name} ({label})": curve
        for name, r in results.items()
        for label, curve in r.curves.items()
        if label.startswith("direct") or name == "SOAP + LODE (3 Å)"
    }
    plotting.learning_curves(plot_curves, out / "water_tensor.png", title=title)
    plotting.curve_parities(
        {
            f"{name} (λ={label[-1]})": curve
            for name, r in results.items()
            for label, curve in r.curves.items()
            if label.startswith(routes[0])
        },
        out / "water_tensor.parity.png",
        title=f"{title}: test set, {routes[0]} route (λ = 2: all five components)",
    )
    t0, t2 = cartesian_to_spherical(epsilon[test])
    (out / "water_tensor.md").write_text(
        table(results, settings, float(np.std(t0)), float(np.std(t2)), asymmetry)
    )
    (out / "water_tensor.json").write_text(
        json.dumps(
            {
                "settings": asdict(settings),
                "seed": seed,
                "max_asymmetry": asymmetry,
                "feature_seconds": feature_seconds,
                "models": {
                    name: {
                        label: {
                            "train_sizes": c.train_sizes.tolist(),
                            "errors": c.errors.tolist(),
                            "chosen": r.chosen[label],
                        }
                        for label, c in r.curves.items()
                    }
                    | {"seconds": r.seconds}
                    for name, r in results.items()
                },
            },
            indent=1,
            ensure_ascii=False,
        )
    )
    return results


def table(
    results: dict[str, Result], settings: Settings, std0: float, std2: float, asymmetry: float
) -> str:
    """Markdown table: mean RMSE (% of the test std of each part) per model, route and size."""
    sizes = sorted(
        {int(n) for r in results.values() for c in r.curves.values() for n in c.train_sizes}
    )
    lines = [
        f"{settings.n_structures} boxes, fixed test set of {settings.test_size} (std of the "
        f"test targets: λ=0 {std0:.4f}, λ=2 {std2:.4f}; ε symmetrised, largest |ε − εᵀ| "
        f"{asymmetry:.1e}), {settings.n_splits} random training subsets per size (the "
        "largest size is the whole training pool: one fit); basis "
        f"n_max {settings.n_max}, l_max {settings.l_max}; linear SA-GPR; RMSE in % of the "
        "test std (mean ± std over subsets)",
        "",
        "| model | route | λ | "
        + " | ".join(str(n) for n in sizes)
        + " | chosen at the largest size |",
        "| --- | --- | ---: |" + " ---: |" * len(sizes) + " --- |",
    ]
    for name, r in results.items():
        for label, c in r.curves.items():
            route, lam = label.split(" λ=")
            at = {int(n): (m, s) for n, m, s in zip(c.train_sizes, c.mean, c.std, strict=True)}
            cells = [f"{at[n][0]:.3g} ± {at[n][1]:.2g}" if n in at else "—" for n in sizes]
            picked = Counter(row[-1] for row in r.chosen[label]).most_common(1)[0][0]
            lines.append(f"| {name} | {route} | {lam} | " + " | ".join(cells) + f" | {picked} |")
    return "\n".join(lines) + "\n"
