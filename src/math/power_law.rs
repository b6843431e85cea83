//! Smeared power-law potentials `g_p(r)` and their Fourier transforms `ĝ_p(k)` (LODE,
//! `docs/math.md` §2).
//!
//! For an exponent `p ≥ 1` and smearing `σ`, with `a = p/2` and `t = r²/2σ²`,
//!
//! ```text
//! g_p(r) = γ(a, t) / (Γ(a) rᵖ) = (2σ²)^{−a} γ*(a, t),     γ*(a, t) = t^{−a} P(a, t)
//! dg_p/dr = −a (r/σ²) (2σ²)^{−a} γ*(a + 1, t)
//! ```
//!
//! `γ*` (Tricomi's function, [`gamma_p_scaled`]) is entire in `t` and evaluated by its positive
//! series near 0, so `g_p` is smooth and finite at `r = 0` with `g_p(0) = (2σ²)^{−a}/Γ(a + 1)`,
//! and `g_p(r) → r⁻ᵖ` far away. The derivative formula follows from
//! `dγ*(a, t)/dt = −a γ*(a + 1, t)` (differentiate `γ*(a, t) = Γ(a)⁻¹ ∫₀¹ u^{a−1} e^{−tu} du`).
//! `p = 1` gives `erf(r/√2σ)/r`. For `p = 0`, `g_0` is the normalised Gaussian density
//! `(πσ²)^{−3/4} e^{−t}`, `dg_0/dr = −(r/σ²) g_0`.
//!
//! Fourier transforms `ĝ_p(k) = ∫ d³r e^{−ik·r} g_p(r) = 4π ∫ r² g_p(r) sin(kr)/(kr) dr`, with
//! `x = k²σ²/2`:
//!
//! ```text
//! p = 0:  ĝ_0 = (4πσ²)^{3/4} e^{−x}
//! p = 1:  ĝ_1 = 4π e^{−x} / k²
//! p ≥ 2:  ĝ_p = π^{3/2} (2σ²)^{(3−p)/2} / Γ(p/2) · Γ((3−p)/2, x) / x^{(3−p)/2}
//! ```
//!
//! (the last also holds for `p = 1`). Special cases: `p = 2` → prefactor `· √(π/x) erfc √x`,
//! `p = 3` → `2π E1(x)`, `p = 6` → prefactor `· ((2 − 4x) e^{−x} + 4√π x^{3/2} erfc √x)/3`.
//!
//! At `k = 0`, `ĝ_p` is finite for `p = 0` (`(4πσ²)^{3/4}`) and for `p ≥ 4`, where
//! `Γ(s, x)/x^s → −1/s` (`s = (3−p)/2 < 0`), so `ĝ_p(0) = π^{3/2} (2σ²)^{(3−p)/2}/Γ(p/2) · 2/(p−3)`;
//! this equals `4π ∫ r² g_p(r) dr`. It is infinite for `p = 1, 2, 3` (the `r⁻ᵖ` tail is not
//! integrable): see [`PowerLaw::fourier_at_zero`].

use std::f64::consts::PI;

use crate::error::Result;
use crate::math::special::{gamma, gamma_p_scaled, upper_gamma_scaled};

/// Largest supported exponent `p`.
pub const MAX_EXPONENT: u32 = 6;

/// The smeared power law `g_p` of a given exponent and smearing, with prefactors precomputed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerLaw {
    p: u32,
    sigma: f64,
    /// `(2σ²)^{−p/2}` (`p ≥ 1`) or `(πσ²)^{−3/4}` (`p = 0`).
    real_prefactor: f64,
    /// `π^{3/2}(2σ²)^{(3−p)/2}/Γ(p/2)` (`p ≥ 1`) or `(4πσ²)^{3/4}` (`p = 0`).
    fourier_prefactor: f64,
}

impl PowerLaw {
    /// `p ∈ {0, …, 6}`, `σ > 0` (finite), else `InvalidParameter`.
    pub fn new(p: u32, sigma: f64) -> Result<Self> {
        if p > MAX_EXPONENT {
            crate::bail_param!("power law: exponent p = {p} is above the maximum {MAX_EXPONENT}");
        }
        if !(sigma > 0.0 && sigma.is_finite()) {
            crate::bail_param!("power law: smearing must be positive and finite, got {sigma}");
        }
        let two_s2 = 2.0 * sigma * sigma;
        let (real_prefactor, fourier_prefactor) = if p == 0 {
            (
                (PI * sigma * sigma).powf(-0.75),
                (4.0 * PI * sigma * sigma).powf(0.75),
            )
        } else {
            let a = 0.5 * p as f64;
            (
                two_s2.powf(-a),
                PI.powf(1.5) * two_s2.powf(1.5 - a) / gamma(a),
            )
        };
        Ok(PowerLaw {
            p,
            sigma,
            real_prefactor,
            fourier_prefactor,
        })
    }

    /// The exponent `p`.
    pub fn exponent(&self) -> u32 {
        self.p
    }

    /// The smearing `σ`.
    pub fn smearing(&self) -> f64 {
        self.sigma
    }

    /// `g_p(r)` for `r ≥ 0` (see the module docs).
    pub fn value(&self, r: f64) -> f64 {
        let t = r * r / (2.0 * self.sigma * self.sigma);
        if self.p == 0 {
            return self.real_prefactor * (-t).exp();
        }
        self.real_prefactor * gamma_p_scaled(0.5 * self.p as f64, t)
    }

    /// `dg_p/dr` for `r ≥ 0` (zero at `r = 0`).
    pub fn derivative(&self, r: f64) -> f64 {
        let s2 = self.sigma * self.sigma;
        let t = r * r / (2.0 * s2);
        if self.p == 0 {
            return -r / s2 * self.real_prefactor * (-t).exp();
        }
        let a = 0.5 * self.p as f64;
        -a * r / s2 * self.real_prefactor * gamma_p_scaled(a + 1.0, t)
    }

    /// `ĝ_p(k)` for `k ≥ 0`; `+inf` at `k = 0` for `p = 1, 2, 3`.
    pub fn fourier(&self, k: f64) -> f64 {
        let x = 0.5 * k * k * self.sigma * self.sigma;
        match self.p {
            0 => self.fourier_prefactor * (-x).exp(),
            1 => {
                if k == 0.0 {
                    f64::INFINITY
                } else {
                    4.0 * PI * (-x).exp() / (k * k)
                }
            }
            p => self.fourier_prefactor * upper_gamma_scaled(0.5 * (3.0 - p as f64), x),
        }
    }

    /// `dĝ_p/dk` for `k > 0` (with `x = k²σ²/2`, `s = (3 − p)/2`, `P` the prefactor of ĝ_p):
    /// `−kσ² ĝ_0` for `p = 0`; `−(2/k) (P e^{−x} + s ĝ_p)` for `p ≥ 1`, from
    /// `d/dx [Γ(s, x) x^{−s}] = −e^{−x}/x − s Γ(s, x) x^{−s}/x` (for `p = 1` it is
    /// `−(kσ² + 2/k) ĝ_1`). Zero at `k = 0` for `p = 0` and `p ≥ 4`; `−inf` for `p = 1, 2, 3`.
    pub fn fourier_derivative(&self, k: f64) -> f64 {
        let s2 = self.sigma * self.sigma;
        if self.p == 0 {
            return -k * s2 * self.fourier(k);
        }
        if k == 0.0 {
            return if self.p <= 3 { f64::NEG_INFINITY } else { 0.0 };
        }
        let x = 0.5 * k * k * s2;
        if self.p == 1 {
            return -(k * s2 + 2.0 / k) * self.fourier(k);
        }
        let s = 0.5 * (3.0 - self.p as f64);
        -(2.0 / k) * (self.fourier_prefactor * (-x).exp() + s * self.fourier(k))
    }

    /// `lim_{k→0} ĝ_p(k) = 4π ∫ r² g_p(r) dr` where finite: `(4πσ²)^{3/4}` for `p = 0`,
    /// `π^{3/2}(2σ²)^{(3−p)/2}/Γ(p/2) · 2/(p − 3)` for `p ≥ 4`; `None` for `p = 1, 2, 3`.
    pub fn fourier_at_zero(&self) -> Option<f64> {
        match self.p {
            0 => Some(self.fourier_prefactor),
            1..=3 => None,
            p => Some(self.fourier_prefactor * 2.0 / (p as f64 - 3.0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::special::{erf, erfc, exp1, SQRT_PI};

    fn rel(a: f64, b: f64) -> f64 {
        ((a - b) / b).abs()
    }

    #[test]
    fn validation() {
        assert!(PowerLaw::new(7, 1.0).is_err());
        assert!(PowerLaw::new(1, 0.0).is_err());
        assert!(PowerLaw::new(1, f64::NAN).is_err());
    }

    #[test]
    fn real_space_special_cases() {
        let sigma = 0.7;
        let g1 = PowerLaw::new(1, sigma).unwrap();
        let g2 = PowerLaw::new(2, sigma).unwrap();
        for &r in &[0.0, 1e-6, 0.1, 0.5, 1.0, 2.0, 5.0, 30.0] {
            let t: f64 = r * r / (2.0 * sigma * sigma);
            let e1 = if r == 0.0 {
                (2.0 / PI).sqrt() / sigma
            } else {
                erf(r / (2.0_f64.sqrt() * sigma)) / r
            };
            assert!(rel(g1.value(r), e1) < 1e-14, "r = {r}");
            // γ(1, t) = 1 − e^{−t}
            let e2 = if r == 0.0 {
                1.0 / (2.0 * sigma * sigma)
            } else {
                -(-t).exp_m1() / (r * r)
            };
            assert!(rel(g2.value(r), e2) < 1e-14, "r = {r}");
        }
        // far away: r^{-p}
        for p in 1..=6 {
            let g = PowerLaw::new(p, 0.3).unwrap();
            assert!(rel(g.value(40.0), 40.0f64.powi(-(p as i32))) < 1e-14);
            assert!(
                rel(
                    g.derivative(40.0),
                    -(p as f64) * 40.0f64.powi(-(p as i32) - 1)
                ) < 1e-13
            );
        }
    }

    #[test]
    fn derivative_matches_finite_differences() {
        for p in 0..=6 {
            let g = PowerLaw::new(p, 0.8).unwrap();
            assert_eq!(g.derivative(0.0), 0.0);
            for &r in &[1e-3, 0.2, 0.9, 1.7, 4.0] {
                let h = 1e-5;
                let fd = (g.value(r + h) - g.value(r - h)) / (2.0 * h);
                assert!(
                    (fd - g.derivative(r)).abs() < 1e-9 * (1.0 + fd.abs()),
                    "p = {p}, r = {r}"
                );
            }
        }
    }

    /// `dĝ_p/dk` against central differences (step 1e-5 k, relative 1e-7: the truncation error
    /// is ~1e-10, a sign or factor error is of order 1).
    #[test]
    fn fourier_derivative_matches_finite_differences() {
        for p in 0..=6 {
            let g = PowerLaw::new(p, 0.8).unwrap();
            for &k in &[0.05, 0.4, 1.1, 2.7, 5.0, 9.0] {
                let h = 1e-5 * k;
                let fd = (g.fourier(k + h) - g.fourier(k - h)) / (2.0 * h);
                let d = g.fourier_derivative(k);
                assert!(
                    (fd - d).abs() < 1e-7 * fd.abs().max(1e-12 * g.fourier(k).abs()),
                    "p = {p}, k = {k}: {d} vs {fd}"
                );
            }
        }
        assert_eq!(PowerLaw::new(5, 1.0).unwrap().fourier_derivative(0.0), 0.0);
    }

    #[test]
    fn fourier_special_cases() {
        let sigma = 0.9;
        for &k in &[1e-4, 0.3, 1.0, 2.5, 6.0, 15.0] {
            let x: f64 = 0.5 * k * k * sigma * sigma;
            let pre = |p: u32| {
                PI.powf(1.5) * (2.0 * sigma * sigma).powf(1.5 - 0.5 * p as f64)
                    / gamma(0.5 * p as f64)
            };
            let g2 = PowerLaw::new(2, sigma).unwrap().fourier(k);
            assert!(
                rel(g2, pre(2) * (PI / x).sqrt() * erfc(x.sqrt())) < 1e-13,
                "k = {k}"
            );
            let g3 = PowerLaw::new(3, sigma).unwrap().fourier(k);
            assert!(rel(g3, 2.0 * PI * exp1(x)) < 1e-13, "k = {k}");
            let g6 = PowerLaw::new(6, sigma).unwrap().fourier(k);
            let e6 =
                ((2.0 - 4.0 * x) * (-x).exp() + 4.0 * SQRT_PI * x.powf(1.5) * erfc(x.sqrt())) / 3.0;
            // the closed form cancels for large x; compare in absolute terms there
            assert!((g6 - pre(6) * e6).abs() < 1e-13 * pre(6), "k = {k}");
            let g1 = PowerLaw::new(1, sigma).unwrap().fourier(k);
            let via_general = pre(1) * upper_gamma_scaled(1.0, x);
            assert!(rel(g1, via_general) < 1e-14, "k = {k}");
        }
        for p in [0, 4, 5, 6] {
            let g = PowerLaw::new(p, 1.1).unwrap();
            let zero = g.fourier_at_zero().unwrap();
            assert!(rel(g.fourier(0.0), zero) < 1e-15);
            assert!(rel(g.fourier(1e-7), zero) < 1e-6);
        }
        for p in 1..=3 {
            assert!(PowerLaw::new(p, 1.0).unwrap().fourier_at_zero().is_none());
            assert!(PowerLaw::new(p, 1.0).unwrap().fourier(0.0).is_infinite());
        }
    }

    /// ĝ_p(k) = 4π ∫ r² g_p(r) sin(kr)/(kr) dr for p ≥ 4 (absolutely convergent) and p = 0,
    /// by composite Gauss–Legendre on [0, R] plus the analytic tail of r^{-p} beyond R.
    #[test]
    fn fourier_matches_radial_quadrature() {
        let sigma = 0.6;
        for p in [0u32, 4, 5, 6] {
            let g = PowerLaw::new(p, sigma).unwrap();
            for &k in &[0.0, 0.7, 2.0, 5.0] {
                let big_r = 60.0;
                let integrand = |r: f64| {
                    let j0 = if k * r < 1e-8 {
                        1.0
                    } else {
                        (k * r).sin() / (k * r)
                    };
                    4.0 * PI * r * r * g.value(r) * j0
                };
                let (nodes, weights) = crate::math::quadrature::gauss_legendre(20);
                let n_int = 6000;
                let h = big_r / n_int as f64;
                let mut total = 0.0;
                for i in 0..n_int {
                    let a = i as f64 * h;
                    for (x, w) in nodes.iter().zip(&weights) {
                        total += 0.5 * h * w * integrand(a + 0.5 * h * (x + 1.0));
                    }
                }
                // tail beyond R, where g_p = r^{-p} up to e^{-R²/2σ²}: (4π/k) ∫_R^∞ f(r) sin(kr) dr
                // with f = r^{1−p}, by repeated integration by parts
                // I[f] = f(R) cos(kR)/k − f'(R) sin(kR)/k² − I[f'']/k² (three levels)
                let tail = if p == 0 {
                    0.0
                } else if k == 0.0 {
                    4.0 * PI * big_r.powf(3.0 - p as f64) / (p as f64 - 3.0)
                } else {
                    // d^j/dr^j r^{e} at R
                    let deriv = |j: i32| -> f64 {
                        let e = 1.0 - p as f64;
                        let c: f64 = (0..j).map(|i| e - i as f64).product();
                        c * big_r.powf(e - j as f64)
                    };
                    let (c, s) = ((k * big_r).cos(), (k * big_r).sin());
                    let mut sum = 0.0;
                    let mut factor = 1.0;
                    for level in 0..3 {
                        sum += factor
                            * (deriv(2 * level) * c / k - deriv(2 * level + 1) * s / (k * k));
                        factor *= -1.0 / (k * k);
                    }
                    4.0 * PI / k * sum
                };
                let expected = g.fourier(k);
                let scale = g.fourier(0.0);
                assert!(
                    (total + tail - expected).abs() < 1e-9 * scale,
                    "p = {p}, k = {k}: {} vs {expected}",
                    total + tail
                );
            }
        }
    }
}
