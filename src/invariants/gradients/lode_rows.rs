use super::*;
use crate::expansion::{
    Channels, LodeCalculator, LodeHypers, Method, SoapCalculator, SoapHypers, SpeciesMap,
};
use crate::systems::System;

/// LODE rows (dense: every atom of the structure) through the row-by-row ν = 2 contraction
/// equal the entry-by-entry contraction of LODE's stored Jacobian bitwise, for LODE
/// with itself and SOAP ⊗ LODE (whose sparse SOAP samples merge into the dense ones), on a
/// finite molecule and a periodic cell on the reciprocal route.
#[test]
fn lode_rows_equal_stored_jacobians() {
    let lode = LodeCalculator::new(LodeHypers {
        cutoff: 3.0,
        smearing: 1.0,
        n_max: 3,
        l_max: 2,
        method: Method::Reciprocal,
        ..LodeHypers::default()
    })
    .unwrap();
    let soap = SoapCalculator::new(SoapHypers {
        cutoff: 3.0,
        smearing: 0.4,
        n_max: 3,
        l_max: 3,
        cutoff_width: 0.8,
        ..SoapHypers::default()
    })
    .unwrap();
    let positions = vec![
        [0.1, 0.2, 0.3],
        [1.5, 1.0, 0.8],
        [2.6, 2.9, 1.9],
        [0.4, 2.5, 3.0],
    ];
    let cell = [[5.9, 0.2, 0.0], [0.3, 6.2, 0.1], [0.0, 0.4, 6.1]];
    let numbers = vec![1, 8, 1, 8];
    let species = SpeciesMap::new(&[1, 8]).unwrap();
    let request = GradientRequest::from_names(&["positions"], 1e9).unwrap();
    for (cell, pbc) in [([[0.0; 3]; 3], false), (cell, true)] {
        let systems =
            vec![System::new(positions.clone(), numbers.clone(), cell, [pbc; 3]).unwrap()];
        let channels = Channels::Species(&species);
        let cl = lode.compute(&systems, channels, 1).unwrap().values;
        let cs = soap.compute(&systems, &species, 1).unwrap().values;
        let gl = lode
            .compute_gradients(&systems, channels, &request, 1)
            .unwrap()
            .positions
            .unwrap();
        let gs = soap
            .compute_gradients(&systems, &species, &request, 1)
            .unwrap()
            .positions
            .unwrap();
        let rows_l = lode.row_jacobian(&systems, channels, &request).unwrap();
        let rows_s = soap.row_jacobian(&systems, &species, &request).unwrap();
        for mixed in [false, true] {
            let (first, stored_first) = if mixed {
                (
                    (&rows_s as &dyn RowJacobian, cs.view(), &[1, 8][..]),
                    (cs.view(), gs.samples.view(), gs.values.view()),
                )
            } else {
                (
                    (&rows_l as &dyn RowJacobian, cl.view(), &[1, 8][..]),
                    (cl.view(), gl.samples.view(), gl.values.view()),
                )
            };
            let second = mixed.then_some((&rows_l as &dyn RowJacobian, cl.view(), &[1, 8][..]));
            let (got, _) = power_spectrum_jacobians(first, second, &request).unwrap();
            let (samples, got) = got.unwrap();
            assert_eq!(samples.nrows(), 16, "dense: 4 rows × 4 atoms");
            let (stored_samples, stored) = power_spectrum_positions_gradient(
                stored_first.0,
                &[1, 8],
                stored_first.1,
                stored_first.2,
                mixed.then_some((cl.view(), &[1, 8][..], gl.samples.view(), gl.values.view())),
            )
            .unwrap();
            assert_eq!(samples, stored_samples);
            let scale = stored.iter().fold(0.0f64, |m, x| m.max(x.abs()));
            assert!(scale > 1e-6);
            for (a, b) in got.iter().zip(stored.iter()) {
                assert!(
                    (a - b).abs() <= 1e-13 * scale,
                    "pbc {pbc}, mixed {mixed}: {a} vs {b}"
                );
            }
        }
    }
}
