use super::*;
use crate::expansion::{SoapCalculator, SoapHypers, SpeciesMap};
use crate::systems::System;

/// A SOAP power spectrum's Jacobians by the pair kernel equal those of the row kernel (the
/// coefficient Jacobian contracted row by row) to 1e-13 of the largest entry — a missing
/// share, a wrong weight or a sign would be of the order of the entries — with the same
/// samples, on a small triclinic cell (atoms see many images of themselves and of each other),
/// a finite molecule and three species, for positions and strain together and alone; and the
/// pair kernel gives bitwise the same numbers on one and two threads.
#[test]
fn pair_kernel_equals_row_kernel() {
    let soap = SoapCalculator::new(SoapHypers {
        cutoff: 3.6,
        smearing: 0.4,
        n_max: 4,
        l_max: 3,
        cutoff_width: 0.9,
        center_weight: 0.6,
        radial_accuracy: 1e-10,
        ..SoapHypers::default()
    })
    .unwrap();
    let cell = [[3.1, 0.2, 0.1], [0.4, 2.9, -0.3], [0.2, 0.5, 3.3]];
    let periodic = System::new(
        vec![
            [0.1, 0.2, 0.3],
            [1.4, 1.1, 0.9],
            [2.2, 0.4, 2.0],
            [0.7, 2.3, 1.5],
        ],
        vec![1, 8, 1, 6],
        cell,
        [true; 3],
    )
    .unwrap();
    let molecule = System::new(
        vec![
            [0.0, 0.0, 0.0],
            [1.1, 0.3, -0.2],
            [-0.4, 1.2, 0.5],
            [0.6, -0.9, 1.3],
            [4.5, 0.0, 0.0],
        ],
        vec![8, 1, 1, 6, 1],
        [[0.0; 3]; 3],
        [false; 3],
    )
    .unwrap();
    let numbers = [1, 6, 8];
    let species = SpeciesMap::new(&numbers).unwrap();
    let cases = [
        (
            vec![periodic.clone(), periodic.clone()],
            vec!["positions", "strain"],
        ),
        (vec![periodic.clone()], vec!["strain"]),
        (vec![periodic, molecule], vec!["positions"]),
    ];
    for (systems, names) in cases {
        let request = GradientRequest::from_names(&names, 1e9).unwrap();
        let c = soap.compute(&systems, &species, 1).unwrap().values;
        let rows = soap.row_jacobian(&systems, &species, &request).unwrap();
        assert!(rows.pair_rows().is_some(), "SOAP rows are pair sums");
        let first = (&rows as &dyn RowJacobian, c.view(), &numbers[..]);
        let (p_pairs, s_pairs) = jacobians_by(first, None, &request, true).unwrap();
        let (p_rows, s_rows) = jacobians_by(first, None, &request, false).unwrap();
        let close = |a: &[f64], b: &[f64]| {
            let scale = b.iter().fold(0.0f64, |m, x| m.max(x.abs()));
            assert!(scale > 1e-3, "a test that cannot fail");
            for (x, y) in a.iter().zip(b) {
                assert!((x - y).abs() <= 1e-13 * scale, "{x} vs {y} ({names:?})");
            }
        };
        assert_eq!(p_pairs.is_some(), request.positions);
        assert_eq!(s_pairs.is_some(), request.strain);
        if let (Some((samples, a)), Some((expected_samples, b))) = (&p_pairs, &p_rows) {
            assert_eq!(samples, expected_samples);
            assert_eq!(a.shape(), b.shape());
            close(a.as_slice().unwrap(), b.as_slice().unwrap());
        }
        if let (Some(a), Some(b)) = (&s_pairs, &s_rows) {
            assert_eq!(a.shape(), b.shape());
            close(a.as_slice().unwrap(), b.as_slice().unwrap());
        }
        let (p_two, s_two) =
            crate::threads::with_threads(2, || jacobians_by(first, None, &request, true))
                .unwrap()
                .unwrap();
        let bits = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
        if let (Some((_, a)), Some((_, b))) = (&p_pairs, &p_two) {
            assert!(bits(a.as_slice().unwrap(), b.as_slice().unwrap()));
        }
        if let (Some(a), Some(b)) = (&s_pairs, &s_two) {
            assert!(bits(a.as_slice().unwrap(), b.as_slice().unwrap()));
        }
    }
}
