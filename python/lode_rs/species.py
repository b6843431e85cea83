"""The species list of a calculator: given by the user, or taken from the first data seen."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._lode_rs import InvalidInputError, InvalidParameterError
from .systems import SystemArrays


class SpeciesList:
    """A sorted list of atomic numbers, fixed once known.

    When not given, it is taken from the first structures a calculator sees and then stays
    fixed, so the feature layout never changes silently between calls; a later structure
    with another species raises ``InvalidParameterError``.
    """

    def __init__(self, species: Sequence[int] | None = None):
        self._species: list[int] | None = None
        if species is not None:
            values = [int(s) for s in species]
            if not values:
                raise InvalidParameterError("the species list is empty")
            if len(set(values)) != len(values):
                raise InvalidParameterError(f"duplicated species in {values}")
            self._species = sorted(values)

    @property
    def species(self) -> list[int] | None:
        """The fixed species, or ``None`` while not yet known."""
        return None if self._species is None else list(self._species)

    def resolve(self, systems: list[SystemArrays]) -> list[int]:
        """The species list, taking it from ``systems`` if it is not fixed yet."""
        if self._species is None:
            found = np.unique(np.concatenate([s[1] for s in systems]))
            if found.size == 0:
                raise InvalidInputError(
                    "empty structure: no atoms, so no species can be taken from it; give "
                    "structures with at least one atom"
                )
            self._species = [int(z) for z in found]
        return list(self._species)
