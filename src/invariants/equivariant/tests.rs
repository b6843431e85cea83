use super::*;
use crate::invariants::clebsch_gordan::real_clebsch_gordan_dense;
use crate::invariants::power_spectrum;
use crate::invariants::rotations::{random_rotation, rotate_coefficients, wigner_d, Rng};
use crate::threads::with_threads;
use ndarray::Array4;

fn random_coefficients(
    rng: &mut Rng,
    n_centres: usize,
    n_species: usize,
    n_max: usize,
    l_max: usize,
) -> Array4<f64> {
    Array4::from_shape_fn(
        (n_centres, n_species, n_max, (l_max + 1) * (l_max + 1)),
        |_| rng.normal(),
    )
}

fn block(blocks: &[EquivariantBlock], lambda: usize, sigma: i32) -> &EquivariantBlock {
    blocks
        .iter()
        .find(|b| b.lambda == lambda && b.sigma == sigma)
        .unwrap_or_else(|| panic!("no block ({lambda}, {sigma})"))
}

fn max_abs(a: impl IntoIterator<Item = f64>) -> f64 {
    a.into_iter().fold(0.0, |m, x| m.max(x.abs()))
}

/// One column recomputed from the dense coefficient array, and its labels.
#[test]
fn explicit_value_and_labels() {
    let mut rng = Rng::new(1);
    let c = random_coefficients(&mut rng, 2, 2, 3, 2);
    let d = random_coefficients(&mut rng, 2, 1, 2, 3);
    let blocks = equivariant_power_spectrum(c.view(), &[1, 8], Some((d.view(), &[6])), 3).unwrap();
    // the ρ_{l=2} ⊗ V_{l=0} coupling must be there (and differs from l=0 ⊗ l=2)
    for (l1, l2) in [(2, 0), (0, 2), (2, 3), (1, 2)] {
        let lambda = 2;
        let sigma = parity(l1 as usize, l2 as usize, lambda);
        let b = block(&blocks, lambda, sigma);
        let col = (0..b.labels.nrows())
            .find(|&k| b.labels.row(k).to_vec() == vec![2, sigma, 8, 6, 1, 0, l1, l2])
            .unwrap_or_else(|| panic!("no column for l={l1}, l'={l2}"));
        let cg = real_clebsch_gordan_dense(l1 as usize, l2 as usize, 2).unwrap();
        for i in 0..2 {
            for mu in 0..5 {
                let mut expected = 0.0;
                for m1 in 0..2 * l1 as usize + 1 {
                    for m2 in 0..2 * l2 as usize + 1 {
                        expected += cg[[m1, m2, mu]]
                            * c[[i, 1, 1, (l1 * l1) as usize + m1]]
                            * d[[i, 0, 0, (l2 * l2) as usize + m2]];
                    }
                }
                let got = b.values[[i, mu, col]];
                assert!((got - expected).abs() < 1e-14, "{got} vs {expected}");
            }
        }
    }
    // every (l, l') of the triangle, all channels: block sizes
    let b = block(&blocks, 2, 1);
    let pairs = (0..=2)
        .flat_map(|l1: usize| (0..=3).map(move |l2: usize| (l1, l2)))
        .filter(|&(l1, l2)| l1.abs_diff(l2) <= 2 && 2 <= l1 + l2 && (l1 + l2) % 2 == 0)
        .count();
    assert_eq!(b.values.shape(), &[2, 5, pairs * 6 * 2]);
    assert_eq!(b.labels.ncols(), EQUIVARIANT_LABELS.len());
}

/// Rotating the coefficients by D^l(R) (Wigner matrices fitted from the real harmonics) rotates
/// every λ block by D^λ(R): 1e-12 on O(1) features (rounding is ~1e-15; a wrong phase or
/// parity convention gives O(1) errors).
#[test]
fn blocks_rotate_with_wigner_matrices() {
    let mut rng = Rng::new(2);
    let c = random_coefficients(&mut rng, 3, 2, 2, 3);
    let d = random_coefficients(&mut rng, 3, 1, 3, 2);
    for _ in 0..2 {
        let r = random_rotation(&mut rng);
        let (rc, rd) = (rotate_coefficients(&c, &r), rotate_coefficients(&d, &r));
        for (mixed, lambda_max) in [(false, 6), (true, 5)] {
            let second = mixed.then(|| (d.view(), &[8][..]));
            let second_rotated = mixed.then(|| (rd.view(), &[8][..]));
            let before = equivariant_power_spectrum(c.view(), &[1, 6], second, lambda_max).unwrap();
            let after =
                equivariant_power_spectrum(rc.view(), &[1, 6], second_rotated, lambda_max).unwrap();
            assert_eq!(before.len(), after.len());
            for (x, y) in before.iter().zip(&after) {
                let dl = wigner_d(x.lambda, &r);
                for i in 0..3 {
                    let expected = dl.dot(&x.values.index_axis(ndarray::Axis(0), i));
                    let got = y.values.index_axis(ndarray::Axis(0), i);
                    let err = max_abs((&got - &expected).iter().copied());
                    assert!(err < 1e-12, "λ={} σ={}: {err}", x.lambda, x.sigma);
                }
            }
        }
    }
}

/// Inversion `c_lm → (−1)^l c_lm`: every block picks up `σ (−1)^λ`, exactly.
#[test]
fn inversion_gives_sigma_times_parity_of_lambda() {
    let mut rng = Rng::new(3);
    let c = random_coefficients(&mut rng, 2, 1, 3, 3);
    let mut inverted = c.clone();
    for l in 0..=3usize {
        if l % 2 == 1 {
            inverted
                .slice_mut(ndarray::s![.., .., .., l * l..(l + 1) * (l + 1)])
                .mapv_inplace(|x| -x);
        }
    }
    let before = equivariant_power_spectrum(c.view(), &[1], None, 4).unwrap();
    let after = equivariant_power_spectrum(inverted.view(), &[1], None, 4).unwrap();
    for (x, y) in before.iter().zip(&after) {
        let sign = f64::from(x.sigma) * if x.lambda % 2 == 0 { 1.0 } else { -1.0 };
        assert!(x.values.iter().any(|v| v.abs() > 0.1));
        for (a, b) in x.values.iter().zip(y.values.iter()) {
            assert_eq!(*b, sign * a);
        }
    }
}

/// The (0, +1) block is the power spectrum, column by column (matched through the labels), with
/// one expansion (folded, √2 weights) and with two; 1e-14 (only rounding differs).
#[test]
fn lambda_zero_is_the_power_spectrum() {
    let mut rng = Rng::new(4);
    let c = random_coefficients(&mut rng, 3, 2, 3, 3);
    let d = random_coefficients(&mut rng, 3, 2, 2, 2);
    for mixed in [false, true] {
        let second = mixed.then(|| (d.view(), &[1, 9][..]));
        let ps = power_spectrum(c.view(), &[1, 8], second).unwrap();
        let blocks = equivariant_power_spectrum(c.view(), &[1, 8], second, 2).unwrap();
        let b = block(&blocks, 0, 1);
        assert_eq!(b.values.shape()[2], ps.values.ncols());
        for k in 0..b.labels.nrows() {
            let label = b.labels.row(k);
            assert_eq!(label[6], label[7]);
            let key = [label[2], label[3], label[4], label[5], label[6]];
            let col = (0..ps.labels.nrows())
                .find(|&j| ps.labels.row(j).to_vec() == key)
                .expect("same columns");
            for i in 0..3 {
                let (x, y) = (b.values[[i, 0, k]], ps.values[[i, col]]);
                assert!((x - y).abs() < 1e-14 * y.abs().max(1.0), "{x} vs {y}");
            }
        }
    }
}

/// Folding one expansion with itself preserves `Σ_μ Σ_columns x(i) x(j)` of every block (the
/// unfolded features are the same expansion passed twice).
#[test]
fn folded_dot_products_match_unfolded() {
    let mut rng = Rng::new(5);
    let c = random_coefficients(&mut rng, 3, 2, 2, 3);
    let folded = equivariant_power_spectrum(c.view(), &[1, 8], None, 6).unwrap();
    let full = equivariant_power_spectrum(c.view(), &[1, 8], Some((c.view(), &[1, 8])), 6).unwrap();
    assert_eq!(folded.len(), full.len());
    for (f, u) in folded.iter().zip(&full) {
        assert_eq!((f.lambda, f.sigma), (u.lambda, u.sigma));
        assert!(f.values.shape()[2] < u.values.shape()[2]);
        for i in 0..3 {
            for j in 0..3 {
                let dot = |x: &Array3<f64>| {
                    let a = x.index_axis(ndarray::Axis(0), i);
                    let b = x.index_axis(ndarray::Axis(0), j);
                    (&a * &b).sum()
                };
                let (a, b) = (dot(&f.values), dot(&u.values));
                assert!((a - b).abs() < 1e-12 * b.abs().max(1.0), "{a} vs {b}");
            }
        }
    }
}

#[test]
fn bitwise_independent_of_threads() {
    let mut rng = Rng::new(6);
    let c = random_coefficients(&mut rng, 37, 2, 3, 3);
    let d = random_coefficients(&mut rng, 37, 1, 2, 4);
    let run = |n: usize| {
        with_threads(n, || {
            equivariant_power_spectrum(c.view(), &[1, 8], Some((d.view(), &[8])), 4).unwrap()
        })
        .unwrap()
    };
    let (one, three) = (run(1), run(3));
    for (a, b) in one.iter().zip(&three) {
        assert!(a
            .values
            .iter()
            .zip(b.values.iter())
            .all(|(x, y)| x.to_bits() == y.to_bits()));
    }
}

#[test]
fn bad_inputs_are_errors() {
    let mut rng = Rng::new(7);
    let c = random_coefficients(&mut rng, 2, 1, 2, 2);
    let d = random_coefficients(&mut rng, 3, 1, 2, 1);
    let e = random_coefficients(&mut rng, 2, 1, 2, 1);
    assert!(matches!(
        equivariant_power_spectrum(c.view(), &[1], None, 5),
        Err(Error::InvalidParameter(_))
    ));
    assert!(equivariant_power_spectrum(c.view(), &[1], None, 4).is_ok());
    assert!(equivariant_power_spectrum(c.view(), &[1], Some((e.view(), &[1])), 4).is_err());
    assert!(equivariant_power_spectrum(c.view(), &[1], Some((e.view(), &[1])), 3).is_ok());
    assert!(equivariant_power_spectrum(c.view(), &[1], Some((d.view(), &[1])), 1).is_err());
    assert!(equivariant_power_spectrum(c.view(), &[1, 2], None, 1).is_err());
}

#[test]
fn flop_count_matches_the_power_spectrum_at_lambda_zero() {
    // λ = 0 only: one coefficient per (l, m), so 2 r r' Σ_l (2l+1) = 2 r r' (l_max+1)²
    assert_eq!(flop_count(3, 3, 0, false, 4, 5).unwrap(), 2.0 * 20.0 * 16.0);
}
