//! The reciprocal-space part of LODE (lode-math.md §3b): for a fully periodic structure,
//!
//! `c^a_nlm(i) = (4π/V) Σ_{k half, 0<|k|<k_c} ĝ(k) Ĩ_nl(k) Y_lm(k̂) φ_l F^a_l(i, k)`,
//!
//! with `φ_l = (−1)^{l/2}` (even l), `(−1)^{(l+1)/2}` (odd l) and `F` the cos/sin sums of
//! [`crate::kspace::reciprocal_sum`]. `ĝ` is the Fourier transform of the smeared power law
//! (width σ for the plain route, η for the Ewald long range). For `p = 0` and `p ≥ 4`, the
//! finite `k = 0` term `(4π/V) W_a ĝ(0) Y_00 Ĩ_n0(0)` is added to `l = 0` (`W_a = Σ_{j∈a} w_j`);
//! for `p = 1, 2, 3` it is dropped (a uniform neutralising background per channel).

use ndarray::{Array2, Array3, ArrayViewMut2};

use crate::error::Result;
use crate::kspace::{
    k_vectors, reciprocal_sum, shell_sum, KVectors, SeparableBasis, Shells, Sources,
};
use crate::math::power_law::PowerLaw;
use crate::math::spherical_harmonics::SphericalHarmonics;
use crate::radial::RadialIntegral;
use crate::systems::{System, Vec3};

/// Cost of one multiply-add of the shell kernel in units of one of the dense GEMM (it runs at
/// about half the GEMM's rate), and the shell route's other work per (centre, k-vector): the
/// lane phases, the parity sums and the structure factors. Measured on the NaCl gases of
/// `benches/compare.py` (dense 7.8 ms, shells 4.2 ms per structure at accuracy 1e-6, 1 thread).
const SHELL_MULTIPLY_ADD: f64 = 2.0;
const SHELL_PER_K: f64 = 60.0;
/// The dense contraction's other work per (centre, k-vector) in the same units.
const DENSE_PER_K: f64 = 20.0;

/// `φ_l`: the real sign that pairs `i^l` with the cos (even l) or sin (odd l) sums.
fn phase(l: usize) -> f64 {
    // l/2 for even l, (l+1)/2 for odd l
    let half = l.div_ceil(2);
    if half.is_multiple_of(2) {
        1.0
    } else {
        -1.0
    }
}

/// Everything the reciprocal part needs that does not depend on the structure.
pub(super) struct ReciprocalBasis<'a> {
    pub kernel: PowerLaw,
    /// `Ĩ_nl(k)`, valid at least up to the largest k_cutoff used.
    pub radial: &'a dyn RadialIntegral,
    pub harmonics: &'a SphericalHarmonics,
    pub n_max: usize,
    pub l_max: usize,
}

impl ReciprocalBasis<'_> {
    pub(super) fn n_lm(&self) -> usize {
        (self.l_max + 1) * (self.l_max + 1)
    }

    /// Column parity: column `n·n_lm + lm` is odd when its `l` is.
    pub(super) fn odd_columns(&self) -> Vec<bool> {
        let mut odd = Vec::with_capacity(self.n_max * self.n_lm());
        for _ in 0..self.n_max {
            for l in 0..=self.l_max {
                odd.extend(std::iter::repeat_n(l % 2 == 1, 2 * l + 1));
            }
        }
        odd
    }

    /// The two factors of one k-vector's basis row: `radial[[n, l]] = (4π/V) ĝ(|k|) Ĩ_nl(|k|) φ_l`
    /// (`radial` is `(n_max, l_max+1)`) and `ylm[lm] = Y_lm(k̂)`.
    pub(super) fn factors(
        &self,
        volume: f64,
        k: Vec3,
        norm: f64,
        radial: &mut Array2<f64>,
        ylm: &mut [f64],
    ) {
        self.radial_factor(volume, norm, radial.view_mut());
        self.harmonics.compute(k, ylm);
    }

    /// The radial factor alone: `radial[[n, l]] = (4π/V) ĝ(|k|) Ĩ_nl(|k|) φ_l`.
    fn radial_factor(&self, volume: f64, norm: f64, mut radial: ArrayViewMut2<f64>) {
        let g = 4.0 * std::f64::consts::PI / volume * self.kernel.fourier(norm);
        self.radial.compute(norm, radial.view_mut(), None);
        for mut row in radial.outer_iter_mut() {
            for (l, r) in row.iter_mut().enumerate() {
                *r = g * *r * phase(l);
            }
        }
    }

    /// `B[k, n·n_lm + lm] = (4π/V) ĝ(|k|) Ĩ_nl(|k|) φ_l Y_lm(k̂)` for a block of k-vectors.
    fn fill(&self, kv: &KVectors, range: std::ops::Range<usize>, mut b: ArrayViewMut2<f64>) {
        let n_lm = self.n_lm();
        let mut radial = Array2::zeros((self.n_max, self.l_max + 1));
        let mut ylm = vec![0.0; n_lm];
        for (row, k) in range.enumerate() {
            self.factors(
                kv.volume(),
                kv.vectors()[k],
                kv.norms()[k],
                &mut radial,
                &mut ylm,
            );
            let mut out = b.row_mut(row);
            for n in 0..self.n_max {
                for l in 0..=self.l_max {
                    let factor = radial[[n, l]];
                    for lm in l * l..(l + 1) * (l + 1) {
                        out[n * n_lm + lm] = factor * ylm[lm];
                    }
                }
            }
        }
    }

    /// Estimated cost per (centre, k-vector) of the k-space sum with `n_channels` channels and
    /// `degeneracy` k-vectors per shell on average, in units of one multiply-add of the dense
    /// GEMM, and whether the shell route is the cheaper: dense `2 n_channels n_cols + 20`,
    /// shells `2 n_channels (n_lm + n_cols / degeneracy) · 2 + 60`.
    pub(super) fn cost_per_k(&self, n_channels: usize, degeneracy: f64) -> (f64, bool) {
        let channels = n_channels as f64;
        let n_cols = (self.n_max * self.n_lm()) as f64;
        let dense = 2.0 * channels * n_cols + DENSE_PER_K;
        let shells = 2.0
            * channels
            * (self.n_lm() as f64 + n_cols / degeneracy.max(1.0))
            * SHELL_MULTIPLY_ADD
            + SHELL_PER_K;
        (dense.min(shells), shells < dense)
    }

    /// Number of k-vectors of a cell below `k_cutoff` (the count `k_vectors` would produce,
    /// estimated from the volume of the sphere).
    pub fn estimated_k_count(volume: f64, k_cutoff: f64) -> f64 {
        volume * k_cutoff.powi(3) / (12.0 * std::f64::consts::PI.powi(2))
    }

    /// Coefficients `(n_centres, n_channels, n_max·n_lm)` of the reciprocal sum below
    /// `k_cutoff`, centres = all atoms of `system`.
    ///
    /// The basis is separable (`Ĩ_nl(|k|)` times `Y_lm(k̂)`): when the k-vectors fall into shells
    /// of equal norm with enough vectors each on average that it is cheaper
    /// ([`Self::cost_per_k`]; cubic, tetragonal, orthorhombic cells), [`shell_sum`] applies the
    /// radial factor once per shell; otherwise [`reciprocal_sum`] contracts the full basis as
    /// dense products.
    pub fn compute(
        &self,
        system: &System,
        sources: &Sources<'_>,
        k_cutoff: f64,
    ) -> Result<Array3<f64>> {
        let kv = k_vectors(system.cell(), k_cutoff)?;
        let shells = Shells::new(&kv);
        let (_, use_shells) = self.cost_per_k(sources.n_channels(), shells.degeneracy());
        let mut out = if use_shells {
            self.shell_sum(system, sources, &shells)?
        } else {
            let odd = self.odd_columns();
            reciprocal_sum(system.positions(), sources, &kv, &odd, |kv, range, b| {
                self.fill(kv, range, b)
            })?
        };
        self.add_k0_term(&mut out, sources, system.cell().volume());
        Ok(out)
    }

    /// The reciprocal sum grouped by shells of equal `|k|`.
    fn shell_sum(
        &self,
        system: &System,
        sources: &Sources<'_>,
        shells: &Shells,
    ) -> Result<Array3<f64>> {
        let volume = system.cell().volume();
        let mut odd = Vec::with_capacity(self.n_lm());
        let mut group = Vec::with_capacity(self.n_lm());
        for l in 0..=self.l_max {
            odd.extend(std::iter::repeat_n(l % 2 == 1, 2 * l + 1));
            group.extend(std::iter::repeat_n(l, 2 * l + 1));
        }
        let basis = SeparableBasis {
            odd,
            group,
            n_radial: self.n_max,
            n_groups: self.l_max + 1,
            angular: |kv: &KVectors, range: std::ops::Range<usize>, mut a: ArrayViewMut2<f64>| {
                for (mut row, k) in a.outer_iter_mut().zip(range) {
                    let row = row.as_slice_mut().expect("angular rows are contiguous");
                    self.harmonics.compute(kv.vectors()[k], row);
                }
            },
            radial: |norm: f64, r: ArrayViewMut2<f64>| self.radial_factor(volume, norm, r),
        };
        shell_sum(system.positions(), sources, shells, &basis)
    }

    /// For `p = 0` and `p ≥ 4`, the finite `k = 0` term `(4π/V) W_a ĝ(0) Y_00 Ĩ_n0(0)` on
    /// `l = 0` (the same for every centre); nothing for `p = 1, 2, 3`.
    pub(super) fn add_k0_term(&self, out: &mut Array3<f64>, sources: &Sources<'_>, volume: f64) {
        if let Some(g0) = self.kernel.fourier_at_zero() {
            // k = 0 term, l = 0 only (Y_00 Ĩ_n0(0), φ_0 = 1); identical for every centre
            let mut radial = Array2::zeros((self.n_max, self.l_max + 1));
            self.radial.compute(0.0, radial.view_mut(), None);
            let prefactor =
                4.0 * std::f64::consts::PI / volume * g0 * crate::math::spherical_harmonics::Y00;
            let mut totals = vec![0.0; sources.n_channels()];
            for j in 0..sources.len() {
                totals[sources.channels()[j]] += sources.weight(j);
            }
            let n_lm = self.n_lm();
            for mut centre in out.outer_iter_mut() {
                for (a, total) in totals.iter().enumerate() {
                    for n in 0..self.n_max {
                        centre[[a, n * n_lm]] += prefactor * total * radial[[n, 0]];
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::phase;

    /// `i^l (pairing ±k) = φ_l` times 1 (even l, cos) or i (odd l, sin).
    #[test]
    fn phases_match_powers_of_i() {
        let expected = [1.0, -1.0, -1.0, 1.0, 1.0, -1.0, -1.0, 1.0];
        for (l, e) in expected.iter().enumerate() {
            assert_eq!(phase(l), *e, "l = {l}");
        }
    }
}
