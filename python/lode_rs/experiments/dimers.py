"""Experiment 2 of the LODE paper (Fig. 2): binding curves of charged organic dimers.

Data: :func:`lode_rs.datasets.xtb_dimers` (default; ~600 GFN2-xTB curves of random pairs of
small ions and polar molecules, 13 rigid separations each) or the 10 public dimers of the paper's
set (:func:`lode_rs.datasets.charged_dimers`, ``data="bfdb"``).

Target: the binding energy ``E(AB) − E(A) − E(B)``. Every model is additive over atomic
environments and sees the same combination of its features, ``Σ_{i∈AB} ε(x_i) − Σ_{i∈A} ε(x_i)
− Σ_{i∈B} ε(x_i)`` (signed environment weights, :func:`lode_rs.models.combine_structures`), so a
model whose features of the dimer's atoms equal those of the isolated monomers predicts exactly 0.
Molecules are finite: LODE uses the real-space route (no vacuum box).

Models (sparse GPR, regularizer by 5-fold cross-validation grouped by dimer):

- **SOAP**: power spectrum (σ 0.3 Å, r_c 3 Å), polynomial kernel ζ = 2 on normalised features;
- **SOAP + LODE ν = 1**: the SOAP kernel plus a *linear* kernel on the LODE radial invariants
  (σ 1.0 Å, r_c 3 Å, p = 1, one block of weights per central species, unnormalised): the
  contribution of an atom is a species-dependent linear function of the potential around it;
- **SOAP + LODE ν = 2**: the SOAP kernel plus a linear kernel on the multi-scale SOAP ⊗ LODE
  power spectrum (unnormalised): the contribution of an atom is linear in the potential with
  coefficients that depend on its local environment — an environment-dependent charge.

LODE blocks are scaled so that their mean squared row norm is 1, and weighted against the SOAP
kernel by a factor chosen with the same grouped cross-validation. Normalised kernels on LODE
features would discard the magnitude of the potential, which carries the 1/r physics.

LODE sources (``Settings.channels``): ``"charges"`` (default) is one channel, the potential of
Gaussians carrying each monomer's net charge spread evenly over its atoms (the charge state is an
input of the reference calculation too); ``"species"`` is the potential of each element's
density, as in the paper. With ions and neutral molecules mixed, the species potentials of a
distant monomer cannot tell its charge (acetate and acetic acid differ by one H), which limits
the species-channel models (see the README for the measured numbers).

Split: whole dimers are held out (test); the models are trained on the ``n_train_separations``
closest points of every training curve, so the farthest points of the test curves are also an
extrapolation in distance. Errors: RMSE in % of the standard deviation of the test targets.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import scipy.sparse

from .. import datasets, invariants, models, plotting
from ..calculators import LodeExpansion, SoapExpansion
from ..constants import COULOMB_CONSTANT
from ..invariants import PowerSpectrum
from ..models.data import species_resolved
from ..progress import progress

SPECIES = [1, 6, 7, 8]
#: the paper's numbers (Grisafi & Ceriotti 2019, Fig. 2 text): RMSE in % of the test std
PAPER = {"SOAP": 20.0, "SOAP + LODE ν=2": 4.0}


@dataclass(frozen=True)
class Settings:
    """Sizes and hyper-parameters of one run."""

    n_dimers: int | None  # None: all of the data set
    test_fraction: float
    n_train_separations: int
    n_sparse: int
    n_max: int
    l_max: int
    lode_weights: tuple[float, ...]  # grid of LODE block weights (cross-validated)
    channels: str = "charges"  # LODE sources: "charges" or "species" densities (see Featurizer)
    n_plot: int = 6
    extend: float = 6.0  # Å beyond the last separation drawn in the figure


FULL = Settings(None, 0.2, 9, 2000, 4, 3, (1.0, 10.0))
QUICK = Settings(40, 0.25, 9, 400, 3, 2, (1.0,))


def structures(data: datasets.ChargedDimers):
    """The dimer frames followed by the isolated monomers A and B of every dimer, and the
    ``(n_frames, n_frames + 2 n_dimers)`` combination giving the binding energies."""
    n = len(data.frames)
    frames = [
        monomer_charges(atoms, n_a, q)
        for atoms, n_a, q in zip(data.frames, data.n_atoms_a, data.monomer_charges, strict=True)
    ]
    first = [int(np.nonzero(data.dimer == d)[0][0]) for d in range(data.n_dimers)]
    monomers = [
        m for i in first for m in (frames[i][: data.n_atoms_a[i]], frames[i][data.n_atoms_a[i] :])
    ]
    rows = np.repeat(np.arange(n), 3)
    columns = np.stack([np.arange(n), n + 2 * data.dimer, n + 2 * data.dimer + 1], axis=1).reshape(
        -1
    )
    values = np.tile([1.0, -1.0, -1.0], n)
    combination = scipy.sparse.csr_matrix((values, (rows, columns)), shape=(n, n + len(monomers)))
    return frames + monomers, combination


def monomer_charges(atoms, n_a: int, charges):
    """A copy of ``atoms`` whose initial charges spread each monomer's net charge evenly over its
    atoms (the source of LODE's ``charges`` channel: its far field is exactly Q/r)."""
    atoms = atoms.copy()
    n = len(atoms)
    q = np.empty(n)
    q[:n_a] = charges[0] / n_a
    q[n_a:] = charges[1] / (n - n_a)
    atoms.set_initial_charges(q)
    return atoms


class Featurizer:
    """SOAP, LODE ν = 1 and SOAP ⊗ LODE ν = 2 features of finite structures."""

    def __init__(self, settings: Settings, n_threads: int = 0) -> None:
        common = dict(n_max=settings.n_max, n_threads=n_threads)
        self.soap = SoapExpansion(
            cutoff=3.0, smearing=0.3, l_max=settings.l_max, species=SPECIES, **common
        )
        if settings.channels == "species":
            sources = dict(species=SPECIES)
        elif settings.channels == "charges":
            sources = dict(charges=True)
        else:
            raise ValueError(f"channels must be 'species' or 'charges', got {settings.channels!r}")
        self.lode = LodeExpansion(
            cutoff=3.0, smearing=1.0, l_max=settings.l_max, exponent=1, **sources, **common
        )
        self.lode_radial = LodeExpansion(
            cutoff=3.0, smearing=1.0, l_max=0, exponent=1, **sources, **common
        )
        self.scales: dict[str, float] = {}
        self.settings = settings

    def hypers(self) -> dict:
        """JSON description of the calculators."""
        basis = {"n_max": self.settings.n_max, "l_max": self.settings.l_max}
        return {
            "soap": {"cutoff": 3.0, "smearing": 0.3, **basis},
            "lode": {
                "cutoff": 3.0,
                "smearing": 1.0,
                "exponent": 1,
                **basis,
                "route": "real space (finite systems)",
            },
            "lode_scales": self.scales,
        }

    def compute(self, frames: list) -> dict:
        """``{"soap", "lode1", "lode2"}`` Features of ``frames``; LODE blocks scaled by the
        RMS row norm of the first frames seen (kept for later calls)."""
        out = {
            "soap": PowerSpectrum(self.soap).compute(frames),
            "lode1": species_resolved(invariants.radial(self.lode_radial, frames), SPECIES),
            "lode2": PowerSpectrum(self.soap, self.lode).compute(frames),
        }
        for name in ("lode1", "lode2"):
            if name not in self.scales:
                self.scales[name] = float(np.sqrt(np.mean(np.sum(out[name].values ** 2, 1))))
            out[name] = models.concatenate([out[name]], [1.0 / self.scales[name]])
        return out


def model_inputs(features: dict, names: tuple[str, ...]):
    """Features of the blocks ``names`` joined column-wise (one block: as it is)."""
    if len(names) == 1:
        return features[names[0]]
    return models.concatenate([features[n] for n in names])


def make_model(names: tuple[str, ...], sizes: list[int], lode_weight: float, n_sparse: int):
    """Sparse GPR: ζ = 2 on normalised SOAP, plus linear unnormalised kernels on LODE blocks."""
    kernels = [models.PolynomialKernel(2)]
    weights = [1.0]
    for _ in names[1:]:
        kernels.append(models.PolynomialKernel(1, normalize=False))
        weights.append(lode_weight)
    kernel = kernels[0] if len(names) == 1 else models.SumKernel(kernels, sizes, weights)
    return models.SparseGPR(kernel=kernel, n_sparse=n_sparse, regularizer=None, baseline=None)


MODELS: dict[str, tuple[str, ...]] = {
    "SOAP": ("soap",),
    "SOAP + LODE ν=1": ("soap", "lode1"),
    "SOAP + LODE ν=2": ("soap", "lode2"),
}


def load(source: str, n_dimers: int | None) -> datasets.ChargedDimers:
    """The data set ``source`` (``"generated"`` or ``"bfdb"``), first ``n_dimers`` curves."""
    if source == "bfdb":
        data = datasets.charged_dimers()
        if n_dimers is not None and n_dimers < data.n_dimers:
            data = data.select(np.arange(n_dimers))
        return data
    if source == "generated":
        return datasets.xtb_dimers(n_dimers)
    raise ValueError(f"unknown data set {source!r}: use 'generated' or 'bfdb'")


def split(data: datasets.ChargedDimers, settings: Settings, seed: int):
    """Held-out dimers and the training / test frame indices."""
    order = np.random.default_rng(seed).permutation(data.n_dimers)
    n_test = max(2, int(round(settings.test_fraction * data.n_dimers)))
    test_dimers = np.sort(order[:n_test])
    position = np.zeros(len(data.frames), dtype=np.int64)
    for d in range(data.n_dimers):
        rows = np.nonzero(data.dimer == d)[0]
        position[rows] = np.arange(rows.size)
    is_test = np.isin(data.dimer, test_dimers)
    train = np.nonzero(~is_test & (position < settings.n_train_separations))[0]
    test = np.nonzero(is_test)[0]
    return train, test, test_dimers, position


def run(
    out_dir: str | Path,
    *,
    quick: bool = False,
    data: str = "generated",
    seed: int = 0,
    n_threads: int = 0,
    settings: Settings | None = None,
) -> dict:
    """Run the experiment; writes ``dimers.{png,md,json}`` and ``dimers.parity.png`` (test
    predictions against reference binding energies) to ``out_dir``; returns the results."""
    settings = settings or (QUICK if quick else FULL)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    dataset = load(data, settings.n_dimers)
    frames, combination = structures(dataset)
    featurizer = Featurizer(settings, n_threads)
    features = featurizer.compute(frames)
    feature_seconds = time.perf_counter() - start
    train, test, test_dimers, position = split(dataset, settings, seed)
    y = dataset.binding_energy
    results: dict = {}
    fitted: dict = {}
    for name, blocks in progress(list(MODELS.items()), desc="models"):
        t0 = time.perf_counter()
        inputs = model_inputs(features, blocks)
        x_train = models.combine_structures(inputs, combination[train])
        model, cv = _fit(x_train, y[train], dataset.dimer[train], blocks, features, settings)
        del x_train
        prediction = model.predict(models.combine_structures(inputs, combination[test]))
        fitted[name] = model
        results[name] = _errors(prediction, y[test], position[test], settings)
        results[name].update(cv, seconds=time.perf_counter() - t0, prediction=prediction.tolist())
        del inputs
    curves = _extended_curves(dataset, test_dimers, settings, featurizer, fitted)
    summary = {
        "data": data,
        "n_dimers": dataset.n_dimers,
        "n_frames": len(dataset.frames),
        "n_test_dimers": int(test_dimers.size),
        "n_train_frames": int(train.size),
        "n_test_frames": int(test.size),
        "test_std_eV": float(np.std(y[test])),
        "settings": asdict(settings),
        "features": featurizer.hypers(),
        "feature_seconds": feature_seconds,
        "seed": seed,
        "paper": PAPER,
        "models": results,
        "test_frames": test.tolist(),
    }
    title = f"{'GFN2-xTB dimers' if data == 'generated' else 'BFDB dimers'}" + (
        " — quick run" if quick else ""
    )
    figure(curves, out / "dimers.png", title)
    plotting.parity(
        {f"{name} (eV)": (y[test], np.array(r["prediction"])) for name, r in results.items()},
        out / "dimers.parity.png",
        title=f"{title}: binding energies of the test dimers",
    )
    (out / "dimers.md").write_text(table(summary))
    (out / "dimers.json").write_text(json.dumps(summary, indent=1))
    return summary


def _fit(x, y, groups, blocks, features, settings: Settings):
    """Fit on the training targets; LODE block weight and regularizer by grouped CV."""
    sizes = [features[b].values.shape[1] for b in blocks]
    weights = settings.lode_weights if len(blocks) > 1 else (0.0,)
    n_sparse = min(settings.n_sparse, x.values.shape[0])
    best = None
    scores = {}
    for w in weights:
        model = make_model(blocks, sizes, w, n_sparse)
        with warnings.catch_warnings():
            # rigid monomers repeat environments across a curve: FPS finds duplicates
            warnings.filterwarnings("ignore", message=".*distinct environments.*")
            warnings.filterwarnings("ignore", message=".*jitter.*")
            model.fit(x, y, groups=groups)
        score = float(np.min(model.cv_scores_["rmse"]))
        scores[str(w)] = score
        if best is None or score < best[0]:
            best = (score, model, w)
    _, model, w = best
    cv = {"lode_weight": w, "regularizer": model.regularizer_, "cv_rmse_eV": scores}
    return model, cv


def _errors(prediction, reference, position, settings: Settings) -> dict:
    """RMSE (% of the test std) on all test frames, inside and beyond the training range."""
    std = float(np.std(reference))
    inside = position < settings.n_train_separations

    def percent(mask):
        error = prediction[mask] - reference[mask]
        return 100.0 * float(np.sqrt(np.mean(error**2))) / std

    far = position == position.max()
    near = position == settings.n_train_separations - 1
    # how much of the reference's change beyond the training range each model reproduces
    change_ref = reference[far] - reference[near]
    change_pred = prediction[far] - prediction[near]
    return {
        "rmse_percent": percent(np.ones_like(inside)),
        "rmse_percent_interpolation": percent(inside),
        "rmse_percent_extrapolation": percent(~inside),
        "rmse_eV": float(np.sqrt(np.mean((prediction - reference) ** 2))),
        "tail_change_captured": float(
            np.sum(change_pred * change_ref) / np.sum(change_ref * change_ref)
        ),
    }


def _translated(atoms, n_a: int, distance: float):
    """``atoms`` with monomer B moved along the centre-of-mass axis to ``distance`` (Å)."""
    masses = atoms.get_masses()
    positions = atoms.get_positions()
    com_a = masses[:n_a] @ positions[:n_a] / masses[:n_a].sum()
    com_b = masses[n_a:] @ positions[n_a:] / masses[n_a:].sum()
    axis = com_b - com_a
    current = float(np.linalg.norm(axis))
    moved = atoms.copy()
    positions[n_a:] += (distance - current) * axis / current
    moved.set_positions(positions)
    return moved


def plotted_dimers(data: datasets.ChargedDimers, test_dimers: np.ndarray, n: int) -> list[int]:
    """``n`` held-out dimers to draw: the largest binding-energy ranges, both charge classes."""
    span = {int(d): float(np.ptp(data.binding_energy[data.dimer == d])) for d in test_dimers}
    product = {
        int(d): float(np.prod(data.monomer_charges[data.dimer == d][0])) for d in test_dimers
    }
    chosen: list[int] = []
    for sign in (-1.0, 1.0, 0.0):  # attractive ion pairs, repulsive ones, ion–neutral
        group = sorted((d for d in span if product[d] == sign), key=lambda d: -span[d])
        chosen += group[: max(1, n // 3)]
    rest = sorted((d for d in span if d not in chosen), key=lambda d: -span[d])
    return sorted((chosen + rest)[:n])


def _extended_curves(data, test_dimers, settings: Settings, featurizer, fitted) -> list[dict]:
    """Reference and predicted curves of the plotted dimers, extended beyond the data."""
    out = []
    for d in plotted_dimers(data, test_dimers, settings.n_plot):
        rows = np.nonzero(data.dimer == d)[0]
        n_a = int(data.n_atoms_a[rows[0]])
        distance = data.distance[rows]
        step = float(np.mean(np.diff(distance)))
        grid = np.arange(distance[0], distance[-1] + settings.extend + 1e-9, step / 2)
        frames = [_translated(data.frames[rows[0]], n_a, r) for r in grid]
        single = data.select([d])
        single = datasets.ChargedDimers(
            frames=frames,
            energy=np.zeros(len(frames)),
            binding_energy=np.zeros(len(frames)),
            dimer=np.zeros(len(frames), dtype=np.int64),
            distance=grid,
            monomer_charges=np.repeat(single.monomer_charges[:1], len(frames), axis=0),
            forces=None,
            n_atoms_a=np.full(len(frames), n_a),
            monomer_energies=np.zeros((len(frames), 2)),
        )
        structures_, combination = structures(single)
        features = featurizer.compute(structures_)
        predictions = {}
        for name, blocks in MODELS.items():
            x = models.combine_structures(model_inputs(features, blocks), combination)
            predictions[name] = fitted[name].predict(x).tolist()
        charges = data.monomer_charges[rows[0]]
        out.append(
            {
                "dimer": int(d),
                "label": _label(data, rows[0]),
                "distance": distance.tolist(),
                "reference": data.binding_energy[rows].tolist(),
                "train_limit": float(distance[settings.n_train_separations - 1]),
                "grid": grid.tolist(),
                "predictions": predictions,
                "coulomb": (COULOMB_CONSTANT * charges[0] * charges[1] / grid).tolist(),
            }
        )
    return out


def _label(data, row: int) -> str:
    info = data.frames[row].info
    charges = data.monomer_charges[row]
    signs = "/".join({1: "+", -1: "−", 0: "0"}[int(c)] for c in charges)
    if "name_a" in info:
        return f"{info['name_a']} + {info['name_b']} ({signs})"
    return f"{data.frames[row].get_chemical_formula()} ({signs})"


def figure(curves: list[dict], path: Path, title: str) -> None:
    """Fig. 2-like panels: reference points, model curves, the training range, Coulomb."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = len(curves)
    columns = 3
    rows = max(1, (n + columns - 1) // columns)
    fig = Figure(figsize=(4.2 * columns, 3.3 * rows), dpi=130)
    FigureCanvasAgg(fig)
    styles = {
        "SOAP": dict(color="tab:blue", linestyle="--"),
        "SOAP + LODE ν=1": dict(color="tab:green", linestyle=":"),
        "SOAP + LODE ν=2": dict(color="tab:red", linestyle="-"),
    }
    for k, curve in enumerate(curves):
        axes = fig.add_subplot(rows, columns, k + 1)
        axes.axvspan(curve["train_limit"], max(curve["grid"]), color="0.92", lw=0)
        grid = np.asarray(curve["grid"])
        if any(curve["coulomb"]):
            axes.plot(grid, curve["coulomb"], color="0.6", lw=1, label="k q_A q_B / r")
        for name, prediction in curve["predictions"].items():
            axes.plot(grid, prediction, label=name, **styles.get(name, {}))
        axes.plot(curve["distance"], curve["reference"], "ko", ms=3.5, label="reference")
        axes.set_title(curve["label"], fontsize="small")
        axes.set_xlabel("centre-of-mass distance (Å)")
        if k % columns == 0:
            axes.set_ylabel("binding energy (eV)")
        low = min(min(curve["reference"]), min(min(p) for p in curve["predictions"].values()))
        high = max(max(curve["reference"]), max(max(p) for p in curve["predictions"].values()))
        pad = 0.1 * (high - low + 1e-3)
        axes.set_ylim(low - pad, high + pad)
        if k == 0:
            axes.legend(fontsize="x-small", frameon=False)
    fig.suptitle(title + " (grey: beyond the training separations)", fontsize="medium")
    fig.tight_layout()
    fig.savefig(path, bbox_inches="tight")


def table(summary: dict) -> str:
    """Markdown table: RMSE (% of the test std) per model, with the paper's numbers."""
    s = summary
    lines = [
        f"{s['n_dimers']} dimers ({s['data']}), {s['n_test_dimers']} held out whole "
        f"({s['n_test_frames']} frames, std {s['test_std_eV']:.3f} eV); trained on the "
        f"{s['settings']['n_train_separations']} closest separations of the others "
        f"({s['n_train_frames']} frames). RMSE in % of the test std.",
        "",
        "| model | all test frames | within training separations | beyond (extrapolation) "
        "| tail change captured | paper | time (s) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in s["models"].items():
        paper = s["paper"].get(name)
        lines.append(
            f"| {name} | {r['rmse_percent']:.1f} | {r['rmse_percent_interpolation']:.1f} | "
            f"{r['rmse_percent_extrapolation']:.1f} | {100 * r['tail_change_captured']:.0f} % | "
            f"{'≈' + format(paper, '.0f') if paper else '—'} | {r['seconds']:.0f} |"
        )
    lines += [
        "",
        "Tail change captured: the fitted fraction of the reference's change between the last "
        "training separation and the farthest one (100 % = the right slope, 0 % = flat).",
    ]
    return "\n".join(lines) + "\n"


def ratio(summary: dict) -> float:
    """RMSE of SOAP + LODE ν = 2 over that of SOAP (the issue asks for at most 1/3)."""
    m = summary["models"]
    return m["SOAP + LODE ν=2"]["rmse_percent"] / m["SOAP"]["rmse_percent"]


__all__ = ["FULL", "QUICK", "Settings", "run", "ratio", "structures", "table", "figure"]
