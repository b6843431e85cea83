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

use super::power_spectrum::{check_species, l_max_of, Plan, Scratch};
use crate::error::{Error, Result};

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
    let zeros1 = vec![0.0; block1];
    let zeros2 = vec![0.0; block2];

    let mut values = Array2::zeros((entries.len(), plan.n_features()));
    values
        .axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(entries.par_iter())
        .for_each_init(
            || Scratch::new(layout),
            |scratch, (mut out, e)| {
                let out = out.as_slice_mut().expect("fresh rows are contiguous");
                let r = e.row;
                let d1 = e
                    .first
                    .map_or(&zeros1[..], |k| &g1[k * block1..(k + 1) * block1]);
                if plan.same {
                    scratch.products(layout, d1, &c1[r * block1..(r + 1) * block1], false);
                    plan.write_row(scratch, true, |k, v| out[k] = v);
                } else {
                    let d2 = e
                        .second
                        .map_or(&zeros2[..], |k| &g2[k * block2..(k + 1) * block2]);
                    scratch.products(layout, d1, &c2[r * block2..(r + 1) * block2], false);
                    scratch.products(layout, &c1[r * block1..(r + 1) * block1], d2, true);
                    plan.write_row(scratch, false, |k, v| out[k] = v);
                }
            },
        );
    Ok(values)
}

/// A coefficient Jacobian `(n_entries, d, n_species, n_max, n_lm)` viewed as
/// `(n_entries · d, n_species, n_max, n_lm)` (a standard-layout copy only if needed).
fn flatten<D: ndarray::Dimension>(gradient: ndarray::ArrayView<f64, D>) -> Result<Array4<f64>> {
    let shape = gradient.shape().to_vec();
    let k = shape.len();
    if k < 4 {
        crate::bail_input!("a coefficient gradient needs at least 4 axes, got {shape:?}");
    }
    let rows: usize = shape[..k - 3].iter().product();
    Ok(gradient
        .as_standard_layout()
        .to_owned()
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
    let g1 = flatten(first_gradient)?;
    let g2 = match &second {
        Some((_, _, _, g)) => Some(flatten(g.view())?),
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
    let g1 = flatten(first_strain)?;
    let g2 = match &second {
        Some((_, _, g)) => Some(flatten(g.view())?),
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
mod tests {
    use super::*;
    use crate::invariants::power_spectrum;

    fn random(shape: (usize, usize, usize, usize), seed: u64) -> Array4<f64> {
        let mut state = seed;
        Array4::from_shape_fn(shape, |_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        })
    }

    /// Directional derivatives: the power spectrum is quadratic in the coefficients, so the
    /// central difference along a direction `dc` is exact up to rounding (1e-10 with step 1e-3
    /// on O(1) values): the Jacobian must equal it, for one expansion with itself (folded) and
    /// for two expansions with different species, n_max and l_max. The backward pass must
    /// satisfy `Σ G·∂p = Σ ḡ·dc (+ ḡ'·dc')` to rounding.
    #[test]
    fn power_spectrum_gradient_and_backward() {
        let (n_rows, h) = (3, 1e-3);
        let c1 = random((n_rows, 2, 3, 9), 1);
        let c2 = random((n_rows, 3, 2, 16), 2);
        let d1 = random((n_rows, 2, 3, 9), 3);
        let d2 = random((n_rows, 3, 2, 16), 4);
        let entries: Vec<GradientEntry> = (0..n_rows)
            .map(|r| GradientEntry {
                row: r,
                first: Some(r),
                second: Some(r),
            })
            .collect();
        for mixed in [false, true] {
            let compute = |t: f64| {
                let a = &c1 + &(&d1 * t);
                let b = &c2 + &(&d2 * t);
                let second = mixed.then_some((b.view(), &[1, 6, 8][..]));
                power_spectrum(a.view(), &[1, 8], second).unwrap().values
            };
            let fd = (compute(h) - compute(-h)) / (2.0 * h);
            let second = mixed.then_some((c2.view(), &[1, 6, 8][..], d2.view()));
            let jac =
                power_spectrum_gradient(c1.view(), &[1, 8], d1.view(), second, &entries).unwrap();
            assert_eq!(jac.dim(), fd.dim());
            for (a, b) in jac.iter().zip(fd.iter()) {
                assert!((a - b).abs() < 1e-10, "mixed {mixed}: {a} vs {b}");
            }
            let g = random((n_rows, jac.ncols(), 1, 1), 5)
                .into_shape_with_order((n_rows, jac.ncols()))
                .unwrap();
            let second = mixed.then_some((c2.view(), &[1, 6, 8][..]));
            let (bar1, bar2) =
                power_spectrum_backward(c1.view(), &[1, 8], second, g.view()).unwrap();
            let expected = (&g * &jac).sum();
            let mut got = (&bar1 * &d1).sum();
            if let Some(bar2) = bar2 {
                got += (&bar2 * &d2).sum();
            }
            assert!(
                (got - expected).abs() < 1e-12 * expected.abs().max(1.0),
                "{got} vs {expected}"
            );
        }
        // a missing entry of the second expansion counts as zero
        let partial = [GradientEntry {
            row: 1,
            first: None,
            second: Some(1),
        }];
        let jac = power_spectrum_gradient(
            c1.view(),
            &[1, 8],
            d1.view(),
            Some((c2.view(), &[1, 6, 8], d2.view())),
            &partial,
        )
        .unwrap();
        let zero1 = Array4::zeros(d1.raw_dim());
        let full = [GradientEntry {
            row: 1,
            first: Some(1),
            second: Some(1),
        }];
        let expected = power_spectrum_gradient(
            c1.view(),
            &[1, 8],
            zero1.view(),
            Some((c2.view(), &[1, 6, 8], d2.view())),
            &full,
        )
        .unwrap();
        assert_eq!(jac, expected);
    }

    #[test]
    fn radial_backward_and_merge() {
        let g = Array2::from_shape_fn((2, 6), |(r, k)| (r * 6 + k) as f64);
        let bar = radial_spectrum_backward(g.view(), [2, 2, 3, 4]).unwrap();
        assert_eq!(bar[[1, 1, 2, 0]], 11.0);
        assert_eq!(bar.sum(), g.sum());
        assert!(radial_spectrum_backward(g.view(), [2, 2, 2, 4]).is_err());

        let a = Array2::from_shape_vec((3, 3), vec![0, 0, 0, 0, 0, 2, 1, 0, 1]).unwrap();
        let b = Array2::from_shape_vec((3, 3), vec![0, 0, 1, 0, 0, 2, 1, 0, 0]).unwrap();
        let (m, ia, ib) = merge_samples(a.view(), b.view()).unwrap();
        assert_eq!(m.nrows(), 5);
        assert_eq!(ia, vec![Some(0), None, Some(1), None, Some(2)]);
        assert_eq!(ib, vec![None, Some(0), Some(1), Some(2), None]);
        let unsorted = Array2::from_shape_vec((2, 3), vec![1, 0, 0, 0, 0, 0]).unwrap();
        assert!(merge_samples(unsorted.view(), b.view()).is_err());
    }
}
