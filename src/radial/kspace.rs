//! The reciprocal-space radial integral (`docs/math.md` §3b).
//!
//! $$ I_{nl}(k) = \int_0^∞ r^2 R_n(r) j_l(kr)\, dr
//!    = N_n \sqrt{π}\, 2^{(n−l−1)/2} σ_n^{n+l+3} k^l \frac{Γ(A)}{Γ(B)}\, {}_1F_1(A; B; −k^2σ_n^2/2), $$
//! `A = (n+l+3)/2`, `B = l+3/2`, and `Ĩ_nl = Σ_n' (S^{−1/2})_{nn'} I_n'l`. The gradient uses
//! `d/dz ₁F₁(A;B;z) = (A/B) ₁F₁(A+1;B+1;z)`:
//! $$ I'_{nl}(k) = C_{nl}\big[l k^{l−1} M(A,B,−x) − k^{l+1} σ_n^2 \tfrac{A}{B} M(A+1,B+1,−x)\big],
//!    \quad x = k^2σ_n^2/2, $$
//! both terms of the same sign for large `k` (no cancellation). ₁F₁ at negative argument is
//! evaluated through Kummer's transformation (see [`crate::math::hyp1f1`]).

use ndarray::{Array2, ArrayViewMut2};

use super::soap::MAX_N_MAX;
use super::{GtoBasis, RadialIntegral};
use crate::bail_param;
use crate::error::Result;
use crate::math::hyp1f1::hyp1f1;
use crate::math::spherical_harmonics::MAX_L;

#[derive(Debug, Clone, Copy)]
struct Term {
    ln_prefactor: f64,
    a: f64,
    b: f64,
    sigma2: f64,
}

/// `Ĩ_nl(k)`, shape `(n_max, l_max + 1)`, `x = k ≥ 0` (Å⁻¹); see the module documentation.
#[derive(Debug, Clone)]
pub struct KspaceRadialIntegral {
    n_max: usize,
    l_max: usize,
    orthonormaliser: Array2<f64>,
    /// index `l * n_max + n`
    terms: Vec<Term>,
}

impl KspaceRadialIntegral {
    /// The integral for `basis` and `l ≤ l_max ≤ 20`.
    pub fn new(basis: &GtoBasis, l_max: usize) -> Result<Self> {
        if l_max > MAX_L {
            bail_param!("l_max must be at most {MAX_L}, got {l_max}");
        }
        let n_max = basis.n_max();
        if n_max > MAX_N_MAX {
            bail_param!("n_max must be at most {MAX_N_MAX}, got {n_max}");
        }
        let mut terms = Vec::with_capacity((l_max + 1) * n_max);
        for l in 0..=l_max {
            let lf = l as f64;
            for n in 0..n_max {
                let nf = n as f64;
                let sigma = basis.sigmas()[n];
                let a = 0.5 * (nf + lf + 3.0);
                let b = lf + 1.5;
                let ln_prefactor = basis.normalisations()[n].ln()
                    + 0.5 * std::f64::consts::PI.ln()
                    + 0.5 * (nf - lf - 1.0) * std::f64::consts::LN_2
                    + (nf + lf + 3.0) * sigma.ln()
                    + libm::lgamma(a)
                    - libm::lgamma(b);
                terms.push(Term {
                    ln_prefactor,
                    a,
                    b,
                    sigma2: sigma * sigma,
                });
            }
        }
        Ok(KspaceRadialIntegral {
            n_max,
            l_max,
            orthonormaliser: basis.orthonormaliser().to_owned(),
            terms,
        })
    }

    /// Raw `I_nl(k)` and `I'_nl(k)`, `k ≥ 0`.
    #[inline]
    fn raw_term(&self, n: usize, l: usize, k: f64) -> (f64, f64) {
        let term = &self.terms[l * self.n_max + n];
        if k == 0.0 {
            let c = term.ln_prefactor.exp();
            return match l {
                0 => (c, 0.0),
                1 => (0.0, c),
                _ => (0.0, 0.0),
            };
        }
        let z = -0.5 * k * k * term.sigma2;
        let m = hyp1f1(term.a, term.b, z);
        let m_up = hyp1f1(term.a + 1.0, term.b + 1.0, z);
        let lf = l as f64;
        let scale = (term.ln_prefactor + lf * k.ln()).exp();
        let value = scale * m;
        let gradient = scale * (lf / k * m - k * term.sigma2 * term.a / term.b * m_up);
        (value, gradient)
    }
}

impl RadialIntegral for KspaceRadialIntegral {
    fn n_max(&self) -> usize {
        self.n_max
    }

    fn l_max(&self) -> usize {
        self.l_max
    }

    /// `x = k ≥ 0`; NaN everywhere for negative or NaN `k`.
    fn compute(
        &self,
        k: f64,
        mut values: ArrayViewMut2<f64>,
        mut gradients: Option<ArrayViewMut2<f64>>,
    ) {
        super::check_shapes(&values, &gradients, self.n_max, self.l_max);
        if super::nan_if_invalid(k, 0.0, &mut values, &mut gradients) {
            return;
        }
        super::orthonormalise_into(
            self.orthonormaliser.view(),
            self.l_max,
            |n, l| self.raw_term(n, l, k),
            values,
            gradients,
        );
    }
}
