"""Calculators: hyper-parameters, a fixed species list, and ``compute(frames)``."""

from __future__ import annotations

from collections.abc import Sequence

from . import _lode_rs
from .results import Expansion
from .species import SpeciesList
from .systems import as_system_list


def _given(**options) -> dict:
    """Only the options the user set: defaults live in the Rust core, never repeated here."""
    return {k: v for k, v in options.items() if v is not None}


class _Calculator:
    """Shared behaviour: species handling, threads, conversion of results."""

    _core: object

    def __init__(self, species: Sequence[int] | None, n_threads: int):
        self._species = SpeciesList(species)
        self.n_threads = int(n_threads)

    @property
    def species(self) -> list[int] | None:
        """The species channels: given, or fixed from the first data seen (``None`` until then)."""
        return self._species.species

    @property
    def hypers(self) -> dict:
        """All hyper-parameters, with the core's defaults filled in."""
        return dict(self._core.hypers)

    def compute(self, frames, n_threads: int | None = None) -> Expansion:
        """Expansion coefficients of every atom of ``frames``.

        Args:
            frames: an ``ase.Atoms``, a :class:`lode_rs.System`, or a list of them.
            n_threads: threads to use (default: the calculator's ``n_threads``; 0 = all cores).

        Returns:
            An :class:`Expansion` with ``values`` of shape
            ``(n_centres, n_species, n_max, (l_max+1)**2)``.
        """
        systems = as_system_list(frames)
        species = self._species.resolve(systems)
        threads = self.n_threads if n_threads is None else int(n_threads)
        values, structure, centers, center_species = self._core.compute(systems, species, threads)
        return Expansion(values, structure, centers, center_species, species, len(systems))


class SoapExpansion(_Calculator):
    """SOAP: the Gaussian-smeared neighbour density of each species expanded on ``R̃_n Y_lm``.

    ``c^a_nlm(i) = Σ_{j∈a} f_c(r_ij) f_nl(r_ij) Y_lm(r̂_ij)`` (the centre included with
    ``center_weight``), with Löwdin-orthonormal GTOs, a shifted-cosine cutoff and the exact
    (splined) Gaussian radial integral. Conventions: ``shared/design/lode-math.md``.

    Args:
        cutoff: neighbour cutoff and basis radius r_c (Å).
        smearing: Gaussian width σ of the atomic densities (Å).
        n_max: number of radial functions.
        l_max: largest angular momentum (inclusive, ≤ 20).
        species: atomic numbers of the channels; default: taken from the first data, then fixed.
        cutoff_width: width of the shifted-cosine cutoff (Å); core default 0.5.
        center_weight: weight of the centre atom's own density; core default 1.
        radial_accuracy: absolute accuracy of the splined radial integral; core default 1e-10.
        n_threads: threads for ``compute`` (0 = all cores).
    """

    def __init__(
        self,
        *,
        cutoff: float,
        smearing: float,
        n_max: int,
        l_max: int,
        species: Sequence[int] | None = None,
        cutoff_width: float | None = None,
        center_weight: float | None = None,
        radial_accuracy: float | None = None,
        n_threads: int = 0,
    ):
        super().__init__(species, n_threads)
        self._core = _lode_rs.SoapCalculator(
            cutoff=cutoff,
            smearing=smearing,
            n_max=n_max,
            l_max=l_max,
            **_given(
                cutoff_width=cutoff_width,
                center_weight=center_weight,
                radial_accuracy=radial_accuracy,
            ),
        )

    def __repr__(self) -> str:
        h = self.hypers
        return (
            f"SoapExpansion(cutoff={h['cutoff']}, smearing={h['smearing']}, n_max={h['n_max']}, "
            f"l_max={h['l_max']}, species={self.species})"
        )
