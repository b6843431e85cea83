//! The ν = 2 Jacobian of one expansion with itself when its rows are sums over pairs (SOAP,
//! [`PairRows`]): each pair's derivative is contracted with the row's coefficients directly,
//! so the coefficient Jacobian is never formed (the kernel of
//! [`super::power_spectrum_jacobians`] for these rows).
//!
//! A pair `p` of channel `s` moves the coefficients `c[(s, n), lm]` only, by
//! `∂T_p/∂r_α [n, lm] = a[n, l] Y_lm û_α + b[n, l] G_lm,α` ([`PairFactors`]). With the row's
//! coefficients `c[Q, lm]` (`Q = (species, n)`) and `φ_l = (2l+1)^{-1/2}`,
//! `y[Q, l] = φ_l Σ_m Y_lm c[Q, lm]` and `g_α[Q, l] = φ_l Σ_m G_lm,α c[Q, lm]` give
//! $$ K_α[n][Q, l] = φ_l \sum_m \frac{∂T_p}{∂r_α}[n, lm]\, c[Q, lm]
//!    = a[n, l]\, û_α\, y[Q, l] + b[n, l]\, g_{α}[Q, l], $$
//! and the pair's share of the derivative of feature `(P = (a, n), Q = (b, n'), l)` with fold
//! weight `w` (`√2` off the diagonal, docs/math.md §4) is
//! `w ([a = s] K_α[n][Q, l] + [b = s] K_α[n'][P, l])`: zero unless `a = s` or `b = s`.
//! An atom's derivative is the sum of the shares of its pairs, the centre's is minus the sum of
//! all shares (pairs to the centre's own images cancel), and the strain derivative is
//! `Σ_p share_α r_β`.
//!
//! Cost per pair (`S` species, `N = n_max`, `L = l_max + 1`): `4 S N L²` for `y` and `g`,
//! `6 S N² L` for `K`, one pass over the features per direction; the coefficient-Jacobian route
//! costs `3 (S N)² L²` per sample. The results equal that route's to rounding (not bitwise:
//! the sums run in another order).

use std::f64::consts::SQRT_2;

use super::power_spectrum::Plan;
use super::row_kernel::stream_copy;
use crate::error::Result;
use crate::expansion::{PairFactors, PairRows};
use crate::math::simd::with_avx2;

/// Per-thread buffers of the kernel.
pub(super) struct PairKernel {
    species: usize,
    n_max: usize,
    /// `l_max + 1`.
    big_l: usize,
    n_features: usize,
    /// `φ_l = (2l+1)^{-1/2}`.
    phi: Vec<f64>,
    /// `φ_l c[Q, lm]` of the row, `[lm][Q]`.
    ct: Vec<f64>,
    /// `y` and `g_α` of a pair, `[l][Q]` (`y`) then `[α][l][Q]`.
    sums: Vec<f64>,
    /// `y [Q][l]`, `û_α y [Q][l]`, `g [α][Q][l]`.
    y: Vec<f64>,
    yu: Vec<f64>,
    g: Vec<f64>,
    /// `a[n, l]` and `b[n, l]` repeated over `n'`: `[n][n'][l]`.
    a_rep: Vec<f64>,
    b_rep: Vec<f64>,
    /// `K_α [n][Q][l]` of one direction.
    k: Vec<f64>,
    /// One pair's shares `(3, n_features)` (with strain), an atom's sum `(3, n_features)`,
    /// the centre's `(3, n_features)`, the row's strain derivative `(3, 3, n_features)`.
    share: Vec<f64>,
    sample: Vec<f64>,
    centre: Vec<f64>,
    strain: Vec<f64>,
}

impl PairKernel {
    /// Buffers for `plan`, which must be one expansion with itself, of `species` channels.
    pub fn new(plan: &Plan, species: usize) -> PairKernel {
        assert!(plan.same, "the pair kernel needs one expansion with itself");
        let layout = &plan.layout;
        let big_l = layout.l_max + 1;
        assert_eq!(layout.n_lm1, big_l * big_l, "coefficients up to l_max");
        assert_eq!(layout.rows1 % species, 0, "rows = species × n_max");
        let n_max = layout.rows1 / species;
        let rows = layout.rows1;
        let n_features = plan.columns.len();
        let kernel = PairKernel {
            species,
            n_max,
            big_l,
            n_features,
            phi: (0..big_l)
                .map(|l| 1.0 / ((2 * l + 1) as f64).sqrt())
                .collect(),
            ct: vec![0.0; big_l * big_l * rows],
            sums: vec![0.0; 4 * rows * big_l],
            y: vec![0.0; rows * big_l],
            yu: vec![0.0; rows * big_l],
            g: vec![0.0; 3 * rows * big_l],
            a_rep: vec![0.0; n_max * n_max * big_l],
            b_rep: vec![0.0; n_max * n_max * big_l],
            k: vec![0.0; n_max * rows * big_l],
            share: vec![0.0; 3 * n_features],
            sample: vec![0.0; 3 * n_features],
            centre: vec![0.0; 3 * n_features],
            strain: vec![0.0; 9 * n_features],
        };
        assert!(kernel.matches(plan), "the features in the plan's order");
        kernel
    }

    /// The feature order of [`Self::assemble`] is the plan's (checked in debug builds and tests).
    fn matches(&self, plan: &Plan) -> bool {
        let mut order = Vec::with_capacity(self.n_features);
        let (n, l) = (self.n_max, self.big_l);
        for a in 0..self.species {
            for b in a..self.species {
                for n1 in 0..n {
                    for n2 in if a == b { n1 } else { 0 }..n {
                        for _ in 0..l {
                            order.push((a * n + n1, b * n + n2));
                        }
                    }
                }
            }
        }
        order.len() == plan.columns.len()
            && order
                .iter()
                .zip(&plan.columns)
                .all(|(&(p, q), c)| (p, q) == (c.p, c.q))
    }

    /// The Jacobians of one row: `c (rows, (l_max+1)²)` its coefficients, `atoms` its samples
    /// (sorted, the centre `center` included), `positions (atoms.len(), 3, n_features)` and
    /// `strain (3, 3, n_features)` the outputs, every element written.
    #[allow(clippy::too_many_arguments)]
    pub fn row(
        &mut self,
        pairs: &dyn PairRows,
        row: usize,
        center: usize,
        atoms: &[usize],
        c: &[f64],
        mut positions: Option<&mut [f64]>,
        strain: Option<&mut [f64]>,
    ) -> Result<()> {
        let width = 3 * self.n_features;
        if let Some(out) = &positions {
            assert_eq!(out.len(), atoms.len() * width);
        }
        let with_strain = strain.is_some();
        if with_strain {
            self.strain.fill(0.0);
        }
        self.centre.fill(0.0);
        self.transpose(c);
        let mut current: Option<usize> = None;
        pairs.visit_pairs(row, &mut |f: &PairFactors<'_>| {
            let first = current != Some(f.target);
            let to_positions = positions.is_some() && f.target != center;
            // the callback is compiled apart from the caller's `with_avx2`
            with_avx2(
                #[inline(always)]
                || {
                    if first {
                        if let (Some(t), Some(out)) = (current, positions.as_deref_mut()) {
                            self.finish(t, center, atoms, out);
                        }
                    }
                    if to_positions || with_strain {
                        self.pair(f, first, to_positions, with_strain);
                    }
                },
            );
            current = Some(f.target);
        })?;
        if let Some(out) = positions {
            if let Some(t) = current {
                self.finish(t, center, atoms, out);
            }
            let slot = atoms
                .binary_search(&center)
                .expect("the samples include the centre");
            stream_copy(&mut out[slot * width..(slot + 1) * width], &self.centre);
        }
        if let Some(out) = strain {
            stream_copy(out, &self.strain);
        }
        Ok(())
    }

    /// One pair's shares: into the atom's sum (`to_positions`; written when `first`, else
    /// added) and, `with_strain`, times `r_β` into the strain derivative.
    #[inline(always)]
    fn pair(&mut self, f: &PairFactors<'_>, first: bool, to_positions: bool, with_strain: bool) {
        let n_features = self.n_features;
        self.project(f);
        for alpha in 0..3 {
            self.shares(f, alpha);
            let range = alpha * n_features..(alpha + 1) * n_features;
            if with_strain {
                let mut share = std::mem::take(&mut self.share);
                self.assemble::<false>(f.channel, &mut share[range]);
                self.share = share;
            } else {
                let mut sample = std::mem::take(&mut self.sample);
                if first {
                    self.assemble::<false>(f.channel, &mut sample[range]);
                } else {
                    self.assemble::<true>(f.channel, &mut sample[range]);
                }
                self.sample = sample;
            }
        }
        if with_strain {
            for alpha in 0..3 {
                let share = &self.share[alpha * n_features..(alpha + 1) * n_features];
                for (beta, &r) in f.vector.iter().enumerate() {
                    let at = (3 * alpha + beta) * n_features;
                    for (o, &x) in self.strain[at..at + n_features].iter_mut().zip(share) {
                        *o += x * r;
                    }
                }
            }
            if to_positions {
                if first {
                    self.sample.copy_from_slice(&self.share);
                } else {
                    for (o, &x) in self.sample.iter_mut().zip(&self.share) {
                        *o += x;
                    }
                }
            }
        }
    }

    /// The shares of atom `t` are complete: write them to its sample and take them from the
    /// centre's (pairs to the centre's own images are not summed at all).
    #[inline(always)]
    fn finish(&mut self, t: usize, center: usize, atoms: &[usize], out: &mut [f64]) {
        if t == center {
            return;
        }
        let width = 3 * self.n_features;
        let slot = atoms
            .binary_search(&t)
            .expect("the samples include every pair's atom");
        for (o, &x) in self.centre.iter_mut().zip(&self.sample) {
            *o -= x;
        }
        stream_copy(&mut out[slot * width..(slot + 1) * width], &self.sample);
    }

    /// The row's coefficients transposed, with `φ_l`: `ct [lm][Q] = φ_l c[Q, lm]`.
    fn transpose(&mut self, c: &[f64]) {
        let rows = self.species * self.n_max;
        let n_lm = self.big_l * self.big_l;
        for l in 0..self.big_l {
            for lm in l * l..(l + 1) * (l + 1) {
                for q in 0..rows {
                    self.ct[lm * rows + q] = self.phi[l] * c[q * n_lm + lm];
                }
            }
        }
    }

    /// `y`, `g` of one pair (`[Q][l]`, with `φ_l`), and its radial factors repeated over `n'`.
    /// The sums over `m` run on `[l][Q]` buffers (vectors along `Q`), then are transposed.
    #[inline(always)]
    fn project(&mut self, f: &PairFactors<'_>) {
        let (n, big_l) = (self.n_max, self.big_l);
        let n_lm = big_l * big_l;
        let rows = self.species * n;
        let block = rows * big_l;
        self.sums.fill(0.0);
        for l in 0..big_l {
            let y = &mut self.sums[l * rows..(l + 1) * rows];
            for lm in l * l..(l + 1) * (l + 1) {
                let ct = &self.ct[lm * rows..(lm + 1) * rows];
                let h = f.harmonics[lm];
                for (o, &x) in y.iter_mut().zip(ct) {
                    *o += h * x;
                }
            }
            for alpha in 0..3 {
                let at = (alpha + 1) * block + l * rows;
                let g = &mut self.sums[at..at + rows];
                for lm in l * l..(l + 1) * (l + 1) {
                    let ct = &self.ct[lm * rows..(lm + 1) * rows];
                    let h = f.gradients[alpha * n_lm + lm];
                    for (o, &x) in g.iter_mut().zip(ct) {
                        *o += h * x;
                    }
                }
            }
        }
        for l in 0..big_l {
            for q in 0..rows {
                self.y[q * big_l + l] = self.sums[l * rows + q];
                for alpha in 0..3 {
                    self.g[alpha * block + q * big_l + l] =
                        self.sums[(alpha + 1) * block + l * rows + q];
                }
            }
        }
        for n1 in 0..n {
            let (a, b) = (&f.a[n1 * big_l..][..big_l], &f.b[n1 * big_l..][..big_l]);
            let span = n1 * n * big_l..(n1 + 1) * n * big_l;
            let a_rep = self.a_rep[span.clone()].chunks_exact_mut(big_l);
            let b_rep = self.b_rep[span].chunks_exact_mut(big_l);
            // element by element: a `copy_from_slice` of `l_max + 1` values is a `memcpy` call
            for (ra, rb) in a_rep.zip(b_rep) {
                for ((ra, rb), (&a, &b)) in ra.iter_mut().zip(rb.iter_mut()).zip(a.iter().zip(b)) {
                    *ra = a;
                    *rb = b;
                }
            }
        }
    }

    /// `K_α [n][Q][l] = a[n, l] û_α y[Q, l] + b[n, l] g_α[Q, l]` of the projected pair.
    #[inline(always)]
    fn shares(&mut self, f: &PairFactors<'_>, alpha: usize) {
        let (n, big_l) = (self.n_max, self.big_l);
        let rows = self.species * n;
        let u = f.unit[alpha];
        for (yu, &y) in self.yu.iter_mut().zip(&self.y) {
            *yu = u * y;
        }
        let g = &self.g[alpha * rows * big_l..(alpha + 1) * rows * big_l];
        let span = n * big_l;
        for n1 in 0..n {
            let a = &self.a_rep[n1 * span..(n1 + 1) * span];
            let b = &self.b_rep[n1 * span..(n1 + 1) * span];
            for species in 0..self.species {
                let at = (n1 * rows + species * n) * big_l;
                let k = &mut self.k[at..at + span];
                let y = &self.yu[species * span..(species + 1) * span];
                let g = &g[species * span..(species + 1) * span];
                for t in 0..span {
                    k[t] = a[t] * y[t] + b[t] * g[t];
                }
            }
        }
    }

    /// The features' share of one direction (from `K`) of a pair of channel `s`, into `out
    /// (n_features)`: written (`ADD = false`, zeros included) or added.
    #[inline(always)]
    fn assemble<const ADD: bool>(&self, s: usize, out: &mut [f64]) {
        #[inline(always)]
        fn put<const ADD: bool>(o: &mut f64, x: f64) {
            if ADD {
                *o += x;
            } else {
                *o = x;
            }
        }
        let (n, big_l) = (self.n_max, self.big_l);
        let rows = self.species * n;
        let k = &self.k;
        let mut o = 0;
        for a in 0..self.species {
            for b in a..self.species {
                let size = if a == b {
                    n * (n + 1) / 2 * big_l
                } else {
                    n * n * big_l
                };
                if a == s && b == s {
                    for n1 in 0..n {
                        for n2 in n1..n {
                            let w = if n1 == n2 { 1.0 } else { SQRT_2 };
                            let x = &k[(n1 * rows + a * n + n2) * big_l..][..big_l];
                            let y = &k[(n2 * rows + a * n + n1) * big_l..][..big_l];
                            for ((o, &x), &y) in out[o..o + big_l].iter_mut().zip(x).zip(y) {
                                put::<ADD>(o, w * (x + y));
                            }
                            o += big_l;
                        }
                    }
                } else if a == s {
                    for n1 in 0..n {
                        let x = &k[(n1 * rows + b * n) * big_l..][..n * big_l];
                        for (o, &x) in out[o..o + n * big_l].iter_mut().zip(x) {
                            put::<ADD>(o, SQRT_2 * x);
                        }
                        o += n * big_l;
                    }
                } else if b == s {
                    for n1 in 0..n {
                        for n2 in 0..n {
                            let x = &k[(n2 * rows + a * n + n1) * big_l..][..big_l];
                            for (o, &x) in out[o..o + big_l].iter_mut().zip(x) {
                                put::<ADD>(o, SQRT_2 * x);
                            }
                            o += big_l;
                        }
                    }
                } else {
                    if !ADD {
                        out[o..o + size].fill(0.0);
                    }
                    o += size;
                }
            }
        }
        debug_assert_eq!(o, out.len());
    }
}
