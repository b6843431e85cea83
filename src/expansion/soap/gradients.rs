//! SOAP positions and strain gradients: Jacobians (sparse: the pairs within the cutoff) and the
//! backward pass, both through the shared pair derivatives
//! ([`crate::expansion::pair_gradients`]) with the pair weight `w = f_c(d)`, `w' = f_c'(d)`.
//!
//! The centre's own density (`center_weight`) does not move with any atom: it has no
//! gradient. Row `i` of the positions Jacobian has samples for the centre and every atom with a
//! pair (any image) inside the cutoff, sorted by atom.

use ndarray::{ArrayView4, Axis};

use super::{centers_of, overlap_error, SoapCalculator, SpeciesMap};
use crate::error::Result;
use crate::expansion::gradients::{
    assemble, check_cotangent, Backward, ExpansionGradients, GradientRequest, PairFactors,
    PairRows, RowJacobian,
};
use crate::expansion::pair_gradients::{reduce_in_order, Contributions, PairGradients};
use crate::neighbors::{NeighborSearch, Pair};
use crate::systems::System;
use crate::systems::OVERLAP_DISTANCE;
use crate::threads::with_threads;

/// Per-task buffers.
struct Scratch {
    gradients: PairGradients,
    pairs: Vec<Pair>,
}

impl SoapCalculator {
    fn gradient_scratch(&self) -> Scratch {
        Scratch {
            gradients: PairGradients::new(self.hypers.n_max, self.hypers.l_max),
            pairs: Vec::new(),
        }
    }

    /// The pairs of centre `i` of structure `s` (overlaps are an error).
    fn pairs_into(
        &self,
        search: &NeighborSearch<'_>,
        s: usize,
        i: usize,
        pairs: &mut Vec<Pair>,
    ) -> Result<()> {
        search.pairs_of(i, pairs);
        match pairs.iter().find(|p| p.distance < OVERLAP_DISTANCE) {
            Some(pair) => Err(overlap_error(pair, s)),
            None => Ok(()),
        }
    }

    /// Jacobians of the coefficients of every atom of `systems` (the values are
    /// [`compute`](Self::compute)'s): positions `(n_samples, 3, n_species, n_max, n_lm)` with
    /// samples `(row, structure, atom)`, and strain `(n_rows, 3, 3, n_species, n_max, n_lm)`.
    /// Errors: strain of a structure that is not periodic; Jacobians above
    /// `request.max_memory`; the errors of `compute`.
    pub fn compute_gradients(
        &self,
        systems: &[System],
        species: &SpeciesMap,
        request: &GradientRequest,
        n_threads: usize,
    ) -> Result<ExpansionGradients> {
        with_threads(n_threads, || {
            let rows = self.row_jacobian(systems, species, request)?;
            assemble(&rows, request)
        })?
    }

    /// The Jacobian of `systems`, row by row (for invariants that contract it as it comes);
    /// checks `request` against the structures (strain needs periodic ones). Neighbour
    /// searches run in the current rayon pool.
    pub fn row_jacobian<'a>(
        &'a self,
        systems: &'a [System],
        species: &SpeciesMap,
        request: &GradientRequest,
    ) -> Result<SoapRows<'a>> {
        request.check_systems(systems)?;
        let (channels, searches) = self.prepare(systems, species)?;
        let sizes: Vec<usize> = systems.iter().map(System::size).collect();
        let (structure, center) = centers_of(&sizes);
        Ok(SoapRows {
            calculator: self,
            n_species: species.len(),
            channels,
            searches,
            structure,
            center,
        })
    }

    /// Backward pass: for a cotangent `g` shaped like the values
    /// `(n_rows, n_species, n_max, n_lm)`, the gradients of `Σ g·c` with respect to every
    /// position (`(n_atoms, 3)` per structure) and to the strain (periodic structures), without
    /// forming the Jacobian: one pass over the pairs. Bitwise independent of `n_threads`.
    pub fn backward(
        &self,
        systems: &[System],
        species: &SpeciesMap,
        cotangent: ArrayView4<f64>,
        n_threads: usize,
    ) -> Result<Backward> {
        let sizes: Vec<usize> = systems.iter().map(System::size).collect();
        let n_lm = (self.hypers.l_max + 1) * (self.hypers.l_max + 1);
        let n_rows: usize = sizes.iter().sum();
        check_cotangent(&cotangent, [n_rows, species.len(), self.hypers.n_max, n_lm])?;
        with_threads(n_threads, || {
            self.backward_in_pool(systems, species, cotangent)
        })?
    }

    fn backward_in_pool(
        &self,
        systems: &[System],
        species: &SpeciesMap,
        cotangent: ArrayView4<f64>,
    ) -> Result<Backward> {
        let (channels, searches) = self.prepare(systems, species)?;
        let sizes: Vec<usize> = systems.iter().map(System::size).collect();
        let (structure, center) = centers_of(&sizes);
        let offsets: Vec<usize> = sizes
            .iter()
            .scan(0, |start, &n| {
                let first = *start;
                *start += n;
                Some(first)
            })
            .collect();
        let cotangent = cotangent.as_standard_layout();
        let (forces, virials) = reduce_in_order(
            structure.len(),
            offsets.last().map_or(0, |o| o + sizes[sizes.len() - 1]),
            systems.len(),
            || self.gradient_scratch(),
            |scratch: &mut Scratch, row, out: &mut Contributions| {
                let (s, i) = (structure[row] as usize, center[row] as usize);
                self.pairs_into(&searches[s], s, i, &mut scratch.pairs)?;
                scratch.gradients.clear();
                for pair in &scratch.pairs {
                    let (fc, dfc) = self.cutoff_with_derivative(pair.distance);
                    if fc == 0.0 {
                        continue;
                    }
                    let channel = channels[s][pair.second];
                    let target = offsets[s] + pair.second;
                    scratch
                        .gradients
                        .push(pair.distance, pair.vector, channel, target, fc, dfc);
                }
                let g = cotangent.index_axis(Axis(0), row);
                let g = g.as_slice().expect("standard layout");
                scratch.gradients.backward_into(
                    &self.radial,
                    &self.harmonics,
                    g,
                    offsets[s] + i,
                    s,
                    out,
                );
                Ok(())
            },
        )?;
        Ok(Backward::from_flat(systems, &forces, virials))
    }
}

/// The SOAP Jacobian of a set of structures, one row at a time ([`RowJacobian`]).
pub struct SoapRows<'a> {
    calculator: &'a SoapCalculator,
    n_species: usize,
    channels: Vec<Vec<usize>>,
    searches: Vec<NeighborSearch<'a>>,
    structure: Vec<i64>,
    center: Vec<i64>,
}

thread_local! {
    /// Per-thread buffers of the row Jacobians, keyed by `(n_max, l_max)`.
    static SCRATCH: std::cell::RefCell<Option<((usize, usize), Scratch)>> =
        const { std::cell::RefCell::new(None) };
}

impl RowJacobian for SoapRows<'_> {
    fn n_rows(&self) -> usize {
        self.structure.len()
    }

    fn center(&self, row: usize) -> (usize, usize) {
        (self.structure[row] as usize, self.center[row] as usize)
    }

    fn block_shape(&self) -> [usize; 3] {
        let h = &self.calculator.hypers;
        [self.n_species, h.n_max, (h.l_max + 1) * (h.l_max + 1)]
    }

    fn samples(&self, row: usize, atoms: &mut Vec<usize>) -> Result<()> {
        let (s, i) = self.center(row);
        let calc = self.calculator;
        let mut pairs = SCRATCH.with_borrow_mut(|cached| {
            cached
                .as_mut()
                .map(|(_, scratch)| std::mem::take(&mut scratch.pairs))
                .unwrap_or_default()
        });
        calc.pairs_into(&self.searches[s], s, i, &mut pairs)?;
        atoms.clear();
        atoms.extend(
            pairs
                .iter()
                .filter(|p| calc.cutoff_function(p.distance) != 0.0)
                .map(|p| p.second),
        );
        atoms.push(i);
        atoms.sort_unstable();
        atoms.dedup();
        SCRATCH.with_borrow_mut(|cached| {
            if let Some((_, scratch)) = cached.as_mut() {
                scratch.pairs = pairs;
            }
        });
        Ok(())
    }

    fn jacobian(
        &self,
        row: usize,
        atoms: &[usize],
        positions: Option<&mut [f64]>,
        strain: Option<&mut [f64]>,
    ) -> Result<()> {
        let (s, i) = self.center(row);
        let calc = self.calculator;
        let key = (calc.hypers.n_max, calc.hypers.l_max);
        SCRATCH.with_borrow_mut(|cached| {
            if cached.as_ref().is_none_or(|(k, _)| *k != key) {
                *cached = Some((key, calc.gradient_scratch()));
            }
            let scratch = &mut cached.as_mut().expect("just set").1;
            calc.pairs_into(&self.searches[s], s, i, &mut scratch.pairs)?;
            scratch.gradients.clear();
            let with_positions = positions.is_some();
            let locate = |atom: usize| {
                if with_positions {
                    atoms
                        .binary_search(&atom)
                        .expect("the atoms must include the row's samples")
                } else {
                    0
                }
            };
            for pair in &scratch.pairs {
                let (fc, dfc) = calc.cutoff_with_derivative(pair.distance);
                if fc == 0.0 {
                    continue;
                }
                let channel = self.channels[s][pair.second];
                scratch.gradients.push(
                    pair.distance,
                    pair.vector,
                    channel,
                    locate(pair.second),
                    fc,
                    dfc,
                );
            }
            if positions.is_some() {
                assert!(
                    scratch
                        .pairs
                        .iter()
                        .all(|p| atoms.binary_search(&p.second).is_ok())
                        && atoms.binary_search(&i).is_ok(),
                    "the atoms must include the row's samples"
                );
            }
            scratch.gradients.add_jacobian(
                &calc.radial,
                &calc.harmonics,
                self.n_species,
                locate(i),
                positions,
                strain,
            );
            Ok(())
        })
    }

    fn pair_rows(&self) -> Option<&dyn PairRows> {
        Some(self)
    }
}

impl PairRows for SoapRows<'_> {
    fn visit_pairs(&self, row: usize, visit: &mut dyn FnMut(&PairFactors<'_>)) -> Result<()> {
        let (s, i) = self.center(row);
        let calc = self.calculator;
        let mut scratch = SCRATCH
            .with_borrow_mut(|cached| cached.take())
            .filter(|(k, _)| *k == (calc.hypers.n_max, calc.hypers.l_max))
            .map_or_else(|| calc.gradient_scratch(), |(_, scratch)| scratch);
        let result = calc.pairs_into(&self.searches[s], s, i, &mut scratch.pairs);
        if result.is_ok() {
            scratch.gradients.clear();
            for pair in &scratch.pairs {
                let (fc, dfc) = calc.cutoff_with_derivative(pair.distance);
                if fc == 0.0 {
                    continue;
                }
                let channel = self.channels[s][pair.second];
                scratch
                    .gradients
                    .push(pair.distance, pair.vector, channel, pair.second, fc, dfc);
            }
            scratch
                .gradients
                .visit_factors(&calc.radial, &calc.harmonics, |factors| visit(factors));
        }
        let key = (calc.hypers.n_max, calc.hypers.l_max);
        SCRATCH.with_borrow_mut(|cached| *cached = Some((key, scratch)));
        result
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)] // index notation, as in the formulas
mod tests {
    use ndarray::{Array2, Array4};

    use super::*;
    use crate::expansion::SoapHypers;
    use crate::systems::{Mat3, Vec3};

    fn calculator() -> SoapCalculator {
        SoapCalculator::new(SoapHypers {
            cutoff: 3.5,
            cutoff_width: 1.0,
            smearing: 0.4,
            n_max: 4,
            l_max: 3,
            center_weight: 0.7,
            radial_accuracy: 1e-11,
            ..SoapHypers::default()
        })
        .unwrap()
    }

    /// A small triclinic cell (atoms see many of their own images) and a finite molecule.
    fn systems(
        strain: Option<(usize, usize, f64)>,
        moved: Option<(usize, usize, usize, f64)>,
    ) -> Vec<System> {
        let cell: Mat3 = [[3.1, 0.2, 0.1], [0.4, 2.9, -0.3], [0.2, 0.5, 3.3]];
        let periodic: Vec<Vec3> = vec![[0.1, 0.2, 0.3], [1.4, 1.1, 0.9], [2.2, 0.4, 2.0]];
        let molecule: Vec<Vec3> = vec![
            [0.0, 0.0, 0.0],
            [1.1, 0.3, -0.2],
            [-0.4, 1.2, 0.5],
            [0.6, -0.9, 1.3],
        ];
        let deform = |r: Vec3| -> Vec3 {
            let mut out = r;
            if let Some((a, b, e)) = strain {
                out[a] += e * r[b];
            }
            out
        };
        let mut list = vec![
            (periodic, vec![1, 8, 1], cell, [true; 3]),
            (molecule, vec![8, 1, 1, 6], [[0.0; 3]; 3], [false; 3]),
        ];
        if let Some((s, atom, alpha, h)) = moved {
            list[s].0[atom][alpha] += h;
        }
        list.into_iter()
            .map(|(positions, numbers, cell, pbc)| {
                let positions = positions.into_iter().map(deform).collect();
                let cell = if pbc[0] { cell.map(deform) } else { cell };
                System::new(positions, numbers, cell, pbc).unwrap()
            })
            .collect()
    }

    fn species() -> SpeciesMap {
        SpeciesMap::new(&[1, 6, 8]).unwrap()
    }

    fn values(systems: &[System]) -> Array4<f64> {
        static CALCULATOR: std::sync::OnceLock<SoapCalculator> = std::sync::OnceLock::new();
        let calculator = CALCULATOR.get_or_init(calculator);
        calculator.compute(systems, &species(), 1).unwrap().values
    }

    /// Positions Jacobian = central differences (step 1e-5 Å, tolerance 1e-7 of the largest
    /// coefficient: the differences' truncation error is ~1e-10); every atom's displacement
    /// checked, including atoms seen through several images.
    #[test]
    fn positions_jacobian_matches_finite_differences() {
        let calc = calculator();
        let base = systems(None, None);
        let request = GradientRequest::from_names(&["positions"], 1e9).unwrap();
        let grads = calc
            .compute_gradients(&base, &species(), &request, 1)
            .unwrap();
        let positions = grads.positions.unwrap();
        let scale = values(&base).iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let h = 1e-5;
        let sizes = [3, 4];
        let mut checked = 0;
        for (s, &n) in sizes.iter().enumerate() {
            for atom in 0..n {
                for alpha in 0..3 {
                    let fd = (values(&systems(None, Some((s, atom, alpha, h))))
                        - values(&systems(None, Some((s, atom, alpha, -h)))))
                        / (2.0 * h);
                    for row in 0..fd.shape()[0] {
                        let sample = (0..positions.samples.nrows()).find(|&k| {
                            positions.samples.row(k).to_vec()
                                == vec![row as i64, s as i64, atom as i64]
                        });
                        let expected = fd.index_axis(Axis(0), row);
                        match sample {
                            Some(k) => {
                                let got = positions.values.index_axis(Axis(0), k);
                                let got = got.index_axis(Axis(0), alpha);
                                for (a, b) in got.iter().zip(expected.iter()) {
                                    assert!(
                                        (a - b).abs() < 1e-7 * scale,
                                        "row {row} atom {atom}/{s} α {alpha}: {a} vs {b}"
                                    );
                                }
                                checked += 1;
                            }
                            None => assert!(expected.iter().all(|v| v.abs() < 1e-7 * scale)),
                        }
                    }
                }
            }
        }
        assert!(checked > 20);
    }

    /// Strain Jacobian = central differences of a homogeneous deformation of cell and positions
    /// (step 1e-5, tolerance 1e-7 of the largest coefficient); finite structures are refused.
    #[test]
    fn strain_jacobian_matches_finite_differences() {
        let calc = calculator();
        let base = systems(None, None);
        let request = GradientRequest::from_names(&["strain"], 1e9).unwrap();
        let error = calc
            .compute_gradients(&base, &species(), &request, 1)
            .unwrap_err();
        assert!(
            error.to_string().contains("structure 1 is not periodic"),
            "{error}"
        );
        let periodic = &base[..1];
        let strain = calc
            .compute_gradients(periodic, &species(), &request, 1)
            .unwrap()
            .strain
            .unwrap();
        let scale = values(periodic).iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let h = 1e-5;
        for a in 0..3 {
            for b in 0..3 {
                let fd = (values(&systems(Some((a, b, h)), None)[..1])
                    - values(&systems(Some((a, b, -h)), None)[..1]))
                    / (2.0 * h);
                for row in 0..3 {
                    let got = strain.index_axis(Axis(0), row);
                    let got = got.index_axis(Axis(0), a);
                    let got = got.index_axis(Axis(0), b);
                    for (x, y) in got.iter().zip(fd.index_axis(Axis(0), row).iter()) {
                        assert!(
                            (x - y).abs() < 1e-7 * scale,
                            "ε_{a}{b} row {row}: {x} vs {y}"
                        );
                    }
                }
            }
        }
    }

    /// Backward = Jacobianᵀ·v for a random v (to rounding), the forces of each structure sum to
    /// zero, and one and two threads give bitwise the same result.
    #[test]
    fn backward_is_the_transposed_jacobian() {
        let calc = calculator();
        let base = systems(None, None);
        let species = species();
        let request = GradientRequest::from_names(&["positions"], 1e9).unwrap();
        let positions = calc
            .compute_gradients(&base, &species, &request, 1)
            .unwrap()
            .positions
            .unwrap();
        let shape = values(&base).raw_dim();
        let mut k = 0u64;
        let v = Array4::from_shape_fn(shape, |_| {
            k += 1;
            ((k as f64) * 0.618).sin()
        });
        let backward = calc.backward(&base, &species, v.view(), 1).unwrap();
        let mut expected = [Array2::<f64>::zeros((3, 3)), Array2::zeros((4, 3))];
        for (k, sample) in positions.samples.outer_iter().enumerate() {
            let (row, s, atom) = (sample[0] as usize, sample[1] as usize, sample[2] as usize);
            for alpha in 0..3 {
                let jac = positions.values.index_axis(Axis(0), k);
                let jac = jac.index_axis(Axis(0), alpha);
                expected[s][[atom, alpha]] += (&jac * &v.index_axis(Axis(0), row)).sum();
            }
        }
        for s in 0..2 {
            let magnitude = expected[s].iter().fold(0.0f64, |m, x| m.max(x.abs()));
            for (a, b) in backward.positions[s].iter().zip(expected[s].iter()) {
                assert!((a - b).abs() < 1e-12 * magnitude, "{a} vs {b}");
            }
            for alpha in 0..3 {
                let sum: f64 = backward.positions[s].column(alpha).sum();
                assert!(sum.abs() < 1e-12 * magnitude, "sum rule: {sum}");
            }
        }
        assert!(backward.strain[0].is_some() && backward.strain[1].is_none());
        let two = calc.backward(&base, &species, v.view(), 2).unwrap();
        for s in 0..2 {
            assert!(backward.positions[s]
                .iter()
                .zip(two.positions[s].iter())
                .all(|(a, b)| a.to_bits() == b.to_bits()));
        }
        let bad = Array4::<f64>::zeros((2, 3, 4, 16));
        assert!(calc.backward(&base, &species, bad.view(), 1).is_err());
    }
}
