"""chemiscope maps of a data set: a 2D projection of the features, the structures and their
properties in one file for https://chemiscope.org (``pip install lode_rs[chemiscope]``), and a
PNG of the same projection for those without a browser.

Example::

    x = lode_rs.PowerSpectrum(soap).compute(frames)
    lode_rs.interop.chemiscope.write_map("map.json.gz", frames, x, png="map.png")

Projections (one row per structure):

* ``"pca"``: principal components of the structures' mean features normalised to unit length
  (so structures differing only in size coincide). This is exactly the kernel PCA with the
  linear kernel below.
* ``"kpca"``: kernel PCA on the normalised structure kernel
  ``K(A, B) / √(K(A, A) K(B, B))`` of a :mod:`lode_rs.models` kernel, e.g. a fitted model's
  ``kernel_``: the map then shows the similarity the model sees.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .._lode_rs import InvalidInputError, InvalidParameterError
from ..models.data import as_atomic_data
from ..models.kernels import Kernel, PolynomialKernel, structure_kernel


def _sign_fixed(vectors: np.ndarray) -> np.ndarray:
    """Columns with their largest-magnitude entry positive (a deterministic sign)."""
    pivot = vectors[np.argmax(np.abs(vectors), axis=0), np.arange(vectors.shape[1])]
    return vectors * np.where(pivot < 0, -1.0, 1.0)


def pca(features: Any, n_components: int = 2) -> np.ndarray:
    """``(n_structures, n_components)`` principal-component coordinates of the structures'
    mean features, each normalised to unit length (see the module docs)."""
    data = as_atomic_data(features)
    x = data.sum_by_structure()
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    x = x - x.mean(axis=0)
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    k = min(n_components, s.size)
    return _pad(_sign_fixed(u[:, :k]) * s[:k], n_components)


def kernel_pca(
    features: Any,
    kernel: Kernel | None = None,
    *,
    match_species: bool = False,
    n_components: int = 2,
) -> np.ndarray:
    """``(n_structures, n_components)`` kernel-PCA coordinates on the normalised, centred
    structure kernel of ``kernel`` (default: ``PolynomialKernel(zeta=2)``)."""
    kernel = PolynomialKernel(zeta=2) if kernel is None else kernel
    if not isinstance(kernel, Kernel):
        raise InvalidParameterError("kernel must be a lode_rs.models kernel")
    data = as_atomic_data(features)
    rows = data.with_values(kernel.prepare(data.values))
    k = structure_kernel(kernel, rows, rows, match_species=match_species)
    diag = np.sqrt(np.clip(np.diag(k), 0.0, None))
    k = np.divide(k, np.outer(diag, diag), out=np.zeros_like(k), where=np.outer(diag, diag) > 0)
    centred = k - k.mean(axis=0) - k.mean(axis=1)[:, None] + k.mean()
    eigenvalues, vectors = np.linalg.eigh(centred)
    order = np.argsort(eigenvalues)[::-1][:n_components]
    eigenvalues = np.clip(eigenvalues[order], 0.0, None)
    return _pad(_sign_fixed(vectors[:, order]) * np.sqrt(eigenvalues), n_components)


def _pad(coordinates: np.ndarray, n_components: int) -> np.ndarray:
    missing = n_components - coordinates.shape[1]
    return np.pad(coordinates, ((0, 0), (0, missing))) if missing > 0 else coordinates


def structure_properties(frames: list) -> dict[str, np.ndarray]:
    """Numeric scalar properties every structure has: ``atoms.info`` entries, the energy of an
    attached calculator, and the number of atoms."""
    out: dict[str, np.ndarray] = {"n_atoms": np.array([len(f) for f in frames], dtype=float)}
    keys = set.intersection(*[set(getattr(f, "info", {})) for f in frames]) if frames else set()
    for key in sorted(keys):
        values = [f.info[key] for f in frames]
        if all(isinstance(v, (int, float, np.integer, np.floating)) for v in values):
            out[key] = np.asarray(values, dtype=float)
    if "energy" not in out and all(getattr(f, "calc", None) is not None for f in frames):
        try:
            out["energy"] = np.array([f.get_potential_energy() for f in frames])
        except Exception:  # noqa: BLE001 - calculators without an energy
            pass
    return out


def project(
    features: Any, method: str = "pca", kernel: Kernel | None = None, match_species: bool = False
) -> np.ndarray:
    """2D coordinates of every structure by ``method`` (``"pca"`` or ``"kpca"``)."""
    if method == "pca":
        return pca(features)
    if method == "kpca":
        return kernel_pca(features, kernel, match_species=match_species)
    raise InvalidParameterError(f"projection must be 'pca' or 'kpca', got {method!r}")


def write_map(
    path: str | os.PathLike,
    frames: list,
    features: Any,
    *,
    properties: dict[str, Any] | None = None,
    method: str = "pca",
    kernel: Kernel | None = None,
    match_species: bool = False,
    png: str | os.PathLike | None = None,
    color: str | None = None,
    name: str = "lode_rs map",
    description: str = "",
) -> np.ndarray:
    """Write a chemiscope input (``.json`` or ``.json.gz``) with the structures, their
    properties and a 2D projection of ``features``; optionally a PNG of the projection.

    Args:
        path: output file (``.json.gz`` is compressed).
        frames: the ``ase.Atoms`` the features were computed on, in the same order.
        features: :class:`lode_rs.Features` (rows = atoms) or ``(n_structures, n_features)``.
        properties: extra per-structure properties ``{name: values}`` (e.g. predictions);
            ``atoms.info`` scalars, energies and atom counts are added automatically.
        method, kernel, match_species: the projection (see :func:`project`).
        png: also draw the projection as a PNG.
        color: the property colouring the map (default: the first extra property, else the
            energy, else the first property that varies).
        name, description: shown by chemiscope.

    Returns:
        The ``(n_structures, 2)`` coordinates written.
    """
    try:
        import chemiscope
    except ImportError as error:
        raise ImportError(
            "writing chemiscope maps needs chemiscope: pip install 'lode_rs[chemiscope]'"
        ) from error
    frames = list(frames)
    coordinates = project(features, method, kernel, match_species)
    if coordinates.shape[0] != len(frames):
        raise InvalidInputError(
            f"{coordinates.shape[0]} structures of features for {len(frames)} frames"
        )
    label = method.upper()
    props = {k: np.asarray(v, dtype=float) for k, v in structure_properties(frames).items()}
    for key, values in (properties or {}).items():
        values = np.asarray(values, dtype=float).reshape(-1)
        if values.shape[0] != len(frames):
            raise InvalidInputError(f"property {key!r}: {values.shape[0]} values for {len(frames)}")
        props[key] = values
    chemiscope_properties = {
        label: {"target": "structure", "values": coordinates, "description": description}
    }
    chemiscope_properties.update(
        {k: {"target": "structure", "values": v} for k, v in props.items()}
    )
    if color is None:  # extra properties first, then the energy, then any that varies
        candidates = [*(properties or {}), "energy", *sorted(props)]
        varying = [k for k in candidates if k in props and np.ptp(props[k]) > 0]
        color = varying[0] if varying else "n_atoms"
    elif color not in props:
        raise InvalidParameterError(f"no property {color!r} to colour by; have {sorted(props)}")
    settings = chemiscope.quick_settings(x=f"{label}[1]", y=f"{label}[2]", map_color=color)
    chemiscope.write_input(
        str(path),
        structures=frames,
        metadata={"name": name, "description": description},
        properties=chemiscope_properties,
        settings=settings,
    )
    if png is not None:
        _draw(png, coordinates, props[color], color, label)
    return coordinates


def _draw(path, coordinates: np.ndarray, colors: np.ndarray, color_name: str, label: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.5, 4.5), dpi=150)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    points = axes.scatter(coordinates[:, 0], coordinates[:, 1], c=colors, s=12, cmap="viridis")
    figure.colorbar(points, ax=axes, label=color_name)
    axes.set_xlabel(f"{label}[1]")
    axes.set_ylabel(f"{label}[2]")
    figure.tight_layout()
    figure.savefig(path)
