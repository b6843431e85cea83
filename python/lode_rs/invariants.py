"""Invariants: ν = 1 (radial spectrum) and ν = 2 (power spectrum, also mixed SOAP ⊗ LODE)."""

from __future__ import annotations

from . import _lode_rs
from .labels import POWER_SPECTRUM_LABELS, RADIAL_LABELS
from .results import Expansion, Features


def _features(expansion: Expansion, values, labels, names, folded: bool = False) -> Features:
    return Features(
        values=values,
        structure=expansion.structure,
        centers=expansion.centers,
        center_species=expansion.center_species,
        labels=labels,
        label_names=names,
        n_structures=expansion.n_structures,
        folded=folded,
    )


def radial(calculator, frames, n_threads: int | None = None) -> Features:
    """ν = 1 invariants: the ``l = 0`` coefficients ``c^a_n00(i)``, labelled ``(species, n)``.

    ``n_threads``: threads for this call (default: the calculator's ``n_threads``).
    """
    threads = calculator.n_threads if n_threads is None else int(n_threads)
    expansion = calculator.compute(frames, n_threads=threads)
    values, labels = _lode_rs.radial_spectrum(
        expansion.values, expansion.species, n_threads=threads
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

    def compute(self, frames, n_threads: int | None = None) -> Features:
        """Power spectrum of every atom of ``frames``.

        Labels: ``(species_a, species_b, n, n', l)``. ``n_threads``: threads for this call
        (default: the first calculator's ``n_threads``).
        """
        threads = self.first.n_threads if n_threads is None else int(n_threads)
        a = self.first.compute(frames, n_threads=threads)
        if self.second is None:
            values, labels = _lode_rs.power_spectrum(a.values, a.species, n_threads=threads)
        else:
            b = self.second.compute(frames, n_threads=threads)
            values, labels = _lode_rs.power_spectrum(
                a.values, a.species, b.values, b.species, n_threads=threads
            )
        return _features(a, values, labels, POWER_SPECTRUM_LABELS, folded=self.second is None)

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

    def compute(self, frames, n_threads: int | None = None) -> Features:
        """Radial spectrum of every atom of ``frames``, labelled ``(species, n)``."""
        return radial(self.calculator, frames, n_threads=n_threads)

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
