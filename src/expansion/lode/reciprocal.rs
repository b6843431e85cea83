//! The reciprocal-space part of LODE (`docs/math.md` §3b): for a fully periodic structure,
//!
//! `c^a_nlm(i) = (4π/V) Σ_{k half, 0<|k|<k_c} ĝ(k) Ĩ_nl(k) Y_lm(k̂) φ_l F^a_l(i, k)`,
//!
//! with `φ_l = (−1)^{l/2}` (even l), `(−1)^{(l+1)/2}` (odd l) and `F` the cos/sin sums of
//! [`crate::kspace::reciprocal_sum`]. `ĝ` is the Fourier transform of the smeared power law
//! (width σ for the plain route, η for the Ewald long range). For `p = 0` and `p ≥ 4`, the
//! finite `k = 0` term `(4π/V) W_a ĝ(0) Y_00 Ĩ_n0(0)` is added to `l = 0` (`W_a = Σ_{j∈a} w_j`);
//! for `p = 1, 2, 3` it is dropped (a uniform neutralising background per channel).

use ndarray::{Array2, Array3};

use super::kbasis::LodeBasis;
use crate::cost::{DENSE_PER_K, SHELL_MULTIPLY_ADD, SHELL_PER_K};
use crate::error::Result;
use crate::kspace::{dense_sum, k_vectors, shell_sum, Shells, Sources};
use crate::math::power_law::PowerLaw;
use crate::math::spherical_harmonics::SphericalHarmonics;
use crate::radial::RadialIntegral;
use crate::systems::System;

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

    /// The basis of a cell of volume `volume` in the engines' shape.
    pub(super) fn separable(&self, volume: f64) -> LodeBasis<'_> {
        LodeBasis::new(self.kernel, self.radial, self.harmonics, volume)
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
        let basis = self.separable(system.cell().volume());
        let mut out = if use_shells {
            shell_sum(system.positions(), sources, &shells, &basis)?
        } else {
            dense_sum(system.positions(), sources, &kv, &basis)?
        };
        self.add_k0_term(&mut out, sources, system.cell().volume());
        Ok(out)
    }

    /// For `p = 0` and `p ≥ 4`, the finite `k = 0` term `(4π/V) W_a ĝ(0) Y_00 Ĩ_n0(0)` on
    /// `l = 0` (the same for every centre); nothing for `p = 1, 2, 3`.
    pub(super) fn add_k0_term(&self, out: &mut Array3<f64>, sources: &Sources<'_>, volume: f64) {
        if let Some(g0) = self.kernel.fourier_at_zero() {
            // k = 0 term, l = 0 only (Y_00 Ĩ_n0(0), φ_0 = 1); identical for every centre
            let mut radial = Array2::zeros((self.n_max, self.l_max + 1));
            self.radial.compute(0.0, radial.view_mut(), None);
            let y00 = 0.5 / std::f64::consts::PI.sqrt();
            let prefactor = 4.0 * std::f64::consts::PI / volume * g0 * y00;
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
