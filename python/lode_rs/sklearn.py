"""scikit-learn estimators for lode_rs (``pip install lode_rs[sklearn]``): the public name of
:mod:`lode_rs.interop.sklearn`, e.g. ``from lode_rs.sklearn import PowerSpectrumTransformer``."""

from .interop.sklearn import (
    ExpansionTransformer,
    KernelRegressor,
    Lode,
    PowerSpectrumTransformer,
    RadialSpectrumTransformer,
    RidgeRegressor,
    Soap,
)

__all__ = [
    "ExpansionTransformer",
    "KernelRegressor",
    "Lode",
    "PowerSpectrumTransformer",
    "RadialSpectrumTransformer",
    "RidgeRegressor",
    "Soap",
]
