//! LODE's k-space basis in the one shape the three k-space engines consume
//! ([`crate::kspace::SeparableBasis`]): for a cell of volume `V` and the kernel `ĝ` (width σ
//! for the plain reciprocal route, η for the Ewald and mesh long range),
//!
//! `B[k, n · n_lm + lm] = R[n, l](|k|) · A_lm(k)`, `R[n, l] = (4π/V) ĝ(|k|) Ĩ_nl(|k|) φ_l`,
//! `A_lm = Y_lm(k̂)`,
//!
//! with `φ_l = (−1)^{l/2}` (even l), `(−1)^{(l+1)/2}` (odd l) the real sign that pairs `i^l`
//! with the cosine (even l) or sine (odd l) sums (`docs/math.md` §3b, §8.2), and the derivatives
//! `dR/d|k|` and `∇_k A` the gradients of all three engines use (`docs/math.md` §13).

use ndarray::{Array2, ArrayViewMut2};

use crate::kspace::SeparableBasis;
use crate::math::power_law::PowerLaw;
use crate::math::spherical_harmonics::SphericalHarmonics;
use crate::radial::RadialIntegral;
use crate::systems::Vec3;

/// `φ_l`: the real sign that pairs `i^l` with the cos (even l) or sin (odd l) sums.
pub(super) fn phase(l: usize) -> f64 {
    // l/2 for even l, (l+1)/2 for odd l
    let half = l.div_ceil(2);
    if half.is_multiple_of(2) {
        1.0
    } else {
        -1.0
    }
}

/// The basis of one cell (module docs).
pub(super) struct LodeBasis<'a> {
    kernel: PowerLaw,
    radial: &'a dyn RadialIntegral,
    harmonics: &'a SphericalHarmonics,
    volume: f64,
    n_max: usize,
    /// Parity and radial group `l` of each angular column `lm`.
    odd: Vec<bool>,
    group: Vec<usize>,
}

impl<'a> LodeBasis<'a> {
    /// The basis for kernel `kernel`, radial integrals `radial` (`Ĩ_nl`, valid up to the largest
    /// `|k|` asked for), harmonics up to `radial.l_max()`, in a cell of volume `volume`.
    pub fn new(
        kernel: PowerLaw,
        radial: &'a dyn RadialIntegral,
        harmonics: &'a SphericalHarmonics,
        volume: f64,
    ) -> LodeBasis<'a> {
        let l_max = radial.l_max();
        let mut odd = Vec::with_capacity((l_max + 1) * (l_max + 1));
        let mut group = Vec::with_capacity((l_max + 1) * (l_max + 1));
        for l in 0..=l_max {
            odd.extend(std::iter::repeat_n(l % 2 == 1, 2 * l + 1));
            group.extend(std::iter::repeat_n(l, 2 * l + 1));
        }
        LodeBasis {
            kernel,
            radial,
            harmonics,
            volume,
            n_max: radial.n_max(),
            odd,
            group,
        }
    }
}

impl SeparableBasis for LodeBasis<'_> {
    fn n_radial(&self) -> usize {
        self.n_max
    }

    fn n_groups(&self) -> usize {
        self.radial.l_max() + 1
    }

    fn odd(&self) -> &[bool] {
        &self.odd
    }

    fn group(&self) -> &[usize] {
        &self.group
    }

    /// `R[n, l] = (4π/V) ĝ(|k|) Ĩ_nl(|k|) φ_l`.
    fn radial(&self, norm: f64, mut out: ArrayViewMut2<'_, f64>) {
        let g = 4.0 * std::f64::consts::PI / self.volume * self.kernel.fourier(norm);
        self.radial.compute(norm, out.view_mut(), None);
        for mut row in out.outer_iter_mut() {
            for (l, r) in row.iter_mut().enumerate() {
                *r = g * *r * phase(l);
            }
        }
    }

    /// `A_lm = Y_lm(k̂)`.
    fn angular(&self, k: Vec3, out: &mut [f64]) {
        self.harmonics.compute(k, out);
    }

    /// `dR[n, l]/d|k| = (4π/V) φ_l (ĝ'(|k|) Ĩ_nl(|k|) + ĝ(|k|) Ĩ'_nl(|k|))`.
    fn radial_derivative(&self, norm: f64, mut out: ArrayViewMut2<'_, f64>) {
        let prefactor = 4.0 * std::f64::consts::PI / self.volume;
        let (g, dg) = (
            self.kernel.fourier(norm),
            self.kernel.fourier_derivative(norm),
        );
        let mut values = Array2::zeros(out.raw_dim());
        self.radial
            .compute(norm, values.view_mut(), Some(out.view_mut()));
        for (mut row, values) in out.outer_iter_mut().zip(values.outer_iter()) {
            for (l, (d, v)) in row.iter_mut().zip(values).enumerate() {
                *d = prefactor * phase(l) * (dg * v + g * *d);
            }
        }
    }

    /// `Y_lm(k̂)` and its Cartesian gradient in `k` (tangent to the sphere, `∝ 1/|k|`).
    fn angular_with_gradient(&self, k: Vec3, values: &mut [f64], gradients: &mut [Vec3]) {
        self.harmonics.compute_with_gradients(k, values, gradients);
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
