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
from .labels import POWER_SPECTRUM_LABELS, RADIAL_LABELS
from .results import Backward, Expansion, Features, Gradient, strain_gradient
from .systems import as_frame_list, as_system_list


def _features(
    expansion: Expansion, values, labels, names, gradients=None, folded: bool = False
) -> Features:
    return Features(
        values=values,
        structure=expansion.structure,
        centers=expansion.centers,
        center_species=expansion.center_species,
        labels=labels,
        label_names=names,
        n_structures=expansion.n_structures,
        gradients=gradients or {},
        folded=folded,
    )


def _as_rows(gradient: np.ndarray, leading: int) -> np.ndarray:
    """A coefficient gradient with ``leading`` sample/direction axes, viewed as coefficient
    rows ``(prod(leading axes), n_species, n_max, n_lm)``."""
    return np.ascontiguousarray(gradient).reshape((-1,) + gradient.shape[leading:])


def _invariant_expansion(calculator, frames, expansion: Expansion) -> tuple:
    """``(core, channel labels, values, charges | None)``: one expansion of an invariant as
    the core's Jacobian contraction takes it."""
    core, charges = calculator._gradient_core(frames)
    return core, expansion.species, expansion.values, charges


def radial(
    calculator,
    frames,
    n_threads: int | None = None,
    *,
    gradients: Sequence[str] | None = None,
    max_memory: float | None = None,
) -> Features:
    """ν = 1 invariants: the ``l = 0`` coefficients ``c^a_n00(i)``, labelled ``(species, n)``.

    ``n_threads``: threads for this call (default: the calculator's ``n_threads``). With
    ``gradients=["positions", "strain"]`` the result carries their Jacobians
    (``.gradient(name)``: ``(n_samples, 3, n_features)`` / ``(n_rows, 3, 3, n_features)``).
    """
    threads = calculator.n_threads if n_threads is None else int(n_threads)
    expansion = calculator.compute(frames, threads, gradients=gradients, max_memory=max_memory)
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


def _features_cotangent(cotangent) -> np.ndarray:
    """``cotangent`` as a float64 array, refused unless it is 2-dimensional like the features
    (its exact shape is checked by the core)."""
    cotangent = np.ascontiguousarray(cotangent, dtype=np.float64)
    if cotangent.ndim != 2:
        raise _lode_rs.InvalidInputError(
            "the cotangent must have the shape of the features (n_rows, n_features), "
            f"got {cotangent.shape}"
        )
    return cotangent


def radial_backward(calculator, frames, cotangent) -> Backward:
    """Backward pass of :func:`radial`: the gradient of ``sum(cotangent * values)`` with
    respect to positions and strain (see :meth:`lode_rs.SoapExpansion.backward`);
    ``cotangent`` is shaped like ``radial(calculator, frames).values``."""
    cotangent = _features_cotangent(cotangent)
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
        n_threads: int | None = None,
        *,
        gradients: Sequence[str] | None = None,
        max_memory: float | None = None,
    ) -> Features:
        """Power spectrum of every atom of ``frames``.

        Labels: ``(species_a, species_b, n, n', l)``. ``n_threads``: threads for this call
        (default: the first calculator's ``n_threads``). With ``gradients=["positions",
        "strain"]``, their Jacobians by the chain rule on the coefficients, contracted row by
        row as the expansions' Jacobians are made (those are never stored):
        ``.gradient("positions")`` ``(n_samples, 3, n_features)`` with samples
        ``(row, structure, atom)`` (the union of both expansions' samples), and
        ``.gradient("strain")`` ``(n_rows, 3, 3, n_features)``.
        """
        threads = self.first.n_threads if n_threads is None else int(n_threads)
        frames = as_frame_list(frames)
        names = _gradient_names(gradients, max_memory)
        # with Jacobians, the coefficients they differentiate (LODE: the Jacobian's plan)
        a = (
            self.first._values_for_jacobian(frames, threads)
            if names
            else self.first.compute(frames, threads)
        )
        b = None
        if self.second is None:
            values, labels = _lode_rs.power_spectrum(a.values, a.species, n_threads=threads)
        else:
            b = (
                self.second._values_for_jacobian(frames, threads)
                if names
                else self.second.compute(frames, threads)
            )
            values, labels = _lode_rs.power_spectrum(
                a.values, a.species, b.values, b.species, n_threads=threads
            )
        out = {}
        if names:
            systems = as_system_list(frames)
            first = _invariant_expansion(self.first, frames, a)
            second = None if b is None else _invariant_expansion(self.second, frames, b)
            samples, positions, strain = _lode_rs.power_spectrum_gradients(
                systems, first, names, second, max_memory=max_memory, n_threads=threads
            )
            if positions is not None:
                out["positions"] = Gradient(positions, samples, ("row", "structure", "atom"))
            if strain is not None:
                out["strain"] = strain_gradient(strain, a.structure)
        return _features(a, values, labels, POWER_SPECTRUM_LABELS, out, folded=self.second is None)

    def backward(self, frames, cotangent) -> Backward:
        """Backward pass: the gradient of ``sum(cotangent * values)`` with respect to every
        position and to the strain, without any Jacobian: the cotangent times the other
        coefficients, then each expansion's backward pass. ``cotangent`` is shaped like
        ``compute(frames).values``; returns a :class:`lode_rs.results.Backward`."""
        threads = self.first.n_threads
        cotangent = _features_cotangent(cotangent)
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

    @property
    def calculators(self) -> list:
        """The expansion(s) this invariant is built from."""
        return [self.first] if self.second is None else [self.first, self.second]

    @property
    def species_fixed(self) -> bool:
        """Whether every expansion's channels are fixed (needed before shipping it)."""
        return all(c.species_fixed for c in self.calculators)

    def fix_species(self, frames) -> PowerSpectrum:
        """Fix the species channels of every expansion from ``frames``; returns ``self``."""
        for c in self.calculators:
            c.fix_species(frames)
        return self

    def __repr__(self) -> str:
        inner = ", ".join(repr(c) for c in self.calculators)
        return f"PowerSpectrum({inner})"


class RadialSpectrum:
    """ν = 1 invariants of one expansion as an object (like :class:`PowerSpectrum`): see
    :func:`radial`."""

    def __init__(self, calculator):
        self.calculator = calculator

    def compute(self, frames, n_threads: int | None = None, **options) -> Features:
        """Radial spectrum of every atom of ``frames``, labelled ``(species, n)`` (``options``:
        ``gradients``, ``max_memory`` as in :func:`radial`)."""
        return radial(self.calculator, frames, n_threads, **options)

    def backward(self, frames, cotangent) -> Backward:
        """See :func:`radial_backward`."""
        return radial_backward(self.calculator, frames, cotangent)

    @property
    def calculators(self) -> list:
        """The expansion this invariant is built from."""
        return [self.calculator]

    @property
    def species_fixed(self) -> bool:
        """Whether the expansion's channels are fixed."""
        return self.calculator.species_fixed

    def fix_species(self, frames) -> RadialSpectrum:
        """Fix the expansion's species channels from ``frames``; returns ``self``."""
        self.calculator.fix_species(frames)
        return self

    def __repr__(self) -> str:
        return f"RadialSpectrum({self.calculator!r})"
