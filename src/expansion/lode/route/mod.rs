//! One module per LODE route, each owning its prepared tables (cached on the calculator), its
//! cost and memory estimates and its values (`docs/math.md` §3):
//!
//! | module | route | plan name |
//! |---|---|---|
//! | [`finite`] | finite systems: all pairs, no images (§3a) | `"real-space"` |
//! | [`pairs`] | periodic `p = 0`: the short-ranged Gaussian density over images (§3a) | `"pairs"` |
//! | [`reciprocal`] | periodic: the k-space sum, dense or by shells (§3b) | `"reciprocal"` |
//! | [`ewald`] | periodic: short-range pairs + long-range k-space sum (§3c) | `"ewald"` |
//! | [`mesh`] | periodic: the Ewald split with the long range on a particle mesh | `"mesh"` |
//! | [`slab`] | slabs: a periodic route on a vacuum cell + the exact `k_∥ = 0` line (§15) | `"slab"` |
//!
//! Wires (one periodic direction) are refused by the calculator.
//!
//! Gradients: each route's Jacobian and backward pass (vector–Jacobian product) belong beside
//! its [`LodeRoute::values`], as further methods of [`LodeRoute`] (every route: [`has_gradients`];
//! strain on the periodic ones and slabs; the reciprocal route with either
//! engine): the pair routes by one more pass over the
//! same pairs, the k-space routes through the adjoint of their engine (`crate::kspace` for the
//! dense and shell sums, `crate::mesh` for the mesh), the terms of
//! [`super::constant_terms`] through `V` only. The mesh route's Jacobian rows are the Ewald
//! route's of the same split ([`mesh`]). The slab route adds its line correction's
//! ([`slab_gradients`]) to its inner route's on the vacuum cell.

pub(super) mod ewald;
pub(super) mod finite;
pub(super) mod mesh;
pub(super) mod mesh_spacing;
pub(super) mod pairs;
pub(super) mod reciprocal;
pub(super) mod slab;
pub(super) mod slab_gradients;
pub(super) mod slab_interp;
pub(super) mod slab_line;

use ndarray::{Array3, ArrayView3};

use super::plan::Route;
use super::real_space::AtomChannels;
use crate::error::{Error, Result};
use crate::systems::{Mat3, System, Vec3};

/// Whether `route` has a Jacobian and backward pass: every route today (positions; strain on
/// the periodic ones and slabs).
pub(super) fn has_gradients(route: &Route) -> bool {
    match route {
        Route::Slab { inner, .. } => has_gradients(inner),
        Route::Finite
        | Route::Pairs
        | Route::Reciprocal { .. }
        | Route::Ewald(_)
        | Route::Mesh { .. } => true,
    }
}

/// The error of a gradient asked from a route without one (the calculator checks
/// [`has_gradients`] first, so reaching it is a bug).
fn no_gradients() -> Error {
    Error::Internal("gradients asked from a LODE route that has none".into())
}

/// A route prepared for one structure: its tables built (or taken from the cache) and its
/// parameters resolved by the planner.
pub(super) trait LodeRoute: Sync {
    /// Refuse the computation when its estimated memory exceeds `max_memory`, with an error
    /// that says what to change.
    fn check_memory(&self, system: &System, n_channels: usize) -> Result<()>;

    /// Coefficients `(N, n_channels, n_max·n_lm)` of every atom of `system`. The centre's own
    /// potential is included with weight `center_weight` by the finite route, with weight 1 by
    /// the periodic ones (the calculator reweights it: `constant_terms::add_self`).
    fn values(&self, system: &System, atoms: &AtomChannels<'_>) -> Result<Array3<f64>>;

    /// Add the Jacobian of centre `i`'s row into zeroed buffers: `positions`
    /// `(N, 3, n_channels, n_max·n_lm)` (`∂c_i/∂r_j` for every atom `j`), `strain`
    /// `(3, 3, n_channels, n_max·n_lm)`. Only for routes with [`has_gradients`].
    fn jacobian_row(
        &self,
        _system: &System,
        _atoms: &AtomChannels<'_>,
        _i: usize,
        _positions: Option<&mut [f64]>,
        _strain: Option<&mut [f64]>,
    ) -> Result<()> {
        Err(no_gradients())
    }

    /// Prepare the tables the Jacobian rows of this structure share (positions and/or strain
    /// rows will be asked), in parallel, before the rows; memory at most
    /// [`crate::kspace::pair_table_bytes`]. Default: nothing to prepare.
    fn prepare_jacobian(
        &self,
        _system: &System,
        _atoms: &AtomChannels<'_>,
        _positions: bool,
        _strain: bool,
    ) -> Result<()> {
        Ok(())
    }

    /// Free what [`prepare_jacobian`](Self::prepare_jacobian) made (the rows are done).
    fn release_jacobian(&self) {}

    /// Backward pass of one structure: for a cotangent `(N, n_channels, n_max·n_lm)` shaped
    /// like [`values`](Self::values), `∂(Σ g·c)/∂r_j` for every atom and `∂(Σ g·c)/∂ε` (`None`
    /// where the route has no strain gradient yet);
    /// bitwise independent of the number of threads. Only for routes with [`has_gradients`].
    fn backward(
        &self,
        _system: &System,
        _atoms: &AtomChannels<'_>,
        _cotangent: ArrayView3<f64>,
    ) -> Result<(Vec<Vec3>, Option<Mat3>)> {
        Err(no_gradients())
    }
}
