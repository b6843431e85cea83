//! k-vectors grouped by norm ("shells"), and the contraction over k for a basis that is a
//! radial factor of `|k|` times an angular factor of `k`.
//!
//! In cells with symmetry many k-vectors share their norm: a cubic cell has about 20 per
//! shell at the cutoffs of LODE (48 symmetry operations, halved by the `±k` pairing), an
//! orthorhombic one about 4. When the basis is separable, `B[k, (r, u)] = R_r,g(u)(|k|) A_u(k)`
//! (for LODE `u = (l, m)`, `r = n`, `g(u) = l`), the contraction splits into
//!
//! 1. `G^a_u(i, s) = Σ_{k∈s} A_u(k) F^a_{parity(u)}(i, k)`: `n_ang` multiply-adds per (centre,
//!    k-vector, channel) instead of `n_radial · n_ang`;
//! 2. `c^a_{r,u}(i) = Σ_s R_{r,g(u)}(|k_s|) G^a_u(i, s)`: `n_radial · n_ang` per (centre, shell,
//!    channel).
//!
//! For LODE with `n_max = 6` this is about 6 times fewer operations than the dense product
//! of [`super::reciprocal_sum`] on cubic cells; on cells without symmetry (one k-vector per
//! shell) it is no cheaper, and the caller keeps the dense product.

use std::ops::Range;

use ndarray::parallel::prelude::*;
use ndarray::{s, Array2, Array3, ArrayViewMut2, Axis};
use rayon::prelude::*;

use super::contraction::{ParityOrder, K_BLOCK};
use super::k_vectors::dot;
use super::k_vectors::KVectors;
use super::lanes::{self, LaneTask, Row, RowUpdate, LANES};
use super::phases::{check_finite, phase_table, Sources};
use crate::error::Result;
use crate::systems::{Cell, Mat3, Vec3};

/// Two norms belong to one shell when they differ by at most this, relative: rounding of the
/// norms of symmetry-equivalent k-vectors is a few ulps, distinct norms of a lattice differ by
/// far more, and the radial factors are smooth, so evaluating them at the smallest norm of the
/// shell changes them by ~1e-12 of their size at most.
pub const SHELL_TOLERANCE: f64 = 1e-12;

/// The k-vectors of a [`KVectors`] sorted by norm (ties in their original order) and grouped
/// into shells of equal norm (to [`SHELL_TOLERANCE`]).
#[derive(Debug, Clone)]
pub struct Shells {
    /// The vectors sorted by norm.
    kvectors: KVectors,
    /// Shell `s` holds the sorted vectors `starts[s]..starts[s + 1]`.
    starts: Vec<usize>,
}

impl Shells {
    /// Sort and group `kvectors`.
    pub fn new(kvectors: &KVectors) -> Shells {
        let norms = kvectors.norms();
        let mut order: Vec<usize> = (0..kvectors.len()).collect();
        order.sort_by(|&a, &b| norms[a].total_cmp(&norms[b]).then(a.cmp(&b)));
        let sorted = kvectors.permuted(&order);
        let mut starts = Vec::new();
        let mut first = f64::NEG_INFINITY;
        for (k, &norm) in sorted.norms().iter().enumerate() {
            if k == 0 || norm > first * (1.0 + SHELL_TOLERANCE) {
                starts.push(k);
                first = norm;
            }
        }
        starts.push(sorted.len());
        Shells {
            kvectors: sorted,
            starts,
        }
    }

    /// The sorted k-vectors.
    pub fn kvectors(&self) -> &KVectors {
        &self.kvectors
    }

    /// Number of shells.
    pub fn len(&self) -> usize {
        self.starts.len() - 1
    }

    /// True when there are no k-vectors.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The sorted k-vectors of shell `s`.
    pub fn range(&self, s: usize) -> Range<usize> {
        self.starts[s]..self.starts[s + 1]
    }

    /// The norm the radial factors of shell `s` are evaluated at: its smallest.
    pub fn norm(&self, s: usize) -> f64 {
        self.kvectors.norms()[self.starts[s]]
    }

    /// Blocks of whole consecutive shells, each of at most [`K_BLOCK`] k-vectors (or one shell,
    /// when a shell alone has more).
    fn blocks(&self) -> Vec<Range<usize>> {
        let mut blocks: Vec<Range<usize>> = Vec::new();
        for s in 0..self.len() {
            let shell = self.range(s);
            match blocks.last_mut() {
                Some(b) if shell.end - b.start <= K_BLOCK => b.end = shell.end,
                _ => blocks.push(shell),
            }
        }
        blocks
    }

    /// Mean number of k-vectors per shell (1 for an empty set).
    pub fn degeneracy(&self) -> f64 {
        self.kvectors.len() as f64 / self.len().max(1) as f64
    }
}

/// Mean number of k-vectors per shell expected from the symmetry of the lattice, without
/// enumerating them: half the number of signed permutations of the reciprocal basis that leave
/// its metric `b_i · b_j` unchanged (to 1e-10): 24 for a cubic cell, 8 tetragonal, 4
/// orthorhombic, 1 for a cell without such symmetry. Lattice symmetries that are not signed
/// permutations of the given basis (a skewed basis of a cubic lattice) are not found: the
/// estimate errs low, and [`Shells::degeneracy`] gives the exact mean once the vectors exist.
pub fn symmetry_degeneracy(cell: &Cell) -> f64 {
    let b = cell.reciprocal();
    let metric: [[f64; 3]; 3] = std::array::from_fn(|i| std::array::from_fn(|j| dot(b[i], b[j])));
    let scale = metric.iter().flatten().fold(0.0f64, |m, x| m.max(x.abs()));
    let perms = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    let mut count = 0;
    for perm in perms {
        for signs in 0..8 {
            let sign = |i: usize| if signs >> i & 1 == 1 { -1.0 } else { 1.0 };
            let same = (0..3).all(|i| {
                (0..3).all(|j| {
                    let x = sign(i) * sign(j) * metric[perm[i]][perm[j]];
                    (x - metric[i][j]).abs() <= 1e-10 * scale
                })
            });
            count += usize::from(same);
        }
    }
    (count as f64 / 2.0).max(1.0)
}

/// A basis separable into a radial and an angular factor, for [`shell_sum`]:
/// `B[k, r · n_ang + u] = R[r, group[u]](|k|) · A[k, u]`.
pub struct SeparableBasis<FA, FR> {
    /// Parity of each angular column (odd columns pair with the sine sums).
    pub odd: Vec<bool>,
    /// Radial group of each angular column, `< n_groups`.
    pub group: Vec<usize>,
    /// Number of radial functions `r`.
    pub n_radial: usize,
    /// Number of radial groups.
    pub n_groups: usize,
    /// `angular(kvectors, range, a)` fills `a[k − start, u] = A[k, u]` (zeroed beforehand); it is
    /// called concurrently on disjoint ranges and must give each entry independently of them.
    pub angular: FA,
    /// `radial(|k|, r)` fills `r[[r, g]] = R[r, g](|k|)`, shape `(n_radial, n_groups)`.
    pub radial: FR,
}

/// The reciprocal-space sum of [`super::reciprocal_sum`] for a separable basis, grouped by
/// shells:
///
/// `out[i, a, r · n_ang + u] = Σ_s R[r, group[u]](|k_s|) Σ_{k∈s} A[k, u] F^a_{odd[u]}(i, k)`,
///
/// with `F` the cos/sin sums of [`super::reciprocal_sum`] over the k-vectors of `shells`.
/// Returns `(centers.len(), n_channels, n_radial · n_ang)`.
///
/// # Algorithm and memory
/// 1. The radial factors of every shell, once (`shells × n_radial × n_ang`), and the angular
///    factors of every k-vector (`N_k × n_ang`).
/// 2. Phase tables `e^{inθ_d}` of the atoms in tiles of `LANES` (atoms along SIMD lanes;
///    `N × Σ_d len_d` complex values, shared when the centres are the sources), and from them
///    the doubled structure factors of every k-vector (`2 n_channels N_k`).
/// 3. Per tile of centres (in parallel) and block of whole shells (about [`K_BLOCK`]
///    k-vectors): the centres' phases (two complex products per k-vector), then per shell and
///    channel `G_u = Σ_{k∈s} A[k, u] F(k)`, held in registers two columns at a time and folded
///    into the tile's coefficients with the shell's radial factors.
///
/// Memory: the output twice, the tables and factors above and
/// `O(threads · LANES · K_BLOCK)` scratch.
///
/// # Parallelism and determinism
/// Parallel over tiles of `LANES` centres inside each block; every centre's sum runs in the
/// same order whatever the number of threads, so results are bitwise identical for 1 and N
/// threads.
///
/// Errors: `InvalidInput` for non-finite centre positions.
pub fn shell_sum<FA, FR>(
    centers: &[Vec3],
    sources: &Sources<'_>,
    shells: &Shells,
    basis: &SeparableBasis<FA, FR>,
) -> Result<Array3<f64>>
where
    FA: Fn(&KVectors, Range<usize>, ArrayViewMut2<'_, f64>) + Sync,
    FR: Fn(f64, ArrayViewMut2<'_, f64>) + Sync,
{
    check_finite(centers, "centre")?;
    let n_centres = centers.len();
    let n_channels = sources.n_channels();
    let n_ang = basis.odd.len();
    let n_radial = basis.n_radial;
    assert_eq!(
        basis.group.len(),
        n_ang,
        "one radial group per angular column"
    );
    assert!(basis.group.iter().all(|&g| g < basis.n_groups));
    let parity = ParityOrder::new(&basis.odd);
    let width = n_channels * n_radial * n_ang;
    let kvectors = shells.kvectors();
    let n_k = kvectors.len();
    if n_centres == 0 || width == 0 || n_k == 0 || sources.is_empty() {
        return Ok(Array3::zeros((n_centres, n_channels, n_radial * n_ang)));
    }

    // 1. per shell, R[r, group[order[p]]] in parity order: (shells, n_radial · n_ang)
    let mut radial = Array2::<f64>::zeros((shells.len(), n_radial * n_ang));
    radial
        .outer_iter_mut()
        .into_par_iter()
        .enumerate()
        .for_each_init(
            || Array2::zeros((n_radial, basis.n_groups)),
            |r_ng, (s, mut row)| {
                r_ng.fill(0.0);
                (basis.radial)(shells.norm(s), r_ng.view_mut());
                for (r, run) in row.exact_chunks_mut(n_ang).into_iter().enumerate() {
                    for (x, &u) in run.into_iter().zip(&parity.order) {
                        *x = r_ng[[r, basis.group[u]]];
                    }
                }
            },
        );
    let radial = radial.as_slice().expect("a fresh array is contiguous");

    // 3. the angular factors of every k-vector, in parity order, (N_k, n_ang)
    let mut angular = Array2::<f64>::zeros((n_k, n_ang));
    angular
        .axis_chunks_iter_mut(Axis(0), BASIS_CHUNK)
        .into_par_iter()
        .enumerate()
        .for_each_init(
            || Array2::zeros((BASIS_CHUNK, n_ang)),
            |chunk_a, (c, mut rows)| {
                let first = c * BASIS_CHUNK;
                let mut a = chunk_a.slice_mut(s![..rows.nrows(), ..]);
                a.fill(0.0);
                (basis.angular)(kvectors, first..first + rows.nrows(), a.view_mut());
                parity.regroup_rows(a.view(), rows.view_mut());
            },
        );
    let angular = angular.as_slice().expect("a fresh array is contiguous");

    // offsets of every k-vector's (h, k, l) into phase tables starting at lo
    let mut lo = [i64::MAX; 3];
    let mut hi = [i64::MIN; 3];
    for n in kvectors.indices() {
        for d in 0..3 {
            lo[d] = lo[d].min(i64::from(n[d]));
            hi[d] = hi[d].max(i64::from(n[d]));
        }
    }
    let offsets: Vec<[usize; 3]> = kvectors
        .indices()
        .iter()
        .map(|n| [0, 1, 2].map(|d| (i64::from(n[d]) - lo[d]) as usize))
        .collect();
    let table_len = [0, 1, 2].map(|d| (hi[d] - lo[d] + 1) as usize);

    // 2. phase tables e^{inθ_d} of the centres, tile by tile, and of the sources (the same ones
    //    when the centres are the sources); the doubled structure factors from the latter
    let b = kvectors.reciprocal();
    let centre_tables = LaneTables::new(centers, b, lo, table_len);
    let source_tables;
    let source_tables = if std::ptr::eq(centers, sources.positions()) {
        &centre_tables
    } else {
        source_tables = LaneTables::new(sources.positions(), b, lo, table_len);
        &source_tables
    };
    let factors = lane_structure_factors(sources, source_tables, &offsets);

    // blocks of whole shells, each with its shells' local ranges
    let blocks: Vec<ShellBlock> = {
        let mut blocks = Vec::new();
        let mut s = 0;
        for block in shells.blocks() {
            let mut members = Vec::new();
            while s < shells.len() && shells.starts[s + 1] <= block.end {
                let r = shells.range(s);
                members.push((r.start - block.start..r.end - block.start, s));
                s += 1;
            }
            blocks.push((block, members));
        }
        blocks
    };
    let longest = blocks.iter().map(|b| b.0.len()).max().unwrap_or(0);

    // 4. per tile of LANES centres (in parallel), every block
    let n_tiles = n_centres.div_ceil(LANES);
    let mut coefficients = vec![[0.0; LANES]; n_tiles * width];
    coefficients
        .par_chunks_mut(width)
        .enumerate()
        .for_each_init(
            || TileScratch::new(longest),
            |scratch, (t, out)| {
                let tables = centre_tables.tile(t);
                for (block, members) in &blocks {
                    let data = BlockData {
                        offsets: &offsets[block.clone()],
                        factors: &factors,
                        n_k,
                        start: block.start,
                        angular: &angular[block.start * n_ang..block.end * n_ang],
                        n_even: parity.n_even,
                        shells: members,
                        radial,
                        n_radial,
                    };
                    lanes::dispatch(&mut FoldTask {
                        data: &data,
                        tables: &tables,
                        scratch,
                        out,
                    });
                }
            },
        );

    // centres back from the lanes and columns back from parity order, in one copy
    let mut out = Array3::<f64>::zeros((n_centres, n_channels, n_radial * n_ang));
    for (i, mut out_i) in out.outer_iter_mut().enumerate() {
        let tile = &coefficients[(i / LANES) * width..(i / LANES + 1) * width];
        let out_i = out_i.as_slice_mut().expect("a fresh array is contiguous");
        for (run, (lanes, to)) in tile
            .chunks_exact(n_ang)
            .zip(out_i.chunks_exact_mut(n_ang))
            .enumerate()
        {
            debug_assert!(run < n_channels * n_radial);
            for (row, &u) in lanes.iter().zip(&parity.order) {
                to[u] = row[i % LANES];
            }
        }
    }
    Ok(out)
}

/// A block of whole shells: its sorted k-vectors, and each shell's local range and index.
type ShellBlock = (Range<usize>, Vec<(Range<usize>, usize)>);

/// k-vectors per call of the angular factors.
const BASIS_CHUNK: usize = 64;

/// What every tile needs of one block of whole shells (`len` sorted k-vectors).
pub(super) struct BlockData<'a> {
    /// Offsets of each k-vector's `(h, k, l)` into the tile's phase tables.
    offsets: &'a [[usize; 3]],
    /// `[2C^a | 2S^a]` per channel for all sorted k-vectors, `(n_channels, 2 N_k)` row-major.
    factors: &'a [f64],
    n_k: usize,
    /// The block's first k-vector.
    start: usize,
    /// `A[j, p]` in parity order, `(len, n_ang)` row-major.
    angular: &'a [f64],
    n_even: usize,
    /// The block's shells: local range of k-vectors and shell index.
    shells: &'a [(Range<usize>, usize)],
    /// `R_s[r, p]` in parity order for every shell, `(shells, n_radial · n_ang)` row-major.
    radial: &'a [f64],
    n_radial: usize,
}

/// Phase tables `e^{inθ_d}`, `n = lo_d…lo_d + len_d − 1`, `θ_d = b_d · r`, of atoms in tiles of
/// `LANES` (atom `i` on lane `i % LANES` of tile `i / LANES`; missing lanes are zero, so
/// their phases and sums vanish). Per tile, the three directions' tables one after the other.
struct LaneTables {
    len: [usize; 3],
    re: Vec<Row>,
    im: Vec<Row>,
}

/// One tile's tables, per direction.
struct TileTables<'a> {
    re: [&'a [Row]; 3],
    im: [&'a [Row]; 3],
}

impl LaneTables {
    fn new(positions: &[Vec3], b: &Mat3, lo: [i64; 3], len: [usize; 3]) -> LaneTables {
        let stride: usize = len.iter().sum();
        let n_tiles = positions.len().div_ceil(LANES);
        let mut re = vec![[0.0; LANES]; n_tiles * stride];
        let mut im = vec![[0.0; LANES]; n_tiles * stride];
        re.par_chunks_mut(stride.max(1))
            .zip(im.par_chunks_mut(stride.max(1)))
            .zip(positions.par_chunks(LANES))
            .for_each(|((re, im), atoms)| {
                let longest = len.iter().copied().max().unwrap_or(0);
                let (mut line_re, mut line_im) = (vec![0.0; longest], vec![0.0; longest]);
                let mut first = 0;
                for d in 0..3 {
                    let n = len[d];
                    for (lane, r) in atoms.iter().enumerate() {
                        phase_table(dot(b[d], *r), lo[d], &mut line_re[..n], &mut line_im[..n]);
                        for j in 0..n {
                            re[first + j][lane] = line_re[j];
                            im[first + j][lane] = line_im[j];
                        }
                    }
                    first += n;
                }
            });
        LaneTables { len, re, im }
    }

    fn tile(&self, t: usize) -> TileTables<'_> {
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

    fn n_tiles(&self) -> usize {
        self.re.len() / self.len.iter().sum::<usize>().max(1)
    }
}

impl TileTables<'_> {
    /// `e^{ik·r}` of the tile's atoms for the k-vector with table offsets `o`.
    #[inline(always)]
    fn phase<R: RowUpdate>(&self, o: &[usize; 3]) -> (Row, Row) {
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
fn lane_structure_factors(
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
    fn new(len: usize) -> TileScratch {
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
struct FoldTask<'a> {
    data: &'a BlockData<'a>,
    tables: &'a TileTables<'a>,
    scratch: &'a mut TileScratch,
    out: &'a mut [Row],
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

#[cfg(test)]
mod tests {
    use super::super::k_vectors::k_vectors;
    use super::super::reciprocal_sum;
    use super::*;
    use crate::threads::with_threads;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn cell(m: [[f64; 3]; 3]) -> Cell {
        Cell::new(m, [true; 3]).unwrap()
    }

    fn cubic(a: f64) -> Cell {
        cell([[a, 0.0, 0.0], [0.0, a, 0.0], [0.0, 0.0, a]])
    }

    /// A smooth separable test basis with 3 radial groups over 7 angular columns.
    fn angular(kv: &KVectors, range: Range<usize>, mut a: ArrayViewMut2<'_, f64>) {
        for (mut row, k) in a.outer_iter_mut().zip(range) {
            let v = kv.vectors()[k];
            for (u, x) in row.iter_mut().enumerate() {
                *x = (u as f64 * 0.3 * v[0] + v[1] - 0.5 * v[2]).cos() + 0.1 * u as f64;
            }
        }
    }

    fn radial(norm: f64, mut r: ArrayViewMut2<'_, f64>) {
        for ((n, g), x) in r.indexed_iter_mut() {
            *x = (-norm * norm / (n as f64 + g as f64 + 1.0)).exp() * (1.0 + 0.2 * g as f64);
        }
    }

    type AngularFn = fn(&KVectors, Range<usize>, ArrayViewMut2<'_, f64>);
    type RadialFn = fn(f64, ArrayViewMut2<'_, f64>);

    fn basis() -> SeparableBasis<AngularFn, RadialFn> {
        SeparableBasis {
            odd: vec![false, true, false, true, true, false, false],
            group: vec![0, 1, 2, 1, 1, 0, 2],
            n_radial: 4,
            n_groups: 3,
            angular,
            radial,
        }
    }

    /// The same sum as [`reciprocal_sum`] with the dense basis `R(|k|) A(k)`.
    fn dense(centers: &[Vec3], sources: &Sources<'_>, kv: &KVectors) -> Array3<f64> {
        let b = basis();
        let n_ang = b.odd.len();
        let odd: Vec<bool> = (0..b.n_radial).flat_map(|_| b.odd.clone()).collect();
        reciprocal_sum(centers, sources, kv, &odd, |kv, range, mut out| {
            let mut a = Array2::zeros((range.len(), n_ang));
            angular(kv, range.clone(), a.view_mut());
            let mut r = Array2::zeros((b.n_radial, b.n_groups));
            for (j, k) in range.enumerate() {
                radial(kv.norms()[k], r.view_mut());
                for rr in 0..b.n_radial {
                    for u in 0..n_ang {
                        out[[j, rr * n_ang + u]] = r[[rr, b.group[u]]] * a[[j, u]];
                    }
                }
            }
        })
        .unwrap()
    }

    struct Atoms {
        centers: Vec<Vec3>,
        positions: Vec<Vec3>,
        channels: Vec<usize>,
        weights: Vec<f64>,
    }

    fn atoms(cell: &Cell, n_centres: usize, n_sources: usize, seed: u64) -> Atoms {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut random = || cell.to_cartesian([0, 1, 2].map(|_| rng.random_range(-0.2..1.2)));
        let centers = (0..n_centres).map(|_| random()).collect();
        let positions = (0..n_sources).map(|_| random()).collect();
        Atoms {
            centers,
            positions,
            channels: (0..n_sources).map(|j| (j * 5 + 2) % 3).collect(),
            weights: (0..n_sources)
                .map(|j| 0.4 + (j % 4) as f64 * 0.35)
                .collect(),
        }
    }

    fn worst_relative(x: &Array3<f64>, y: &Array3<f64>) -> f64 {
        let scale = y.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        x.iter()
            .zip(y)
            .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()))
            / scale
    }

    #[test]
    fn shells_group_equal_norms_in_sorted_order() {
        let a = 9.0;
        let kv = k_vectors(&cubic(a), 4.5).unwrap();
        let shells = Shells::new(&kv);
        // in a cubic cell |k|² = (2π/a)² (h² + k² + l²): one shell per distinct integer
        let distinct: std::collections::BTreeSet<i32> = kv
            .indices()
            .iter()
            .map(|n| n[0] * n[0] + n[1] * n[1] + n[2] * n[2])
            .collect();
        assert_eq!(shells.len(), distinct.len());
        assert_eq!(shells.kvectors().len(), kv.len());
        let norms = shells.kvectors().norms();
        assert!(norms.windows(2).all(|w| w[0] <= w[1]));
        for s in 0..shells.len() {
            for k in shells.range(s) {
                let rel = (norms[k] - shells.norm(s)) / shells.norm(s);
                assert!((0.0..=SHELL_TOLERANCE).contains(&rel));
            }
            if s > 0 {
                assert!(shells.norm(s) > shells.norm(s - 1) * (1.0 + 1e-6));
            }
        }
        assert!(shells.degeneracy() > 10.0, "{}", shells.degeneracy());
        // blocks: whole shells, contiguous, covering everything
        let blocks = shells.blocks();
        assert!(blocks.len() > 2);
        assert_eq!(blocks[0].start, 0);
        assert_eq!(blocks.last().unwrap().end, kv.len());
        for w in blocks.windows(2) {
            assert_eq!(w[0].end, w[1].start);
        }
        for b in &blocks {
            assert!(shells.starts.contains(&b.start) && shells.starts.contains(&b.end));
            assert!(
                b.len() <= K_BLOCK || shells.starts.iter().all(|&s| s <= b.start || s >= b.end)
            );
        }
        // the sorted vectors are the original ones, permuted
        let mut sorted = shells.kvectors().indices().to_vec();
        let mut original = kv.indices().to_vec();
        sorted.sort();
        original.sort();
        assert_eq!(sorted, original);
    }

    #[test]
    fn degeneracy_from_symmetry() {
        assert_eq!(symmetry_degeneracy(&cubic(7.0)), 24.0);
        let tetragonal = cell([[7.0, 0.0, 0.0], [0.0, 7.0, 0.0], [0.0, 0.0, 9.0]]);
        assert_eq!(symmetry_degeneracy(&tetragonal), 8.0);
        let orthorhombic = cell([[7.0, 0.0, 0.0], [0.0, 8.0, 0.0], [0.0, 0.0, 9.0]]);
        assert_eq!(symmetry_degeneracy(&orthorhombic), 4.0);
        let triclinic = cell([[7.0, 0.0, 0.0], [2.0, 6.5, 0.0], [-1.5, 1.0, 8.0]]);
        assert_eq!(symmetry_degeneracy(&triclinic), 1.0);
        // the estimate against the exact mean of a cubic cell at a LODE-like cutoff
        let exact = Shells::new(&k_vectors(&cubic(16.0), 3.15).unwrap()).degeneracy();
        assert!((12.0..=24.0).contains(&exact), "{exact}");
    }

    #[test]
    fn equals_the_dense_contraction() {
        // cubic (many blocks, large shells), orthorhombic, triclinic (one vector per shell);
        // partial tiles of lanes, centres distinct from the sources, 3 channels
        let cases = [
            (cubic(8.0), 5.0),
            (
                cell([[6.0, 0.0, 0.0], [0.0, 7.0, 0.0], [0.0, 0.0, 8.5]]),
                4.0,
            ),
            (
                cell([[7.0, 0.0, 0.0], [2.0, 6.5, 0.0], [-1.5, 1.0, 8.0]]),
                3.5,
            ),
        ];
        for (c, (cell, k_cutoff)) in cases.iter().enumerate() {
            let kv = k_vectors(cell, *k_cutoff).unwrap();
            let shells = Shells::new(&kv);
            let at = atoms(cell, 21, 13, c as u64);
            let sources = Sources::new(&at.positions, &at.channels, Some(&at.weights), 3).unwrap();
            let got = shell_sum(&at.centers, &sources, &shells, &basis()).unwrap();
            let expected = dense(&at.centers, &sources, &kv);
            assert_eq!(got.dim(), (21, 3, 28));
            let err = worst_relative(&got, &expected);
            eprintln!(
                "case {c}: {} k-vectors in {} shells, worst error {err:.1e} of the largest value",
                kv.len(),
                shells.len()
            );
            assert!(err < 1e-12, "case {c}: {err:e}");
        }
        // c == 0 must span several blocks
        assert!(k_vectors(&cases[0].0, cases[0].1).unwrap().len() > 2 * K_BLOCK);
    }

    #[test]
    fn bitwise_identical_for_one_and_two_threads_and_shared_phases() {
        let cell = cubic(9.0);
        let kv = k_vectors(&cell, 3.0).unwrap();
        let shells = Shells::new(&kv);
        let at = atoms(&cell, 40, 40, 5);
        let sources = Sources::new(&at.positions, &at.channels, None, 3).unwrap();
        let run = || shell_sum(&at.positions, &sources, &shells, &basis()).unwrap();
        let one = with_threads(1, run).unwrap();
        let two = with_threads(2, run).unwrap();
        assert!(one
            .iter()
            .zip(&two)
            .all(|(x, y)| x.to_bits() == y.to_bits()));
        let expected = dense(&at.positions, &sources, &kv);
        assert!(worst_relative(&one, &expected) < 1e-12);
    }

    #[test]
    fn portable_kernel_agrees_with_the_dispatched_one() {
        let cell = cell([[8.0, 0.0, 0.0], [0.0, 8.0, 0.0], [0.0, 0.0, 11.0]]);
        let kv = k_vectors(&cell, 3.5).unwrap();
        let shells = Shells::new(&kv);
        let at = atoms(&cell, 19, 19, 8);
        let sources = Sources::new(&at.positions, &at.channels, None, 3).unwrap();
        let run = || shell_sum(&at.positions, &sources, &shells, &basis()).unwrap();
        let dispatched = run();
        super::super::lanes::tests::PORTABLE.store(true, std::sync::atomic::Ordering::Relaxed);
        let portable = run();
        super::super::lanes::tests::PORTABLE.store(false, std::sync::atomic::Ordering::Relaxed);
        assert!(worst_relative(&portable, &dispatched) < 1e-13);
        assert!(worst_relative(&portable, &dense(&at.positions, &sources, &kv)) < 1e-12);
    }

    #[test]
    fn empty_inputs_and_bad_positions() {
        let cell = cubic(6.0);
        let kv = k_vectors(&cell, 2.0).unwrap();
        let shells = Shells::new(&kv);
        let at = atoms(&cell, 3, 4, 1);
        let sources = Sources::new(&at.positions, &at.channels, None, 3).unwrap();
        let none = Sources::new(&[], &[], None, 3).unwrap();
        let out = shell_sum(&at.centers, &none, &shells, &basis()).unwrap();
        assert_eq!(out.dim(), (3, 3, 28));
        assert!(out.iter().all(|&x| x == 0.0));
        assert_eq!(
            shell_sum(&[], &sources, &shells, &basis()).unwrap().dim(),
            (0, 3, 28)
        );
        let bad = [[0.0, f64::INFINITY, 0.0]];
        assert!(shell_sum(&bad, &sources, &shells, &basis()).is_err());
    }
}
