//! Clebsch–Gordan coefficients in the basis of lode_rs's real spherical harmonics.
//!
//! # Complex coefficients
//!
//! `⟨l₁ m₁ l₂ m₂ | λ μ⟩` (Condon–Shortley phases) by Racah's formula,
//!
//! ```text
//! ⟨l₁ m₁ l₂ m₂ | λ μ⟩ = δ_{μ, m₁+m₂} √((2λ+1) (l₁+l₂−λ)! (l₁−l₂+λ)! (−l₁+l₂+λ)! / (l₁+l₂+λ+1)!)
//!     · √((λ+μ)! (λ−μ)! (l₁−m₁)! (l₁+m₁)! (l₂−m₂)! (l₂+m₂)!)
//!     · Σ_k (−1)^k / [k! (l₁+l₂−λ−k)! (l₁−m₁−k)! (l₂+m₂−k)! (λ−l₂+m₁+k)! (λ−l₁−m₂+k)!]
//! ```
//!
//! in double precision (factorials up to `(l₁+l₂+λ+1)!`, orthogonality holds to ~1e-13 at
//! `l = 20`, the largest supported, and to ~1e-15 for `l ≤ 10`).
//!
//! # Real coefficients
//!
//! The real harmonics of [`crate::math::spherical_harmonics`] (no Condon–Shortley sign in them,
//! `Y_11 = +√(3/4π) x/r`) are `Y_lm = Σ_μ U^l_{mμ} Y_l^μ` with the unitary
//!
//! ```text
//! m > 0:  Y_lm  = ((−1)^m Y_l^m + Y_l^{−m}) / √2
//! m = 0:  Y_l0  = Y_l^0
//! m < 0:  Y_l,m = −i ((−1)^|m| Y_l^|m| − Y_l^{−|m|}) / √2
//! ```
//!
//! The real coefficients are the complex ones moved to this basis, times a phase that makes
//! them real:
//!
//! ```text
//! C^{λμ}_{l₁m₁ l₂m₂} = i^{λ−l₁−l₂} Σ_{μ' μ₁ μ₂} U^λ_{μμ'} ⟨l₁ μ₁ l₂ μ₂ | λ μ'⟩ (U^{l₁}_{m₁μ₁})* (U^{l₂}_{m₂μ₂})*
//! ```
//!
//! (the sum is real when `l₁+l₂+λ` is even and imaginary when it is odd; the `i^{λ−l₁−l₂}`
//! turns both into real numbers). With this phase:
//!
//! - `Σ_{m₁m₂} C^{λμ}_{l₁m₁ l₂m₂} Y_{l₁m₁}(r̂) Y_{l₂m₂}(r̂) = κ Y_λμ(r̂)` with the *positive*
//!   `κ = √((2l₁+1)(2l₂+1)/(4π(2λ+1))) |⟨l₁ 0 l₂ 0 | λ 0⟩|` (zero when `l₁+l₂+λ` is odd);
//! - `C^{00}_{lm l'm'} = δ_{ll'} δ_{mm'} / √(2l+1)`: the `λ = 0` products are the power
//!   spectrum `(2l+1)^{−1/2} Σ_m c_lm c'_lm` exactly, sign included;
//! - `C^{1μ}_{1m 1m'}` is the cross product divided by √2: `Σ C a_m b_m' = (a × b)_μ / √2` in
//!   the `(y, z, x)` order of the `l = 1` harmonics;
//! - exchanging the two factors: `C^{λμ}_{l₂m₂ l₁m₁} = (−1)^{l₁+l₂+λ} C^{λμ}_{l₁m₁ l₂m₂}`;
//! - for fixed `(l₁, l₂)`, the `(2l₁+1)(2l₂+1)` rows `(λ, μ)` form an orthogonal matrix.

use crate::error::Result;
use crate::math::spherical_harmonics::MAX_L;

/// `n!` as `f64` for `n ≤ 3 MAX_L + 1`.
fn factorial(n: usize) -> f64 {
    (1..=n).fold(1.0, |acc, k| acc * k as f64)
}

/// Complex (Condon–Shortley) Clebsch–Gordan coefficient `⟨l₁ m₁ l₂ m₂ | λ μ⟩`, by Racah's
/// formula; zero outside the selection rules (`μ = m₁ + m₂`, triangle `|l₁ − l₂| ≤ λ ≤ l₁ + l₂`,
/// `|m| ≤ l`).
pub fn complex_clebsch_gordan(
    l1: usize,
    m1: isize,
    l2: usize,
    m2: isize,
    lambda: usize,
    mu: isize,
) -> f64 {
    let (j1, j2, j) = (l1 as isize, l2 as isize, lambda as isize);
    if m1 + m2 != mu
        || m1.abs() > j1
        || m2.abs() > j2
        || mu.abs() > j
        || j < (j1 - j2).abs()
        || j > j1 + j2
    {
        return 0.0;
    }
    let f = |n: isize| factorial(n as usize);
    let prefactor = ((2 * j + 1) as f64 * f(j1 + j2 - j) * f(j1 - j2 + j) * f(-j1 + j2 + j)
        / f(j1 + j2 + j + 1))
    .sqrt()
        * (f(j + mu) * f(j - mu) * f(j1 - m1) * f(j1 + m1) * f(j2 - m2) * f(j2 + m2)).sqrt();
    let k_min = 0.max(j2 - j - m1).max(j1 - j + m2);
    let k_max = (j1 + j2 - j).min(j1 - m1).min(j2 + m2);
    let mut sum = 0.0;
    for k in k_min..=k_max {
        let denominator = f(k)
            * f(j1 + j2 - j - k)
            * f(j1 - m1 - k)
            * f(j2 + m2 - k)
            * f(j - j2 + m1 + k)
            * f(j - j1 - m2 + k);
        let sign = if k % 2 == 0 { 1.0 } else { -1.0 };
        sum += sign / denominator;
    }
    prefactor * sum
}

/// A complex number `(re, im)`.
type Complex = (f64, f64);

fn mul(a: Complex, b: Complex) -> Complex {
    (a.0 * b.0 - a.1 * b.1, a.0 * b.1 + a.1 * b.0)
}

fn conj(a: Complex) -> Complex {
    (a.0, -a.1)
}

/// The non-zero entries `(μ, U^l_{mμ})` of row `m` of the real-from-complex unitary (module
/// docs): one for `m = 0`, two otherwise.
fn real_from_complex(m: isize) -> Vec<(isize, Complex)> {
    let h = std::f64::consts::FRAC_1_SQRT_2;
    let parity = if m.abs() % 2 == 0 { 1.0 } else { -1.0 };
    match m.signum() {
        0 => vec![(0, (1.0, 0.0))],
        1 => vec![(m, (parity * h, 0.0)), (-m, (h, 0.0))],
        _ => vec![(-m, (0.0, -parity * h)), (m, (0.0, h))],
    }
}

/// `i^n` for any integer `n`.
fn i_power(n: isize) -> Complex {
    match n.rem_euclid(4) {
        0 => (1.0, 0.0),
        1 => (0.0, 1.0),
        2 => (-1.0, 0.0),
        _ => (0.0, -1.0),
    }
}

/// One non-zero real coefficient: `C^{λμ}_{l₁m₁ l₂m₂}` with `m₁`, `m₂`, `μ` given as offsets
/// `m + l` (`0 … 2l`), the positions inside each `l` block of a coefficient array.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coupling {
    /// `m₁ + l₁`.
    pub m1: usize,
    /// `m₂ + l₂`.
    pub m2: usize,
    /// `μ + λ`.
    pub mu: usize,
    /// The coefficient.
    pub value: f64,
}

fn check_degrees(l1: usize, l2: usize) -> Result<()> {
    if l1 > MAX_L || l2 > MAX_L {
        crate::bail_param!(
            "Clebsch–Gordan coefficients: l = {} is above the maximum {MAX_L}",
            l1.max(l2)
        );
    }
    Ok(())
}

/// The non-zero real coefficients `C^{λμ}_{l₁m₁ l₂m₂}` (module docs) of one `(l₁, l₂, λ)`,
/// ordered by `(m₁, m₂, μ)`; empty outside the triangle `|l₁ − l₂| ≤ λ ≤ l₁ + l₂`. Error for
/// `l₁` or `l₂` above [`MAX_L`].
pub fn real_clebsch_gordan(l1: usize, l2: usize, lambda: usize) -> Result<Vec<Coupling>> {
    check_degrees(l1, l2)?;
    let mut out = Vec::new();
    if lambda < l1.abs_diff(l2) || lambda > l1 + l2 {
        return Ok(out);
    }
    let phase = i_power(lambda as isize - l1 as isize - l2 as isize);
    let (j1, j2, j) = (l1 as isize, l2 as isize, lambda as isize);
    for m1 in -j1..=j1 {
        for m2 in -j2..=j2 {
            // the real basis mixes ±m, so μ₁ + μ₂ = μ' allows only these |μ|
            let (a1, a2) = (m1.abs(), m2.abs());
            let mut candidates = [-(a1 + a2), -(a1 - a2).abs(), (a1 - a2).abs(), a1 + a2];
            candidates.sort_unstable();
            let mut previous = None;
            for mu in candidates {
                if mu.abs() > j || previous == Some(mu) {
                    continue;
                }
                previous = Some(mu);
                let mut sum: Complex = (0.0, 0.0);
                for &(mu_c, u) in &real_from_complex(mu) {
                    for &(mu1, u1) in &real_from_complex(m1) {
                        for &(mu2, u2) in &real_from_complex(m2) {
                            let cg = complex_clebsch_gordan(l1, mu1, l2, mu2, lambda, mu_c);
                            if cg == 0.0 {
                                continue;
                            }
                            let term = mul(mul(u, conj(u1)), conj(u2));
                            sum.0 += cg * term.0;
                            sum.1 += cg * term.1;
                        }
                    }
                }
                let value = mul(phase, sum);
                debug_assert!(
                    value.1.abs() < 1e-12,
                    "real CG with imaginary part {value:?}"
                );
                if value.0.abs() > 1e-15 {
                    out.push(Coupling {
                        m1: (m1 + j1) as usize,
                        m2: (m2 + j2) as usize,
                        mu: (mu + j) as usize,
                        value: value.0,
                    });
                }
            }
        }
    }
    Ok(out)
}

/// The dense array `C[m₁+l₁][m₂+l₂][μ+λ]`, shape `(2l₁+1, 2l₂+1, 2λ+1)`, of
/// [`real_clebsch_gordan`].
pub fn real_clebsch_gordan_dense(
    l1: usize,
    l2: usize,
    lambda: usize,
) -> Result<ndarray::Array3<f64>> {
    let mut out = ndarray::Array3::zeros((2 * l1 + 1, 2 * l2 + 1, 2 * lambda + 1));
    for c in real_clebsch_gordan(l1, l2, lambda)? {
        out[[c.m1, c.m2, c.mu]] = c.value;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invariants::rotations::{random_rotation, random_unit_vectors, wigner_d, Rng};
    use crate::math::quadrature::gauss_legendre;
    use crate::math::spherical_harmonics::{lm_index, SphericalHarmonics};
    use ndarray::{Array2, Array3};

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    /// Textbook values (e.g. ⟨1 0 1 0|2 0⟩ = √(2/3), ⟨1 1 1 −1|0 0⟩ = 1/√3) and the
    /// closed form ⟨l m l −m|0 0⟩ = (−1)^{l−m}/√(2l+1).
    #[test]
    fn complex_coefficients_known_values() {
        let s = |x: f64| x.sqrt();
        let cases = [
            ((1, 0, 1, 0, 2, 0), s(2.0 / 3.0)),
            ((1, 1, 1, -1, 0, 0), 1.0 / s(3.0)),
            ((1, 1, 1, 0, 1, 1), 1.0 / s(2.0)),
            ((1, 1, 1, 0, 2, 1), 1.0 / s(2.0)),
            ((2, 0, 2, 0, 2, 0), -s(2.0 / 7.0)),
            ((2, 1, 1, 0, 1, 1), -s(3.0 / 10.0)),
            ((1, 0, 1, 0, 1, 0), 0.0),
            ((2, 2, 2, -2, 4, 0), s(1.0 / 70.0)),
        ];
        for ((l1, m1, l2, m2, l, m), expected) in cases {
            let got = complex_clebsch_gordan(l1, m1, l2, m2, l, m);
            assert!(
                close(got, expected, 1e-15),
                "{l1} {m1} {l2} {m2} {l} {m}: {got}"
            );
        }
        for l in 0..=10usize {
            for m in -(l as isize)..=l as isize {
                let sign = if (l as isize - m) % 2 == 0 { 1.0 } else { -1.0 };
                let got = complex_clebsch_gordan(l, m, l, -m, 0, 0);
                assert!(close(got, sign / ((2 * l + 1) as f64).sqrt(), 1e-15));
            }
        }
        assert_eq!(complex_clebsch_gordan(1, 1, 1, 1, 1, 1), 0.0);
        assert_eq!(complex_clebsch_gordan(1, 0, 1, 0, 3, 0), 0.0);
    }

    /// Rows `(λ, μ)`, columns `(m₁, m₂)`: the full `(2l₁+1)(2l₂+1)` square matrix of one
    /// `(l₁, l₂)`.
    fn coupling_matrix(l1: usize, l2: usize) -> Array2<f64> {
        let n = (2 * l1 + 1) * (2 * l2 + 1);
        let mut matrix = Array2::zeros((n, n));
        let mut row = 0;
        for lambda in l1.abs_diff(l2)..=l1 + l2 {
            for c in real_clebsch_gordan(l1, l2, lambda).unwrap() {
                matrix[[row + c.mu, c.m1 * (2 * l2 + 1) + c.m2]] = c.value;
            }
            row += 2 * lambda + 1;
        }
        assert_eq!(row, n);
        matrix
    }

    /// Orthogonality and completeness: `C Cᵀ = Cᵀ C = 1` for every `(l₁, l₂)` with `l ≤ 8`
    /// (the double precision Racah sum is good to ~1e-15 there; a wrong phase or a missing
    /// `1/√2` of the real basis breaks this at O(1)), and up to the largest `l`, 20, to 1e-12.
    #[test]
    fn real_coefficients_are_orthogonal() {
        for l1 in 0..=8 {
            for l2 in 0..=8 {
                let c = coupling_matrix(l1, l2);
                let n = c.nrows();
                let eye = Array2::<f64>::eye(n);
                let e1 = (&c.dot(&c.t()) - &eye)
                    .mapv(f64::abs)
                    .fold(0.0, |a: f64, &b| a.max(b));
                let e2 = (&c.t().dot(&c) - &eye)
                    .mapv(f64::abs)
                    .fold(0.0, |a: f64, &b| a.max(b));
                assert!(e1 < 1e-14 && e2 < 1e-14, "l1={l1} l2={l2}: {e1} {e2}");
            }
        }
        for (l1, l2) in [(20, 4), (12, 12)] {
            let c = coupling_matrix(l1, l2);
            let eye = Array2::<f64>::eye(c.nrows());
            let e = (&c.dot(&c.t()) - &eye)
                .mapv(f64::abs)
                .fold(0.0, |a: f64, &b| a.max(b));
            assert!(e < 1e-12, "l1 = {l1}, l2 = {l2}: {e}");
        }
        assert!(real_clebsch_gordan(21, 0, 21).is_err());
    }

    #[test]
    fn closed_forms_lambda_zero_cross_product_and_exchange() {
        for l in 0..=6 {
            let c = real_clebsch_gordan_dense(l, l, 0).unwrap();
            for m in 0..2 * l + 1 {
                for m2 in 0..2 * l + 1 {
                    let expected = if m == m2 {
                        1.0 / ((2 * l + 1) as f64).sqrt()
                    } else {
                        0.0
                    };
                    assert!(close(c[[m, m2, 0]], expected, 1e-15));
                }
            }
        }
        // (a × b)/√2 in the (y, z, x) order of the l = 1 harmonics
        let c = real_clebsch_gordan_dense(1, 1, 1).unwrap();
        let (a, b) = ([0.3, -1.2, 0.7], [1.1, 0.4, -0.5]);
        let (ya, yb) = ([a[1], a[2], a[0]], [b[1], b[2], b[0]]);
        let cross = [
            a[1] * b[2] - a[2] * b[1],
            a[2] * b[0] - a[0] * b[2],
            a[0] * b[1] - a[1] * b[0],
        ];
        let expected = [cross[1], cross[2], cross[0]];
        for mu in 0..3 {
            let mut v = 0.0;
            for m1 in 0..3 {
                for m2 in 0..3 {
                    v += c[[m1, m2, mu]] * ya[m1] * yb[m2];
                }
            }
            assert!(close(v, expected[mu] / 2f64.sqrt(), 1e-15), "{v}");
        }
        for l1 in 0..=5usize {
            for l2 in 0..=5 {
                for lambda in l1.abs_diff(l2)..=l1 + l2 {
                    let a = real_clebsch_gordan_dense(l1, l2, lambda).unwrap();
                    let b = real_clebsch_gordan_dense(l2, l1, lambda).unwrap();
                    let sign = if (l1 + l2 + lambda) % 2 == 0 {
                        1.0
                    } else {
                        -1.0
                    };
                    for ((m1, m2, mu), &v) in a.indexed_iter() {
                        assert!(close(b[[m2, m1, mu]], sign * v, 1e-15));
                    }
                }
            }
        }
    }

    /// `P[(λ,μ)][(L,M)] = ∫ dΩ Σ C^{λμ}_{l₁m₁ l₂m₂} Y_{l₁m₁} Y_{l₂m₂} Y_{LM}` by a product
    /// quadrature that is exact for these polynomials: Gauss–Legendre in cos θ (exact to degree
    /// `2n−1`) and the trapezoid rule in φ (exact for frequencies below the number of points).
    fn projections(l1: usize, l2: usize, lambda: usize) -> Array3<f64> {
        let big = l1 + l2;
        let sh = SphericalHarmonics::new(big).unwrap();
        let n_theta = big + 2;
        let n_phi = 2 * big + 2;
        let (nodes, weights) = gauss_legendre(n_theta);
        let c = real_clebsch_gordan(l1, l2, lambda).unwrap();
        let mut out = Array3::zeros((2 * lambda + 1, big + 1, 2 * big + 1));
        let mut y = vec![0.0; sh.len()];
        for (&z, &w) in nodes.iter().zip(&weights) {
            for k in 0..n_phi {
                let phi = 2.0 * std::f64::consts::PI * k as f64 / n_phi as f64;
                let s = (1.0 - z * z).sqrt();
                sh.compute([s * phi.cos(), s * phi.sin(), z], &mut y);
                let weight = w * 2.0 * std::f64::consts::PI / n_phi as f64;
                let mut coupled = vec![0.0; 2 * lambda + 1];
                for e in &c {
                    coupled[e.mu] += e.value
                        * y[lm_index(l1, e.m1 as isize - l1 as isize)]
                        * y[lm_index(l2, e.m2 as isize - l2 as isize)];
                }
                for (mu, &v) in coupled.iter().enumerate() {
                    for l in 0..=big {
                        for m in 0..2 * l + 1 {
                            out[[mu, l, m]] += weight * v * y[l * l + m];
                        }
                    }
                }
            }
        }
        out
    }

    /// The coupled product of two harmonics of the same direction is `κ Y_λμ` with the closed
    /// form `κ = √((2l₁+1)(2l₂+1)/(4π(2λ+1))) |⟨l₁0 l₂0|λ0⟩|` (zero for odd `l₁+l₂+λ`), and
    /// has no component on any other `Y_LM`; checked on the sphere by quadrature to 1e-13.
    #[test]
    fn coupled_harmonics_are_harmonics() {
        for l1 in 0..=4usize {
            for l2 in 0..=4 {
                for lambda in l1.abs_diff(l2)..=l1 + l2 {
                    let p = projections(l1, l2, lambda);
                    let kappa = ((2 * l1 + 1) as f64 * (2 * l2 + 1) as f64
                        / (4.0 * std::f64::consts::PI * (2 * lambda + 1) as f64))
                        .sqrt()
                        * complex_clebsch_gordan(l1, 0, l2, 0, lambda, 0).abs();
                    for ((mu, l, m), &v) in p.indexed_iter() {
                        let expected = if l == lambda && m == mu { kappa } else { 0.0 };
                        assert!(
                            close(v, expected, 1e-13),
                            "l1={l1} l2={l2} λ={lambda} μ={mu}: ⟨·|Y_{l},{m}⟩ = {v}, expected {expected}"
                        );
                    }
                    if (l1 + l2 + lambda) % 2 == 0 {
                        assert!(kappa > 0.1);
                    }
                }
            }
        }
    }

    /// Covariance for both parities: `Σ C Y_{l₁}(R a) Y_{l₂}(R b) = D^λ(R) Σ C Y_{l₁}(a) Y_{l₂}(b)`
    /// for two different directions `a, b` (the odd `l₁+l₂+λ` couplings vanish for `a = b`, so
    /// this is their test), with `D^λ` fitted from the harmonics themselves.
    #[test]
    fn coupled_harmonics_rotate_with_wigner_matrices() {
        let l_max = 4;
        let sh = SphericalHarmonics::new(l_max).unwrap();
        let mut rng = Rng::new(7);
        for _ in 0..3 {
            let r = random_rotation(&mut rng);
            let d: Vec<Array2<f64>> = (0..=2 * l_max).map(|l| wigner_d(l, &r)).collect();
            let v = random_unit_vectors(&mut rng, 2);
            let rotate = |x: [f64; 3]| {
                let mut y = [0.0; 3];
                for i in 0..3 {
                    y[i] = (0..3).map(|j| r[[i, j]] * x[j]).sum();
                }
                y
            };
            let mut ya = vec![0.0; sh.len()];
            let mut yb = vec![0.0; sh.len()];
            let mut ra = vec![0.0; sh.len()];
            let mut rb = vec![0.0; sh.len()];
            sh.compute(v[0], &mut ya);
            sh.compute(v[1], &mut yb);
            sh.compute(rotate(v[0]), &mut ra);
            sh.compute(rotate(v[1]), &mut rb);
            for l1 in 0..=l_max {
                for l2 in 0..=l_max {
                    for lambda in l1.abs_diff(l2)..=l1 + l2 {
                        let c = real_clebsch_gordan(l1, l2, lambda).unwrap();
                        let couple = |x: &[f64], y: &[f64]| {
                            let mut out = vec![0.0; 2 * lambda + 1];
                            for e in &c {
                                out[e.mu] += e.value * x[l1 * l1 + e.m1] * y[l2 * l2 + e.m2];
                            }
                            out
                        };
                        let before = couple(&ya, &yb);
                        let after = couple(&ra, &rb);
                        let dl = d.get(lambda).expect("D up to 2 l_max");
                        for mu in 0..2 * lambda + 1 {
                            let expected: f64 =
                                (0..2 * lambda + 1).map(|k| dl[[mu, k]] * before[k]).sum();
                            assert!(close(after[mu], expected, 1e-12), "{l1} {l2} {lambda}");
                        }
                    }
                }
            }
        }
    }
}
