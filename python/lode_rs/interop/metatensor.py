"""metatensor export in featomic's layout (``pip install lode_rs[metatensor]``).

Reached through :meth:`lode_rs.Expansion.to_tensormap` and :meth:`lode_rs.Features.to_tensormap`.
The blocks are featomic's, so code written for featomic reads lode_rs results unchanged:

* expansions (SOAP ``SphericalExpansion``, ``LodeSphericalExpansion``): keys
  ``(o3_lambda, o3_sigma, center_type, neighbor_type)``, samples ``(system, atom)``, components
  ``(o3_mu,)``, properties ``(n,)``; values ``(n_samples, 2λ+1, n_max)``. A charge-weighted LODE
  channel has ``neighbor_type = 0``.
* power spectrum of one expansion (featomic ``SoapPowerSpectrum``): keys
  ``(center_type, neighbor_1_type, neighbor_2_type)`` with ``neighbor_1_type <= neighbor_2_type``,
  properties ``(l, n_1, n_2)`` over every ``n_1, n_2``; lode_rs's folded ``n <= n'`` columns are
  unfolded (the √2 weight of off-diagonal ``n ≠ n'`` pairs is split over the two copies, so dot
  products are unchanged), and every ``l`` column is multiplied by ``(-1)^l``: featomic's power
  spectrum is the λ = 0 Clebsch–Gordan coupling ``Σ_m ⟨l m l −m|0 0⟩ c c'``, which differs by
  that sign from lode_rs's ``(2l+1)^{-1/2} Σ_m c_m c'_m`` (docs/math.md). Two expansions
  (ρ ⊗ V): every ``(neighbor_1_type, neighbor_2_type)``, ``neighbor_1`` from the first expansion,
  same sign convention.
* radial spectrum (featomic ``SoapRadialSpectrum``): keys ``(center_type, neighbor_type)``,
  properties ``(n,)``.
* other feature matrices (e.g. :func:`lode_rs.models.concatenate`): one block per
  ``center_type``, properties named after the labels.

As in featomic, a centre whose block is identically zero (no neighbour of that type inside the
cutoff) has no sample in that block; ``keep_zero_rows=True`` keeps every centre in every block.

Gradients: :func:`expansion_to_tensormap` takes ``gradients=[...]``; each block then gets the
gradient blocks of the result's ``gradient(name)`` (``"positions"``: samples
``(sample, system, atom)``, components ``(xyz,)`` first; ``"strain"``: samples ``(sample,)``,
components ``(xyz_1,)``, ``(xyz_2,)``), as featomic lays them out (:func:`_gradient_block`),
e.g. ``soap.compute(frames, gradients=["positions"]).to_tensormap(gradients=["positions"])``.
Unlike featomic, a block's gradient samples also list atoms whose gradient in that block is
exactly zero (e.g. atoms of another neighbour type).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

try:
    from metatensor import Labels, TensorBlock, TensorMap
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "to_tensormap needs metatensor-core: pip install 'lode_rs[metatensor]'"
    ) from error

from .._lode_rs import InvalidInputError
from ..labels import POWER_SPECTRUM_LABELS, RADIAL_LABELS

# results.py imports this module lazily (its to_tensormap methods): results are taken by their
# attributes here, never by importing results.py back (no import cycle)


def _labels(names: Sequence[str], values) -> Labels:
    return Labels(list(names), np.asarray(values, dtype=np.int32).reshape(-1, len(names)))


def _samples(result, rows: np.ndarray) -> Labels:
    return _labels(["system", "atom"], np.stack([result.structure[rows], result.centers[rows]], 1))


def _center_rows(result) -> list[tuple[int, np.ndarray]]:
    """``(center_type, rows)`` for every central species, rows in structure then atom order."""
    order = np.lexsort((result.centers, result.structure))
    species = np.asarray(result.center_species)[order]
    return [(int(z), order[species == z]) for z in np.unique(species)]


def _gradient_block(result, name: str, rows: np.ndarray, select):
    """Gradient block ``name`` of the block whose samples are ``rows`` of ``result``.

    ``result.gradient(name)`` must give ``.values`` ``(n_grad, *shape, *row_shape)`` and
    ``.samples`` whose first column is the row index (strain: no samples, one entry per row);
    ``select`` takes a value array of row shape to the block's ``(2λ+1, n)`` or
    ``(n_features,)`` part. Returns the gradient's values, samples and leading components (the
    block's own components follow them).
    """
    gradient = result.gradient(name)
    samples = getattr(gradient, "samples", None)
    if samples is None:  # one entry per row (strain): the row index is the position
        samples = np.arange(len(gradient.values))[:, None]
    samples = np.asarray(samples)
    position = np.full(len(result.values), -1)
    position[rows] = np.arange(len(rows))
    keep = np.nonzero(position[samples[:, 0]] >= 0)[0]
    new_samples = samples[keep].copy()
    new_samples[:, 0] = position[samples[keep, 0]]
    values = np.asarray(gradient.values)[keep]
    if name == "positions":
        names, comps = ["sample", "system", "atom"], [_labels(["xyz"], np.arange(3))]
    elif name == "strain":
        names = ["sample"]
        comps = [_labels(["xyz_1"], np.arange(3)), _labels(["xyz_2"], np.arange(3))]
        new_samples = new_samples[:, :1]
    else:
        raise InvalidInputError(f"unknown gradient {name!r}: 'positions' or 'strain'")
    lead = values.shape[: 1 + len(comps)]
    flat = values.reshape((-1,) + values.shape[1 + len(comps) :])
    block_values = select(flat)
    block_values = block_values.reshape(lead + block_values.shape[1:])
    return block_values, _labels(names, new_samples), comps


def _nonzero(rows: np.ndarray, values: np.ndarray, keep_zero_rows: bool) -> np.ndarray:
    """The rows whose ``values`` are not all zero (featomic's sparse samples)."""
    if keep_zero_rows:
        return rows
    return rows[np.any(values.reshape(len(rows), -1) != 0, axis=1)]


def expansion_to_tensormap(
    expansion, gradients: Sequence[str] = (), keep_zero_rows: bool = False
) -> TensorMap:
    """featomic's spherical-expansion TensorMap of ``expansion`` (see the module docs)."""
    blocks, keys = [], []
    properties = _labels(["n"], np.arange(expansion.n_max))
    for center, center_rows in _center_rows(expansion):
        for a, neighbor in enumerate(expansion.species):
            # one sample set for every λ of a (center, neighbor) pair, as featomic
            rows = _nonzero(center_rows, expansion.values[center_rows, a], keep_zero_rows)
            for l in range(expansion.l_max + 1):

                def select(v, a=a, l=l):
                    return np.transpose(v[:, a, :, l * l : (l + 1) ** 2], (0, 2, 1))

                mu = _labels(["o3_mu"], np.arange(-l, l + 1))
                block = TensorBlock(
                    values=np.ascontiguousarray(select(expansion.values[rows])),
                    samples=_samples(expansion, rows),
                    components=[mu],
                    properties=properties,
                )
                for name in gradients:
                    values, samples, comps = _gradient_block(expansion, name, rows, select)
                    block.add_gradient(
                        name,
                        TensorBlock(
                            np.ascontiguousarray(values), samples, comps + [mu], properties
                        ),
                    )
                blocks.append(block)
                keys.append((l, 1, center, int(neighbor)))
    names = ["o3_lambda", "o3_sigma", "center_type", "neighbor_type"]
    return TensorMap(_labels(names, keys), blocks)


def _power_spectrum_columns(features):
    """``[((neighbor_1, neighbor_2), columns, weights, (l, n_1, n_2) labels)]`` in featomic's
    layout: where each featomic column comes from in ``features.values``, and its factor."""
    labels = np.asarray(features.labels)
    index = {tuple(int(v) for v in row): i for i, row in enumerate(labels)}
    pairs = sorted({(int(a), int(b)) for a, b in labels[:, :2]})
    out = []
    for a, b in pairs:
        if features.folded and a > b:
            continue
        mine = labels[(labels[:, 0] == a) & (labels[:, 1] == b)]
        ls = np.unique(mine[:, 4])
        n1s = np.unique(mine[:, 2]) if not (features.folded and a == b) else np.unique(mine[:, 2:4])
        n2s = np.unique(mine[:, 3]) if not (features.folded and a == b) else n1s
        columns, weights, props = [], [], []
        for l in ls:
            for n1 in n1s:
                for n2 in n2s:
                    if features.folded and a == b:
                        key, weight = (
                            (a, b, min(n1, n2), max(n1, n2), l),
                            2**-0.5 if n1 != n2 else 1,
                        )
                    else:
                        key, weight = (a, b, n1, n2, l), 1.0
                    columns.append(index[tuple(int(k) for k in key)])
                    weights.append(weight * (-1.0) ** int(l))
                    props.append((l, n1, n2))
        out.append(((a, b), np.array(columns), np.array(weights), np.array(props)))
    return out


def features_to_tensormap(
    features, gradients: Sequence[str] = (), keep_zero_rows: bool = False
) -> TensorMap:
    """featomic's TensorMap of a power spectrum or radial spectrum; one block per center type
    for other features (see the module docs)."""
    names = tuple(features.label_names)
    labels = np.asarray(features.labels)
    if names == POWER_SPECTRUM_LABELS:
        key_names = ["center_type", "neighbor_1_type", "neighbor_2_type"]
        prop_names = ["l", "n_1", "n_2"]
        parts = _power_spectrum_columns(features)
    elif names == RADIAL_LABELS:
        key_names, prop_names = ["center_type", "neighbor_type"], ["n"]
        parts = [
            ((int(a),), np.nonzero(labels[:, 0] == a)[0], None, labels[labels[:, 0] == a][:, 1:])
            for a in np.unique(labels[:, 0])
        ]
    else:
        key_names = ["center_type"]
        prop_names = [n.replace("'", "_prime") for n in names]
        parts = [((), np.arange(labels.shape[0]), None, labels)]
    blocks, keys = [], []
    for center, center_rows in _center_rows(features):
        for key, columns, weights, props in parts:

            def select(v, columns=columns, weights=weights):
                taken = v[:, columns]
                return taken if weights is None else taken * weights

            properties = _labels(prop_names, props)
            rows = _nonzero(center_rows, select(features.values[center_rows]), keep_zero_rows)
            block = TensorBlock(
                values=np.ascontiguousarray(select(features.values[rows])),
                samples=_samples(features, rows),
                components=[],
                properties=properties,
            )
            for name in gradients:
                values, samples, comps = _gradient_block(features, name, rows, select)
                block.add_gradient(
                    name, TensorBlock(np.ascontiguousarray(values), samples, comps, properties)
                )
            blocks.append(block)
            keys.append((center, *key))
    return TensorMap(_labels(key_names, keys), blocks)
