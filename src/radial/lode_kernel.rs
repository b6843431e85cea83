//! The spherically symmetric potentials `φ` of the LODE pair route (`docs/math.md` §2, §3a, §3c).
//!
//! - [`LodeKernel::PowerLaw`]: `φ = g_p` of width `σ`, `p = 0..=6` (`p = 0`: the Gaussian density),
//!   `φ̂ = ĝ_p` from [`PowerLaw`].
//! - [`LodeKernel::EwaldShortRange`]: `φ = g_p^σ − g_p^η`, `η > σ`, `p = 1..=6`: the short-range part
//!   of the Ewald split. With `a = p/2`, `t_s = r²/2s²` and the regularised upper incomplete gamma
//!   `Q`, `g_p^s(r) = r^{−p}(1 − Q(a, t_s))`, so
//!   $$ φ(r) = r^{−p}\big[Q(a, t_η) − Q(a, t_σ)\big] \sim \frac{t_η^{a−1} e^{−t_η}}{Γ(a)\, r^p}, $$
//!   a Gaussian of width `η` far away.
//!
//! Fourier transform of the short-range kernel. With `C = π^{3/2}/Γ(a)`, `s = (3−p)/2` and
//! `x_w = k²w²/2`, `ĝ_p^w(k) = C (2/k)^{2s} Γ(s, x_w)`, hence
//! $$ \hat φ(k) = C (2/k)^{2s} \int_{x_σ}^{x_η} t^{s−1} e^{−t} dt
//!    = C\, 2^s \sum_{j ≥ 0} \frac{(−1)^j}{j!} \Big(\frac{k^2}{2}\Big)^j E_j, \quad
//!    E_j = \frac{η^{2(s+j)} − σ^{2(s+j)}}{s + j}\ \ (E_j = 2\ln(η/σ) \text{ if } s + j = 0), $$
//! an entire function of `k` (the `1/k²`, `1/k` and `log k` singularities of `ĝ_p` at `k = 0`
//! for `p = 1, 2, 3` cancel between the two widths). Its `k → 0` limit is
//! $$ \hat φ(0) = C\, 2^s E_0 = 4π \int_0^∞ r^2 φ(r)\, dr: \quad
//!    p = 1: 2π(η^2 − σ^2), \quad p = 2: 2^{3/2}π^{3/2}(η − σ), \quad p = 3: 4π \ln(η/σ), $$
//! and `ĝ_p^σ(0) − ĝ_p^η(0)` for `p ≥ 4`. This is the `k = 0` component the reciprocal route drops
//! (§3c). The series is used for `x_η ≤ 2` (terms below `e²`, about 30 of them); beyond, the direct
//! difference `ĝ_p^σ − ĝ_p^η`, whose relative rounding grows like `1/(1 − e^{−(x_η − x_σ)})`, i.e.
//! only when `η → σ`. Verified against radial quadratures of `4π ∫ r² φ j_0(kr) dr` in the tests.

use std::f64::consts::PI;

use crate::bail_param;
use crate::error::Result;
use crate::math::power_law::{PowerLaw, MAX_EXPONENT};
use crate::math::special::{gamma, gamma_q};

/// Largest `x_η = k²η²/2` at which the short-range Fourier kernel uses its power series.
const SERIES_LIMIT: f64 = 2.0;

/// The potential `φ` whose projection on the basis the LODE pair route tabulates.
/// See the module documentation. Construct through [`LodeKernel::power_law`] or
/// [`LodeKernel::ewald_short_range`] (validated), or directly and call [`LodeKernel::validate`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LodeKernel {
    /// `φ = g_p` (smeared `r^{−p}`, or the Gaussian density for `p = 0`), `p = 0..=6`, `σ > 0`.
    PowerLaw {
        /// exponent `p`
        p: u32,
        /// smearing `σ` (Å)
        sigma: f64,
    },
    /// `φ = g_p^σ − g_p^η`, `p = 1..=6`, `0 < σ < η`.
    EwaldShortRange {
        /// exponent `p`
        p: u32,
        /// smearing `σ` of the atoms (Å)
        sigma: f64,
        /// Ewald splitting width `η > σ` (Å)
        eta: f64,
    },
}

impl LodeKernel {
    /// The validated power-law kernel.
    pub fn power_law(p: u32, sigma: f64) -> Result<Self> {
        let kernel = LodeKernel::PowerLaw { p, sigma };
        kernel.validate()?;
        Ok(kernel)
    }

    /// The validated Ewald short-range kernel.
    pub fn ewald_short_range(p: u32, sigma: f64, eta: f64) -> Result<Self> {
        let kernel = LodeKernel::EwaldShortRange { p, sigma, eta };
        kernel.validate()?;
        Ok(kernel)
    }

    /// `InvalidParameter` unless `p ≤ 6` (`1 ≤ p` for the short-range kernel), `σ > 0` finite
    /// and, for the short-range kernel, `η > σ` finite.
    pub fn validate(&self) -> Result<()> {
        match *self {
            LodeKernel::PowerLaw { p, sigma } => {
                PowerLaw::new(p, sigma)?;
            }
            LodeKernel::EwaldShortRange { p, sigma, eta } => {
                if p == 0 || p > MAX_EXPONENT {
                    bail_param!(
                        "the Ewald short-range kernel needs 1 <= p <= {MAX_EXPONENT}, got {p}"
                    );
                }
                PowerLaw::new(p, sigma)?;
                if !(eta.is_finite() && eta > sigma) {
                    bail_param!(
                        "the Ewald splitting width eta must be finite and larger than the \
                         smearing sigma = {sigma}, got {eta}"
                    );
                }
            }
        }
        Ok(())
    }

    /// The exponent `p`.
    pub fn exponent(&self) -> u32 {
        match *self {
            LodeKernel::PowerLaw { p, .. } | LodeKernel::EwaldShortRange { p, .. } => p,
        }
    }

    /// The atomic smearing `σ`.
    pub fn smearing(&self) -> f64 {
        match *self {
            LodeKernel::PowerLaw { sigma, .. } | LodeKernel::EwaldShortRange { sigma, .. } => sigma,
        }
    }

    /// The largest Gaussian width in the kernel (`σ`, or `η` for the short-range kernel).
    pub fn widest(&self) -> f64 {
        match *self {
            LodeKernel::PowerLaw { sigma, .. } => sigma,
            LodeKernel::EwaldShortRange { eta, .. } => eta,
        }
    }

    /// True when `φ` decays like a Gaussian (`p = 0` or the short-range kernel): then `f_nl(d)`
    /// vanishes beyond a finite reach.
    pub fn is_short_ranged(&self) -> bool {
        match *self {
            LodeKernel::PowerLaw { p, .. } => p == 0,
            LodeKernel::EwaldShortRange { .. } => true,
        }
    }

    /// True when `k² φ̂(k)` has a `k^{p−1} log k` term at `k = 0` (power law, `p = 3, 5`); all
    /// other kernels give an entire `k² φ̂` (module docs of [`crate::math::power_law`]).
    pub fn has_log_singularity(&self) -> bool {
        matches!(*self, LodeKernel::PowerLaw { p: 3 | 5, .. })
    }

    /// `φ(r)`, `r ≥ 0`.
    pub fn value(&self, r: f64) -> f64 {
        match *self {
            LodeKernel::PowerLaw { p, sigma } => power_law(p, sigma).value(r),
            LodeKernel::EwaldShortRange { p, sigma, eta } => {
                let t_sigma = 0.5 * r * r / (sigma * sigma);
                if t_sigma < 1.0 {
                    power_law(p, sigma).value(r) - power_law(p, eta).value(r)
                } else {
                    // r^{−p}[Q(a, t_η) − Q(a, t_σ)]: no cancellation of the two r^{−p} tails
                    let a = 0.5 * p as f64;
                    let t_eta = 0.5 * r * r / (eta * eta);
                    (gamma_q(a, t_eta) - gamma_q(a, t_sigma)) * r.powi(-(p as i32))
                }
            }
        }
    }

    /// `φ̂(k) = 4π ∫ r² φ(r) j_0(kr) dr`, `k ≥ 0`; `+inf` at `k = 0` for the power laws
    /// `p = 1, 2, 3`.
    pub fn fourier(&self, k: f64) -> f64 {
        match *self {
            LodeKernel::PowerLaw { p, sigma } => power_law(p, sigma).fourier(k),
            LodeKernel::EwaldShortRange { p, sigma, eta } => {
                if 0.5 * k * k * eta * eta <= SERIES_LIMIT {
                    short_range_series(p, sigma, eta, k)
                } else {
                    power_law(p, sigma).fourier(k) - power_law(p, eta).fourier(k)
                }
            }
        }
    }

    /// `lim_{k→0} φ̂(k) = 4π ∫ r² φ dr` where finite: power law `p = 0` and `p ≥ 4`, and every
    /// short-range kernel (module docs; `2π(η² − σ²)` for `p = 1`). `None` for the power laws
    /// `p = 1, 2, 3`.
    pub fn fourier_at_zero(&self) -> Option<f64> {
        match *self {
            LodeKernel::PowerLaw { p, sigma } => power_law(p, sigma).fourier_at_zero(),
            LodeKernel::EwaldShortRange { p, sigma, eta } => {
                Some(short_range_series(p, sigma, eta, 0.0))
            }
        }
    }
}

/// A [`PowerLaw`] of already validated parameters.
fn power_law(p: u32, sigma: f64) -> PowerLaw {
    PowerLaw::new(p, sigma).expect("validated kernel parameters")
}

/// The power series of the short-range Fourier kernel (module docs), for `k²η²/2 ≲ 2`.
fn short_range_series(p: u32, sigma: f64, eta: f64, k: f64) -> f64 {
    let s = 0.5 * (3.0 - p as f64);
    let prefactor = PI.powf(1.5) / gamma(0.5 * p as f64) * 2.0_f64.powf(s);
    let y = 0.5 * k * k;
    let mut sum = 0.0;
    // (−y)^j / j!
    let mut power = 1.0;
    for j in 0..60 {
        let e = s + j as f64;
        let e_j = if e == 0.0 {
            2.0 * (eta / sigma).ln()
        } else {
            (eta.powf(2.0 * e) - sigma.powf(2.0 * e)) / e
        };
        let term = power * e_j;
        sum += term;
        if j > 2 && term.abs() <= 1e-17 * sum.abs() {
            break;
        }
        power *= -y / (j + 1) as f64;
    }
    prefactor * sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::radial::tests::gauss_legendre;

    /// 4π ∫₀^R r² φ(r) j_0(kr) dr by composite 24-point Gauss–Legendre, panels of width σ/4
    /// (φ is entire in r² and varies on the scale σ near 0, η far away).
    fn fourier_by_quadrature(kernel: &LodeKernel, k: f64, r_max: f64) -> f64 {
        let (nodes, weights) = gauss_legendre(24);
        let width = 0.25 * kernel.smearing();
        let n_panels = (r_max / width).ceil() as usize;
        let mut sum = 0.0;
        for panel in 0..n_panels {
            for (x, w) in nodes.iter().zip(&weights) {
                let r = width * (panel as f64 + 0.5 * (x + 1.0));
                let j0 = if k * r < 1e-8 {
                    1.0
                } else {
                    (k * r).sin() / (k * r)
                };
                sum += 0.5 * width * w * 4.0 * PI * r * r * kernel.value(r) * j0;
            }
        }
        sum
    }

    #[test]
    fn validation() {
        assert!(LodeKernel::power_law(0, 1.0).is_ok());
        assert!(LodeKernel::power_law(7, 1.0).is_err());
        assert!(LodeKernel::power_law(1, -1.0).is_err());
        assert!(LodeKernel::ewald_short_range(0, 1.0, 2.0).is_err());
        assert!(LodeKernel::ewald_short_range(1, 1.0, 1.0).is_err());
        assert!(LodeKernel::ewald_short_range(1, 1.0, f64::INFINITY).is_err());
        assert!(LodeKernel::ewald_short_range(6, 1.0, 1.5).is_ok());
    }

    /// `φ = g^σ − g^η` in both evaluation branches, and the Gaussian decay.
    #[test]
    fn short_range_value() {
        for p in 1..=6 {
            let (sigma, eta) = (0.7, 1.9);
            let kernel = LodeKernel::ewald_short_range(p, sigma, eta).unwrap();
            let (gs, ge) = (power_law(p, sigma), power_law(p, eta));
            for &r in &[0.0, 0.3, 0.98, 0.99, 1.5, 4.0, 8.0] {
                let expected = gs.value(r) - ge.value(r);
                // the direct difference itself loses ~ε r^{−p} to cancellation
                let tolerance = 1e-14 * gs.value(r);
                assert!(
                    (kernel.value(r) - expected).abs() < tolerance,
                    "p={p} r={r}: {} vs {expected}",
                    kernel.value(r)
                );
            }
            // far away the difference is resolved where the direct form is pure rounding
            let far = kernel.value(25.0);
            assert!(far > 0.0 && far < 1e-30, "p={p}: {far}");
        }
    }

    /// k → 0 limit against 4π ∫ r² φ dr (quadrature, relative 1e-12) and the closed forms of
    /// p = 1, 2, 3; power laws p = 0, 4..6 through `PowerLaw`; `None` for p = 1..3.
    #[test]
    fn fourier_at_zero_matches_quadrature() {
        let (sigma, eta) = (0.6, 1.7);
        for p in 1..=6 {
            let kernel = LodeKernel::ewald_short_range(p, sigma, eta).unwrap();
            let limit = kernel.fourier_at_zero().unwrap();
            let numeric = fourier_by_quadrature(&kernel, 0.0, 20.0 * eta);
            assert!(
                ((limit - numeric) / numeric).abs() < 1e-12,
                "p={p}: {limit} vs {numeric}"
            );
            assert_eq!(kernel.fourier(0.0), limit);
        }
        let closed = [
            2.0 * PI * (eta * eta - sigma * sigma),
            2.0_f64.powf(1.5) * PI.powf(1.5) * (eta - sigma),
            4.0 * PI * (eta / sigma).ln(),
        ];
        for (p, expected) in (1..=3).zip(closed) {
            let kernel = LodeKernel::ewald_short_range(p, sigma, eta).unwrap();
            let limit = kernel.fourier_at_zero().unwrap();
            assert!(((limit - expected) / expected).abs() < 1e-14, "p={p}");
        }
        for p in 1..=3 {
            assert!(LodeKernel::power_law(p, sigma)
                .unwrap()
                .fourier_at_zero()
                .is_none());
        }
        for p in [0, 4, 5, 6] {
            let kernel = LodeKernel::power_law(p, sigma).unwrap();
            assert_eq!(
                kernel.fourier_at_zero(),
                power_law(p, sigma).fourier_at_zero()
            );
        }
    }

    /// φ̂(k) of the short-range kernel against the radial quadrature (relative 1e-11 of φ̂(0)),
    /// on both sides of the series/direct switch, and both branches agree at the switch.
    #[test]
    fn short_range_fourier_matches_quadrature() {
        let (sigma, eta) = (0.5, 1.3);
        let k_switch = (2.0 * SERIES_LIMIT).sqrt() / eta;
        for p in 1..=6 {
            let kernel = LodeKernel::ewald_short_range(p, sigma, eta).unwrap();
            let scale = kernel.fourier_at_zero().unwrap();
            for &k in &[1e-6, 0.3, 1.0, k_switch, 2.0, 5.0, 9.0] {
                let numeric = fourier_by_quadrature(&kernel, k, 20.0 * eta);
                let value = kernel.fourier(k);
                assert!(
                    (value - numeric).abs() < 1e-11 * scale,
                    "p={p} k={k}: {value} vs {numeric}"
                );
            }
            // both branches at the switch itself
            let series = short_range_series(p, sigma, eta, k_switch);
            let direct =
                power_law(p, sigma).fourier(k_switch) - power_law(p, eta).fourier(k_switch);
            assert!(((series - direct) / scale).abs() < 1e-14, "p={p}");
        }
        // the series also matches the direct difference where both are accurate
        for p in 1..=6 {
            let kernel = LodeKernel::ewald_short_range(p, sigma, eta).unwrap();
            let k = 0.8;
            let direct = power_law(p, sigma).fourier(k) - power_law(p, eta).fourier(k);
            assert!(
                ((kernel.fourier(k) - direct) / direct).abs() < 1e-13,
                "p={p}: {} vs {direct}",
                kernel.fourier(k)
            );
        }
    }
}
