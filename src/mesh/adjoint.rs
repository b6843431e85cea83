//! The backward pass (vector–Jacobian product) of the particle-mesh sum [`super::mesh_sum`]
//! when the centres are the sources: the smooth-PME force pipeline (Essmann et al. 1995).
//!
//! Per channel `a` and column `q` the values are `c_i[a, q] = Σ_g W_i(g) Φ_{a,q}(g)`, with
//! `W_i(g) = Π_α M_p(u_iα − g_α)`, `Φ_{a,q} = T_q Q_a`, `Q_a = Σ_{j∈a} w_j W_j` and `T_q` the
//! circulant operator with multiplier `t_q(m) = G_q(k_m) |b(m)|²` on the kept modes. For a
//! cotangent `g_i[a, q]`, `L = Σ g·c = Σ_{a,q} ⟨P_{a,q}, T_q Q_a⟩` with the spread cotangent
//! `P_{a,q} = Σ_i g_i[a, q] W_i`, so that, with `Ψ_a = Σ_q T_qᵀ P_{a,q}`,
//! $$ \frac{∂L}{∂r_m} = \sum_{a,q} g_m[a,q]\, ∇_{r_m} \sum_g W_m(g) Φ_{a,q}(g)
//!   \;+\; w_m ∇_{r_m} \sum_g W_m(g) Ψ_{a_m}(g): $$
//! the centre's own stencil on `Φ` (the values' meshes, gathered with B-spline derivatives),
//! then the source's stencil on `Ψ`. `T_qᵀ` has multiplier `conj t_q = s_q t_q` (`s_q = 1`
//! for even columns, where `G_q = B_q` is real and even, and `s_q = −1` for odd ones, where
//! `G_q = −i B_q`), so `Ψ̂_a = |b|² Σ_q s_q G_q P̂_{a,q}` is summed in k-space and needs one
//! inverse transform per channel. `∇_r = Σ_α (K_α b_α / 2π) ∂/∂u_α` (`b_α` the reciprocal
//! vectors) and `M_p'(x) = M_{p−1}(x) − M_{p−1}(x − 1)`.
//!
//! Strain: under `x → (1 + ε) x` the scaled fractional coordinates `u` (hence every stencil,
//! `Q`, `P` and `|b|²`) do not change; only `G_q(k_m)` does, through `k → (1 + ε)^{−T} k` and
//! `1/V`. With `⟨P, T Q⟩ = Σ_m t(m) Q̂(m) conj P̂(m)` over the full kept set (the half
//! spectrum's `m2 > 0` modes twice), `∂L/∂ε_αβ = Σ_{a,q,m} Re[∂_{ε_αβ} G_q · |b|² Q̂_a conj
//! P̂_{a,q}]`, `∂_{ε_αβ} B = −k_α ∂B/∂k_β − δ_αβ B` for a basis `B ∝ 1/V` (the caller supplies
//! `∂B/∂k`; `crate::kspace::SeparableBasis` states the same rule).
//!
//! Cost, per (channel, column): the values' inverse transform and a gather (with three
//! derivative weights instead of one), plus one spread and one forward transform of the
//! cotangent; per channel one more inverse transform and gather: about twice the values'
//! long range. Tasks are the values' (channel, batch of [`BATCH`] columns); their
//! contributions are added in task order, [`WAVE`] tasks at a time: bitwise independent of
//! the number of threads, memory `O(WAVE (N + n_modes))` beyond the values'.

use rayon::prelude::*;
use rustfft::num_complex::Complex;

use super::{bspline, spread_spectra, MeshModes, Stencils, BATCH};
use crate::error::Result;
use crate::kspace::Sources;
use crate::systems::{Cell, Mat3, Vec3};

/// Tasks whose contributions are held in memory at once.
const WAVE: usize = 8;

/// Derivative of the strain multiplier: `dfactor(q, out)` writes, for every kept mode, `∂B_q/∂k`
/// (`out[mode] = [∂_x, ∂_y, ∂_z]`).
pub type Derivative<'a> = &'a (dyn Fn(usize, &mut [Vec3]) + Sync);

/// `out[j] = M_p'(frac + p − 1 − j)` (`p = out.len()`): the `d/du` of the stencil weights of
/// [`Stencils`], from `M_p'(x) = M_{p−1}(x) − M_{p−1}(x − 1)`.
fn slope_weights(fractional: f64, out: &mut [f64]) {
    let p = out.len();
    let mut lower = [0.0; bspline::MAX_ORDER];
    bspline::weights(fractional, &mut lower[..p - 1]);
    for (j, o) in out.iter_mut().enumerate() {
        let t = p - 1 - j;
        let this = if t < p - 1 { lower[t] } else { 0.0 };
        let below = if t > 0 { lower[t - 1] } else { 0.0 };
        *o = this - below;
    }
}

/// Per-particle stencil derivative weights `[particle][axis][j]` (the order of
/// [`Stencils`]' weights).
fn derivatives(cell: &Cell, positions: &[Vec3], order: usize, dims: [usize; 3]) -> Vec<f64> {
    let p = order;
    let mut out = vec![0.0; positions.len() * 3 * p];
    for (i, r) in positions.iter().enumerate() {
        let s = cell.to_fractional(*r);
        for axis in 0..3 {
            let k = dims[axis];
            let f = s[axis] - s[axis].floor();
            let mut u = f * k as f64;
            if u >= k as f64 {
                u = 0.0;
            }
            let at = (i * 3 + axis) * p;
            slope_weights(u - u.floor(), &mut out[at..at + p]);
        }
    }
    out
}

/// `Σ_g ∂_{u_α} W_i(g) mesh_c(g)` for `C` meshes (one stencil walk): `[c][α]`.
fn gather<const C: usize>(
    stencils: &Stencils,
    derivative: &[f64],
    i: usize,
    meshes: &[&[f64]; C],
    dims: [usize; 3],
) -> [[f64; 3]; C] {
    let p = stencils.order;
    let (i0, w0) = stencils.axis(i, 0);
    let (i1, w1) = stencils.axis(i, 1);
    let (i2, w2) = stencils.axis(i, 2);
    let d0 = &derivative[(i * 3) * p..(i * 3 + 1) * p];
    let d1 = &derivative[(i * 3 + 1) * p..(i * 3 + 2) * p];
    let d2 = &derivative[(i * 3 + 2) * p..(i * 3 + 3) * p];
    let mut total = [[0.0; 3]; C];
    for ((g0, a), da) in i0.iter().zip(w0).zip(d0) {
        // per mesh: Σ_g1 (w1 line, d1 line) with line = (Σ w2 x, Σ d2 x)
        let mut plane = [[0.0; 3]; C];
        for ((g1, b), db) in i1.iter().zip(w1).zip(d1) {
            let start = (*g0 as usize * dims[1] + *g1 as usize) * dims[2];
            for (pl, mesh) in plane.iter_mut().zip(meshes) {
                let row = &mesh[start..start + dims[2]];
                let (mut value, mut slope) = (0.0, 0.0);
                for ((g2, c), dc) in i2.iter().zip(w2).zip(d2) {
                    let x = row[*g2 as usize];
                    value += c * x;
                    slope += dc * x;
                }
                // plane: [∂0 part (value, needs da later), ∂1, ∂2]
                pl[0] += b * value;
                pl[1] += db * value;
                pl[2] += b * slope;
            }
        }
        for (t, pl) in total.iter_mut().zip(&plane) {
            t[0] += da * pl[0];
            t[1] += a * pl[1];
            t[2] += a * pl[2];
        }
    }
    total
}

/// `mesh_c(g) += w_c W_i(g)` for `C` meshes (one stencil walk).
fn spread<const C: usize>(
    stencils: &Stencils,
    i: usize,
    w: [f64; C],
    meshes: &mut [Vec<f64>],
    dims: [usize; 3],
) {
    let (i0, w0) = stencils.axis(i, 0);
    let (i1, w1) = stencils.axis(i, 1);
    let (i2, w2) = stencils.axis(i, 2);
    for (g0, a) in i0.iter().zip(w0) {
        for (g1, b) in i1.iter().zip(w1) {
            let ab = a * b;
            let start = (*g0 as usize * dims[1] + *g1 as usize) * dims[2];
            for (mesh, wc) in meshes.iter_mut().zip(&w) {
                let abw = ab * wc;
                let row = &mut mesh[start..start + dims[2]];
                for (g2, c) in i2.iter().zip(w2) {
                    row[*g2 as usize] += abw * c;
                }
            }
        }
    }
}

/// One task's share: `u`-space gradients of every atom (centre part), `Ψ̂` of its columns
/// on the kept modes, and the strain.
struct Part {
    gradient: Vec<[f64; 3]>,
    psi: Vec<Complex<f64>>,
    strain: Mat3,
}

/// The backward pass of [`super::mesh_sum`] with the centres equal to the sources
/// (module docs): for a cotangent `cotangent` `(N, n_channels, n_cols)` (row-major, flat),
/// `∂L/∂r_m` for every atom and, when `derivative` is given, `∂L/∂ε`.
/// `column` and `odd` as for [`super::mesh_sum`].
#[allow(clippy::too_many_arguments)]
pub fn mesh_backward<F>(
    cell: &Cell,
    sources: &Sources<'_>,
    modes: &MeshModes,
    odd: &[bool],
    column: F,
    derivative: Option<Derivative<'_>>,
    cotangent: &[f64],
) -> Result<(Vec<Vec3>, Option<Mat3>)>
where
    F: Fn(usize, &mut [f64]) + Sync,
{
    let positions = sources.positions();
    let n = positions.len();
    let n_channels = sources.n_channels();
    let n_cols = odd.len();
    assert_eq!(cotangent.len(), n * n_channels * n_cols, "(N, C, n_cols)");
    let mut forces = vec![[0.0; 3]; n];
    let strain_wanted = derivative.is_some();
    if modes.is_empty() || n == 0 || n_cols == 0 {
        return Ok((forces, strain_wanted.then_some([[0.0; 3]; 3])));
    }
    let dims = modes.dims;
    let fft = &modes.fft;
    let stencils = Stencils::new(cell, positions, dims, modes.order);
    let slopes = derivatives(cell, positions, modes.order, dims);
    let n_modes = modes.len();
    let half = dims[2] / 2 + 1;
    // the full kept set counts the m2 > 0 modes twice (their conjugates are implied)
    let multiplicity: Vec<f64> = modes
        .index
        .iter()
        .map(|&idx| if idx % half == 0 { 1.0 } else { 2.0 })
        .collect();

    // |b|² Q̂_a on the kept modes, one channel per task (as the values)
    let spectra = spread_spectra(sources, &stencils, modes);

    let batches_per_channel = n_cols.div_ceil(BATCH);
    let n_tasks = n_channels * batches_per_channel;
    let mut gradient = vec![[0.0; 3]; n];
    let mut psi = vec![vec![Complex::<f64>::default(); n_modes]; n_channels];
    let mut strain = [[0.0; 3]; 3];
    let mut first = 0;
    while first < n_tasks {
        let last = (first + WAVE).min(n_tasks);
        let parts: Vec<Part> = (first..last)
            .into_par_iter()
            .map(|task| {
                let (a, start) = (
                    task / batches_per_channel,
                    (task % batches_per_channel) * BATCH,
                );
                let columns: Vec<usize> = (start..(start + BATCH).min(n_cols)).collect();
                let mut spectrum = vec![Complex::<f64>::default(); fft.complex_len()];
                let mut meshes = vec![vec![0.0; fft.real_len()]; BATCH];
                let mut factors = vec![vec![0.0; n_modes]; BATCH];
                let mut work = fft.work();
                let rho = &spectra[a];
                // Φ_q, as the values
                for (slot, &q) in columns.iter().enumerate() {
                    column(q, &mut factors[slot]);
                    spectrum.fill(Complex::default());
                    for ((&idx, g), r) in modes.index.iter().zip(&factors[slot]).zip(rho) {
                        spectrum[idx] = if odd[q] {
                            Complex::new(g * r.im, -g * r.re)
                        } else {
                            r * g
                        };
                    }
                    fft.inverse(&mut spectrum, &mut meshes[slot], &mut work);
                }
                for mesh in meshes.iter_mut().skip(columns.len()) {
                    mesh.fill(0.0);
                }
                // centre part: Σ_q g_i[a, q] ∇_u (W_i · Φ_q)
                let weights = |i: usize| -> [f64; BATCH] {
                    std::array::from_fn(|slot| {
                        columns
                            .get(slot)
                            .map_or(0.0, |&q| cotangent[(i * n_channels + a) * n_cols + q])
                    })
                };
                let mut gradient = vec![[0.0; 3]; n];
                {
                    let views: [&[f64]; BATCH] = std::array::from_fn(|c| meshes[c].as_slice());
                    for &i in &stencils.visit {
                        let i = i as usize;
                        let g = gather(&stencils, &slopes, i, &views, dims);
                        let w = weights(i);
                        for (gc, wc) in g.iter().zip(&w) {
                            for alpha in 0..3 {
                                gradient[i][alpha] += wc * gc[alpha];
                            }
                        }
                    }
                }
                // P_q = spread of the cotangent, P̂_q on the kept modes
                for mesh in meshes.iter_mut() {
                    mesh.fill(0.0);
                }
                for &i in &stencils.visit {
                    let i = i as usize;
                    spread(&stencils, i, weights(i), &mut meshes, dims);
                }
                let mut psi = vec![Complex::<f64>::default(); n_modes];
                let mut strain = [[0.0; 3]; 3];
                let mut slope = vec![[0.0; 3]; if strain_wanted { n_modes } else { 0 }];
                for (slot, &q) in columns.iter().enumerate() {
                    fft.forward(&mut meshes[slot], &mut spectrum, &mut work);
                    let factor = &factors[slot];
                    if let Some(derivative) = derivative {
                        derivative(q, &mut slope);
                    }
                    for (mode, (&idx, &e)) in modes.index.iter().zip(&modes.euler).enumerate() {
                        let p = spectrum[idx];
                        // Ψ̂ += s_q G_q |b|² P̂: B P̂ (even), i B P̂ (odd)
                        let bp = p * (factor[mode] * e);
                        psi[mode] += if odd[q] {
                            Complex::new(-bp.im, bp.re)
                        } else {
                            bp
                        };
                        if strain_wanted {
                            // z = mult Re[φ_q |b|² Q̂ conj P̂], φ_q = 1 or −i
                            let x = rho[mode] * p.conj();
                            let z = multiplicity[mode] * if odd[q] { x.im } else { x.re };
                            let k = modes.vectors[mode];
                            for (alpha, row) in strain.iter_mut().enumerate() {
                                row[alpha] -= z * factor[mode];
                                for (beta, s) in row.iter_mut().enumerate() {
                                    *s -= z * k[alpha] * slope[mode][beta];
                                }
                            }
                        }
                    }
                }
                Part {
                    gradient,
                    psi,
                    strain,
                }
            })
            .collect();
        for (task, part) in (first..last).zip(parts) {
            let a = task / batches_per_channel;
            for (g, p) in gradient.iter_mut().zip(&part.gradient) {
                for alpha in 0..3 {
                    g[alpha] += p[alpha];
                }
            }
            for (s, p) in psi[a].iter_mut().zip(&part.psi) {
                *s += p;
            }
            for (s, p) in strain
                .iter_mut()
                .flatten()
                .zip(part.strain.iter().flatten())
            {
                *s += p;
            }
        }
        first = last;
    }

    // source part: w_m ∇_u (W_m · Ψ_{a_m}), one channel per task
    let source_parts: Vec<Vec<[f64; 3]>> = (0..n_channels)
        .into_par_iter()
        .map(|a| {
            let mut spectrum = vec![Complex::<f64>::default(); fft.complex_len()];
            for (&idx, p) in modes.index.iter().zip(&psi[a]) {
                spectrum[idx] = *p;
            }
            let mut mesh = vec![0.0; fft.real_len()];
            let mut work = fft.work();
            fft.inverse(&mut spectrum, &mut mesh, &mut work);
            let mut out = vec![[0.0; 3]; n];
            for &j in &stencils.visit {
                let j = j as usize;
                if sources.channels()[j] == a {
                    let [g] = gather(&stencils, &slopes, j, &[mesh.as_slice()], dims);
                    let w = sources.weight(j);
                    out[j] = [w * g[0], w * g[1], w * g[2]];
                }
            }
            out
        })
        .collect();
    for part in &source_parts {
        for (g, p) in gradient.iter_mut().zip(part) {
            for alpha in 0..3 {
                g[alpha] += p[alpha];
            }
        }
    }

    // u-space → Cartesian: ∂u_α/∂r_c = K_α b_α[c] / 2π
    let b = cell.reciprocal();
    for (f, g) in forces.iter_mut().zip(&gradient) {
        for c in 0..3 {
            f[c] = (0..3)
                .map(|alpha| dims[alpha] as f64 * b[alpha][c] / std::f64::consts::TAU * g[alpha])
                .sum();
        }
    }
    Ok((forces, strain_wanted.then_some(strain)))
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)] // index notation, as in the formulas
mod tests {
    use super::super::tests::{atoms, triclinic};
    use super::super::{mesh_sum, MeshModes};
    use super::*;

    const ETA: f64 = 1.2;
    /// Far enough that the columns vanish (< 1e-15) before the cutoff: the kept set may change
    /// under strain without a jump.
    const K_CUT: f64 = 7.0;
    const DIMS: [usize; 3] = [16, 15, 18];
    const ODD: [bool; 3] = [false, true, false];

    /// Columns `B_q(k)/V`: `g`, `k_x g`, `k_x k_y g` with `g = e^{−η²k²/2}` (even, odd, even),
    /// and their gradients in `k`.
    fn columns(k: Vec3, volume: f64) -> ([f64; 3], [Vec3; 3]) {
        let g = (-0.5 * ETA * ETA * (k[0] * k[0] + k[1] * k[1] + k[2] * k[2])).exp() / volume;
        let dg = k.map(|kc| -ETA * ETA * kc * g);
        let values = [g, k[0] * g, k[0] * k[1] * g];
        let mut d1 = dg.map(|x| k[0] * x);
        d1[0] += g;
        let mut d2 = dg.map(|x| k[0] * k[1] * x);
        d2[0] += k[1] * g;
        d2[1] += k[0] * g;
        (values, [dg, d1, d2])
    }

    fn modes(cell: &Cell, order: usize) -> MeshModes {
        MeshModes::new(cell, DIMS, order, K_CUT).unwrap()
    }

    /// `Σ g·c` of the mesh sum for atoms at `positions` in `cell`.
    fn objective(
        cell: &Cell,
        positions: &[Vec3],
        channels: &[usize],
        weights: &[f64],
        g: &[f64],
    ) -> f64 {
        let sources = Sources::new(positions, channels, Some(weights), 2).unwrap();
        let modes = modes(cell, 6);
        let table: Vec<[f64; 3]> = modes
            .vectors()
            .iter()
            .map(|&k| columns(k, cell.volume()).0)
            .collect();
        let values = mesh_sum(cell, positions, &sources, &modes, &ODD, |q, out| {
            for (o, t) in out.iter_mut().zip(&table) {
                *o = t[q];
            }
        })
        .unwrap();
        values.iter().zip(g).map(|(a, b)| a * b).sum()
    }

    /// The backward pass equals central differences of `Σ g·c` for every atom and direction
    /// (step 1e-5 Å: truncation ~1e-10 relative for these C⁴ splines, order 6) and for every
    /// strain component (step 1e-5), to 1e-7 of the largest entry — a sign or factor error
    /// is of order one; 1 and 2 threads agree bitwise.
    #[test]
    fn backward_matches_finite_differences() {
        let cell = triclinic();
        let n = 7;
        let positions = atoms(&cell, n);
        let channels: Vec<usize> = (0..n).map(|i| i % 2).collect();
        let weights: Vec<f64> = (0..n).map(|i| 0.5 + 0.3 * (i as f64).sin()).collect();
        let g: Vec<f64> = (0..n * 2 * 3).map(|x| (0.77 * x as f64).cos()).collect();
        let sources = Sources::new(&positions, &channels, Some(&weights), 2).unwrap();
        let modes = modes(&cell, 6);
        let (values, slopes): (Vec<[f64; 3]>, Vec<[Vec3; 3]>) = modes
            .vectors()
            .iter()
            .map(|&k| columns(k, cell.volume()))
            .unzip();
        let column = |q: usize, out: &mut [f64]| {
            for (o, t) in out.iter_mut().zip(&values) {
                *o = t[q];
            }
        };
        let derivative = |q: usize, out: &mut [Vec3]| {
            for (o, t) in out.iter_mut().zip(&slopes) {
                *o = t[q];
            }
        };
        let run = |threads| {
            crate::threads::with_threads(threads, || {
                mesh_backward(&cell, &sources, &modes, &ODD, column, Some(&derivative), &g).unwrap()
            })
            .unwrap()
        };
        let (forces, strain) = run(1);
        let strain = strain.unwrap();
        let (forces2, strain2) = run(2);
        assert!(forces
            .iter()
            .flatten()
            .zip(forces2.iter().flatten())
            .all(|(a, b)| a.to_bits() == b.to_bits()));
        assert!(strain
            .iter()
            .flatten()
            .zip(strain2.unwrap().iter().flatten())
            .all(|(a, b)| a.to_bits() == b.to_bits()));
        let h = 1e-5;
        let scale = forces.iter().flatten().fold(0.0f64, |m, x| m.max(x.abs()));
        assert!(scale > 1e-3);
        for j in 0..n {
            for alpha in 0..3 {
                let shifted = |d: f64| {
                    let mut p = positions.clone();
                    p[j][alpha] += d;
                    objective(&cell, &p, &channels, &weights, &g)
                };
                let fd = (shifted(h) - shifted(-h)) / (2.0 * h);
                assert!(
                    (fd - forces[j][alpha]).abs() < 1e-7 * scale,
                    "atom {j} α {alpha}: {fd} vs {}",
                    forces[j][alpha]
                );
            }
        }
        let scale = strain.iter().flatten().fold(0.0f64, |m, x| m.max(x.abs()));
        assert!(scale > 1e-3);
        for alpha in 0..3 {
            for beta in 0..3 {
                let deformed = |d: f64| {
                    let deform = |mut x: Vec3| {
                        x[alpha] += d * x[beta];
                        x
                    };
                    let c = Cell::new(cell.matrix().map(deform), [true; 3]).unwrap();
                    let p: Vec<Vec3> = positions.iter().map(|&r| deform(r)).collect();
                    objective(&c, &p, &channels, &weights, &g)
                };
                let fd = (deformed(h) - deformed(-h)) / (2.0 * h);
                assert!(
                    (fd - strain[alpha][beta]).abs() < 1e-7 * scale,
                    "strain {alpha}{beta}: {fd} vs {}",
                    strain[alpha][beta]
                );
            }
        }
    }
}
