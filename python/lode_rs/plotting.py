"""Plots of model results (matplotlib, rendered off-screen with the Agg canvas)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from .models.validation import LearningCurve


def learning_curves(
    curves: Mapping[str, LearningCurve], path: str | os.PathLike, title: str | None = None
) -> None:
    """Write a log-log PNG of learning curves: mean test error ± std over splits per size.

    Args:
        curves: ``{"label": curve}`` from :func:`lode_rs.learning_curve`.
        path: output file (PNG; the format follows the extension).
        title: optional figure title.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter

    if not curves:
        raise ValueError("no learning curves to plot")
    figure = Figure(figsize=(7.5, 4.0), dpi=150)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for label, curve in curves.items():
        axes.errorbar(
            curve.train_sizes, curve.mean, yerr=curve.std, marker="o", capsize=3, label=label
        )
    axes.set_xscale("log")
    axes.set_yscale("log")
    # the training sizes as plain numbers (log axes over less than two decades otherwise
    # label the minor ticks, and the labels overlap)
    sizes = sorted({int(n) for curve in curves.values() for n in curve.train_sizes})
    axes.set_xticks(sizes, [str(n) for n in sizes])
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.set_xlabel("number of training structures")
    axes.set_ylabel("test RMSE (% of std)")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small", frameon=False)
    if title:
        axes.set_title(title)
    figure.tight_layout()
    figure.savefig(path, bbox_inches="tight")


def parity(
    targets: Mapping[str, tuple],
    path: str | os.PathLike,
    title: str | None = None,
    columns: int = 4,
) -> None:
    """Write a PNG of predicted against reference values, one panel per target (or model),
    ``columns`` panels per row.

    Args:
        targets: ``{"energy": (reference, predicted)}`` arrays of equal length.
        path: output file (PNG; the format follows the extension).
        title: optional figure title.
        columns: panels per row.
    """
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not targets:
        raise ValueError("no targets to plot")
    n_columns = min(columns, len(targets))
    n_rows = -(-len(targets) // n_columns)
    figure = Figure(figsize=(3.6 * n_columns, 3.6 * n_rows), dpi=150)
    FigureCanvasAgg(figure)
    for i, (name, (reference, predicted)) in enumerate(targets.items()):
        reference = np.asarray(reference, dtype=np.float64).reshape(-1)
        predicted = np.asarray(predicted, dtype=np.float64).reshape(-1)
        if reference.shape != predicted.shape or reference.size == 0:
            raise ValueError(
                f"{name}: reference and predicted values differ in length "
                f"({reference.size} and {predicted.size}) or are empty"
            )
        axes = figure.add_subplot(n_rows, n_columns, i + 1)
        low = float(min(reference.min(), predicted.min()))
        high = float(max(reference.max(), predicted.max()))
        axes.plot([low, high], [low, high], color="grey", lw=1, zorder=0)
        axes.scatter(reference, predicted, s=6, alpha=0.7)
        rmse = float(np.sqrt(np.mean((predicted - reference) ** 2)))
        spread = float(np.std(reference))
        relative = f", {100 * rmse / spread:.3g} % of std" if spread > 0 else ""
        axes.set_title(
            f"{name}\nRMSE {rmse:.3g}{relative} ({reference.size} values)", fontsize="small"
        )
        axes.set_xlabel("reference", fontsize="small")
        axes.set_ylabel("predicted", fontsize="small")
        axes.tick_params(labelsize="x-small")
        axes.set_aspect("equal", adjustable="datalim")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, bbox_inches="tight")


def curve_parities(
    curves: Mapping[str, LearningCurve], path: str | os.PathLike, title: str | None = None
) -> bool:
    """:func:`parity` of every curve that recorded its predictions (``curve.parity``: the first
    split at the largest training size); returns whether a file was written (False if none did).
    """
    recorded = {
        f"{label} (n={int(curve.train_sizes[-1])})": curve.parity
        for label, curve in curves.items()
        if curve.parity is not None
    }
    if not recorded:
        return False
    parity(recorded, path, title=title)
    return True


def parity_beside(model_path: str | os.PathLike, targets: Mapping[str, tuple], what: str) -> str:
    """:func:`parity` written as ``<model stem>.parity.png`` beside a saved model (``what``: the
    data shown, e.g. "held-out test set"); returns its path."""
    from pathlib import Path

    path = f"{Path(model_path).with_suffix('')}.parity.png"
    parity(targets, path, title=f"{Path(model_path).name}: {what}")
    return path
