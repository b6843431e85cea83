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
) -> None:
    """Write a PNG of predicted against reference values, one panel per target.

    Args:
        targets: ``{"energy": (reference, predicted)}`` arrays of equal length.
        path: output file (PNG; the format follows the extension).
        title: optional figure title.
    """
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not targets:
        raise ValueError("no targets to plot")
    figure = Figure(figsize=(4.2 * len(targets), 4.0), dpi=150)
    FigureCanvasAgg(figure)
    for i, (name, (reference, predicted)) in enumerate(targets.items()):
        reference, predicted = np.asarray(reference), np.asarray(predicted)
        axes = figure.add_subplot(1, len(targets), i + 1)
        low = float(min(reference.min(), predicted.min()))
        high = float(max(reference.max(), predicted.max()))
        axes.plot([low, high], [low, high], color="grey", lw=1, zorder=0)
        axes.scatter(reference, predicted, s=10)
        rmse = float(np.sqrt(np.mean((predicted - reference) ** 2)))
        axes.set_title(f"{name}: RMSE {rmse:.3g} ({len(reference)} structures)", fontsize="small")
        axes.set_xlabel(f"reference {name}")
        axes.set_ylabel(f"predicted {name}")
        axes.set_aspect("equal", adjustable="datalim")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, bbox_inches="tight")
