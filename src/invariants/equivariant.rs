//! λ-equivariant ν = 2 products of two expansions (docs/math.md, "λ-equivariants").
//!
//! For every centre `i`,
//!
//! ```text
//! x^{λμ}_{a n l; b n' l'}(i) = Σ_{m m'} C^{λμ}_{l m l' m'} c^a_{nlm}(i) c'^b_{n'l'm'}(i)
//! ```
//!
//! with the real-basis Clebsch–Gordan coefficients of [`super::clebsch_gordan`], for every
//! `λ = 0 … λ_max` and every `(l, l')` in the triangle `|l − l'| ≤ λ ≤ l + l'`. Under a rotation
//! `R` the `2λ+1` components transform with the real Wigner matrix `D^λ(R)` (the one with
//! `Y_λ(R r̂) = D^λ(R) Y_λ(r̂)`); under inversion they pick up `(−1)^{l+l'} = σ (−1)^λ`, where
//! `σ = (−1)^{l+l'+λ}` is the block's parity label (`σ = +1`: proper tensors, `σ = −1`: pseudo).
//!
//! # Blocks and columns
//!
//! The output is one block per `(λ, σ)` that has any column, ordered by `λ` then `σ = +1, −1`;
//! a block's values are `(n_centres, 2λ+1, n_features)` (`μ + λ` on the middle axis). Inside a
//! block, columns are grouped by `(l, l')` (lexicographic), then channel `(a, n)` of the first
//! expansion, then channel `(b, n')` of the second (innermost). Labels, one row per column:
//! `(λ, σ, species_a, species_b, n, n', l, l')`.
//!
//! # Two different expansions, and one with itself
//!
//! With two expansions (e.g. SOAP ⊗ LODE) every `(l, l')` with `l ≤ l_max`, `l' ≤ l_max'` is
//! kept: `ρ_{l=2} ⊗ V_{l=0}` and `ρ_{l=0} ⊗ V_{l=2}` are different features. With one expansion
//! and itself the exchange of the factors maps `(a n l; b n' l')` to `(b n' l'; a n l)` times
//! `σ` (from `C^{λμ}_{l'm' lm} = (−1)^{l+l'+λ} C^{λμ}_{lm l'm'}`), so the copies are folded as
//! in the power spectrum: `l ≤ l'`, and for `l = l'` only `(a, n) ≤ (b, n')` (strictly `<` when
//! `σ = −1`, where the diagonal vanishes), with a `√2` weight on every kept term whose copy was
//! dropped. Dot products `Σ_μ Σ_columns x y'` are then those of the unfolded features.
//!
//! # Relation to the power spectrum
//!
//! `C^{00}_{lm l'm'} = δ_{ll'} δ_{mm'} / √(2l+1)`, so the `(λ, σ) = (0, +1)` block is the power
//! spectrum `p^{ab}_{nn'l} = (2l+1)^{−1/2} Σ_m c^a_nlm c'^b_n'lm` of [`super::power_spectrum`]
//! column for column (same kept set and weights), in a different column order.
//!
//! # Cost
//!
//! Per centre and per non-zero coefficient `C^{λμ}_{lm l'm'}`, one rank-1 update of an
//! `r × r'` tile (`r = n_species · n_max` channels): `2 r r'` flops (see [`flop_count`]).

use ndarray::{Array2, Array3, ArrayView4};
use rayon::prelude::*;

use super::clebsch_gordan::real_clebsch_gordan;
use super::power_spectrum::{check_species, l_max_of};
use crate::error::{Error, Result};
use crate::math::simd::with_avx2;

/// One `(λ, σ)` block of λ-equivariant features.
#[derive(Debug, Clone)]
pub struct EquivariantBlock {
    /// `λ`, the angular order: `2λ+1` components.
    pub lambda: usize,
    /// `σ = (−1)^{l+l'+λ}`, `+1` or `−1`.
    pub sigma: i32,
    /// `(n_centres, 2λ+1, n_features)`.
    pub values: Array3<f64>,
    /// `(n_features, 8)`: `(λ, σ, species_a, species_b, n, n', l, l')` of every column.
    pub labels: Array2<i32>,
}

/// Names of the label columns of [`EquivariantBlock::labels`].
pub const EQUIVARIANT_LABELS: [&str; 8] = [
    "o3_lambda",
    "o3_sigma",
    "species_a",
    "species_b",
    "n",
    "n'",
    "l",
    "l'",
];

/// The coefficients of one `(l, l', λ)` and where its columns go.
struct Term {
    /// Index of the output block.
    block: usize,
    /// `2λ+1`.
    width: usize,
    /// First column of this `(l, l')` group inside the block.
    offset: usize,
    /// Columns of this group in the block (`r r'` unless folded).
    n_columns: usize,
    /// Couplings `(m, m', value)` (offsets `m + l`, `m' + l'`, value with the fold weight) of
    /// each `μ + λ`: `entries[starts[μ]..starts[μ+1]]`.
    entries: Vec<(usize, usize, f64)>,
    starts: Vec<usize>,
}

/// All `λ` of one `(l, l')` pair.
struct Group {
    l1: usize,
    l2: usize,
    /// One expansion with itself and `l = l'`: only `(a, n) ≤ (b, n')` columns are written.
    folded: bool,
    terms: Vec<Term>,
}

/// The output blocks and the per-centre work, fixed before any centre is computed.
struct Plan {
    groups: Vec<Group>,
    /// `(λ, σ, n_features)` of every block.
    blocks: Vec<(usize, i32, usize)>,
    rows1: usize,
    rows2: usize,
}

fn parity(l1: usize, l2: usize, lambda: usize) -> i32 {
    if (l1 + l2 + lambda).is_multiple_of(2) {
        1
    } else {
        -1
    }
}

/// Columns of a group: all `(p, q)`, or the folded upper triangle (diagonal for `σ = +1` only).
fn kept_pairs(rows1: usize, rows2: usize, folded: bool, sigma: i32) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for p in 0..rows1 {
        for q in 0..rows2 {
            if !folded || q > p || (q == p && sigma == 1) {
                out.push((p, q));
            }
        }
    }
    out
}

impl Plan {
    fn new(
        l_max1: usize,
        l_max2: usize,
        lambda_max: usize,
        same: bool,
        rows1: usize,
        rows2: usize,
    ) -> Result<Plan> {
        // block index of every (λ, σ) that has columns, in (λ, +1, −1) order
        let mut widths = vec![0usize; 2 * (lambda_max + 1)];
        let mut groups = Vec::new();
        for l1 in 0..=l_max1 {
            for l2 in 0..=l_max2 {
                if same && l2 < l1 {
                    continue;
                }
                let folded = same && l1 == l2;
                let weight = if same && l1 < l2 {
                    std::f64::consts::SQRT_2
                } else {
                    1.0
                };
                let mut terms = Vec::new();
                for lambda in l1.abs_diff(l2)..=(l1 + l2).min(lambda_max) {
                    let sigma = parity(l1, l2, lambda);
                    let n_columns = kept_pairs(rows1, rows2, folded, sigma).len();
                    if n_columns == 0 {
                        continue;
                    }
                    let key = 2 * lambda + usize::from(sigma < 0);
                    let slot = &mut widths[key];
                    let offset = *slot;
                    *slot += n_columns;
                    let mut couplings = real_clebsch_gordan(l1, l2, lambda)?;
                    couplings.sort_by_key(|c| (c.mu, c.m1, c.m2));
                    let width = 2 * lambda + 1;
                    let mut starts = vec![0; width + 1];
                    for c in &couplings {
                        starts[c.mu + 1] += 1;
                    }
                    for mu in 0..width {
                        starts[mu + 1] += starts[mu];
                    }
                    let entries = couplings
                        .iter()
                        .map(|c| (c.m1, c.m2, weight * c.value))
                        .collect();
                    terms.push(Term {
                        // fixed below, once the block list is known
                        block: key,
                        width,
                        offset,
                        n_columns,
                        entries,
                        starts,
                    });
                }
                groups.push(Group {
                    l1,
                    l2,
                    folded,
                    terms,
                });
            }
        }
        let mut index = vec![usize::MAX; 2 * (lambda_max + 1)];
        let mut blocks = Vec::new();
        for (key, &n) in widths.iter().enumerate() {
            if n > 0 {
                index[key] = blocks.len();
                blocks.push((key / 2, if key % 2 == 0 { 1 } else { -1 }, n));
            }
        }
        for term in groups.iter_mut().flat_map(|g| g.terms.iter_mut()) {
            term.block = index[term.block];
        }
        Ok(Plan {
            groups,
            blocks,
            rows1,
            rows2,
        })
    }
}

/// Per-thread buffers: the centre's coefficients transposed to `[lm][channel]`, and a tile for
/// the folded groups.
struct Scratch {
    first: Vec<f64>,
    second: Vec<f64>,
    tile: Vec<f64>,
}

/// `tile[p][q] += Σ_entries value · x[m][p] · y[m'][q]` (`x`, `y`: the `l` and `l'` blocks of the
/// transposed coefficients).
#[inline(always)]
fn accumulate(
    tile: &mut [f64],
    entries: &[(usize, usize, f64)],
    x: &[f64],
    y: &[f64],
    rows1: usize,
    rows2: usize,
) {
    for &(m1, m2, value) in entries {
        let xm = &x[m1 * rows1..(m1 + 1) * rows1];
        let ym = &y[m2 * rows2..(m2 + 1) * rows2];
        for (out, &xp) in tile.chunks_exact_mut(rows2).zip(xm) {
            let s = value * xp;
            for (o, &yq) in out.iter_mut().zip(ym) {
                *o += s * yq;
            }
        }
    }
}

#[inline(always)]
fn centre(
    plan: &Plan,
    scratch: &mut Scratch,
    c1: &[f64],
    c2: &[f64],
    n_lm: (usize, usize),
    rows: &mut [&mut [f64]],
) {
    let (r1, r2) = (plan.rows1, plan.rows2);
    for p in 0..r1 {
        for lm in 0..n_lm.0 {
            scratch.first[lm * r1 + p] = c1[p * n_lm.0 + lm];
        }
    }
    for q in 0..r2 {
        for lm in 0..n_lm.1 {
            scratch.second[lm * r2 + q] = c2[q * n_lm.1 + lm];
        }
    }
    for group in &plan.groups {
        let (l1, l2) = (group.l1, group.l2);
        let x = &scratch.first[l1 * l1 * r1..(l1 + 1) * (l1 + 1) * r1];
        let y = &scratch.second[l2 * l2 * r2..(l2 + 1) * (l2 + 1) * r2];
        for term in &group.terms {
            let row = &mut *rows[term.block];
            let n_features = row.len() / term.width;
            for mu in 0..term.width {
                let entries = &term.entries[term.starts[mu]..term.starts[mu + 1]];
                let start = mu * n_features + term.offset;
                let out = &mut row[start..start + term.n_columns];
                if !group.folded {
                    accumulate(out, entries, x, y, r1, r2);
                    continue;
                }
                let tile = &mut scratch.tile;
                tile.fill(0.0);
                accumulate(tile, entries, x, y, r1, r2);
                // the (p ≤ q) triangle, √2 off the diagonal; the diagonal only when σ = +1
                let with_diagonal = plan.blocks[term.block].1 == 1;
                let mut k = 0;
                for p in 0..r1 {
                    let first = if with_diagonal { p } else { p + 1 };
                    for q in first..r2 {
                        let w = if q == p {
                            1.0
                        } else {
                            std::f64::consts::SQRT_2
                        };
                        out[k] = w * tile[p * r2 + q];
                        k += 1;
                    }
                }
            }
        }
    }
}

/// λ-equivariant ν = 2 features (module docs) of `first` with `second` (or with itself when
/// `second` is `None`), for `λ = 0 … lambda_max`.
///
/// `first` is `(n_centres, n_species, n_max, (l_max+1)²)` with its species list; `second` the
/// same for the other expansion (same centres; any species, `n_max`, `l_max`). Error when
/// `lambda_max` exceeds `l_max + l_max'` (no `(l, l')` pair reaches it).
pub fn equivariant_power_spectrum(
    first: ArrayView4<f64>,
    first_species: &[i32],
    second: Option<(ArrayView4<f64>, &[i32])>,
    lambda_max: usize,
) -> Result<Vec<EquivariantBlock>> {
    check_species(&first, first_species)?;
    let l_max1 = l_max_of(&first)?;
    let (other, other_species, same) = match second {
        Some((c, s)) => {
            check_species(&c, s)?;
            if c.shape()[0] != first.shape()[0] {
                return Err(Error::InvalidInput(format!(
                    "the two expansions have {} and {} centres",
                    first.shape()[0],
                    c.shape()[0]
                )));
            }
            (c, s, false)
        }
        None => (first.view(), first_species, true),
    };
    let l_max2 = l_max_of(&other)?;
    if lambda_max > l_max1 + l_max2 {
        crate::bail_param!(
            "lambda_max = {lambda_max} is above l_max + l_max' = {l_max1} + {l_max2}: no pair \
             of angular channels couples to it; lower lambda_max or raise l_max"
        );
    }
    let (n1, n2) = (first.shape()[2], other.shape()[2]);
    let (rows1, rows2) = (first.shape()[1] * n1, other.shape()[1] * n2);
    let plan = Plan::new(l_max1, l_max2, lambda_max, same, rows1, rows2)?;

    let first = first.as_standard_layout();
    let other = other.as_standard_layout();
    let n_centres = first.shape()[0];
    let n_lm = (first.shape()[3], other.shape()[3]);
    let (block1, block2) = (rows1 * n_lm.0, rows2 * n_lm.1);
    let data1 = first.as_slice().expect("standard layout");
    let data2 = other.as_slice().expect("standard layout");

    let mut values: Vec<Array3<f64>> = plan
        .blocks
        .iter()
        .map(|&(lambda, _, n)| Array3::zeros((n_centres, 2 * lambda + 1, n)))
        .collect();
    // every centre's row of every block, handed to the one task that computes that centre
    let mut rows: Vec<Vec<&mut [f64]>> = (0..n_centres).map(|_| Vec::new()).collect();
    for block in values.iter_mut() {
        let size = block.shape()[1] * block.shape()[2];
        let data = block.as_slice_mut().expect("fresh arrays are contiguous");
        if size == 0 {
            continue;
        }
        for (row, chunk) in rows.iter_mut().zip(data.chunks_mut(size)) {
            row.push(chunk);
        }
    }
    rows.par_iter_mut().enumerate().for_each_init(
        || Scratch {
            first: vec![0.0; block1],
            second: vec![0.0; block2],
            tile: vec![0.0; rows1 * rows2],
        },
        |scratch, (i, row)| {
            // AVX2-wide loops where available; the same IEEE operations (no FMA), so the
            // values are bitwise identical on every CPU
            with_avx2(
                #[inline(always)]
                || {
                    centre(
                        &plan,
                        scratch,
                        &data1[i * block1..(i + 1) * block1],
                        &data2[i * block2..(i + 1) * block2],
                        n_lm,
                        row,
                    )
                },
            );
        },
    );
    drop(rows);

    let mut labels: Vec<Array2<i32>> = plan
        .blocks
        .iter()
        .map(|&(_, _, n)| Array2::zeros((n, EQUIVARIANT_LABELS.len())))
        .collect();
    for group in &plan.groups {
        for term in &group.terms {
            let (lambda, sigma, _) = plan.blocks[term.block];
            let pairs = kept_pairs(rows1, rows2, group.folded, sigma);
            for (k, &(p, q)) in pairs.iter().enumerate() {
                let row = [
                    lambda as i32,
                    sigma,
                    first_species[p / n1],
                    other_species[q / n2],
                    (p % n1) as i32,
                    (q % n2) as i32,
                    group.l1 as i32,
                    group.l2 as i32,
                ];
                let mut label = labels[term.block].row_mut(term.offset + k);
                for (slot, v) in label.iter_mut().zip(row) {
                    *slot = v;
                }
            }
        }
    }
    Ok(plan
        .blocks
        .iter()
        .zip(values.into_iter().zip(labels))
        .map(|(&(lambda, sigma, _), (values, labels))| EquivariantBlock {
            lambda,
            sigma,
            values,
            labels,
        })
        .collect())
}

/// Floating-point operations of [`equivariant_power_spectrum`] per centre (the rank-1 tile
/// updates, `2 r r'` per non-zero coefficient and per `r × r'` tile; the transposition and the
/// folding copies are not counted).
pub fn flop_count(
    l_max1: usize,
    l_max2: usize,
    lambda_max: usize,
    same: bool,
    rows1: usize,
    rows2: usize,
) -> Result<f64> {
    let plan = Plan::new(l_max1, l_max2, lambda_max, same, rows1, rows2)?;
    let n_entries: usize = plan
        .groups
        .iter()
        .flat_map(|g| g.terms.iter())
        .map(|t| t.entries.len())
        .sum();
    Ok(2.0 * (n_entries * rows1 * rows2) as f64)
}

#[cfg(test)]
mod tests;
