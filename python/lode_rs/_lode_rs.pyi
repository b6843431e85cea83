"""Type stubs of the compiled core (``lode_rs._lode_rs``). Checked against the built module by
``tests/test_stubs.py``."""

from typing import Any

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]
SystemTuple = tuple[NDArray[np.float64], NDArray[np.int32], NDArray[np.float64], NDArray[np.bool_]]
ExpansionArrays = tuple[
    NDArray[np.float64], NDArray[np.int64], NDArray[np.int64], NDArray[np.int32]
]

class InvalidInputError(ValueError): ...
class InvalidParameterError(ValueError): ...

class SoapCalculator:
    def __init__(
        self,
        *,
        cutoff: float,
        smearing: float,
        n_max: int,
        l_max: int,
        cutoff_width: float | None = None,
        center_weight: float | None = None,
        radial_accuracy: float | None = None,
    ) -> None: ...
    @property
    def hypers(self) -> dict[str, Any]: ...
    def compute(
        self, systems: list[SystemTuple], species: list[int], n_threads: int = 0
    ) -> ExpansionArrays: ...

class LodeCalculator:
    def __init__(
        self,
        *,
        cutoff: float,
        smearing: float,
        n_max: int,
        l_max: int,
        exponent: int | None = None,
        center_weight: float | None = None,
        method: str | None = None,
        accuracy: float | None = None,
        k_cutoff: float | None = None,
        max_memory: float | None = None,
        mesh_spacing: float | None = None,
        spline_order: int | None = None,
    ) -> None: ...
    @property
    def hypers(self) -> dict[str, Any]: ...
    @property
    def reciprocal_k_cutoff(self) -> float: ...
    def routes(self, systems: list[SystemTuple], n_channels: int = 1) -> list[str]: ...
    def compute(
        self,
        systems: list[SystemTuple],
        species: list[int] | None = None,
        charges: list[NDArray[np.float64]] | None = None,
        n_threads: int = 0,
    ) -> ExpansionArrays: ...

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
def neighbor_list(
    system: SystemTuple, cutoff: float, n_threads: int = 0
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int32], F64, F64]: ...
def spherical_harmonics(
    vectors: NDArray[np.float64], l_max: int, gradients: bool = False, n_threads: int = 0
) -> NDArray[np.float64] | tuple[NDArray[np.float64], NDArray[np.float64]]: ...
def special_function(name: str, a: float | None, x: NDArray[np.float64]) -> NDArray[np.float64]: ...
def power_law_potential(
    p: int, sigma: float, r: NDArray[np.float64], derivative: bool = False
) -> NDArray[np.float64]: ...
def power_law_fourier(p: int, sigma: float, k: NDArray[np.float64]) -> NDArray[np.float64]: ...
def gto_basis(n_max: int, cutoff: float) -> dict[str, Any]: ...
def soap_radial_integral(
    n_max: int,
    l_max: int,
    cutoff: float,
    smearing: float,
    distances: NDArray[np.float64],
    splined: bool = False,
    accuracy: float = 1e-10,
    n_threads: int = 0,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]: ...
def kspace_radial_integral(
    n_max: int, l_max: int, cutoff: float, k: NDArray[np.float64], n_threads: int = 0
) -> tuple[NDArray[np.float64], NDArray[np.float64]]: ...
def ewald_energy(
    systems: list[SystemTuple],
    charges: list[NDArray[np.float64]],
    accuracy: float = 1e-10,
    n_threads: int = 0,
) -> NDArray[np.float64]: ...
def hyp1f1(a: float, b: float, z: F64, scaled: bool = False) -> F64: ...
