"""Property-based fuzzing of the gradient calls (hypothesis; issue 15, "Bad input").

Random structures of ``test_fuzz.structures`` (1–6 atoms; finite, or periodic cells from 0.6 Å
to 25 Å, skewed) and random hyper-parameters, for SOAP, LODE (every exponent, ``auto`` — so
every route the planner picks — and the explicit methods, charges), ``PowerSpectrum`` of SOAP,
of LODE and of SOAP ⊗ LODE, and ``invariants.radial`` of LODE. For each example:

* ``compute(frames, gradients=["positions", "strain"])`` (``["positions"]`` for a finite
  structure) and ``.backward(frames, v)`` for a random ``v`` return, or raise
  ``InvalidInputError`` / ``InvalidParameterError`` — never another exception (a panic is a
  ``RuntimeError``), never a hang (each call is timed);
* values, Jacobians and the backward pass are finite;
* backward = Jᵀ·v: to ``1e-9`` of ``|J|ᵀ·|v|`` (the same contraction of absolute values, the
  size of the rounding; a sign or factor error in one entry is of its size); on the mesh route
  the Jacobian rows are the Ewald route's while the backward pass is the exact adjoint of the
  mesh values, so there they differ by the mesh's discretisation, held to
  ``1e-4 + 100 × accuracy`` of that scale (measured up to ``1.01e-2`` at accuracy ``1e-3``, the
  forces' sum included: the mesh is translation invariant only to its accuracy); a floor of
  ``1e-13 × max|values| × max|v|`` covers structures whose Jacobian vanishes (one atom), and
  on the mesh ``accuracy × Σ|v| × max(1, max|values|)`` the slope of the mesh error there
  (measured up to 8e-3 of it);
* the forces sum to zero (translation invariance), to the same tolerances;
* a finite structure's strain gradient is refused (``InvalidInputError``, "not periodic");
  ``test_bad_gradient_requests`` adds unknown and repeated names and ``max_memory`` for every
  calculator kind;
* cotangents with NaN or infinite entries, a wrong shape or a wrong number of dimensions are
  refused with ``InvalidInputError``.

CI runs ``LODE_RS_FUZZ_EXAMPLES // 2`` (default 20) examples per calculator kind with a fixed
seed (about 20 s in all on two loaded cores); set ``LODE_RS_FUZZ_EXAMPLES`` to thousands for a
deeper local run (random seeds above 200).
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

import lode_rs
from test_fuzz import CLEAN_ERRORS, _system, structures
from test_gradients import jacobian_transpose

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

EXAMPLES = max(1, int(os.environ.get("LODE_RS_FUZZ_EXAMPLES", "40")) // 2)
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=EXAMPLES <= 100,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)
SECONDS_PER_CALL = 60.0
ROUTES = ["auto", "reciprocal", "ewald", "mesh"]
KINDS = ["soap", "lode", "power_spectrum_soap", "power_spectrum_lode", "mixed", "radial"]


def timed(call, *args, **kwargs):
    start = time.perf_counter()
    try:
        return call(*args, **kwargs)
    finally:
        elapsed = time.perf_counter() - start
        assert elapsed < SECONDS_PER_CALL, f"took {elapsed:.0f} s"


class Radial:
    """``invariants.radial`` with the calculator interface the checks use."""

    def __init__(self, calculator):
        self.calculator = calculator

    def compute(self, frames, **kw):
        return lode_rs.invariants.radial(self.calculator, frames, **kw)

    def backward(self, frames, cotangent):
        return lode_rs.invariants.radial_backward(self.calculator, frames, cotangent)


@st.composite
def calculators(draw, kind):
    """``(make, lode_calculator | None)``: a factory of the calculator of ``kind`` (it may
    raise a clean error for hyper-parameters at the edges) and its LODE expansion if any."""
    soap_kw = dict(
        cutoff=draw(st.sampled_from([0.5, 2.0, 4.0])),
        smearing=draw(st.sampled_from([0.1, 0.5, 1.5])),
        n_max=draw(st.sampled_from([1, 2, 4])),
        l_max=draw(st.sampled_from([0, 1, 3])),
        center_weight=draw(st.sampled_from([1.0, 0.0, -2.0])),
    )
    lode_kw = dict(
        cutoff=draw(st.sampled_from([1.0, 3.0])),
        smearing=draw(st.sampled_from([0.5, 1.0, 2.0])),
        n_max=draw(st.sampled_from([1, 3])),
        l_max=draw(st.sampled_from([0, 2])),
        exponent=draw(st.sampled_from([0, 1, 2, 3, 4, 6])),
        method=draw(st.sampled_from(ROUTES)),
        accuracy=draw(st.sampled_from([1e-3, 1e-5])),
        charges=draw(st.booleans()) if kind == "lode" else False,
    )

    def make():
        soap = lode_rs.SoapExpansion(**soap_kw)
        lode = lode_rs.LodeExpansion(**lode_kw)
        return {
            "soap": soap,
            "lode": lode,
            "power_spectrum_soap": lode_rs.PowerSpectrum(soap),
            "power_spectrum_lode": lode_rs.PowerSpectrum(lode),
            "mixed": lode_rs.PowerSpectrum(soap, lode),
            "radial": Radial(lode),
        }[kind]

    return make, lode_kw if kind not in ("soap", "power_spectrum_soap") else None


def route_of(lode_kw, system) -> str | None:
    if lode_kw is None:
        return None
    return lode_rs.LodeExpansion(**lode_kw).routes(system)[0]["route"]


def check_gradients(make, lode_kw, structure, seed):
    try:
        calculator = make()
    except CLEAN_ERRORS as e:
        event(f"hypers refused: {str(e)[:40]}")
        return
    system = _system(structure)
    periodic = bool(structure[3].all())
    names = ["positions", "strain"] if periodic else ["positions"]
    try:
        result = timed(calculator.compute, system, gradients=names)
    except CLEAN_ERRORS as e:
        event(f"structure refused: {str(e)[:40]}")
        return
    event("computed")
    values = result.values
    assert np.all(np.isfinite(values)), "non-finite values"
    for name in names:
        assert np.all(np.isfinite(result.gradient(name).values)), f"non-finite {name} Jacobian"
    if not periodic:
        with pytest.raises(lode_rs.InvalidInputError, match="not periodic"):
            calculator.compute(system, gradients=["strain"])

    n_atoms = len(structure[0])
    v = np.random.default_rng(seed).normal(size=values.shape)
    out = timed(calculator.backward, system, v)
    forces, strain = out.positions[0], out.strain[0]
    assert forces.shape == (n_atoms, 3)
    assert np.all(np.isfinite(forces)), "non-finite backward pass"
    assert (strain is None) == (not periodic)
    if periodic:
        assert strain.shape == (3, 3) and np.all(np.isfinite(strain))

    # backward = Jᵀ·v, to the size of the rounding of |J|ᵀ·|v|
    jt_forces, jt_strain = jacobian_transpose(result, v, n_atoms)
    absolute = _AbsoluteResult(result)
    scale_f, scale_s = jacobian_transpose(absolute, np.abs(v), n_atoms)
    mesh = route_of(lode_kw, system) == "mesh"
    relative = 1e-4 + 100 * lode_kw["accuracy"] if mesh else 1e-9
    event("mesh: Jacobian rows of the Ewald route" if mesh else "backward = Jᵀ·v to rounding")
    # plus a floor of rounding where every Jacobian entry vanishes (one atom in a cell: its
    # images' gradients cancel exactly in the rows, to 1e-21 in the backward pass)
    floor = 1e-13 * np.max(np.abs(values), initial=1.0) * np.max(np.abs(v), initial=1.0)
    if mesh:
        # on the mesh a lone atom moves against the mesh: its "force" is the discretisation
        # error's slope where the Ewald rows are exactly 0 (measured up to 8e-3 of this floor)
        floor += lode_kw["accuracy"] * np.sum(np.abs(v)) * max(1.0, np.max(np.abs(values)))
    tol_f = relative * np.max(scale_f) + floor
    assert np.max(np.abs(forces - jt_forces)) <= tol_f, (
        f"backward ≠ Jᵀ·v: {np.max(np.abs(forces - jt_forces)):.3e} > {tol_f:.3e}"
    )
    assert np.max(np.abs(forces.sum(axis=0))) <= tol_f, "forces do not sum to zero"
    if periodic:
        tol_s = relative * np.max(scale_s) + floor
        assert np.max(np.abs(strain - jt_strain)) <= tol_s, (
            f"strain backward ≠ Jᵀ·v: {np.max(np.abs(strain - jt_strain)):.3e} > {tol_s:.3e}"
        )

    # hostile cotangents: clear errors
    bad = v.copy()
    bad.flat[seed % bad.size] = [np.nan, np.inf, -np.inf][seed % 3]
    with pytest.raises(lode_rs.InvalidInputError, match="NaN or infinite"):
        calculator.backward(system, bad)
    with pytest.raises(lode_rs.InvalidInputError, match="shape"):
        calculator.backward(system, np.zeros((values.shape[0] + 1,) + values.shape[1:]))
    with pytest.raises(lode_rs.InvalidInputError, match="shape"):
        calculator.backward(system, v.reshape(-1))


class _AbsoluteResult:
    """A result whose Jacobians are the absolute values of another's (for the rounding
    scale of ``jacobian_transpose``)."""

    def __init__(self, result):
        self.gradients = {
            name: type(g)(np.abs(g.values), g.samples, g.sample_names)
            for name, g in result.gradients.items()
        }

    def gradient(self, name):
        return self.gradients[name]


PERIODICITIES = [(True,) * 3, (False,) * 3]


@pytest.mark.parametrize("kind", KINDS)
@FUZZ
@given(
    structure=structures(periodicities=PERIODICITIES, max_length=25.0),
    data=st.data(),
    seed=st.integers(0, 2**16),
)
def test_gradient_fuzz(kind, structure, data, seed):
    make, lode_kw = data.draw(calculators(kind))
    check_gradients(make, lode_kw, structure, seed)


@pytest.mark.parametrize("kind", KINDS)
def test_bad_gradient_requests(kind):
    """Issue 15, "Bad input", for every calculator kind: an unknown or repeated gradient name
    (``InvalidParameterError`` listing the names), strain of a finite structure
    (``InvalidInputError``), a Jacobian above ``max_memory`` (its size and the backward pass)."""
    lode_kw = dict(cutoff=3.0, smearing=1.0, n_max=2, l_max=1, exponent=1, method="auto",
                   accuracy=1e-5, charges=False)
    soap = lode_rs.SoapExpansion(cutoff=3.0, smearing=0.5, n_max=2, l_max=1)
    lode = lode_rs.LodeExpansion(**lode_kw)
    calculator = {
        "soap": soap,
        "lode": lode,
        "power_spectrum_soap": lode_rs.PowerSpectrum(soap),
        "power_spectrum_lode": lode_rs.PowerSpectrum(lode),
        "mixed": lode_rs.PowerSpectrum(soap, lode),
        "radial": Radial(lode),
    }[kind]
    rng = np.random.default_rng(3)
    molecule = lode_rs.System(positions=rng.uniform(0, 3, (4, 3)), numbers=[1, 8, 1, 8])
    crystal = lode_rs.System(
        positions=rng.uniform(0, 5, (4, 3)), numbers=[1, 8, 1, 8], cell=5 * np.eye(3), pbc=True
    )
    with pytest.raises(lode_rs.InvalidParameterError, match='unknown gradient "cell"'):
        calculator.compute(crystal, gradients=["cell"])
    with pytest.raises(lode_rs.InvalidParameterError, match="requested twice"):
        calculator.compute(crystal, gradients=["positions", "positions"])
    with pytest.raises(lode_rs.InvalidInputError, match="not periodic"):
        calculator.compute(molecule, gradients=["strain"])
    with pytest.raises(lode_rs.InvalidParameterError, match="backward pass"):
        calculator.compute(crystal, gradients=["positions", "strain"], max_memory=1000)
