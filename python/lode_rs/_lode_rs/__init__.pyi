"""Type stubs of the compiled core (``lode_rs._lode_rs``). Checked against the built module by
``python -m mypy.stubtest lode_rs._lode_rs`` (in ``.ci/run``)."""

from typing import Any, final

import numpy as np
from numpy.typing import NDArray

from . import testing as testing

__all__ = [
    "COULOMB_CONSTANT",
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
    "ewald_gradients",
    "check_gradients",
    "soap_gradients",
    "soap_backward",
    "lode_gradients",
    "lode_backward",
    "power_spectrum_gradients",
    "power_spectrum_backward",
    "radial_spectrum_backward",
    "testing",
]

_SystemTuple = tuple[NDArray[np.float64], NDArray[np.int32], NDArray[np.float64], NDArray[np.bool_]]
_ExpansionArrays = tuple[
    NDArray[np.float64], NDArray[np.int64], NDArray[np.int64], NDArray[np.int32]
]
_HyperField = tuple[str, str, Any, bool]

COULOMB_CONSTANT: float

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
    def routes(
        self, systems: list[_SystemTuple], n_channels: int = 1, for_jacobian: bool = False
    ) -> list[dict[str, Any]]: ...
    def compute(
        self,
        systems: list[_SystemTuple],
        species: list[int] | None = None,
        charges: list[NDArray[np.float64]] | None = None,
        n_threads: int = 0,
        for_jacobian: bool = False,
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
def ewald_gradients(
    systems: list[_SystemTuple],
    charges: list[NDArray[np.float64]],
    accuracy: float = ...,
    stress: bool = False,
    n_threads: int = 0,
) -> tuple[NDArray[np.float64], list[NDArray[np.float64]], list[NDArray[np.float64] | None]]: ...

# gradients (src/python/gradients.rs)
_F64 = NDArray[np.float64]
_I64 = NDArray[np.int64]

def check_gradients(gradients: list[str], max_memory: float | None = None) -> None: ...
def soap_gradients(
    calculator: SoapCalculator,
    systems: list[_SystemTuple],
    species: list[int],
    gradients: list[str],
    max_memory: float | None = None,
    n_threads: int = 0,
) -> tuple[_I64 | None, _F64 | None, _F64 | None]: ...
def soap_backward(
    calculator: SoapCalculator,
    systems: list[_SystemTuple],
    species: list[int],
    cotangent: _F64,
    n_threads: int = 0,
) -> tuple[list[_F64], list[_F64 | None]]: ...
def lode_gradients(
    calculator: LodeCalculator,
    systems: list[_SystemTuple],
    gradients: list[str],
    species: list[int] | None = None,
    charges: list[_F64] | None = None,
    max_memory: float | None = None,
    n_threads: int = 0,
) -> tuple[_I64 | None, _F64 | None, _F64 | None]: ...
def lode_backward(
    calculator: LodeCalculator,
    systems: list[_SystemTuple],
    cotangent: _F64,
    species: list[int] | None = None,
    charges: list[_F64] | None = None,
    n_threads: int = 0,
) -> tuple[list[_F64], list[_F64 | None]]: ...
_InvariantExpansion = tuple[SoapCalculator | LodeCalculator, list[int], _F64, list[_F64] | None]

def power_spectrum_gradients(
    systems: list[_SystemTuple],
    first: _InvariantExpansion,
    gradients: list[str],
    second: _InvariantExpansion | None = None,
    max_memory: float | None = None,
    n_threads: int = 0,
) -> tuple[_I64 | None, _F64 | None, _F64 | None]: ...
def power_spectrum_backward(
    coefficients: _F64,
    species: list[int],
    cotangent: _F64,
    other: _F64 | None = None,
    other_species: list[int] | None = None,
    n_threads: int = 0,
) -> tuple[_F64, _F64 | None]: ...
def radial_spectrum_backward(cotangent: _F64, shape: list[int]) -> _F64: ...
