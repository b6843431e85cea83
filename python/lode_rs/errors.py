"""The exceptions lode_rs raises (besides ``RuntimeError`` for internal bugs).

``InvalidInputError`` (bad structures, features or targets) and ``InvalidParameterError`` (bad
hyper-parameters) come from the Rust core; both are ``ValueError``\\ s. ``NotFittedError`` is
raised by a model used before :meth:`~lode_rs.models.Regressor.fit`.
"""

from __future__ import annotations

from ._lode_rs import InvalidInputError, InvalidParameterError


class NotFittedError(ValueError, AttributeError):
    """A model was asked to predict, score or save before it was fitted: call ``fit`` first.

    A ``ValueError`` (as the package's other usage errors, so ``except ValueError`` catches it)
    and an ``AttributeError`` (the fitted attributes do not exist yet), like scikit-learn's
    ``NotFittedError``.
    """


__all__ = ["InvalidInputError", "InvalidParameterError", "NotFittedError"]
