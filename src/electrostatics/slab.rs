//! Coulomb energy of a slab (`docs/math.md` §15.3): periodic along two lattice vectors, open
//! along the third (any of the three).
//!
//! With the heights `z_j = r_j · n̂` along the plane's normal, the slab's energy per in-plane cell
//! is the Ewald energy of a vacuum cell of height `L = T + D` (`T` the thickness) plus the
//! exact `k_∥ = 0` correction, which for point charges is closed form:
//!
//! `E_slab = E_3D(L) + 2π M_z² / V`,   `M_z = Σ_i q_i z_i`,   `V = A L`,
//!
//! (the difference between the sheets' exact potential `−2π|Δ|` and the `L`-periodic one with
//! `k = 0` dropped, `−2π|Δ| + 2πΔ²/L + πL/3`, summed over neutral pairs: Yeh and Berkowitz's
//! dipole term, here exact for the `k_∥ = 0` line). The `k_∥ ≠ 0` terms' images decay like
//! `e^(−|k_∥|(L − T))`: the gap `D` is the smallest at which their bound
//! `(1/A) Σ_{k_∥≠0} (2π/k) e^(−k D) · 2.5 (Σ|q|)²` is below `ε Σ q² / a` (`a` the longer in-plane
//! vector), a tenth of the Ewald sum's own budget. The slab must be neutral: a charged sheet's
//! energy per cell is infinite.

//!
//! Gradients (`docs/math.md` §15.4): the Ewald gradients of the vacuum cell (strain deforming
//! its third vector with the rest) plus those of the dipole term, `∂/∂r_i = 4π M_z q_i n̂/V`
//! and, under `x → (1 + ε) x` (`M_z` scales by `1 + n̂ᵀεn̂`, `V` by `1 + tr ε`),
//! `∂/∂ε_ab = (2π M_z²/V)(2 n_a n_b − δ_ab)`.

use super::ewald::{ewald_energy, EwaldParameters};
use super::gradients::ewald_gradients;
use crate::error::Result;
use crate::systems::{Mat3, SlabGeometry, System, Vec3};

/// The vacuum cell's height is a whole number of these (Å): it stays the same while the atoms
/// move a little (smooth finite differences).
const LENGTH_STEP: f64 = 1.0;

/// A neutral slab's vacuum cell and dipole term.
struct Vacuum {
    system: System,
    parameters: EwaldParameters,
    normal: Vec3,
    /// `M_z = Σ_i q_i z_i`.
    dipole: f64,
}

/// The vacuum cell of a neutral slab (`None` when every charge is zero).
fn vacuum(system: &System, charges: &[f64], accuracy: f64) -> Result<Option<Vacuum>> {
    let slab = SlabGeometry::new(system)?;
    let total: f64 = charges.iter().sum();
    let scale: f64 = charges.iter().map(|q| q.abs()).sum();
    if total.abs() > 1e-8 * scale.max(1.0) {
        crate::bail_input!(
            "the charges of this slab sum to {total:.6}: a charged slab (sheet) has an infinite \
             Coulomb energy per cell; neutralise the charges"
        );
    }
    let pi = std::f64::consts::PI;
    let squares: f64 = charges.iter().map(|q| q * q).sum();
    if squares == 0.0 {
        return Ok(None);
    }
    let longest = system
        .cell()
        .matrix()
        .iter()
        .zip(system.cell().pbc())
        .filter(|(_, periodic)| *periodic)
        .map(|(a, _)| (a[0] * a[0] + a[1] * a[1] + a[2] * a[2]).sqrt())
        .fold(0.0, f64::max);
    let target = 0.1 * accuracy * squares / longest;
    let bound = |gap: f64| {
        let scale = 2.5 * scale * scale / slab.area;
        scale * slab.in_plane_sum(|k| 2.0 * pi / k * (-k * gap).exp(), target / scale)
    };
    let mut gap = longest.max(1.0);
    while bound(gap) > target {
        gap *= 1.05;
    }
    let length = ((slab.thickness() + gap) / LENGTH_STEP).ceil() * LENGTH_STEP;
    let vacuum = slab.vacuum_system(system, length)?;
    let parameters = EwaldParameters::for_accuracy(&vacuum, accuracy)?;
    let dipole: f64 = charges.iter().zip(&slab.heights).map(|(q, z)| q * z).sum();
    Ok(Some(Vacuum {
        system: vacuum,
        parameters,
        normal: slab.normal,
        dipole,
    }))
}

/// Coulomb energy of a neutral slab in units of `k_e` (e²/Å), relative accuracy `accuracy`.
pub fn slab_energy(system: &System, charges: &[f64], accuracy: f64) -> Result<f64> {
    let Some(vacuum) = vacuum(system, charges, accuracy)? else {
        return Ok(0.0);
    };
    let energy = ewald_energy(&vacuum.system, charges, &vacuum.parameters)?;
    let m = vacuum.dipole;
    Ok(energy + 2.0 * std::f64::consts::PI * m * m / vacuum.system.cell().volume())
}

/// `∂E/∂r_j` and `∂E/∂ε` of a neutral slab in units of `k_e` (see the module documentation).
pub fn slab_gradients(
    system: &System,
    charges: &[f64],
    accuracy: f64,
) -> Result<(Vec<Vec3>, Mat3)> {
    let Some(vacuum) = vacuum(system, charges, accuracy)? else {
        return Ok((vec![[0.0; 3]; system.size()], [[0.0; 3]; 3]));
    };
    let (mut positions, mut strain) = ewald_gradients(&vacuum.system, charges, &vacuum.parameters)?;
    let pi = std::f64::consts::PI;
    let volume = vacuum.system.cell().volume();
    let m = vacuum.dipole;
    let n = vacuum.normal;
    for (g, q) in positions.iter_mut().zip(charges) {
        for (x, na) in g.iter_mut().zip(&n) {
            *x += 4.0 * pi * m * q * na / volume;
        }
    }
    let term = 2.0 * pi * m * m / volume;
    for (a, row) in strain.iter_mut().enumerate() {
        for (b, x) in row.iter_mut().enumerate() {
            *x += term * (2.0 * n[a] * n[b] - if a == b { 1.0 } else { 0.0 });
        }
    }
    Ok((positions, strain))
}
