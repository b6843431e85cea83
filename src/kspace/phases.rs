//! Phase factors `e^{ik·r}` by recurrence over the integer indices, and structure factors.
//!
//! For an atom at `r` and `θ_d = b_d · r` (`d = 1, 2, 3`), `k·r = h θ₁ + k θ₂ + l θ₃` for
//! `k = h b₁ + k b₂ + l b₃`, so `e^{ik·r} = e^{ihθ₁} e^{ikθ₂} e^{ilθ₃}`. Each factor comes from
//! a table `e^{inθ}`, `n = lo..=hi`, built by repeated multiplication with `e^{iθ}`; along a run
//! of consecutive `l` at fixed `(h, k)` this is one complex product per `(atom, k)` instead of a
//! `sin`/`cos` pair. Rounding grows linearly along a
//! recurrence, so every [`RESEED`]-th entry is evaluated directly (with the product `nθ`
//! compensated by an FMA, so the seed is accurate for the `f64` value of `θ`): table entries are
//! within a few ulps of `e^{inθ}` for any index range.
//!
//! Memory: the tables span the index ranges of one block of k-vectors and live in one scratch
//! buffer per chunk of atoms; the outputs are `O(atoms × block)`.

use std::ops::Range;

use ndarray::linalg::general_mat_mul;
use ndarray::parallel::prelude::*;
use ndarray::{Array2, ArrayView1, ArrayView2, ArrayViewMut2, Axis};
use rayon::slice::ParallelSlice;

use super::k_vectors::{dot, KVectors};
use crate::error::{Error, Result};
use crate::systems::{Mat3, Vec3};

/// A direct (`sin_cos`) evaluation every `RESEED` steps of a phase recurrence.
pub const RESEED: usize = 16;

/// Atoms per parallel task when filling phase tables.
const ROW_CHUNK: usize = 32;

/// The atoms `j` that carry the density: positions, channel (species or charge channel) and
/// weight `w_j`. Separate from the centres: an atom may be a centre, a source, or both.
#[derive(Debug, Clone, Copy)]
pub struct Sources<'a> {
    positions: &'a [Vec3],
    channels: &'a [usize],
    weights: Option<&'a [f64]>,
    n_channels: usize,
}

impl<'a> Sources<'a> {
    /// Validate sources: one channel `< n_channels` per position, finite positions, and
    /// optionally one finite weight per position (`None`: all weights are 1).
    pub fn new(
        positions: &'a [Vec3],
        channels: &'a [usize],
        weights: Option<&'a [f64]>,
        n_channels: usize,
    ) -> Result<Sources<'a>> {
        if channels.len() != positions.len() {
            crate::bail_input!(
                "{} source channels for {} source positions",
                channels.len(),
                positions.len()
            );
        }
        if let Some(w) = weights {
            if w.len() != positions.len() {
                crate::bail_input!(
                    "{} source weights for {} source positions",
                    w.len(),
                    positions.len()
                );
            }
            if let Some(j) = w.iter().position(|x| !x.is_finite()) {
                crate::bail_input!("weight of source {j} is not finite: {}", w[j]);
            }
        }
        if let Some(j) = channels.iter().position(|&a| a >= n_channels) {
            crate::bail_input!(
                "source {j} is in channel {} but there are only {n_channels} channels",
                channels[j]
            );
        }
        check_finite(positions, "source")?;
        Ok(Sources {
            positions,
            channels,
            weights,
            n_channels,
        })
    }

    /// Source positions (Å).
    pub fn positions(&self) -> &'a [Vec3] {
        self.positions
    }

    /// Channel of each source.
    pub fn channels(&self) -> &'a [usize] {
        self.channels
    }

    /// Weight of source `j` (1 when no weights were given).
    pub fn weight(&self, j: usize) -> f64 {
        self.weights.map_or(1.0, |w| w[j])
    }

    /// Number of channels.
    pub fn n_channels(&self) -> usize {
        self.n_channels
    }

    /// Number of sources.
    pub fn len(&self) -> usize {
        self.positions.len()
    }

    /// True when there is no source.
    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }
}

pub(crate) fn check_finite(positions: &[Vec3], what: &str) -> Result<()> {
    match positions
        .iter()
        .position(|r| r.iter().any(|x| !x.is_finite()))
    {
        Some(i) => Err(Error::InvalidInput(format!(
            "{what} position {i} is not finite: {:?}",
            positions[i]
        ))),
        None => Ok(()),
    }
}

/// `e^{inθ}` as `[cos, sin]`, accurate for the `f64` value of `θ`: the rounding error of the
/// product `nθ` is recovered with an FMA and applied to first order.
fn direct(n: i64, theta: f64) -> [f64; 2] {
    let nf = n as f64;
    let p = nf * theta;
    let e = nf.mul_add(theta, -p);
    let (s, c) = p.sin_cos();
    [e.mul_add(-s, c), e.mul_add(c, s)]
}

fn cmul(a: [f64; 2], b: [f64; 2]) -> [f64; 2] {
    [a[0] * b[0] - a[1] * b[1], a[0] * b[1] + a[1] * b[0]]
}

/// Fill `re[j] + i im[j] = e^{i (lo + j) θ}` by recurrence, re-seeded every [`RESEED`] entries.
fn phase_table(theta: f64, lo: i64, re: &mut [f64], im: &mut [f64]) {
    let step = direct(1, theta);
    let mut z = [1.0, 0.0];
    for (j, (r, i)) in re.iter_mut().zip(im.iter_mut()).enumerate() {
        z = if j % RESEED == 0 {
            direct(lo + j as i64, theta)
        } else {
            cmul(z, step)
        };
        *r = z[0];
        *i = z[1];
    }
}

/// The box of integer indices a set of k-vectors spans: per direction `d`, the smallest index
/// `lo[d]` and the table length `len[d]` (`hi − lo + 1`; zero for an empty set). Every phase
/// table of this crate is laid out over such a box ([`IndexBox::tables`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IndexBox {
    pub lo: [i64; 3],
    pub len: [usize; 3],
}

impl IndexBox {
    /// The box of `indices`.
    pub fn of(indices: &[[i32; 3]]) -> IndexBox {
        if indices.is_empty() {
            return IndexBox {
                lo: [0; 3],
                len: [0; 3],
            };
        }
        let mut lo = [i64::MAX; 3];
        let mut hi = [i64::MIN; 3];
        for n in indices {
            for d in 0..3 {
                lo[d] = lo[d].min(i64::from(n[d]));
                hi[d] = hi[d].max(i64::from(n[d]));
            }
        }
        IndexBox {
            lo,
            len: [0, 1, 2].map(|d| (hi[d] - lo[d] + 1) as usize),
        }
    }

    /// Offsets of index `n` into the three tables.
    pub fn offsets(&self, n: &[i32; 3]) -> [usize; 3] {
        [0, 1, 2].map(|d| (i64::from(n[d]) - self.lo[d]) as usize)
    }

    /// The longest of the three tables.
    pub fn longest(&self) -> usize {
        self.len.iter().copied().max().unwrap_or(0)
    }

    /// The phase tables of one atom at `r`: `re[d][j] + i im[d][j] = e^{i (lo_d + j) θ_d}`,
    /// `θ_d = b_d · r` (`b` the reciprocal basis), `j < len[d]` (the slices may be longer; the
    /// rest is left alone), by [`phase_table`].
    pub fn tables(&self, b: &Mat3, r: Vec3, re: [&mut [f64]; 3], im: [&mut [f64]; 3]) {
        for (d, (re, im)) in re.into_iter().zip(im).enumerate() {
            let n = self.len[d];
            phase_table(dot(b[d], r), self.lo[d], &mut re[..n], &mut im[..n]);
        }
    }
}

/// A run of k-vectors `first..first + len` (block-relative) sharing `(h, k)`, with consecutive
/// `l` starting at `l`.
struct Run {
    h: i64,
    k: i64,
    l: i64,
    first: usize,
    len: usize,
}

/// Split a block of k-vector indices into runs of consecutive `l` at fixed `(h, k)`.
fn runs_of(indices: &[[i32; 3]]) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    for (j, n) in indices.iter().enumerate() {
        let n = n.map(i64::from);
        match runs.last_mut() {
            Some(r) if r.h == n[0] && r.k == n[1] && r.l + r.len as i64 == n[2] => r.len += 1,
            _ => runs.push(Run {
                h: n[0],
                k: n[1],
                l: n[2],
                first: j,
                len: 1,
            }),
        }
    }
    runs
}

/// Phase factors of `positions` for the k-vectors `range` of `kvectors`, written into `out`
/// (shape `(positions.len(), 2 |range|)`): `out[i, j] = cos(k_j · r_i)`,
/// `out[i, |range| + j] = sin(k_j · r_i)` with `k_j` the vector `range.start + j`.
///
/// Per atom, tables of `e^{ihθ₁}`, `e^{ikθ₂}`, `e^{ilθ₃}` over the index ranges of the block;
/// then, for each run of consecutive `l` at fixed `(h, k)` (see [`KVectors`]' order), one
/// product `e^{ihθ₁} e^{ikθ₂}` and one (vectorised) complex product per k-vector with the
/// `l`-table. Works for any order of `kvectors`, fastest for the lexicographic one.
///
/// Runs in parallel over chunks of atoms on the current rayon pool; each entry is computed by
/// one task in a fixed way, so results do not depend on the number of threads.
///
/// # Panics
/// When `out` has the wrong shape or `range` is out of bounds.
pub fn phases_into(
    positions: &[Vec3],
    kvectors: &KVectors,
    range: Range<usize>,
    mut out: ArrayViewMut2<'_, f64>,
) {
    let indices = &kvectors.indices()[range];
    let nk = indices.len();
    assert_eq!(out.dim(), (positions.len(), 2 * nk), "phase array shape");
    let runs = runs_of(indices);
    let index_box = IndexBox::of(indices);
    let (lo, len) = (index_box.lo, index_box.len);
    let b = kvectors.reciprocal();
    out.axis_chunks_iter_mut(Axis(0), ROW_CHUNK)
        .into_par_iter()
        .zip(positions.par_chunks(ROW_CHUNK))
        .for_each(|(mut rows, chunk)| {
            if crate::threads::check_cancelled().is_err() {
                return; // partial phases: the caller's check_cancelled reports it
            }
            let mut re = [len[0], len[1], len[2]].map(|n| vec![0.0; n]);
            let mut im = re.clone();
            let mut cos = vec![0.0; nk];
            let mut sin = vec![0.0; nk];
            for (mut row, r) in rows.outer_iter_mut().zip(chunk) {
                let [re0, re1, re2] = &mut re;
                let [im0, im1, im2] = &mut im;
                index_box.tables(b, *r, [re0, re1, re2], [im0, im1, im2]);
                for run in &runs {
                    let (h, k) = ((run.h - lo[0]) as usize, (run.k - lo[1]) as usize);
                    let base = cmul([re[0][h], im[0][h]], [re[1][k], im[1][k]]);
                    let l = (run.l - lo[2]) as usize;
                    let (l_re, l_im) = (&re[2][l..l + run.len], &im[2][l..l + run.len]);
                    let out = run.first..run.first + run.len;
                    for (((c, s), &x), &y) in cos[out.clone()]
                        .iter_mut()
                        .zip(&mut sin[out])
                        .zip(l_re)
                        .zip(l_im)
                    {
                        *c = base[0] * x - base[1] * y;
                        *s = base[0] * y + base[1] * x;
                    }
                }
                let (mut row_cos, mut row_sin) = row.view_mut().split_at(Axis(0), nk);
                row_cos.assign(&ArrayView1::from(&cos));
                row_sin.assign(&ArrayView1::from(&sin));
            }
        });
}

/// Structure factors of each channel for the k-vectors `range`, shape `(n_channels, 2 |range|)`:
/// `[a, j] = C^a(k_j) = Σ_{j'∈a} w_{j'} cos(k_j · r_{j'})`, `[a, |range| + j] = S^a(k_j)`, the
/// same with `sin`.
///
/// Computed as the product `W · P` of the `(n_channels × n_sources)` weight matrix and the
/// source phases of [`phases_into`] (one deterministic GEMM; memory `O(n_sources × |range|)`).
pub fn structure_factors(
    sources: &Sources<'_>,
    kvectors: &KVectors,
    range: Range<usize>,
) -> Array2<f64> {
    let nk = range.len();
    if sources.is_empty() || nk == 0 {
        return Array2::zeros((sources.n_channels(), 2 * nk));
    }
    let mut phases = Array2::zeros((sources.len(), 2 * nk));
    phases_into(sources.positions(), kvectors, range, phases.view_mut());
    weighted_sums(sources, phases.view())
}

/// `sin` and `cos` of `k·(r_i − r_j)` for every k-vector of a phases table's rows `row_i`,
/// `row_j` (`cos k·r | sin k·r`, as [`phases_into`] makes them):
/// `sin = s_i c_j − c_i s_j`, `cos = c_i c_j + s_i s_j`.
#[inline]
pub(crate) fn phase_differences(row_i: &[f64], row_j: &[f64], sin: &mut [f64], cos: &mut [f64]) {
    let len = sin.len();
    let (ci, si) = row_i.split_at(len);
    let (cj, sj) = row_j.split_at(len);
    for k in 0..len {
        sin[k] = si[k] * cj[k] - ci[k] * sj[k];
        cos[k] = ci[k] * cj[k] + si[k] * sj[k];
    }
}

/// [`phase_differences`] of the pairs `(i, j > i)` of the centres `centres` (of `n` atoms), in
/// that order, one row per pair of `sin` and `cos` (`(pairs, len)` each); returns the number of
/// pairs.
pub(crate) fn pair_phase_differences(
    phases: ArrayView2<'_, f64>,
    centres: Range<usize>,
    n: usize,
    sin: &mut [f64],
    cos: &mut [f64],
) -> usize {
    let len = phases.ncols() / 2;
    let mut r = 0;
    for i in centres {
        let row_i = phases.row(i);
        let row_i = row_i.as_slice().expect("standard layout");
        for j in i + 1..n {
            let row_j = phases.row(j);
            let row_j = row_j.as_slice().expect("standard layout");
            let at = r * len..(r + 1) * len;
            phase_differences(row_i, row_j, &mut sin[at.clone()], &mut cos[at]);
            r += 1;
        }
    }
    r
}

/// `W · P`: per-channel weighted sums of the rows of `phases` (one row per source).
pub(crate) fn weighted_sums(sources: &Sources<'_>, phases: ArrayView2<'_, f64>) -> Array2<f64> {
    let mut factors = Array2::zeros((sources.n_channels(), phases.ncols()));
    let mut weights = Array2::zeros((sources.n_channels(), sources.len()));
    for (j, &a) in sources.channels().iter().enumerate() {
        weights[[a, j]] = sources.weight(j);
    }
    general_mat_mul(1.0, &weights, &phases, 0.0, &mut factors);
    factors
}

#[cfg(test)]
mod tests {
    use super::super::k_vectors::k_vectors;
    use super::*;
    use crate::systems::Cell;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// The pair phase differences from the phase table equal `sin`, `cos` of `k·(r_i − r_j)`
    /// evaluated directly (1e-12: the recurrence's rounding; a swapped sign is ~1), pairs in
    /// the order `(i, j > i)`.
    #[test]
    fn pair_phase_differences_match_direct_evaluation() {
        let cell = Cell::new(
            [[5.0, 0.0, 0.0], [0.8, 6.0, 0.0], [-0.3, 0.4, 7.0]],
            [true; 3],
        )
        .unwrap();
        let kv = k_vectors(&cell, 3.0).unwrap();
        let mut rng = StdRng::seed_from_u64(9);
        let positions: Vec<Vec3> = (0..5)
            .map(|_| cell.to_cartesian([0, 1, 2].map(|_| rng.random_range(0.0..1.0))))
            .collect();
        let nk = kv.len();
        let mut phases = Array2::zeros((5, 2 * nk));
        phases_into(&positions, &kv, 0..nk, phases.view_mut());
        // the pairs of centres 1..3 of 5 atoms: (1, 2..5), (2, 3..5)
        let mut sin = vec![0.0; 5 * nk];
        let mut cos = vec![0.0; 5 * nk];
        assert_eq!(
            pair_phase_differences(phases.view(), 1..3, 5, &mut sin, &mut cos),
            5
        );
        let pairs = [(1, 2), (1, 3), (1, 4), (2, 3), (2, 4)];
        for (r, &(i, j)) in pairs.iter().enumerate() {
            for (k, kvec) in kv.vectors().iter().enumerate() {
                let phase: f64 = (0..3)
                    .map(|a| kvec[a] * (positions[i][a] - positions[j][a]))
                    .sum();
                assert!(
                    (sin[r * nk + k] - phase.sin()).abs() < 1e-12,
                    "pair {i} {j}, k {k}"
                );
                assert!(
                    (cos[r * nk + k] - phase.cos()).abs() < 1e-12,
                    "pair {i} {j}, k {k}"
                );
            }
        }
    }

    #[test]
    fn recurrence_matches_direct_over_long_ranges() {
        let mut rng = StdRng::seed_from_u64(3);
        // θ with few mantissa bits: every product nθ is exact, so sin_cos(nθ) is an exact
        // reference (to its own ≤ 1 ulp)
        let mut worst_exact: f64 = 0.0;
        for _ in 0..200 {
            let theta = rng.random_range(-40_000..40_000) as f64 / 1024.0;
            let lo = rng.random_range(-400..0);
            let (mut re, mut im) = (vec![0.0; 801], vec![0.0; 801]);
            phase_table(theta, lo, &mut re, &mut im);
            for (j, t) in re.iter().zip(&im).map(|(&r, &i)| [r, i]).enumerate() {
                let (s, c) = ((lo + j as i64) as f64 * theta).sin_cos();
                worst_exact = worst_exact.max((t[0] - c).abs()).max((t[1] - s).abs());
            }
        }
        // any θ: against the compensated direct evaluation
        let mut worst: f64 = 0.0;
        for _ in 0..200 {
            let theta = rng.random_range(-40.0..40.0);
            let lo = rng.random_range(-400..0);
            let (mut re, mut im) = (vec![0.0; 801], vec![0.0; 801]);
            phase_table(theta, lo, &mut re, &mut im);
            for (j, t) in re.iter().zip(&im).map(|(&r, &i)| [r, i]).enumerate() {
                let r = direct(lo + j as i64, theta);
                worst = worst.max((t[0] - r[0]).abs()).max((t[1] - r[1]).abs());
            }
        }
        eprintln!("phase recurrence: worst {worst_exact:.2e} (exact θ), {worst:.2e} (any θ)");
        assert!(
            worst_exact < 1e-14,
            "worst recurrence error {worst_exact:e}"
        );
        assert!(worst < 1e-14, "worst recurrence error {worst:e}");
        // the compensation: a product nθ that rounds, against a value computed by hand
        let d = direct(7, 0.3);
        assert!((d[0] - 2.1f64.cos()).abs() < 1e-15 && (d[1] - 2.1f64.sin()).abs() < 1e-15);
    }

    #[test]
    fn phases_match_direct_trig() {
        let cell = Cell::new(
            [[5.0, 0.0, 0.0], [2.5, 4.0, 0.0], [-1.0, 1.5, 4.5]],
            [true; 3],
        )
        .unwrap();
        let kv = k_vectors(&cell, 9.0).unwrap();
        let mut rng = StdRng::seed_from_u64(5);
        let positions: Vec<Vec3> = (0..37)
            .map(|_| [0, 1, 2].map(|_| rng.random_range(-12.0..12.0)))
            .collect();
        let nk = kv.len();
        let mut out = Array2::zeros((positions.len(), 2 * nk));
        phases_into(&positions, &kv, 0..nk, out.view_mut());
        let mut worst: f64 = 0.0;
        for (i, r) in positions.iter().enumerate() {
            for (j, k) in kv.vectors().iter().enumerate() {
                let x = dot(*k, *r);
                worst = worst
                    .max((out[[i, j]] - x.cos()).abs())
                    .max((out[[i, nk + j]] - x.sin()).abs());
            }
        }
        eprintln!("phases vs direct trig over {nk} k-vectors: worst {worst:.2e}");
        // the reference itself carries |k·r| ulp-level argument errors (|k·r| up to ~200)
        assert!(
            worst < 1e-13,
            "worst phase error {worst:e} over {nk} k-vectors"
        );
        assert!(kv.max_indices().iter().any(|&m| m >= 7));

        // a sub-range gives the same columns
        let mut part = Array2::zeros((positions.len(), 2 * 10));
        phases_into(&positions, &kv, 100..110, part.view_mut());
        for i in 0..positions.len() {
            for j in 0..10 {
                assert!((part[[i, j]] - out[[i, 100 + j]]).abs() < 1e-14);
                assert!((part[[i, 10 + j]] - out[[i, nk + 100 + j]]).abs() < 1e-14);
            }
        }
    }

    #[test]
    fn structure_factors_are_weighted_sums() {
        let cell = Cell::new(
            [[6.0, 0.0, 0.0], [0.0, 7.0, 0.0], [1.0, 0.0, 5.0]],
            [true; 3],
        )
        .unwrap();
        let kv = k_vectors(&cell, 3.0).unwrap();
        let positions = [
            [0.1, 0.2, 0.3],
            [3.0, 1.0, 2.0],
            [5.0, 6.0, 1.0],
            [-1.0, 2.0, 8.0],
        ];
        let channels = [0, 2, 0, 2];
        let weights = [1.0, -0.5, 2.0, 0.25];
        let sources = Sources::new(&positions, &channels, Some(&weights), 3).unwrap();
        let range = 5..40;
        let sf = structure_factors(&sources, &kv, range.clone());
        let nk = range.len();
        for (j, k) in kv.vectors()[range].iter().enumerate() {
            for a in 0..3 {
                let (mut c, mut s) = (0.0, 0.0);
                for (jj, r) in positions.iter().enumerate() {
                    if channels[jj] == a {
                        c += weights[jj] * dot(*k, *r).cos();
                        s += weights[jj] * dot(*k, *r).sin();
                    }
                }
                assert!((sf[[a, j]] - c).abs() < 1e-13);
                assert!((sf[[a, nk + j]] - s).abs() < 1e-13);
            }
        }
    }

    #[test]
    fn sources_are_validated() {
        let p = [[0.0; 3], [1.0; 3]];
        assert!(Sources::new(&p, &[0], None, 1).is_err());
        assert!(Sources::new(&p, &[0, 1], None, 1).is_err());
        assert!(Sources::new(&p, &[0, 0], Some(&[1.0]), 1).is_err());
        assert!(Sources::new(&p, &[0, 0], Some(&[1.0, f64::NAN]), 1).is_err());
        assert!(Sources::new(&[[f64::NAN, 0.0, 0.0]], &[0], None, 1).is_err());
        let s = Sources::new(&p, &[0, 0], None, 2).unwrap();
        assert_eq!((s.len(), s.n_channels(), s.weight(1)), (2, 2, 1.0));
    }
}
