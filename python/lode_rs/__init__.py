"""lode_rs: long-range (LODE) and local (SOAP) atomistic representations with a Rust core."""

from ._lode_rs import InvalidInputError, InvalidParameterError

__all__ = ["InvalidInputError", "InvalidParameterError"]
__version__ = "0.1.0"
