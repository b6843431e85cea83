"""Gradients of invariants built from LODE expansions: ν = 1, ν = 2 of LODE ⊗ LODE and the mixed
SOAP ⊗ LODE (ρ ⊗ V) power spectrum, Jacobians and backward pass, on a finite molecule (the
real-space route) and a periodic triclinic cell (the reciprocal route; the periodic structure
is also tried on the planner's own route, skipped while that route has no gradients).

Jacobians are held against central finite differences with the step and tolerance of
``test_gradients`` (H = 1e-5 Å or strain, 1e-7 of the largest value: the truncation error is
~1e-10 of the values, a sign or factor error is of the order of the gradient itself). Strain is
tested wherever the LODE route provides it: the test asks for it and skips with the route's own
message while it is refused, so it starts running as soon as a route gains strain gradients.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

import lode_rs
from test_equivariant import rotated, wigner_d
from test_gradients import (
    FD_TOL,
    check_jacobians,
    dense_positions,
    jacobian_transpose,
    random_cotangent,
)
from test_lode_gradients import charged, molecule, periodic

LODE = dict(cutoff=3.0, smearing=1.0, n_max=3, l_max=2, exponent=1, center_weight=0.7)
SOAP = dict(cutoff=3.5, smearing=0.4, n_max=3, l_max=3, cutoff_width=1.0)
SPECIES = [1, 6, 8]


def lode(method="auto", charges=False, n_threads=0, **kw):
    channels = {"charges": True} if charges else {"species": SPECIES}
    return lode_rs.LodeExpansion(**{**LODE, **kw}, method=method, **channels, n_threads=n_threads)


def soap(n_threads=0):
    return lode_rs.SoapExpansion(**SOAP, species=SPECIES, n_threads=n_threads)


def structure(kind):
    if kind == "molecule":
        return charged(molecule())
    atoms = periodic(triclinic=True)
    atoms.set_initial_charges([0.5, -0.5, 0.8, -0.8])
    return atoms


def invariants(kind, method="reciprocal", n_threads=0):
    """name -> (jacobians(frames, names), backward(frames, cotangent)) for every invariant."""
    m = "auto" if kind == "molecule" else method
    v = lode(m, n_threads=n_threads)
    q = lode(m, charges=True, n_threads=n_threads)
    s = soap(n_threads)
    out = {}
    for name, ps in {
        "lode x lode": lode_rs.PowerSpectrum(v),
        "charges x charges": lode_rs.PowerSpectrum(q),
        "soap x lode": lode_rs.PowerSpectrum(s, v),
        "lode x soap (charges)": lode_rs.PowerSpectrum(q, s),
    }.items():
        out[name] = (
            lambda f, g, ps=ps: ps.compute(f, gradients=g),
            lambda f, c, ps=ps: ps.backward(f, c),
        )
    out["radial lode"] = (
        lambda f, g: lode_rs.invariants.radial(v, f, gradients=g),
        lambda f, c: lode_rs.invariants.radial_backward(v, f, c),
    )
    return out


def strain_refusal(compute, atoms):
    """None when ``compute`` gives strain gradients of ``atoms``, else the route's refusal."""
    try:
        compute(atoms, ["strain"])
    except lode_rs.InvalidParameterError as error:
        if "not implemented" in str(error):
            return str(error)
        raise
    return None


@pytest.mark.parametrize("kind", ["molecule", "periodic"])
@pytest.mark.parametrize(
    "name",
    ["lode x lode", "charges x charges", "soap x lode", "lode x soap (charges)", "radial lode"],
)
def test_positions_jacobian_backward_sum_rule(kind, name):
    """Positions Jacobian = central differences; dense samples (every atom of the structure for
    every row); Σ_atoms ∂x/∂r = 0 per row (1e-12 relative); backward = Jᵀ·v for a random v
    (1e-12 relative) and its forces sum to zero."""
    atoms = structure(kind)
    compute, backward = invariants(kind)[name]
    result = check_jacobians(compute, atoms, strain=False)
    g = result.gradient("positions")
    n = len(atoms)
    assert len(g.samples) == n * n
    dense = dense_positions(g, n, n)
    scale = np.max(np.abs(dense))
    assert scale > 1e-6
    np.testing.assert_allclose(dense.sum(axis=1), 0, atol=1e-12 * scale)
    v = random_cotangent(result.values.shape, seed=n)
    out = backward(atoms, v)
    forces, _ = jacobian_transpose(result, v, n)
    size = np.max(np.abs(forces))
    np.testing.assert_allclose(out.positions[0], forces, rtol=0, atol=1e-12 * size)
    np.testing.assert_allclose(out.positions[0].sum(axis=0), 0, atol=1e-12 * size)


@pytest.mark.parametrize("method", ["reciprocal", "auto", "ewald", "mesh"])
@pytest.mark.parametrize("name", ["lode x lode", "soap x lode", "radial lode"])
def test_strain_jacobian_and_backward_where_the_route_has_it(method, name):
    """Strain Jacobian = central differences and backward strain = Jᵀ·v (1e-12 relative), on
    every periodic route that provides LODE strain gradients; skipped, with the route's own
    message, on the others."""
    atoms = structure("periodic")
    compute, backward = invariants("periodic", method)[name]
    refusal = strain_refusal(compute, atoms)
    if refusal is not None:
        pytest.skip(refusal)
    result = check_jacobians(compute, atoms, strain=True, tol=fd_tolerance(method))
    v = random_cotangent(result.values.shape, seed=1)
    out = backward(atoms, v)
    forces, strain = jacobian_transpose(result, v, len(atoms))
    # the mesh backward pass is the exact adjoint of the mesh values, its Jacobian the Ewald
    # route's: they agree to the mesh error, not to rounding
    transpose_tol = 1e-4 if method == "mesh" else 1e-12
    np.testing.assert_allclose(
        out.strain[0], strain, rtol=0, atol=transpose_tol * np.max(np.abs(strain))
    )
    s = result.gradient("strain").values
    # symmetric to rounding where the k-vector set is the Jacobian's own; the mesh route's
    # rows (the Ewald route's, with the mesh's long-range cutoff) to its truncation, ~1e-7
    symmetry_tol = 1e-6 if method == "mesh" else 1e-10
    np.testing.assert_allclose(
        s, np.swapaxes(s, 1, 2), rtol=0, atol=symmetry_tol * np.max(np.abs(s))
    )


@pytest.mark.parametrize("method", ["auto", "ewald", "mesh"])
def test_planner_routes_positions(method):
    """The periodic structure on the planner's own route (and the Ewald and mesh routes):
    the mixed invariant's positions Jacobian = central differences wherever the route has
    gradients; skipped with the route's message otherwise."""
    atoms = structure("periodic")
    compute, _ = invariants("periodic", method)["soap x lode"]
    try:
        compute(atoms, ["positions"])
    except lode_rs.InvalidParameterError as error:
        if "not implemented" in str(error):
            pytest.skip(str(error))
        raise
    check_jacobians(compute, atoms, strain=False, tol=fd_tolerance(method))


def fd_tolerance(method: str) -> float:
    """The mesh route's Jacobian rows are the Ewald route's of the same split, which differ from
    the derivatives of the mesh values by the mesh discretisation error (docs/gradients.md:
    ≤ 1e-4 of the largest entry); 1e-4 still catches a sign or factor-2 error. Elsewhere FD_TOL."""
    return 1e-4 if method == "mesh" else FD_TOL


@pytest.mark.parametrize("kind", ["molecule", "periodic"])
def test_rotation_covariance(kind):
    """Rotating the structure (a periodic one together with its cell) by R: the positions
    gradients of invariants rotate as vectors, ∂x/∂r' = R ∂x/∂r, and those of the raw LODE
    coefficients as vector ⊗ Wigner-D, ∂c'_lm/∂r' = R Σ_m' D^l_mm' ∂c_lm'/∂r (1e-10 of the
    largest entry; the k-vectors of the rotated cell are the rotated k-vectors, so both
    routes are covariant to rounding); the backward pass rotates as vectors too."""
    atoms = structure(kind)
    rotation = Rotation.random(random_state=11).as_matrix()
    turned = rotated(atoms, rotation)
    calc = lode("auto" if kind == "molecule" else "reciprocal")
    # raw coefficients: vector ⊗ Wigner-D
    g = calc.compute(atoms, gradients=["positions"]).gradient("positions")
    g_rot = calc.compute(turned, gradients=["positions"]).gradient("positions")
    np.testing.assert_array_equal(g_rot.samples, g.samples)
    expected = np.einsum("ab,sb...->sa...", rotation, g.values)
    for l in range(LODE["l_max"] + 1):  # noqa: E741
        block = expected[..., l * l : (l + 1) ** 2]
        expected[..., l * l : (l + 1) ** 2] = np.einsum(
            "mk,...k->...m", wigner_d(l, rotation), block
        )
    scale = np.max(np.abs(g.values))
    np.testing.assert_allclose(g_rot.values, expected, rtol=0, atol=1e-10 * scale)
    # invariants: vectors
    for name in ("lode x lode", "soap x lode", "radial lode"):
        compute, backward = invariants(kind)[name]
        g = compute(atoms, ["positions"]).gradient("positions")
        g_rot = compute(turned, ["positions"]).gradient("positions")
        np.testing.assert_array_equal(g_rot.samples, g.samples)
        expected = np.einsum("ab,sbf->saf", rotation, g.values)
        scale = np.max(np.abs(g.values))
        np.testing.assert_allclose(g_rot.values, expected, rtol=0, atol=1e-10 * scale, err_msg=name)
        v = random_cotangent(compute(atoms, None).values.shape, seed=2)
        b = backward(atoms, v).positions[0]
        b_rot = backward(turned, v).positions[0]
        np.testing.assert_allclose(
            b_rot, b @ rotation.T, rtol=0, atol=1e-10 * np.max(np.abs(b)), err_msg=name
        )


def test_threads_bitwise():
    """1 and 2 threads: bitwise identical Jacobians and backward passes (molecule and periodic
    cell in one call)."""
    frames = [structure("molecule"), structure("periodic")]
    results = []
    for threads in (1, 2):
        out = []
        for name, (compute, backward) in invariants("periodic", n_threads=threads).items():
            if "charges" in name:
                continue
            r = compute(frames, ["positions"])
            v = random_cotangent(r.values.shape, seed=5)
            out.append((r.gradient("positions").values, backward(frames, v).positions))
        results.append(out)
    for (j1, b1), (j2, b2) in zip(*results, strict=True):
        np.testing.assert_array_equal(j1, j2)
        for a, b in zip(b1, b2, strict=True):
            np.testing.assert_array_equal(a, b)


def test_memory_guard_and_bad_input():
    """A dense LODE Jacobian above max_memory is refused with its size and a pointer to the
    backward pass; strain of a finite structure is refused."""
    ps = lode_rs.PowerSpectrum(soap(), lode())
    with pytest.raises(lode_rs.InvalidParameterError, match=r"GiB.*backward pass"):
        ps.compute(molecule(), gradients=["positions"], max_memory=1000)
    with pytest.raises(lode_rs.InvalidInputError, match="not periodic"):
        ps.compute(molecule(), gradients=["strain"])
    with pytest.raises(lode_rs.InvalidInputError, match="initial charges"):
        lode_rs.PowerSpectrum(lode(charges=True)).compute(periodic(), gradients=["positions"])
