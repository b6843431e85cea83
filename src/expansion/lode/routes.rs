//! The LODE calculator: validation, channels, the choice of route per structure, the Ewald
//! parameters, and the centre and `k = 0` terms common to every route.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use ndarray::{Array2, Array3, Axis};
use rayon::prelude::*;

use super::hypers::{LodeHypers, Method};
use super::mesh::{mesh_dims, spacing_for, Envelope, AUTO_ORDERS, MESH_SHARE};
use super::real_space::{finite_pairs, listed_pairs, AtomChannels};
use super::reciprocal::ReciprocalBasis;
use crate::error::{Error, Result};
use crate::expansion::{centers_of, check_overlaps, Expansion, SpeciesMap};
use crate::kspace::{symmetry_degeneracy, Sources};
use crate::math::power_law::PowerLaw;
use crate::math::spherical_harmonics::SphericalHarmonics;
use crate::neighbors::{neighbor_list, NeighborSearch};
use crate::radial::{
    GtoBasis, KspaceRadialIntegral, LodeKernel, LodeRadialTable, RadialIntegral,
    SplinedRadialIntegral,
};
use crate::systems::System;
use crate::systems::OVERLAP_DISTANCE;
use crate::threads::with_threads;

/// What the density channels are.
#[derive(Debug, Clone, Copy)]
pub enum Channels<'a> {
    /// One channel per species, unit weights.
    Species(&'a SpeciesMap),
    /// One channel, each atom weighted by its charge: `charges[structure][atom]`.
    Charges(&'a [Vec<f64>]),
}

/// Bytes per stored k-vector besides its per-channel and angular values: indices, vector and
/// norm in the original and the sorted order, the permutation and the table offsets.
const BYTES_PER_K: f64 = 136.0;
/// Ewald widths tried: η = σ · 2^{m/4}, m = 1..=EWALD_STEPS (up to 64σ).
const EWALD_STEPS: i32 = 24;
/// Fraction of the accuracy budget given to each part of the Ewald split (the splined short
/// range and the truncated long range): their errors add, so each gets a quarter.
const EWALD_SHARE: f64 = 0.25;
/// Rough relative costs used only to choose between routes and η (not for accuracy):
/// one pair term in units of one k-space multiply-add (the batched pair loop costs about 176 ns
/// per pair on the NaCl gases, search included).
const PAIR_COST_FACTOR: f64 = 28.0;
/// Mesh route cost per mesh point and log₂ of the mesh size, per transform (same units).
const MESH_FFT_COST: f64 = 7.0;
/// Mesh route cost per atom and stencil point, per spread or interpolation (same units).
const MESH_STENCIL_COST: f64 = 35.0;
/// `auto` considers the mesh only from this many atoms (smaller cells never gain from it, and
/// the error model's first evaluation costs a few tenths of a second).
const MESH_MIN_ATOMS: f64 = 1000.0;

/// A LODE calculator: validated hyper-parameters, the basis, k-space radial integrals splined
/// once, and real-space tables built on first use and cached.
pub struct LodeCalculator {
    hypers: LodeHypers,
    basis: GtoBasis,
    harmonics: SphericalHarmonics,
    kernel: PowerLaw,
    /// `Ĩ_nl(k)` splined on `[0, k_max]`.
    kspace_radial: SplinedRadialIntegral,
    k_max: f64,
    /// k-cutoff of the plain reciprocal route for the requested accuracy (or the given one).
    k_cutoff: f64,
    /// `C_n = f_n0(0) Y_00`: the centre's own potential projected on `R̃_n Y_00`.
    self_term: Vec<f64>,
    /// Extent of the radial basis: every `r² R_n(r)` is below `accuracy` × its peak beyond it.
    basis_extent: f64,
    finite_table: OnceLock<std::result::Result<Arc<LodeRadialTable>, Error>>,
    ewald: Mutex<HashMap<i32, Arc<EwaldPart>>>,
    /// Long-range k-cutoff of each Ewald width (step).
    long_range_cutoffs: Mutex<HashMap<i32, f64>>,
    /// `max_nl |Ĩ_nl(k)|` on `[0, k_max]`, for the mesh's error model.
    envelope: OnceLock<Envelope>,
    /// Mesh spacing chosen by the error model for each (Ewald step, spline order).
    mesh_spacings: Mutex<HashMap<(i32, usize), f64>>,
}

impl EwaldPart {
    /// The long-range kernel `g_p` of width `η`.
    fn long_range(&self) -> Result<PowerLaw> {
        PowerLaw::new(self.short_range.kernel().exponent(), self.eta)
    }
}

/// Tables of one Ewald split.
struct EwaldPart {
    eta: f64,
    short_range: LodeRadialTable,
    k_cutoff: f64,
    /// `lim_{k→0} ĝ_SR(k)` (p = 1, 2, 3) to subtract, zero otherwise.
    k0_correction: f64,
    /// `C_n^SR`: the short-range part of the centre's own potential on `R̃_n Y_00`.
    self_term: Vec<f64>,
}

/// Accuracy of the splined k-space radial integral, relative to its largest value.
const KSPACE_SPLINE_ACCURACY: f64 = 1e-10;

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
        let kspace_radial = SplinedRadialIntegral::new(&exact, k_max, KSPACE_SPLINE_ACCURACY)?;
        let self_term = self_projection(&basis, &kernel);
        let basis_extent = crate::radial::basis_extent(&basis, hypers.accuracy);
        Ok(LodeCalculator {
            hypers,
            basis,
            harmonics,
            kernel,
            kspace_radial,
            k_max,
            k_cutoff,
            self_term,
            basis_extent,
            finite_table: OnceLock::new(),
            ewald: Mutex::new(HashMap::new()),
            long_range_cutoffs: Mutex::new(HashMap::new()),
            envelope: OnceLock::new(),
            mesh_spacings: Mutex::new(HashMap::new()),
        })
    }

    /// The validated hyper-parameters.
    pub fn hypers(&self) -> &LodeHypers {
        &self.hypers
    }

    /// k-cutoff (Å⁻¹) of the plain reciprocal route.
    pub fn k_cutoff(&self) -> f64 {
        self.k_cutoff
    }

    fn n_cols(&self) -> usize {
        self.hypers.n_max * (self.hypers.l_max + 1) * (self.hypers.l_max + 1)
    }

    fn finite_table(&self) -> Result<Arc<LodeRadialTable>> {
        self.finite_table
            .get_or_init(|| {
                LodeRadialTable::finite(
                    &self.basis,
                    self.hypers.l_max,
                    self.hypers.exponent,
                    self.hypers.smearing,
                    self.hypers.accuracy,
                )
                .map(Arc::new)
            })
            .clone()
    }

    /// `η` of Ewald step `step`: `σ 2^{step/4}`.
    fn eta(&self, step: i32) -> f64 {
        self.hypers.smearing * 2f64.powf(step as f64 / 4.0)
    }

    /// k-cutoff of the long range with width `η(step)` for its share of the accuracy.
    fn long_range_cutoff(&self, step: i32) -> Result<f64> {
        if let Some(k) = self
            .long_range_cutoffs
            .lock()
            .expect("cutoff cache")
            .get(&step)
        {
            return Ok(*k);
        }
        let long = PowerLaw::new(self.hypers.exponent, self.eta(step))?;
        let k = k_cutoff_for(
            &long,
            &self.kspace_radial,
            EWALD_SHARE * self.hypers.accuracy,
        )
        .min(self.k_max);
        self.long_range_cutoffs
            .lock()
            .expect("cutoff cache")
            .insert(step, k);
        Ok(k)
    }

    /// Mesh spacing for Ewald step `step` and spline order `order`: given, or the largest that
    /// the error model (`mesh.rs`) allows for the mesh's share of the accuracy.
    fn mesh_spacing(&self, step: i32, order: usize) -> Result<f64> {
        if let Some(h) = self.hypers.mesh_spacing {
            return Ok(h);
        }
        if let Some(h) = self
            .mesh_spacings
            .lock()
            .expect("mesh cache")
            .get(&(step, order))
        {
            return Ok(*h);
        }
        let envelope = self
            .envelope
            .get_or_init(|| Envelope::new(&self.kspace_radial, self.k_max));
        let long = PowerLaw::new(self.hypers.exponent, self.eta(step))?;
        let h = spacing_for(
            envelope,
            &long,
            self.long_range_cutoff(step)?,
            order,
            MESH_SHARE * self.hypers.accuracy,
        );
        self.mesh_spacings
            .lock()
            .expect("mesh cache")
            .insert((step, order), h);
        Ok(h)
    }

    fn ewald_part(&self, step: i32) -> Result<Arc<EwaldPart>> {
        if let Some(part) = self.ewald.lock().expect("ewald cache").get(&step) {
            return Ok(part.clone());
        }
        let sigma = self.hypers.smearing;
        let eta = self.eta(step);
        let p = self.hypers.exponent;
        let short_range = LodeRadialTable::ewald_short_range(
            &self.basis,
            self.hypers.l_max,
            p,
            sigma,
            eta,
            EWALD_SHARE * self.hypers.accuracy,
        )?;
        let k_cutoff = self.long_range_cutoff(step)?;
        let k0_correction = if (1..=3).contains(&p) {
            LodeKernel::ewald_short_range(p, sigma, eta)?
                .fourier_at_zero()
                .ok_or_else(|| {
                    Error::Internal("the short-range kernel has no k = 0 limit".into())
                })?
        } else {
            0.0
        };
        let self_term = coefficient_of_self(short_range.self_term());
        let part = Arc::new(EwaldPart {
            eta,
            short_range,
            k_cutoff,
            k0_correction,
            self_term,
        });
        self.ewald
            .lock()
            .expect("ewald cache")
            .insert(step, part.clone());
        Ok(part)
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
        let (n_max, l_max) = (self.hypers.n_max, self.hypers.l_max);
        let n_lm = (l_max + 1) * (l_max + 1);
        let (atom_channels, n_channels) = resolve_channels(systems, channels)?;
        let weights: Vec<Option<&[f64]>> = match channels {
            Channels::Species(_) => vec![None; systems.len()],
            Channels::Charges(q) => q.iter().map(|w| Some(w.as_slice())).collect(),
        };
        for (s, system) in systems.iter().enumerate() {
            let cell = system.cell();
            cell.check_periodicity(&format!("structure {s}: LODE"))?;
            if let (Some(w), true) = (
                weights[s],
                cell.is_periodic() && (1..=3).contains(&self.hypers.exponent),
            ) {
                let total: f64 = w.iter().sum();
                let scale: f64 = w.iter().map(|x| x.abs()).sum();
                if total.abs() > 1e-8 * scale.max(1.0) {
                    return Err(Error::InvalidInput(format!(
                        "structure {s}: the charges sum to {total:.6} but a periodic p = {} sum drops \
                         k = 0 (a uniform neutralising background): neutralise the charges, or use \
                         species channels",
                        self.hypers.exponent
                    )));
                }
            }
        }

        let blocks = systems
            .par_iter()
            .enumerate()
            .map(|(s, system)| {
                let atoms = AtomChannels {
                    channel: &atom_channels[s],
                    weight: weights[s],
                    n_channels,
                };
                self.compute_structure(system, &atoms, s)
            })
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

    /// One structure, `(N, n_channels, n_max·n_lm)`.
    fn compute_structure(
        &self,
        system: &System,
        atoms: &AtomChannels<'_>,
        s: usize,
    ) -> Result<Array3<f64>> {
        let n_lm = (self.hypers.l_max + 1) * (self.hypers.l_max + 1);
        let w = self.hypers.center_weight;
        let mut out = if !system.cell().is_periodic() {
            let table = self.finite_table()?;
            let mut out = finite_pairs(system, atoms, table.as_ref(), &self.harmonics, s)?;
            // the centre's own potential, with weight center_weight
            add_self(&mut out, atoms, &self.self_term, w, n_lm);
            return Ok(out);
        } else {
            check_overlaps(&neighbor_list(system, OVERLAP_DISTANCE)?, s)?;
            match self.choose_route(system, atoms.n_channels)? {
                Route::Reciprocal(k_cutoff) => {
                    self.check_memory(system, k_cutoff, atoms.n_channels)?;
                    self.reciprocal(system, atoms, &self.kernel, k_cutoff)?
                }
                Route::Pairs => {
                    let table = self.finite_table()?;
                    let reach = table.reach();
                    self.check_memory(system, 0.0, atoms.n_channels)?;
                    let search = NeighborSearch::new(system, reach)?;
                    let mut out =
                        listed_pairs(system, &search, atoms, table.as_ref(), &self.harmonics);
                    add_self(&mut out, atoms, &self.self_term, 1.0, n_lm);
                    out
                }
                Route::Ewald(step) => {
                    let part = self.ewald_part(step)?;
                    self.check_memory(system, part.k_cutoff, atoms.n_channels)?;
                    let mut out = self.short_range(system, atoms, &part)?;
                    out += &self.reciprocal(system, atoms, &part.long_range()?, part.k_cutoff)?;
                    if part.k0_correction != 0.0 {
                        self.subtract_k0(&mut out, system, atoms, part.k0_correction);
                    }
                    out
                }
                Route::Mesh {
                    step,
                    order,
                    spacing,
                } => {
                    let part = self.ewald_part(step)?;
                    let dims = mesh_dims(system, spacing);
                    self.check_mesh_memory(system, part.k_cutoff, dims, order, atoms.n_channels)?;
                    let mut out = self.short_range(system, atoms, &part)?;
                    // the k-space terms of the Ewald route, k = 0 included, on the mesh
                    let basis = self.reciprocal_basis(&part.long_range()?);
                    let sources = sources_of(system, atoms)?;
                    out += &basis.compute_mesh(system, &sources, part.k_cutoff, dims, order)?;
                    basis.add_k0_term(&mut out, &sources, system.cell().volume());
                    if part.k0_correction != 0.0 {
                        self.subtract_k0(&mut out, system, atoms, part.k0_correction);
                    }
                    out
                }
            }
        };
        // periodic routes contain the full self term: keep a fraction center_weight of it
        if w != 1.0 {
            add_self(&mut out, atoms, &self.self_term, w - 1.0, n_lm);
        }
        Ok(out)
    }

    /// The Ewald short range: streamed pairs over periodic images and the centre's own
    /// short-range potential.
    fn short_range(
        &self,
        system: &System,
        atoms: &AtomChannels<'_>,
        part: &EwaldPart,
    ) -> Result<Array3<f64>> {
        let n_lm = (self.hypers.l_max + 1) * (self.hypers.l_max + 1);
        let search = NeighborSearch::new(system, part.short_range.reach())?;
        let mut out = listed_pairs(system, &search, atoms, &part.short_range, &self.harmonics);
        add_self(&mut out, atoms, &part.self_term, 1.0, n_lm);
        Ok(out)
    }

    fn reciprocal_basis(&self, kernel: &PowerLaw) -> ReciprocalBasis<'_> {
        ReciprocalBasis {
            kernel: *kernel,
            radial: &self.kspace_radial,
            harmonics: &self.harmonics,
            n_max: self.hypers.n_max,
            l_max: self.hypers.l_max,
        }
    }

    fn reciprocal(
        &self,
        system: &System,
        atoms: &AtomChannels<'_>,
        kernel: &PowerLaw,
        k_cutoff: f64,
    ) -> Result<Array3<f64>> {
        let basis = self.reciprocal_basis(kernel);
        basis.compute(system, &sources_of(system, atoms)?, k_cutoff)
    }

    /// The short-range pair sum over all images contains its own `k = 0` component, which the
    /// reciprocal convention drops for p = 1, 2, 3: subtract `(W_a/V) ĝ_SR(0) √(4π) ∫ r² R̃_n dr`.
    fn subtract_k0(
        &self,
        out: &mut Array3<f64>,
        system: &System,
        atoms: &AtomChannels<'_>,
        g0: f64,
    ) {
        let moments = self.basis.moments(2.0).expect("q = 2 moments exist");
        let volume = system.cell().volume();
        let mut totals = vec![0.0; atoms.n_channels];
        for j in 0..system.size() {
            totals[atoms.channel[j]] += atoms.weight.map_or(1.0, |w| w[j]);
        }
        let four_pi_sqrt = (4.0 * std::f64::consts::PI).sqrt();
        let n_lm = (self.hypers.l_max + 1) * (self.hypers.l_max + 1);
        for mut centre in out.outer_iter_mut() {
            for (a, total) in totals.iter().enumerate() {
                for (n, m) in moments.iter().enumerate() {
                    centre[[a, n * n_lm]] -= total / volume * g0 * four_pi_sqrt * m;
                }
            }
        }
    }

    /// Refuse work whose k-vectors and coefficient arrays would exceed the memory budget
    /// (pairs are streamed centre by centre and never stored).
    fn check_memory(&self, system: &System, k_cutoff: f64, n_channels: usize) -> Result<()> {
        let volume = system.cell().volume();
        let n_k = ReciprocalBasis::estimated_k_count(volume, k_cutoff);
        // the reciprocal sum holds its accumulator and its result (twice by shells), the caller
        // one more copy
        let output = 4.0 * (system.size() * n_channels * self.n_cols()) as f64 * 8.0;
        // the shell route keeps the structure factors and angular factors of every k-vector,
        // and phase tables of every atom (at most 2 · (2 k_c L_d / 2π + 1) entries per direction)
        let n_lm = (self.hypers.l_max + 1) * (self.hypers.l_max + 1);
        let per_k = BYTES_PER_K + 8.0 * (2 * n_channels + n_lm) as f64;
        let table_len: f64 = system
            .cell()
            .matrix()
            .iter()
            .map(|a| {
                2.0 * k_cutoff * a.iter().map(|x| x * x).sum::<f64>().sqrt() / std::f64::consts::TAU
                    + 3.0
            })
            .sum();
        let tables = 2.0 * 16.0 * system.size() as f64 * table_len;
        let bytes = n_k * per_k + tables + output;
        if bytes > self.hypers.max_memory {
            crate::bail_param!(
                "this structure ({} atoms, {volume:.0} Å³) would need about {:.2} GiB: {n_k:.2e} \
                 k-vectors (k_cutoff {k_cutoff:.2} Å⁻¹) and {:.2} GiB of coefficients, above \
                 max_memory = {:.2} GiB: use method='ewald' or 'auto', a larger smearing, a looser \
                 accuracy, or raise max_memory",
                system.size(),
                bytes / 2f64.powi(30),
                output / 2f64.powi(30),
                self.hypers.max_memory / 2f64.powi(30)
            );
        }
        Ok(())
    }

    /// Refuse a mesh route whose meshes, mode tables and coefficient arrays would exceed the
    /// memory budget.
    fn check_mesh_memory(
        &self,
        system: &System,
        k_cutoff: f64,
        dims: [usize; 3],
        order: usize,
        n_channels: usize,
    ) -> Result<()> {
        let volume = system.cell().volume();
        let n_modes = ReciprocalBasis::estimated_k_count(volume, k_cutoff);
        let basis = self.reciprocal_basis(&self.kernel);
        let threads = rayon::current_num_threads();
        let mesh = basis.mesh_memory(system.size(), n_channels, n_modes, dims, order, threads);
        // the column results, the returned array, the caller's sum and one more copy
        let output = 4.0 * (system.size() * n_channels * self.n_cols()) as f64 * 8.0;
        let bytes = mesh + output;
        if bytes > self.hypers.max_memory {
            crate::bail_param!(
                "this structure ({} atoms, {volume:.0} Å³) would need about {:.2} GiB with the \
                 particle mesh: a {}×{}×{} mesh on {threads} threads, {n_modes:.2e} modes and \
                 {:.2} GiB of coefficients, above max_memory = {:.2} GiB: use fewer threads, a \
                 larger mesh_spacing or smearing, a looser accuracy, or raise max_memory",
                system.size(),
                bytes / 2f64.powi(30),
                dims[0],
                dims[1],
                dims[2],
                output / 2f64.powi(30),
                self.hypers.max_memory / 2f64.powi(30)
            );
        }
        Ok(())
    }

    /// Route for one periodic structure, by estimated cost where the method leaves a choice.
    ///
    /// Costs are in units of one multiply-add of the k-space contraction: per atom and
    /// k-vector [`ReciprocalBasis::cost_per_k`] (dense or by shells, with the degeneracy
    /// expected from the cell's symmetry); per pair `PAIR_COST_FACTOR n_cols`; for the mesh,
    /// per transform `MESH_FFT_COST M log₂M` (M mesh points) and per interpolation or spread
    /// `MESH_STENCIL_COST N p³`, once per channel for the spread and forward transform and once
    /// per (channel, column) for the inverse transform and interpolation. The constants were
    /// measured on the NaCl gases (2 cores; see `benches/lode.rs`).
    fn choose_route(&self, system: &System, n_channels: usize) -> Result<Route> {
        let h = &self.hypers;
        if h.k_cutoff.is_some() || h.method == Method::Reciprocal {
            return Ok(Route::Reciprocal(self.k_cutoff));
        }
        if h.exponent == 0 {
            // the Gaussian density is short ranged: real space over images is exact and cheap
            return Ok(Route::Pairs);
        }
        let volume = system.cell().volume();
        let n = system.size() as f64;
        let density = n / volume;
        let n_cols = self.n_cols() as f64;
        let channels = n_channels as f64;
        let degeneracy = symmetry_degeneracy(system.cell());
        let (per_k, _) = self
            .reciprocal_basis(&self.kernel)
            .cost_per_k(n_channels, degeneracy);
        let per_pair = PAIR_COST_FACTOR * n_cols;
        let log_acc = (1.0 / h.accuracy).ln();
        let pair_cost = |eta: f64| {
            let reach = self.basis_extent + eta * (2.0 * log_acc).sqrt();
            n * density * 4.0 / 3.0 * std::f64::consts::PI * reach.powi(3) * per_pair
        };
        let reciprocal_cost = n * ReciprocalBasis::estimated_k_count(volume, self.k_cutoff) * per_k;
        let mut ewald: Option<(f64, i32)> = None;
        let mut mesh: Option<(f64, Route)> = None;
        let try_mesh = match h.method {
            Method::Mesh => true,
            Method::Auto => n >= MESH_MIN_ATOMS,
            _ => false,
        };
        let try_ewald = matches!(h.method, Method::Ewald | Method::Auto);
        if try_ewald {
            for step in 1..=EWALD_STEPS {
                let eta = self.eta(step);
                let k_cut = ((2.0 * log_acc).sqrt() / eta).min(self.k_cutoff);
                let cost =
                    pair_cost(eta) + n * ReciprocalBasis::estimated_k_count(volume, k_cut) * per_k;
                if ewald.is_none_or(|(c, _)| cost < c) {
                    ewald = Some((cost, step));
                }
            }
        }
        // the cheapest route so far: a mesh step whose pairs alone cost more cannot win, so its
        // error model (the expensive part of the choice) is not evaluated
        let mut bound = ewald.map_or(f64::INFINITY, |(c, _)| c);
        if h.method == Method::Auto {
            bound = bound.min(reciprocal_cost);
        }
        for step in 1..=EWALD_STEPS {
            let pairs = pair_cost(self.eta(step));
            if try_mesh && pairs < bound {
                let orders: &[usize] = match h.spline_order {
                    Some(ref p) => std::slice::from_ref(p),
                    None => &AUTO_ORDERS,
                };
                for &order in orders {
                    let spacing = self.mesh_spacing(step, order)?;
                    let dims = mesh_dims(system, spacing);
                    let points = (dims[0] * dims[1] * dims[2]) as f64;
                    let fft = MESH_FFT_COST * points * points.log2().max(1.0);
                    let stencil = MESH_STENCIL_COST * n * (order as f64).powi(3);
                    let cost = pairs + channels * (fft + stencil) * (1.0 + n_cols);
                    if mesh.as_ref().is_none_or(|(c, _)| cost < *c) {
                        bound = bound.min(cost);
                        mesh = Some((
                            cost,
                            Route::Mesh {
                                step,
                                order,
                                spacing,
                            },
                        ));
                    }
                }
            }
        }
        let mut best = (reciprocal_cost, Route::Reciprocal(self.k_cutoff));
        if h.method != Method::Auto {
            best.0 = f64::INFINITY;
        }
        if let Some((cost, step)) = ewald {
            if cost < best.0 {
                best = (cost, Route::Ewald(step));
            }
        }
        if let Some((cost, route)) = mesh {
            if cost < best.0 {
                best = (cost, route);
            }
        }
        Ok(best.1)
    }

    /// The route `compute` takes for a periodic structure with `n_channels` channels, by name
    /// (`"reciprocal"`, `"ewald"`, `"mesh"`, `"pairs"`) with its parameters, for diagnostics
    /// and tests.
    pub fn route_for(&self, system: &System, n_channels: usize) -> Result<String> {
        if !system.cell().is_fully_periodic() {
            return Ok("real-space".into());
        }
        Ok(match self.choose_route(system, n_channels)? {
            Route::Reciprocal(k) => format!("reciprocal k_cutoff={k:.4}"),
            Route::Pairs => "pairs".into(),
            Route::Ewald(step) => format!(
                "ewald eta={:.4} k_cutoff={:.4}",
                self.eta(step),
                self.long_range_cutoff(step)?
            ),
            Route::Mesh {
                step,
                order,
                spacing,
            } => {
                let d = mesh_dims(system, spacing);
                format!(
                    "mesh eta={:.4} k_cutoff={:.4} spline_order={order} mesh_spacing={spacing:.4} \
                     mesh={}x{}x{}",
                    self.eta(step),
                    self.long_range_cutoff(step)?,
                    d[0],
                    d[1],
                    d[2]
                )
            }
        })
    }
}

enum Route {
    Reciprocal(f64),
    Pairs,
    Ewald(i32),
    Mesh {
        step: i32,
        order: usize,
        spacing: f64,
    },
}

/// Every atom of `system` as a source of its channel.
fn sources_of<'a>(system: &'a System, atoms: &AtomChannels<'a>) -> Result<Sources<'a>> {
    Sources::new(
        system.positions(),
        atoms.channel,
        atoms.weight,
        atoms.n_channels,
    )
}

/// `f_n0(0) → f_n0(0) Y_00`: the `c_n00` coefficient of a potential centred on the centre.
fn coefficient_of_self(f_at_zero: &[f64]) -> Vec<f64> {
    f_at_zero
        .iter()
        .map(|f| f * crate::math::spherical_harmonics::Y00)
        .collect()
}

/// `out[i, a_i, n·n_lm] += factor · w_i · term[n]` (l = 0 of each atom's own channel).
fn add_self(
    out: &mut Array3<f64>,
    atoms: &AtomChannels<'_>,
    term: &[f64],
    factor: f64,
    n_lm: usize,
) {
    for (i, mut centre) in out.axis_iter_mut(Axis(0)).enumerate() {
        let w = factor * atoms.weight.map_or(1.0, |w| w[i]);
        for (n, t) in term.iter().enumerate() {
            centre[[atoms.channel[i], n * n_lm]] += w * t;
        }
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

/// Smallest `k_c` such that the tail bound `(2/π) ∫_{k_c}^∞ k² |ĝ(k)| max_nl |Ĩ_nl(k)| dk`
/// — the largest contribution one unit source can make to a coefficient from `|k| > k_c` —
/// is below `accuracy`.
fn k_cutoff_for(kernel: &PowerLaw, radial: &dyn RadialIntegral, accuracy: f64) -> f64 {
    let (n_max, l_max) = (radial.n_max(), radial.l_max());
    let mut values = Array2::zeros((n_max, l_max + 1));
    // the integrand decays at least like exp(-k²σ²/2) < 1e-31 beyond 12/σ
    let k_top = 12.0 / kernel.smearing();
    let steps = 4000;
    let h = k_top / steps as f64;
    let integrand = |k: f64, values: &mut Array2<f64>| {
        radial.compute(k, values.view_mut(), None);
        let largest = values
            .iter()
            .filter(|v| v.is_finite())
            .fold(0.0_f64, |m, v| m.max(v.abs()));
        2.0 / std::f64::consts::PI * k * k * kernel.fourier(k).abs() * largest
    };
    let mut tail = 0.0;
    let mut previous = integrand(k_top, &mut values);
    for step in (0..steps).rev() {
        let k = step as f64 * h;
        if k == 0.0 {
            return h;
        }
        let current = integrand(k, &mut values);
        tail += 0.5 * h * (current + previous);
        if tail > accuracy {
            return k + h;
        }
        previous = current;
    }
    h
}

/// `C_n = √(4π) ∫ r² R̃_n(r) g(r) dr` (the centre's own potential on `R̃_n Y_00`), by
/// Gauss–Legendre quadrature on `[0, 12 σ_max]` with 400 nodes (the integrand is smooth).
fn self_projection(basis: &GtoBasis, kernel: &PowerLaw) -> Vec<f64> {
    let sigma_max = basis.sigmas().iter().fold(0.0_f64, |m, &s| m.max(s));
    let r_max = 14.0 * sigma_max + 10.0 * kernel.smearing();
    let (nodes, weights) = crate::math::quadrature::gauss_legendre(400);
    let mut out = vec![0.0; basis.n_max()];
    let mut radial = vec![0.0; basis.n_max()];
    for (x, w) in nodes.iter().zip(&weights) {
        let r = 0.5 * r_max * (x + 1.0);
        basis.evaluate(r, &mut radial);
        let f = 0.5 * r_max * w * r * r * kernel.value(r);
        for (o, rn) in out.iter_mut().zip(&radial) {
            *o += f * rn;
        }
    }
    let factor = (4.0 * std::f64::consts::PI).sqrt();
    out.iter().map(|c| factor * c).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two routes to the centre's own potential on `R̃_n Y_00`: the direct radial quadrature
    /// here and the k-space quadrature of the pair table (`f_n0(0) Y_00`), for every exponent.
    #[test]
    fn self_term_matches_the_pair_table() {
        let basis = GtoBasis::new(5, 3.0).unwrap();
        for p in 0..=6 {
            let sigma = 0.8;
            let direct = self_projection(&basis, &PowerLaw::new(p, sigma).unwrap());
            let table = LodeRadialTable::finite(&basis, 2, p, sigma, 1e-8).unwrap();
            let from_table = coefficient_of_self(table.self_term());
            for (a, b) in direct.iter().zip(&from_table) {
                assert!(
                    (a - b).abs() < 1e-10 * b.abs().max(1.0),
                    "p = {p}: {a} vs {b}"
                );
            }
        }
    }

    /// The tail bound decreases with k_c, and tighter accuracy needs a larger k_c.
    #[test]
    fn k_cutoff_grows_with_accuracy() {
        let basis = GtoBasis::new(4, 3.0).unwrap();
        let radial = KspaceRadialIntegral::new(&basis, 3).unwrap();
        let kernel = PowerLaw::new(1, 1.0).unwrap();
        let loose = k_cutoff_for(&kernel, &radial, 1e-4);
        let tight = k_cutoff_for(&kernel, &radial, 1e-10);
        assert!(loose < tight && tight < 12.0, "{loose} {tight}");
    }
}
