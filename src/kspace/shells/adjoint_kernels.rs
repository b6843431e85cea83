//! The lane kernels of [`super::shell_backward`] (atoms along the SIMD lanes, as in the values'
//! kernels): per group of tiles and block of whole shells, the contracted cotangent `G`, the
//! forces through the centre's own phase and the group's shares of the structure-factor sums
//! `X`, `Y` and of the strain sums `E`, `S'` ([`OwnTask`]); then, once those are summed over
//! every atom, the forces through the structure factors ([`SourceTask`]).

use std::ops::Range;

use super::super::lanes::{LaneTask, Row, RowUpdate, LANES};
use super::kernels::LaneTables;
use crate::systems::Vec3;

const ZERO: Row = [0.0; LANES];

/// What every group of tiles needs of one block of whole shells (`len` sorted k-vectors).
pub(super) struct AdjointBlock<'a> {
    /// Offsets of the block's k-vectors into the phase tables.
    pub offsets: &'a [[usize; 3]],
    /// `[2C^a | 2S^a]` per channel for all sorted k-vectors, `(n_channels, 2 N_k)` row-major.
    pub factors: &'a [f64],
    pub n_k: usize,
    /// The block's first k-vector.
    pub start: usize,
    /// The block's k-vectors.
    pub vectors: &'a [Vec3],
    /// `A[j, p]` in parity order, `(len, n_ang)` row-major.
    pub angular: &'a [f64],
    pub n_even: usize,
    /// The block's shells: local range of k-vectors and shell index.
    pub shells: &'a [(Range<usize>, usize)],
    /// `R_s[r, p]` in parity order for every shell, `(shells, n_radial · n_ang)` row-major.
    pub radial: &'a [f64],
    /// `R'_s[r, p]` likewise, with strain.
    pub derivative: Option<&'a [f64]>,
    pub n_radial: usize,
    pub n_channels: usize,
}

impl AdjointBlock<'_> {
    fn len(&self) -> usize {
        self.offsets.len()
    }

    fn n_ang(&self) -> usize {
        self.angular.len() / self.len().max(1)
    }
}

/// Per-task buffers of [`OwnTask`], sized for the longest shell.
pub(super) struct AdjointScratch {
    cos: Vec<Row>,
    sin: Vec<Row>,
    /// `g̃^a[p]` then (with strain) `g̃'^a[p]`: `(2, n_channels, n_ang)`.
    folded: Vec<Row>,
    /// `[X | Y]` lanes per k-vector of the shell and channel: `(m, n_channels, 2)`.
    xy: Vec<Row>,
    /// `E[k, p]` lanes, `(m, n_ang)` (with strain).
    e: Vec<Row>,
    /// `S'[k]` lanes (with strain).
    s1: Vec<Row>,
}

impl AdjointScratch {
    pub(super) fn new(longest_shell: usize, n_channels: usize, n_ang: usize) -> Self {
        let m = longest_shell;
        AdjointScratch {
            cos: vec![ZERO; m],
            sin: vec![ZERO; m],
            folded: vec![ZERO; 2 * n_channels * n_ang],
            xy: vec![ZERO; 2 * m * n_channels],
            e: vec![ZERO; m * n_ang],
            s1: vec![ZERO; m],
        }
    }
}

/// What one group of tiles contributes to one block: sums over its atoms.
pub(super) struct GroupPart {
    /// `[X^a | Y^a]`, `(n_channels, 2 len)` row-major.
    pub xy: Vec<f64>,
    /// `E[k, p] = Σ_{i,a} g̃_i^a[p] F^a(i, k)`, `(len, n_ang)` (empty without strain).
    pub e: Vec<f64>,
    /// `S'[k] = Σ_{i,a} G'_i^a(k) F^a(i, k)`, `len` (empty without strain).
    pub s1: Vec<f64>,
}

/// One group of tiles `tiles` and one block (module docs; formulas in `super::adjoint`).
pub(super) struct OwnTask<'a> {
    pub data: &'a AdjointBlock<'a>,
    pub tables: &'a LaneTables,
    pub tiles: Range<usize>,
    /// The cotangent in lanes: per tile, `(n_channels, n_radial, n_ang)` rows, parity order.
    pub cotangent: &'a [Row],
    /// The group's tiles' force rows `[x, y, z]`, accumulated.
    pub forces: &'a mut [[Row; 3]],
    pub scratch: &'a mut AdjointScratch,
    pub part: GroupPart,
}

impl OwnTask<'_> {
    pub(super) fn new_part(data: &AdjointBlock<'_>) -> GroupPart {
        let (len, n_ang) = (data.len(), data.n_ang());
        let strain = data.derivative.is_some();
        GroupPart {
            xy: vec![0.0; 2 * data.n_channels * len],
            e: vec![0.0; if strain { len * n_ang } else { 0 }],
            s1: vec![0.0; if strain { len } else { 0 }],
        }
    }
}

/// `out[a, p] = Σ_r R[r, p] g[a, r, p]` for every channel `a` (`g`: `(n_channels, n_radial,
/// n_ang)` rows, `out`: `(n_channels, n_ang)` rows).
#[inline(always)]
fn fold<R: RowUpdate>(g: &[Row], radial: &[f64], n_radial: usize, out: &mut [Row]) {
    let n_ang = radial.len() / n_radial;
    for (out_a, g_a) in out
        .chunks_exact_mut(n_ang)
        .zip(g.chunks_exact(n_radial * n_ang))
    {
        for (p, o) in out_a.iter_mut().enumerate() {
            let mut x = ZERO;
            for r in 0..n_radial {
                R::axpy(&mut x, radial[r * n_ang + p], &g_a[r * n_ang + p]);
            }
            *o = x;
        }
    }
}

/// One k-vector as [`k_channels`] sees it.
struct KData<'a> {
    /// `A[k, p]`, parity order.
    a_k: &'a [f64],
    n_even: usize,
    /// The tile's phases.
    c: &'a Row,
    s: &'a Row,
    /// `[2C^a | 2S^a]` per channel, `(n_channels, 2 n_k)`, and this k-vector's index.
    factors: &'a [f64],
    n_k: usize,
    k: usize,
    /// The first channel of the chunk.
    first: usize,
}

/// What [`k_channels`] adds to.
struct KOut<'a> {
    /// `Σ_a (Go F_even − Ge F_odd)`.
    own: &'a mut Row,
    /// `[X | Y]` lanes per channel, `(n_channels, 2)`.
    xy: &'a mut [Row],
    /// `E[p]` lanes (with strain).
    e: Option<&'a mut [Row]>,
    /// `S'` lanes.
    s1: &'a mut Row,
}

/// One k-vector, one tile and the `C` channels `first..first + C`: `G`, `G'` (with strain)
/// and `E` in one pass over the angular columns (each folded-cotangent row loaded once), then
/// the own-phase force factor, `X`, `Y` and `S'`. `plain`, `primed`: `g̃`, `g̃'`, `(n_channels,
/// n_ang)` rows. Returns `C`.
#[inline(always)]
fn k_channels<R: RowUpdate, const C: usize>(
    d: &KData<'_>,
    plain: &[Row],
    primed: Option<&[Row]>,
    out: &mut KOut<'_>,
) -> usize {
    let n_ang = d.a_k.len();
    let ne = d.n_even;
    let mut ef = [ZERO; C];
    let mut of = [ZERO; C];
    for a in 0..C {
        let channel = d.first + a;
        let (ca, sa) = (
            d.factors[2 * channel * d.n_k + d.k],
            d.factors[(2 * channel + 1) * d.n_k + d.k],
        );
        (ef[a], of[a]) = R::sums(d.c, d.s, ca, sa);
    }
    let plain = &plain[d.first * n_ang..(d.first + C) * n_ang];
    let mut ge = [ZERO; C];
    let mut go = [ZERO; C];
    let mut gpe = [ZERO; C];
    let mut gpo = [ZERO; C];
    match (primed, out.e.as_deref_mut()) {
        (Some(primed), Some(e)) => {
            let primed = &primed[d.first * n_ang..(d.first + C) * n_ang];
            let (e_even, e_odd) = e.split_at_mut(ne);
            let rows = Rows {
                plain,
                primed,
                n_ang,
            };
            strain_pass::<R, C>(&d.a_k[..ne], 0, &rows, &ef, &mut ge, &mut gpe, e_even);
            strain_pass::<R, C>(&d.a_k[ne..], ne, &rows, &of, &mut go, &mut gpo, e_odd);
        }
        _ => {
            plain_pass::<R, C>(&d.a_k[..ne], 0, plain, n_ang, &mut ge);
            plain_pass::<R, C>(&d.a_k[ne..], ne, plain, n_ang, &mut go);
        }
    }
    for a in 0..C {
        R::mul_add(out.own, &go[a], &ef[a]);
        R::mul_sub(out.own, &ge[a], &of[a]);
        let xy_a = &mut out.xy[2 * (d.first + a)..2 * (d.first + a) + 2];
        R::mul_add(&mut xy_a[0], &ge[a], d.c);
        R::mul_add(&mut xy_a[0], &go[a], d.s);
        R::mul_add(&mut xy_a[1], &ge[a], d.s);
        R::mul_sub(&mut xy_a[1], &go[a], d.c);
        if primed.is_some() {
            R::mul_add(out.s1, &gpe[a], &ef[a]);
            R::mul_add(out.s1, &gpo[a], &of[a]);
        }
    }
    C
}

/// The folded cotangent rows `g̃`, `g̃'` of a chunk of channels, `(C, n_ang)` each.
struct Rows<'a> {
    plain: &'a [Row],
    primed: &'a [Row],
    n_ang: usize,
}

/// `g[a] += Σ_p a_k[p] g̃^a[first + p]` over the columns of one parity.
#[inline(always)]
fn plain_pass<R: RowUpdate, const C: usize>(
    a_k: &[f64],
    first: usize,
    plain: &[Row],
    n_ang: usize,
    g: &mut [Row; C],
) {
    for (p, &x) in a_k.iter().enumerate() {
        for a in 0..C {
            R::axpy(&mut g[a], x, &plain[a * n_ang + first + p]);
        }
    }
}

/// Over the columns of one parity (`F` = `f`): `g[a] += Σ_p a_k[p] g̃^a[p]`,
/// `gp[a] += Σ_p a_k[p] g̃'^a[p]` and `e[p] += Σ_a g̃^a[p] F^a`.
#[inline(always)]
fn strain_pass<R: RowUpdate, const C: usize>(
    a_k: &[f64],
    first: usize,
    rows: &Rows<'_>,
    f: &[Row; C],
    g: &mut [Row; C],
    gp: &mut [Row; C],
    e: &mut [Row],
) {
    let n_ang = rows.n_ang;
    for ((p, &x), e) in a_k.iter().enumerate().zip(e) {
        let mut acc = *e;
        for a in 0..C {
            let row = &rows.plain[a * n_ang + first + p];
            R::axpy(&mut g[a], x, row);
            R::mul_add(&mut acc, row, &f[a]);
            R::axpy(&mut gp[a], x, &rows.primed[a * n_ang + first + p]);
        }
        *e = acc;
    }
}

fn lane_sum(row: &Row) -> f64 {
    row.iter().sum()
}

impl LaneTask for OwnTask<'_> {
    #[inline(always)]
    fn run<R: RowUpdate>(&mut self) {
        let d = self.data;
        let (len, n_ang, n_ch, ne) = (d.len(), d.n_ang(), d.n_channels, d.n_even);
        let n_radial = d.n_radial;
        let width = n_ch * n_radial * n_ang;
        let strain = d.derivative.is_some();
        let AdjointScratch {
            cos,
            sin,
            folded,
            xy,
            e,
            s1,
        } = &mut *self.scratch;
        let part = &mut self.part;
        for (range, shell) in d.shells {
            let m = range.len();
            xy[..2 * m * n_ch].fill(ZERO);
            if strain {
                e[..m * n_ang].fill(ZERO);
                s1[..m].fill(ZERO);
            }
            let columns = shell * n_radial * n_ang..(shell + 1) * n_radial * n_ang;
            for (local, t) in self.tiles.clone().enumerate() {
                let tables = self.tables.tile(t);
                for (jj, j) in range.clone().enumerate() {
                    (cos[jj], sin[jj]) = tables.phase::<R>(&d.offsets[j]);
                }
                let g_t = &self.cotangent[t * width..(t + 1) * width];
                let (plain, primed) = folded.split_at_mut(n_ch * n_ang);
                fold::<R>(g_t, &d.radial[columns.clone()], n_radial, plain);
                if let Some(derivative) = d.derivative {
                    fold::<R>(g_t, &derivative[columns.clone()], n_radial, primed);
                }
                let force = &mut self.forces[local];
                for (jj, j) in range.clone().enumerate() {
                    let k = d.start + j;
                    let a_k = &d.angular[j * n_ang..(j + 1) * n_ang];
                    let (c, s) = (&cos[jj], &sin[jj]);
                    let mut own = ZERO;
                    let xy_k = &mut xy[2 * jj * n_ch..2 * (jj + 1) * n_ch];
                    let mut first = 0;
                    while first < n_ch {
                        let k_data = KData {
                            a_k,
                            n_even: ne,
                            c,
                            s,
                            factors: d.factors,
                            n_k: d.n_k,
                            k,
                            first,
                        };
                        let mut out = KOut {
                            own: &mut own,
                            xy: xy_k,
                            e: strain.then(|| &mut e[jj * n_ang..(jj + 1) * n_ang]),
                            s1: &mut s1[jj],
                        };
                        let (plain, primed) = (&*plain, strain.then_some(&*primed));
                        first += match n_ch - first {
                            1 => k_channels::<R, 1>(&k_data, plain, primed, &mut out),
                            2 => k_channels::<R, 2>(&k_data, plain, primed, &mut out),
                            3 => k_channels::<R, 3>(&k_data, plain, primed, &mut out),
                            _ => k_channels::<R, 4>(&k_data, plain, primed, &mut out),
                        };
                    }
                    let kv = d.vectors[j];
                    for (f, kv) in force.iter_mut().zip(kv) {
                        R::axpy(f, kv, &own);
                    }
                }
            }
            // the group's sums over its lanes, in lane order
            for (jj, j) in range.clone().enumerate() {
                for a in 0..n_ch {
                    part.xy[2 * a * len + j] = lane_sum(&xy[2 * (jj * n_ch + a)]);
                    part.xy[(2 * a + 1) * len + j] = lane_sum(&xy[2 * (jj * n_ch + a) + 1]);
                }
                if strain {
                    for p in 0..n_ang {
                        part.e[j * n_ang + p] = lane_sum(&e[jj * n_ang + p]);
                    }
                    part.s1[j] = lane_sum(&s1[jj]);
                }
            }
        }
    }
}

/// The forces through the structure factors for one group of tiles and one block:
/// `f_m += 2 w_m Σ_k k (C_m Y^{a_m} − S_m X^{a_m})`.
pub(super) struct SourceTask<'a> {
    pub offsets: &'a [[usize; 3]],
    pub vectors: &'a [Vec3],
    /// `[X^a | Y^a]` summed over every atom, `(n_channels, 2 len)` row-major.
    pub xy: &'a [f64],
    /// Per tile and channel, the weights of the lanes of that channel (zero elsewhere).
    pub weights: &'a [Row],
    pub n_channels: usize,
    pub tables: &'a LaneTables,
    pub tiles: Range<usize>,
    pub forces: &'a mut [[Row; 3]],
}

impl LaneTask for SourceTask<'_> {
    #[inline(always)]
    fn run<R: RowUpdate>(&mut self) {
        let len = self.offsets.len();
        let n_ch = self.n_channels;
        for (local, t) in self.tiles.clone().enumerate() {
            let tables = self.tables.tile(t);
            let w = &self.weights[t * n_ch..(t + 1) * n_ch];
            let force = &mut self.forces[local];
            for (j, o) in self.offsets.iter().enumerate() {
                let (c, s) = tables.phase::<R>(o);
                let mut u = ZERO;
                for (a, w_a) in w.iter().enumerate() {
                    let (x, y) = (self.xy[2 * a * len + j], self.xy[(2 * a + 1) * len + j]);
                    let mut v = ZERO;
                    R::axpy(&mut v, y, &c);
                    R::axpy(&mut v, -x, &s);
                    R::mul_add(&mut u, w_a, &v);
                }
                let kv = self.vectors[j];
                for (f, kv) in force.iter_mut().zip(kv) {
                    R::axpy(f, 2.0 * kv, &u);
                }
            }
        }
    }
}
