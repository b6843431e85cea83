//! What a short-range pair route (an Ewald or mesh step) drops in a small cell: the periodic
//! images beyond its table's reach, bounded on the structure's own lattice (`docs/math.md` §7).
//!
//! Each dropped image `y` of source `j` seen from centre `i` changes a value `c_nlm(i)` by
//! `w_j f_nl(|y|) Y_lm(ŷ)`, at most `|w_j| G(|y|)` with `G` the table's non-increasing envelope
//! of `max_nl |f_nl| √((2l + 1)/4π)` ([`LodeRadialTable::image_size`]). Per unit source the
//! dropped images therefore add at most
//!
//! ```text
//! B = max_{i,j} Σ_{x ∈ L, |r_ij + x| > d_reach} G(|r_ij + x|)
//! ```
//!
//! (`r_ij` the pair's vector, `L` the lattice, `x ≠ 0` for `i = j`): the sum runs over the
//! lattice points up to the scan's end, and the rest is bounded by
//! [`LodeRadialTable::image_continuation_bound`]. Unlike the continuum estimate (the average over
//! the lattice's shift) this holds for the structure at hand; it is loose only by the alignment
//! of harmonics and signs it assumes. [`image_tail`] avoids the pair sum where it can:
//!
//! 1. the rigorous integral bound ([`LodeRadialTable::image_tail_bound`] with the covering
//!    radius `ρ`) is within the allowance: it is used;
//! 2. every face distance exceeds `2 d_end` (`d_end` the end of the scan): a ball of radius
//!    `d_end` holds at most one image of any point, so `B ≤ G(d_reach) +` the continuation;
//! 3. the continuum estimate (`ρ = 0`, the average over shifts) is below 1/16 of the
//!    allowance: it is used (calibrated: four times it covers every shift in the unit test of
//!    `LodeRadialTable::lattice_tail_bound`; large cells, far from the allowance, never pay for
//!    the pair sum);
//! 4. otherwise the pair sum `B` if its (pair, lattice point) terms are at most
//!    [`MAX_IMAGE_TERMS`], else the smaller of the integral bound and four times the continuum
//!    estimate.

use crate::radial::LodeRadialTable;
use crate::systems::{System, Vec3};

/// Largest number of (pair, lattice point) terms summed by [`image_tail`] (a few ms).
pub(super) const MAX_IMAGE_TERMS: f64 = 4e6;

/// Bound `B` (module documentation) on the error per unit source of a pair route with `table`
/// in `system`'s cell from the images beyond the table's reach, to be held to `allowance`
/// (0 for a table without reach), and whether it came from the pair sum over the atoms' positions
/// (case 4 of the module documentation): such a bound, and the route chosen from it, holds for
/// these positions only, so the plan must not be reused for the same cell with other positions
/// (`super::cell_cache`); the other cases depend on the cell alone.
pub(super) fn image_tail(table: &LodeRadialTable, system: &System, allowance: f64) -> (f64, bool) {
    let cell = system.cell();
    let volume = cell.volume();
    let rho = cell.covering_radius();
    let integral = table.image_tail_bound(volume, rho);
    if integral <= allowance {
        return (integral, false);
    }
    let d_end = table.image_scan_end().max(table.reach());
    let faces = cell.face_distances();
    if faces.iter().all(|&f| f > 2.0 * d_end) {
        let nearest = table.image_size(table.reach() * (1.0 + 1e-12));
        return (
            integral.min(nearest + table.image_continuation_bound(volume, rho, d_end)),
            false,
        );
    }
    let continuum = table.image_tail_bound(volume, 0.0);
    if continuum <= allowance / 16.0 {
        return (continuum, false);
    }
    let fallback = integral.min(4.0 * continuum);
    // every pair vector, wrapped into the cell, is within 2ρ of the origin
    let radius = d_end + 2.0 * rho;
    let n = system.size() as f64;
    let box_points: f64 = faces
        .iter()
        .map(|&f| 2.0 * (radius / f).ceil() + 3.0)
        .product();
    let ball_points = 4.0 / 3.0 * std::f64::consts::PI * (radius + rho).powi(3) / volume;
    if n * n * box_points.min(ball_points) > MAX_IMAGE_TERMS || box_points > 8.0 * MAX_IMAGE_TERMS {
        return (fallback, false);
    }
    let m: Vec<i32> = faces
        .iter()
        .map(|&f| (radius / f).ceil() as i32 + 1)
        .collect();
    let mut lattice: Vec<Vec3> = Vec::new();
    for a in -m[0]..=m[0] {
        for b in -m[1]..=m[1] {
            for c in -m[2]..=m[2] {
                let x = cell.shift_vector([a, b, c]);
                if norm(x) <= radius {
                    lattice.push(x);
                }
            }
        }
    }
    if n * n * lattice.len() as f64 > MAX_IMAGE_TERMS {
        return (fallback, false);
    }
    let positions: Vec<Vec3> = system.positions().iter().map(|&r| cell.wrap(r)).collect();
    let mut worst = 0.0_f64;
    for ri in &positions {
        for rj in &positions {
            let r = cell.wrap(std::array::from_fn(|k| rj[k] - ri[k]));
            // the pair itself (i = j, x = 0) is at d = 0 ≤ d_reach: never dropped
            let sum: f64 = lattice
                .iter()
                .map(|x| table.image_size(norm(std::array::from_fn(|k| r[k] + x[k]))))
                .sum();
            worst = worst.max(sum);
        }
    }
    // images outside the enumerated ball are beyond d_end
    let direct = worst + table.image_continuation_bound(volume, rho, d_end);
    (direct.min(integral), true)
}

fn norm(x: Vec3) -> f64 {
    (x[0] * x[0] + x[1] * x[1] + x[2] * x[2]).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::radial::{GtoBasis, LodePairRadialIntegral, RadialIntegral};
    use ndarray::Array2;

    /// The case that missed the request by 1.2× before (a 6 Å cube, σ = 2 Å, p = 2, the Ewald
    /// table of `η = 2^{1/4} σ` at a quarter of 1e-8): for every pair of 4 atoms, the images
    /// beyond the reach summed by brute force with the exact integral (`Σ_x max_n |f_nl| Y_l`
    /// per `l`, out to the scan's end plus 2 widths) stay below the direct bound, which is
    /// below the integral bound; the bound is not vacuous: the signed `l = 0` sum of the worst
    /// pair is a sizeable fraction of it.
    #[test]
    fn direct_bound_holds_against_exact_image_sums() {
        let basis = GtoBasis::new(3, 3.0).unwrap();
        let l_max = 2;
        let (sigma, eta) = (2.0, 2.0 * 2f64.powf(0.25));
        let table =
            LodeRadialTable::ewald_short_range(&basis, l_max, 2, sigma, eta, 2.5e-9).unwrap();
        let length = 6.0;
        let cell = [[length, 0.0, 0.0], [0.0, length, 0.0], [0.0, 0.0, length]];
        let positions = vec![
            [0.3, 1.1, 5.2],
            [4.4, 0.7, 2.9],
            [2.2, 5.1, 1.3],
            [3.9, 3.3, 4.6],
        ];
        let system = System::new(positions.clone(), vec![11, 17, 11, 17], cell, [true; 3]).unwrap();
        // allowance 0: no shortcut, the pair sum itself
        let (bound, _) = image_tail(&table, &system, 0.0);
        let integral = table.image_tail_bound(length.powi(3), system.cell().covering_radius());
        assert!(bound <= integral, "{bound:e} > {integral:e}");
        let d_max = table.image_scan_end() + 2.0 * eta;
        let exact = LodePairRadialIntegral::new(&basis, l_max, *table.kernel(), d_max).unwrap();
        let mut values = Array2::zeros((3, l_max + 1));
        let m = (d_max / length).ceil() as i32 + 1;
        let y00 = (0.25 / std::f64::consts::PI).sqrt();
        let (mut worst, mut worst_signed) = (0.0_f64, 0.0_f64);
        for ri in &positions {
            for rj in &positions {
                let mut per_l = vec![0.0; l_max + 1];
                let mut signed = [0.0; 3];
                for a in -m..=m {
                    for b in -m..=m {
                        for c in -m..=m {
                            let y: Vec3 = std::array::from_fn(|k| {
                                rj[k] - ri[k] + length * [a, b, c][k] as f64
                            });
                            let d = norm(y);
                            if d <= table.reach() || d > d_max {
                                continue;
                            }
                            exact.compute(d, values.view_mut(), None);
                            for l in 0..=l_max {
                                let y_l =
                                    ((2 * l + 1) as f64 / (4.0 * std::f64::consts::PI)).sqrt();
                                let largest =
                                    (0..3).fold(0.0_f64, |s, n| s.max(values[[n, l]].abs()));
                                per_l[l] += largest * y_l;
                            }
                            for (n, s) in signed.iter_mut().enumerate() {
                                *s += values[[n, 0]] * y00;
                            }
                        }
                    }
                }
                worst = per_l.iter().fold(worst, |w, &s| w.max(s));
                worst_signed = signed.iter().fold(worst_signed, |w, &s| w.max(s.abs()));
            }
        }
        assert!(worst <= bound, "brute force {worst:e} > bound {bound:e}");
        assert!(
            worst_signed >= 0.2 * bound,
            "signed {worst_signed:e}, bound {bound:e}"
        );
        println!("bound {bound:e}, brute force {worst:e}, signed l = 0 {worst_signed:e}, integral {integral:e}");
    }
}
