//! The far-field (multipole) form of the LODE pair integral for power laws `p ≥ 1`, valid for
//! distances beyond the basis' reach (`docs/math.md` §3a).
//!
//! Far away the smeared `g_p(ρ)` equals `ρ^{−p}` up to `ρ^{−p} Q(p/2, ρ²/2σ²)` (a Gaussian), and with
//! `t = r/d`, `λ = p/2`, the Gegenbauer generating function gives
//! `|r − d|^{−p} = d^{−p} (1 − 2ut + t²)^{−λ} = d^{−p} Σ_k t^k C_k^{(λ)}(u)` for `r < d`. Since `P_l` is
//! orthogonal to polynomials of degree `< l` and parity selects `k − l` even, only `k = l + 2j`
//! survive:
//! $$ f_{nl}(d) ≈ \sum_{j=0}^{J−1} A_{nlj}\, d^{−(p+l+2j)}, \qquad
//!    A_{nlj} = 2π\, M_n(l + 2j + 2) \int_{−1}^1 P_l(u)\, C^{(p/2)}_{l+2j}(u)\, du, $$
//! `M_n(q) = ∫ r^q R̃_n dr` ([`GtoBasis::moments`]); the `u` integral exactly by Gauss–Legendre.
//! For `p = 1`, `C^{(1/2)}_k = P_k`: one term, `A_nl0 = 4π M_n(l+2)/(2l+1)`, exact up to the
//! smearing and the basis mass beyond `d` — the multipole limit. Gradients:
//! `f'_nl = −Σ_j (p+l+2j) A_nlj d^{−(p+l+2j)−1}`.
//!
//! Errors at distance `d`: the smearing term (`~ Q(p/2, (d−R)²/2σ²)` for a basis of extent `R`), the
//! basis mass beyond `d` (where the expansion does not hold), and the truncation after `J` terms;
//! since `M_n(q)` grows like `Γ(q/2)` the series is asymptotic, its terms shrinking until
//! `j ≈ d²/2σ_w²` (`σ_w` the widest GTO). All three decrease with `d`; the table
//! ([`super::LodeRadialTable`]) picks the switch distance and `J` by checking against the exact
//! integral. Not defined for `d ≤ 0` (NaN).

use ndarray::ArrayViewMut2;

use super::{GtoBasis, RadialIntegral};
use crate::bail_param;
use crate::error::Result;
use crate::math::power_law::MAX_EXPONENT;
use crate::math::quadrature::gauss_legendre;
use crate::math::spherical_harmonics::MAX_L;

/// Largest number of series terms kept.
pub const MAX_TAIL_TERMS: usize = 40;

/// The multipole series `Σ_j A_nlj d^{−(p+l+2j)}`, shape `(n_max, l_max + 1)`, `x = d > 0`.
#[derive(Debug, Clone)]
pub struct MultipoleTail {
    n_max: usize,
    l_max: usize,
    p: u32,
    n_terms: usize,
    /// `A_nlj`, index `(n (l_max + 1) + l) n_terms + j`
    coefficients: Vec<f64>,
}

/// `C_k^{(λ)}(u)` for `k = 0..out.len()`, by the three-term recurrence
/// `k C_k = 2u(k + λ − 1) C_{k−1} − (k + 2λ − 2) C_{k−2}`.
fn gegenbauer(lambda: f64, u: f64, out: &mut [f64]) {
    if out.is_empty() {
        return;
    }
    out[0] = 1.0;
    if out.len() > 1 {
        out[1] = 2.0 * lambda * u;
    }
    for k in 2..out.len() {
        let kf = k as f64;
        out[k] = (2.0 * u * (kf + lambda - 1.0) * out[k - 1]
            - (kf + 2.0 * lambda - 2.0) * out[k - 2])
            / kf;
    }
}

impl MultipoleTail {
    /// The series for `basis`, `l ≤ l_max ≤ 20`, exponent `1 ≤ p ≤ 6`, with `n_terms` terms
    /// (`1 ≤ n_terms ≤` [`MAX_TAIL_TERMS`]; `p = 1` keeps exactly one, the others vanish).
    pub fn new(basis: &GtoBasis, l_max: usize, p: u32, n_terms: usize) -> Result<Self> {
        if p == 0 || p > MAX_EXPONENT {
            bail_param!("the multipole tail needs 1 <= p <= {MAX_EXPONENT}, got {p}");
        }
        if l_max > MAX_L {
            bail_param!("l_max must be at most {MAX_L}, got {l_max}");
        }
        if n_terms == 0 || n_terms > MAX_TAIL_TERMS {
            bail_param!("the multipole tail needs 1..={MAX_TAIL_TERMS} terms, got {n_terms}");
        }
        let n_terms = if p == 1 { 1 } else { n_terms };
        let n_max = basis.n_max();
        let lambda = 0.5 * p as f64;
        // ∫ P_l C_{l+2j} du: degree ≤ 2 l_max + 2(n_terms − 1), exact with l_max + n_terms nodes
        let k_max = l_max + 2 * (n_terms - 1);
        let (nodes, weights) = gauss_legendre(l_max + n_terms + 1);
        let mut angular = vec![0.0; (l_max + 1) * n_terms];
        let mut legendre = vec![0.0; l_max + 1];
        let mut gegen = vec![0.0; k_max + 1];
        for (&u, &w) in nodes.iter().zip(&weights) {
            gegenbauer(0.5, u, &mut legendre);
            gegenbauer(lambda, u, &mut gegen);
            for l in 0..=l_max {
                for j in 0..n_terms {
                    angular[l * n_terms + j] += w * legendre[l] * gegen[l + 2 * j];
                }
            }
        }
        if p == 1 {
            // exactly the Legendre orthogonality 2/(2l+1)
            for (l, value) in angular.iter_mut().enumerate() {
                *value = 2.0 / (2 * l + 1) as f64;
            }
        }
        let mut coefficients = vec![0.0; n_max * (l_max + 1) * n_terms];
        for l in 0..=l_max {
            for j in 0..n_terms {
                let moments = basis.moments((l + 2 * j + 2) as f64)?;
                for (n, moment) in moments.iter().enumerate() {
                    coefficients[(n * (l_max + 1) + l) * n_terms + j] =
                        2.0 * std::f64::consts::PI * moment * angular[l * n_terms + j];
                }
            }
        }
        Ok(MultipoleTail {
            n_max,
            l_max,
            p,
            n_terms,
            coefficients,
        })
    }

    /// The exponent `p`.
    pub fn exponent(&self) -> u32 {
        self.p
    }

    /// Number of series terms `J`.
    pub fn n_terms(&self) -> usize {
        self.n_terms
    }

    /// `A_nlj`.
    pub fn coefficient(&self, n: usize, l: usize, j: usize) -> f64 {
        self.coefficients[(n * (self.l_max + 1) + l) * self.n_terms + j]
    }

    /// Size of term `j` at distance `d`: `max_nl |A_nlj| d^{−(p+l+2j)}` (0 for `j ≥ n_terms`).
    pub fn term_size(&self, j: usize, d: f64) -> f64 {
        if j >= self.n_terms {
            return 0.0;
        }
        let mut size = 0.0_f64;
        for n in 0..self.n_max {
            for l in 0..=self.l_max {
                let power = (self.p as usize + l + 2 * j) as i32;
                size = size.max(self.coefficient(n, l, j).abs() * d.powi(-power));
            }
        }
        size
    }

    /// The same series keeping only the first `n_terms` terms (at least one).
    pub fn truncated(&self, n_terms: usize) -> MultipoleTail {
        let n_terms = n_terms.clamp(1, self.n_terms);
        let mut coefficients = Vec::with_capacity(self.n_max * (self.l_max + 1) * n_terms);
        for block in self.coefficients.chunks_exact(self.n_terms) {
            coefficients.extend_from_slice(&block[..n_terms]);
        }
        MultipoleTail {
            n_terms,
            coefficients,
            ..*self
        }
    }

    /// Values (and gradients) into flat slices of length `n_max (l_max + 1)`, index
    /// `n (l_max + 1) + l`; `d > 0` (NaN otherwise).
    pub fn compute_flat(&self, d: f64, values: &mut [f64], mut gradients: Option<&mut [f64]>) {
        let lp = self.l_max + 1;
        assert_eq!(
            values.len(),
            self.n_max * lp,
            "values must have length n_max (l_max + 1)"
        );
        if let Some(g) = gradients.as_ref() {
            assert_eq!(
                g.len(),
                self.n_max * lp,
                "gradients must have length n_max (l_max + 1)"
            );
        }
        if d.is_nan() || d <= 0.0 {
            values.fill(f64::NAN);
            if let Some(g) = gradients.as_mut() {
                g.fill(f64::NAN);
            }
            return;
        }
        let inverse = 1.0 / d;
        let inverse2 = inverse * inverse;
        for (index, (value, a)) in values
            .iter_mut()
            .zip(self.coefficients.chunks_exact(self.n_terms))
            .enumerate()
        {
            let l = index % lp;
            let leading = self.p as usize + l;
            let base = inverse.powi(leading as i32);
            // Σ_j A_j x^j and Σ_j (leading + 2j) A_j x^j, x = d^{−2}
            let (mut sum, mut weighted, mut power) = (0.0, 0.0, 1.0);
            for (j, &coefficient) in a.iter().enumerate() {
                sum += coefficient * power;
                weighted += (leading + 2 * j) as f64 * coefficient * power;
                power *= inverse2;
            }
            *value = base * sum;
            if let Some(g) = gradients.as_mut() {
                g[index] = -base * inverse * weighted;
            }
        }
    }
}

impl RadialIntegral for MultipoleTail {
    fn n_max(&self) -> usize {
        self.n_max
    }

    fn l_max(&self) -> usize {
        self.l_max
    }

    /// `x = d > 0` (Å); NaN for `d ≤ 0` or NaN.
    fn compute(&self, d: f64, values: ArrayViewMut2<f64>, gradients: Option<ArrayViewMut2<f64>>) {
        super::check_shapes(&values, &gradients, self.n_max, self.l_max);
        super::compute_with_flat(values, gradients, |v, g| self.compute_flat(d, v, g));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::quadrature::gauss_legendre as reference_gauss_legendre;
    use crate::radial::lode_pair::tests::{evaluate, max_abs, max_difference};
    use crate::radial::{LodeKernel, LodePairRadialIntegral};

    /// Gegenbauer polynomials against closed forms: C^{(1/2)} = Legendre, C^{(1)} = Chebyshev U,
    /// C_2^{(λ)} = 2λ(λ+1)u² − λ.
    #[test]
    fn gegenbauer_closed_forms() {
        let mut out = vec![0.0; 6];
        for &u in &[-0.9, -0.2, 0.0, 0.37, 1.0] {
            gegenbauer(0.5, u, &mut out);
            assert!((out[2] - 0.5 * (3.0 * u * u - 1.0)).abs() < 1e-15);
            assert!((out[3] - 0.5 * (5.0 * u * u * u - 3.0 * u)).abs() < 1e-15);
            gegenbauer(1.0, u, &mut out);
            let theta = f64::acos(u);
            for (k, &value) in out.iter().enumerate() {
                let expected = if (1.0 - u * u).abs() < 1e-15 {
                    (k as f64 + 1.0) * u.powi(k as i32)
                } else {
                    ((k as f64 + 1.0) * theta).sin() / theta.sin()
                };
                assert!((value - expected).abs() < 1e-13, "U_{k}({u})");
            }
            for lambda in [1.5, 2.0, 3.0] {
                gegenbauer(lambda, u, &mut out);
                let expected = 2.0 * lambda * (lambda + 1.0) * u * u - lambda;
                assert!((out[2] - expected).abs() < 1e-13);
            }
        }
    }

    /// The Gegenbauer expansion itself: Σ_k t^k C_k(u) = (1 − 2ut + t²)^{−λ} for t = 0.3.
    #[test]
    fn generating_function() {
        let mut out = vec![0.0; 60];
        for p in 1..=6 {
            let lambda = 0.5 * p as f64;
            for &u in &[-1.0, -0.4, 0.5, 1.0] {
                let t: f64 = 0.3;
                gegenbauer(lambda, u, &mut out);
                let sum: f64 = out
                    .iter()
                    .enumerate()
                    .map(|(k, c)| t.powi(k as i32) * c)
                    .sum();
                let expected = (1.0 - 2.0 * u * t + t * t).powf(-lambda);
                assert!(((sum - expected) / expected).abs() < 1e-13, "p={p} u={u}");
            }
        }
    }

    /// p = 1: exactly the multipole formula 4π/(2l+1) d^{−(l+1)} ∫ r^{l+2} R̃_n dr, with the
    /// moments by an independent radial quadrature (1e-12 relative).
    #[test]
    fn p1_is_the_multipole_formula() {
        let basis = GtoBasis::new(5, 3.0).unwrap();
        let tail = MultipoleTail::new(&basis, 4, 1, 10).unwrap();
        assert_eq!(tail.n_terms(), 1);
        let (nodes, weights) = reference_gauss_legendre(16);
        let mut radial = vec![0.0; 5];
        for &d in &[8.0, 20.0] {
            let (values, gradients) = evaluate(&tail, d);
            for l in 0..=4 {
                let mut moments = [0.0; 5];
                for panel in 0..400 {
                    for (x, w) in nodes.iter().zip(&weights) {
                        let r = 0.1 * (panel as f64 + 0.5 * (x + 1.0));
                        basis.evaluate(r, &mut radial);
                        for n in 0..5 {
                            moments[n] += 0.05 * w * r.powi(l as i32 + 2) * radial[n];
                        }
                    }
                }
                for n in 0..5 {
                    let expected = 4.0 * std::f64::consts::PI / (2 * l + 1) as f64
                        * d.powi(-(l as i32 + 1))
                        * moments[n];
                    let scale = expected.abs().max(1e-300);
                    assert!(
                        (values[[n, l]] - expected).abs() < 1e-12 * scale,
                        "n={n} l={l}"
                    );
                    let expected_gradient = -(l as f64 + 1.0) / d * expected;
                    assert!((gradients[[n, l]] - expected_gradient).abs() < 1e-12 * scale / d);
                }
            }
        }
    }

    /// p = 1..6: the series agrees with the exact k-quadrature far from the basis (d = 16, 24 Å for
    /// r_c = 3 Å, σ = 0.8 Å). Tolerance: 1e-12 of the block's largest value plus 1e-14 of the table's
    /// (at d = 0; the exact integral's error is absolute, ~1e-15 of that), values and `d ×` gradients.
    #[test]
    fn matches_exact_far_away() {
        let basis = GtoBasis::new(5, 3.0).unwrap();
        for p in 1..=6 {
            let tail = MultipoleTail::new(&basis, 3, p, 30).unwrap();
            let kernel = LodeKernel::power_law(p, 0.8).unwrap();
            let exact = LodePairRadialIntegral::new(&basis, 3, kernel, 24.0).unwrap();
            let table_scale = max_abs(&evaluate(&exact, 0.0).0);
            for &d in &[16.0, 24.0] {
                let (values, gradients) = evaluate(&tail, d);
                let (expected, expected_gradients) = evaluate(&exact, d);
                let tolerance = 1e-12 * max_abs(&expected) + 1e-14 * table_scale;
                let error = max_difference(&values, &expected);
                let gradient_error = max_difference(&gradients, &expected_gradients) * d;
                println!(
                    "p={p} d={d}: {:.2e} {:.2e} of the tolerance",
                    error / tolerance,
                    gradient_error / tolerance
                );
                assert!(
                    error < tolerance && gradient_error < tolerance,
                    "p={p} d={d}: {error:e} {gradient_error:e}"
                );
            }
        }
    }

    #[test]
    fn truncation_and_validation() {
        let basis = GtoBasis::new(4, 3.0).unwrap();
        assert!(MultipoleTail::new(&basis, 3, 0, 5).is_err());
        assert!(MultipoleTail::new(&basis, 3, 7, 5).is_err());
        assert!(MultipoleTail::new(&basis, 3, 2, 0).is_err());
        assert!(MultipoleTail::new(&basis, 3, 2, MAX_TAIL_TERMS + 1).is_err());
        let tail = MultipoleTail::new(&basis, 3, 4, 12).unwrap();
        let short = tail.truncated(3);
        assert_eq!(short.n_terms(), 3);
        for n in 0..4 {
            for l in 0..=3 {
                for j in 0..3 {
                    assert_eq!(short.coefficient(n, l, j), tail.coefficient(n, l, j));
                }
            }
        }
        assert!(tail.term_size(5, 10.0) < tail.term_size(1, 10.0));
        let (values, _) = evaluate(&tail, 0.0);
        assert!(values.iter().all(|v| v.is_nan()));
    }
}
