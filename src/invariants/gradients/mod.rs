//! Gradients of the invariants by the chain rule on the coefficients.
//!
//! ν = 1 is linear in the coefficients: its Jacobian is [`radial_spectrum`] of the coefficient
//! Jacobian (each gradient entry read as a coefficient row), and its backward pass scatters the
//! cotangent into the `l = 0` entries ([`radial_spectrum_backward`]).
//!
//! ν = 2, `p_k = w_k (2l+1)^{-1/2} Σ_m c_{p,lm} c'_{q,lm}`:
//! - Jacobian: `∂p_k = w_k (2l+1)^{-1/2} Σ_m (∂c_{p,lm} c'_{q,lm} + c_{p,lm} ∂c'_{q,lm})` for every
//!   gradient entry (a positions sample and direction, or a strain component) of a row
//!   ([`power_spectrum_gradient`]); one expansion with itself needs one product,
//!   `∂p = w (M[p][q] + M[q][p])` with `M = ∂c ⊗ c`.
//! - Backward pass, for a cotangent `G (n_rows, n_features)`: with
//!   `H_l[p][q] = Σ_{k = (p, q, l)} G_k w_k (2l+1)^{-1/2}`, the coefficients' cotangents are
//!   `ḡ_{p,lm} = Σ_q H_l[p][q] c'_{q,lm}` and `ḡ'_{q,lm} = Σ_p H_l[p][q] c_{p,lm}` (summed into
//!   one when the expansion is paired with itself): a product with the other coefficients, no
//!   Jacobian ([`power_spectrum_backward`]); chain them into the expansions' backward passes.

use ndarray::{Array2, Array3, Array4, ArrayView2, ArrayView4, ArrayView5, ArrayView6, Axis};
use rayon::prelude::*;

use super::pair_kernel::PairKernel;
use super::power_spectrum::{check_species, l_max_of, Layout, Plan};
use super::row_kernel::{store_fence, RowKernel};
use crate::error::{Error, Result};
use crate::expansion::gradients::{for_each_structure, sample_labels};
use crate::expansion::{GradientRequest, RowJacobian};
use crate::math::simd::with_avx2;

/// One entry of an invariant's Jacobian: the coefficient row it belongs to and where its
/// coefficient derivatives are in the first and the second expansion's gradient arrays
/// (`None`: zero, e.g. an atom outside one expansion's cutoff).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GradientEntry {
    pub row: usize,
    pub first: Option<usize>,
    pub second: Option<usize>,
}

/// Merge two sorted positions-gradient sample lists `(row, structure, atom)` into their union
/// (sorted), with the index of each merged sample in `a` and in `b`.
#[allow(clippy::type_complexity)]
pub fn merge_samples(
    a: ArrayView2<i64>,
    b: ArrayView2<i64>,
) -> Result<(Array2<i64>, Vec<Option<usize>>, Vec<Option<usize>>)> {
    for s in [&a, &b] {
        if s.ncols() != 3 {
            crate::bail_input!("gradient samples must have 3 columns (row, structure, atom)");
        }
    }
    let key = |s: &ArrayView2<i64>, k: usize| (s[[k, 0]], s[[k, 1]], s[[k, 2]]);
    let (mut i, mut j) = (0, 0);
    let (mut merged, mut from_a, mut from_b) = (Vec::new(), Vec::new(), Vec::new());
    while i < a.nrows() || j < b.nrows() {
        let ka = (i < a.nrows()).then(|| key(&a, i));
        let kb = (j < b.nrows()).then(|| key(&b, j));
        let (k, ia, ib) = match (ka, kb) {
            (Some(x), Some(y)) if x == y => (x, Some(i), Some(j)),
            (Some(x), Some(y)) if x < y => (x, Some(i), None),
            (Some(_), Some(y)) => (y, None, Some(j)),
            (Some(x), None) => (x, Some(i), None),
            (None, Some(y)) => (y, None, Some(j)),
            (None, None) => unreachable!(),
        };
        if merged.last().is_some_and(|&previous| k <= previous) {
            crate::bail_input!("gradient samples must be sorted and unique");
        }
        merged.push(k);
        from_a.push(ia);
        from_b.push(ib);
        i += usize::from(ia.is_some());
        j += usize::from(ib.is_some());
    }
    let mut samples = Array2::zeros((merged.len(), 3));
    for (k, (r, s, t)) in merged.into_iter().enumerate() {
        samples[[k, 0]] = r;
        samples[[k, 1]] = s;
        samples[[k, 2]] = t;
    }
    Ok((samples, from_a, from_b))
}

/// Jacobian of the ν = 2 power spectrum ([`super::power_spectrum`], same arguments and column
/// order): `first_gradient` `(n_first, n_species, n_max, n_lm)` holds coefficient derivatives
/// (e.g. a positions Jacobian `(n_samples, 3, …)` reshaped to `(3 n_samples, …)`), `second`
/// adds the other expansion's values and derivatives. Returns `(entries.len(), n_features)`:
/// row `e` is the derivative of the features of `entries[e].row`.
pub fn power_spectrum_gradient(
    first: ArrayView4<f64>,
    first_species: &[i32],
    first_gradient: ArrayView4<f64>,
    second: Option<(ArrayView4<f64>, &[i32], ArrayView4<f64>)>,
    entries: &[GradientEntry],
) -> Result<Array2<f64>> {
    let plan = Plan::new(
        &first,
        first_species,
        second.as_ref().map(|(c, s, _)| (c, *s)),
    )?;
    let (other, other_gradient) = match &second {
        Some((c, _, g)) => (c.view(), g.view()),
        None => (first.view(), first_gradient.view()),
    };
    for (values, gradient) in [(&first, &first_gradient), (&other, &other_gradient)] {
        if gradient.shape()[1..] != values.shape()[1..] {
            crate::bail_input!(
                "coefficient gradients {:?} do not match their coefficients {:?}",
                gradient.shape(),
                values.shape()
            );
        }
    }
    let n_rows = first.shape()[0];
    for e in entries {
        let bad = e.row >= n_rows
            || e.first.is_some_and(|k| k >= first_gradient.shape()[0])
            || e.second.is_some_and(|k| k >= other_gradient.shape()[0]);
        if bad {
            return Err(Error::InvalidInput(format!(
                "gradient entry {e:?} out of range"
            )));
        }
    }
    let first = first.as_standard_layout();
    let other = other.as_standard_layout();
    let first_gradient = first_gradient.as_standard_layout();
    let other_gradient = other_gradient.as_standard_layout();
    let layout = &plan.layout;
    let block1 = layout.rows1 * layout.n_lm1;
    let block2 = layout.rows2 * layout.n_lm2;
    let c1 = first.as_slice().expect("standard layout");
    let c2 = other.as_slice().expect("standard layout");
    let g1 = first_gradient.as_slice().expect("standard layout");
    let g2 = other_gradient.as_slice().expect("standard layout");

    let mut values = Array2::zeros((entries.len(), plan.n_features()));
    values
        .axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(entries.par_iter())
        .for_each_init(
            || (EntryKernel::new(layout), usize::MAX),
            |(kernel, current), (mut out, e)| {
                let out = out.as_slice_mut().expect("fresh rows are contiguous");
                let r = e.row;
                if *current != r {
                    kernel.set_row(
                        layout,
                        &c1[r * block1..(r + 1) * block1],
                        &c2[r * block2..(r + 1) * block2],
                    );
                    *current = r;
                }
                let d1 = e.first.map(|k| &g1[k * block1..(k + 1) * block1]);
                let d2 = if plan.same {
                    None
                } else {
                    Some(e.second.map(|k| &g2[k * block2..(k + 1) * block2]))
                };
                kernel.entry(&plan, d1, d2, out);
            },
        );
    Ok(values)
}

/// Per-thread buffers of the ν = 2 Jacobian kernel: the current row's coefficients transposed
/// to `(n_lm, rows)`, and the products of one entry.
struct EntryKernel {
    c1t: Vec<f64>,
    c2t: Vec<f64>,
    /// `M_l[p][q] = Σ_m ∂c_{p,lm} c'_{q,lm}`, `(l, rows1, rows2)`.
    m: Vec<f64>,
    /// `N_l[q][p] = Σ_m ∂c'_{q,lm} c_{p,lm}`, `(l, rows2, rows1)`.
    n: Vec<f64>,
    /// Non-zero rows of the first and second derivative blocks.
    nz1: Vec<bool>,
    nz2: Vec<bool>,
}

impl EntryKernel {
    fn new(layout: &Layout) -> EntryKernel {
        let n_lm = (layout.l_max + 1) * (layout.l_max + 1);
        let size = (layout.l_max + 1) * layout.rows1 * layout.rows2;
        EntryKernel {
            c1t: vec![0.0; n_lm * layout.rows1],
            c2t: vec![0.0; n_lm * layout.rows2],
            m: vec![0.0; size],
            n: vec![0.0; size],
            nz1: vec![false; layout.rows1],
            nz2: vec![false; layout.rows2],
        }
    }

    /// Take the row's coefficients `c1 (rows1, n_lm1)`, `c2 (rows2, n_lm2)`.
    fn set_row(&mut self, layout: &Layout, c1: &[f64], c2: &[f64]) {
        let n_lm = (layout.l_max + 1) * (layout.l_max + 1);
        transpose(c1, layout.rows1, layout.n_lm1, n_lm, &mut self.c1t);
        transpose(c2, layout.rows2, layout.n_lm2, n_lm, &mut self.c2t);
    }

    /// The features' derivative for coefficient derivatives `d1 (rows1, n_lm1)` and
    /// `d2 (rows2, n_lm2)` (`None` inside: zero; `d2 = None`: one expansion with itself),
    /// into `out (n_features)`, which must be **zero** on entry: only the columns touched by a
    /// non-zero row of `d1` or `d2` are written (a neighbour moves one species channel).
    #[inline(always)]
    fn entry(
        &mut self,
        plan: &Plan,
        d1: Option<&[f64]>,
        d2: Option<Option<&[f64]>>,
        out: &mut [f64],
    ) {
        let layout = &plan.layout;
        let (r1, r2, l_max) = (layout.rows1, layout.rows2, layout.l_max);
        let same = d2.is_none();
        let ct = if same { &self.c1t } else { &self.c2t };
        let has_first = outer(
            d1,
            r1,
            layout.n_lm1,
            ct,
            r2,
            l_max,
            &mut self.m,
            &mut self.nz1,
        );
        let has_second = match d2 {
            Some(d2) => outer(
                d2,
                r2,
                layout.n_lm2,
                &self.c1t,
                r1,
                l_max,
                &mut self.n,
                &mut self.nz2,
            ),
            None => false,
        };
        if !(has_first || has_second) {
            return;
        }
        if same {
            for (o, c) in out.iter_mut().zip(&plan.columns) {
                let (a, b) = (self.nz1[c.p], self.nz1[c.q]);
                if a || b {
                    let mut product = 0.0;
                    if a {
                        product += self.m[c.direct];
                    }
                    if b {
                        product += self.m[c.transposed];
                    }
                    *o = c.factor * product;
                }
            }
        } else {
            if !has_first {
                self.nz1.fill(false);
            }
            if !has_second {
                self.nz2.fill(false);
            }
            for (o, c) in out.iter_mut().zip(&plan.columns) {
                let (a, b) = (self.nz1[c.p], self.nz2[c.q]);
                if a || b {
                    let mut product = 0.0;
                    if a {
                        product += self.m[c.direct];
                    }
                    if b {
                        product += self.n[c.transposed];
                    }
                    *o = c.factor * product;
                }
            }
        }
    }
}

/// `out (n_lm, rows)` = the first `n_lm` columns of `c (rows, width)`, transposed.
fn transpose(c: &[f64], rows: usize, width: usize, n_lm: usize, out: &mut [f64]) {
    for lm in 0..n_lm {
        for p in 0..rows {
            out[lm * rows + p] = c[p * width + lm];
        }
    }
}

/// `out[l][p][q] = Σ_{m} d[p, lm] ct[lm][q]` for the rows `p` of `d (rows_d, width)` that are
/// not zero, flagged in `nz` (a neighbour moves one species channel only: the other rows are
/// skipped and their `out` entries left as they were); false when `d` is absent or zero.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn outer(
    d: Option<&[f64]>,
    rows_d: usize,
    width: usize,
    ct: &[f64],
    rows_c: usize,
    l_max: usize,
    out: &mut [f64],
    nz: &mut [bool],
) -> bool {
    let Some(d) = d else { return false };
    let n_lm = (l_max + 1) * (l_max + 1);
    let mut any = false;
    for p in 0..rows_d {
        let row = &d[p * width..p * width + n_lm];
        nz[p] = row.iter().any(|&x| x != 0.0);
        if !nz[p] {
            continue;
        }
        any = true;
        for l in 0..=l_max {
            let target = &mut out[(l * rows_d + p) * rows_c..(l * rows_d + p + 1) * rows_c];
            target.fill(0.0);
            for lm in l * l..(l + 1) * (l + 1) {
                let x = row[lm];
                let column = &ct[lm * rows_c..(lm + 1) * rows_c];
                for (o, &c) in target.iter_mut().zip(column) {
                    *o += x * c;
                }
            }
        }
    }
    any
}

/// A coefficient Jacobian `(n_entries, d, n_species, n_max, n_lm)` viewed as
/// `(n_entries · d, n_species, n_max, n_lm)` (a standard-layout copy only if needed).
fn flatten<'a, D: ndarray::Dimension>(
    gradient: &'a ndarray::ArrayView<'a, f64, D>,
) -> Result<ndarray::CowArray<'a, f64, ndarray::Ix4>> {
    let shape = gradient.shape().to_vec();
    let k = shape.len();
    if k < 4 {
        crate::bail_input!("a coefficient gradient needs at least 4 axes, got {shape:?}");
    }
    let rows: usize = shape[..k - 3].iter().product();
    Ok(gradient
        .as_standard_layout()
        .into_shape_with_order((rows, shape[k - 3], shape[k - 2], shape[k - 1]))
        .expect("standard layout"))
}

/// ν = 2 positions Jacobian from the coefficients' positions Jacobians (`samples (n, 3)` =
/// `(row, structure, atom)` sorted, `gradient (n, 3, n_species, n_max, n_lm)`), of one
/// expansion with itself or of two (their samples merged): returns the samples and
/// `(n_samples, 3, n_features)`.
#[allow(clippy::type_complexity)]
pub fn power_spectrum_positions_gradient(
    first: ArrayView4<f64>,
    first_species: &[i32],
    first_samples: ArrayView2<i64>,
    first_gradient: ArrayView5<f64>,
    second: Option<(ArrayView4<f64>, &[i32], ArrayView2<i64>, ArrayView5<f64>)>,
) -> Result<(Array2<i64>, Array3<f64>)> {
    let check = |samples: &ArrayView2<i64>, gradient: &ArrayView5<f64>| -> Result<()> {
        if samples.nrows() != gradient.shape()[0] || gradient.shape()[1] != 3 {
            crate::bail_input!(
                "positions gradient {:?} does not match its {} samples",
                gradient.shape(),
                samples.nrows()
            );
        }
        Ok(())
    };
    check(&first_samples, &first_gradient)?;
    let (samples, from_first, from_second) = match &second {
        Some((_, _, samples, gradient)) => {
            check(samples, gradient)?;
            merge_samples(first_samples.view(), samples.view())?
        }
        None => {
            let n = first_samples.nrows();
            (
                first_samples.to_owned(),
                (0..n).map(Some).collect(),
                vec![None; n],
            )
        }
    };
    let n_rows = first.shape()[0] as i64;
    if samples.column(0).iter().any(|&r| r < 0 || r >= n_rows) {
        crate::bail_input!("gradient samples name rows outside the {n_rows} coefficient rows");
    }
    let mut entries = Vec::with_capacity(3 * samples.nrows());
    for (k, (a, b)) in from_first.iter().zip(&from_second).enumerate() {
        for alpha in 0..3 {
            entries.push(GradientEntry {
                row: samples[[k, 0]] as usize,
                first: a.map(|i| 3 * i + alpha),
                second: b.map(|i| 3 * i + alpha),
            });
        }
    }
    let g1 = flatten(&first_gradient)?;
    let g2 = match &second {
        Some((_, _, _, g)) => Some(flatten(g)?),
        None => None,
    };
    let values = power_spectrum_gradient(
        first,
        first_species,
        g1.view(),
        second
            .as_ref()
            .zip(g2.as_ref())
            .map(|((c, s, _, _), g)| (c.view(), *s, g.view())),
        &entries,
    )?;
    let n_features = values.ncols();
    let values = values
        .into_shape_with_order((samples.nrows(), 3, n_features))
        .expect("standard layout");
    Ok((samples, values))
}

/// ν = 2 strain Jacobian from the coefficients' strain Jacobians
/// `(n_rows, 3, 3, n_species, n_max, n_lm)`: `(n_rows, 3, 3, n_features)`.
pub fn power_spectrum_strain_gradient(
    first: ArrayView4<f64>,
    first_species: &[i32],
    first_strain: ArrayView6<f64>,
    second: Option<(ArrayView4<f64>, &[i32], ArrayView6<f64>)>,
) -> Result<Array4<f64>> {
    let n_rows = first.shape()[0];
    for strain in std::iter::once(&first_strain).chain(second.as_ref().map(|s| &s.2)) {
        if strain.shape()[..3] != [n_rows, 3, 3] {
            crate::bail_input!(
                "strain gradient {:?} does not match {n_rows} coefficient rows",
                strain.shape()
            );
        }
    }
    let entries: Vec<GradientEntry> = (0..9 * n_rows)
        .map(|k| GradientEntry {
            row: k / 9,
            first: Some(k),
            second: Some(k),
        })
        .collect();
    let g1 = flatten(&first_strain)?;
    let g2 = match &second {
        Some((_, _, g)) => Some(flatten(g)?),
        None => None,
    };
    let values = power_spectrum_gradient(
        first,
        first_species,
        g1.view(),
        second
            .as_ref()
            .zip(g2.as_ref())
            .map(|((c, s, _), g)| (c.view(), *s, g.view())),
        &entries,
    )?;
    let n_features = values.ncols();
    Ok(values
        .into_shape_with_order((n_rows, 3, 3, n_features))
        .expect("standard layout"))
}

/// Jacobians of the ν = 2 power spectrum straight from the expansions' row Jacobians
/// ([`RowJacobian`]): each row's coefficient Jacobian is made in a per-thread buffer and
/// contracted at once, so the expansions' Jacobians are never stored (the output alone takes
/// memory). `first` and `second` are `(rows, values, species)`; the positions samples are the
/// union of both expansions' samples. Returns the positions `(samples, (n, 3, n_features))`
/// and the strain `(n_rows, 3, 3, n_features)` Jacobians requested; the output size is checked
/// against `request.max_memory` first. Rows run in parallel in the current pool, each written
/// by one task. Every output element is written, so the outputs take
/// `crate::memory::reusable` buffers.
///
/// One expansion with itself whose rows are pair sums ([`RowJacobian::pair_rows`]: SOAP) takes
/// the pair kernel (`invariants/pair_kernel.rs`), which contracts each pair's derivative with the
/// coefficients and never forms the coefficient Jacobian; the others, the row kernel
/// (`invariants/row_kernel.rs`) on each row's coefficient Jacobian.
#[allow(clippy::type_complexity)]
pub fn power_spectrum_jacobians(
    first: (&dyn RowJacobian, ArrayView4<f64>, &[i32]),
    second: Option<(&dyn RowJacobian, ArrayView4<f64>, &[i32])>,
    request: &GradientRequest,
) -> Result<(Option<(Array2<i64>, Array3<f64>)>, Option<Array4<f64>>)> {
    jacobians_by(first, second, request, true)
}

/// [`power_spectrum_jacobians`], with the pair kernel allowed (`pair_kernel`) or not (tests:
/// the two kernels are two routes to the same numbers).
#[allow(clippy::type_complexity)]
pub(super) fn jacobians_by(
    first: (&dyn RowJacobian, ArrayView4<f64>, &[i32]),
    second: Option<(&dyn RowJacobian, ArrayView4<f64>, &[i32])>,
    request: &GradientRequest,
    pair_kernel: bool,
) -> Result<(Option<(Array2<i64>, Array3<f64>)>, Option<Array4<f64>>)> {
    let (rows1, values1, species1) = first;
    let plan = Plan::new(&values1, species1, second.as_ref().map(|(_, c, s)| (c, *s)))?;
    let n_rows = values1.shape()[0];
    let expansions: Vec<(&dyn RowJacobian, &ArrayView4<f64>)> = std::iter::once((rows1, &values1))
        .chain(second.as_ref().map(|(r, c, _)| (*r, c)))
        .collect();
    for (rows, values) in &expansions {
        if rows.n_rows() != n_rows || rows.block_shape()[..] != values.shape()[1..] {
            crate::bail_input!("a row Jacobian does not match its coefficients");
        }
    }
    let samples: Vec<Vec<usize>> = (0..n_rows)
        .into_par_iter()
        .map(|row| {
            let mut union = Vec::new();
            if request.positions {
                let mut atoms = Vec::new();
                for (rows, _) in &expansions {
                    rows.samples(row, &mut atoms)?;
                    union.extend_from_slice(&atoms);
                }
                union.sort_unstable();
                union.dedup();
            }
            Ok(union)
        })
        .collect::<Result<_>>()?;
    let n_samples: usize = samples.iter().map(Vec::len).sum();
    let n_features = plan.n_features();
    let strain_rows = if request.strain { n_rows } else { 0 };
    let pair_kernel = pair_kernel && second.is_none() && rows1.pair_rows().is_some();
    // the row-by-row kernel makes the coefficient rows: with their shared tables (one
    // structure's at a time)
    let scratch: f64 = if pair_kernel {
        0.0
    } else {
        expansions
            .iter()
            .map(|(rows, _)| rows.scratch_memory(request))
            .sum()
    };
    request.check_memory(
        8.0 * n_features as f64 * (3.0 * n_samples as f64 + 9.0 * strain_rows as f64) + scratch,
    )?;

    let mut positions = Array3::from_shape_vec(
        (n_samples, 3, n_features),
        crate::memory::reusable(n_samples * 3 * n_features),
    )
    .expect("sized for the shape");
    let mut strain = Array4::from_shape_vec(
        (strain_rows, 3, 3, n_features),
        crate::memory::reusable(strain_rows * 9 * n_features),
    )
    .expect("sized for the shape");
    let mut rest = positions
        .as_slice_mut()
        .expect("fresh arrays are contiguous");
    let mut position_rows: Vec<&mut [f64]> = Vec::with_capacity(n_rows);
    for atoms in &samples {
        let (head, tail) = rest.split_at_mut(atoms.len() * 3 * n_features);
        position_rows.push(head);
        rest = tail;
    }
    let mut strain_slices: Vec<Option<&mut [f64]>> = if request.strain {
        strain
            .as_slice_mut()
            .expect("fresh arrays are contiguous")
            .chunks_exact_mut(9 * n_features)
            .map(Some)
            .collect()
    } else {
        (0..n_rows).map(|_| None).collect()
    };
    let block1 = plan.layout.rows1 * plan.layout.n_lm1;
    let c1 = values1.as_standard_layout();
    let c2 = match &second {
        Some((_, c, _)) => c.as_standard_layout(),
        None => values1.as_standard_layout(),
    };
    let (c1, c2) = (
        c1.as_slice().expect("standard layout"),
        c2.as_slice().expect("standard layout"),
    );
    let pairs = if pair_kernel { rows1.pair_rows() } else { None };
    if let Some(pairs) = pairs {
        let n_species = rows1.block_shape()[0];
        position_rows
            .par_iter_mut()
            .zip(strain_slices.par_iter_mut())
            .enumerate()
            .try_for_each_init(
                || PairKernel::new(&plan, n_species),
                |kernel, (row, (out, out_strain))| -> Result<()> {
                    let (_, center) = rows1.center(row);
                    let c = &c1[row * block1..(row + 1) * block1];
                    with_avx2(
                        #[inline(always)]
                        || {
                            kernel.row(
                                pairs,
                                row,
                                center,
                                &samples[row],
                                c,
                                request.positions.then_some(&mut **out),
                                out_strain.as_deref_mut(),
                            )
                        },
                    )?;
                    store_fence();
                    Ok(())
                },
            )?;
    } else {
        row_by_row(
            &plan,
            &expansions,
            &samples,
            (c1, c2),
            request,
            &mut position_rows,
            &mut strain_slices,
        )?;
    }
    drop(position_rows);
    drop(strain_slices);
    let positions = request.positions.then(|| {
        let array = sample_labels(&samples, n_samples, |row| rows1.center(row).0);
        (array, positions)
    });
    Ok((positions, request.strain.then_some(strain)))
}

/// The row kernel over every row: each row's coefficient Jacobians made in per-thread
/// buffers and contracted at once.
#[allow(clippy::type_complexity)]
fn row_by_row(
    plan: &Plan,
    expansions: &[(&dyn RowJacobian, &ArrayView4<f64>)],
    samples: &[Vec<usize>],
    (c1, c2): (&[f64], &[f64]),
    request: &GradientRequest,
    position_rows: &mut [&mut [f64]],
    strain_slices: &mut [Option<&mut [f64]>],
) -> Result<()> {
    let layout = &plan.layout;
    let block1 = layout.rows1 * layout.n_lm1;
    let block2 = layout.rows2 * layout.n_lm2;
    let jacobians: Vec<&dyn RowJacobian> = expansions.iter().map(|(rows, _)| *rows).collect();
    for_each_structure(&jacobians, request, |range| {
        position_rows[range.clone()]
            .par_iter_mut()
            .zip(strain_slices[range.clone()].par_iter_mut())
            .enumerate()
            .map(|(k, x)| (range.start + k, x))
            .try_for_each_init(
                || {
                    (
                        RowKernel::new(plan),
                        [Vec::new(), Vec::new()],
                        [Vec::new(), Vec::new()],
                    )
                },
                |(kernel, jacobians, strains), (row, (out, out_strain))| -> Result<()> {
                    let atoms = &samples[row];
                    for (e, (rows, _)) in expansions.iter().enumerate() {
                        let block = if e == 0 { block1 } else { block2 };
                        let jacobian = &mut jacobians[e];
                        jacobian.clear();
                        jacobian.resize(
                            if request.positions {
                                atoms.len() * 3 * block
                            } else {
                                0
                            },
                            0.0,
                        );
                        let strain = &mut strains[e];
                        strain.clear();
                        strain.resize(if request.strain { 9 * block } else { 0 }, 0.0);
                        rows.jacobian(
                            row,
                            atoms,
                            request.positions.then_some(&mut jacobian[..]),
                            request.strain.then_some(&mut strain[..]),
                        )?;
                    }
                    let (a, b) = (
                        &c1[row * block1..(row + 1) * block1],
                        &c2[row * block2..(row + 1) * block2],
                    );
                    // every output element is written (the buffer may hold an earlier output)
                    let entries =
                        |kernel: &mut RowKernel, buffers: &[Vec<f64>; 2], out: &mut [f64]| {
                            with_avx2(
                                #[inline(always)]
                                || kernel.row(plan, a, b, &buffers[0], &buffers[1], out),
                            )
                        };
                    if request.positions {
                        entries(kernel, jacobians, out);
                    }
                    if let Some(out) = out_strain.as_deref_mut() {
                        entries(kernel, strains, out);
                    }
                    Ok(())
                },
            )
    })
}

/// Backward pass of the ν = 2 power spectrum: for a cotangent `(n_rows, n_features)`, the
/// cotangents of the coefficients, shaped like `first` (and like `second` when given; for one
/// expansion with itself the single cotangent holds both factors' shares).
pub fn power_spectrum_backward(
    first: ArrayView4<f64>,
    first_species: &[i32],
    second: Option<(ArrayView4<f64>, &[i32])>,
    cotangent: ArrayView2<f64>,
) -> Result<(Array4<f64>, Option<Array4<f64>>)> {
    let plan = Plan::new(&first, first_species, second.as_ref().map(|(c, s)| (c, *s)))?;
    let other = match &second {
        Some((c, _)) => c.view(),
        None => first.view(),
    };
    let n_rows = first.shape()[0];
    if cotangent.dim() != (n_rows, plan.n_features()) {
        crate::bail_input!(
            "the cotangent must have the shape of the features ({n_rows}, {}), got {:?}",
            plan.n_features(),
            cotangent.shape()
        );
    }
    if cotangent.iter().any(|v| !v.is_finite()) {
        crate::bail_input!("the cotangent contains NaN or infinite values");
    }
    let layout = &plan.layout;
    let (r1, r2, l_max) = (layout.rows1, layout.rows2, layout.l_max);
    let first_c = first.as_standard_layout();
    let other_c = other.as_standard_layout();
    let c1 = first_c.as_slice().expect("standard layout");
    let c2 = other_c.as_slice().expect("standard layout");
    let (block1, block2) = (r1 * layout.n_lm1, r2 * layout.n_lm2);
    let mut bar1 = Array4::zeros(first.raw_dim());
    let mut bar2 = Array4::zeros(if plan.same {
        [0, 0, 0, 0]
    } else {
        other.shape().try_into().expect("4D")
    });
    let mut rows2: Vec<Option<&mut [f64]>> = if plan.same {
        (0..n_rows).map(|_| None).collect()
    } else {
        bar2.as_slice_mut()
            .expect("fresh arrays are contiguous")
            .chunks_exact_mut(block2)
            .map(Some)
            .collect()
    };
    bar1.as_slice_mut()
        .expect("fresh arrays are contiguous")
        .par_chunks_exact_mut(block1)
        .zip(rows2.par_iter_mut())
        .enumerate()
        .for_each_init(
            || vec![0.0; (l_max + 1) * r1 * r2],
            |h, (r, (out1, out2))| {
                h.fill(0.0);
                let g = cotangent.row(r);
                for (k, &(p, q, weight)) in plan.pairs.iter().enumerate() {
                    for l in 0..=l_max {
                        let x = g[k * (l_max + 1) + l] * weight * plan.inv_sqrt[l];
                        h[(l * r1 + p) * r2 + q] += x;
                        if plan.same {
                            h[(l * r1 + q) * r2 + p] += x;
                        }
                    }
                }
                let a = &c1[r * block1..(r + 1) * block1];
                let b = &c2[r * block2..(r + 1) * block2];
                for l in 0..=l_max {
                    let hl = &h[l * r1 * r2..(l + 1) * r1 * r2];
                    for p in 0..r1 {
                        for q in 0..r2 {
                            let x = hl[p * r2 + q];
                            if x == 0.0 {
                                continue;
                            }
                            for lm in l * l..(l + 1) * (l + 1) {
                                out1[p * layout.n_lm1 + lm] += x * b[q * layout.n_lm2 + lm];
                            }
                            if let Some(out2) = out2.as_deref_mut() {
                                for lm in l * l..(l + 1) * (l + 1) {
                                    out2[q * layout.n_lm2 + lm] += x * a[p * layout.n_lm1 + lm];
                                }
                            }
                        }
                    }
                }
            },
        );
    drop(rows2);
    Ok((bar1, (!plan.same).then_some(bar2)))
}

/// Backward pass of the ν = 1 invariants: the cotangent `(n_rows, n_species · n_max)` placed
/// in the `l = 0` entries of a coefficient cotangent `(n_rows, n_species, n_max, n_lm)`.
pub fn radial_spectrum_backward(
    cotangent: ArrayView2<f64>,
    shape: [usize; 4],
) -> Result<Array4<f64>> {
    let [n_rows, n_species, n_max, n_lm] = shape;
    if cotangent.dim() != (n_rows, n_species * n_max) {
        crate::bail_input!(
            "the cotangent must have the shape of the features ({n_rows}, {}), got {:?}",
            n_species * n_max,
            cotangent.shape()
        );
    }
    let mut out = Array4::zeros((n_rows, n_species, n_max, n_lm));
    for r in 0..n_rows {
        for a in 0..n_species {
            for n in 0..n_max {
                out[[r, a, n, 0]] = cotangent[[r, a * n_max + n]];
            }
        }
    }
    Ok(out)
}

/// Check a coefficient-like array's last axis (used by the bindings for gradients).
pub fn check_coefficients(c: &ArrayView4<f64>, species: &[i32]) -> Result<()> {
    check_species(c, species)?;
    l_max_of(c).map(|_| ())
}

#[cfg(test)]
mod lode_rows;
#[cfg(test)]
mod pair_route;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod two_routes;
