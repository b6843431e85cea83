//! SOAP positions and strain gradients: Jacobians (sparse: the pairs within the cutoff) and the
//! backward pass, both through the shared pair derivatives
//! ([`crate::expansion::pair_gradients`]) with the pair weight `w = f_c(d)`, `w' = f_c'(d)`.
//!
//! The centre's own density (`center_weight`) does not move with any atom: it has no
//! gradient. Row `i` of the positions Jacobian has samples for the centre and every atom with a
//! pair (any image) inside the cutoff, sorted by atom.

use ndarray::{Array2, Array5, Array6, ArrayView4, Axis};
use rayon::prelude::*;

use super::{centers_of, overlap_error, SoapCalculator, SpeciesMap};
use crate::error::Result;
use crate::expansion::gradients::{
    check_cotangent, Backward, ExpansionGradients, GradientRequest, PositionGradients,
};
use crate::expansion::pair_gradients::{reduce_in_order, Contributions, PairGradients};
use crate::expansion::MIN_PAIR_DISTANCE;
use crate::neighbors::{NeighborSearch, Pair};
use crate::systems::System;
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
        match pairs.iter().find(|p| p.distance < MIN_PAIR_DISTANCE) {
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
        request.check_systems(systems)?;
        with_threads(n_threads, || {
            self.gradients_in_pool(systems, species, request)
        })?
    }

    fn gradients_in_pool(
        &self,
        systems: &[System],
        species: &SpeciesMap,
        request: &GradientRequest,
    ) -> Result<ExpansionGradients> {
        let (channels, searches) = self.prepare(systems, species)?;
        let sizes: Vec<usize> = systems.iter().map(System::size).collect();
        let (structure, center) = centers_of(&sizes);
        let n_rows = structure.len();
        let (n_max, l_max) = (self.hypers.n_max, self.hypers.l_max);
        let n_lm = (l_max + 1) * (l_max + 1);
        let n_species = species.len();
        let block = n_species * n_max * n_lm;

        // the samples of every row: the centre and its neighbours inside the cutoff, sorted
        let samples: Vec<Vec<usize>> = (0..n_rows)
            .into_par_iter()
            .map_init(Vec::new, |pairs, row| {
                let (s, i) = (structure[row] as usize, center[row] as usize);
                self.pairs_into(&searches[s], s, i, pairs)?;
                let mut atoms: Vec<usize> = pairs
                    .iter()
                    .filter(|p| self.cutoff_function(p.distance) != 0.0)
                    .map(|p| p.second)
                    .collect();
                atoms.push(i);
                atoms.sort_unstable();
                atoms.dedup();
                Ok(atoms)
            })
            .collect::<Result<_>>()?;
        let n_samples: usize = if request.positions {
            samples.iter().map(Vec::len).sum()
        } else {
            0
        };
        let bytes = 8.0
            * block as f64
            * (3.0 * n_samples as f64 + 9.0 * n_rows as f64 * f64::from(u8::from(request.strain)));
        request.check_memory(bytes)?;

        let mut positions = Array5::zeros(if request.positions {
            (n_samples, 3, n_species, n_max, n_lm)
        } else {
            (0, 3, n_species, n_max, n_lm)
        });
        let mut strain = Array6::zeros(if request.strain {
            (n_rows, 3, 3, n_species, n_max, n_lm)
        } else {
            (0, 3, 3, n_species, n_max, n_lm)
        });
        // one mutable slice per row of each output
        let mut position_rows: Vec<&mut [f64]> = Vec::with_capacity(n_rows);
        if request.positions {
            let mut rest = positions
                .as_slice_mut()
                .expect("fresh arrays are contiguous");
            for atoms in &samples {
                let (head, tail) = rest.split_at_mut(atoms.len() * 3 * block);
                position_rows.push(head);
                rest = tail;
            }
        } else {
            position_rows.resize_with(n_rows, Default::default);
        }
        let mut strain_rows: Vec<Option<&mut [f64]>> = if request.strain {
            strain
                .as_slice_mut()
                .expect("fresh arrays are contiguous")
                .chunks_exact_mut(9 * block)
                .map(Some)
                .collect()
        } else {
            (0..n_rows).map(|_| None).collect()
        };

        position_rows
            .par_iter_mut()
            .zip(strain_rows.par_iter_mut())
            .enumerate()
            .try_for_each_init(
                || self.gradient_scratch(),
                |scratch, (row, (positions, strain))| {
                    let (s, i) = (structure[row] as usize, center[row] as usize);
                    let atoms = &samples[row];
                    self.pairs_into(&searches[s], s, i, &mut scratch.pairs)?;
                    scratch.gradients.clear();
                    for pair in &scratch.pairs {
                        let (fc, dfc) = self.cutoff_with_derivative(pair.distance);
                        if fc == 0.0 {
                            continue;
                        }
                        let target = if request.positions {
                            atoms.binary_search(&pair.second).expect("listed sample")
                        } else {
                            0
                        };
                        let channel = channels[s][pair.second];
                        scratch.gradients.push(
                            pair.distance,
                            pair.vector,
                            channel,
                            target,
                            fc,
                            dfc,
                        );
                    }
                    let center_target = if request.positions {
                        atoms.binary_search(&i).expect("the centre is a sample")
                    } else {
                        0
                    };
                    scratch.gradients.add_jacobian(
                        &self.radial,
                        &self.harmonics,
                        n_species,
                        center_target,
                        request.positions.then_some(&mut **positions),
                        strain.as_deref_mut(),
                    );
                    Ok(())
                },
            )?;
        drop(position_rows);
        drop(strain_rows);

        let positions = request.positions.then(|| {
            let mut sample_array = Array2::zeros((n_samples, 3));
            let mut k = 0;
            for (row, atoms) in samples.iter().enumerate() {
                for &atom in atoms {
                    sample_array[[k, 0]] = row as i64;
                    sample_array[[k, 1]] = structure[row];
                    sample_array[[k, 2]] = atom as i64;
                    k += 1;
                }
            }
            PositionGradients {
                samples: sample_array,
                values: positions,
            }
        });
        Ok(ExpansionGradients {
            positions,
            strain: request.strain.then_some(strain),
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
                let mut virial = [[0.0; 3]; 3];
                let total = scratch.gradients.backward(
                    &self.radial,
                    &self.harmonics,
                    g,
                    &mut out.forces,
                    &mut virial,
                );
                out.forces
                    .push((offsets[s] + i, [-total[0], -total[1], -total[2]]));
                out.virials.push((s, virial));
                Ok(())
            },
        )?;
        Ok(Backward::from_flat(systems, &forces, virials))
    }
}
