//! The error model of the mesh route ([`super::mesh`], `docs/math.md` §8.4): the mesh spacing
//! for a spline order and an accuracy (the mesh's part of the accuracy contract, §7), and the
//! mesh dimensions for a cell.
//!
//! Long range, per channel `a` and column `q = (n, l, m)`:
//! `c^a_q(i) = Σ_{0<|k|<k_c} (4π/V) ĝ_η(k) Ĩ_nl(k) i^l Y_lm(k̂) Σ_{j∈a} w_j e^{ik·(r_i − r_j)}`,
//! the same terms as the Ewald route's reciprocal sum (same `η`, same `k_c`, same `k = 0`
//! handling), with `i^l = φ_l` (even l) or `−iφ_l` (odd l).
//!
//! # Error model
//! Per unit source, a mode `k` of the sum is reproduced by spreading and interpolating with
//! B-splines of order `p` on a mesh of spacing `h_α = |a_α|/K_α` along each lattice vector, up
//! to aliasing terms of relative size `≈ 2 Σ_{j≠0} |θ_α/(θ_α + 2πj)|^p` per axis and per step
//! (spread, interpolation), `θ_α = k·a_α/K_α`, `|θ_α| ≤ |k| h`, `h = max_α h_α`. Bounding the
//! sum over modes by its integral, as for the truncation ([`super::reciprocal::k_cutoff_for`]'s tail bound), the
//! aliasing error of a coefficient per unit source is at most
//! $$ E(h, p) = \frac{2}{π} \int_0^{k_c} k^2 |ĝ_η(k)| \max_{nl} |Ĩ_{nl}(k)|\ C\,δ_p(kh)\, dk,
//!    \quad δ_p(θ) = \sum_{j=1}^{3} \Big(\frac{θ}{2πj − θ}\Big)^p + \Big(\frac{θ}{2πj + θ}\Big)^p, $$
//! `C = 1.5`: fitted to measurements, the strict bound (`C = 12`: spread and interpolation,
//! three axes, the mode's own normalisation, every axis at its worst `θ` at once) is 25–250
//! times the measured error. With `C = 1.5` the measured aliasing error of the unit test below
//! is at most 0.25× its budget.
//! The mesh gets its own quarter of the accuracy budget ([`MESH_SHARE`]), next to the short
//! range's and the truncation's: the largest `h < π/k_c` with `E(h, p) ≤ accuracy/4` is used
//! (bisection), so every kept mode is strictly inside the mesh's Nyquist box. Measured errors
//! stay below the request (tests in `tests/test_lode.py`).

use crate::math::power_law::PowerLaw;
use crate::radial::RadialIntegral;
use crate::systems::System;

/// Fraction of the accuracy budget given to the mesh's aliasing error.
pub(in crate::expansion::lode) const MESH_SHARE: f64 = 0.25;
/// Multiplicity `C` of the per-axis aliasing term (see the module docs).
const ALIASING_MULTIPLICITY: f64 = 1.5;
/// Points of the tabulated envelope `max_nl |Ĩ_nl(k)|` on `[0, k_max]`.
const ENVELOPE_POINTS: usize = 512;
/// Spline orders the automatic choice tries.
pub(in crate::expansion::lode) const AUTO_ORDERS: [usize; 5] = [4, 5, 6, 8, 10];

/// `max_nl |Ĩ_nl(k)|` on a uniform grid of `[0, k_max]`.
pub(in crate::expansion::lode) struct Envelope {
    step: f64,
    values: Vec<f64>,
}

impl Envelope {
    pub fn new(radial: &dyn RadialIntegral, k_max: f64) -> Envelope {
        let mut block = ndarray::Array2::zeros((radial.n_max(), radial.l_max() + 1));
        let step = k_max / (ENVELOPE_POINTS - 1) as f64;
        let values = (0..ENVELOPE_POINTS)
            .map(|i| {
                radial.compute(i as f64 * step, block.view_mut(), None);
                block
                    .iter()
                    .filter(|v| v.is_finite())
                    .fold(0.0_f64, |m, v| m.max(v.abs()))
            })
            .collect();
        Envelope { step, values }
    }

    /// `(k, (2/π) k² |ĝ(k)| max_nl |Ĩ_nl(k)|)` at the grid points below `k_cutoff`.
    fn weights(&self, kernel: &PowerLaw, k_cutoff: f64) -> Vec<(f64, f64)> {
        self.values
            .iter()
            .enumerate()
            .map(|(i, v)| (i as f64 * self.step, *v))
            .take_while(|(k, _)| *k <= k_cutoff)
            .map(|(k, v)| {
                let g = if k == 0.0 {
                    // k² ĝ(k) → 4π e^0 for p = 1, 0 for p = 2, 3 (and finite ĝ(0) otherwise)
                    if kernel.exponent() == 1 {
                        4.0 * std::f64::consts::PI
                    } else {
                        0.0
                    }
                } else {
                    k * k * kernel.fourier(k).abs()
                };
                (k, 2.0 / std::f64::consts::PI * g * v)
            })
            .collect()
    }
}

/// `δ_p(θ)` of the module docs.
fn aliasing(theta: f64, order: usize) -> f64 {
    let two_pi = 2.0 * std::f64::consts::PI;
    (1..=3)
        .map(|j| {
            let s = two_pi * j as f64;
            (theta / (s - theta)).powi(order as i32) + (theta / (s + theta)).powi(order as i32)
        })
        .sum()
}

/// `E(h, p)` of the module docs (trapezoid rule on the envelope grid).
fn aliasing_error(weights: &[(f64, f64)], spacing: f64, order: usize) -> f64 {
    let f = |(k, w): (f64, f64)| w * ALIASING_MULTIPLICITY * aliasing(k * spacing, order);
    weights
        .windows(2)
        .map(|p| 0.5 * (p[1].0 - p[0].0) * (f(p[0]) + f(p[1])))
        .sum()
}

/// Largest mesh spacing `h < π/k_c` whose aliasing error `E(h, p)` is at most `budget`.
pub(in crate::expansion::lode) fn spacing_for(
    envelope: &Envelope,
    kernel: &PowerLaw,
    k_cutoff: f64,
    order: usize,
    budget: f64,
) -> f64 {
    let weights = envelope.weights(kernel, k_cutoff);
    let top = std::f64::consts::PI / k_cutoff * (1.0 - 1e-9);
    if aliasing_error(&weights, top, order) <= budget {
        return top;
    }
    let (mut low, mut high) = (0.0, top);
    for _ in 0..30 {
        let mid = 0.5 * (low + high);
        if aliasing_error(&weights, mid, order) <= budget {
            low = mid;
        } else {
            high = mid;
        }
    }
    low
}

/// Smallest `K ≥ n` whose only prime factors are 2, 3, 5 and 7 (fast FFT sizes).
fn fft_size(n: usize) -> usize {
    let mut k = n.max(1);
    loop {
        let mut r = k;
        for p in [2, 3, 5, 7] {
            while r.is_multiple_of(p) {
                r /= p;
            }
        }
        if r == 1 {
            return k;
        }
        k += 1;
    }
}

/// Mesh dimensions for spacing `h` along each lattice vector: `K_α ≥ |a_α|/h`, FFT-friendly.
pub(in crate::expansion::lode) fn mesh_dims(system: &System, spacing: f64) -> [usize; 3] {
    let m = system.cell().matrix();
    let mut dims = [0; 3];
    for (d, a) in dims.iter_mut().zip(m) {
        let length = (a[0] * a[0] + a[1] * a[1] + a[2] * a[2]).sqrt();
        *d = fft_size((length / spacing).ceil() as usize);
    }
    dims
}

#[cfg(test)]
mod tests {
    use super::super::mesh::long_range_on_mesh;
    use super::super::reciprocal::KspaceSum;
    use super::*;
    use crate::kspace::Sources;

    #[test]
    fn fft_sizes_are_smooth() {
        assert_eq!(fft_size(1), 1);
        assert_eq!(fft_size(11), 12);
        assert_eq!(fft_size(13), 14);
        assert_eq!(fft_size(97), 98);
        assert_eq!(fft_size(121), 125);
    }

    #[test]
    fn aliasing_error_grows_with_spacing_and_falls_with_order() {
        let basis = crate::radial::GtoBasis::new(4, 3.0).unwrap();
        let radial = crate::radial::KspaceRadialIntegral::new(&basis, 3).unwrap();
        let envelope = Envelope::new(&radial, 6.0);
        let kernel = PowerLaw::new(1, 2.0).unwrap();
        let w = envelope.weights(&kernel, 3.0);
        assert!(aliasing_error(&w, 0.5, 6) < aliasing_error(&w, 0.8, 6));
        assert!(aliasing_error(&w, 0.8, 8) < aliasing_error(&w, 0.8, 6));
        let loose = spacing_for(&envelope, &kernel, 3.0, 6, 1e-4);
        let tight = spacing_for(&envelope, &kernel, 3.0, 6, 1e-8);
        assert!(
            tight < loose && loose < std::f64::consts::PI / 3.0,
            "{tight} {loose}"
        );
    }

    /// The error model bounds the measured aliasing error: mesh against the explicit k-space
    /// sum with the same kernel, k_c and basis, on a dense triclinic cell (12 atoms, two
    /// channels of 6 unit sources), for several widths, exponents, orders and budgets.
    #[test]
    fn error_model_bounds_the_measured_aliasing() {
        use crate::math::spherical_harmonics::SphericalHarmonics;
        use crate::radial::{GtoBasis, KspaceRadialIntegral};
        let (n_max, l_max) = (4, 3);
        let basis = GtoBasis::new(n_max, 3.0).unwrap();
        let radial = KspaceRadialIntegral::new(&basis, l_max).unwrap();
        let harmonics = SphericalHarmonics::new(l_max).unwrap();
        let envelope = Envelope::new(&radial, 8.0);
        let cell = [[7.0, 0.0, 0.0], [1.3, 6.2, 0.0], [-0.8, 1.1, 6.6]];
        let positions: Vec<[f64; 3]> = (0..12)
            .map(|i| {
                let f = [
                    ((i * 37 + 3) % 101) as f64 / 101.0,
                    ((i * 59 + 11) % 103) as f64 / 103.0,
                    ((i * 71 + 5) % 107) as f64 / 107.0,
                ];
                [
                    f[0] * cell[0][0] + f[1] * cell[1][0] + f[2] * cell[2][0],
                    f[0] * cell[0][1] + f[1] * cell[1][1] + f[2] * cell[2][1],
                    f[0] * cell[0][2] + f[1] * cell[1][2] + f[2] * cell[2][2],
                ]
            })
            .collect();
        let numbers = (0..12).map(|i| 1 + (i % 2)).collect();
        let system = System::new(positions, numbers, cell, [true; 3]).unwrap();
        let channels: Vec<usize> = (0..12).map(|i| i % 2).collect();
        let sources = Sources::new(system.positions(), &channels, None, 2).unwrap();
        let mut worst: f64 = 0.0;
        for p in [1, 3] {
            for eta in [1.2, 2.0] {
                let kernel = PowerLaw::new(p, eta).unwrap();
                let k_c = 5.5 / eta;
                let rb = KspaceSum {
                    kernel,
                    radial: &radial,
                    harmonics: &harmonics,
                    n_max,
                    l_max,
                    cells: None,
                };
                let exact = rb.compute(&system, &sources, k_c).unwrap();
                for order in [4, 6, 8, 10] {
                    for budget in [1e-4, 1e-6, 1e-8] {
                        if order == 4 && budget < 1e-4 {
                            continue; // a fine mesh, slow in debug builds
                        }
                        let h = spacing_for(&envelope, &kernel, k_c, order, budget);
                        let dims = mesh_dims(&system, h);
                        let mesh =
                            long_range_on_mesh(&rb, &system, &sources, k_c, dims, order).unwrap();
                        let err = mesh
                            .iter()
                            .zip(exact.iter())
                            .fold(0.0_f64, |m, (a, b)| m.max((a - b).abs()));
                        let ratio = err / budget;
                        worst = worst.max(ratio);
                        if std::env::var("MESH_ERROR_REPORT").is_ok() {
                            eprintln!(
                                "p {p} eta {eta} order {order} budget {budget:e} h {h:.3} \
                                 dims {dims:?} err/budget {ratio:.3}"
                            );
                        }
                    }
                }
            }
        }
        assert!(worst < 1.0, "measured aliasing error {worst} × the budget");
    }
}
