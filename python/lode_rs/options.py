"""Options files for ``lode-rs fit options.yaml``: defaults, command-line overrides, checks.

An options file names the data, the features and the model; everything not given takes the
default below, and ``-r section.key=value`` overrides any entry (the value is read as YAML, so
``-r model.regularizer=1e-6`` is a number and ``-r features.lode=null`` removes LODE). The fully
expanded options are saved beside the model, with the seed and the split indices, so a fit can
be repeated exactly::

    data:
      files: [train.xyz]
      target: energy          # atoms.info key (or the attached calculator's energy)
      test_fraction: 0.1      # held out, for the parity plot and test error
    features:
      soap: {cutoff: 4.0, smearing: 0.3, n_max: 6, l_max: 4}
      lode: {cutoff: 4.0, smearing: 1.0, n_max: 6, l_max: 4}
      invariant: mixed        # radial, power (each expansion, concatenated) or mixed (SOAP x LODE)
    model:
      type: sparse-gpr        # or ridge
      zeta: 2
      n_sparse: 500
      regularizer: null       # null: cross-validated
    seed: 0
"""

from __future__ import annotations

import copy
import os
from typing import Any

from ._lode_rs import InvalidParameterError

DEFAULTS: dict[str, Any] = {
    "seed": 0,
    "data": {"files": None, "target": "energy", "test_fraction": 0.1},
    "features": {"soap": None, "lode": None, "invariant": "power", "threads": 0},
    "model": {"type": "sparse-gpr", "zeta": 2, "n_sparse": 500, "regularizer": None},
    "output": "model.npz",
    "scheduler": None,
    "chunk_size": 100,
}
MODEL_TYPES = ("sparse-gpr", "ridge")
INVARIANTS = ("radial", "power", "mixed")


def _yaml():
    try:
        import yaml
    except ImportError as error:  # pragma: no cover - PyYAML ships with most installs
        raise ImportError("options files need PyYAML: pip install pyyaml") from error
    return yaml


def _merge(base: dict, given: dict, where: str) -> dict:
    out = copy.deepcopy(base)
    for key, value in given.items():
        if key not in base:
            raise InvalidParameterError(f"unknown option {where}{key!r}; valid: {sorted(base)}")
        if isinstance(base[key], dict) and isinstance(value, dict):
            out[key] = _merge(base[key], value, f"{where}{key}.")
        else:
            out[key] = value
    return out


def _override(options: dict, assignment: str) -> None:
    if "=" not in assignment:
        raise InvalidParameterError(f"override {assignment!r} is not of the form key.path=value")
    path, text = assignment.split("=", 1)
    keys = path.strip().split(".")
    node = options
    for depth, key in enumerate(keys):
        if not isinstance(node, dict) or key not in node:
            raise InvalidParameterError(
                f"override {assignment!r}: unknown option {'.'.join(keys[: depth + 1])!r}"
            )
        if depth == len(keys) - 1:
            node[key] = _yaml().safe_load(text)
        else:
            node = node[key]


def expand(given: dict | None, overrides: list[str] = ()) -> dict:
    """The full options: defaults, then ``given``, then the ``key.path=value`` overrides.

    Raises:
        InvalidParameterError: unknown keys, missing data files, invalid choices.
    """
    options = _merge(DEFAULTS, given or {}, "")
    for assignment in overrides:
        _override(options, assignment)
    files = options["data"]["files"]
    if isinstance(files, (str, os.PathLike)):
        options["data"]["files"] = files = [str(files)]
    if not files:
        raise InvalidParameterError("data.files is required: the structures to fit on")
    if options["model"]["type"] not in MODEL_TYPES:
        raise InvalidParameterError(f"model.type must be one of {MODEL_TYPES}")
    if options["features"]["invariant"] not in INVARIANTS:
        raise InvalidParameterError(f"features.invariant must be one of {INVARIANTS}")
    if not (options["features"]["soap"] or options["features"]["lode"]):
        raise InvalidParameterError("give features.soap and/or features.lode hyper-parameters")
    fraction = options["data"]["test_fraction"]
    if not 0 <= float(fraction) < 1:
        raise InvalidParameterError(f"data.test_fraction must be in [0, 1), got {fraction}")
    return options


def read(path: str | os.PathLike, overrides: list[str] = ()) -> dict:
    """Read and expand an options file (YAML or JSON); relative data paths are taken from the
    file's directory."""
    with open(path) as f:
        given = _yaml().safe_load(f) or {}
    if not isinstance(given, dict):
        raise InvalidParameterError(f"{path}: an options file is a mapping of sections")
    options = expand(given, overrides)
    base = os.path.dirname(os.path.abspath(path))
    options["data"]["files"] = [
        f if os.path.isabs(f) else os.path.normpath(os.path.join(base, f))
        for f in options["data"]["files"]
    ]
    return options


def write(options: dict, path: str | os.PathLike) -> None:
    """Write the expanded options (YAML)."""
    with open(path, "w") as f:
        _yaml().safe_dump(options, f, sort_keys=False)
