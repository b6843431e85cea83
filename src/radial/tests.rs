//! Tests shared by the radial integrals: quadrature references, finite differences, splines.

pub(super) use crate::math::quadrature::gauss_legendre;
use ndarray::Array2;

use super::*;

/// Values and gradients of a radial integral at `x`.
fn evaluate(integral: &dyn RadialIntegral, x: f64) -> (Array2<f64>, Array2<f64>) {
    let shape = (integral.n_max(), integral.l_max() + 1);
    let mut values = Array2::zeros(shape);
    let mut gradients = Array2::zeros(shape);
    integral.compute(x, values.view_mut(), Some(gradients.view_mut()));
    (values, gradients)
}

/// Legendre polynomials P_0..=P_l_max at u.
fn legendre(l_max: usize, u: f64) -> Vec<f64> {
    let mut p = vec![1.0, u];
    for l in 1..l_max {
        let lf = l as f64;
        p.push(((2.0 * lf + 1.0) * u * p[l] - lf * p[l - 1]) / (lf + 1.0));
    }
    p.truncate(l_max + 1);
    p
}

/// f_nl(d) = 2π ∫ r² R̃_n(r) ∫ P_l(u) g(√(r²+d²−2rdu)) du dr by composite Gauss–Legendre:
/// in r on panels of width σ/2 around d, in u through t = c(1 − u), `c = rd/σ²`, on panels of
/// width 2 in t up to min(2c, 80) (the integrand is ∝ e^{−t}: sharply peaked at u = 1 for large c).
fn soap_by_quadrature(basis: &GtoBasis, l_max: usize, sigma: f64, d: f64) -> Array2<f64> {
    let n_max = basis.n_max();
    let (nodes, weights) = gauss_legendre(16);
    let r_max = d + 12.0 * sigma;
    let r_min = (d - 12.0 * sigma).max(0.0);
    let n_panels = ((r_max - r_min) / (0.5 * sigma)).ceil() as usize;
    let width = (r_max - r_min) / n_panels as f64;
    let norm = (std::f64::consts::PI * sigma * sigma).powf(-0.75);
    let sigma2 = sigma * sigma;
    let mut result = Array2::zeros((n_max, l_max + 1));
    let mut radial = vec![0.0; n_max];
    for panel in 0..n_panels {
        for (&x, &w) in nodes.iter().zip(&weights) {
            let r = r_min + width * (panel as f64 + 0.5 * (x + 1.0));
            let wr = 0.5 * width * w;
            basis.evaluate(r, &mut radial);
            let mut angular = vec![0.0; l_max + 1];
            let c = (r * d / sigma2).max(1e-300);
            let t_max = (2.0 * c).min(80.0);
            let n_t = (t_max / 2.0).ceil().max(1.0) as usize;
            let t_width = t_max / n_t as f64;
            // g = norm e^{−(r−d)²/2σ²} e^{−t}
            let gauss = norm * (-0.5 * (r - d) * (r - d) / sigma2).exp();
            for t_panel in 0..n_t {
                for (&y, &wy) in nodes.iter().zip(&weights) {
                    let t = t_width * (t_panel as f64 + 0.5 * (y + 1.0));
                    let u = 1.0 - t / c;
                    let weight = 0.5 * t_width * wy / c * gauss * (-t).exp();
                    for (l, p) in legendre(l_max, u).iter().enumerate() {
                        angular[l] += weight * p;
                    }
                }
            }
            for n in 0..n_max {
                for l in 0..=l_max {
                    result[[n, l]] +=
                        2.0 * std::f64::consts::PI * wr * r * r * radial[n] * angular[l];
                }
            }
        }
    }
    result
}

/// Max over (n, l) of |a − b| / max|b| in the same (n) row... relative to the largest |b|.
fn relative_to_max(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
    let scale = b.iter().fold(0.0_f64, |m, v| m.max(v.abs())).max(1e-300);
    a.iter()
        .zip(b)
        .fold(0.0_f64, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

/// Central finite difference of the values, step `h`: error O(h² f''').
fn finite_difference(integral: &dyn RadialIntegral, x: f64, h: f64) -> Array2<f64> {
    let (plus, _) = evaluate(integral, x + h);
    let (minus, _) = evaluate(integral, x - h);
    (plus - minus) / (2.0 * h)
}

#[test]
fn soap_matches_quadrature() {
    for &(n_max, l_max, cutoff, sigma) in &[(6, 4, 6.0, 0.5), (4, 6, 4.0, 0.3), (8, 3, 5.0, 1.0)] {
        let basis = GtoBasis::new(n_max, cutoff).unwrap();
        let soap = SoapRadialIntegral::new(&basis, l_max, sigma).unwrap();
        for &d in &[0.0, 1e-3, 0.4, 1.7, cutoff, 1.5 * cutoff] {
            let (values, _) = evaluate(&soap, d);
            let reference = soap_by_quadrature(&basis, l_max, sigma, d);
            let error = relative_to_max(&values, &reference);
            assert!(error < 1e-11, "n_max={n_max} σ={sigma} d={d}: {error:e}");
        }
    }
}

#[test]
fn soap_at_zero_only_l0() {
    let basis = GtoBasis::new(5, 5.0).unwrap();
    let soap = SoapRadialIntegral::new(&basis, 3, 0.4).unwrap();
    let (values, gradients) = evaluate(&soap, 0.0);
    for n in 0..5 {
        assert!(values[[n, 0]] != 0.0);
        for l in 1..=3 {
            assert_eq!(values[[n, l]], 0.0);
        }
        assert_eq!(gradients[[n, 0]], 0.0);
        assert_eq!(gradients[[n, 2]], 0.0);
    }
    // gradients at 0 agree with one-sided differences
    let (at_h, _) = evaluate(&soap, 1e-6);
    for n in 0..5 {
        let slope = (at_h[[n, 1]] - values[[n, 1]]) / 1e-6;
        assert!((slope - gradients[[n, 1]]).abs() < 1e-6 * gradients[[n, 1]].abs().max(1.0));
    }
}

#[test]
fn soap_gradients_match_finite_differences() {
    for &(cutoff, sigma) in &[(6.0, 0.5), (10.0, 0.1), (3.0, 1.2)] {
        let basis = GtoBasis::new(6, cutoff).unwrap();
        let soap = SoapRadialIntegral::new(&basis, 5, sigma).unwrap();
        let h = 1e-4 * sigma;
        for &d in &[0.3 * sigma, 0.77, 2.3, cutoff, 2.0 * cutoff] {
            let (values, gradients) = evaluate(&soap, d);
            let fd = finite_difference(&soap, d, h);
            // scale of the gradient block: max|f| / σ
            let scale = values.iter().fold(0.0_f64, |m, v| m.max(v.abs())) / sigma;
            let error = (&fd - &gradients)
                .iter()
                .fold(0.0_f64, |m, v| m.max(v.abs()));
            assert!(
                error < 1e-7 * scale.max(1e-300),
                "σ={sigma} d={d}: {error:e} vs {scale:e}"
            );
        }
    }
}

#[test]
fn soap_far_and_sharp_stays_finite() {
    let basis = GtoBasis::new(8, 10.0).unwrap();
    let soap = SoapRadialIntegral::new(&basis, 10, 0.1).unwrap();
    for &d in &[5.0, 9.99, 15.0, 30.0, 60.0, 300.0] {
        let (values, gradients) = evaluate(&soap, d);
        assert!(
            values.iter().chain(gradients.iter()).all(|v| v.is_finite()),
            "d={d}"
        );
    }
    // a δ-like density: f_nl(d) → (2πσ²)^{3/4}·2^{3/2}... compare with R̃_n(d)·(4πσ²)^{3/4}·Y-normalisation:
    // ∫ R̃_n Y_lm g(r − d) d³r ≈ (4πσ²)^{3/4} R̃_n(d) Y_lm(d̂) for σ → 0.
    let d = 4.3;
    let (values, _) = evaluate(&soap, d);
    let mut radial = vec![0.0; 8];
    basis.evaluate(d, &mut radial);
    let factor = (4.0 * std::f64::consts::PI * 0.01_f64).powf(0.75);
    for n in 0..8 {
        let expected = factor * radial[n];
        assert!((values[[n, 0]] - expected).abs() < 2e-2 * factor, "n={n}");
    }
}

#[test]
fn spline_reaches_accuracy() {
    let basis = GtoBasis::new(6, 6.0).unwrap();
    let soap = SoapRadialIntegral::new(&basis, 4, 0.5).unwrap();
    for &accuracy in &[1e-6, 1e-10] {
        let splined = SplinedRadialIntegral::new(&soap, 6.0, accuracy).unwrap();
        assert!(splined.max_error() <= accuracy);
        let mut worst = 0.0_f64;
        let mut worst_gradient = 0.0_f64;
        for i in 0..997 {
            let x = 6.0 * (i as f64 + 0.31) / 997.0;
            let (exact, exact_gradient) = evaluate(&soap, x);
            let (approx, approx_gradient) = evaluate(&splined, x);
            worst = worst.max(
                (&exact - &approx)
                    .iter()
                    .fold(0.0, |m: f64, v| m.max(v.abs())),
            );
            worst_gradient = worst_gradient.max(
                (&exact_gradient - &approx_gradient)
                    .iter()
                    .fold(0.0, |m: f64, v| m.max(v.abs())),
            );
        }
        println!(
            "accuracy {accuracy:e}: {} intervals, max error {worst:e}, max gradient error {worst_gradient:e}",
            splined.n_intervals()
        );
        assert!(worst <= accuracy, "{worst:e}");
    }
    let splined = SplinedRadialIntegral::new(&soap, 6.0, 1e-8).unwrap();
    let (values, gradients) = evaluate(&splined, 6.5);
    assert!(values.iter().chain(gradients.iter()).all(|&v| v == 0.0));
    // non-contiguous outputs take the same values
    let mut transposed = Array2::zeros((5, 6));
    splined.compute(2.2, transposed.view_mut().reversed_axes(), None);
    let (direct, _) = evaluate(&splined, 2.2);
    assert_eq!(transposed.t(), direct);
}

/// `compute_many` and `compute_many_with_gradients` equal `compute` point by point, bitwise.
fn check_many(integral: &dyn RadialIntegral, xs: &[f64]) {
    let width = integral.n_max() * (integral.l_max() + 1);
    let mut many = vec![f64::NAN; xs.len() * width];
    integral.compute_many(xs, &mut many);
    let mut with_values = vec![f64::NAN; xs.len() * width];
    let mut with_gradients = vec![f64::NAN; xs.len() * width];
    integral.compute_many_with_gradients(xs, &mut with_values, &mut with_gradients);
    for (p, &x) in xs.iter().enumerate() {
        let (one, slope) = evaluate(integral, x);
        let range = p * width..(p + 1) * width;
        for (a, b) in many[range.clone()].iter().zip(one.iter()) {
            assert_eq!(a.to_bits(), b.to_bits(), "x = {x}");
        }
        for (a, b) in with_values[range.clone()].iter().zip(one.iter()) {
            assert_eq!(a.to_bits(), b.to_bits(), "x = {x}");
        }
        for (a, b) in with_gradients[range].iter().zip(slope.iter()) {
            assert_eq!(a.to_bits(), b.to_bits(), "x = {x}");
        }
    }
}

#[test]
fn many_points_match_single_points() {
    let basis = GtoBasis::new(4, 3.0).unwrap();
    let soap = SoapRadialIntegral::new(&basis, 3, 0.5).unwrap();
    let splined = SplinedRadialIntegral::new(&soap, 3.0, 1e-8).unwrap();
    let xs = [0.0, 0.1, 1.7, 2.99, 3.0, 3.5];
    // the trait's default (exact integral) and the spline's override
    check_many(&soap, &xs);
    check_many(&splined, &xs);
    check_many(&splined, &xs[..3]);
    // the LODE tables: spline + tail (finite), spline + zero (Ewald short range)
    let finite = LodeRadialTable::finite(&basis, 3, 1, 1.0, 1e-6).unwrap();
    let far = [
        0.2,
        2.0,
        finite.tail_start(),
        finite.tail_start() + 1.0,
        40.0,
    ];
    check_many(&finite, &far);
    check_many(&finite, &far[..3]);
    let short = LodeRadialTable::ewald_short_range(&basis, 3, 1, 1.0, 2.0, 1e-6).unwrap();
    let beyond = [0.0, 1.0, short.reach() - 0.01, short.reach() + 0.5];
    check_many(&short, &beyond);
    check_many(&short, &beyond[..3]);
}

#[test]
fn spline_invalid_parameters() {
    let basis = GtoBasis::new(3, 4.0).unwrap();
    let soap = SoapRadialIntegral::new(&basis, 2, 0.5).unwrap();
    assert!(SplinedRadialIntegral::new(&soap, 4.0, 0.0).is_err());
    assert!(SplinedRadialIntegral::new(&soap, 4.0, -1.0).is_err());
    assert!(SplinedRadialIntegral::new(&soap, 0.0, 1e-6).is_err());
    assert!(SplinedRadialIntegral::new(&soap, f64::NAN, 1e-6).is_err());
    // unreachable: below double precision of values of order 1
    assert!(SplinedRadialIntegral::new(&soap, 4.0, 1e-30).is_err());
    assert!(SoapRadialIntegral::new(&basis, 21, 0.5).is_err());
    assert!(SoapRadialIntegral::new(&basis, 2, 0.0).is_err());
    assert!(SoapRadialIntegral::new(&basis, 2, f64::INFINITY).is_err());
}

/// ∫ r² R̃_n(r) j_l(kr) dr by Gauss–Legendre panels (j_l by upward recurrence for kr > l, series
/// otherwise).
fn kspace_by_quadrature(basis: &GtoBasis, l_max: usize, k: f64) -> Array2<f64> {
    fn spherical_bessel(l_max: usize, x: f64) -> Vec<f64> {
        if x < 1e-8 {
            let mut out = vec![0.0; l_max + 1];
            out[0] = 1.0;
            return out;
        }
        if x > l_max as f64 + 1.0 {
            let mut j = vec![x.sin() / x, x.sin() / (x * x) - x.cos() / x];
            for l in 1..l_max {
                let next = (2.0 * l as f64 + 1.0) / x * j[l] - j[l - 1];
                j.push(next);
            }
            j.truncate(l_max + 1);
            j
        } else {
            (0..=l_max)
                .map(|l| {
                    // j_l(x) = x^l Σ (−x²/2)^k / (k! (2l+2k+1)!!)
                    let mut double_factorial = 1.0;
                    for i in 1..=l {
                        double_factorial *= (2 * i + 1) as f64;
                    }
                    let mut term = x.powi(l as i32) / double_factorial;
                    let mut sum = term;
                    for s in 1..200 {
                        term *= -0.5 * x * x / (s as f64 * (2 * l + 2 * s + 1) as f64);
                        sum += term;
                        if term.abs() < 1e-18 * sum.abs() {
                            break;
                        }
                    }
                    sum
                })
                .collect()
        }
    }
    let n_max = basis.n_max();
    let (nodes, weights) = gauss_legendre(16);
    let r_max = 12.0 * basis.cutoff();
    let n_panels = 400;
    let width = r_max / n_panels as f64;
    let mut result = Array2::zeros((n_max, l_max + 1));
    let mut radial = vec![0.0; n_max];
    for panel in 0..n_panels {
        for (&x, &w) in nodes.iter().zip(&weights) {
            let r = width * (panel as f64 + 0.5 * (x + 1.0));
            basis.evaluate(r, &mut radial);
            let j = spherical_bessel(l_max, k * r);
            for n in 0..n_max {
                for l in 0..=l_max {
                    result[[n, l]] += 0.5 * width * w * r * r * radial[n] * j[l];
                }
            }
        }
    }
    result
}

#[test]
fn kspace_matches_quadrature_and_finite_differences() {
    let basis = GtoBasis::new(6, 5.0).unwrap();
    let kspace = KspaceRadialIntegral::new(&basis, 6).unwrap();
    for &k in &[0.0, 0.05, 0.8, 2.0, 4.5, 9.0] {
        let (values, gradients) = evaluate(&kspace, k);
        let reference = kspace_by_quadrature(&basis, 6, k);
        let error = relative_to_max(&values, &reference);
        assert!(error < 1e-11, "k={k}: {error:e}");
        if k > 0.0 {
            let fd = finite_difference(&kspace, k, 1e-5);
            let scale = values.iter().fold(0.0_f64, |m, v| m.max(v.abs())) * basis.cutoff();
            let error = (&fd - &gradients)
                .iter()
                .fold(0.0_f64, |m, v| m.max(v.abs()));
            assert!(error < 1e-8 * scale, "k={k}: gradient {error:e}");
        }
    }
    // I_nl(0) = δ_l0 ∫ r² R̃_n
    let (values, _) = evaluate(&kspace, 0.0);
    let moments = basis.moments(2.0).unwrap();
    for n in 0..6 {
        assert!((values[[n, 0]] - moments[n]).abs() < 1e-13 * moments[n].abs().max(1.0));
    }
}

#[test]
fn typical_soap_grid_size() {
    let basis = GtoBasis::new(6, 6.0).unwrap();
    let soap = SoapRadialIntegral::new(&basis, 4, 0.5).unwrap();
    let splined = SplinedRadialIntegral::new(&soap, 6.0, 1e-10).unwrap();
    println!(
        "r_c 6, σ 0.5, n_max 6, l_max 4, 1e-10: {} intervals",
        splined.n_intervals()
    );
    assert!(splined.n_intervals() <= 2048);
}

/// Timing of the hot path (run with `cargo test --release -- --ignored --nocapture`).
#[test]
#[ignore]
fn spline_evaluation_speed() {
    let basis = GtoBasis::new(6, 6.0).unwrap();
    let soap = SoapRadialIntegral::new(&basis, 4, 0.5).unwrap();
    let start = std::time::Instant::now();
    let splined = SplinedRadialIntegral::new(&soap, 6.0, 1e-10).unwrap();
    let build = start.elapsed();
    let (mut values, mut gradients) = (vec![0.0; 30], vec![0.0; 30]);
    let count = 2_000_000;
    let start = std::time::Instant::now();
    let mut checksum = 0.0;
    for i in 0..count {
        let x = 6.0 * ((i as f64 * 0.618_033_988_749_895) % 1.0);
        splined.compute_flat(x, &mut values, Some(&mut gradients));
        checksum += values[7] + gradients[3];
    }
    let per_call = start.elapsed().as_secs_f64() / count as f64;
    let start = std::time::Instant::now();
    let mut exact = Array2::zeros((6, 5));
    for i in 0..2000 {
        soap.compute(6.0 * (i as f64 + 0.5) / 2000.0, exact.view_mut(), None);
    }
    let exact_per_call = start.elapsed().as_secs_f64() / 2000.0;
    println!(
        "build {build:?} ({} intervals); splined {:.1} ns per x (values + gradients, 30 functions); \
         exact {:.2} µs per x (checksum {checksum:.3})",
        splined.n_intervals(),
        per_call * 1e9,
        exact_per_call * 1e6
    );
}
