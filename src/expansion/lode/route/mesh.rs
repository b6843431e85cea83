//! The particle-mesh route (`method = "mesh"`): the Ewald split of `docs/math.md` §3c (§8.4) with its
//! long range evaluated by smooth particle-mesh Ewald ([`crate::mesh`]) instead of the explicit
//! sum over k-vectors. Long range, per channel `a` and column `q = (n, l, m)`:
//!
//! `c^a_q(i) = Σ_{0<|k|<k_c} (4π/V) ĝ_η(k) Ĩ_nl(k) i^l Y_lm(k̂) Σ_{j∈a} w_j e^{ik·(r_i − r_j)}`,
//!
//! the same terms as the Ewald route's reciprocal sum (same `η`, same `k_c`, same `k = 0`
//! handling, same basis [`super::super::kbasis::LodeBasis`]), with `i^l = φ_l` (even l) or
//! `−iφ_l` (odd l). The short range and the Ewald tables are the Ewald route's; the mesh
//! spacing comes from the error model of [`super::mesh_spacing`], cached per (width, order).
//!
//! Gradients: the backward pass is exact for the mesh values (positions and strain): the
//! short range's pairs, the smooth-PME adjoint of the long range
//! ([`crate::mesh::separable_mesh_backward`]) and the `k = 0` terms through `1/V`. The
//! Jacobian rows are the Ewald route's of the same split (same `η`, same `k_c`): they differ
//! from the derivatives of the mesh values by the mesh's discretisation error (within the
//! requested accuracy) and cost `O(N N_k)` per row.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use ndarray::{Array3, ArrayView3};

use super::super::calculator::Common;
use super::super::constant_terms::{
    add_k0_term, add_volume_term_strain_backward, ewald_k0, k0_term, subtract_ewald_k0,
};
use super::super::real_space::{listed_pair_backward, AtomChannels};
use super::ewald::{add_gradients, eta, short_range, EwaldPart, EwaldRoute, EwaldTables};
use super::mesh_spacing::{spacing_for, Envelope, MESH_SHARE};
use super::reciprocal::{estimated_k_count, KspaceSum};
use super::LodeRoute;
use crate::cost::{MESH_FFT_COST, MESH_STENCIL_COST};
use crate::error::Result;
use crate::kspace::Sources;
use crate::math::power_law::PowerLaw;
use crate::mesh::{separable_mesh_backward, separable_mesh_sum, MeshModes};
use crate::systems::{Mat3, System, Vec3};

/// The mesh route's cached tables: the envelope of the radial integrals for the error model,
/// and the spacing it chose for each (Ewald step, spline order).
#[derive(Default)]
pub(in crate::expansion::lode) struct MeshTables {
    /// `max_nl |Ĩ_nl(k)|` on `[0, k_max]`, for the mesh's error model.
    envelope: OnceLock<Envelope>,
    spacings: Mutex<HashMap<(i32, usize), f64>>,
}

impl MeshTables {
    /// Mesh spacing for Ewald step `step` and spline order `order`: given, or the largest that
    /// the error model ([`super::mesh_spacing`]) allows for the mesh's share of the accuracy.
    pub fn spacing(
        &self,
        common: &Common,
        ewald: &EwaldTables,
        step: i32,
        order: usize,
    ) -> Result<f64> {
        if let Some(h) = common.hypers.mesh_spacing {
            return Ok(h);
        }
        if let Some(h) = self
            .spacings
            .lock()
            .expect("mesh cache")
            .get(&(step, order))
        {
            return Ok(*h);
        }
        let envelope = self
            .envelope
            .get_or_init(|| Envelope::new(&common.kspace_radial.spline, common.k_max));
        let long = PowerLaw::new(common.hypers.exponent, eta(common, step))?;
        let h = spacing_for(
            envelope,
            &long,
            ewald.long_range_cutoff(common, step)?,
            order,
            MESH_SHARE * common.hypers.accuracy,
        );
        self.spacings
            .lock()
            .expect("mesh cache")
            .insert((step, order), h);
        Ok(h)
    }
}

/// Estimated cost of the mesh route: the short range's `pairs`, then per channel one spread and
/// one forward transform, and per (channel, column) one inverse transform and one interpolation
/// (`MESH_FFT_COST M log₂M` per transform of `M` points, `MESH_STENCIL_COST N p³` per spread or
/// interpolation; [`crate::cost`]).
pub(in crate::expansion::lode) fn cost(
    common: &Common,
    n: f64,
    n_channels: usize,
    pairs: f64,
    dims: [usize; 3],
    order: usize,
) -> f64 {
    let points = (dims[0] * dims[1] * dims[2]) as f64;
    let fft = MESH_FFT_COST * points * points.log2().max(1.0);
    let stencil = MESH_STENCIL_COST * n * (order as f64).powi(3);
    pairs + n_channels as f64 * (fft + stencil) * (1.0 + common.n_cols() as f64)
}

/// The k-space sum of `kspace` (without its `k = 0` term) on a `dims` mesh with B-splines of
/// order `order`: `(n_centres, n_channels, n_max·n_lm)`.
pub(in crate::expansion::lode) fn long_range_on_mesh(
    kspace: &KspaceSum<'_>,
    system: &System,
    sources: &Sources<'_>,
    k_cutoff: f64,
    dims: [usize; 3],
    order: usize,
) -> Result<Array3<f64>> {
    let cell = system.cell();
    let modes = mesh_modes(kspace, cell, dims, order, k_cutoff)?;
    let basis = kspace.separable(cell.volume());
    separable_mesh_sum(cell, system.positions(), sources, &modes, &basis)
}

/// The mesh modes of `cell` ([`MeshModes::new`]), from the calculator's cell cache when
/// `kspace` has one.
fn mesh_modes(
    kspace: &KspaceSum<'_>,
    cell: &crate::systems::Cell,
    dims: [usize; 3],
    order: usize,
    k_cutoff: f64,
) -> Result<Arc<MeshModes>> {
    match kspace.cells {
        Some(cells) => cells.mesh_modes(cell, dims, order, k_cutoff),
        None => Ok(Arc::new(MeshModes::new(cell, dims, order, k_cutoff)?)),
    }
}

/// Estimated bytes of the mesh route for `system`: `(total, coefficients)`, with as many
/// column tasks in flight as the current pool has threads.
pub(in crate::expansion::lode) fn memory(
    common: &Common,
    system: &System,
    k_cutoff: f64,
    dims: [usize; 3],
    order: usize,
    n_channels: usize,
) -> (f64, f64) {
    let n_modes = estimated_k_count(system.cell().volume(), k_cutoff);
    let threads = rayon::current_num_threads();
    let (n_max, l_max) = (common.hypers.n_max, common.hypers.l_max);
    let real = (dims[0] * dims[1] * dims[2]) as f64 * 8.0;
    let complex = (dims[0] * dims[1] * (dims[2] / 2 + 1)) as f64 * 16.0;
    let per_task = (1.0 + crate::mesh::BATCH as f64) * real + complex + n_modes * 8.0;
    let tables = n_modes * (n_max * (l_max + 1) + common.n_lm() + 8) as f64 * 8.0;
    let spectra = n_channels as f64 * n_modes * 16.0;
    let stencils = system.size() as f64 * 3.0 * order as f64 * 12.0;
    let mesh = threads as f64 * per_task + tables + spectra + stencils;
    // the column results, the returned array, the caller's sum and one more copy
    let output = 4.0 * (system.size() * n_channels * common.n_cols()) as f64 * 8.0;
    (mesh + output, output)
}

/// The mesh route with the Ewald tables of one width, a mesh and a spline order.
pub(in crate::expansion::lode) struct MeshRoute<'a> {
    pub common: &'a Common,
    pub part: Arc<EwaldPart>,
    pub dims: [usize; 3],
    pub order: usize,
    /// The Ewald route of the same split: its Jacobian rows are the mesh route's.
    ewald: EwaldRoute<'a>,
}

impl<'a> MeshRoute<'a> {
    pub fn new(
        common: &'a Common,
        part: Arc<EwaldPart>,
        dims: [usize; 3],
        order: usize,
    ) -> Result<Self> {
        Ok(MeshRoute {
            common,
            ewald: EwaldRoute::new(common, part.clone())?,
            part,
            dims,
            order,
        })
    }
}

impl LodeRoute for MeshRoute<'_> {
    /// Refuse a mesh whose meshes, mode tables and coefficient arrays would exceed the memory
    /// budget.
    fn check_memory(&self, system: &System, n_channels: usize) -> Result<()> {
        let common = self.common;
        let (bytes, output) = memory(
            common,
            system,
            self.part.k_cutoff,
            self.dims,
            self.order,
            n_channels,
        );
        let max_memory = common.hypers.max_memory;
        if bytes > max_memory {
            let volume = system.cell().volume();
            let n_modes = estimated_k_count(volume, self.part.k_cutoff);
            let threads = rayon::current_num_threads();
            let dims = self.dims;
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
                max_memory / 2f64.powi(30)
            );
        }
        let reach = self.part.short_range.reach();
        super::pairs::check_pair_memory(common, system, "mesh", reach, n_channels)
    }

    fn values(&self, system: &System, atoms: &AtomChannels<'_>) -> Result<Array3<f64>> {
        let (common, part) = (self.common, &*self.part);
        let mut out = short_range(common, system, atoms, part)?;
        // the k-space terms of the Ewald route, k = 0 included, on the mesh
        let kspace = common.kspace(&part.long_range()?);
        let sources = atoms.sources(system)?;
        let volume = system.cell().volume();
        out += &long_range_on_mesh(
            &kspace,
            system,
            &sources,
            part.k_cutoff,
            self.dims,
            self.order,
        )?;
        add_k0_term(&mut out, &kspace.kernel, kspace.radial, &sources, volume);
        if part.k0_correction != 0.0 {
            subtract_ewald_k0(&mut out, &common.basis, atoms, volume, part.k0_correction);
        }
        Ok(out)
    }

    /// The Ewald route's rows (same `η`, same `k_c`, the long range summed over k-vectors
    /// instead of on the mesh): they differ from the derivatives of the mesh values by the
    /// mesh's discretisation error, within the requested accuracy. Cost `O(N N_k)` per row
    /// (the planner picks the mesh for large `N`, where the backward pass is the tool).
    fn jacobian_row(
        &self,
        system: &System,
        atoms: &AtomChannels<'_>,
        i: usize,
        positions: Option<&mut [f64]>,
        strain: Option<&mut [f64]>,
    ) -> Result<()> {
        self.ewald.jacobian_row(system, atoms, i, positions, strain)
    }

    /// The exact backward pass of the mesh values: short-range pairs, the smooth-PME adjoint
    /// of the long range ([`separable_mesh_backward`]), and the `k = 0` terms through `1/V`.
    fn backward(
        &self,
        system: &System,
        atoms: &AtomChannels<'_>,
        cotangent: ArrayView3<f64>,
    ) -> Result<(Vec<Vec3>, Option<Mat3>)> {
        let (common, part) = (self.common, &*self.part);
        let harmonics = &common.harmonics;
        let (mut forces, mut virial) =
            listed_pair_backward(system, atoms, &part.short_range, harmonics, cotangent)?;
        let kspace = common.kspace(&part.long_range()?);
        let sources = atoms.sources(system)?;
        let cell = system.cell();
        let volume = cell.volume();
        let modes = mesh_modes(&kspace, cell, self.dims, self.order, part.k_cutoff)?;
        let basis = kspace.separable(volume);
        let long = separable_mesh_backward(cell, &sources, &modes, &basis, cotangent, true)?;
        add_gradients(&mut forces, &mut virial, long);
        let n_lm = common.n_lm();
        if let Some(term) = k0_term(&kspace.kernel, kspace.radial, &sources, volume) {
            add_volume_term_strain_backward(&mut virial, cotangent, &term, n_lm);
        }
        if part.k0_correction != 0.0 {
            let term = -ewald_k0(&common.basis, atoms, volume, part.k0_correction);
            add_volume_term_strain_backward(&mut virial, cotangent, &term, n_lm);
        }
        Ok((forces, Some(virial)))
    }
}
