//! Smooth particle-mesh sums (SPME, Essmann et al. 1995) for the long-range part of periodic
//! LODE: the mesh counterpart of [`crate::kspace::reciprocal_sum`].
//!
//! For every centre `i`, channel `a` and output column `q`, the k-space sum
//! $$ c^a_q(i) = \sum_{k \ne 0,\ |k| < k_c} G_q(k) \sum_{j∈a} w_j e^{ik·(r_i − r_j)}, $$
//! with `G_q(k) = B_q(k)` for even columns and `−i B_q(k)` for odd ones (`B_q` real, even or
//! odd in `k`: the reciprocal route's `B` with `i^l = φ_l` or `−iφ_l`), is evaluated as
//! 1. spread: `Q_a(g) = Σ_{j∈a} w_j Π_α M_p(u_jα − g_α)` on a `K0 × K1 × K2` mesh, with
//!    `u_jα = K_α s_jα` the scaled fractional coordinates (any triclinic cell) and `M_p` the
//!    cardinal B-spline of order `p` ([`bspline`]);
//! 2. `Q̂_a = FFT(Q_a)` (real → half complex), kept on the modes `m` with `|k_m| < k_c`,
//!    `k_m = Σ_α m_α b_α`, `|m_α| < K_α/2` (Nyquist planes dropped);
//! 3. per column: `Φ_q = IFFT(G_q(k_m) |b(m)|² Q̂_a(m))` (half complex → real; `|b|²` the
//!    product of the per-axis Euler factors [`bspline::euler_factor`]);
//! 4. interpolate: `c^a_q(i) = Σ_g Π_α M_p(u_iα − g_α) Φ_q(g)`.
//!
//! Because `e^{2πimu/K} ≈ b(m) Σ_g M_p(u − g) e^{2πimg/K}` with an error of relative size
//! `≈ 2 Σ_{j≠0} |θ/(θ + 2πj)|^p`, `θ = 2πm/K`, for both the spread and the interpolation, the
//! result differs from the k-space sum by aliasing terms of that relative size per mode: the
//! caller chooses the mesh spacing and order so that they stay below its budget.
//!
//! Cost: `O(n_channels (N p³ + M log M) + n_channels n_cols (M log M + N p³))`, `M` the number of
//! mesh points: linear in the volume for a fixed mesh spacing. Memory: per task one
//! half-complex mesh and `1 + BATCH` real ones (`≈ 56 M` bytes), plus `n_channels` spectra on
//! the kept modes and the output; never `O(M n_cols)`.
//!
//! Parallelism: channels are spread and transformed in parallel, then one task per (channel,
//! batch of [`BATCH`] columns) does steps 3–4, interpolating the batch's meshes together. Each output element is computed by exactly one task with a fixed
//! sequence of operations: results are bitwise identical for any number of threads.

mod adjoint;
pub mod bspline;
pub mod fft;

pub use adjoint::{mesh_backward, Derivative};

use ndarray::Array3;
use rayon::prelude::*;
use rustfft::num_complex::Complex;

use crate::error::Result;
use crate::kspace::{SeparableBasis, Sources};
use crate::systems::{Cell, Vec3};
use fft::Fft3;

/// Columns transformed and interpolated together by one task: one stencil walk (indices,
/// weights, loop overhead) serves all of them.
pub const BATCH: usize = 4;

fn norm(v: Vec3) -> f64 {
    (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt()
}

/// The modes of a mesh that a band-limited kernel uses: `0 < |k| < k_c`, `m2 ≥ 0` (the half
/// spectrum of a real transform; the `m2 = 0` plane holds both `±m`), Nyquist planes excluded.
pub struct MeshModes {
    dims: [usize; 3],
    order: usize,
    /// Flat index `(i0 K1 + i1) H + i2` into the half spectrum, increasing.
    index: Vec<usize>,
    vectors: Vec<Vec3>,
    norms: Vec<f64>,
    /// `|b(m)|²`: the product of the per-axis Euler factors.
    euler: Vec<f64>,
    fft: Fft3,
    volume: f64,
}

impl MeshModes {
    /// The modes `0 < |k| < k_cutoff` of a `dims` mesh over `cell` (fully periodic), for
    /// B-splines of order `order` (`bspline::MIN_ORDER..=MAX_ORDER`).
    pub fn new(cell: &Cell, dims: [usize; 3], order: usize, k_cutoff: f64) -> Result<MeshModes> {
        if !(bspline::MIN_ORDER..=bspline::MAX_ORDER).contains(&order) {
            crate::bail_param!(
                "spline order {order} is not supported: use {} to {}",
                bspline::MIN_ORDER,
                bspline::MAX_ORDER
            );
        }
        if dims.contains(&0) {
            crate::bail_param!("mesh dimensions must be positive, got {dims:?}");
        }
        cell.require_fully_periodic("the particle mesh")?;
        if !(k_cutoff.is_finite() && k_cutoff > 0.0) {
            crate::bail_param!("mesh k_cutoff must be positive, got {k_cutoff}");
        }
        let b = cell.reciprocal();
        let lattice = cell.matrix();
        let half = dims[2] / 2 + 1;
        // |m_α| = |k·a_α|/2π ≤ k_c |a_α|/2π, and strictly below K_α/2
        let bound = |alpha: usize| {
            let reach =
                (k_cutoff * norm(lattice[alpha]) / (2.0 * std::f64::consts::PI)).floor() as i64;
            reach.min((dims[alpha] as i64 - 1) / 2)
        };
        let (b0, b1, b2) = (bound(0), bound(1), bound(2));
        let factors: Vec<Vec<f64>> = dims
            .iter()
            .map(|&k| bspline::euler_factor(order, k))
            .collect();
        let wrap = |m: i64, k: usize| m.rem_euclid(k as i64) as usize;
        let mut modes = Vec::new();
        let mut keep1 = vec![false; dims[1]];
        let mut m2_max = 0;
        for m0 in -b0..=b0 {
            for m1 in -b1..=b1 {
                for m2 in 0..=b2 {
                    if m0 == 0 && m1 == 0 && m2 == 0 {
                        continue;
                    }
                    let mut k = [0.0; 3];
                    for (c, kc) in k.iter_mut().enumerate() {
                        *kc = m0 as f64 * b[0][c] + m1 as f64 * b[1][c] + m2 as f64 * b[2][c];
                    }
                    let length = norm(k);
                    if length >= k_cutoff {
                        continue;
                    }
                    let (i0, i1, i2) = (wrap(m0, dims[0]), wrap(m1, dims[1]), m2 as usize);
                    keep1[i1] = true;
                    m2_max = m2_max.max(i2);
                    let euler = factors[0][i0] * factors[1][i1] * factors[2][i2];
                    modes.push(((i0 * dims[1] + i1) * half + i2, k, length, euler));
                }
            }
        }
        modes.sort_by_key(|m| m.0);
        if let Some(m) = modes.iter().find(|m| !m.3.is_finite()) {
            return Err(crate::Error::Internal(format!(
                "mesh mode {} has a singular Euler factor",
                m.0
            )));
        }
        Ok(MeshModes {
            dims,
            order,
            index: modes.iter().map(|m| m.0).collect(),
            vectors: modes.iter().map(|m| m.1).collect(),
            norms: modes.iter().map(|m| m.2).collect(),
            euler: modes.iter().map(|m| m.3).collect(),
            fft: Fft3::new(dims, m2_max, keep1),
            volume: cell.volume(),
        })
    }

    /// Number of kept modes.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// True when no mode is kept (then every sum is zero).
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Cartesian wave vectors of the kept modes.
    pub fn vectors(&self) -> &[Vec3] {
        &self.vectors
    }

    /// `|k|` of the kept modes.
    pub fn norms(&self) -> &[f64] {
        &self.norms
    }

    /// Mesh dimensions.
    pub fn dims(&self) -> [usize; 3] {
        self.dims
    }

    /// Spline order.
    pub fn order(&self) -> usize {
        self.order
    }

    /// Volume of the cell the modes were built for (Å³).
    pub fn volume(&self) -> f64 {
        self.volume
    }
}

/// Mesh points and B-spline weights of a set of particles: `order` per axis each, in
/// increasing mesh index (`⌊u⌋ − order + 1 … ⌊u⌋`, periodic), and a cache-friendly visiting
/// order of the particles.
struct Stencils {
    order: usize,
    /// `[particle][axis][j]`: mesh index `(⌊u⌋ − order + 1 + j) mod K` along the axis.
    index: Vec<u32>,
    /// `[particle][axis][j]`: its weight `M_p(frac + order − 1 − j)`.
    weight: Vec<f64>,
    /// Particles sorted by mesh block, so that consecutive stencils share cache lines.
    visit: Vec<u32>,
}

impl Stencils {
    fn new(cell: &Cell, positions: &[Vec3], dims: [usize; 3], order: usize) -> Stencils {
        let n = positions.len();
        let mut index = vec![0u32; n * 3 * order];
        let mut weight = vec![0.0; n * 3 * order];
        let mut scratch = vec![0.0; order];
        let mut keys = Vec::with_capacity(n);
        for (i, r) in positions.iter().enumerate() {
            let s = cell.to_fractional(*r);
            let mut base = [0usize; 3];
            for axis in 0..3 {
                let k = dims[axis];
                let f = s[axis] - s[axis].floor();
                let mut u = f * k as f64;
                if u >= k as f64 {
                    u = 0.0;
                }
                let floor = u.floor();
                bspline::weights(u - floor, &mut scratch);
                base[axis] = floor as usize;
                let at = (i * 3 + axis) * order;
                for j in 0..order {
                    let g = floor as i64 - (order - 1) as i64 + j as i64;
                    index[at + j] = g.rem_euclid(k as i64) as u32;
                    weight[at + j] = scratch[order - 1 - j];
                }
            }
            // blocks of `order` mesh planes along each axis, z fastest
            let b = order.max(1);
            keys.push(((base[0] / b, base[1] / b, base[2] / b), i as u32));
        }
        keys.sort_unstable();
        Stencils {
            order,
            index,
            weight,
            visit: keys.into_iter().map(|(_, i)| i).collect(),
        }
    }

    fn axis(&self, i: usize, axis: usize) -> (&[u32], &[f64]) {
        let at = (i * 3 + axis) * self.order;
        (
            &self.index[at..at + self.order],
            &self.weight[at..at + self.order],
        )
    }

    /// `Σ_g Π_α M(u_iα − g_α) mesh_c(g)` for each of the `BATCH` meshes (one stencil walk).
    fn interpolate(&self, i: usize, meshes: &[&[f64]; BATCH], dims: [usize; 3]) -> [f64; BATCH] {
        let (i0, w0) = self.axis(i, 0);
        let (i1, w1) = self.axis(i, 1);
        let (i2, w2) = self.axis(i, 2);
        let p = self.order;
        let first = i2[0] as usize;
        let contiguous = i2[p - 1] as usize == first + p - 1;
        let mut total = [0.0; BATCH];
        for (g0, a) in i0.iter().zip(w0) {
            let mut plane = [0.0; BATCH];
            for (g1, b) in i1.iter().zip(w1) {
                let start = (*g0 as usize * dims[1] + *g1 as usize) * dims[2];
                let mut line = [0.0; BATCH];
                if contiguous {
                    for (l, mesh) in line.iter_mut().zip(meshes) {
                        let row = &mesh[start + first..start + first + p];
                        *l = row.iter().zip(w2).map(|(x, c)| x * c).sum();
                    }
                } else {
                    for (l, mesh) in line.iter_mut().zip(meshes) {
                        let row = &mesh[start..start + dims[2]];
                        *l = i2.iter().zip(w2).map(|(g2, c)| c * row[*g2 as usize]).sum();
                    }
                }
                for (pl, l) in plane.iter_mut().zip(&line) {
                    *pl += b * l;
                }
            }
            for (t, pl) in total.iter_mut().zip(&plane) {
                *t += a * pl;
            }
        }
        total
    }

    /// `mesh(g) += w Π_α M(u_iα − g_α)`.
    fn spread(&self, i: usize, w: f64, mesh: &mut [f64], dims: [usize; 3]) {
        let (i0, w0) = self.axis(i, 0);
        let (i1, w1) = self.axis(i, 1);
        let (i2, w2) = self.axis(i, 2);
        for (g0, a) in i0.iter().zip(w0) {
            for (g1, b) in i1.iter().zip(w1) {
                let ab = w * a * b;
                let start = (*g0 as usize * dims[1] + *g1 as usize) * dims[2];
                let row = &mut mesh[start..start + dims[2]];
                for (g2, c) in i2.iter().zip(w2) {
                    row[*g2 as usize] += ab * c;
                }
            }
        }
    }
}

/// Steps 1–2 of the module docs: `|b|² Q̂_a` on the kept modes of `modes` for every channel
/// `a` of `sources` (stencils `stencils`), one channel per task.
fn spread_spectra(
    sources: &Sources<'_>,
    stencils: &Stencils,
    modes: &MeshModes,
) -> Vec<Vec<Complex<f64>>> {
    let (dims, fft) = (modes.dims, &modes.fft);
    (0..sources.n_channels())
        .into_par_iter()
        .map(|a| {
            let mut mesh = vec![0.0; fft.real_len()];
            for &j in &stencils.visit {
                let j = j as usize;
                if sources.channels()[j] == a {
                    stencils.spread(j, sources.weight(j), &mut mesh, dims);
                }
            }
            let mut spectrum = vec![Complex::default(); fft.complex_len()];
            let mut work = fft.work();
            fft.forward(&mut mesh, &mut spectrum, &mut work);
            modes
                .index
                .iter()
                .zip(&modes.euler)
                .map(|(&idx, &e)| spectrum[idx] * e)
                .collect()
        })
        .collect()
}

/// The particle-mesh sum (module docs) for centres at `centers` and the `sources` of `cell`.
///
/// `column(q, factor)` writes the real factor `B_q(k)` of column `q` for every kept mode of
/// `modes`, in their order (`factor.len() == modes.len()`); it is called concurrently and must
/// not depend on the call order. Column `q` is odd (`G_q = −i B_q`, `B_q` odd in `k`) when
/// `odd[q]`, even (`G_q = B_q`, `B_q` even) otherwise.
///
/// Returns `(centers.len(), n_channels, odd.len())`.
pub fn mesh_sum<F>(
    cell: &Cell,
    centers: &[Vec3],
    sources: &Sources<'_>,
    modes: &MeshModes,
    odd: &[bool],
    column: F,
) -> Result<Array3<f64>>
where
    F: Fn(usize, &mut [f64]) + Sync,
{
    if let Some(i) = centers
        .iter()
        .position(|r| r.iter().any(|x| !x.is_finite()))
    {
        crate::bail_input!("centre {i} has a non-finite position {:?}", centers[i]);
    }
    let n_centres = centers.len();
    let n_channels = sources.n_channels();
    let n_cols = odd.len();
    let mut out = Array3::zeros((n_centres, n_channels, n_cols));
    if modes.is_empty() || n_centres == 0 || sources.is_empty() || n_cols == 0 {
        return Ok(out);
    }
    let dims = modes.dims;
    let fft = &modes.fft;
    let source_stencils = Stencils::new(cell, sources.positions(), dims, modes.order);
    let same_atoms = std::ptr::eq(centers, sources.positions());
    let centre_stencils = (!same_atoms).then(|| Stencils::new(cell, centers, dims, modes.order));
    let centre_stencils = centre_stencils.as_ref().unwrap_or(&source_stencils);

    // 1-2: |b|² Q̂_a on the kept modes, one channel per task
    let spectra = spread_spectra(sources, &source_stencils, modes);

    // 3-4: one task per (channel, batch of BATCH columns)
    let batches_per_channel = n_cols.div_ceil(BATCH);
    let batches: Vec<Vec<[f64; BATCH]>> = (0..n_channels * batches_per_channel)
        .into_par_iter()
        .map_init(
            || {
                (
                    vec![Complex::<f64>::default(); fft.complex_len()],
                    vec![vec![0.0; fft.real_len()]; BATCH],
                    vec![0.0; modes.len()],
                    fft.work(),
                )
            },
            |(spectrum, meshes, factor, work), task| {
                if crate::threads::check_cancelled().is_err() {
                    return Vec::new(); // reported after the loop
                }
                let (a, first) = (
                    task / batches_per_channel,
                    (task % batches_per_channel) * BATCH,
                );
                let rho = &spectra[a];
                for (slot, q) in (first..(first + BATCH).min(n_cols)).enumerate() {
                    column(q, factor);
                    spectrum.fill(Complex::default());
                    if odd[q] {
                        for ((&idx, g), r) in modes.index.iter().zip(factor.iter()).zip(rho) {
                            // −i g ρ
                            spectrum[idx] = Complex::new(g * r.im, -g * r.re);
                        }
                    } else {
                        for ((&idx, g), r) in modes.index.iter().zip(factor.iter()).zip(rho) {
                            spectrum[idx] = r * g;
                        }
                    }
                    fft.inverse(spectrum, &mut meshes[slot], work);
                }
                for mesh in meshes.iter_mut().skip(n_cols - first) {
                    // a partial last batch: its unused meshes interpolate to nothing
                    mesh.fill(0.0);
                }
                let meshes: [&[f64]; BATCH] = std::array::from_fn(|c| meshes[c].as_slice());
                let mut values = vec![[0.0; BATCH]; n_centres];
                for &i in &centre_stencils.visit {
                    values[i as usize] = centre_stencils.interpolate(i as usize, &meshes, dims);
                }
                values
            },
        )
        .collect();
    crate::threads::check_cancelled()?;

    for (task, values) in batches.iter().enumerate() {
        let (a, first) = (
            task / batches_per_channel,
            (task % batches_per_channel) * BATCH,
        );
        for (i, v) in values.iter().enumerate() {
            for (slot, q) in (first..(first + BATCH).min(n_cols)).enumerate() {
                out[[i, a, q]] = v[slot];
            }
        }
    }
    Ok(out)
}

/// The factors of a separable basis ([`SeparableBasis`], the description the dense and shell
/// engines consume too) on the kept modes: the radial factors `R[r, g](|k_m|)` and angular
/// factors `A_u(k_m)` of every mode, tabulated once (`n_modes (n_radial n_groups + n_ang)`
/// values), and, for strain, `dR/d|k|` and `∇_k A_u`. Column `q = r · n_ang + u` is
/// `R[r, group(u)] · A_u`.
struct SeparableTables<'b, B: SeparableBasis> {
    basis: &'b B,
    n_modes: usize,
    /// `radial[(r, g)][mode]`, `angular[u][mode]`.
    radial: Vec<f64>,
    angular: Vec<f64>,
    /// `radial_slope[(r, g)][mode] = dR/d|k|`, `angular_gradient[u][mode] = ∇_k A_u` (empty
    /// without strain).
    radial_slope: Vec<f64>,
    angular_gradient: Vec<Vec3>,
    /// `k_m / |k_m|`.
    direction: Vec<Vec3>,
}

impl<'b, B: SeparableBasis> SeparableTables<'b, B> {
    fn new(modes: &MeshModes, basis: &'b B, strain: bool) -> Self {
        let (n_radial, n_groups, n_ang) = (basis.n_radial(), basis.n_groups(), basis.n_angular());
        let n_modes = modes.len();
        let mut radial = vec![0.0; n_radial * n_groups * n_modes];
        let mut angular = vec![0.0; n_ang * n_modes];
        let mut radial_slope = vec![0.0; if strain { radial.len() } else { 0 }];
        let mut angular_gradient = vec![[0.0; 3]; if strain { angular.len() } else { 0 }];
        let mut block = ndarray::Array2::zeros((n_radial, n_groups));
        let mut slope = ndarray::Array2::zeros((n_radial, n_groups));
        let mut a = vec![0.0; n_ang];
        let mut da = vec![[0.0; 3]; n_ang];
        for (mode, (k, &norm)) in modes.vectors().iter().zip(modes.norms()).enumerate() {
            basis.radial(norm, block.view_mut());
            basis.angular(*k, &mut a);
            if strain {
                basis.radial_derivative(norm, slope.view_mut());
                let mut values = vec![0.0; n_ang];
                basis.angular_with_gradient(*k, &mut values, &mut da);
            }
            for r in 0..n_radial {
                for g in 0..n_groups {
                    radial[(r * n_groups + g) * n_modes + mode] = block[[r, g]];
                    if strain {
                        radial_slope[(r * n_groups + g) * n_modes + mode] = slope[[r, g]];
                    }
                }
            }
            for (u, y) in a.iter().enumerate() {
                angular[u * n_modes + mode] = *y;
                if strain {
                    angular_gradient[u * n_modes + mode] = da[u];
                }
            }
        }
        let direction = if strain {
            modes
                .vectors()
                .iter()
                .zip(modes.norms())
                .map(|(k, &norm)| k.map(|x| x / norm))
                .collect()
        } else {
            Vec::new()
        };
        SeparableTables {
            basis,
            n_modes,
            radial,
            angular,
            radial_slope,
            angular_gradient,
            direction,
        }
    }

    /// `(radial, angular)` offsets of column `q`.
    fn offsets(&self, q: usize) -> (usize, usize) {
        let n_ang = self.basis.n_angular();
        let (r, u) = (q / n_ang, q % n_ang);
        let g = self.basis.group()[u];
        let n_groups = self.basis.n_groups();
        ((r * n_groups + g) * self.n_modes, u * self.n_modes)
    }

    /// `out[mode] = B_q(k_m)`.
    fn column(&self, q: usize, out: &mut [f64]) {
        let (r, u) = self.offsets(q);
        let rad = &self.radial[r..][..self.n_modes];
        let ang = &self.angular[u..][..self.n_modes];
        for ((o, x), y) in out.iter_mut().zip(rad).zip(ang) {
            *o = x * y;
        }
    }

    /// `out[mode] = ∂B_q/∂k (k_m) = R' k̂ A_u + R ∇A_u`.
    fn derivative(&self, q: usize, out: &mut [Vec3]) {
        let (r, u) = self.offsets(q);
        let m = self.n_modes;
        for (mode, o) in out.iter_mut().enumerate() {
            let (rad, slope) = (self.radial[r + mode], self.radial_slope[r + mode]);
            let (ang, grad) = (self.angular[u + mode], self.angular_gradient[u + mode]);
            let dir = self.direction[mode];
            *o = std::array::from_fn(|c| slope * ang * dir[c] + rad * grad[c]);
        }
        debug_assert_eq!(out.len(), m);
    }
}

/// [`mesh_sum`] for a separable basis (its factors tabulated once per mode). Returns `(centers.len(),
/// n_channels, basis.n_columns())`.
pub fn separable_mesh_sum<B: SeparableBasis>(
    cell: &Cell,
    centers: &[Vec3],
    sources: &Sources<'_>,
    modes: &MeshModes,
    basis: &B,
) -> Result<Array3<f64>> {
    let tables = SeparableTables::new(modes, basis, false);
    let odd = basis.odd_columns();
    mesh_sum(cell, centers, sources, modes, &odd, |q, out| {
        tables.column(q, out)
    })
}

/// [`mesh_backward`] for a separable basis with `B ∝ 1/V` (the centres are the sources):
/// `∂(Σ g·c)/∂r` for every atom and, when `strain`, `∂(Σ g·c)/∂ε`. `cotangent` is
/// `(N, n_channels, basis.n_columns())`.
pub fn separable_mesh_backward<B: SeparableBasis>(
    cell: &Cell,
    sources: &Sources<'_>,
    modes: &MeshModes,
    basis: &B,
    cotangent: ndarray::ArrayView3<f64>,
    strain: bool,
) -> Result<(Vec<Vec3>, Option<crate::systems::Mat3>)> {
    let tables = SeparableTables::new(modes, basis, strain);
    let odd = basis.odd_columns();
    let cotangent = cotangent.as_standard_layout();
    let derivative = |q: usize, out: &mut [Vec3]| tables.derivative(q, out);
    mesh_backward(
        cell,
        sources,
        modes,
        &odd,
        |q, out| tables.column(q, out),
        strain.then_some(&derivative as Derivative<'_>),
        cotangent.as_slice().expect("standard layout"),
    )
}

#[cfg(test)]
mod tests;
