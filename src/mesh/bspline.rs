//! Cardinal B-splines and the Euler exponential-spline factor of smooth particle-mesh Ewald
//! (Essmann et al., J. Chem. Phys. 103, 8577 (1995)).
//!
//! The cardinal B-spline of order `n ≥ 2` is supported on `[0, n]`:
//! `M_2(u) = 1 − |u − 1|`, and
//! $$ M_n(u) = \frac{u}{n−1} M_{n−1}(u) + \frac{n − u}{n−1} M_{n−1}(u − 1). $$
//! It is a piecewise polynomial of degree `n − 1`, `C^{n−2}`, and its integer translates are a
//! partition of unity: `Σ_g M_n(u − g) = 1` for every `u`. Closed form:
//! `M_n(u) = (1/(n−1)!) Σ_{j=0}^{n} (−1)^j C(n, j) max(u − j, 0)^{n−1}`.
//!
//! Interpolating a plane wave on a mesh of `K` points (`u = K s`, `s` the fractional
//! coordinate): `e^{2πimu/K} ≈ b(m) Σ_g M_n(u − g) e^{2πimg/K}` with
//! $$ b(m) = e^{2πi(n−1)m/K} \Big/ \sum_{k=0}^{n−2} M_n(k+1)\, e^{2πimk/K}, $$
//! exact at the mesh points. A convolution spread and interpolated with `M_n` is corrected,
//! mode by mode, by `|b(m)|²` ([`euler_factor`]).

/// Largest supported spline order (the mesh route accepts `MIN_ORDER..=MAX_ORDER`).
pub const MAX_ORDER: usize = 12;
/// Smallest supported spline order (piecewise linear `M_2` is too crude for any accuracy).
pub const MIN_ORDER: usize = 3;

/// `weights[j] = M_n(frac + j)` for `j = 0..n` (`n = weights.len()`, `0 ≤ frac < 1`): the
/// weights of mesh points `⌊u⌋ − j` for a particle at `u = ⌊u⌋ + frac`. They sum to one.
pub fn weights(frac: f64, weights: &mut [f64]) {
    let n = weights.len();
    assert!(n >= 2, "B-spline order must be at least 2");
    weights.fill(0.0);
    // order 2: M_2(frac) = frac, M_2(frac + 1) = 1 − frac
    weights[0] = frac;
    weights[1] = 1.0 - frac;
    for order in 3..=n {
        let inv = 1.0 / (order - 1) as f64;
        // new[j] = ((frac + j) old[j] + (order − frac − j) old[j − 1]) / (order − 1), from the
        // top down so that old[j − 1] is still unmodified
        for j in (0..order).rev() {
            let x = frac + j as f64;
            let this = if j < order - 1 { weights[j] } else { 0.0 };
            let below = if j > 0 { weights[j - 1] } else { 0.0 };
            weights[j] = inv * (x * this + (order as f64 - x) * below);
        }
    }
}

/// `M_n(u)` from the closed form (for tests and for [`euler_factor`]).
pub fn value(order: usize, u: f64) -> f64 {
    if !(0.0..order as f64).contains(&u) {
        return 0.0;
    }
    // M_n(u) = M_n(n − u): the truncated-power sum cancels less on the lower half
    let u = u.min(order as f64 - u);
    let mut binomial = 1.0;
    let mut sum = 0.0;
    for j in 0..=order {
        let x = u - j as f64;
        if x > 0.0 {
            let sign = if j % 2 == 0 { 1.0 } else { -1.0 };
            sum += sign * binomial * x.powi(order as i32 - 1);
        }
        binomial = binomial * (order - j) as f64 / (j + 1) as f64;
    }
    let factorial: f64 = (1..order).map(|i| i as f64).product();
    sum / factorial
}

/// `|b(m)|² = 1 / |Σ_{k=0}^{n−2} M_n(k+1) e^{2πimk/K}|²` for `m = 0..K` (index `m`, periodic).
/// The denominator vanishes only for odd `n` at `m = K/2` (even `K`); the value there is
/// `f64::INFINITY` and the caller must not use that mode (the mesh route never does: it drops
/// the Nyquist planes).
pub fn euler_factor(order: usize, size: usize) -> Vec<f64> {
    let knots: Vec<f64> = (0..order - 1)
        .map(|k| value(order, (k + 1) as f64))
        .collect();
    (0..size)
        .map(|m| {
            let (mut re, mut im) = (0.0, 0.0);
            for (k, &mk) in knots.iter().enumerate() {
                let angle = 2.0 * std::f64::consts::PI * (m * k % size) as f64 / size as f64;
                re += mk * angle.cos();
                im += mk * angle.sin();
            }
            let norm2 = re * re + im * im;
            if norm2 < 1e-28 {
                f64::INFINITY
            } else {
                1.0 / norm2
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_match_the_closed_form_and_sum_to_one() {
        for order in 2..=MAX_ORDER {
            for &frac in &[0.0, 0.1, 0.37, 0.5, 0.999] {
                let mut w = vec![0.0; order];
                weights(frac, &mut w);
                let total: f64 = w.iter().sum();
                assert!((total - 1.0).abs() < 1e-14, "order {order}: sum {total}");
                for (j, wj) in w.iter().enumerate() {
                    let exact = value(order, frac + j as f64);
                    assert!(
                        (wj - exact).abs() < 1e-14,
                        "order {order} j {j}: {wj} {exact}"
                    );
                    assert!(*wj >= 0.0);
                }
            }
        }
    }

    #[test]
    fn recursion_and_symmetry_of_the_closed_form() {
        // M_n(u) = M_n(n − u), M_2 is the hat, and the recursion holds
        for order in 3..=8 {
            for i in 0..40 {
                let u = i as f64 * order as f64 / 40.0;
                let a = value(order, u);
                assert!((a - value(order, order as f64 - u)).abs() < 1e-15);
                let n = order as f64;
                let rec =
                    (u * value(order - 1, u) + (n - u) * value(order - 1, u - 1.0)) / (n - 1.0);
                assert!((a - rec).abs() < 1e-12, "order {order} u {u}");
            }
        }
        assert!((value(2, 0.25) - 0.25).abs() < 1e-15 && (value(2, 1.5) - 0.5).abs() < 1e-15);
        // M_4 at its knots: 1/6, 2/3, 1/6
        assert!((value(4, 1.0) - 1.0 / 6.0).abs() < 1e-15);
        assert!((value(4, 2.0) - 2.0 / 3.0).abs() < 1e-15);
    }

    /// `b(m) Σ_g M_n(u − g) e^{2πimg/K}` reproduces `e^{2πimu/K}` exactly at mesh points and
    /// to a relative error `≈ 2 (θ/(2π − θ))^n`, `θ = 2πm/K`, in between.
    #[test]
    fn euler_spline_interpolates_plane_waves() {
        let size = 32;
        for order in [4, 6, 8] {
            let factor = euler_factor(order, size);
            let knots: Vec<f64> = (0..order - 1)
                .map(|k| value(order, (k + 1) as f64))
                .collect();
            for m in [1usize, 3, 6] {
                let theta = 2.0 * std::f64::consts::PI * m as f64 / size as f64;
                // b(m) with its phase
                let (mut re, mut im) = (0.0, 0.0);
                for (k, mk) in knots.iter().enumerate() {
                    re += mk * (theta * k as f64).cos();
                    im += mk * (theta * k as f64).sin();
                }
                assert!((factor[m] - 1.0 / (re * re + im * im)).abs() < 1e-12);
                let phase = theta * (order - 1) as f64;
                let (pr, pi) = (phase.cos(), phase.sin());
                let d = re * re + im * im;
                let (br, bi) = ((pr * re + pi * im) / d, (pi * re - pr * im) / d);
                let bound = 4.0 * (theta / (2.0 * std::f64::consts::PI - theta)).powi(order as i32);
                for step in 0..10 {
                    let u = 5.0 + step as f64 / 10.0;
                    let mut w = vec![0.0; order];
                    weights(u - u.floor(), &mut w);
                    let (mut sr, mut si) = (0.0, 0.0);
                    for (j, wj) in w.iter().enumerate() {
                        let g = u.floor() - j as f64;
                        sr += wj * (theta * g).cos();
                        si += wj * (theta * g).sin();
                    }
                    let (ar, ai) = (br * sr - bi * si, br * si + bi * sr);
                    let err = ((ar - (theta * u).cos()).powi(2) + (ai - (theta * u).sin()).powi(2))
                        .sqrt();
                    if step == 0 {
                        assert!(err < 1e-13, "order {order} m {m}: {err} at a mesh point");
                    }
                    assert!(
                        err < bound.max(1e-13),
                        "order {order} m {m}: {err} > {bound}"
                    );
                }
            }
        }
        // odd orders: the Nyquist mode is singular
        assert!(euler_factor(5, 16)[8].is_infinite());
    }
}
