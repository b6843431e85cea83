"""The package version (one place, read by ``lode_rs.__version__`` and the caches)."""

__version__ = "0.1.0"
