"""Invariants: ν = 1 (radial spectrum) and ν = 2 (power spectrum, also mixed SOAP ⊗ LODE)."""

from __future__ import annotations

from . import _lode_rs
from .results import Expansion, Features

POWER_SPECTRUM_LABELS = ("species_a", "species_b", "n", "n'", "l")
RADIAL_LABELS = ("species", "n")


def _features(expansion: Expansion, values, labels, names) -> Features:
    return Features(
        values=values,
        structure=expansion.structure,
        centers=expansion.centers,
        center_species=expansion.center_species,
        labels=labels,
        label_names=names,
        n_structures=expansion.n_structures,
    )


def radial(calculator, frames) -> Features:
    """ν = 1 invariants: the ``l = 0`` coefficients ``c^a_n00(i)``, labelled ``(species, n)``."""
    expansion = calculator.compute(frames)
    values, labels = _lode_rs.radial_spectrum(
        expansion.values, expansion.species, n_threads=calculator.n_threads
    )
    return _features(expansion, values, labels, RADIAL_LABELS)


class PowerSpectrum:
    """ν = 2 invariants ``p^{ab}_{nn'l} = (2l+1)^{-1/2} Σ_m c^a_nlm c'^b_n'lm``.

    With one calculator, the symmetric copies are folded (``a ≤ b``, ``n ≤ n'`` for ``a = b``,
    weight √2 on off-diagonal terms: dot products are unchanged). With two (e.g. SOAP and LODE:
    the multi-scale ρ ⊗ V features) every ``(a, b, n, n')`` is kept, up to the smaller ``l_max``.
    """

    def __init__(self, first, second=None):
        self.first = first
        self.second = None if second is first else second

    def compute(self, frames) -> Features:
        """Power spectrum of every atom of ``frames``.

        Labels: ``(species_a, species_b, n, n', l)``.
        """
        a = self.first.compute(frames)
        if self.second is None:
            values, labels = _lode_rs.power_spectrum(
                a.values, a.species, n_threads=self.first.n_threads
            )
        else:
            b = self.second.compute(frames)
            values, labels = _lode_rs.power_spectrum(
                a.values, a.species, b.values, b.species, n_threads=self.first.n_threads
            )
        return _features(a, values, labels, POWER_SPECTRUM_LABELS)
