"""Regression models on SOAP/LODE features: ridge, GPR and sparse GPR, learning curves;
SA-GPR of λ-tensors and :class:`TensorModel` for symmetric 3×3 tensors.

Targets are one number per structure. With :class:`lode_rs.Features` (rows = atomic
environments) every model is additive: a structure's prediction is the sum of its environments'
contributions (plus a per-species baseline), as for energies. A plain 2D array is taken as one row
of features per structure.

Example::

    model = lode_rs.models.SparseGPR(kernel=lode_rs.models.PolynomialKernel(zeta=2),
                                     n_sparse=500, regularizer=1e-6)
    model.fit(x_train, energies)
    pred, var = model.predict(x_test, return_variance=True)
    model.save("model.npz"); model = lode_rs.models.load("model.npz")

For many fits on the same structures (learning curves, kernel comparisons),
:func:`polynomial_structure_kernels` computes the structure kernels of several ζ in one pass and
:func:`fit_precomputed` cross-validates kernel ridge regression on them.
"""

from ..errors import NotFittedError
from .base import REGULARIZER_GRID, ZETA_GRID, Regressor, kfold_indices, rmse_percent
from .data import AtomicData, block_sizes, combine_structures, concatenate, species_resolved
from .gpr import GPR
from .io import load
from .kernels import (
    Kernel,
    PolynomialKernel,
    SumKernel,
    kernel_from_dict,
    structure_kernel,
    structure_self_kernel,
)
from .precomputed import PrecomputedFit, fit_precomputed, polynomial_structure_kernels
from .ridge import Ridge
from .sagpr import SAGPR, EquivariantSums
from .selection import farthest_point_sampling, select_active, species_quotas
from .sparse import SparseGPR
from .tensor import TensorModel, cartesian_to_spherical, spherical_to_cartesian
from .validation import LearningCurve, learning_curve

__all__ = [
    "GPR",
    "REGULARIZER_GRID",
    "ZETA_GRID",
    "AtomicData",
    "EquivariantSums",
    "Kernel",
    "LearningCurve",
    "NotFittedError",
    "PolynomialKernel",
    "PrecomputedFit",
    "Regressor",
    "Ridge",
    "SAGPR",
    "SparseGPR",
    "SumKernel",
    "TensorModel",
    "block_sizes",
    "cartesian_to_spherical",
    "combine_structures",
    "concatenate",
    "farthest_point_sampling",
    "fit_precomputed",
    "kernel_from_dict",
    "kfold_indices",
    "learning_curve",
    "load",
    "polynomial_structure_kernels",
    "rmse_percent",
    "select_active",
    "species_resolved",
    "species_quotas",
    "spherical_to_cartesian",
    "structure_kernel",
    "structure_self_kernel",
]
