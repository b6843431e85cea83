//! Positions and strain gradients of a slab's `k_∥ = 0` line correction (`docs/math.md` §15.4),
//! the part of the slab route's gradients beyond its inner 3D route's.
//!
//! The correction to centre `i`, channel `c`, is `(1/A) Y_lm(n̂) J_i[c]_nl` with
//! `J_i[c] = Σ_{j∈c} w_j I(z_i, z_j)` and `I` the interpolant of [`super::slab_interp`]
//! (nodes `m + h t_a`, `u = (z − m)/h`). Its exact derivative — the derivative of the values
//! as computed, interval included — has, per centre:
//!
//! * `∂J_i/∂z_i = (1/h) Σ_a ℓ_a'(u_i) P^X_a` (centre), `∂J_i/∂z_k = (w_k/h) Σ_ab ℓ_a(u_i)
//!   X_ab ℓ_b'(u_k)` (source `k ∈ c`), with `X_ab = χ(h(t_a − t_b))`, `P^X_a = Σ_b X_ab S_b`,
//!   `S_b = Σ_{j∈c} w_j ℓ_b(u_j)`;
//! * through the interval: `∂J/∂m = −(∂_i + Σ_j ∂_j)`, `∂J/∂h = −u_i ∂_i − Σ_j u_j ∂_j + Ξ`,
//!   `Ξ = (1/h) Σ_ab ℓ_a(u_i) [Δχ'(Δ)]_ab S_b`, given to the lowest and highest atoms
//!   (`m = (z_lo + z_hi)/2`, `h = (z_hi − z_lo)/2 + δ`), so translations of the slab leave the
//!   line unchanged exactly (the sum rule);
//! * strain `x → (1 + ε) x` of the in-plane lattice and every position (the vacuum cell's
//!   third vector `L n̂` deformed with them): heights, `m`, `h − δ` and `L` scale by
//!   `1 + n̂ᵀεn̂`, `A` by `1 + tr ε − n̂ᵀεn̂`, and `n̂` turns by `δn̂ = −(1 − n̂n̂ᵀ) εᵀ n̂`, so
//!   `∂c/∂ε_ab = (1/A)[−(δ_ab − n_a n_b) Y J − n_a ∂_b Y J + n_a n_b Y D]` with
//!   `D = δ(u_i ∂_i J + Σ_j u_j ∂_j J) + (h − δ) Ξ + L ∂J/∂L` and `∂_b Y` the tangential
//!   gradient of `Y_lm` at `n̂`.
//!
//! Backward pass: the same terms contracted with the cotangent, `O(N K + K²)` per channel and
//! column like the values (chunks of centres summed in a fixed order: bitwise independent of
//! the number of threads).

use ndarray::ArrayView3;
use rayon::prelude::*;

use super::super::calculator::Common;
use super::super::real_space::AtomChannels;
use super::slab_interp::{Interpolant, PADDING};
use super::slab_line::{allowed_error, project, spread, LineKernel};
use crate::error::Result;
use crate::systems::{Mat3, SlabGeometry, System, Vec3};

/// Centres per parallel task of the backward pass.
const CENTRES_PER_TASK: usize = 64;

/// Everything the line correction's gradients of one structure need.
pub(super) struct LineGradients {
    slab: SlabGeometry,
    interp: Interpolant,
    length: f64,
    n_channels: usize,
    n_max: usize,
    lp: usize,
    /// `Y_lm(n̂)` and its tangential gradient.
    harmonics: Vec<f64>,
    harmonic_gradients: Vec<Vec3>,
    /// `ℓ_a(u_j)`, `ℓ_a'(u_j)` of every atom, `[j K + a]`.
    basis: Vec<f64>,
    slopes: Vec<f64>,
    /// Projections `[(c K + a) n_cols + col]` of the tables `χ` (`x`), `Δχ'` (`y`), `∂χ/∂L`
    /// (`z`) on the spreads `S` and of `χ` on `T`, `U` (see [`spread`]).
    px: Vec<f64>,
    pt: Vec<f64>,
    pu: Vec<f64>,
    py: Vec<f64>,
    pz: Vec<f64>,
}

/// Per-centre sums over the sources, `[c n_cols + col]`.
struct Centre {
    /// `J_i`, `∂_i J`, `Σ_j ∂_j J`, `Σ_j u_j ∂_j J`, `Ξ`, `∂J/∂L`.
    j: Vec<f64>,
    own: Vec<f64>,
    sources: Vec<f64>,
    moments: Vec<f64>,
    xi: Vec<f64>,
    length: Vec<f64>,
}

impl LineGradients {
    /// Prepare the gradients of the line correction of `system` (a slab) in the vacuum cell of
    /// height `length`, with the values' interpolation tolerance `tolerance`.
    pub fn new(
        common: &Common,
        system: &System,
        atoms: &AtomChannels<'_>,
        length: f64,
        tolerance: f64,
    ) -> Result<LineGradients> {
        let slab = SlabGeometry::new(system)?;
        let kernel = LineKernel::new(common, length, slab.thickness())?;
        let interp = Interpolant::new(&kernel, &slab, allowed_error(&kernel, &slab, tolerance))?;
        let n_cols = kernel.n_cols();
        let k = interp.count;
        let n_lm = common.n_lm();
        let mut harmonics = vec![0.0; n_lm];
        let mut harmonic_gradients = vec![[0.0; 3]; n_lm];
        common.harmonics.compute_with_gradients(
            slab.normal,
            &mut harmonics,
            &mut harmonic_gradients,
        );
        let n = slab.heights.len();
        let mut basis = vec![0.0; n * k];
        let mut slopes = vec![0.0; n * k];
        for (j, &z) in slab.heights.iter().enumerate() {
            interp.basis_with_slopes(
                interp.reduced(z),
                &mut basis[j * k..(j + 1) * k],
                &mut slopes[j * k..(j + 1) * k],
            );
        }
        let spreads = spread(&interp, &slab, atoms, true);
        let mut y_table = interp.table_of(&kernel, LineKernel::chi_slope);
        for (ab, row) in y_table.chunks_exact_mut(n_cols).enumerate() {
            let delta = interp.difference(ab);
            row.iter_mut().for_each(|v| *v *= delta);
        }
        let z_table = interp.table_of(&kernel, LineKernel::chi_length);
        let px = project(&interp.table, &spreads.values, k, n_cols);
        let pt = project(&interp.table, &spreads.slopes, k, n_cols);
        let pu = project(&interp.table, &spreads.moments, k, n_cols);
        let py = project(&y_table, &spreads.values, k, n_cols);
        let pz = project(&z_table, &spreads.values, k, n_cols);
        Ok(LineGradients {
            slab,
            interp,
            length,
            n_channels: atoms.n_channels,
            n_max: common.hypers.n_max,
            lp: common.hypers.l_max + 1,
            harmonics,
            harmonic_gradients,
            basis,
            slopes,
            px,
            pt,
            pu,
            py,
            pz,
        })
    }

    fn n_cols(&self) -> usize {
        self.n_max * self.lp
    }

    /// The per-centre sums of centre `i`.
    fn centre(&self, i: usize) -> Centre {
        let (k, n_cols) = (self.interp.count, self.n_cols());
        let size = self.n_channels * n_cols;
        let basis = &self.basis[i * k..(i + 1) * k];
        let slopes = &self.slopes[i * k..(i + 1) * k];
        let contract = |weights: &[f64], projected: &[f64], scale: f64| {
            let mut out = vec![0.0; size];
            for c in 0..self.n_channels {
                let target = &mut out[c * n_cols..(c + 1) * n_cols];
                for (a, &w) in weights.iter().enumerate() {
                    let row = &projected[(c * k + a) * n_cols..][..n_cols];
                    for (t, p) in target.iter_mut().zip(row) {
                        *t += w * p;
                    }
                }
                target.iter_mut().for_each(|t| *t *= scale);
            }
            out
        };
        let inverse_half = 1.0 / self.interp.half;
        Centre {
            j: contract(basis, &self.px, 1.0),
            own: contract(slopes, &self.px, inverse_half),
            sources: contract(basis, &self.pt, inverse_half),
            moments: contract(basis, &self.pu, inverse_half),
            xi: contract(basis, &self.py, inverse_half),
            length: contract(basis, &self.pz, 1.0),
        }
    }

    /// `∂J/∂m` and `∂J/∂h` of a centre at reduced height `u`.
    fn interval_derivatives(centre: &Centre, u: f64) -> (Vec<f64>, Vec<f64>) {
        let mid = centre
            .own
            .iter()
            .zip(&centre.sources)
            .map(|(o, s)| -(o + s))
            .collect();
        let half = (0..centre.own.len())
            .map(|x| -u * centre.own[x] - centre.moments[x] + centre.xi[x])
            .collect();
        (mid, half)
    }

    /// `D` of a centre at reduced height `u` (the derivative of `J` under a common scaling of
    /// the heights, `h − δ` and `L`).
    fn scaling_derivative(&self, centre: &Centre, u: f64) -> Vec<f64> {
        let stretch = self.interp.half - PADDING;
        (0..centre.j.len())
            .map(|x| {
                PADDING * (u * centre.own[x] + centre.moments[x])
                    + stretch * centre.xi[x]
                    + self.length * centre.length[x]
            })
            .collect()
    }

    /// `∂m/∂z_k` and `∂h/∂z_k` of the interval's end atoms, as `(atom, d mid, d half)`.
    fn ends(&self) -> [(usize, f64, f64); 2] {
        [
            (self.interp.low_atom, 0.5, -0.5),
            (self.interp.high_atom, 0.5, 0.5),
        ]
    }

    /// Add centre `i`'s row of the line correction's Jacobian to `positions`
    /// `(N, 3, n_channels, n_max n_lm)` and `strain` `(3, 3, n_channels, n_max n_lm)`.
    pub fn add_row(
        &self,
        atoms: &AtomChannels<'_>,
        i: usize,
        positions: Option<&mut [f64]>,
        strain: Option<&mut [f64]>,
    ) {
        let (k, n_cols, lp) = (self.interp.count, self.n_cols(), self.lp);
        let n_lm = lp * lp;
        let block = self.n_channels * self.n_max * n_lm;
        let normal = self.slab.normal;
        let inverse_area = 1.0 / self.slab.area;
        let centre = self.centre(i);
        let u = self.interp.reduced(self.slab.heights[i]);
        // write (1/A) Σ_m Y_lm(n̂) d[c][nl] · factor into an output block
        let emit = |out: &mut [f64], d: &[f64], harmonics: &dyn Fn(usize) -> f64| {
            for c in 0..self.n_channels {
                for nl in 0..n_cols {
                    let v = d[c * n_cols + nl] * inverse_area;
                    if v == 0.0 {
                        continue;
                    }
                    let (n, l) = (nl / lp, nl % lp);
                    for lm in l * l..(l + 1) * (l + 1) {
                        out[c * self.n_max * n_lm + n * n_lm + lm] += v * harmonics(lm);
                    }
                }
            }
        };
        let y = |lm: usize| self.harmonics[lm];
        if let Some(positions) = positions {
            let n = self.slab.heights.len();
            let mut dz = vec![0.0; n * self.n_channels * n_cols];
            // centre
            dz[i * self.n_channels * n_cols..][..self.n_channels * n_cols]
                .iter_mut()
                .zip(&centre.own)
                .for_each(|(d, o)| *d += o);
            // sources: Q_b = Σ_a ℓ_a(u_i) X_ab, then (w_k/h) Σ_b ℓ_b'(u_k) Q_b
            let basis = &self.basis[i * k..(i + 1) * k];
            let mut q = vec![0.0; k * n_cols];
            for (a, &la) in basis.iter().enumerate() {
                for b in 0..k {
                    let row = &self.interp.table[(a * k + b) * n_cols..][..n_cols];
                    for (t, x) in q[b * n_cols..(b + 1) * n_cols].iter_mut().zip(row) {
                        *t += la * x;
                    }
                }
            }
            let inverse_half = 1.0 / self.interp.half;
            for kk in 0..n {
                let w = atoms.weight(kk) * inverse_half;
                let c = atoms.channel[kk];
                let target = &mut dz[(kk * self.n_channels + c) * n_cols..][..n_cols];
                for (b, &s) in self.slopes[kk * k..(kk + 1) * k].iter().enumerate() {
                    for (t, x) in target.iter_mut().zip(&q[b * n_cols..(b + 1) * n_cols]) {
                        *t += w * s * x;
                    }
                }
            }
            // the interval's ends
            let (d_mid, d_half) = Self::interval_derivatives(&centre, u);
            for (atom, m, h) in self.ends() {
                let target = &mut dz[atom * self.n_channels * n_cols..][..self.n_channels * n_cols];
                for (x, t) in target.iter_mut().enumerate() {
                    *t += m * d_mid[x] + h * d_half[x];
                }
            }
            for atom in 0..n {
                let d = &dz[atom * self.n_channels * n_cols..][..self.n_channels * n_cols];
                for (alpha, &n_alpha) in normal.iter().enumerate() {
                    if n_alpha == 0.0 {
                        continue;
                    }
                    let out = &mut positions[(atom * 3 + alpha) * block..][..block];
                    emit(out, d, &|lm| n_alpha * y(lm));
                }
            }
        }
        if let Some(strain) = strain {
            let scaling = self.scaling_derivative(&centre, u);
            for a in 0..3 {
                for b in 0..3 {
                    let out = &mut strain[(a * 3 + b) * block..][..block];
                    let area = if a == b { 1.0 } else { 0.0 } - normal[a] * normal[b];
                    emit(out, &centre.j, &|lm| {
                        -area * y(lm) - normal[a] * self.harmonic_gradients[lm][b]
                    });
                    let nn = normal[a] * normal[b];
                    if nn != 0.0 {
                        emit(out, &scaling, &|lm| nn * y(lm));
                    }
                }
            }
        }
    }

    /// The line correction's part of the backward pass for a cotangent `(N, n_channels,
    /// n_max n_lm)`: `∂(Σ g·c)/∂r_j` added to `positions`, and `∂(Σ g·c)/∂ε`.
    pub fn backward(
        &self,
        atoms: &AtomChannels<'_>,
        cotangent: ArrayView3<f64>,
        positions: &mut [Vec3],
    ) -> Result<Mat3> {
        let (k, n_cols, lp) = (self.interp.count, self.n_cols(), self.lp);
        let n_lm = lp * lp;
        let n = self.slab.heights.len();
        let size = self.n_channels * n_cols;
        let inverse_area = 1.0 / self.slab.area;
        /// Partial sums of a chunk of centres.
        struct Partial {
            /// `H_c[a][col] = Σ_i ℓ_a(u_i) G_i[c][col]`.
            h: Vec<f64>,
            mid: f64,
            half: f64,
            plain: f64,
            gradient: Vec3,
            scaling: f64,
        }
        let centre_derivative: Vec<(Vec<f64>, Partial)> = (0..n)
            .collect::<Vec<_>>()
            .par_chunks(CENTRES_PER_TASK)
            .map(|chunk| {
                let mut own = Vec::with_capacity(chunk.len());
                let mut partial = Partial {
                    h: vec![0.0; self.n_channels * k * n_cols],
                    mid: 0.0,
                    half: 0.0,
                    plain: 0.0,
                    gradient: [0.0; 3],
                    scaling: 0.0,
                };
                let mut g = vec![0.0; size];
                let mut gy = vec![[0.0; 3]; size];
                for &i in chunk {
                    // G_i = (1/A) Σ_m Y_lm g, and the same with ∇Y
                    let gi = cotangent.slice(ndarray::s![i, .., ..]);
                    for c in 0..self.n_channels {
                        for nl in 0..n_cols {
                            let (nn, l) = (nl / lp, nl % lp);
                            let (mut v, mut vy) = (0.0, [0.0; 3]);
                            for lm in l * l..(l + 1) * (l + 1) {
                                let x = gi[[c, nn * n_lm + lm]];
                                v += self.harmonics[lm] * x;
                                for (t, d) in vy.iter_mut().zip(&self.harmonic_gradients[lm]) {
                                    *t += d * x;
                                }
                            }
                            g[c * n_cols + nl] = v * inverse_area;
                            gy[c * n_cols + nl] = vy.map(|t| t * inverse_area);
                        }
                    }
                    let centre = self.centre(i);
                    let u = self.interp.reduced(self.slab.heights[i]);
                    let dot = |d: &[f64]| d.iter().zip(&g).map(|(a, b)| a * b).sum::<f64>();
                    own.push(dot(&centre.own));
                    let (d_mid, d_half) = Self::interval_derivatives(&centre, u);
                    partial.mid += dot(&d_mid);
                    partial.half += dot(&d_half);
                    partial.plain += dot(&centre.j);
                    for (x, vy) in gy.iter().enumerate() {
                        for (t, d) in partial.gradient.iter_mut().zip(vy) {
                            *t += d * centre.j[x];
                        }
                    }
                    partial.scaling += dot(&self.scaling_derivative(&centre, u));
                    let basis = &self.basis[i * k..(i + 1) * k];
                    for c in 0..self.n_channels {
                        for (a, &la) in basis.iter().enumerate() {
                            let target = &mut partial.h[(c * k + a) * n_cols..][..n_cols];
                            for (t, v) in target.iter_mut().zip(&g[c * n_cols..(c + 1) * n_cols]) {
                                *t += la * v;
                            }
                        }
                    }
                }
                (own, partial)
            })
            .collect();
        crate::threads::check_cancelled()?;
        // reduce in chunk order
        let mut h = vec![0.0; self.n_channels * k * n_cols];
        let (mut mid, mut half, mut plain, mut scaling) = (0.0, 0.0, 0.0, 0.0);
        let mut gradient = [0.0; 3];
        let mut dz = Vec::with_capacity(n);
        for (own, partial) in centre_derivative {
            dz.extend(own);
            h.iter_mut().zip(&partial.h).for_each(|(a, b)| *a += b);
            mid += partial.mid;
            half += partial.half;
            plain += partial.plain;
            scaling += partial.scaling;
            for (a, b) in gradient.iter_mut().zip(&partial.gradient) {
                *a += b;
            }
        }
        // sources: R_c[b] = (1/h) Σ_a Σ_col X_ab[col] H_c[a][col]
        let inverse_half = 1.0 / self.interp.half;
        let mut r = vec![0.0; self.n_channels * k];
        for c in 0..self.n_channels {
            for b in 0..k {
                let mut total = 0.0;
                for a in 0..k {
                    let x = &self.interp.table[(a * k + b) * n_cols..][..n_cols];
                    let hh = &h[(c * k + a) * n_cols..][..n_cols];
                    total += x.iter().zip(hh).map(|(p, q)| p * q).sum::<f64>();
                }
                r[c * k + b] = total * inverse_half;
            }
        }
        for (j, d) in dz.iter_mut().enumerate() {
            let c = atoms.channel[j];
            let slopes = &self.slopes[j * k..(j + 1) * k];
            let source: f64 = slopes
                .iter()
                .zip(&r[c * k..(c + 1) * k])
                .map(|(s, x)| s * x)
                .sum();
            *d += atoms.weight(j) * source;
        }
        for (atom, m, hh) in self.ends() {
            dz[atom] += m * mid + hh * half;
        }
        let normal = self.slab.normal;
        for (p, d) in positions.iter_mut().zip(&dz) {
            for (x, nx) in p.iter_mut().zip(&normal) {
                *x += d * nx;
            }
        }
        let mut virial = [[0.0; 3]; 3];
        for a in 0..3 {
            for b in 0..3 {
                let area = if a == b { 1.0 } else { 0.0 } - normal[a] * normal[b];
                virial[a][b] =
                    -area * plain - normal[a] * gradient[b] + normal[a] * normal[b] * scaling;
            }
        }
        Ok(virial)
    }
}

#[cfg(test)]
mod tests {
    use crate::expansion::lode::calculator::Channels;
    use crate::expansion::lode::gradients::tests::{check_positions, check_strain};
    use crate::expansion::{LodeCalculator, LodeHypers, Method, SpeciesMap};
    use crate::systems::System;

    /// Five atoms of a slab open along lattice vector `open` (0, 1 or 2), in a triclinic
    /// in-plane cell; the open vector is tilted (it is ignored).
    fn slab(open: usize) -> System {
        let plane = [[5.5, 0.0, 0.0], [1.2, 5.1, 0.0]];
        let base = [
            [0.3, 0.2, 0.1],
            [1.9, 2.4, 1.8],
            [4.1, 1.0, 3.3],
            [2.2, 4.6, 0.9],
            [5.3, 3.9, 2.6],
        ];
        // rotate the frame so that the normal is along axis `open`: cyclic permutation
        let rotate = |r: [f64; 3]| {
            let mut out = [0.0; 3];
            for d in 0..3 {
                out[(d + open + 1) % 3] = r[d];
            }
            out
        };
        let mut cell = [[0.0; 3]; 3];
        let mut pbc = [true; 3];
        let mut k = 0;
        for (index, row) in cell.iter_mut().enumerate() {
            if index == open {
                *row = rotate([0.4, -0.3, 7.0]);
                pbc[index] = false;
            } else {
                *row = rotate(plane[k]);
                k += 1;
            }
        }
        System::new(
            base.iter().map(|&r| rotate(r)).collect(),
            vec![1, 8, 1, 8, 1],
            cell,
            pbc,
        )
        .unwrap()
    }

    fn calculator(p: u32, method: Method, center_weight: f64) -> LodeCalculator {
        // the reciprocal route at a fixed k_cutoff, so that the k-vector set does not change
        // between finite-difference points; the Ewald route chooses its own
        let k_cutoff = (method == Method::Reciprocal).then_some(7.0);
        LodeCalculator::new(LodeHypers {
            cutoff: 3.0,
            smearing: 1.0,
            n_max: 3,
            l_max: 2,
            exponent: p,
            method,
            accuracy: 1e-9,
            k_cutoff,
            center_weight,
            ..LodeHypers::default()
        })
        .unwrap()
    }

    /// Positions and strain gradients of slabs equal central differences of the values (the
    /// inner route's and the line correction's together; steps and tolerances of
    /// [`check_positions`], [`check_strain`]), with the sum rule, `Jᵀv`, and 1 vs 2 threads,
    /// for `(p, channels)` in `cases` (0: species, 1: charges), the open direction at index
    /// `p mod 3`.
    fn check_slabs(cases: &[(u32, usize)]) {
        let species = SpeciesMap::new(&[1, 8]).unwrap();
        let charges = vec![vec![0.4, -0.8, 0.3, -0.5, 0.6]];
        for &(p, kind) in cases {
            let open = p as usize % 3;
            let system = slab(open);
            let calc = calculator(p, Method::Reciprocal, 1.0);
            let channels = [Channels::Species(&species), Channels::Charges(&charges)][kind];
            let what = format!("slab open {open}, p = {p}, channels {kind}");
            check_positions(&calc, &system, channels, &what, true);
            check_strain(&calc, &system, channels, &what);
        }
    }

    /// [`check_slabs`] for p = 1 (charges), 2 (species), 4 (charges): the open direction at
    /// each index (the vacuum cell makes these tests slow in debug builds).
    #[test]
    fn slab_gradients_are_the_finite_differences() {
        check_slabs(&[(1, 1), (2, 0), (4, 1)]);
    }

    /// [`check_slabs`] for every p = 0 … 6 and both channel kinds (`cargo test --release --
    /// --ignored slab_gradients`: about 30 s in release, many minutes in debug).
    #[test]
    #[ignore]
    fn slab_gradients_every_exponent() {
        let cases: Vec<(u32, usize)> = (0..=6).flat_map(|p| [(p, 0), (p, 1)]).collect();
        check_slabs(&cases);
    }

    /// The Ewald inner route and `center_weight` 0.3, p = 1.
    #[test]
    fn slab_gradients_on_the_ewald_route() {
        let species = SpeciesMap::new(&[1, 8]).unwrap();
        let system = slab(2);
        let calc = calculator(1, Method::Ewald, 0.3);
        let what = "slab, ewald, p = 1";
        check_positions(&calc, &system, Channels::Species(&species), what, true);
        check_strain(&calc, &system, Channels::Species(&species), what);
    }
}
