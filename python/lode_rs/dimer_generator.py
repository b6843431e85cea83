"""Deprecated: the xTB dimer generator moved to :mod:`lode_rs.datasets.dimer_generator`.

Attribute access is forwarded there (with a ``DeprecationWarning`` on import), and
``python -m lode_rs.dimer_generator`` still runs it.
"""

from __future__ import annotations

import warnings

from .datasets import dimer_generator as _moved


def __getattr__(name: str):
    return getattr(_moved, name)


if __name__ == "__main__":
    raise SystemExit(_moved.main())

warnings.warn(
    "lode_rs.dimer_generator moved to lode_rs.datasets.dimer_generator",
    DeprecationWarning,
    stacklevel=2,
)
