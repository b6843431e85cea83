"""Type stubs of ``lode_rs._lode_rs.testing``: the compiled core's building blocks, exposed for
the tests only (not public API)."""

from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "neighbor_list",
    "spherical_harmonics",
    "special_function",
    "power_law_potential",
    "power_law_fourier",
    "gto_basis",
    "soap_radial_integral",
    "kspace_radial_integral",
    "hyp1f1",
    "lode_table_builds",
    "pools_built",
    "cell_cache_counts",
    "set_cell_cache",
]

_F64 = NDArray[np.float64]
_SystemTuple = tuple[NDArray[np.float64], NDArray[np.int32], NDArray[np.float64], NDArray[np.bool_]]

def neighbor_list(
    system: _SystemTuple, cutoff: float, n_threads: int = 0
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int32], _F64, _F64]: ...
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
def hyp1f1(a: float, b: float, z: _F64, scaled: bool = False) -> _F64: ...
def lode_table_builds() -> int: ...
def pools_built() -> int: ...
def cell_cache_counts() -> tuple[int, int]: ...
def set_cell_cache(enabled: bool) -> bool: ...
