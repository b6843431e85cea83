"""λ-equivariant ν = 2 features: ``Σ_mm' C^{λμ}_{lm l'm'} c^a_nlm c'^b_n'l'm'`` (real-harmonic
Clebsch–Gordan coefficients; conventions in ``docs/math.md``)."""

from __future__ import annotations

from . import _lode_rs
from .results import EquivariantBlock, EquivariantFeatures

EQUIVARIANT_LABELS = ("o3_lambda", "o3_sigma", "species_a", "species_b", "n", "n'", "l", "l'")


class EquivariantPowerSpectrum:
    """λ-equivariant products of two expansions (or of one with itself), λ = 0 … ``lambda_max``.

    ``x^{λμ}_{a n l; b n' l'}(i) = Σ_{m m'} C^{λμ}_{l m l' m'} c^a_{nlm}(i) c'^b_{n'l'm'}(i)``.
    Under a rotation R every block's ``2λ+1`` components transform with the real Wigner matrix
    ``D^λ(R)`` of the real harmonics ``Y_λμ``; under inversion a block picks up ``σ (−1)^λ``.

    With two expansions (SOAP ⊗ LODE) every ``(l, l')`` with ``l ≤ l_max``, ``l' ≤ l_max'`` is
    kept. With one, the exchange symmetry is folded as in :class:`lode_rs.PowerSpectrum`
    (``l ≤ l'``; for ``l = l'`` only ``(a, n) ≤ (b, n')``, √2 on off-diagonal terms), so dot
    products are those of the unfolded features. The ``(λ, σ) = (0, +1)`` block equals the power
    spectrum (same columns, another order).

    Args:
        first: a calculator (:class:`lode_rs.SoapExpansion` or :class:`lode_rs.LodeExpansion`).
        second: a second calculator, or ``None`` for ``first`` with itself.
        lambda_max: largest λ; at most ``l_max + l_max'``.

    Example::

        lam = lode_rs.EquivariantPowerSpectrum(soap, lode, lambda_max=2).compute(frames)
        lam.block(o3_lambda=2, o3_sigma=1).values      # (n_centres, 5, n_features)
    """

    def __init__(self, first, second=None, *, lambda_max: int):
        self.first = first
        self.second = None if second is first else second
        self.lambda_max = lambda_max

    @property
    def hypers(self) -> dict:
        """Hyper-parameters of the calculators and ``lambda_max``."""
        out = {"first": self.first.hypers, "lambda_max": self.lambda_max}
        if self.second is not None:
            out["second"] = self.second.hypers
        return out

    def compute(self, frames) -> EquivariantFeatures:
        """Features of every atom of ``frames`` (an ``ase.Atoms``, a System, or a list)."""
        a = self.first.compute(frames)
        if self.second is None:
            other = {}
        else:
            b = self.second.compute(frames)
            other = {"other": b.values, "other_species": b.species}
        raw = _lode_rs.equivariant_power_spectrum(
            a.values, a.species, self.lambda_max, n_threads=self.first.n_threads, **other
        )
        blocks = {
            (int(lam), int(sigma)): EquivariantBlock(
                o3_lambda=int(lam),
                o3_sigma=int(sigma),
                values=values,
                structure=a.structure,
                centers=a.centers,
                center_species=a.center_species,
                labels=labels,
                label_names=EQUIVARIANT_LABELS,
                n_structures=a.n_structures,
            )
            for lam, sigma, values, labels in raw
        }
        return EquivariantFeatures(
            blocks=blocks,
            structure=a.structure,
            centers=a.centers,
            center_species=a.center_species,
            n_structures=a.n_structures,
            hypers=self.hypers,
        )
