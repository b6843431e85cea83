//! The ν = 2 Jacobian of one row, all its entries at once (the kernel of
//! [`super::power_spectrum_jacobians`]).
//!
//! For the entries `e` (a positions sample and direction, or a strain component) of one row,
//! with coefficient derivatives `D_e[p, lm]` of the first expansion and `D'_e[q, lm]` of the
//! second, and the row's coefficients `c[p, lm]`, `c'[q, lm]`:
//! `M_l[q][e, p] = Σ_m c'[q, lm] D_e[p, lm]` and `N_l[p][e, q] = Σ_m c[p, lm] D'_e[q, lm]`,
//! then every feature column `(p, q, l)` is `w (2l+1)^{-1/2} (M_l[q][e, p] + N_l[p][e, q])`
//! (one expansion with itself: `N = M`). The derivatives are transposed to `[lm][e, p]`, so
//! the inner loop is a long contiguous `axpy` over the entries of a chunk and the channels,
//! instead of one short product per entry; a zero derivative row gives exact zeros, so the
//! results are those of the entry-by-entry kernel ([`super::power_spectrum_gradient`]),
//! bitwise: each sum runs over `m` in the same order.

use super::power_spectrum::Plan;

/// Entries handled together: the products of a chunk stay in cache (for SOAP with `n_max` 6,
/// 2 species and `l_max` 4: 5 × 12 × 32 × 12 doubles, 180 KiB).
const CHUNK: usize = 32;

/// Per-thread buffers of the kernel.
pub(super) struct RowKernel {
    /// `[lm][e, p]`: the chunk's first-expansion derivatives, transposed.
    d1: Vec<f64>,
    /// `[lm][e, q]`: the second expansion's.
    d2: Vec<f64>,
    /// `M (l, rows2, CHUNK rows1)` and `N (l, rows1, CHUNK rows2)`.
    m: Vec<f64>,
    n: Vec<f64>,
    /// Per column: its `M` offset `(l rows2 + q) CHUNK rows1 + p` and `N` offset
    /// `(l rows1 + p) CHUNK rows2 + q` (for `e = 0`), and its factor.
    direct: Vec<usize>,
    transposed: Vec<usize>,
    factor: Vec<f64>,
    /// One entry's features, before they are streamed to the output.
    features: Vec<f64>,
}

impl RowKernel {
    pub fn new(plan: &Plan) -> RowKernel {
        let layout = &plan.layout;
        let (r1, r2, l_max) = (layout.rows1, layout.rows2, layout.l_max);
        let n_lm = (l_max + 1) * (l_max + 1);
        let (stride1, stride2) = (CHUNK * r1, CHUNK * r2);
        let mut direct = Vec::with_capacity(plan.columns.len());
        let mut transposed = Vec::with_capacity(plan.columns.len());
        let mut factor = Vec::with_capacity(plan.columns.len());
        for (k, c) in plan.columns.iter().enumerate() {
            let l = k % (l_max + 1);
            direct.push((l * r2 + c.q) * stride1 + c.p);
            if plan.same {
                // N = M: the derivative on row q, the coefficients of row p
                transposed.push((l * r2 + c.p) * stride1 + c.q);
            } else {
                transposed.push((l * r1 + c.p) * stride2 + c.q);
            }
            factor.push(c.factor);
        }
        RowKernel {
            d1: vec![0.0; n_lm * stride1],
            d2: vec![0.0; if plan.same { 0 } else { n_lm * stride2 }],
            m: vec![0.0; (l_max + 1) * r2 * stride1],
            n: vec![
                0.0;
                if plan.same {
                    0
                } else {
                    (l_max + 1) * r1 * stride2
                }
            ],
            features: vec![0.0; factor.len()],
            direct,
            transposed,
            factor,
        }
    }

    /// The features' derivatives of one row: `c1 (rows1, n_lm1)` and `c2 (rows2, n_lm2)` its
    /// coefficients, `g1 (n, rows1, n_lm1)` and `g2 (n, rows2, n_lm2)` the derivatives of `n`
    /// entries (`g2` ignored for one expansion with itself), into `out (n, n_features)`, every
    /// element written.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub fn row(
        &mut self,
        plan: &Plan,
        c1: &[f64],
        c2: &[f64],
        g1: &[f64],
        g2: &[f64],
        out: &mut [f64],
    ) {
        let layout = &plan.layout;
        let n_features = self.factor.len();
        let (block1, block2) = (layout.rows1 * layout.n_lm1, layout.rows2 * layout.n_lm2);
        let n_entries = out.len() / n_features;
        let mut start = 0;
        while start < n_entries {
            let count = CHUNK.min(n_entries - start);
            let d1 = &g1[start * block1..(start + count) * block1];
            transpose(
                d1,
                count,
                layout.rows1,
                layout.n_lm1,
                layout.l_max,
                &mut self.d1,
            );
            let c_other = if plan.same { c1 } else { c2 };
            let (rows_other, width_other) = if plan.same {
                (layout.rows1, layout.n_lm1)
            } else {
                (layout.rows2, layout.n_lm2)
            };
            products(
                &self.d1,
                count * layout.rows1,
                CHUNK * layout.rows1,
                c_other,
                rows_other,
                width_other,
                layout.l_max,
                &mut self.m,
            );
            if !plan.same {
                let d2 = &g2[start * block2..(start + count) * block2];
                transpose(
                    d2,
                    count,
                    layout.rows2,
                    layout.n_lm2,
                    layout.l_max,
                    &mut self.d2,
                );
                products(
                    &self.d2,
                    count * layout.rows2,
                    CHUNK * layout.rows2,
                    c1,
                    layout.rows1,
                    layout.n_lm1,
                    layout.l_max,
                    &mut self.n,
                );
            }
            let second = if plan.same { &self.m } else { &self.n };
            let (step1, step2) = if plan.same {
                (layout.rows1, layout.rows1)
            } else {
                (layout.rows1, layout.rows2)
            };
            for e in 0..count {
                let (o1, o2) = (e * step1, e * step2);
                for (k, o) in self.features.iter_mut().enumerate() {
                    *o = self.factor[k]
                        * (self.m[self.direct[k] + o1] + second[self.transposed[k] + o2]);
                }
                let row = &mut out[(start + e) * n_features..(start + e + 1) * n_features];
                stream_copy(row, &self.features);
            }
            start += count;
        }
        store_fence();
    }
}

/// `dst = src`, with non-temporal stores on x86-64: the output (hundreds of MB) is not read
/// again here, so its cache lines are written without being read first.
#[inline(always)]
pub(super) fn stream_copy(dst: &mut [f64], src: &[f64]) {
    assert_eq!(dst.len(), src.len());
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_loadu_pd, _mm_stream_pd};
        let n = dst.len();
        let mut i = 0;
        while i < n && !(dst.as_ptr() as usize + 8 * i).is_multiple_of(16) {
            dst[i] = src[i];
            i += 1;
        }
        while i + 2 <= n {
            // SAFETY: SSE2 is part of x86-64; `i + 1 < n` for both slices, and `dst + i` is
            // 16-byte aligned (the loop above)
            unsafe {
                _mm_stream_pd(dst.as_mut_ptr().add(i), _mm_loadu_pd(src.as_ptr().add(i)));
            }
            i += 2;
        }
        while i < n {
            dst[i] = src[i];
            i += 1;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    dst.copy_from_slice(src);
}

/// Order the non-temporal stores of [`stream_copy`] before any later store (and so before
/// the task's completion is published to other threads).
#[inline(always)]
pub(super) fn store_fence() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE2 is part of x86-64
    unsafe {
        std::arch::x86_64::_mm_sfence();
    }
}

/// `out[lm][e rows + p] = d[e, p, lm]` for the `count` entries of `d (count, rows, width)` and
/// `lm < (l_max + 1)²` (the row stride of `out` is `CHUNK rows`).
#[inline(always)]
fn transpose(d: &[f64], count: usize, rows: usize, width: usize, l_max: usize, out: &mut [f64]) {
    let n_lm = (l_max + 1) * (l_max + 1);
    let stride = CHUNK * rows;
    for (ep, source) in d.chunks_exact(width).take(count * rows).enumerate() {
        for (lm, &x) in source[..n_lm].iter().enumerate() {
            out[lm * stride + ep] = x;
        }
    }
}

/// `out[l][q][i] = Σ_{m} c[q, lm] d[lm][i]` for `i < used` (the row stride of `d` and of
/// `out`'s `[l][q]` rows is `stride`), `c (rows_c, width)`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn products(
    d: &[f64],
    used: usize,
    stride: usize,
    c: &[f64],
    rows_c: usize,
    width: usize,
    l_max: usize,
    out: &mut [f64],
) {
    for l in 0..=l_max {
        for q in 0..rows_c {
            let target = &mut out[(l * rows_c + q) * stride..(l * rows_c + q) * stride + used];
            target.fill(0.0);
            for lm in l * l..(l + 1) * (l + 1) {
                let x = c[q * width + lm];
                let source = &d[lm * stride..lm * stride + used];
                for (o, &s) in target.iter_mut().zip(source) {
                    *o += s * x;
                }
            }
        }
    }
}
