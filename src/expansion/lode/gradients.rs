//! LODE positions and strain gradients (conventions of `docs/gradients.md`): the Jacobian, row
//! by row ([`LodeRows`], dense: every atom moves every centre), and the backward pass, both
//! delegated to the route the planner chose for each structure (`route/`: the finite route
//! today). A structure whose route has no gradients yet is refused with an error naming the
//! route.

use ndarray::{s, ArrayView4};

use super::calculator::{ChannelSet, Channels};
use super::route::{has_gradients, LodeRoute};
use super::LodeCalculator;
use crate::error::Result;
use crate::expansion::centers_of;
use crate::expansion::gradients::{
    assemble, check_cotangent, Backward, ExpansionGradients, GradientRequest, RowJacobian,
};
use crate::systems::System;
use crate::threads::with_threads;

impl LodeCalculator {
    /// Jacobians of the coefficients of every atom of `systems` (the values are
    /// [`compute`](Self::compute)'s): positions `(n_samples, 3, n_channels, n_max, n_lm)` with
    /// samples `(row, structure, atom)` — every atom of the row's structure — and strain
    /// `(n_rows, 3, 3, n_channels, n_max, n_lm)`. Errors: a structure whose route has no
    /// gradients yet, strain of a finite structure, Jacobians above `request.max_memory`, and
    /// the errors of `compute`.
    pub fn compute_gradients(
        &self,
        systems: &[System],
        channels: Channels<'_>,
        request: &GradientRequest,
        n_threads: usize,
    ) -> Result<ExpansionGradients> {
        with_threads(n_threads, || {
            let rows = self.row_jacobian(systems, channels, request)?;
            assemble(&rows, request)
        })?
    }

    /// The Jacobian of `systems`, row by row; checks `request` against the structures and
    /// plans every structure's route (in the current rayon pool).
    pub fn row_jacobian<'a>(
        &'a self,
        systems: &'a [System],
        channels: Channels<'a>,
        request: &GradientRequest,
    ) -> Result<LodeRows<'a>> {
        request.check_systems(systems)?;
        let (set, routes) = self.gradient_routes(systems, channels)?;
        let sizes: Vec<usize> = systems.iter().map(System::size).collect();
        let (structure, center) = centers_of(&sizes);
        Ok(LodeRows {
            calculator: self,
            systems,
            set,
            routes,
            structure,
            center,
        })
    }

    /// Backward pass: for a cotangent `g` shaped like the values
    /// `(n_rows, n_channels, n_max, n_lm)`, the gradients of `Σ g·c` with respect to every
    /// position (`(n_atoms, 3)` per structure) and to the strain (periodic structures),
    /// without forming the Jacobian. Bitwise independent of `n_threads`.
    pub fn backward(
        &self,
        systems: &[System],
        channels: Channels<'_>,
        cotangent: ArrayView4<f64>,
        n_threads: usize,
    ) -> Result<Backward> {
        let h = &self.common.hypers;
        let n_rows: usize = systems.iter().map(System::size).sum();
        with_threads(n_threads, || {
            let (set, routes) = self.gradient_routes(systems, channels)?;
            let n_lm = (h.l_max + 1) * (h.l_max + 1);
            check_cotangent(&cotangent, [n_rows, set.n_channels, h.n_max, n_lm])?;
            let mut forces = Vec::with_capacity(n_rows);
            let mut virials = Vec::with_capacity(systems.len());
            let mut start = 0;
            for (s, (system, route)) in systems.iter().zip(&routes).enumerate() {
                let n = system.size();
                let g = cotangent.slice(s![start..start + n, .., .., ..]);
                let g = g
                    .to_shape((n, set.n_channels, h.n_max * n_lm))
                    .expect("any layout reshapes");
                let (f, v) = route.backward(system, &set.atoms(s), g.view())?;
                crate::threads::check_cancelled()?;
                forces.extend(f);
                virials.push(v);
                start += n;
            }
            let known: Vec<bool> = virials.iter().map(Option::is_some).collect();
            let virials = virials.into_iter().map(Option::unwrap_or_default).collect();
            let mut out = Backward::from_flat(systems, &forces, virials);
            for (strain, known) in out.strain.iter_mut().zip(known) {
                if !known {
                    *strain = None;
                }
            }
            Ok(out)
        })?
    }

    /// The checked channels and each structure's route, or an error naming the first structure
    /// whose planned route has no gradients yet and how to get one that has.
    fn gradient_routes<'a>(
        &'a self,
        systems: &[System],
        channels: Channels<'a>,
    ) -> Result<(ChannelSet<'a>, Vec<Box<dyn LodeRoute + 'a>>)> {
        let set = self.channel_set(systems, channels)?;
        let routes = systems
            .iter()
            .enumerate()
            .map(|(s, system)| {
                let plan = self.choose(system, set.n_channels)?;
                if !has_gradients(&plan.route) {
                    crate::bail_param!(
                        "structure {s}: LODE gradients are not implemented yet on the {:?} route \
                         this periodic structure is planned on (method={:?}); today LODE \
                         gradients exist for finite systems (pbc all False, the \"real-space\" \
                         route) and, positions only, for periodic ones with \
                         method=\"reciprocal\"; the other routes get theirs in a next step",
                        plan.route.name(),
                        self.common.hypers.method.name()
                    );
                }
                self.prepare(&plan, s)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((set, routes))
    }
}

/// The LODE Jacobian of a set of structures, one row at a time ([`RowJacobian`]).
pub struct LodeRows<'a> {
    calculator: &'a LodeCalculator,
    systems: &'a [System],
    set: ChannelSet<'a>,
    routes: Vec<Box<dyn LodeRoute + 'a>>,
    structure: Vec<i64>,
    center: Vec<i64>,
}

impl RowJacobian for LodeRows<'_> {
    fn n_rows(&self) -> usize {
        self.structure.len()
    }

    fn center(&self, row: usize) -> (usize, usize) {
        (self.structure[row] as usize, self.center[row] as usize)
    }

    fn block_shape(&self) -> [usize; 3] {
        let h = &self.calculator.common.hypers;
        [self.set.n_channels, h.n_max, (h.l_max + 1) * (h.l_max + 1)]
    }

    fn samples(&self, row: usize, atoms: &mut Vec<usize>) -> Result<()> {
        let (s, _) = self.center(row);
        atoms.clear();
        atoms.extend(0..self.systems[s].size());
        Ok(())
    }

    fn jacobian(
        &self,
        row: usize,
        atoms: &[usize],
        positions: Option<&mut [f64]>,
        strain: Option<&mut [f64]>,
    ) -> Result<()> {
        crate::threads::check_cancelled()?;
        let (s, i) = self.center(row);
        let system = &self.systems[s];
        assert!(
            positions.is_none()
                || (atoms.len() == system.size() && atoms.iter().enumerate().all(|(k, &a)| k == a)),
            "LODE rows take every atom of the structure"
        );
        self.routes[s].jacobian_row(system, &self.set.atoms(s), i, positions, strain)
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)] // index notation, as in the formulas
mod tests {
    use ndarray::{Array2, Array4};

    use super::*;
    use crate::expansion::gradients::DEFAULT_JACOBIAN_MEMORY;
    use crate::expansion::{LodeHypers, Method, SpeciesMap};

    fn calculator(exponent: u32, method: Method) -> LodeCalculator {
        LodeCalculator::new(LodeHypers {
            cutoff: 3.0,
            smearing: 1.0,
            n_max: 3,
            l_max: 2,
            exponent,
            method,
            accuracy: 1e-7,
            ..LodeHypers::default()
        })
        .unwrap()
    }

    /// Five atoms of two species, one 16 Å away from the others: its pairs are on the
    /// multipole tail (d_tail ≈ 11 Å), the others on the spline.
    fn molecule() -> System {
        let positions = vec![
            [0.0, 0.0, 0.0],
            [1.3, 0.4, -0.2],
            [-0.7, 1.9, 0.8],
            [2.1, -1.4, 1.7],
            [9.0, 11.5, -6.3],
        ];
        System::new(positions, vec![1, 8, 1, 8, 1], [[0.0; 3]; 3], [false; 3]).unwrap()
    }

    fn charges() -> Vec<Vec<f64>> {
        vec![vec![0.4, -0.8, 0.3, -0.2, 0.6]]
    }

    /// Values `(N, C, n_max, n_lm)` of `system` with atom `j` moved by `delta` along `alpha`.
    fn moved(
        calc: &LodeCalculator,
        system: &System,
        channels: Channels<'_>,
        j: usize,
        alpha: usize,
        delta: f64,
    ) -> Array4<f64> {
        let mut positions = system.positions().to_vec();
        positions[j][alpha] += delta;
        let cell = system.cell();
        let moved = System::new(
            positions,
            system.numbers().to_vec(),
            *cell.matrix(),
            cell.pbc(),
        )
        .unwrap();
        calc.compute(&[moved], channels, 1).unwrap().values
    }

    /// The positions Jacobian of `system` equals central differences (step h = 1e-4 Å,
    /// tolerance 1e-6 × max|J|: the truncation error O(h²·f⁽³⁾) is ~1e-8 of the largest entry
    /// while a sign or factor-2 error is of order max|J|); every row sums to zero over the
    /// atoms; the backward pass equals Jᵀv for a deterministic v to 1e-12 relative and its
    /// forces sum to zero; 1 and 2 threads agree bitwise (Jacobian and backward pass).
    fn check_positions(calc: &LodeCalculator, system: &System, channels: Channels<'_>, what: &str) {
        let n = system.size();
        let request = GradientRequest::from_names(&["positions"], DEFAULT_JACOBIAN_MEMORY).unwrap();
        let systems = std::slice::from_ref(system);
        let jac = calc
            .compute_gradients(systems, channels, &request, 1)
            .unwrap()
            .positions
            .unwrap();
        let c = jac.values.shape()[2];
        assert_eq!(jac.samples.nrows(), n * n);
        let scale = jac.values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(scale > 1e-3, "{what}: a Jacobian to test");
        // central differences, sample (row i, atom j) at index i n + j
        let h = 1e-4;
        for j in 0..n {
            for alpha in 0..3 {
                let plus = moved(calc, system, channels, j, alpha, h);
                let minus = moved(calc, system, channels, j, alpha, -h);
                for i in 0..n {
                    let analytic = jac.values.slice(s![i * n + j, alpha, .., .., ..]);
                    let numeric = (&plus.slice(s![i, .., .., ..])
                        - &minus.slice(s![i, .., .., ..]))
                        / (2.0 * h);
                    let worst = analytic
                        .iter()
                        .zip(&numeric)
                        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
                    assert!(
                        worst < 1e-6 * scale,
                        "{what}, row {i}, atom {j}, α {alpha}: {worst:e} (scale {scale:e})"
                    );
                }
            }
        }
        // translational sum rule of every row
        for i in 0..n {
            let total = jac
                .values
                .slice(s![i * n..(i + 1) * n, .., .., .., ..])
                .sum_axis(ndarray::Axis(0));
            assert!(total.iter().all(|v| v.abs() < 1e-12 * scale), "{what}");
        }
        // backward = Jᵀ v, forces sum to zero, threads bitwise
        let v = Array4::from_shape_fn((n, c, 3, 9), |(i, a, k, l)| {
            (((i * 31 + a * 17 + k * 7 + l * 3) % 23) as f64 / 11.0) - 1.0
        });
        let back = calc.backward(systems, channels, v.view(), 1).unwrap();
        assert!(back.strain[0].is_none());
        let mut expected = Array2::<f64>::zeros((n, 3));
        for i in 0..n {
            let vi = v.slice(s![i, .., .., ..]);
            let vi = vi.as_standard_layout();
            let vi = vi.as_slice().unwrap();
            for j in 0..n {
                for alpha in 0..3 {
                    let row = jac.values.slice(s![i * n + j, alpha, .., .., ..]);
                    let row = row.as_standard_layout();
                    let dot: f64 = row
                        .as_slice()
                        .unwrap()
                        .iter()
                        .zip(vi)
                        .map(|(a, b)| a * b)
                        .sum();
                    expected[[j, alpha]] += dot;
                }
            }
        }
        let size = expected.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(size > 1e-3, "{what}");
        for (a, b) in back.positions[0].iter().zip(&expected) {
            assert!((a - b).abs() < 1e-12 * size, "{what}: {a} vs {b}");
        }
        for alpha in 0..3 {
            let total: f64 = back.positions[0].column(alpha).sum();
            assert!(total.abs() < 1e-12 * size, "{what}");
        }
        let two = calc.backward(systems, channels, v.view(), 2).unwrap();
        assert!(two.positions[0]
            .iter()
            .zip(&back.positions[0])
            .all(|(a, b)| a.to_bits() == b.to_bits()));
        let jac2 = calc
            .compute_gradients(systems, channels, &request, 2)
            .unwrap()
            .positions
            .unwrap();
        assert!(jac2
            .values
            .iter()
            .zip(&jac.values)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
    }

    /// Finite route, p = 1…6, species and charge channels ([`check_positions`]).
    #[test]
    fn finite_route_gradients() {
        let system = molecule();
        let species = SpeciesMap::new(&[1, 8]).unwrap();
        let charges = charges();
        for p in 1..=6 {
            let calc = calculator(p, Method::Auto);
            for channels in [Channels::Species(&species), Channels::Charges(&charges)] {
                check_positions(&calc, &system, channels, &format!("finite, p = {p}"));
            }
        }
    }

    /// A triclinic cell with 5 atoms.
    fn triclinic() -> System {
        System::new(
            vec![
                [0.3, 0.2, 0.1],
                [1.9, 2.4, 0.8],
                [4.1, 1.0, 3.3],
                [2.2, 4.6, 4.9],
                [5.3, 3.9, 2.0],
            ],
            vec![1, 8, 1, 8, 1],
            [[6.0, 0.0, 0.0], [1.1, 5.6, 0.0], [-0.7, 0.9, 6.3]],
            [true; 3],
        )
        .unwrap()
    }

    /// Reciprocal route, positions, p = 1…6 (neutral charges for p ≤ 3), species and charge
    /// channels ([`check_positions`]); a strain Jacobian is refused.
    #[test]
    fn reciprocal_route_position_gradients() {
        let system = triclinic();
        let species = SpeciesMap::new(&[1, 8]).unwrap();
        let charges = vec![vec![0.4, -0.8, 0.3, -0.5, 0.6]];
        for p in 1..=6 {
            let calc = calculator(p, Method::Reciprocal);
            for channels in [Channels::Species(&species), Channels::Charges(&charges)] {
                check_positions(&calc, &system, channels, &format!("reciprocal, p = {p}"));
            }
        }
        let calc = calculator(1, Method::Reciprocal);
        let strain = GradientRequest::from_names(&["strain"], 1e9).unwrap();
        let e = calc
            .compute_gradients(&[system], Channels::Species(&species), &strain, 1)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("strain") && e.contains("\"positions\" only"),
            "{e}"
        );
    }

    /// Periodic structures on routes without gradients, and strain of a finite structure, are
    /// refused with errors that name the route (or the structure) and the way out.
    #[test]
    fn unsupported_requests_are_refused() {
        let species = SpeciesMap::new(&[1, 8]).unwrap();
        let length = 8.0;
        let periodic = System::new(
            vec![[0.0; 3], [1.5, 2.0, 2.5], [4.0, 5.0, 1.0], [6.0, 1.0, 7.0]],
            vec![1, 8, 1, 8],
            [[length, 0.0, 0.0], [0.0, length, 0.0], [0.0, 0.0, length]],
            [true; 3],
        )
        .unwrap();
        let positions = GradientRequest::from_names(&["positions"], 1e9).unwrap();
        for (method, name) in [(Method::Ewald, "\"ewald\""), (Method::Mesh, "\"mesh\"")] {
            let calc = calculator(1, method);
            let systems = [molecule(), periodic.clone()];
            let e = calc
                .compute_gradients(&systems, Channels::Species(&species), &positions, 1)
                .err()
                .unwrap()
                .to_string();
            assert!(e.contains("structure 1") && e.contains(name), "{e}");
            assert!(e.contains("finite systems"), "{e}");
            let v = Array4::zeros((9, 2, 3, 9));
            let e = calc
                .backward(&systems, Channels::Species(&species), v.view(), 1)
                .err()
                .unwrap()
                .to_string();
            assert!(e.contains(name), "{e}");
        }
        let calc = calculator(0, Method::Auto);
        let e = calc
            .backward(
                &[periodic],
                Channels::Species(&species),
                Array4::zeros((4, 2, 3, 9)).view(),
                1,
            )
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("\"pairs\""), "{e}");
        let strain = GradientRequest::from_names(&["strain"], 1e9).unwrap();
        let e = calc
            .compute_gradients(&[molecule()], Channels::Species(&species), &strain, 1)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("not periodic"), "{e}");
    }
}
