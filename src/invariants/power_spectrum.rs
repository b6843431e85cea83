//! ν = 1 and ν = 2 invariants.
//!
//! Power spectrum (docs/math.md §4):
//! `p^{ab}_{nn'l}(i) = (2l+1)^{-1/2} Σ_m c^a_nlm(i) c'^b_n'lm(i)`.
//! For one expansion with itself (`c' = c`), the symmetric copies are folded: only `a ≤ b`, and
//! `n ≤ n'` when `a = b`, with a `√2` weight on the off-diagonal terms, so that dot products
//! between feature vectors equal those of the unfolded features.

use ndarray::{Array2, ArrayView4, Axis};
use rayon::prelude::*;

use super::Features;
use crate::error::{Error, Result};

/// `l_max` of a coefficient array from its `(l_max+1)²` last axis.
pub(super) fn l_max_of(coefficients: &ArrayView4<f64>) -> Result<usize> {
    let n_lm = coefficients.shape()[3];
    let l = (n_lm as f64).sqrt().round() as usize;
    if l * l != n_lm || l == 0 {
        return Err(Error::InvalidInput(format!(
            "the last axis of a coefficient array must have (l_max+1)² entries, got {n_lm}"
        )));
    }
    Ok(l - 1)
}

/// The shape checks of every coefficient array: species channels as given, and no empty
/// channel, radial or angular axis (the centre axis may be empty).
pub(super) fn check_species(coefficients: &ArrayView4<f64>, species: &[i32]) -> Result<()> {
    let shape = coefficients.shape();
    if shape[1] == 0 || shape[2] == 0 || shape[3] == 0 {
        return Err(Error::InvalidInput(format!(
            "a coefficient array must have shape (n_centres, n_species, n_max, (l_max+1)²) with \
             at least one species, radial function and harmonic; got {shape:?}"
        )));
    }
    if coefficients.shape()[1] != species.len() {
        return Err(Error::InvalidInput(format!(
            "coefficient array has {} species channels but {} species were given",
            coefficients.shape()[1],
            species.len()
        )));
    }
    Ok(())
}

/// ν = 1: the `l = 0` block `c^a_n00(i)`; labels `(species, n)`.
pub fn radial_spectrum(coefficients: ArrayView4<f64>, species: &[i32]) -> Result<Features> {
    check_species(&coefficients, species)?;
    let (n_centres, n_species, n_max, _) = coefficients.dim();
    let mut values = Array2::zeros((n_centres, n_species * n_max));
    values
        .axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(coefficients.axis_iter(Axis(0)))
        .for_each(|(mut row, c)| {
            for a in 0..n_species {
                for n in 0..n_max {
                    row[a * n_max + n] = c[[a, n, 0]];
                }
            }
        });
    let mut labels = Array2::zeros((n_species * n_max, 2));
    for a in 0..n_species {
        for n in 0..n_max {
            labels[[a * n_max + n, 0]] = species[a];
            labels[[a * n_max + n, 1]] = n as i32;
        }
    }
    Ok(Features { values, labels })
}

/// One output column group: channels `(a, n)` × `(b, n')`, all `l`, with a weight.
struct Combination {
    a: usize,
    n: usize,
    b: usize,
    n2: usize,
    weight: f64,
}

/// Sizes of one centre's coefficient blocks: `rows` channels `(a, n)` by `n_lm` harmonics.
pub(super) struct Layout {
    pub rows1: usize,
    pub rows2: usize,
    pub n_lm1: usize,
    pub n_lm2: usize,
    pub l_max: usize,
}

/// Per-thread buffers for the per-centre products `M_l[p][q] = Σ_m c[p][lm] c'[q][lm]`.
///
/// The coefficients are transposed to `[lm][p]` so that the inner loop runs over the
/// contiguous `q` of a whole row of `M_l` (vectorised), instead of short sums over `m`.
struct Scratch {
    first: Vec<f64>,
    second: Vec<f64>,
    /// `M_l` for every `l`, `[l][p][q]`.
    products: Vec<f64>,
}

impl Scratch {
    fn new(layout: &Layout) -> Scratch {
        let n_lm = (layout.l_max + 1) * (layout.l_max + 1);
        Scratch {
            first: vec![0.0; n_lm * layout.rows1],
            second: vec![0.0; n_lm * layout.rows2],
            products: vec![0.0; (layout.l_max + 1) * layout.rows1 * layout.rows2],
        }
    }

    /// `M_l[p][q] = Σ_m c1[p][lm] c2[q][lm]` for blocks `c1 (rows1, n_lm1)`, `c2 (rows2, n_lm2)`.
    fn products(&mut self, layout: &Layout, c1: &[f64], c2: &[f64]) {
        let n_lm = (layout.l_max + 1) * (layout.l_max + 1);
        let (r1, r2) = (layout.rows1, layout.rows2);
        for lm in 0..n_lm {
            for p in 0..r1 {
                self.first[lm * r1 + p] = c1[p * layout.n_lm1 + lm];
            }
            for q in 0..r2 {
                self.second[lm * r2 + q] = c2[q * layout.n_lm2 + lm];
            }
        }
        for l in 0..=layout.l_max {
            let block = &mut self.products[l * r1 * r2..(l + 1) * r1 * r2];
            block.fill(0.0);
            for lm in l * l..(l + 1) * (l + 1) {
                let x = &self.first[lm * r1..(lm + 1) * r1];
                let y = &self.second[lm * r2..(lm + 1) * r2];
                for (out, &xp) in block.chunks_exact_mut(r2).zip(x) {
                    for (o, &yq) in out.iter_mut().zip(y) {
                        *o += xp * yq;
                    }
                }
            }
        }
    }

    fn product(&self, layout: &Layout, l: usize, p: usize, q: usize) -> f64 {
        let (r1, r2) = (layout.rows1, layout.rows2);
        self.products[l * r1 * r2 + p * r2 + q]
    }
}

/// Everything the power spectrum of two coefficient arrays needs, checked once: the
/// combinations `(p = (a, n), q = (b, n'), weight)`, the block layout and the labels.
pub(super) struct Plan {
    /// `(p, q, weight)` of every combination, in column order (`l` innermost).
    pub pairs: Vec<(usize, usize, f64)>,
    pub layout: Layout,
    /// `(2l+1)^{-1/2}`.
    pub inv_sqrt: Vec<f64>,
    /// One expansion with itself (folded).
    pub same: bool,
    pub labels: Array2<i32>,
    /// Every feature column in order, for the gradient kernel.
    pub columns: Vec<Column>,
}

/// One feature column `(p, q, l)`: where its product sits in the per-`l` matrices
/// `M (l, rows1, rows2)` (`direct`) and `N (l, rows2, rows1)` (`transposed`, also `M`'s
/// transpose when the expansion is paired with itself), and its factor `w (2l+1)^{-1/2}`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Column {
    pub p: usize,
    pub q: usize,
    pub direct: usize,
    pub transposed: usize,
    pub factor: f64,
}

impl Plan {
    /// Validate the inputs (see [`power_spectrum`]) and plan the columns.
    pub fn new(
        first: &ArrayView4<f64>,
        first_species: &[i32],
        second: Option<(&ArrayView4<f64>, &[i32])>,
    ) -> Result<Plan> {
        check_species(first, first_species)?;
        let l1 = l_max_of(first)?;
        let (other, other_species, same) = match second {
            Some((c, s)) => {
                check_species(c, s)?;
                if c.shape()[0] != first.shape()[0] {
                    return Err(Error::InvalidInput(format!(
                        "the two expansions have {} and {} centres",
                        first.shape()[0],
                        c.shape()[0]
                    )));
                }
                (c, s, false)
            }
            None => (first, first_species, true),
        };
        let l_max = l1.min(l_max_of(other)?);
        let (n1, n2) = (first.shape()[2], other.shape()[2]);

        let mut combos = Vec::new();
        for a in 0..first_species.len() {
            for b in 0..other_species.len() {
                if same && b < a {
                    continue;
                }
                for n in 0..n1 {
                    for m in 0..n2 {
                        if same && a == b && m < n {
                            continue;
                        }
                        let off_diagonal = same && (a != b || m != n);
                        let weight = if off_diagonal {
                            std::f64::consts::SQRT_2
                        } else {
                            1.0
                        };
                        combos.push(Combination {
                            a,
                            n,
                            b,
                            n2: m,
                            weight,
                        });
                    }
                }
            }
        }
        let n_features = combos.len() * (l_max + 1);
        let mut labels = Array2::zeros((n_features, 5));
        for (k, combo) in combos.iter().enumerate() {
            for l in 0..=l_max {
                let mut label = labels.row_mut(k * (l_max + 1) + l);
                label[0] = first_species[combo.a];
                label[1] = other_species[combo.b];
                label[2] = combo.n as i32;
                label[3] = combo.n2 as i32;
                label[4] = l as i32;
            }
        }
        let pairs: Vec<(usize, usize, f64)> = combos
            .iter()
            .map(|c| (c.a * n1 + c.n, c.b * n2 + c.n2, c.weight))
            .collect();
        let (rows1, rows2) = (first.shape()[1] * n1, other.shape()[1] * n2);
        let mut columns = Vec::with_capacity(n_features);
        for &(p, q, weight) in &pairs {
            for l in 0..=l_max {
                columns.push(Column {
                    p,
                    q,
                    direct: (l * rows1 + p) * rows2 + q,
                    transposed: (l * rows2 + q) * rows1 + p,
                    factor: weight / ((2 * l + 1) as f64).sqrt(),
                });
            }
        }
        Ok(Plan {
            columns,
            pairs,
            layout: Layout {
                rows1: first.shape()[1] * n1,
                rows2: other.shape()[1] * n2,
                n_lm1: first.shape()[3],
                n_lm2: other.shape()[3],
                l_max,
            },
            inv_sqrt: (0..=l_max)
                .map(|l| 1.0 / ((2 * l + 1) as f64).sqrt())
                .collect(),
            same,
            labels,
        })
    }

    /// Number of feature columns.
    pub fn n_features(&self) -> usize {
        self.pairs.len() * (self.layout.l_max + 1)
    }

    /// Write one row of features from the products in `scratch`.
    fn write_row(&self, scratch: &Scratch, mut write: impl FnMut(usize, f64)) {
        let l_max = self.layout.l_max;
        for (k, &(p, q, weight)) in self.pairs.iter().enumerate() {
            for l in 0..=l_max {
                let product = scratch.product(&self.layout, l, p, q);
                write(k * (l_max + 1) + l, weight * self.inv_sqrt[l] * product);
            }
        }
    }
}

/// ν = 2 power spectrum of `first` with `second` (or with itself when `second` is `None`).
///
/// `first` is `(n_centres, n_species, n_max, (l_max+1)²)` with its species list; `second`
/// the same for the other expansion (same centres; any species, `n_max`, `l_max`). Uses
/// `l ≤ min(l_max, l_max')`. Labels: `(species_a, species_b, n, n', l)`; columns ordered by
/// `(a, b, n, n')` then `l` innermost.
pub fn power_spectrum(
    first: ArrayView4<f64>,
    first_species: &[i32],
    second: Option<(ArrayView4<f64>, &[i32])>,
) -> Result<Features> {
    let plan = Plan::new(&first, first_species, second.as_ref().map(|(c, s)| (c, *s)))?;
    let other = match &second {
        Some((c, _)) => c.view(),
        None => first.view(),
    };
    // contiguous copies only when the inputs are not already standard-layout (NumPy views may
    // be strided); each centre's block is then one slice `(n_species, n_max, n_lm)`
    let first = first.as_standard_layout();
    let other = other.as_standard_layout();
    let layout = &plan.layout;
    let block1 = layout.rows1 * layout.n_lm1;
    let block2 = layout.rows2 * layout.n_lm2;
    let data1 = first.as_slice().expect("standard layout");
    let data2 = other.as_slice().expect("standard layout");

    // every element is written below (first touch inside the worker threads)
    let mut values = Array2::<f64>::uninit((first.shape()[0], plan.n_features()));
    values
        .axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .try_for_each_init(
            || Scratch::new(layout),
            |scratch, (i, mut row)| {
                crate::threads::check_cancelled()?;
                let row = row.as_slice_mut().expect("fresh rows are contiguous");
                scratch.products(
                    layout,
                    &data1[i * block1..(i + 1) * block1],
                    &data2[i * block2..(i + 1) * block2],
                );
                plan.write_row(scratch, |k, v| {
                    row[k].write(v);
                });
                Ok(())
            },
        )?;
    // SAFETY: the loop above wrote every element of every row (it returned early otherwise)
    let values = unsafe { values.assume_init() };
    Ok(Features {
        values,
        labels: plan.labels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array4;

    fn random_coefficients(
        n_centres: usize,
        n_species: usize,
        n_max: usize,
        l_max: usize,
    ) -> Array4<f64> {
        let mut state = 12345u64;
        Array4::from_shape_fn(
            (n_centres, n_species, n_max, (l_max + 1) * (l_max + 1)),
            |_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
            },
        )
    }

    /// Folding preserves dot products: <p(i), p(j)> equals the unfolded sum over all (a,b,n,n').
    #[test]
    fn folded_dot_products_match_unfolded() {
        let c = random_coefficients(3, 2, 3, 2);
        let folded = power_spectrum(c.view(), &[1, 8], None).unwrap();
        let full = power_spectrum(c.view(), &[1, 8], Some((c.view(), &[1, 8]))).unwrap();
        assert_eq!(full.values.ncols(), 2 * 2 * 3 * 3 * 3);
        assert_eq!(folded.values.ncols(), (9 + 2 * 6) * 3);
        for i in 0..3 {
            for j in 0..3 {
                let a = folded.values.row(i).dot(&folded.values.row(j));
                let b = full.values.row(i).dot(&full.values.row(j));
                assert!((a - b).abs() < 1e-12 * b.abs().max(1.0), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn explicit_value_and_labels() {
        let c = random_coefficients(1, 1, 2, 1);
        let p = power_spectrum(c.view(), &[6], None).unwrap();
        // columns: (n, n') = (0,0), (0,1), (1,1), each with l = 0, 1
        let expected_l1: f64 = (1..4)
            .map(|lm| c[[0, 0, 0, lm]] * c[[0, 0, 1, lm]])
            .sum::<f64>()
            * std::f64::consts::SQRT_2
            / 3f64.sqrt();
        assert!((p.values[[0, 3]] - expected_l1).abs() < 1e-15);
        assert_eq!(p.labels.row(3).to_vec(), vec![6, 6, 0, 1, 1]);
        let r = radial_spectrum(c.view(), &[6]).unwrap();
        assert_eq!(r.values[[0, 1]], c[[0, 0, 1, 0]]);
    }

    #[test]
    fn mismatched_inputs_are_errors() {
        let c = random_coefficients(2, 1, 2, 1);
        let d = random_coefficients(3, 1, 2, 1);
        assert!(power_spectrum(c.view(), &[1], Some((d.view(), &[1]))).is_err());
        assert!(power_spectrum(c.view(), &[1, 2], None).is_err());
    }

    /// Zero-length channel, radial or angular axes are errors, not panics; no centres is fine.
    #[test]
    fn empty_axes() {
        for shape in [(2, 0, 2, 4), (2, 1, 0, 4), (2, 1, 2, 0)] {
            let c = Array4::<f64>::zeros(shape);
            let species = vec![1; shape.1];
            for result in [
                power_spectrum(c.view(), &species, None),
                power_spectrum(c.view(), &species, Some((c.view(), &species))),
                radial_spectrum(c.view(), &species),
            ] {
                assert!(matches!(result, Err(Error::InvalidInput(_))), "{shape:?}");
            }
        }
        let c = Array4::<f64>::zeros((0, 1, 2, 4));
        assert_eq!(
            power_spectrum(c.view(), &[1], None).unwrap().values.shape(),
            [0, 6]
        );
        assert_eq!(
            radial_spectrum(c.view(), &[1]).unwrap().values.shape(),
            [0, 2]
        );
    }
}
