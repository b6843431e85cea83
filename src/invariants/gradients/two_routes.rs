use super::*;
use crate::expansion::{SoapCalculator, SoapHypers, SpeciesMap};
use crate::systems::System;

/// The row-by-row ν = 2 Jacobians (the batched kernel of `row_kernel`) equal those built
/// from the stored SOAP Jacobians entry by entry: bitwise for positions (the same products
/// summed in the same order), to 1e-13 of the largest entry for strain; one expansion and
/// two with different cutoffs (merged samples).
#[test]
fn row_by_row_equals_stored_jacobians() {
    let hypers = |cutoff: f64| SoapHypers {
        cutoff,
        smearing: 0.4,
        n_max: 3,
        l_max: 2,
        cutoff_width: 0.8,
        center_weight: 1.0,
        radial_accuracy: 1e-10,
        ..SoapHypers::default()
    };
    let narrow = SoapCalculator::new(hypers(3.0)).unwrap();
    let wide = SoapCalculator::new(hypers(4.0)).unwrap();
    let cell = [[3.9, 0.2, 0.0], [0.3, 4.2, 0.1], [0.0, 0.4, 4.1]];
    let positions = vec![
        [0.1, 0.2, 0.3],
        [1.5, 1.0, 0.8],
        [2.6, 2.9, 1.9],
        [0.4, 2.5, 3.0],
    ];
    let systems = vec![System::new(positions, vec![1, 8, 1, 8], cell, [true; 3]).unwrap()];
    let species = SpeciesMap::new(&[1, 8]).unwrap();
    let request = GradientRequest::from_names(&["positions", "strain"], 1e9).unwrap();
    let c1 = narrow.compute(&systems, &species, 1).unwrap().values;
    let c2 = wide.compute(&systems, &species, 1).unwrap().values;
    let g1 = narrow
        .compute_gradients(&systems, &species, &request, 1)
        .unwrap();
    let g2 = wide
        .compute_gradients(&systems, &species, &request, 1)
        .unwrap();
    let rows1 = narrow.row_jacobian(&systems, &species, &request).unwrap();
    let rows2 = wide.row_jacobian(&systems, &species, &request).unwrap();
    for mixed in [false, true] {
        let second = mixed.then_some((&rows2 as &dyn RowJacobian, c2.view(), &[1, 8][..]));
        // the row kernel (one expansion with itself would take the pair kernel: pair_route.rs)
        let (positions, strain) =
            jacobians_by((&rows1, c1.view(), &[1, 8]), second, &request, false).unwrap();
        let (samples, positions) = positions.unwrap();
        let p1 = g1.positions.as_ref().unwrap();
        let p2 = g2.positions.as_ref().unwrap();
        let stored_second =
            mixed.then_some((c2.view(), &[1, 8][..], p2.samples.view(), p2.values.view()));
        let (stored_samples, stored) = power_spectrum_positions_gradient(
            c1.view(),
            &[1, 8],
            p1.samples.view(),
            p1.values.view(),
            stored_second,
        )
        .unwrap();
        assert_eq!(samples, stored_samples);
        let scale = stored.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        assert!(scale > 0.0);
        for (a, b) in positions.iter().zip(stored.iter()) {
            assert_eq!(a.to_bits(), b.to_bits(), "{a} vs {b}");
        }
        let s1 = g1.strain.as_ref().unwrap();
        let s2 = g2.strain.as_ref().unwrap();
        let stored_second = mixed.then_some((c2.view(), &[1, 8][..], s2.view()));
        let stored =
            power_spectrum_strain_gradient(c1.view(), &[1, 8], s1.view(), stored_second).unwrap();
        let scale = stored.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        for (a, b) in strain.unwrap().iter().zip(stored.iter()) {
            assert!((a - b).abs() <= 1e-13 * scale, "{a} vs {b}");
        }
    }
}
