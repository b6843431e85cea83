use super::*;
use crate::invariants::power_spectrum;

fn random(shape: (usize, usize, usize, usize), seed: u64) -> Array4<f64> {
    let mut state = seed;
    Array4::from_shape_fn(shape, |_| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    })
}

/// Directional derivatives: the power spectrum is quadratic in the coefficients, so the
/// central difference along a direction `dc` is exact up to rounding (1e-10 with step 1e-3
/// on O(1) values): the Jacobian must equal it, for one expansion with itself (folded) and
/// for two expansions with different species, n_max and l_max. The backward pass must
/// satisfy `Σ G·∂p = Σ ḡ·dc (+ ḡ'·dc')` to rounding.
#[test]
fn power_spectrum_gradient_and_backward() {
    let (n_rows, h) = (3, 1e-3);
    let c1 = random((n_rows, 2, 3, 9), 1);
    let c2 = random((n_rows, 3, 2, 16), 2);
    let d1 = random((n_rows, 2, 3, 9), 3);
    let d2 = random((n_rows, 3, 2, 16), 4);
    let entries: Vec<GradientEntry> = (0..n_rows)
        .map(|r| GradientEntry {
            row: r,
            first: Some(r),
            second: Some(r),
        })
        .collect();
    for mixed in [false, true] {
        let compute = |t: f64| {
            let a = &c1 + &(&d1 * t);
            let b = &c2 + &(&d2 * t);
            let second = mixed.then_some((b.view(), &[1, 6, 8][..]));
            power_spectrum(a.view(), &[1, 8], second).unwrap().values
        };
        let fd = (compute(h) - compute(-h)) / (2.0 * h);
        let second = mixed.then_some((c2.view(), &[1, 6, 8][..], d2.view()));
        let jac = power_spectrum_gradient(c1.view(), &[1, 8], d1.view(), second, &entries).unwrap();
        assert_eq!(jac.dim(), fd.dim());
        for (a, b) in jac.iter().zip(fd.iter()) {
            assert!((a - b).abs() < 1e-10, "mixed {mixed}: {a} vs {b}");
        }
        let g = random((n_rows, jac.ncols(), 1, 1), 5)
            .into_shape_with_order((n_rows, jac.ncols()))
            .unwrap();
        let second = mixed.then_some((c2.view(), &[1, 6, 8][..]));
        let (bar1, bar2) = power_spectrum_backward(c1.view(), &[1, 8], second, g.view()).unwrap();
        let expected = (&g * &jac).sum();
        let mut got = (&bar1 * &d1).sum();
        if let Some(bar2) = bar2 {
            got += (&bar2 * &d2).sum();
        }
        assert!(
            (got - expected).abs() < 1e-12 * expected.abs().max(1.0),
            "{got} vs {expected}"
        );
    }
    // a missing entry of the second expansion counts as zero
    let partial = [GradientEntry {
        row: 1,
        first: None,
        second: Some(1),
    }];
    let jac = power_spectrum_gradient(
        c1.view(),
        &[1, 8],
        d1.view(),
        Some((c2.view(), &[1, 6, 8], d2.view())),
        &partial,
    )
    .unwrap();
    let zero1 = Array4::zeros(d1.raw_dim());
    let full = [GradientEntry {
        row: 1,
        first: Some(1),
        second: Some(1),
    }];
    let expected = power_spectrum_gradient(
        c1.view(),
        &[1, 8],
        zero1.view(),
        Some((c2.view(), &[1, 6, 8], d2.view())),
        &full,
    )
    .unwrap();
    assert_eq!(jac, expected);
}

#[test]
fn radial_backward_and_merge() {
    let g = Array2::from_shape_fn((2, 6), |(r, k)| (r * 6 + k) as f64);
    let bar = radial_spectrum_backward(g.view(), [2, 2, 3, 4]).unwrap();
    assert_eq!(bar[[1, 1, 2, 0]], 11.0);
    assert_eq!(bar.sum(), g.sum());
    assert!(radial_spectrum_backward(g.view(), [2, 2, 2, 4]).is_err());

    let a = Array2::from_shape_vec((3, 3), vec![0, 0, 0, 0, 0, 2, 1, 0, 1]).unwrap();
    let b = Array2::from_shape_vec((3, 3), vec![0, 0, 1, 0, 0, 2, 1, 0, 0]).unwrap();
    let (m, ia, ib) = merge_samples(a.view(), b.view()).unwrap();
    assert_eq!(m.nrows(), 5);
    assert_eq!(ia, vec![Some(0), None, Some(1), None, Some(2)]);
    assert_eq!(ib, vec![None, Some(0), Some(1), Some(2), None]);
    let unsorted = Array2::from_shape_vec((2, 3), vec![1, 0, 0, 0, 0, 0]).unwrap();
    assert!(merge_samples(unsorted.view(), b.view()).is_err());
}
