"""Invariants: ν = 1 (radial spectrum) and ν = 2 (power spectrum, also mixed SOAP ⊗ LODE).

Both carry gradients by the chain rule on the coefficients (``gradients=[...]``: Jacobians) and
a backward pass (a product of the cotangent with the coefficients, chained into the
expansions' own backward passes: no Jacobian is formed).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import _lode_rs
from .calculators import _gradient_names
from .results import Backward, Expansion, Features, Gradient, strain_gradient
from .systems import as_frame_list, as_system_list

POWER_SPECTRUM_LABELS = ("species_a", "species_b", "n", "n'", "l")
RADIAL_LABELS = ("species", "n")


def _features(expansion: Expansion, values, labels, names, gradients=None) -> Features:
    return Features(
        values=values,
        structure=expansion.structure,
        centers=expansion.centers,
        center_species=expansion.center_species,
        labels=labels,
        label_names=names,
        n_structures=expansion.n_structures,
        gradients=gradients or {},
    )


def _as_rows(gradient: np.ndarray, leading: int) -> np.ndarray:
    """A coefficient gradient with ``leading`` sample/direction axes, viewed as coefficient
    rows ``(prod(leading axes), n_species, n_max, n_lm)``."""
    return np.ascontiguousarray(gradient).reshape((-1,) + gradient.shape[leading:])


def radial(
    calculator,
    frames,
    *,
    gradients: Sequence[str] | None = None,
    max_memory: float | None = None,
) -> Features:
    """ν = 1 invariants: the ``l = 0`` coefficients ``c^a_n00(i)``, labelled ``(species, n)``.

    With ``gradients=["positions", "strain"]`` the result carries their Jacobians
    (``.gradient(name)``: ``(n_samples, 3, n_features)`` / ``(n_rows, 3, 3, n_features)``).
    """
    expansion = calculator.compute(frames, gradients=gradients, max_memory=max_memory)
    threads = calculator.n_threads
    values, labels = _lode_rs.radial_spectrum(
        expansion.values, expansion.species, n_threads=threads
    )
    out = {}
    for name, gradient in expansion.gradients.items():
        leading = 2 if name == "positions" else 3
        flat, _ = _lode_rs.radial_spectrum(
            _as_rows(gradient.values, leading), expansion.species, n_threads=threads
        )
        shape = gradient.values.shape[:leading] + (flat.shape[1],)
        out[name] = Gradient(flat.reshape(shape), gradient.samples, gradient.sample_names)
    return _features(expansion, values, labels, RADIAL_LABELS, out)


def radial_backward(calculator, frames, cotangent) -> Backward:
    """Backward pass of :func:`radial`: the gradient of ``sum(cotangent * values)`` with
    respect to positions and strain (see :meth:`lode_rs.SoapExpansion.backward`);
    ``cotangent`` is shaped like ``radial(calculator, frames).values``."""
    cotangent = np.ascontiguousarray(cotangent, dtype=np.float64)
    shape = calculator._values_shape(frames)
    bar = _lode_rs.radial_spectrum_backward(cotangent, list(shape))
    return calculator.backward(frames, bar)


class PowerSpectrum:
    """ν = 2 invariants ``p^{ab}_{nn'l} = (2l+1)^{-1/2} Σ_m c^a_nlm c'^b_n'lm``.

    With one calculator, the symmetric copies are folded (``a ≤ b``, ``n ≤ n'`` for ``a = b``,
    weight √2 on off-diagonal terms: dot products are unchanged). With two (e.g. SOAP and LODE:
    the multi-scale ρ ⊗ V features) every ``(a, b, n, n')`` is kept, up to the smaller ``l_max``.
    """

    def __init__(self, first, second=None):
        self.first = first
        self.second = None if second is first else second

    def compute(
        self,
        frames,
        *,
        gradients: Sequence[str] | None = None,
        max_memory: float | None = None,
    ) -> Features:
        """Power spectrum of every atom of ``frames``.

        Labels: ``(species_a, species_b, n, n', l)``. With ``gradients=["positions",
        "strain"]``, their Jacobians by the chain rule on the coefficients, contracted row by
        row as the expansions' Jacobians are made (those are never stored):
        ``.gradient("positions")`` ``(n_samples, 3, n_features)`` with samples
        ``(row, structure, atom)`` (the union of both expansions' samples), and
        ``.gradient("strain")`` ``(n_rows, 3, 3, n_features)``.
        """
        threads = self.first.n_threads
        frames = as_frame_list(frames)
        names = _gradient_names(gradients, max_memory)
        a = self.first.compute(frames)
        b = None
        if self.second is None:
            values, labels = _lode_rs.power_spectrum(a.values, a.species, n_threads=threads)
        else:
            b = self.second.compute(frames)
            values, labels = _lode_rs.power_spectrum(
                a.values, a.species, b.values, b.species, n_threads=threads
            )
        out = {}
        if names:
            systems = as_system_list(frames)
            first = (self.first._gradient_core(), a.species, a.values)
            second = None if b is None else (self.second._gradient_core(), b.species, b.values)
            samples, positions, strain = _lode_rs.power_spectrum_gradients(
                systems, first, names, second, max_memory=max_memory, n_threads=threads
            )
            if positions is not None:
                out["positions"] = Gradient(positions, samples, ("row", "structure", "atom"))
            if strain is not None:
                out["strain"] = strain_gradient(strain, a.structure)
        return _features(a, values, labels, POWER_SPECTRUM_LABELS, out)

    def backward(self, frames, cotangent) -> Backward:
        """Backward pass: the gradient of ``sum(cotangent * values)`` with respect to every
        position and to the strain, without any Jacobian: the cotangent times the other
        coefficients, then each expansion's backward pass. ``cotangent`` is shaped like
        ``compute(frames).values``; returns a :class:`lode_rs.results.Backward`."""
        threads = self.first.n_threads
        cotangent = np.ascontiguousarray(cotangent, dtype=np.float64)
        a = self.first.compute(frames)
        if self.second is None:
            bar, _ = _lode_rs.power_spectrum_backward(
                a.values, a.species, cotangent, n_threads=threads
            )
            return self.first.backward(frames, bar)
        b = self.second.compute(frames)
        bar_a, bar_b = _lode_rs.power_spectrum_backward(
            a.values, a.species, cotangent, b.values, b.species, n_threads=threads
        )
        return self.first.backward(frames, bar_a) + self.second.backward(frames, bar_b)
