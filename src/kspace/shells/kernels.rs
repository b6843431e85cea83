//! The lane kernels of [`super::shell_sum`]: phase tables of atoms in tiles of [`LANES`], the
//! structure factors from them, and the per-tile fold of each block of whole shells.

use std::ops::Range;

use rayon::prelude::*;

use super::super::lanes::{self, LaneTask, Row, RowUpdate, LANES};
use super::super::phases::{IndexBox, Sources};
use crate::systems::{Mat3, Vec3};

/// What every tile needs of one block of whole shells (`len` sorted k-vectors).
pub(super) struct BlockData<'a> {
    /// Offsets of each k-vector's `(h, k, l)` into the tile's phase tables.
    pub(super) offsets: &'a [[usize; 3]],
    /// `[2C^a | 2S^a]` per channel for all sorted k-vectors, `(n_channels, 2 N_k)` row-major.
    pub(super) factors: &'a [f64],
    pub(super) n_k: usize,
    /// The block's first k-vector.
    pub(super) start: usize,
    /// `A[j, p]` in parity order, `(len, n_ang)` row-major.
    pub(super) angular: &'a [f64],
    pub(super) n_even: usize,
    /// The block's shells: local range of k-vectors and shell index.
    pub(super) shells: &'a [(Range<usize>, usize)],
    /// `R_s[r, p]` in parity order for every shell, `(shells, n_radial · n_ang)` row-major.
    pub(super) radial: &'a [f64],
    pub(super) n_radial: usize,
}

/// Phase tables `e^{inθ_d}`, `n = lo_d…lo_d + len_d − 1`, `θ_d = b_d · r`, of atoms in tiles of
/// [`LANES`] (atom `i` on lane `i % LANES` of tile `i / LANES`; missing lanes are zero, so
/// their phases and sums vanish). Per tile, the three directions' tables one after the other.
pub(super) struct LaneTables {
    len: [usize; 3],
    re: Vec<Row>,
    im: Vec<Row>,
}

/// One tile's tables, per direction.
pub(super) struct TileTables<'a> {
    re: [&'a [Row]; 3],
    im: [&'a [Row]; 3],
}

impl LaneTables {
    pub(super) fn new(positions: &[Vec3], b: &Mat3, index_box: &IndexBox) -> LaneTables {
        let len = index_box.len;
        let stride: usize = len.iter().sum();
        let n_tiles = positions.len().div_ceil(LANES);
        let mut re = vec![[0.0; LANES]; n_tiles * stride];
        let mut im = vec![[0.0; LANES]; n_tiles * stride];
        re.par_chunks_mut(stride.max(1))
            .zip(im.par_chunks_mut(stride.max(1)))
            .zip(positions.par_chunks(LANES))
            .for_each(|((re, im), atoms)| {
                let longest = index_box.longest();
                let mut line_re = [0, 1, 2].map(|_| vec![0.0; longest]);
                let mut line_im = line_re.clone();
                for (lane, r) in atoms.iter().enumerate() {
                    let [re0, re1, re2] = &mut line_re;
                    let [im0, im1, im2] = &mut line_im;
                    index_box.tables(b, *r, [re0, re1, re2], [im0, im1, im2]);
                    let mut first = 0;
                    for d in 0..3 {
                        for j in 0..len[d] {
                            re[first + j][lane] = line_re[d][j];
                            im[first + j][lane] = line_im[d][j];
                        }
                        first += len[d];
                    }
                }
            });
        LaneTables { len, re, im }
    }

    pub(super) fn tile(&self, t: usize) -> TileTables<'_> {
        let stride: usize = self.len.iter().sum();
        let (re, im) = (
            &self.re[t * stride..(t + 1) * stride],
            &self.im[t * stride..(t + 1) * stride],
        );
        let (re0, rest) = re.split_at(self.len[0]);
        let (re1, re2) = rest.split_at(self.len[1]);
        let (im0, rest) = im.split_at(self.len[0]);
        let (im1, im2) = rest.split_at(self.len[1]);
        TileTables {
            re: [re0, re1, re2],
            im: [im0, im1, im2],
        }
    }

    pub(super) fn n_tiles(&self) -> usize {
        self.re.len() / self.len.iter().sum::<usize>().max(1)
    }
}

impl TileTables<'_> {
    /// `e^{ik·r}` of the tile's atoms for the k-vector with table offsets `o`.
    #[inline(always)]
    pub(super) fn phase<R: RowUpdate>(&self, o: &[usize; 3]) -> (Row, Row) {
        let (re, im) = (&self.re, &self.im);
        let (x, y) = R::cmul(&re[0][o[0]], &im[0][o[0]], &re[1][o[1]], &im[1][o[1]]);
        R::cmul(&x, &y, &re[2][o[2]], &im[2][o[2]])
    }
}

/// k-vectors per task of [`lane_structure_factors`].
const FACTOR_CHUNK: usize = 512;

/// `[2C^a | 2S^a]` of every channel for every (sorted) k-vector, `(n_channels, 2 N_k)`
/// row-major: per chunk of [`FACTOR_CHUNK`] k-vectors (in parallel), lane-wise weighted sums
/// over the sources' tiles in order, then over the lanes in order (deterministic).
pub(super) fn lane_structure_factors(
    sources: &Sources<'_>,
    tables: &LaneTables,
    offsets: &[[usize; 3]],
) -> Vec<f64> {
    let n_channels = sources.n_channels();
    let n_k = offsets.len();
    // per tile and channel, the weights of the lanes of that channel
    let weights: Vec<Row> = (0..tables.n_tiles())
        .flat_map(|t| {
            (0..n_channels).map(move |a| {
                std::array::from_fn(|lane| {
                    let j = t * LANES + lane;
                    if j < sources.len() && sources.channels()[j] == a {
                        sources.weight(j)
                    } else {
                        0.0
                    }
                })
            })
        })
        .collect();
    let chunks: Vec<Vec<f64>> = offsets
        .par_chunks(FACTOR_CHUNK)
        .map(|chunk| {
            if crate::threads::check_cancelled().is_err() {
                return Vec::new(); // the caller's check_cancelled reports it
            }
            let mut task = FactorTask {
                tables,
                weights: &weights,
                offsets: chunk,
                n_channels,
                sums: vec![[0.0; LANES]; 2 * n_channels * chunk.len()],
            };
            lanes::dispatch(&mut task);
            task.sums
                .iter()
                .map(|row| 2.0 * row.iter().sum::<f64>())
                .collect()
        })
        .collect();
    let mut factors = vec![0.0; n_channels * 2 * n_k];
    for (c, sums) in chunks.iter().enumerate() {
        let (start, len) = (c * FACTOR_CHUNK, sums.len() / (2 * n_channels).max(1));
        for a in 0..n_channels {
            let row = &mut factors[a * 2 * n_k..(a + 1) * 2 * n_k];
            let (cos, sin) = sums[2 * a * len..2 * (a + 1) * len].split_at(len);
            row[start..start + len].copy_from_slice(cos);
            row[n_k + start..n_k + start + len].copy_from_slice(sin);
        }
    }
    factors
}

/// Lane-wise sums `Σ_tiles w^a ⊙ e^{ik·r}` for a chunk of k-vectors: `sums` holds, per channel,
/// the cosine rows then the sine rows of the chunk.
struct FactorTask<'a> {
    tables: &'a LaneTables,
    weights: &'a [Row],
    offsets: &'a [[usize; 3]],
    n_channels: usize,
    sums: Vec<Row>,
}

impl LaneTask for FactorTask<'_> {
    #[inline(always)]
    fn run<R: RowUpdate>(&mut self) {
        let len = self.offsets.len();
        for t in 0..self.tables.n_tiles() {
            let tables = self.tables.tile(t);
            let w = &self.weights[t * self.n_channels..(t + 1) * self.n_channels];
            for (j, o) in self.offsets.iter().enumerate() {
                let (c, s) = tables.phase::<R>(o);
                for (a, w_a) in w.iter().enumerate() {
                    R::mul_add(&mut self.sums[2 * a * len + j], w_a, &c);
                    R::mul_add(&mut self.sums[(2 * a + 1) * len + j], w_a, &s);
                }
            }
        }
    }
}

/// Per-thread buffers of the tile kernel.
pub(super) struct TileScratch {
    /// Phases of the block's k-vectors.
    cos: Vec<Row>,
    sin: Vec<Row>,
    /// The even and odd sums `F` of one shell and channel.
    even: Vec<Row>,
    odd: Vec<Row>,
}

impl TileScratch {
    pub(super) fn new(len: usize) -> TileScratch {
        TileScratch {
            cos: vec![[0.0; LANES]; len],
            sin: vec![[0.0; LANES]; len],
            even: vec![[0.0; LANES]; len],
            odd: vec![[0.0; LANES]; len],
        }
    }
}

/// One tile and one block: the phases of the tile's centres, then per shell and channel the
/// angular sums, folded into `out` (`(n_channels, n_radial, n_ang)` rows of lanes) with the
/// shell's radial factors.
pub(super) struct FoldTask<'a> {
    pub(super) data: &'a BlockData<'a>,
    pub(super) tables: &'a TileTables<'a>,
    pub(super) scratch: &'a mut TileScratch,
    pub(super) out: &'a mut [Row],
}

impl LaneTask for FoldTask<'_> {
    #[inline(always)]
    fn run<R: RowUpdate>(&mut self) {
        let data = self.data;
        let len = data.offsets.len();
        let n_ang = data.angular.len() / len;
        let n_radial = data.n_radial;
        let TileScratch {
            cos,
            sin,
            even,
            odd,
        } = &mut *self.scratch;
        for (j, o) in data.offsets.iter().enumerate() {
            (cos[j], sin[j]) = self.tables.phase::<R>(o);
        }
        for (range, shell) in data.shells {
            let m = range.len();
            let r_s = &data.radial[shell * n_radial * n_ang..(shell + 1) * n_radial * n_ang];
            let angular = &data.angular[range.start * n_ang..range.end * n_ang];
            for (a, out_a) in self.out.chunks_exact_mut(n_radial * n_ang).enumerate() {
                let channel = &data.factors[2 * a * data.n_k..2 * (a + 1) * data.n_k];
                let (ca, sa) = channel.split_at(data.n_k);
                let (ca, sa) = (
                    &ca[data.start..data.start + len],
                    &sa[data.start..data.start + len],
                );
                for (jj, j) in range.clone().enumerate() {
                    (even[jj], odd[jj]) = R::sums(&cos[j], &sin[j], ca[j], sa[j]);
                }
                let shell = Shell {
                    angular,
                    n_ang,
                    radial: r_s,
                    n_radial,
                };
                shell.fold::<R>(&even[..m], 0..data.n_even, out_a);
                shell.fold::<R>(&odd[..m], data.n_even..n_ang, out_a);
            }
        }
    }
}

/// The factors of one shell for [`Shell::fold`].
struct Shell<'a> {
    /// `A[k, p]` of the shell's k-vectors, `(m, n_ang)`.
    angular: &'a [f64],
    n_ang: usize,
    /// `R_s[r, p]`, `(n_radial, n_ang)`.
    radial: &'a [f64],
    n_radial: usize,
}

impl Shell<'_> {
    /// `out[r, p] += R_s[r, p] Σ_k A[k, p] f[k]` for the columns `p` in `columns`; the sums
    /// run two columns at a time in registers.
    #[inline(always)]
    fn fold<R: RowUpdate>(&self, f: &[Row], columns: Range<usize>, out: &mut [Row]) {
        let n_ang = self.n_ang;
        let mut p = columns.start;
        while p + 2 <= columns.end {
            let mut x = [0.0; LANES];
            let mut y = [0.0; LANES];
            for (k, fk) in f.iter().enumerate() {
                R::axpy(&mut x, self.angular[k * n_ang + p], fk);
                R::axpy(&mut y, self.angular[k * n_ang + p + 1], fk);
            }
            for r in 0..self.n_radial {
                R::axpy(&mut out[r * n_ang + p], self.radial[r * n_ang + p], &x);
                R::axpy(
                    &mut out[r * n_ang + p + 1],
                    self.radial[r * n_ang + p + 1],
                    &y,
                );
            }
            p += 2;
        }
        if p < columns.end {
            let mut x = [0.0; LANES];
            for (k, fk) in f.iter().enumerate() {
                R::axpy(&mut x, self.angular[k * n_ang + p], fk);
            }
            for r in 0..self.n_radial {
                R::axpy(&mut out[r * n_ang + p], self.radial[r * n_ang + p], &x);
            }
        }
    }
}
