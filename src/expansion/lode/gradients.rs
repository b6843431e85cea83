//! LODE positions and strain gradients (conventions of `docs/gradients.md`): the Jacobian, row
//! by row ([`LodeRows`], dense: every atom moves every centre), and the backward pass, both
//! delegated to the route the planner chose for each structure (`route/`: every route,
//! slabs included). A structure whose route had no gradients would be refused with an error
//! naming the route.

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
    /// Jacobians of the coefficients of every atom of `systems` (the derivatives of
    /// [`compute_for_jacobian`](Self::compute_for_jacobian)'s values: each structure on its
    /// Jacobian plan, [`plan_jacobian`](Self::plan_jacobian)): positions `(n_samples, 3, n_channels, n_max, n_lm)` with
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
        let (set, routes) = self.gradient_routes(systems, channels, true)?;
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
            let (set, routes) = self.gradient_routes(systems, channels, false)?;
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

    /// The checked channels and each structure's route (the Jacobian's plan when `jacobian`,
    /// else the values'), or an error naming the first structure whose planned route has no
    /// gradients yet and how to get one that has.
    fn gradient_routes<'a>(
        &'a self,
        systems: &[System],
        channels: Channels<'a>,
        jacobian: bool,
    ) -> Result<(ChannelSet<'a>, Vec<Box<dyn LodeRoute + 'a>>)> {
        let set = self.channel_set(systems, channels)?;
        let routes = systems
            .iter()
            .enumerate()
            .map(|(s, system)| {
                let plan = if jacobian {
                    self.plan_jacobian(system, set.n_channels)?
                } else {
                    self.choose(system, set.n_channels)?
                };
                if !has_gradients(&plan.route) {
                    crate::bail_param!(
                        "structure {s}: LODE gradients are not implemented on the {:?} route \
                         this structure is planned on (method={:?}); LODE gradients exist for \
                         finite systems, for fully periodic ones on every route and for slabs",
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

    /// The k-space pair table of the largest periodic structure (one structure's at a time,
    /// [`crate::kspace::pair_table_bytes`]; finite structures have none).
    fn scratch_memory(&self, request: &GradientRequest) -> f64 {
        if !request.positions {
            return 0.0;
        }
        let n_cols = self.calculator.common.n_cols();
        let largest = self
            .systems
            .iter()
            .filter(|system| system.cell().is_periodic())
            .map(System::size)
            .max()
            .unwrap_or(0);
        crate::kspace::pair_table_bytes(largest, n_cols)
    }

    fn shares_tables(&self, request: &GradientRequest) -> bool {
        request.positions
    }

    fn prepare(&self, structure: usize, request: &GradientRequest) -> Result<()> {
        crate::threads::check_cancelled()?;
        self.routes[structure].prepare_jacobian(
            &self.systems[structure],
            &self.set.atoms(structure),
            request.positions,
            request.strain,
        )
    }

    fn release(&self, structure: usize) {
        self.routes[structure].release_jacobian();
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
pub(super) mod tests {
    use ndarray::{Array2, Array4};

    use super::*;
    use crate::expansion::gradients::DEFAULT_JACOBIAN_MEMORY;
    use crate::expansion::{LodeHypers, Method, SpeciesMap};

    pub(in crate::expansion::lode) fn calculator(exponent: u32, method: Method) -> LodeCalculator {
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
    pub(in crate::expansion::lode) fn moved(
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
    pub(in crate::expansion::lode) fn check_positions(
        calc: &LodeCalculator,
        system: &System,
        channels: Channels<'_>,
        what: &str,
        periodic: bool,
    ) {
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
        assert_eq!(back.strain[0].is_some(), periodic);
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
                check_positions(&calc, &system, channels, &format!("finite, p = {p}"), false);
            }
        }
    }

    /// A triclinic cell with 5 atoms.
    pub(in crate::expansion::lode) fn triclinic() -> System {
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
    /// channels ([`check_positions`]) and strain ([`check_strain`]).
    #[test]
    fn reciprocal_route_gradients() {
        let system = triclinic();
        let species = SpeciesMap::new(&[1, 8]).unwrap();
        let charges = vec![vec![0.4, -0.8, 0.3, -0.5, 0.6]];
        for p in 1..=6 {
            let calc = calculator(p, Method::Reciprocal);
            for channels in [Channels::Species(&species), Channels::Charges(&charges)] {
                let what = format!("reciprocal, p = {p}");
                check_positions(&calc, &system, channels, &what, true);
                check_strain(&calc, &system, channels, &what);
            }
        }
    }

    /// A cubic cell (the values take the shells engine) and a cell smaller than the basis
    /// (many images), with `center_weight` 0.3.
    #[test]
    fn reciprocal_route_gradients_cubic_and_small_cells() {
        let species = SpeciesMap::new(&[1, 8]).unwrap();
        let cubic = System::new(
            vec![
                [0.3, 0.2, 0.1],
                [1.9, 2.4, 0.8],
                [4.1, 1.0, 3.3],
                [2.2, 4.6, 4.9],
            ],
            vec![1, 8, 1, 8],
            [[6.0, 0.0, 0.0], [0.0, 6.0, 0.0], [0.0, 0.0, 6.0]],
            [true; 3],
        )
        .unwrap();
        let small = System::new(
            vec![[0.3, 0.2, 0.1], [1.2, 1.4, 0.8], [0.4, 1.9, 1.3]],
            vec![1, 8, 8],
            [[2.5, 0.0, 0.0], [0.4, 2.6, 0.0], [-0.3, 0.2, 2.4]],
            [true; 3],
        )
        .unwrap();
        for p in [1, 3, 4] {
            let calc = LodeCalculator::new(LodeHypers {
                cutoff: 3.0,
                smearing: 1.0,
                n_max: 3,
                l_max: 2,
                exponent: p,
                method: Method::Reciprocal,
                accuracy: 1e-7,
                // fixed, so that the k-vector set does not change with the cell between the
                // finite-difference points (the planner's small-cell cutoff follows the
                // lattice, and a jump at the accuracy level is ~1e-3 once divided by 2h)
                k_cutoff: Some(7.0),
                center_weight: 0.3,
                ..LodeHypers::default()
            })
            .unwrap();
            for (system, name) in [(&cubic, "cubic"), (&small, "small")] {
                let what = format!("{name}, p = {p}");
                check_positions(&calc, system, Channels::Species(&species), &what, true);
                check_strain(&calc, system, Channels::Species(&species), &what);
            }
        }
    }

    /// Values `(N, C, n_max, n_lm)` of `system` deformed by `x → (1 + h e_a e_bᵀ) x` (positions
    /// and cell rows).
    fn strained(
        calc: &LodeCalculator,
        system: &System,
        channels: Channels<'_>,
        a: usize,
        b: usize,
        h: f64,
    ) -> Array4<f64> {
        let deform = |r: [f64; 3]| {
            let mut out = r;
            out[a] += h * r[b];
            out
        };
        let positions = system.positions().iter().map(|&r| deform(r)).collect();
        let cell = system.cell();
        let matrix = cell.matrix().map(deform);
        let moved = System::new(positions, system.numbers().to_vec(), matrix, cell.pbc()).unwrap();
        calc.compute(&[moved], channels, 1).unwrap().values
    }

    /// The strain Jacobian equals central differences of the values under a homogeneous
    /// deformation of positions and cell (step 1e-5, tolerance 1e-6 × max|J|: truncation
    /// ~1e-9 of the scale, a sign or factor-2 error ~max|J|); the `l = 0` blocks (ν = 1,
    /// rotation invariant) and the ν = 2 combinations `Σ_m ∂(c_nlm c_n'lm)` are symmetric in
    /// `ab` (1e-10 of their scale) while the `l > 0` coefficients are not; the backward pass's
    /// strain equals `Σ_i v_i · ∂c_i/∂ε` to 1e-12 relative; 1 and 2 threads agree bitwise.
    pub(in crate::expansion::lode) fn check_strain(
        calc: &LodeCalculator,
        system: &System,
        channels: Channels<'_>,
        what: &str,
    ) {
        let n = system.size();
        let request = GradientRequest::from_names(&["strain"], DEFAULT_JACOBIAN_MEMORY).unwrap();
        let systems = std::slice::from_ref(system);
        let jac = calc
            .compute_gradients(systems, channels, &request, 1)
            .unwrap()
            .strain
            .unwrap();
        let values = calc.compute(systems, channels, 1).unwrap().values;
        let (c, n_max, n_lm) = (values.shape()[1], values.shape()[2], values.shape()[3]);
        let scale = jac.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(scale > 1e-3, "{what}: a strain Jacobian to test");
        let h = 1e-5;
        for a in 0..3 {
            for b in 0..3 {
                let fd = (strained(calc, system, channels, a, b, h)
                    - strained(calc, system, channels, a, b, -h))
                    / (2.0 * h);
                let analytic = jac.slice(s![.., a, b, .., .., ..]);
                let worst = analytic
                    .iter()
                    .zip(&fd)
                    .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
                assert!(
                    worst < 1e-6 * scale,
                    "{what}, strain {a}{b}: {worst:e} (scale {scale:e})"
                );
            }
        }
        // symmetry of rotation-invariant combinations; l > 0 coefficients are not symmetric
        let mut asymmetry_l0: f64 = 0.0;
        let mut asymmetry_nu2: f64 = 0.0;
        let mut asymmetry_l1: f64 = 0.0;
        for i in 0..n {
            for ch in 0..c {
                for n1 in 0..n_max {
                    for a in 0..3 {
                        for b in 0..3 {
                            let d = jac[[i, a, b, ch, n1, 0]] - jac[[i, b, a, ch, n1, 0]];
                            asymmetry_l0 = asymmetry_l0.max(d.abs());
                            let d1 = jac[[i, a, b, ch, n1, 1]] - jac[[i, b, a, ch, n1, 1]];
                            asymmetry_l1 = asymmetry_l1.max(d1.abs());
                            for n2 in 0..n_max {
                                let nu2 = |a: usize, b: usize| {
                                    (0..n_lm)
                                        .map(|lm| {
                                            jac[[i, a, b, ch, n1, lm]] * values[[i, ch, n2, lm]]
                                                + values[[i, ch, n1, lm]]
                                                    * jac[[i, a, b, ch, n2, lm]]
                                        })
                                        .sum::<f64>()
                                };
                                asymmetry_nu2 = asymmetry_nu2.max((nu2(a, b) - nu2(b, a)).abs());
                            }
                        }
                    }
                }
            }
        }
        let value_scale = values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(asymmetry_l0 < 1e-10 * scale, "{what}: {asymmetry_l0:e}");
        assert!(
            asymmetry_nu2 < 1e-10 * scale * value_scale * n_lm as f64,
            "{what}: {asymmetry_nu2:e}"
        );
        assert!(
            asymmetry_l1 > 1e-4 * scale,
            "{what}: l = 1 should not be symmetric"
        );
        // backward = Σ_i v_i · J_i, threads bitwise
        let v = Array4::from_shape_fn((n, c, n_max, n_lm), |(i, a, k, l)| {
            (((i * 29 + a * 13 + k * 5 + l * 3) % 19) as f64 / 9.0) - 1.0
        });
        let back = calc.backward(systems, channels, v.view(), 1).unwrap();
        let virial = back.strain[0].expect("a periodic structure has a strain gradient");
        let mut size: f64 = 0.0;
        let mut expected = [[0.0; 3]; 3];
        for a in 0..3 {
            for b in 0..3 {
                expected[a][b] = (&jac.slice(s![.., a, b, .., .., ..]) * &v).sum();
                size = size.max(expected[a][b].abs());
            }
        }
        assert!(size > 1e-3, "{what}");
        for a in 0..3 {
            for b in 0..3 {
                assert!(
                    (virial[a][b] - expected[a][b]).abs() < 1e-12 * size,
                    "{what}, {a}{b}: {} vs {}",
                    virial[a][b],
                    expected[a][b]
                );
            }
        }
        let two = calc.backward(systems, channels, v.view(), 2).unwrap();
        let virial2 = two.strain[0].unwrap();
        assert!(virial
            .iter()
            .flatten()
            .zip(virial2.iter().flatten())
            .all(|(x, y)| x.to_bits() == y.to_bits()));
        let jac2 = calc
            .compute_gradients(systems, channels, &request, 2)
            .unwrap()
            .strain
            .unwrap();
        assert!(jac2
            .iter()
            .zip(&jac)
            .all(|(x, y)| x.to_bits() == y.to_bits()));
    }

    /// Strain of a finite structure is refused with an error that names the structure and the
    /// way out (every route has gradients today).
    #[test]
    fn unsupported_requests_are_refused() {
        let species = SpeciesMap::new(&[1, 8]).unwrap();
        let calc = calculator(0, Method::Auto);
        let strain = GradientRequest::from_names(&["strain"], 1e9).unwrap();
        let e = calc
            .compute_gradients(&[molecule()], Channels::Species(&species), &strain, 1)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("not periodic"), "{e}");
    }
}
