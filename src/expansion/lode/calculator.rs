//! The LODE calculator: validation, channels, the tables every route shares, and the loop over
//! structures. The route of each structure is chosen by the planner (`routes.rs`) and computed
//! by its module (`route/`).

use ndarray::{Array3, ArrayViewMut2, Axis};
use rayon::prelude::*;

use super::cell_cache::CellCache;
use super::constant_terms::{add_self, self_projection};
use super::hypers::LodeHypers;
use super::real_space::AtomChannels;
use super::route::ewald::EwaldTables;
use super::route::finite::FiniteTables;
use super::route::mesh::MeshTables;
use super::route::reciprocal::{k_cutoff_for, KspaceSum};
use crate::error::{Error, Result};
use crate::expansion::{centers_of, check_overlaps, Expansion, SpeciesMap};
use crate::math::power_law::PowerLaw;
use crate::math::spherical_harmonics::SphericalHarmonics;
use crate::neighbors::neighbor_list;
use crate::radial::{GtoBasis, KspaceRadialIntegral, RadialIntegral, SplinedRadialIntegral};
use crate::systems::{System, OVERLAP_DISTANCE};
use crate::threads::with_threads;

/// What the density channels are.
#[derive(Debug, Clone, Copy)]
pub enum Channels<'a> {
    /// One channel per species, unit weights.
    Species(&'a SpeciesMap),
    /// One channel, each atom weighted by its charge: `charges[structure][atom]`.
    Charges(&'a [Vec<f64>]),
}

/// Accuracy of the splined k-space radial integral, relative to its largest value.
const KSPACE_SPLINE_ACCURACY: f64 = 1e-10;

/// `Ĩ_nl(k)` for the k-space sums: the spline on `[0, k_max]` (every route's hot path), the
/// exact integral beyond (reached only by the reciprocal route of a small cell, whose lattice
/// sum asks for a k-cutoff above the continuum estimate's, `docs/math.md` §7).
pub(super) struct KspaceRadial {
    pub spline: SplinedRadialIntegral,
    exact: KspaceRadialIntegral,
    k_max: f64,
}

impl RadialIntegral for KspaceRadial {
    fn n_max(&self) -> usize {
        self.spline.n_max()
    }

    fn l_max(&self) -> usize {
        self.spline.l_max()
    }

    fn compute(&self, k: f64, values: ArrayViewMut2<f64>, gradients: Option<ArrayViewMut2<f64>>) {
        if k <= self.k_max {
            self.spline.compute(k, values, gradients)
        } else {
            self.exact.compute(k, values, gradients)
        }
    }
}

/// What every route shares: the validated hyper-parameters, the basis and harmonics, the
/// kernel of width σ, the k-space radial integrals splined once, and the centre's own term.
pub(super) struct Common {
    pub hypers: LodeHypers,
    pub basis: GtoBasis,
    pub harmonics: SphericalHarmonics,
    pub kernel: PowerLaw,
    /// `Ĩ_nl(k)` splined on `[0, k_max]`, exact beyond.
    pub kspace_radial: KspaceRadial,
    pub k_max: f64,
    /// k-cutoff of the plain reciprocal route for the requested accuracy (or the given one).
    pub k_cutoff: f64,
    /// `C_n = f_n0(0) Y_00`: the centre's own potential projected on `R̃_n Y_00`.
    pub self_term: Vec<f64>,
    /// Extent of the radial basis: every `r² R_n(r)` is below `accuracy` × its peak beyond it.
    pub basis_extent: f64,
    /// What the routes prepare from the cell alone, kept across calls.
    pub cells: CellCache,
}

impl Common {
    /// `(l_max + 1)²`.
    pub fn n_lm(&self) -> usize {
        (self.hypers.l_max + 1) * (self.hypers.l_max + 1)
    }

    /// Output columns per channel, `n_max (l_max + 1)²`.
    pub fn n_cols(&self) -> usize {
        self.hypers.n_max * self.n_lm()
    }

    /// The k-space sum with kernel `kernel` (σ for the plain route, η for a long range).
    pub fn kspace(&self, kernel: &PowerLaw) -> KspaceSum<'_> {
        KspaceSum {
            kernel: *kernel,
            radial: &self.kspace_radial,
            harmonics: &self.harmonics,
            n_max: self.hypers.n_max,
            l_max: self.hypers.l_max,
            cells: Some(&self.cells),
        }
    }
}

/// A LODE calculator: validated hyper-parameters, the basis, k-space radial integrals splined
/// once, and each route's tables built on first use and cached.
pub struct LodeCalculator {
    pub(super) common: Common,
    pub(super) finite: FiniteTables,
    pub(super) ewald: EwaldTables,
    pub(super) mesh: MeshTables,
}

impl LodeCalculator {
    /// Validate and prepare the k-space tables.
    pub fn new(hypers: LodeHypers) -> Result<LodeCalculator> {
        hypers.validate()?;
        let basis = GtoBasis::new(hypers.n_max, hypers.cutoff)?;
        let harmonics = SphericalHarmonics::new(hypers.l_max)?;
        let kernel = PowerLaw::new(hypers.exponent, hypers.smearing)?;
        let exact = KspaceRadialIntegral::new(&basis, hypers.l_max)?;
        let k_cutoff = match hypers.k_cutoff {
            Some(k) => k,
            None => k_cutoff_for(&kernel, &exact, hypers.accuracy),
        };
        let k_max = k_cutoff * 1.0001;
        let kspace_radial = KspaceRadial {
            spline: SplinedRadialIntegral::new(&exact, k_max, KSPACE_SPLINE_ACCURACY)?,
            exact,
            k_max,
        };
        let self_term = self_projection(&basis, &kernel);
        let basis_extent = crate::radial::basis_extent(&basis, hypers.accuracy);
        Ok(LodeCalculator {
            common: Common {
                hypers,
                basis,
                harmonics,
                kernel,
                kspace_radial,
                k_max,
                k_cutoff,
                self_term,
                basis_extent,
                cells: CellCache::default(),
            },
            finite: FiniteTables::default(),
            ewald: EwaldTables::default(),
            mesh: MeshTables::default(),
        })
    }

    /// The validated hyper-parameters.
    pub fn hypers(&self) -> &LodeHypers {
        &self.common.hypers
    }

    /// k-cutoff (Å⁻¹) of the plain reciprocal route.
    pub fn k_cutoff(&self) -> f64 {
        self.common.k_cutoff
    }

    /// Coefficients `(n_centres, n_channels, n_max, (l_max+1)²)` of every atom of every
    /// structure, on `n_threads` threads (0: all cores).
    pub fn compute(
        &self,
        systems: &[System],
        channels: Channels<'_>,
        n_threads: usize,
    ) -> Result<Expansion> {
        with_threads(n_threads, || self.compute_in_pool(systems, channels))?
    }

    fn compute_in_pool(&self, systems: &[System], channels: Channels<'_>) -> Result<Expansion> {
        let hypers = &self.common.hypers;
        let (n_max, l_max) = (hypers.n_max, hypers.l_max);
        let n_lm = (l_max + 1) * (l_max + 1);
        let set = self.channel_set(systems, channels)?;
        let n_channels = set.n_channels;

        let blocks = systems
            .par_iter()
            .enumerate()
            .map(|(s, system)| self.compute_structure(system, &set.atoms(s), s))
            .collect::<Result<Vec<Array3<f64>>>>()?;

        let sizes: Vec<usize> = systems.iter().map(System::size).collect();
        let (structure, center) = centers_of(&sizes);
        // one copy of the per-structure blocks into the output, no zero fill first
        let views: Vec<_> = blocks.iter().map(|b| b.view()).collect();
        let values = if views.is_empty() {
            Array3::zeros((0, n_channels, n_max * n_lm))
        } else {
            ndarray::concatenate(Axis(0), &views)
                .map_err(|e| Error::Internal(format!("joining the structures' blocks: {e}")))?
        }
        .into_shape_with_order((structure.len(), n_channels, n_max, n_lm))
        .map_err(|e| Error::Internal(format!("coefficient array shape: {e}")))?;
        Ok(Expansion::new(systems, values, structure, center))
    }

    /// One structure, `(N, n_channels, n_max·n_lm)`: its plan, the route prepared for it, the
    /// memory check, the values, and (periodic routes) the centre's own term reweighted to
    /// `center_weight`.
    fn compute_structure(
        &self,
        system: &System,
        atoms: &AtomChannels<'_>,
        s: usize,
    ) -> Result<Array3<f64>> {
        crate::threads::check_cancelled()?;
        let periodic = system.cell().is_periodic();
        if periodic {
            check_overlaps(&neighbor_list(system, OVERLAP_DISTANCE)?, s)?;
        }
        let plan = self.choose(system, atoms.n_channels)?;
        let route = self.prepare(&plan, s)?;
        route.check_memory(system, atoms.n_channels)?;
        let mut out = route.values(system, atoms)?;
        // loops without a Result stop early when cancelled: never return their partial sums
        crate::threads::check_cancelled()?;
        // periodic routes contain the full self term: keep a fraction center_weight of it
        let w = self.common.hypers.center_weight;
        if periodic && w != 1.0 {
            add_self(
                &mut out,
                atoms,
                &self.common.self_term,
                w - 1.0,
                self.common.n_lm(),
            );
        }
        Ok(out)
    }
}

/// The channels of every atom of a set of structures, checked.
pub(super) struct ChannelSet<'c> {
    /// `channel[structure][atom]`.
    pub channel: Vec<Vec<usize>>,
    /// `weight[structure]`: the charges, or `None` (unit weights).
    pub weight: Vec<Option<&'c [f64]>>,
    pub n_channels: usize,
}

impl ChannelSet<'_> {
    /// The sources of structure `s`.
    pub fn atoms(&self, s: usize) -> AtomChannels<'_> {
        AtomChannels {
            channel: &self.channel[s],
            weight: self.weight[s],
            n_channels: self.n_channels,
        }
    }
}

impl LodeCalculator {
    /// The channels of `systems`, after the checks every computation makes: supported
    /// periodicity, and neutral charges where a periodic `p = 1..3` sum drops `k = 0`.
    pub(super) fn channel_set<'c>(
        &self,
        systems: &[System],
        channels: Channels<'c>,
    ) -> Result<ChannelSet<'c>> {
        let hypers = &self.common.hypers;
        let (channel, n_channels) = resolve_channels(systems, channels)?;
        let weight: Vec<Option<&[f64]>> = match channels {
            Channels::Species(_) => vec![None; systems.len()],
            Channels::Charges(q) => q.iter().map(|w| Some(w.as_slice())).collect(),
        };
        for (s, system) in systems.iter().enumerate() {
            let cell = system.cell();
            cell.check_not_wire(&format!("structure {s}: LODE"))?;
            // slabs keep any total charge: their k_∥ = 0 convention has no background (§15.1)
            if let (Some(w), true) = (
                weight[s],
                cell.is_fully_periodic() && (1..=3).contains(&hypers.exponent),
            ) {
                let total: f64 = w.iter().sum();
                let scale: f64 = w.iter().map(|x| x.abs()).sum();
                if total.abs() > 1e-8 * scale.max(1.0) {
                    return Err(Error::InvalidInput(format!(
                        "structure {s}: the charges sum to {total:.6} but a periodic p = {} sum drops \
                         k = 0 (a uniform neutralising background): neutralise the charges, or use \
                         species channels",
                        hypers.exponent
                    )));
                }
            }
        }
        Ok(ChannelSet {
            channel,
            weight,
            n_channels,
        })
    }
}

/// Per-structure channel index of every atom, and the number of channels.
fn resolve_channels(
    systems: &[System],
    channels: Channels<'_>,
) -> Result<(Vec<Vec<usize>>, usize)> {
    match channels {
        Channels::Species(map) => {
            let list = systems
                .iter()
                .enumerate()
                .map(|(s, system)| map.channels(system, s))
                .collect::<Result<Vec<_>>>()?;
            Ok((list, map.len()))
        }
        Channels::Charges(charges) => {
            crate::systems::check_charges(systems, charges)?;
            Ok((systems.iter().map(|s| vec![0; s.size()]).collect(), 1))
        }
    }
}
