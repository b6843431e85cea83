"""Type stubs of the compiled core (``lode_rs._lode_rs``). Checked against the built module by
``python -m mypy.stubtest lode_rs._lode_rs`` (in ``.ci/run``)."""

from typing import Any, final

import numpy as np
from numpy.typing import NDArray

from . import testing as testing

__all__ = [
    "InvalidInputError",
    "InvalidParameterError",
    "SoapCalculator",
    "radial_spectrum",
    "power_spectrum",
    "equivariant_power_spectrum",
    "real_clebsch_gordan",
    "equivariant_flop_count",
    "LodeCalculator",
    "ewald_energy",
    "testing",
]

_SystemTuple = tuple[NDArray[np.float64], NDArray[np.int32], NDArray[np.float64], NDArray[np.bool_]]
_ExpansionArrays = tuple[
    NDArray[np.float64], NDArray[np.int64], NDArray[np.int64], NDArray[np.int32]
]
_HyperField = tuple[str, str, Any, bool]

class InvalidInputError(ValueError): ...
class InvalidParameterError(ValueError): ...

@final
class SoapCalculator:
    def __new__(cls, **hypers: Any) -> SoapCalculator: ...
    @property
    def hypers(self) -> dict[str, Any]: ...
    @staticmethod
    def hyper_fields() -> list[_HyperField]: ...
    def compute(
        self, systems: list[_SystemTuple], species: list[int], n_threads: int = 0
    ) -> _ExpansionArrays: ...

@final
class LodeCalculator:
    def __new__(cls, **hypers: Any) -> LodeCalculator: ...
    @property
    def hypers(self) -> dict[str, Any]: ...
    @staticmethod
    def hyper_fields() -> list[_HyperField]: ...
    @property
    def reciprocal_k_cutoff(self) -> float: ...
    def routes(self, systems: list[_SystemTuple], n_channels: int = 1) -> list[str]: ...
    def compute(
        self,
        systems: list[_SystemTuple],
        species: list[int] | None = None,
        charges: list[NDArray[np.float64]] | None = None,
        n_threads: int = 0,
    ) -> _ExpansionArrays: ...

def radial_spectrum(
    coefficients: NDArray[np.float64], species: list[int], n_threads: int = 0
) -> tuple[NDArray[np.float64], NDArray[np.int32]]: ...
def power_spectrum(
    coefficients: NDArray[np.float64],
    species: list[int],
    other: NDArray[np.float64] | None = None,
    other_species: list[int] | None = None,
    n_threads: int = 0,
) -> tuple[NDArray[np.float64], NDArray[np.int32]]: ...
def equivariant_power_spectrum(
    coefficients: NDArray[np.float64],
    species: list[int],
    lambda_max: int,
    other: NDArray[np.float64] | None = None,
    other_species: list[int] | None = None,
    n_threads: int = 0,
) -> list[tuple[int, int, NDArray[np.float64], NDArray[np.int32]]]: ...
def real_clebsch_gordan(l1: int, l2: int, o3_lambda: int) -> NDArray[np.float64]: ...
def equivariant_flop_count(
    l_max: int, other_l_max: int, lambda_max: int, same: bool, rows: int, other_rows: int
) -> float: ...
def ewald_energy(
    systems: list[_SystemTuple],
    charges: list[NDArray[np.float64]],
    accuracy: float = ...,
    n_threads: int = 0,
) -> NDArray[np.float64]: ...
