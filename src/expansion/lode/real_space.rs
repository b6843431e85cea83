//! Real-space pair sums of LODE: finite systems (all pairs) and the Ewald short range
//! (pairs within the kernel's reach, periodic images included).
//!
//! `out[i, a] += Σ_{j∈a, j≠i (or image)} w_j f_nl(d_ij) Y_lm(r̂_ij)`; the centre's own term
//! (`d = 0`) is added by the caller. Parallel over centres; each centre's sum runs in a fixed
//! order, so results do not depend on the number of threads.

use ndarray::{Array2, Array3, Axis};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::expansion::{accumulate_pair, MIN_PAIR_DISTANCE};
use crate::math::spherical_harmonics::SphericalHarmonics;
use crate::neighbors::{NeighborSearch, Pair};
use crate::radial::RadialIntegral;
use crate::systems::System;

/// Sources of one structure: channel and weight of every atom.
pub(super) struct AtomChannels<'a> {
    pub channel: &'a [usize],
    pub weight: Option<&'a [f64]>,
    pub n_channels: usize,
}

impl AtomChannels<'_> {
    fn weight(&self, j: usize) -> f64 {
        self.weight.map_or(1.0, |w| w[j])
    }
}

struct Scratch {
    radial: Array2<f64>,
    harmonics: Vec<f64>,
    pairs: Vec<Pair>,
}

fn scratch(n_max: usize, l_max: usize) -> Scratch {
    Scratch {
        radial: Array2::zeros((n_max, l_max + 1)),
        harmonics: vec![0.0; (l_max + 1) * (l_max + 1)],
        pairs: Vec::new(),
    }
}

/// Finite system: every ordered pair `i ≠ j`, no images. Output `(N, n_channels, n_max·n_lm)`.
pub(super) fn finite_pairs(
    system: &System,
    atoms: &AtomChannels<'_>,
    radial: &dyn RadialIntegral,
    harmonics: &SphericalHarmonics,
    structure: usize,
) -> Result<Array3<f64>> {
    let (n_max, l_max) = (radial.n_max(), radial.l_max());
    let n_lm = (l_max + 1) * (l_max + 1);
    let positions = system.positions();
    let n = positions.len();
    let mut out = Array3::zeros((n, atoms.n_channels, n_max * n_lm));
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .try_for_each_init(
            || scratch(n_max, l_max),
            |s, (i, mut block)| {
                let ri = positions[i];
                for (j, rj) in positions.iter().enumerate() {
                    if j == i {
                        continue;
                    }
                    let v = [rj[0] - ri[0], rj[1] - ri[1], rj[2] - ri[2]];
                    let d = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
                    if d < MIN_PAIR_DISTANCE {
                        return Err(Error::InvalidInput(format!(
                            "structure {structure}: atoms {i} and {j} overlap (distance {d:.2e} Å < {MIN_PAIR_DISTANCE} Å)"
                        )));
                    }
                    radial.compute(d, s.radial.view_mut(), None);
                    harmonics.compute(v, &mut s.harmonics);
                    let mut channel = block.index_axis_mut(Axis(0), atoms.channel[j]);
                    let channel = channel
                        .view_mut()
                        .into_shape_with_order((n_max, n_lm))
                        .expect("contiguous channel block");
                    accumulate_pair(channel, s.radial.view(), &s.harmonics, atoms.weight(j));
                }
                Ok(())
            },
        )?;
    Ok(out)
}

/// Periodic short range: the pairs within the search's cutoff (all images), streamed centre by
/// centre so that no pair list is stored.
pub(super) fn listed_pairs(
    system: &System,
    search: &NeighborSearch<'_>,
    atoms: &AtomChannels<'_>,
    radial: &dyn RadialIntegral,
    harmonics: &SphericalHarmonics,
) -> Array3<f64> {
    let (n_max, l_max) = (radial.n_max(), radial.l_max());
    let n_lm = (l_max + 1) * (l_max + 1);
    let mut out = Array3::zeros((system.size(), atoms.n_channels, n_max * n_lm));
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each_init(
            || scratch(n_max, l_max),
            |s, (i, mut block)| {
                search.pairs_of(i, &mut s.pairs);
                for pair in &s.pairs {
                    radial.compute(pair.distance, s.radial.view_mut(), None);
                    harmonics.compute(pair.vector, &mut s.harmonics);
                    let mut channel = block.index_axis_mut(Axis(0), atoms.channel[pair.second]);
                    let channel = channel
                        .view_mut()
                        .into_shape_with_order((n_max, n_lm))
                        .expect("contiguous channel block");
                    accumulate_pair(
                        channel,
                        s.radial.view(),
                        &s.harmonics,
                        atoms.weight(pair.second),
                    );
                }
            },
        );
    out
}
