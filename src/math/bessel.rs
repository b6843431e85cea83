//! Spherical Bessel functions of the first kind `j_l(x)`, all `l ≤ l_max` at once.
//!
//! Algorithm (stable everywhere for `x ≥ 0`):
//! - `x < 1`: the power series `j_l(x) = x^l/(2l+1)!! Σ_k (−x²/2)^k / (k! (2l+3)(2l+5)…(2l+2k+1))`,
//!   summed to machine precision (a dozen terms);
//! - `x > l_max`: upward recurrence `j_{l+1} = (2l+1)/x j_l − j_{l−1}` from `j_0 = sin x / x`,
//!   `j_1 = sin x / x² − cos x / x`, stable because `j_l` does not decay for `l < x`;
//! - otherwise: Miller's downward recurrence from `l_start = l_max + 20 + x`, normalised by
//!   `j_0 = sin x / x` (or `j_1` near the zeros of `sin x`).

/// `j_l(x)` for `l = 0..=l_max` into `out` (length `l_max + 1`).
pub fn spherical_bessel_j(l_max: usize, x: f64, out: &mut [f64]) {
    debug_assert_eq!(out.len(), l_max + 1);
    let x = x.abs();
    if x < 1.0 {
        series(x, out);
    } else if x > l_max as f64 {
        upward(x, out);
    } else {
        downward(l_max, x, out);
    }
}

/// `j_l(x)` and `d j_l / dx` for `l = 0..=l_max`; `scratch` needs length `l_max + 2`.
pub fn spherical_bessel_j_with_derivatives(
    l_max: usize,
    x: f64,
    values: &mut [f64],
    derivatives: &mut [f64],
    scratch: &mut [f64],
) {
    spherical_bessel_j(l_max + 1, x, scratch);
    values.copy_from_slice(&scratch[..=l_max]);
    // j_l' = j_{l-1} − (l+1)/x j_l  (l ≥ 1), j_0' = −j_1; at x = 0: j_1'(0) = 1/3, others 0
    derivatives[0] = -scratch[1];
    for l in 1..=l_max {
        derivatives[l] = if x == 0.0 {
            if l == 1 {
                1.0 / 3.0
            } else {
                0.0
            }
        } else {
            scratch[l - 1] - (l as f64 + 1.0) / x * scratch[l]
        };
    }
}

fn series(x: f64, out: &mut [f64]) {
    let y = -0.5 * x * x;
    let mut prefactor = 1.0; // x^l / (2l+1)!!
    for (l, value) in out.iter_mut().enumerate() {
        if l > 0 {
            prefactor *= x / (2 * l + 1) as f64;
        }
        let mut term = 1.0;
        let mut sum = 1.0;
        for k in 1..40 {
            term *= y / (k as f64 * (2 * l + 2 * k + 1) as f64);
            sum += term;
            if term.abs() < 1e-17 * sum.abs() {
                break;
            }
        }
        *value = prefactor * sum;
    }
}

fn upward(x: f64, out: &mut [f64]) {
    let (s, c) = x.sin_cos();
    out[0] = s / x;
    if out.len() > 1 {
        out[1] = s / (x * x) - c / x;
    }
    for l in 1..out.len().saturating_sub(1) {
        out[l + 1] = (2 * l + 1) as f64 / x * out[l] - out[l - 1];
    }
}

fn downward(l_max: usize, x: f64, out: &mut [f64]) {
    let start = l_max + 20 + x as usize;
    let (mut above, mut current) = (0.0_f64, 1e-300_f64);
    for l in (1..=start).rev() {
        let below = (2 * l + 1) as f64 / x * current - above;
        above = current;
        current = below;
        if l - 1 <= l_max {
            out[l - 1] = current;
        }
        if current.abs() > 1e250 {
            // rescale everything stored so far to avoid overflow
            let scale = 1e-250;
            above *= scale;
            current *= scale;
            for v in out.iter_mut().skip(l - 1) {
                *v *= scale;
            }
        }
    }
    let (s, c) = x.sin_cos();
    let j0 = s / x;
    let j1 = s / (x * x) - c / x;
    // normalise with whichever of j_0, j_1 is larger (avoids dividing near a zero of sin x)
    let factor = if j0.abs() >= j1.abs() || l_max == 0 {
        j0 / out[0]
    } else {
        j1 / out[1]
    };
    for v in out.iter_mut() {
        *v *= factor;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closed_forms(x: f64) -> [f64; 4] {
        let (s, c) = x.sin_cos();
        [
            s / x,
            s / (x * x) - c / x,
            (3.0 / (x * x) - 1.0) * s / x - 3.0 * c / (x * x),
            (15.0 / (x * x * x) - 6.0 / x) * s / x - (15.0 / (x * x) - 1.0) * c / x,
        ]
    }

    #[test]
    fn low_orders_match_closed_forms() {
        let mut out = vec![0.0; 21];
        for &x in &[0.3, 0.99, 1.0, 1.7, 4.2, 9.99, 15.0, 20.5, 33.3, 150.0] {
            spherical_bessel_j(20, x, &mut out);
            let exact = closed_forms(x);
            for l in 0..4 {
                // the l = 3 closed form itself loses digits to cancellation at small x
                let tol = if x < 1.0 { 1e-9 } else { 1e-13 };
                assert!(
                    (out[l] - exact[l]).abs() < tol,
                    "l={l} x={x}: {} {}",
                    out[l],
                    exact[l]
                );
            }
        }
    }

    /// Σ_l (2l+1) j_l(x)² = 1 for every x, and the recurrence holds at high l.
    #[test]
    fn sum_rule_and_recurrence() {
        let mut out = vec![0.0; 81];
        for &x in &[1e-8, 0.01, 0.5, 2.0, 7.5, 19.0, 20.0, 21.0, 40.0] {
            spherical_bessel_j(80, x, &mut out);
            let sum: f64 = out
                .iter()
                .enumerate()
                .map(|(l, j)| (2 * l + 1) as f64 * j * j)
                .sum();
            assert!((sum - 1.0).abs() < 1e-13, "x={x}: {sum}");
            for l in 1..79 {
                let lhs = out[l - 1] + out[l + 1];
                let rhs = (2 * l + 1) as f64 / x * out[l];
                assert!(
                    (lhs - rhs).abs() <= 1e-12 * (lhs.abs() + out[l].abs() + 1e-300),
                    "x={x} l={l}"
                );
            }
        }
    }

    #[test]
    fn derivatives_match_finite_differences() {
        let (mut v, mut d, mut s) = (vec![0.0; 11], vec![0.0; 11], vec![0.0; 12]);
        let (mut vp, mut vm) = (vec![0.0; 11], vec![0.0; 11]);
        for &x in &[0.0, 0.2, 1.3, 6.0, 12.0] {
            spherical_bessel_j_with_derivatives(10, x, &mut v, &mut d, &mut s);
            let h = 1e-5;
            spherical_bessel_j(10, x + h, &mut vp);
            spherical_bessel_j(10, (x - h).max(0.0), &mut vm);
            for l in 0..=10 {
                let fd = if x == 0.0 {
                    (vp[l] - vm[l]) / h
                } else {
                    (vp[l] - vm[l]) / (2.0 * h)
                };
                let tol = if x == 0.0 { 1e-5 } else { 1e-9 };
                assert!((fd - d[l]).abs() < tol, "x={x} l={l}: {fd} {}", d[l]);
            }
        }
    }
}
