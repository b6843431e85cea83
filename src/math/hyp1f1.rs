//! Kummer's confluent hypergeometric function ₁F₁(a; b; z) = M(a, b, z), for real `a`, `b > 0`
//! and real `z`, with a scaled form that never overflows.
//!
//! $$ M(a, b, z) = \sum_{k \ge 0} \frac{(a)_k}{(b)_k} \frac{z^k}{k!} $$
//!
//! Method (formulas from DLMF §13.2, §13.7):
//! - `z < 0`: Kummer's transformation `M(a, b, z) = e^z M(b − a, b, −z)` (DLMF 13.2.39), so only
//!   `x = |z| ≥ 0` is ever summed and no series with alternating signs of growing size is used
//!   (the only sign changes are the first `⌈−a⌉` terms when `a < 0`).
//! - `a` a non-positive integer: the series terminates (a polynomial), summed exactly.
//! - large `x`: the asymptotic expansion (DLMF 13.7.2)
//!   `M(a, b, x) ≈ Γ(b)/Γ(a) eˣ x^{a−b} Σ_s (b−a)_s (1−a)_s / (s! xˢ)`,
//!   used when the other, exponentially small branch `Γ(b)/Γ(b−a) x^{−a}` is below `ε/4`
//!   relative to this one and the series reaches a term below `ε/2` relative before its terms
//!   start growing. For the half-integer parameters of GTO integrals it often terminates
//!   (`1 − a` or `b − a` a non-positive integer), and then it is exact up to the neglected branch.
//! - otherwise: the power series, summed until the rigorous tail bound
//!   `t_{k+1} ρ / (1 − ρ) < ε |S| / 4`, `ρ` a bound on later term ratios, with rescaling by
//!   `e^{−460}` whenever the partial sum exceeds `1e200`, so `x` of any size is handled.
//!
//! The result is carried as `mantissa · e^{exponent}`, which gives the scaled form
//! [`hyp1f1_scaled`] `= e^{−max(z, 0)} M(a, b, z)` without overflow: for `z ≥ 0` it is of size
//! `Γ(b)/Γ(a) z^{a−b}` however large `z`, the form needed when ₁F₁ multiplies a Gaussian.
//!
//! Accuracy (tests/test_radial.py against 40-digit mpmath; `a = (n+l+3)/2`, `b = l+3/2`,
//! `n, l ≤ 20`, `|z|` from 1e-3 to 1e4): for `z ≥ 0` (all terms positive) below `1e-14`
//! relative (measured max 8e-15). For `z < 0` with `a > b` the function oscillates and the
//! Kummer sum cancels: the error is below `2e-14` (measured 1.4e-15) of the absolute sum
//! `e^{−x} M(|b−a|, b, x)`, so relative accuracy is lost near the zeros of ₁F₁ (e.g. 1e-8
//! relative for `M(21.5; 1.5; −10) ≈ 1.3e-5`), not in absolute terms.

/// Relative precision target.
const EPS: f64 = f64::EPSILON;
/// Rescaling threshold and factor for the power series.
const RESCALE_ABOVE: f64 = 1e200;
const RESCALE_LOG: f64 = 460.517_018_598_809_1; // ln(1e200)
/// Iteration caps (never reached for the parameter ranges of this crate).
const MAX_SERIES_TERMS: usize = 1_000_000;
const MAX_ASYMPTOTIC_TERMS: usize = 500;

/// `M(a, b, z) = ₁F₁(a; b; z)` for real `a`, `b > 0` and real `z` (NaN if `b ≤ 0` or an input is
/// NaN). Overflows to `±∞` for large positive `z` (use [`hyp1f1_scaled`] there).
pub fn hyp1f1(a: f64, b: f64, z: f64) -> f64 {
    let (mantissa, exponent) = if z >= 0.0 {
        kummer_m(a, b, z)
    } else {
        let (m, e) = kummer_m(b - a, b, -z);
        (m, e + z)
    };
    if exponent == 0.0 {
        mantissa
    } else {
        mantissa * exponent.exp()
    }
}

/// The scaled function `e^{−max(z, 0)} M(a, b, z)`: for `z ≥ 0` this is `e^{−z} M(a, b, z)`
/// (bounded by a power of `z`), for `z < 0` it is `M(a, b, z)` itself.
/// Same domain as [`hyp1f1`]; never overflows for the parameters of this crate.
pub fn hyp1f1_scaled(a: f64, b: f64, z: f64) -> f64 {
    let (mantissa, exponent) = if z >= 0.0 {
        let (m, e) = kummer_m(a, b, z);
        (m, e - z)
    } else {
        let (m, e) = kummer_m(b - a, b, -z);
        (m, e + z)
    };
    if exponent == 0.0 {
        mantissa
    } else {
        mantissa * exponent.exp()
    }
}

/// `M(a, b, x) = mantissa · e^{exponent}` for `x ≥ 0`.
fn kummer_m(a: f64, b: f64, x: f64) -> (f64, f64) {
    if b.is_nan() || b <= 0.0 || a.is_nan() || x.is_nan() {
        return (f64::NAN, 0.0);
    }
    if x == 0.0 || a == 0.0 {
        return (1.0, 0.0);
    }
    if a < 0.0 && a == a.floor() {
        return (polynomial(a, b, x), 0.0);
    }
    if x > 10.0 {
        if let Some(value) = asymptotic(a, b, x) {
            return (value, x);
        }
    }
    series(a, b, x)
}

/// Terminating series for `a = −m`, `m` a positive integer.
fn polynomial(a: f64, b: f64, x: f64) -> f64 {
    let m = (-a) as usize;
    let mut term = 1.0;
    let mut sum = 1.0;
    for k in 0..m {
        let k = k as f64;
        term *= (a + k) / (b + k) * x / (k + 1.0);
        sum += term;
    }
    sum
}

/// Power series with a rigorous stopping rule and overflow rescaling (`x ≥ 0`, `a` not a
/// non-positive integer, `b > 0`).
fn series(a: f64, b: f64, x: f64) -> (f64, f64) {
    let mut term = 1.0_f64;
    // Neumaier-compensated sum: the first terms alternate in sign when a < 0
    let mut sum = 1.0_f64;
    let mut compensation = 0.0_f64;
    let mut exponent = 0.0;
    // after `k > −a` all the terms have the same sign
    let sign_stable_from = if a < 0.0 { (-a).ceil() as usize } else { 0 };
    for k in 0..MAX_SERIES_TERMS {
        let kf = k as f64;
        term *= (a + kf) / (b + kf) * x / (kf + 1.0);
        let updated = sum + term;
        compensation += if sum.abs() >= term.abs() {
            (sum - updated) + term
        } else {
            (term - updated) + sum
        };
        sum = updated;
        if sum.abs() > RESCALE_ABOVE {
            sum /= RESCALE_ABOVE;
            term /= RESCALE_ABOVE;
            compensation /= RESCALE_ABOVE;
            exponent += RESCALE_LOG;
        }
        if k + 1 >= sign_stable_from {
            // ratio of later terms: |(a+j)/(b+j)| · x/(j+1) for j ≥ k+1, bounded by `rho`
            let j = kf + 1.0;
            let growth = ((a + j) / (b + j)).abs().max(1.0);
            let rho = growth * x / (j + 1.0);
            if rho < 1.0 && term.abs() * rho / (1.0 - rho) <= 0.25 * EPS * sum.abs() {
                return (sum + compensation, exponent);
            }
        }
    }
    (f64::NAN, 0.0)
}

/// `e^{−x} M(a, b, x)` from the large-`x` expansion, or `None` when it cannot reach full
/// precision at this `x`.
fn asymptotic(a: f64, b: f64, x: f64) -> Option<f64> {
    let ln_x = x.ln();
    let (ln_gamma_a, sign_a) = libm::lgamma_r(a);
    let (ln_gamma_b, _) = libm::lgamma_r(b);
    // relative size of the neglected branch Γ(b)/Γ(b−a) x^{−a} against Γ(b)/Γ(a) eˣ x^{a−b}
    let c = b - a;
    if !(c <= 0.0 && c == c.floor()) {
        let (ln_gamma_c, _) = libm::lgamma_r(c);
        let ln_ratio = -x + (b - 2.0 * a) * ln_x + ln_gamma_a - ln_gamma_c;
        if ln_ratio > (0.25 * EPS).ln() {
            return None;
        }
    }
    let mut term = 1.0_f64;
    let mut sum = 1.0_f64;
    let turning = (1.0 - a).abs() + c.abs() + 1.0;
    for s in 0..MAX_ASYMPTOTIC_TERMS {
        let sf = s as f64;
        let next = term * (c + sf) * (1.0 - a + sf) / ((sf + 1.0) * x);
        if next == 0.0 || next.abs() <= 0.5 * EPS * sum.abs() {
            sum += next;
            let prefactor = gamma_ratio(b, a, ln_gamma_b, ln_gamma_a, sign_a);
            return Some(prefactor * x.powf(a - b) * sum);
        }
        if sf > turning && next.abs() > term.abs() {
            return None;
        }
        sum += next;
        term = next;
    }
    None
}

/// `Γ(b)/Γ(a)` for `b > 0`, with direct Γ values when they are comfortably in range.
fn gamma_ratio(b: f64, a: f64, ln_gamma_b: f64, ln_gamma_a: f64, sign_a: i32) -> f64 {
    if a > 0.0 && a < 150.0 && b < 150.0 {
        libm::tgamma(b) / libm::tgamma(a)
    } else {
        f64::from(sign_a) * (ln_gamma_b - ln_gamma_a).exp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(a: f64, b: f64) -> f64 {
        (a - b).abs() / b.abs().max(f64::MIN_POSITIVE)
    }

    /// Reference: the plain series summed in order with compensated (Kahan–Neumaier) summation,
    /// for moderate `z` where it cannot overflow.
    fn reference_series(a: f64, b: f64, z: f64) -> f64 {
        let mut term = 1.0_f64;
        let (mut sum, mut comp) = (1.0_f64, 0.0_f64);
        for k in 0..5000 {
            let k = k as f64;
            term *= (a + k) / (b + k) * z / (k + 1.0);
            let t = sum + term;
            comp += if sum.abs() >= term.abs() {
                (sum - t) + term
            } else {
                (term - t) + sum
            };
            sum = t;
        }
        sum + comp
    }

    #[test]
    fn closed_forms() {
        for &z in &[
            -700.0, -50.0, -3.0, -1e-3, 0.0, 1e-3, 0.5, 7.0, 33.0, 200.0, 700.0,
        ] {
            // M(a, a, z) = e^z
            for &a in &[0.5, 1.5, 3.0, 10.5, 21.5] {
                assert!(rel(hyp1f1(a, a, z), f64::exp(z)) < 1e-14, "a={a} z={z}");
                assert!((hyp1f1_scaled(a, a, z) - f64::exp(z.min(0.0))).abs() < 1e-14);
            }
            // M(1, 2, z) = (e^z − 1)/z
            let expected = if z == 0.0 { 1.0 } else { f64::exp_m1(z) / z };
            assert!(rel(hyp1f1(1.0, 2.0, z), expected) < 1e-14, "z={z}");
        }
        // M(1/2, 3/2, −x²) = √π erf(x)/(2x)
        for &x in &[1e-4, 0.3, 1.0, 2.5, 6.0, 30.0, 300.0] {
            let expected = std::f64::consts::PI.sqrt() * libm::erf(x) / (2.0 * x);
            assert!(rel(hyp1f1(0.5, 1.5, -x * x), expected) < 2e-14, "x={x}");
        }
        // M(−2, b, z) = 1 − 2z/b + z²/(b(b+1))
        // with b = 5/2, z = 37/10: exactly −2768/7000
        let expected = -2768.0 / 7000.0;
        assert!(rel(hyp1f1(-2.0, 2.5, 3.7), expected) < 1e-15);
    }

    #[test]
    fn against_compensated_series() {
        for &a in &[0.5, 1.5, 2.0, 4.5, 7.0, 11.5, 21.5, -0.5, -3.5, -9.5] {
            for &b in &[1.5, 2.5, 5.5, 11.5, 21.5] {
                for &z in &[1e-6, 0.1, 1.0, 4.0, 12.0, 25.0, 60.0, 120.0, 300.0] {
                    let reference = reference_series(a, b, z);
                    let value = hyp1f1(a, b, z);
                    assert!(
                        rel(value, reference) < 1e-13,
                        "a={a} b={b} z={z}: {value} vs {reference}"
                    );
                }
            }
        }
    }

    #[test]
    fn scaled_is_consistent_across_methods() {
        // around the switch between series and asymptotic expansion the two must agree
        for &(a, b) in &[
            (2.0, 1.5),
            (3.5, 1.5),
            (1.5, 5.5),
            (11.5, 21.5),
            (21.5, 1.5),
            (-0.5, 2.5),
        ] {
            for &x in &[10.0, 20.0, 40.0, 80.0, 160.0] {
                let (m, e) = series(a, b, x);
                let by_series = m * (e - x).exp();
                let value = hyp1f1_scaled(a, b, x);
                assert!(
                    rel(value, by_series) < 1e-13,
                    "a={a} b={b} x={x}: {value} vs {by_series}"
                );
            }
        }
    }

    #[test]
    fn large_arguments_stay_finite() {
        for &x in &[1e3, 1e4, 1e5, 1e7] {
            let v = hyp1f1_scaled(5.5, 1.5, x);
            // leading behaviour Γ(b)/Γ(a) x^{a−b}
            let lead = libm::tgamma(1.5) / libm::tgamma(5.5) * x.powf(4.0);
            assert!(v.is_finite() && rel(v, lead) < 30.0 / x, "x={x}");
            assert!(hyp1f1(5.5, 1.5, -x).is_finite());
        }
    }
}
