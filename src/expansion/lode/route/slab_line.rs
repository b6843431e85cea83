//! The `k_∥ = 0` line of a slab (`docs/math.md` §15.1–15.2): the exact one-dimensional term
//! minus the one the vacuum cell's 3D sum contains, as a correction added to the 3D route's
//! coefficients.
//!
//! Per unit source at height difference `Δ = z_i − z_j`, with `b_nl(k) = 8π ĝ(k) Ĩ_nl(k) φ_l`
//! (`φ_l` of §3b) and `trig_l = cos` (even `l`), `sin` (odd `l`):
//!
//! * exact: `h_nl(Δ) = (1/2π) ∫₀^∞ [b_nl(k) trig_l(kΔ) − δ_l0 ρ_p 8π ĝ(k) Ĩ_n0(0)] dk`, where
//!   `ρ_p = 1` for `p = 1, 2` (the charged sheet's infinite constant is dropped, §15.1) and 0
//!   otherwise;
//! * in the vacuum cell of height `L`: `h^L_nl(Δ) = (1/L) Σ_{m ≥ 1} b_nl(2πm/L) trig_l(2πmΔ/L)`
//!   plus, for `p = 0` and `p ≥ 4`, the `k = 0` term `(1/L) 4π ĝ(0) Ĩ_n0(0)` on `l = 0`.
//!
//! `χ_nl = h_nl − h^L_nl` is smooth over the slab's heights (the vacuum cell's images are at
//! least the gap away), so the pair sum `(1/A) Σ_j w_j χ_nl(z_i − z_j)` is evaluated through a
//! tensor Chebyshev interpolation in `(z_i, z_j)` with `K` nodes per variable
//! ([`super::slab_interp`]): `O(N K + K²)` per channel instead of `O(N²)`. The correction to
//! `c^a_nlm(i)` is `Y_lm(n̂) (1/A) Σ_{j∈a} w_j χ_nl(z_i − z_j)` (only the harmonics of the
//! normal direction). The kernel also gives `χ'(Δ)` and `∂χ/∂L` for the gradients
//! ([`super::slab_gradients`]).

use ndarray::Array3;
use rayon::prelude::*;

use super::super::calculator::Common;
use super::super::real_space::AtomChannels;
use super::slab_interp::{Interpolant, PADDING};
use crate::error::Result;
use crate::math::quadrature::gauss_legendre;
use crate::radial::{KspaceRadialIntegral, RadialIntegral};
use crate::systems::SlabGeometry;

/// Gauss–Legendre points per panel of the `k` quadrature.
const POINTS_PER_PANEL: usize = 20;
/// Geometric levels (ratio 4) of the first panel for the `log k` kernels `p = 3, 5`.
const GRADED_LEVELS: i32 = 12;

/// `χ_nl(Δ)` of one slab: the quadrature of `h` and the lattice sum of `h^L`, tabulated at
/// their `k` nodes.
pub(in crate::expansion::lode) struct LineKernel {
    n_max: usize,
    l_max: usize,
    /// `p = 1, 2`: `l = 0` is regularised (§15.1).
    regularised: bool,
    /// Quadrature nodes and weights (the weights include `1/2π`).
    nodes: Vec<f64>,
    weights: Vec<f64>,
    /// `b[q · n_cols + n (l_max + 1) + l] = b_nl(k_q)`; for a regularised `l = 0`,
    /// `8π ĝ (Ĩ_n0(k) − Ĩ_n0(0))`.
    b: Vec<f64>,
    /// `8π ĝ(k_q) Ĩ_n0(0)` (regularised kernels only), `[q · n_max + n]`.
    constant: Vec<f64>,
    /// `k_m = 2πm/L`, `b_nl(k_m)/L` and `b_nl'(k_m)/L`.
    lattice_nodes: Vec<f64>,
    lattice_b: Vec<f64>,
    lattice_slope: Vec<f64>,
    /// Height `L` of the vacuum cell.
    length: f64,
    /// The vacuum cell's `k = 0` term per `n` (zero for `p = 1, 2, 3`).
    k0: Vec<f64>,
}

impl LineKernel {
    /// The kernel of a slab of thickness `thickness` in a vacuum cell of height `length`, both
    /// integrals truncated at the k-space radial spline's range (`k_max`, beyond which the 3D
    /// routes' truncation bound already holds); evaluated for `|Δ|` up to the thickness plus
    /// twice the interpolation's padding.
    pub fn new(common: &Common, length: f64, thickness: f64) -> Result<LineKernel> {
        let h = &common.hypers;
        let (n_max, l_max) = (h.n_max, h.l_max);
        let n_cols = n_max * (l_max + 1);
        let p = h.exponent;
        let regularised = p == 1 || p == 2;
        let radial = KspaceRadialIntegral::new(&common.basis, l_max)?;
        let k_top = common.k_max;
        // panels narrow enough for the oscillation of trig(kΔ) Ĩ_nl(k) and for ĝ's Gaussian
        let extent = thickness + 2.0 * PADDING;
        let width = (1.0 / h.smearing).min(2.0 / (extent + 2.0 * common.basis_extent));
        let n_panels = (k_top / width).ceil().max(1.0) as usize;
        let width = k_top / n_panels as f64;
        let mut panels: Vec<(f64, f64)> = Vec::new();
        if p == 3 || p == 5 {
            let mut upper = width;
            for _ in 0..GRADED_LEVELS {
                panels.push((upper / 4.0, upper));
                upper /= 4.0;
            }
            panels.push((0.0, upper));
        } else {
            panels.push((0.0, width));
        }
        panels.extend((1..n_panels).map(|i| (i as f64 * width, (i + 1) as f64 * width)));
        let (x, w) = gauss_legendre(POINTS_PER_PANEL);
        let mut nodes = Vec::new();
        let mut weights = Vec::new();
        for &(a, b) in &panels {
            let half = 0.5 * (b - a);
            for (xi, wi) in x.iter().zip(&w) {
                nodes.push(a + half * (xi + 1.0));
                weights.push(half * wi / (2.0 * std::f64::consts::PI));
            }
        }
        let mut at_zero = ndarray::Array2::zeros((n_max, l_max + 1));
        radial.compute(0.0, at_zero.view_mut(), None);
        let i0: Vec<f64> = (0..n_max).map(|n| at_zero[[n, 0]]).collect();
        let row = |k: f64, regularise: bool| -> (Vec<f64>, Vec<f64>) {
            let mut values = ndarray::Array2::zeros((n_max, l_max + 1));
            radial.compute(k, values.view_mut(), None);
            let g = 8.0 * std::f64::consts::PI * common.kernel.fourier(k);
            let mut b = vec![0.0; n_cols];
            for n in 0..n_max {
                for l in 0..=l_max {
                    let phase = phase(l);
                    let value = if l == 0 && regularise {
                        values[[n, 0]] - i0[n]
                    } else {
                        values[[n, l]]
                    };
                    b[n * (l_max + 1) + l] = g * phase * value;
                }
            }
            let constant = if regularise {
                i0.iter().map(|v| g * v).collect()
            } else {
                Vec::new()
            };
            (b, constant)
        };
        let rows: Vec<(Vec<f64>, Vec<f64>)> =
            nodes.par_iter().map(|&k| row(k, regularised)).collect();
        let mut b = Vec::with_capacity(nodes.len() * n_cols);
        let mut constant = Vec::new();
        for (r, c) in rows {
            b.extend(r);
            constant.extend(c);
        }
        let step = 2.0 * std::f64::consts::PI / length;
        let n_lattice = (k_top / step).floor() as usize;
        let lattice_nodes: Vec<f64> = (1..=n_lattice).map(|m| m as f64 * step).collect();
        let lattice_rows: Vec<Vec<f64>> = lattice_nodes
            .par_iter()
            .map(|&k| row(k, false).0.iter().map(|v| v / length).collect())
            .collect();
        let lattice_b = lattice_rows.concat();
        // b_nl'(k) = 8π φ_l (ĝ'(k) Ĩ_nl(k) + ĝ(k) Ĩ_nl'(k)), for ∂χ/∂L
        let slope_rows: Vec<Vec<f64>> = lattice_nodes
            .par_iter()
            .map(|&k| {
                let mut values = ndarray::Array2::zeros((n_max, l_max + 1));
                let mut slopes = ndarray::Array2::zeros((n_max, l_max + 1));
                radial.compute(k, values.view_mut(), Some(slopes.view_mut()));
                let eight_pi = 8.0 * std::f64::consts::PI;
                let (g, dg) = (
                    common.kernel.fourier(k),
                    common.kernel.fourier_derivative(k),
                );
                let mut out = vec![0.0; n_cols];
                for n in 0..n_max {
                    for l in 0..=l_max {
                        out[n * (l_max + 1) + l] =
                            eight_pi * phase(l) * (dg * values[[n, l]] + g * slopes[[n, l]])
                                / length;
                    }
                }
                out
            })
            .collect();
        let lattice_slope = slope_rows.concat();
        let k0 = match common.kernel.fourier_at_zero() {
            Some(g0) if p != 3 => i0
                .iter()
                .map(|v| 4.0 * std::f64::consts::PI * g0 * v / length)
                .collect(),
            _ => vec![0.0; n_max],
        };
        Ok(LineKernel {
            n_max,
            l_max,
            regularised,
            nodes,
            weights,
            b,
            constant,
            lattice_nodes,
            lattice_b,
            lattice_slope,
            length,
            k0,
        })
    }

    /// Columns `n (l_max + 1) + l`.
    pub fn n_cols(&self) -> usize {
        self.n_max * (self.l_max + 1)
    }

    /// `χ_nl(Δ) = h_nl(Δ) − h^L_nl(Δ)` into `out` (length `n_max (l_max + 1)`).
    pub fn chi(&self, delta: f64, out: &mut [f64]) {
        self.exact(delta, out);
        let (n_cols, lp) = (self.n_cols(), self.l_max + 1);
        for (m, &k) in self.lattice_nodes.iter().enumerate() {
            let (s, c) = (k * delta).sin_cos();
            let trig = [c, s];
            let row = &self.lattice_b[m * n_cols..(m + 1) * n_cols];
            for (col, (o, b)) in out.iter_mut().zip(row).enumerate() {
                *o -= b * trig[(col % lp) & 1];
            }
        }
        for n in 0..self.n_max {
            out[n * lp] -= self.k0[n];
        }
    }

    /// The exact line `h_nl(Δ)` into `out` (length `n_max (l_max + 1)`).
    fn exact(&self, delta: f64, out: &mut [f64]) {
        let (n_cols, lp) = (self.n_cols(), self.l_max + 1);
        out.fill(0.0);
        for (q, (&k, &w)) in self.nodes.iter().zip(&self.weights).enumerate() {
            let (s, c) = (k * delta).sin_cos();
            let trig = [w * c, w * s];
            let row = &self.b[q * n_cols..(q + 1) * n_cols];
            for (col, (o, b)) in out.iter_mut().zip(row).enumerate() {
                *o += b * trig[(col % lp) & 1];
            }
            if self.regularised {
                let half = (0.5 * k * delta).sin();
                let cos_minus_one = -2.0 * half * half;
                for n in 0..self.n_max {
                    out[n * lp] += w * self.constant[q * self.n_max + n] * cos_minus_one;
                }
            }
        }
    }
}

impl LineKernel {
    /// The slope `dχ_nl/dΔ` into `out` (length `n_max (l_max + 1)`): the same sums as
    /// [`chi`](Self::chi) with `trig_l(kΔ)` replaced by its derivative.
    pub fn chi_slope(&self, delta: f64, out: &mut [f64]) {
        let (n_cols, lp) = (self.n_cols(), self.l_max + 1);
        out.fill(0.0);
        for (q, (&k, &w)) in self.nodes.iter().zip(&self.weights).enumerate() {
            let (s, c) = (k * delta).sin_cos();
            let trig = [-w * k * s, w * k * c];
            let row = &self.b[q * n_cols..(q + 1) * n_cols];
            for (col, (o, b)) in out.iter_mut().zip(row).enumerate() {
                *o += b * trig[(col % lp) & 1];
            }
            if self.regularised {
                for n in 0..self.n_max {
                    out[n * lp] -= w * self.constant[q * self.n_max + n] * k * s;
                }
            }
        }
        for (m, &k) in self.lattice_nodes.iter().enumerate() {
            let (s, c) = (k * delta).sin_cos();
            let trig = [-k * s, k * c];
            let row = &self.lattice_b[m * n_cols..(m + 1) * n_cols];
            for (col, (o, b)) in out.iter_mut().zip(row).enumerate() {
                *o -= b * trig[(col % lp) & 1];
            }
        }
    }

    /// `∂χ_nl/∂L` at fixed `Δ` into `out`: only `h^L` depends on `L`, through `k_m = 2πm/L`
    /// and its `1/L` factors, `∂χ/∂L = (1/L) Σ_m [(b + k_m b') trig(k_m Δ) + b k_m Δ
    /// trig'(k_m Δ)]/L + k0/L` (`b`, `b'` at `k_m`, the `k = 0` term on `l = 0`).
    pub fn chi_length(&self, delta: f64, out: &mut [f64]) {
        let (n_cols, lp) = (self.n_cols(), self.l_max + 1);
        let inverse = 1.0 / self.length;
        out.fill(0.0);
        for (m, &k) in self.lattice_nodes.iter().enumerate() {
            let (s, c) = (k * delta).sin_cos();
            let trig = [c, s];
            let slope = [-s, c];
            let row = &self.lattice_b[m * n_cols..(m + 1) * n_cols];
            let drow = &self.lattice_slope[m * n_cols..(m + 1) * n_cols];
            for (col, o) in out.iter_mut().enumerate() {
                let parity = (col % lp) & 1;
                *o += inverse
                    * ((row[col] + k * drow[col]) * trig[parity]
                        + row[col] * k * delta * slope[parity]);
            }
        }
        for n in 0..self.n_max {
            out[n * lp] += self.k0[n] * inverse;
        }
    }
}

/// `φ_l` of `docs/math.md` §3b: `(−1)^{l/2}` (even `l`), `(−1)^{(l+1)/2}` (odd `l`).
fn phase(l: usize) -> f64 {
    // ⌈l/2⌉ is l/2 for even l and (l + 1)/2 for odd l
    if l.div_ceil(2).is_multiple_of(2) {
        1.0
    } else {
        -1.0
    }
}

/// Spreads of the atoms on the interpolation nodes, per channel `[c K + b]`:
/// `S_c[b] = Σ_{j∈c} w_j ℓ_b(u_j)`, and with `slopes`, `T_c[b] = Σ_{j∈c} w_j ℓ_b'(u_j)` and
/// `U_c[b] = Σ_{j∈c} w_j u_j ℓ_b'(u_j)` (in atom order: deterministic).
pub(super) struct Spreads {
    pub values: Vec<f64>,
    pub slopes: Vec<f64>,
    pub moments: Vec<f64>,
}

pub(super) fn spread(
    interp: &Interpolant,
    slab: &SlabGeometry,
    atoms: &AtomChannels<'_>,
    slopes: bool,
) -> Spreads {
    let k = interp.count;
    let size = atoms.n_channels * k;
    let mut out = Spreads {
        values: vec![0.0; size],
        slopes: vec![0.0; if slopes { size } else { 0 }],
        moments: vec![0.0; if slopes { size } else { 0 }],
    };
    let mut basis = vec![0.0; k];
    let mut slope = vec![0.0; k];
    for (j, &z) in slab.heights.iter().enumerate() {
        let u = interp.reduced(z);
        let w = atoms.weight(j);
        let range = atoms.channel[j] * k..(atoms.channel[j] + 1) * k;
        if slopes {
            interp.basis_with_slopes(u, &mut basis, &mut slope);
            for ((t, m), d) in out.slopes[range.clone()]
                .iter_mut()
                .zip(&mut out.moments[range.clone()])
                .zip(&slope)
            {
                *t += w * d;
                *m += w * u * d;
            }
        } else {
            interp.basis(u, &mut basis);
        }
        for (s, l) in out.values[range].iter_mut().zip(&basis) {
            *s += w * l;
        }
    }
    out
}

/// `P_c[a][col] = Σ_b table_ab[col] S_c[b]` for a node table and a spread `[c K + b]`, laid out
/// `[(c K + a) n_cols + col]`.
pub(super) fn project(table: &[f64], spread: &[f64], count: usize, n_cols: usize) -> Vec<f64> {
    let n_channels = spread.len() / count;
    let mut projected = vec![0.0; n_channels * count * n_cols];
    for channel in 0..n_channels {
        for a in 0..count {
            let target = &mut projected[(channel * count + a) * n_cols..][..n_cols];
            for b in 0..count {
                let s = spread[channel * count + b];
                let chi = &table[(a * count + b) * n_cols..][..n_cols];
                for (t, c) in target.iter_mut().zip(chi) {
                    *t += c * s;
                }
            }
        }
    }
    projected
}

/// The allowed interpolation error on `χ` for `tolerance` per unit source: the correction is
/// `χ Y_lm / A` per unit source.
pub(super) fn allowed_error(kernel: &LineKernel, slab: &SlabGeometry, tolerance: f64) -> f64 {
    let largest_harmonic = ((2 * kernel.l_max + 1) as f64 / (4.0 * std::f64::consts::PI)).sqrt();
    tolerance * slab.area / largest_harmonic
}

/// Add `Y_lm(n̂) (1/A) Σ_{j∈a} w_j χ_nl(z_i − z_j)` to `out` `(N, n_channels, n_max n_lm)`;
/// `normal_harmonics` are `Y_lm(n̂)`, `tolerance` the allowed error per unit source. Returns
/// the number of Chebyshev nodes used.
pub(in crate::expansion::lode) fn add_line_correction(
    out: &mut Array3<f64>,
    kernel: &LineKernel,
    slab: &SlabGeometry,
    atoms: &AtomChannels<'_>,
    normal_harmonics: &[f64],
    tolerance: f64,
) -> Result<usize> {
    let interp = Interpolant::new(kernel, slab, allowed_error(kernel, slab, tolerance))?;
    add_interpolated(out, kernel, &interp, slab, atoms, normal_harmonics);
    Ok(interp.count)
}

/// [`add_line_correction`] with a fitted interpolant.
pub(super) fn add_interpolated(
    out: &mut Array3<f64>,
    kernel: &LineKernel,
    interp: &Interpolant,
    slab: &SlabGeometry,
    atoms: &AtomChannels<'_>,
    normal_harmonics: &[f64],
) {
    let lp = kernel.l_max + 1;
    let n_cols = kernel.n_cols();
    let n_lm = lp * lp;
    let count = interp.count;
    // S[a][b] = Σ_{j∈a} w_j ℓ_b(u_j), then P[a][node][col] = Σ_b χ(x_node − x_b) S[a][b]
    let spreads = spread(interp, slab, atoms, false);
    let projected = project(&interp.table, &spreads.values, count, n_cols);
    let inverse_area = 1.0 / slab.area;
    out.outer_iter_mut()
        .into_par_iter()
        .enumerate()
        .for_each(|(i, mut centre)| {
            let mut basis = vec![0.0; count];
            interp.basis(interp.reduced(slab.heights[i]), &mut basis);
            for channel in 0..atoms.n_channels {
                for nl in 0..n_cols {
                    let mut v = 0.0;
                    for (a, l) in basis.iter().enumerate() {
                        v += l * projected[(channel * count + a) * n_cols + nl];
                    }
                    let (nn, l) = (nl / lp, nl % lp);
                    for m in 0..2 * l + 1 {
                        let lm = l * l + m;
                        centre[[channel, nn * n_lm + lm]] +=
                            v * inverse_area * normal_harmonics[lm];
                    }
                }
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expansion::{LodeCalculator, LodeHypers, Method};

    /// For p = 1 the line correction is closed form (`docs/math.md` §15.2): the exact smeared
    /// sheet potential minus the `L`-periodic one is `χ(z) = a + b z²` with `b = −2π/L`,
    /// `a = 2πσ√(2/π) − 2πσ²/L − πL/3`, whose projections are `χ̃_n0 = 4π[(a + bΔ²) M_n(2) +
    /// b M_n(4)/3]`, `χ̃_n1 = (8π/3) b Δ M_n(3)`, `χ̃_n2 = (8π/15) b M_n(4)`, zero above: signs,
    /// phases, the regularisation and the `1/L` factors at once.
    #[test]
    fn p1_line_is_the_closed_form() {
        let calculator = LodeCalculator::new(LodeHypers {
            cutoff: 2.0,
            smearing: 0.5,
            n_max: 3,
            l_max: 3,
            exponent: 1,
            method: Method::Auto,
            accuracy: 1e-10,
            ..LodeHypers::default()
        })
        .unwrap();
        let common = &calculator.common;
        let length = 40.0;
        let kernel = LineKernel::new(common, length, 6.0).unwrap();
        let pi = std::f64::consts::PI;
        let sigma = 0.5;
        let b = -2.0 * pi / length;
        let a = 2.0 * pi * sigma * (2.0 / pi).sqrt()
            - 2.0 * pi * sigma * sigma / length
            - pi * length / 3.0;
        let m = |q: f64| common.basis.moments(q).unwrap();
        let (m2, m3, m4) = (m(2.0), m(3.0), m(4.0));
        let mut chi = vec![0.0; 3 * 4];
        for delta in [-6.0, -1.3, 0.0, 0.4, 5.5] {
            kernel.chi(delta, &mut chi);
            for n in 0..3 {
                let expected = [
                    4.0 * pi * ((a + b * delta * delta) * m2[n] + b * m4[n] / 3.0),
                    8.0 * pi / 3.0 * b * delta * m3[n],
                    8.0 * pi / 15.0 * b * m4[n],
                    0.0,
                ];
                for l in 0..4 {
                    let got = chi[n * 4 + l];
                    assert!(
                        (got - expected[l]).abs() < 1e-8,
                        "Δ = {delta}, n = {n}, l = {l}: {got} vs {}",
                        expected[l]
                    );
                }
            }
        }
    }

    /// Far from a sheet the exact line is the bare sheet potential projected: for `p ≥ 3`,
    /// `f(Δ) = 2π/((p − 2) Δ^(p−2))` (the smearing changes it by `e^(−Δ²/2σ²)` only), for
    /// `p = 2` `−2π ln Δ` + a constant (compared through differences), and Taylor-expanding
    /// `f(Δ + r cos θ)` in the basis gives `h_n0 = 4π Σ_{k even} f^(k) M_n(k + 2)/(k + 1)!`,
    /// `h_n1 = 4π Σ_{k odd} f^(k) M_n(k + 2)/(k! (k + 2))`: the quadrature (graded panels for
    /// the `ln k` of p = 3, 5), the phases and `1/2π` for every `p ≥ 2`.
    #[test]
    fn exact_line_is_the_sheet_potential_far_away() {
        for p in 2..=6u32 {
            let calculator = LodeCalculator::new(LodeHypers {
                cutoff: 1.5,
                smearing: 0.5,
                n_max: 2,
                l_max: 1,
                exponent: p,
                method: Method::Auto,
                accuracy: 1e-10,
                ..LodeHypers::default()
            })
            .unwrap();
            let common = &calculator.common;
            let kernel = LineKernel::new(common, 200.0, 40.0).unwrap();
            let pi = std::f64::consts::PI;
            let moments: Vec<Vec<f64>> = (0..12)
                .map(|q| common.basis.moments(q as f64).unwrap())
                .collect();
            // k-th derivative of Δ^(−a) (a = p − 2 > 0), or of −ln Δ (a = 0)
            let derivative = |k: usize, delta: f64| -> f64 {
                let a = p as f64 - 2.0;
                if p == 2 {
                    if k == 0 {
                        return -2.0 * pi * delta.ln();
                    }
                    let mut c = -2.0 * pi;
                    for j in 1..k {
                        c *= -(j as f64);
                    }
                    return c * delta.powi(-(k as i32));
                }
                let mut c = 2.0 * pi / a;
                for j in 0..k {
                    c *= -(a + j as f64);
                }
                c * delta.powf(-a - k as f64)
            };
            let series = |delta: f64, n: usize| -> [f64; 2] {
                let (mut h0, mut h1) = (0.0, 0.0);
                let mut factorial = 1.0;
                for k in 0..9 {
                    if k > 0 {
                        factorial *= k as f64;
                    }
                    let term = derivative(k, delta) * moments[k + 2][n];
                    if k % 2 == 0 {
                        h0 += 4.0 * pi * term / (factorial * (k + 1) as f64);
                    } else {
                        h1 += 4.0 * pi * term / (factorial * (k + 2) as f64);
                    }
                }
                [h0, h1]
            };
            let mut a = vec![0.0; 4];
            let mut b = vec![0.0; 4];
            let (d1, d2) = (25.0, 35.0);
            kernel.exact(d1, &mut a);
            kernel.exact(d2, &mut b);
            for n in 0..2 {
                let (s1, s2) = (series(d1, n), series(d2, n));
                // relative 1e-9, or a tenth of the requested absolute accuracy for the small
                // values of large p (the truncation at k_max is held to the accuracy)
                let scale = s1[0].abs() + 1e-2;
                if p == 2 {
                    let got = a[n * 2] - b[n * 2];
                    assert!(
                        (got - (s1[0] - s2[0])).abs() < 1e-9 * scale,
                        "p = 2, n = {n}"
                    );
                } else {
                    assert!(
                        (a[n * 2] - s1[0]).abs() < 1e-9 * scale,
                        "p = {p}, n = {n}: {} {}",
                        a[n * 2],
                        s1[0]
                    );
                    assert!((b[n * 2] - s2[0]).abs() < 1e-9 * scale, "p = {p}, n = {n}");
                }
                assert!(
                    (a[n * 2 + 1] - s1[1]).abs() < 1e-9 * scale,
                    "p = {p}, n = {n}: {} {}",
                    a[n * 2 + 1],
                    s1[1]
                );
            }
        }
    }

    /// The phases `φ_l`.
    #[test]
    fn phases() {
        assert_eq!(phase(0), 1.0);
        assert_eq!(phase(1), -1.0);
        assert_eq!(phase(2), -1.0);
        assert_eq!(phase(3), 1.0);
        assert_eq!(phase(4), 1.0);
    }

    /// `χ'` and `∂χ/∂L` equal central differences of `χ` in `Δ` (step 1e-4 Å) and of the
    /// kernel built at `L ± 1e-3` (tolerance 1e-7 of the largest value, at least 1e-2 for the
    /// slope, 1e-3 for `∂χ/∂L`, as rounding floors: truncation ~1e-8, a
    /// sign or factor error is of order one), for p = 0, 1, 3, 4 (regularised, graded, `k = 0`
    /// terms).
    #[test]
    fn slope_and_length_derivatives_are_the_differences() {
        for p in [0u32, 1, 3, 4] {
            let calculator = LodeCalculator::new(LodeHypers {
                cutoff: 2.0,
                smearing: 0.5,
                n_max: 2,
                l_max: 2,
                exponent: p,
                method: Method::Auto,
                accuracy: 1e-10,
                ..LodeHypers::default()
            })
            .unwrap();
            let common = &calculator.common;
            let length = 30.0;
            let kernel = LineKernel::new(common, length, 5.0).unwrap();
            let (plus, minus) = (
                LineKernel::new(common, length + 1e-3, 5.0).unwrap(),
                LineKernel::new(common, length - 1e-3, 5.0).unwrap(),
            );
            let n_cols = kernel.n_cols();
            let (mut a, mut b, mut d) = (vec![0.0; n_cols], vec![0.0; n_cols], vec![0.0; n_cols]);
            for delta in [-4.0, -0.7, 0.0, 1.3, 5.0] {
                kernel.chi(delta + 1e-4, &mut a);
                kernel.chi(delta - 1e-4, &mut b);
                kernel.chi_slope(delta, &mut d);
                // an absolute floor: χ of p = 0 is ~1e-14 with rounding ~1e-13 (cancelling sums)
                let scale = d.iter().chain(&a).fold(1e-2f64, |m, v| m.max(v.abs()));
                for col in 0..n_cols {
                    let fd = (a[col] - b[col]) / 2e-4;
                    assert!(
                        (fd - d[col]).abs() < 1e-7 * scale,
                        "p {p} Δ {delta} {col}: {fd} {}",
                        d[col]
                    );
                }
                plus.chi(delta, &mut a);
                minus.chi(delta, &mut b);
                kernel.chi_length(delta, &mut d);
                let scale = d.iter().fold(1e-3f64, |m, v| m.max(v.abs()));
                for col in 0..n_cols {
                    let fd = (a[col] - b[col]) / 2e-3;
                    assert!(
                        (fd - d[col]).abs() < 1e-6 * scale,
                        "p {p} Δ {delta} {col}: {fd} {}",
                        d[col]
                    );
                }
            }
        }
    }
}
