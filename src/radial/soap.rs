//! The SOAP pair radial integral in closed form (`docs/math.md` §2, §3a).
//!
//! A Gaussian `g(r) = (πσ²)^{−3/4} e^{−r²/2σ²}` centred at distance `d` from the origin, projected on
//! `R̃_n(r) Y_lm(r̂)`, gives `f_nl(d) Y_lm(d̂)` with (expanding `e^{r·d/σ²}` in `i_l Y_lm`)
//! $$ f_{nl}(d) = Σ_{n'} (S^{−1/2})_{nn'}\, 4π (πσ^2)^{−3/4} e^{−d^2/2σ^2}
//!    \int_0^∞ r^2 R_{n'}(r)\, e^{−r^2/2σ^2} i_l(r d/σ^2)\, dr. $$
//! With `a = 1/2σ_n² + 1/2σ²`, `b = d/σ²`, `A = (n+l+3)/2`, `B = l+3/2`, the series of `i_l` gives
//! $$ \int_0^∞ r^{n+2} e^{−a r^2} i_l(b r)\, dr
//!    = \frac{\sqrt{π}\, b^l\, Γ(A)}{2^{l+2} a^A Γ(B)}\, {}_1F_1(A; B; b^2/4a). $$
//! Writing `z = b²/4a = c d²`, `c = σ_n²/(2σ²(σ_n²+σ²))`, and `s_n² = σ_n² + σ²`, the
//! Gaussians combine exactly, `e^{−d²/2σ²} e^{z} = e^{−d²/2s_n²}`, so each raw term is
//! $$ P_{nl}(d) = K_{nl}\, d^l e^{−d^2/2s_n^2}\, \tilde M(A, B, z), \qquad
//!    \tilde M = e^{−z}\, {}_1F_1(A; B; z), $$
//! `K_nl = 4π (πσ²)^{−3/4} N_n √π Γ(A) / (2^{l+2} a^A Γ(B) σ^{2l})`, evaluated with the scaled
//! ₁F₁ (no overflow however large `d/σ`). Gradient, with `dM̃/dz = (A−B)/B · M̃(A, B+1, z)`
//! (from `d/dz[e^{−z}M(a,b,z)] = −(b−a)/b e^{−z}M(a,b+1,z)`, DLMF 13.3.22 with Kummer):
//! $$ P'_{nl}(d) = K_{nl} e^{−d^2/2s_n^2} \Big[ l d^{l−1} \tilde M(A,B,z) +
//!    d^{l+1}\Big(−\frac{\tilde M(A,B,z)}{s_n^2} + 2c \frac{A−B}{B} \tilde M(A,B+1,z)\Big)\Big], $$
//! free of cancellation for large `d`. Finally `f_nl = Σ_n' (S^{−1/2})_{nn'} P_n'l`.
//! At `d = 0` only `l = 0` is non-zero (and only `l = 1` has a non-zero gradient).

use ndarray::{Array2, ArrayViewMut2};

use super::{GtoBasis, RadialIntegral};
use crate::bail_param;
use crate::error::Result;
use crate::math::hyp1f1::hyp1f1_scaled;
use crate::math::spherical_harmonics::MAX_L;

/// Largest `n_max` the stack scratch of the radial integrals holds (the basis refuses
/// `n_max ≥ 17` anyway for conditioning).
pub(crate) const MAX_N_MAX: usize = 32;

/// Constants of one raw term `P_nl` (see the module documentation).
#[derive(Debug, Clone, Copy)]
struct Term {
    ln_prefactor: f64,
    a: f64,
    b: f64,
    /// `z = c d²`
    c: f64,
    /// `1/s_n² = 1/(σ_n² + σ²)`
    inv_s2: f64,
    /// `2c (A−B)/B`
    gradient_factor: f64,
}

/// SOAP pair radial integral `f_nl(d)`, shape `(n_max, l_max + 1)`, in the orthonormal basis:
/// the Gaussian density `g` of width `smearing` centred at distance `d` projected on `R̃_n Y_lm`
/// gives `f_nl(d) Y_lm(d̂)`. Closed form with ₁F₁; see the module documentation.
#[derive(Debug, Clone)]
pub struct SoapRadialIntegral {
    n_max: usize,
    l_max: usize,
    smearing: f64,
    orthonormaliser: Array2<f64>,
    /// `(l_max + 1) × n_max`, index `l * n_max + n`
    terms: Vec<Term>,
}

impl SoapRadialIntegral {
    /// The integral for `basis`, `l ≤ l_max ≤ 20`, Gaussian width `smearing > 0` (Å).
    pub fn new(basis: &GtoBasis, l_max: usize, smearing: f64) -> Result<Self> {
        if l_max > MAX_L {
            bail_param!("l_max must be at most {MAX_L}, got {l_max}");
        }
        if !(smearing.is_finite() && smearing > 0.0) {
            bail_param!("the Gaussian smearing must be positive and finite, got {smearing}");
        }
        let n_max = basis.n_max();
        if n_max > MAX_N_MAX {
            bail_param!("n_max must be at most {MAX_N_MAX}, got {n_max}");
        }
        let sigma2 = smearing * smearing;
        let pi = std::f64::consts::PI;
        let mut terms = Vec::with_capacity((l_max + 1) * n_max);
        for l in 0..=l_max {
            let lf = l as f64;
            for n in 0..n_max {
                let nf = n as f64;
                let sigma_n2 = basis.sigmas()[n] * basis.sigmas()[n];
                let alpha = 0.5 / sigma_n2 + 0.5 / sigma2;
                let a = 0.5 * (nf + lf + 3.0);
                let b = lf + 1.5;
                let c = sigma_n2 / (2.0 * sigma2 * (sigma_n2 + sigma2));
                let ln_prefactor = (4.0 * pi).ln() - 0.75 * (pi * sigma2).ln()
                    + basis.normalisations()[n].ln()
                    + 0.5 * pi.ln()
                    + libm::lgamma(a)
                    - (lf + 2.0) * std::f64::consts::LN_2
                    - a * alpha.ln()
                    - libm::lgamma(b)
                    - lf * sigma2.ln();
                terms.push(Term {
                    ln_prefactor,
                    a,
                    b,
                    c,
                    inv_s2: 1.0 / (sigma_n2 + sigma2),
                    gradient_factor: 2.0 * c * (a - b) / b,
                });
            }
        }
        Ok(SoapRadialIntegral {
            n_max,
            l_max,
            smearing,
            orthonormaliser: basis.orthonormaliser().to_owned(),
            terms,
        })
    }

    /// Gaussian width σ.
    pub fn smearing(&self) -> f64 {
        self.smearing
    }

    /// Raw (non-orthonormalised) term `P_nl(d)` and `P'_nl(d)`, `d ≥ 0`.
    #[inline]
    fn raw_term(&self, n: usize, l: usize, d: f64) -> (f64, f64) {
        let term = &self.terms[l * self.n_max + n];
        if d == 0.0 {
            let k = term.ln_prefactor.exp();
            return match l {
                0 => (k, 0.0),
                1 => (0.0, k),
                _ => (0.0, 0.0),
            };
        }
        let z = term.c * d * d;
        let m = hyp1f1_scaled(term.a, term.b, z);
        let m_up = hyp1f1_scaled(term.a, term.b + 1.0, z);
        let lf = l as f64;
        // K d^l e^{−d²/2s²}
        let scale = (term.ln_prefactor + lf * d.ln() - 0.5 * d * d * term.inv_s2).exp();
        let value = scale * m;
        let gradient = scale * (lf / d * m + d * (-m * term.inv_s2 + term.gradient_factor * m_up));
        (value, gradient)
    }
}

impl RadialIntegral for SoapRadialIntegral {
    fn n_max(&self) -> usize {
        self.n_max
    }

    fn l_max(&self) -> usize {
        self.l_max
    }

    /// `x = d ≥ 0` (Å); NaN everywhere for negative or NaN `d`. Finite for all `d ≥ 0`
    /// (values underflow to zero far beyond the basis).
    fn compute(
        &self,
        d: f64,
        mut values: ArrayViewMut2<f64>,
        mut gradients: Option<ArrayViewMut2<f64>>,
    ) {
        super::check_shapes(&values, &gradients, self.n_max, self.l_max);
        if super::nan_if_invalid(d, 0.0, &mut values, &mut gradients) {
            return;
        }
        super::orthonormalise_into(
            self.orthonormaliser.view(),
            self.l_max,
            |n, l| self.raw_term(n, l, d),
            values,
            gradients,
        );
    }
}
