//! LODE: the smeared power-law potential of each channel expanded on `R̃_n Y_lm` around atoms.
//!
//! `V_a(r) = Σ_{j∈a} w_j g_p(|r − r_j|)` (`docs/math.md` §2), and
//! `c^a_nlm(i) = ∫ d³r R̃_n(r) Y_lm(r̂) V_a(r_i + r)` (§3), computed by one of the routes of §8
//! (one module each under `route/`):
//! - [`Method::Reciprocal`] (periodic): the k-space sum of §3b, truncated at `k_cutoff`;
//! - [`Method::Ewald`] (periodic): the split of §3c — a short-ranged pair sum over images plus a
//!   smooth k-space sum with a wider Gaussian, plus the k = 0 correction;
//! - [`Method::Mesh`] (periodic): the same split with the smooth part on a particle mesh
//!   (B-spline spreading, FFTs, interpolation: `O(N log N)`);
//! - real space (finite systems, no periodic direction): the pair sum over all atoms, splined
//!   radial integrals near and the exact far-field (multipole) form far away;
//! - pairs over periodic images for the Gaussian density `p = 0` (short ranged).
//!
//! The centre's own potential is included with weight `center_weight`, and the `k = 0` terms
//! follow the convention of §6; `accuracy` sets every numerical parameter as stated in §7.
//!
//! Files: `calculator.rs` (validation, channels, shared tables, the loop over structures),
//! `routes.rs` (the planner: which route, by estimated cost, and the dispatch), `plan.rs` (the
//! typed [`Plan`]), `route/` (one module per route: tables, cost, memory, values),
//! `gradients.rs` (Jacobians and backward pass, by route), `cell_cache.rs` (what the routes
//! prepare from the cell alone, kept across calls), `kbasis.rs` (the k-space basis of the three k-space engines), `constant_terms.rs` (the
//! `k = 0`, background, Ewald `k = 0` correction and centre terms), `real_space.rs` (pair sums).

mod calculator;
pub mod cell_cache;
mod constant_terms;
mod gradients;
mod hypers;
mod kbasis;
#[cfg(test)]
mod periodic_gradient_tests;
mod plan;
mod real_space;
mod route;
mod routes;

pub use calculator::{Channels, LodeCalculator};
pub use gradients::LodeRows;
pub use hypers::{LodeHypers, Method};
pub use plan::{EwaldSplit, Plan, Route};
