"""Slabs (pbc = [True, True, False]): LODE coefficients and Coulomb energies, docs/math.md §15.

1. Madelung constants: the square NaCl monolayer (M₂ = 1.6155426267128247, Zucker 1974, OEIS
   A088537: 4(√2 − 1) ζ(½) β(½), evaluated here with mpmath) and the h-BN-like honeycomb
   layer (H₂ = 1.5422197217065052, OEIS A246966), from ``electrostatic_energy`` and from the
   LODE charge channel; the central layers of a rocksalt (001) slab approach the bulk constant
   1.747564594633182 (Benson's formula, evaluated here).
2. Slab coefficients against brute-force finite clusters of growing in-plane radius R (the
   finite real-space route, each cell's charges tapered smoothly to zero): the error falls as
   R^(−p) (a neutral cell's potential falls as ρ^(−p−2) in the plane, summed over ~ρ dρ), and
   Richardson extrapolation in R^(−p) removes the leading term.
3. The 3D route on vacuum cells of growing height L: the difference from the slab is the
   p = 1 closed form (2π/AL)(Σq_j z_j² − 2 z M_z) of §15.3 (an O(1/L) error); after that
   analytic correction the remainder falls like e^(−|k_∥| (L − T)).
4. Invariances: in-plane and normal translations, rotations about the normal and any rotation
   of the whole slab (the open direction anywhere), permutations, in-plane supercells, every
   open-axis index; 1 vs 2 threads bitwise; every p.
5. Bad input: wires, NaN positions, a charged slab's energy and forces (gradients of slabs:
   test_slab_gradients.py).
"""

from __future__ import annotations

import ase
import mpmath
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

import lode_rs
from lode_rs import electrostatic_energy

K_E = 14.399645

# ---------------------------------------------------------------------------------------------
# reference constants, computed here


def square_layer_madelung():
    """M₂ = −Σ' (−1)^(i+j)/√(i² + j²) = −4(√2 − 1) ζ(½) β(½) (Zucker 1974)."""
    beta = mpmath.nsum(lambda n: (-1) ** n / mpmath.sqrt(2 * n + 1), [0, mpmath.inf])
    return float(-4 * (mpmath.sqrt(2) - 1) * mpmath.zeta(0.5) * beta)


def rocksalt_madelung():
    """Benson's formula: 12π Σ_{m,n odd} sech²(π√(m² + n²)/2)."""
    total = 0.0
    for m in range(1, 40, 2):
        for n in range(1, 40, 2):
            total += 1 / np.cosh(0.5 * np.pi * np.hypot(m, n)) ** 2
    return 12 * np.pi * total


def test_reference_constants():
    assert abs(square_layer_madelung() - 1.6155426267128247) < 1e-15
    assert abs(rocksalt_madelung() - 1.747564594633182) < 1e-14


# ---------------------------------------------------------------------------------------------
# structures


def square_monolayer(d=2.8, open_axis=2):
    """NaCl square monolayer, primitive cell (a ± b at 45°), nearest-neighbour distance d."""
    cell = np.array([[d, d, 0.0], [d, -d, 0.0], [0.0, 0.0, 0.0]])
    positions = np.array([[0.0, 0.0, 1.0], [d, 0.0, 1.0]])
    atoms = ase.Atoms("NaCl", positions=positions, cell=cell, pbc=[True, True, False])
    atoms.set_initial_charges([1.0, -1.0])
    return reorder_axes(atoms, open_axis)


def reorder_axes(atoms, open_axis):
    """The same slab with the open lattice vector at index ``open_axis``."""
    if open_axis == 2:
        return atoms
    order = [0, 1, 2]
    order.remove(2)
    order.insert(open_axis, 2)
    out = atoms.copy()
    out.set_cell(atoms.cell[order], scale_atoms=False)
    out.pbc = [True, True, True]
    out.pbc[open_axis] = False
    return out


def honeycomb_layer(d=1.45):
    a = d * np.sqrt(3)
    cell = [[a, 0, 0], [a / 2, a * np.sqrt(3) / 2, 0], [0, 0, 0]]
    atoms = ase.Atoms(
        "BN", positions=[[0, 0, 0], [a / 2, d / 2, 0]], cell=cell, pbc=[True, True, False]
    )
    atoms.positions[1] = [a / 2, a / (2 * np.sqrt(3)), 0]
    atoms.set_initial_charges([1.0, -1.0])
    return atoms


def rocksalt_slab(n_layers, d=2.8):
    """n (001) layers of rocksalt, two ions per layer (primitive in-plane cell)."""
    positions, symbols, charges = [], [], []
    for k in range(n_layers):
        sign = (-1) ** k
        positions += [[0.0, 0.0, k * d], [d, 0.0, k * d]]
        symbols += ["Na", "Cl"] if sign > 0 else ["Cl", "Na"]
        charges += [sign, -sign]
    cell = [[d, d, 0.0], [d, -d, 0.0], [0.0, 0.0, 0.0]]
    atoms = ase.Atoms(symbols, positions=positions, cell=cell, pbc=[True, True, False])
    atoms.set_initial_charges(charges)
    return atoms


def random_slab(seed, n_atoms=8, side=6.0, thickness=4.0, skew=0.3):
    """A neutral random slab (Na⁺/Cl⁻) in a skewed in-plane cell, atoms ≥ 1.2 Å apart."""
    rng = np.random.default_rng(seed)
    cell = np.array([[side, 0.0, 0.0], [skew * side, 0.9 * side, 0.0], [0.0, 0.0, 0.0]])
    while True:
        frac = rng.random((n_atoms, 2))
        z = rng.random(n_atoms) * thickness
        positions = frac @ cell[:2] + np.outer(z, [0, 0, 1])
        atoms = ase.Atoms(
            ["Na", "Cl"] * (n_atoms // 2), positions=positions, cell=cell, pbc=[True, True, False]
        )
        if min(atoms.get_distances(i, range(n_atoms), mic=True)[i + 1 :].min(initial=9)
               for i in range(n_atoms - 1)) > 1.2:
            break
    atoms.set_initial_charges([1.0, -1.0] * (n_atoms // 2))
    return atoms


def lode(**kwargs):
    base = dict(cutoff=2.5, smearing=0.8, n_max=3, l_max=2, accuracy=1e-8)
    base.update(kwargs)
    return lode_rs.LodeExpansion(**base)


# ---------------------------------------------------------------------------------------------
# 1. Madelung constants


@pytest.mark.parametrize("open_axis", [2, 0])
def test_square_monolayer_madelung_energy(open_axis):
    d = 2.8
    energy = electrostatic_energy(square_monolayer(d, open_axis))[0]
    madelung = -energy * d / K_E
    assert abs(madelung / square_layer_madelung() - 1) < 1e-10


def test_honeycomb_madelung_energy():
    d = 1.45
    energy = electrostatic_energy(honeycomb_layer(d))[0]
    assert abs(-energy * d / K_E / 1.5422197217065052 - 1) < 1e-10


def test_rocksalt_slab_central_layers_approach_bulk():
    """E(n + 1) − E(n) is the energy of one added central layer (one ion pair): −M₃ k_e/d,
    reached exponentially (a neutral, dipole-free layer acts on others through k_∥ ≠ 0
    only, e^(−π√2) ≈ 0.012 per layer)."""
    d = 2.8
    energies = electrostatic_energy([rocksalt_slab(n, d) for n in (8, 9, 10)])
    per_layer = np.diff(energies)
    madelung = -per_layer * d / K_E
    np.testing.assert_allclose(madelung, rocksalt_madelung(), rtol=1e-8, atol=0)
    # one layer is the monolayer, whose constant differs from the bulk's
    one = electrostatic_energy(rocksalt_slab(1, d))[0]
    assert abs(-one * d / K_E / square_layer_madelung() - 1) < 1e-10


def lode_madelung(atoms, d_nn, accuracy=1e-10):
    """The §5 recipe: c_000 with center_weight = 0 is V(r_i) √(4π) M_0(2)."""
    cutoff = smearing = 0.1 * d_nn
    calc = lode_rs.LodeExpansion(
        cutoff=cutoff, smearing=smearing, n_max=1, l_max=0, charges=True,
        accuracy=accuracy, center_weight=0.0,
    )
    values = calc.compute(atoms).values[:, 0, 0, 0]
    sigma_n = cutoff
    norm = np.sqrt(2 / (sigma_n**3 * np.sqrt(np.pi) / 2))
    moment = np.sqrt(4 * np.pi) * norm * np.sqrt(np.pi / 2) * cutoff**3
    return -values / moment * d_nn / atoms.get_initial_charges()


def test_lode_madelung_of_layers():
    d = 2.8
    np.testing.assert_allclose(
        lode_madelung(square_monolayer(d), d), square_layer_madelung(), rtol=1e-8, atol=0
    )
    slab = rocksalt_slab(9, d)
    madelung = lode_madelung(slab, d)
    # the central layer (index 4) is the bulk to e^(−4π√2) ≈ 2e-8 relative
    np.testing.assert_allclose(madelung[8:10], rocksalt_madelung(), rtol=1e-7, atol=0)
    # the outer layers are not: the surface ion sees fewer neighbours
    assert madelung[0] < rocksalt_madelung() - 0.01


# ---------------------------------------------------------------------------------------------
# 2. brute force: finite clusters of tapered cells


def taper(u):
    """1 below ½, 0 above 1, C^∞ in between."""
    u = np.clip((np.asarray(u, dtype=float) - 0.5) / 0.5, 0.0, 1.0)
    with np.errstate(divide="ignore", over="ignore"):
        a = np.where(u > 0, np.exp(-1 / np.where(u > 0, u, 1)), 0.0)
        b = np.where(u < 1, np.exp(-1 / np.where(u < 1, 1 - u, 1)), 0.0)
    return 1 - a / (a + b)


def finite_cluster(atoms, radius):
    """The cells n with |n| < radius around the central one, charges × taper(|n|/radius);
    the central cell's atoms first."""
    cell = atoms.cell[:2]
    span = int(np.ceil(radius / min(np.linalg.norm(np.cross(cell[0], [0, 0, 1])),
                                     np.linalg.norm(cell[1])) * 1.5)) + 2
    shifts = [(0, 0)] + [(i, j) for i in range(-span, span + 1) for j in range(-span, span + 1)
                         if (i, j) != (0, 0)]
    positions, charges, symbols = [], [], []
    q = atoms.get_initial_charges()
    for i, j in shifts:
        t = i * cell[0] + j * cell[1]
        weight = taper(np.linalg.norm(t) / radius)
        if weight == 0:
            continue
        positions.append(atoms.positions + t)
        charges.append(q * weight)
        symbols += atoms.get_chemical_symbols()
    cluster = ase.Atoms(symbols, positions=np.concatenate(positions))
    cluster.set_initial_charges(np.concatenate(charges))
    return cluster


# radii (Å) by exponent: R^(−p) is the asymptotic rate; below about 5 cell lengths the next
# terms (R^(−p−2), larger for larger p) still show (measured: p = 6 halves its error 123× from
# 24 to 48 Å, 86× from 32 to 64 Å, against 2⁶ = 64)
RADII = {
    0: (32.0,),
    1: (16.0, 32.0),
    2: (16.0, 32.0),
    3: (24.0, 48.0),
    4: (24.0, 48.0),
    5: (32.0, 64.0),
    6: (32.0, 64.0),
}


@pytest.mark.parametrize("p", sorted(RADII))
def test_slab_equals_tapered_finite_clusters(p):
    atoms = random_slab(3)
    calc = lode(exponent=p, charges=True, accuracy=1e-10)
    slab = calc.compute(atoms).values
    n = len(atoms)
    errors = []
    values = []
    for radius in RADII[p]:
        cluster = finite_cluster(atoms, radius)
        finite = calc.compute(cluster).values[:n]
        values.append(finite)
        errors.append(np.abs(finite - slab).max())
    scale = np.abs(slab).max()
    if p == 0:
        # a short-ranged density: every neighbour of the central cell inside the untapered core
        assert errors[0] < 1e-12 * scale, errors
        return
    rate = errors[0] / errors[1]
    # R^(−p): the error falls 2^p-fold per doubling of R
    assert 0.7 * 2**p < rate < 1.5 * 2**p, (errors, rate)
    # Richardson extrapolation in R^(−p) removes the leading term; the R^(−p−2) remainder is
    # measured 2.8× (p = 6) to 10× (p = 1) below the larger cluster's error
    extrapolated = (2**p * values[1] - values[0]) / (2**p - 1)
    assert np.abs(extrapolated - slab).max() < 0.5 * errors[1], errors


# ---------------------------------------------------------------------------------------------
# 3. the 3D route with vacuum, without and with the analytic correction


def vacuum_cell(atoms, length):
    periodic = atoms.copy()
    cell = periodic.cell[:]
    cell[2] = [0, 0, length]
    periodic.set_cell(cell, scale_atoms=False)
    periodic.pbc = True
    return periodic


def test_vacuum_cells_converge_to_the_slab_after_the_dipole_correction():
    atoms = random_slab(5, thickness=3.0)
    q = atoms.get_initial_charges()
    z = atoms.positions[:, 2]
    calc = lode(exponent=1, charges=True, accuracy=1e-10, n_max=2, l_max=1)
    slab = calc.compute(atoms).values[:, 0]
    area = np.linalg.norm(np.cross(atoms.cell[0], atoms.cell[1]))
    cutoff = 2.5
    sigmas = cutoff * np.maximum(np.sqrt(np.arange(2)), 1) / 2
    # orthonormal moments M_n(2), M_n(3) of the basis (numerical, independent of the library)
    r = np.linspace(0, 12 * cutoff, 20001)
    raw = np.array([r**n * np.exp(-(r**2) / (2 * s**2)) for n, s in enumerate(sigmas)])
    raw /= np.sqrt(np.trapezoid(r**2 * raw**2, r, axis=1))[:, None]
    overlap = np.trapezoid(r**2 * raw[:, None] * raw[None], r, axis=2)
    w, v = np.linalg.eigh(overlap)
    ortho = (v @ np.diag(w**-0.5) @ v.T) @ raw
    m2 = np.trapezoid(r**2 * ortho, r, axis=1)
    m3 = np.trapezoid(r**3 * ortho, r, axis=1)
    raw_errors, corrected_errors = [], []
    lengths = (20.0, 30.0, 40.0)
    for length in lengths:
        periodic = calc.compute(vacuum_cell(atoms, length)).values[:, 0]
        volume = area * length
        dipole, second = q @ z, q @ z**2
        psi = 2 * np.pi / volume * (second - 2 * z * dipole)
        slope = -4 * np.pi / volume * dipole
        predicted = np.zeros_like(slab)
        predicted[:, :, 0] = np.sqrt(4 * np.pi) * m2[None] * psi[:, None]
        # l = 1, m = 0 (index 2): (4π/3) Y_10(ẑ) M_n(3) ψ'
        predicted[:, :, 2] = 4 * np.pi / 3 * np.sqrt(3 / (4 * np.pi)) * m3[None] * slope
        raw_errors.append(np.abs(periodic - slab).max())
        corrected_errors.append(np.abs(periodic - predicted - slab).max())
    raw_errors = np.array(raw_errors)
    # O(1/L): error × L roughly constant
    products = raw_errors * np.array(lengths)
    assert products.max() < 1.5 * products.min(), raw_errors
    # after the correction: exponentially small (e^{-k₁ (L − T)}, k₁ ≈ 1.2 Å⁻¹)
    assert corrected_errors[-1] < 1e-7, corrected_errors
    assert corrected_errors[-1] < 1e-3 * raw_errors[-1]


# ---------------------------------------------------------------------------------------------
# 4. invariances, routes, threads


def power_spectrum(calc, frames):
    return lode_rs.PowerSpectrum(calc).compute(frames).values


@pytest.mark.parametrize("p", [0, 1, 2, 3, 4, 5, 6])
def test_invariances(p):
    atoms = random_slab(7)
    calc = lode(exponent=p, accuracy=1e-9)
    reference = calc.compute(atoms).values
    invariant = power_spectrum(calc, atoms)
    tol = 1e-7 * np.abs(reference).max()

    moved = atoms.copy()
    moved.positions += 0.37 * atoms.cell[0] + 0.81 * atoms.cell[1] + [0, 0, 2.3]
    np.testing.assert_allclose(calc.compute(moved).values, reference, atol=tol, rtol=0)

    order = np.random.default_rng(0).permutation(len(atoms))
    np.testing.assert_allclose(calc.compute(atoms[order]).values, reference[order],
                               atol=tol, rtol=0)

    supercell = atoms.repeat((2, 1, 1))
    np.testing.assert_allclose(calc.compute(supercell).values[: len(atoms)], reference,
                               atol=tol, rtol=0)

    # any rotation (the normal leaves z), and the open vector at index 0
    rotation = Rotation.from_euler("zyx", [0.4, 0.9, -0.3]).as_matrix()
    rotated = atoms.copy()
    rotated.positions = atoms.positions @ rotation.T
    rotated.set_cell(atoms.cell[:] @ rotation.T, scale_atoms=False)
    rotated = reorder_axes(rotated, 0)
    ps_tol = 1e-7 * np.abs(invariant).max()
    np.testing.assert_allclose(power_spectrum(calc, rotated), invariant, atol=ps_tol, rtol=0)
    # a rotation about the normal keeps the l = 0 coefficients
    about = Rotation.from_euler("z", 1.1).as_matrix()
    turned = atoms.copy()
    turned.positions = atoms.positions @ about.T
    turned.set_cell(atoms.cell[:] @ about.T, scale_atoms=False)
    np.testing.assert_allclose(calc.compute(turned).values[..., 0], reference[..., 0],
                               atol=tol, rtol=0)


def test_routes_and_threads():
    atoms = random_slab(11)
    for method in ("auto", "reciprocal", "ewald", "mesh"):
        calc = lode(exponent=1, method=method)
        (plan,) = calc.routes(atoms)
        assert plan["route"] == "slab"
        assert plan["inner_route"] in ("reciprocal", "ewald", "mesh")
        if method != "auto":
            assert plan["inner_route"] == method
        assert plan["length"] > np.ptp(atoms.positions[:, 2])
        one = calc.compute(atoms, n_threads=1).values
        two = calc.compute(atoms, n_threads=2).values
        assert one.tobytes() == two.tobytes()
    reciprocal = lode(exponent=1, method="reciprocal", accuracy=1e-8).compute(atoms).values
    for method in ("ewald", "mesh"):
        other = lode(exponent=1, method=method, accuracy=1e-8).compute(atoms).values
        np.testing.assert_allclose(other, reciprocal, atol=4e-8, rtol=0)
    energy_one = electrostatic_energy(rocksalt_slab(4), n_threads=1)
    energy_two = electrostatic_energy(rocksalt_slab(4), n_threads=2)
    assert energy_one.tobytes() == energy_two.tobytes()


def test_species_channels_of_a_slab_are_finite_and_the_charge_channel_is_their_sum():
    atoms = random_slab(2)
    for p in (1, 2, 3):
        species = lode(exponent=p, accuracy=1e-9).compute(atoms).values
        charges = lode(exponent=p, accuracy=1e-9, charges=True).compute(atoms).values
        assert np.isfinite(species).all()
        # Na is channel 0 (Z = 11), Cl channel 1 (Z = 17)
        np.testing.assert_allclose(charges[:, 0], species[:, 0] - species[:, 1],
                                   atol=1e-8, rtol=0)


# ---------------------------------------------------------------------------------------------
# 5. bad input


def test_bad_input():
    atoms = random_slab(1)
    wire = atoms.copy()
    wire.pbc = [True, False, False]
    with pytest.raises(lode_rs.InvalidInputError, match="wires"):
        lode().compute(wire)
    with pytest.raises(lode_rs.InvalidInputError, match="wires"):
        electrostatic_energy(wire)
    nan = atoms.copy()
    nan.positions[0, 2] = np.nan
    with pytest.raises(lode_rs.InvalidInputError, match="not finite"):
        lode().compute(nan)
    charged = atoms.copy()
    charged.set_initial_charges(np.ones(len(atoms)))
    with pytest.raises(lode_rs.InvalidInputError, match="charged slab"):
        electrostatic_energy(charged)
    with pytest.raises(lode_rs.InvalidInputError, match="charged slab"):
        electrostatic_energy(charged, forces=True)
    with pytest.raises(lode_rs.InvalidInputError, match="wires"):
        electrostatic_energy(wire, forces=True)
    far = atoms.copy()
    far.positions[0, 2] = 1e7
    with pytest.raises(lode_rs.InvalidInputError, match="spread over"):
        lode().compute(far)


@pytest.mark.parametrize("p", [0, 1, 2, 3, 6])
@pytest.mark.parametrize("method", ["auto", "reciprocal"])
def test_requested_accuracy_is_delivered(p, method):
    """The contract of docs/math.md §7 (absolute error per unit source) against the slab route
    at 1e-11: 4 sources per channel, so at most 4 × the request."""
    atoms = random_slab(9)
    reference = lode(exponent=p, accuracy=1e-11, method="reciprocal").compute(atoms).values
    for accuracy in (1e-4, 1e-7):
        values = lode(exponent=p, accuracy=accuracy, method=method).compute(atoms).values
        error = np.abs(values - reference).max()
        assert error < 4 * accuracy, (accuracy, error)
