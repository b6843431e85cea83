"""lode_rs: long-range (LODE) and local (SOAP) atomistic representations with a Rust core.

Quick start::

    import lode_rs
    soap = lode_rs.SoapExpansion(cutoff=3.0, smearing=0.3, n_max=6, l_max=4)
    features = lode_rs.PowerSpectrum(soap).compute(frames)   # frames: ase.Atoms or a list
    features.values                                          # (n_atoms, n_features)
"""

from . import constants, datasets, invariants, models, plotting
from ._version import __version__ as __version__
from .calculators import LodeExpansion, SoapExpansion
from .electrostatics import electrostatic_energy
from .errors import InvalidInputError, InvalidParameterError, NotFittedError
from .invariants import PowerSpectrum
from .models import learning_curve
from .potential import Potential, load_potential
from .results import Expansion, Features
from .systems import System

# the core's exceptions pickle under their import path (errors raised in worker processes reach
# the caller with their type: Dask, joblib, multiprocessing)
for _error in (InvalidInputError, InvalidParameterError):
    _error.__module__ = "lode_rs._lode_rs"
del _error

__all__ = [
    "Expansion",
    "Features",
    "InvalidInputError",
    "InvalidParameterError",
    "LodeExpansion",
    "NotFittedError",
    "Potential",
    "PowerSpectrum",
    "SoapExpansion",
    "System",
    "constants",
    "datasets",
    "electrostatic_energy",
    "invariants",
    "learning_curve",
    "load_potential",
    "models",
    "plotting",
]
