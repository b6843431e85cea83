//! Calibrated cost constants: the one place where the relative prices of pairs, k-vectors and
//! mesh operations are written down. They choose routes and splitting widths only, never an
//! accuracy: a wrong value makes a computation slower, not less accurate.
//!
//! Two different pair-versus-k trade-offs are priced here, in two different units, so there
//! are two pair costs:
//! - the Ewald energy of point charges ([`crate::electrostatics`]): one real-space pair is one
//!   scalar `erfc(r/√2η)/r` term, weighed against one atom–k entry of a structure factor
//!   ([`COULOMB_PAIR_COST`]);
//! - the LODE expansion (`expansion::lode`): one pair adds a radial row times `Y_lm` to every
//!   output column, weighed against one multiply-add of the k-space contraction per column
//!   ([`LODE_PAIR_COST_PER_COLUMN`]).
//!
//! The k-space and mesh prices of LODE are in the same unit (one multiply-add of the dense
//! GEMM of [`crate::kspace::reciprocal_sum`]). All were measured on the NaCl gases of
//! `benches/compare.py` (64 atoms in 12–20 Å cubic boxes; see `benches/lode.rs`).

/// Electrostatics: one real-space pair (neighbour search with sorting, `erfc`, division) in
/// units of one atom–k entry of the structure factors. Calibrated on 64-atom gases in cubic
/// boxes of 12–20 Å at accuracy 1e-10 (single thread, ≈ 1.7 ms per structure at the optimum,
/// which is flat within ±20 % of the η it gives).
pub const COULOMB_PAIR_COST: f64 = 16.0;

/// LODE: one pair term, per output column, in units of one k-space multiply-add (the batched
/// pair loop costs about 176 ns per pair on the NaCl gases, search included).
pub const LODE_PAIR_COST_PER_COLUMN: f64 = 28.0;

/// LODE Jacobian: one pair term of a positions (and strain) Jacobian row, per output column,
/// in units of one k-space multiply-add: the radial and angular derivatives and the adds into
/// the (target, channel) sums. Measured: about 0.4 µs per pair with 150 columns on the 64- and
/// 216-atom NaCl gases (Ewald widths σ 2^{4/4}…2^{9/4}, one thread), against 0.05 ns per
/// multiply-add of the k-space Jacobian's GEMM; with these constants the planner picks the
/// fastest measured width on both (η 2.83 Å and 4 Å).
pub const LODE_JACOBIAN_PAIR_COST_PER_COLUMN: f64 = 52.0;

/// LODE Jacobian: the pair table by shells (cells with symmetry, `crate::kspace`), cost of
/// one of its multiply-adds in units of one of the dense table's GEMM (its products are many
/// and small). With it the planner picks, on the 64-atom NaCl gases, the widths measured
/// fastest (η 2–2.4 Å, a flat optimum) and η 4 Å at 216 atoms.
pub const LODE_JACOBIAN_SHELL_COST: f64 = 2.0;

/// LODE Jacobian: the work per (row, atom, k-vector) of the k-space rows besides the GEMM's
/// `3 n_cols` multiply-adds (the phase differences).
pub const LODE_JACOBIAN_PER_K: f64 = 10.0;

/// LODE Jacobian: an Ewald width other than the values' is taken for a Jacobian only when its
/// estimated cost is at least this many times lower (the values of a gradient call then come
/// from that width too: within the accuracy of the others, not bitwise equal).
pub const LODE_JACOBIAN_REPLAN_GAIN: f64 = 1.5;

/// LODE Jacobian: and only when it saves at least this much by estimate (about 10 ms on one
/// core): small structures, whose Jacobians are cheap anyway, keep the values' plan, so that
/// their Jacobian is the derivative of `compute`'s values to rounding.
pub const LODE_JACOBIAN_MIN_SAVING: f64 = 2e8;

/// LODE shell route: cost of one multiply-add of the shell kernel in units of one of the dense
/// GEMM (it runs at about half the GEMM's rate). Measured on the NaCl gases (dense 7.8 ms,
/// shells 4.2 ms per structure at accuracy 1e-6, 1 thread).
pub const SHELL_MULTIPLY_ADD: f64 = 2.0;

/// LODE shell route: the other work per (centre, k-vector): the lane phases, the parity sums
/// and the structure factors.
pub const SHELL_PER_K: f64 = 60.0;

/// LODE dense contraction: the other work per (centre, k-vector) (phases, `F` terms).
pub const DENSE_PER_K: f64 = 20.0;

/// LODE k-space sums: the work per k-vector that does not depend on the number of centres
/// (enumeration, sorting into shells, the basis row), in centres' worth of the per-(centre,
/// k-vector) cost. Measured: 1.1 µs per k-vector for 64 columns, the k-space work of about 60
/// centres (1 to 256 atoms in a 200 Å cube, `k_c = 0.8 Å⁻¹`, one thread). The planner counts
/// `max(N, KSPACE_VECTOR_CENTRES)` centres (a lower bound of the sum, within 2×), so that
/// structures of 60 atoms and more keep the routes calibrated on them; without it the planner
/// chose `η = 9.5σ` for 1 atom in a 1 000 Å box, a 3 s k-space sum estimated at milliseconds.
pub const KSPACE_VECTOR_CENTRES: f64 = 60.0;

/// LODE mesh route: cost per mesh point and log₂ of the mesh size, per transform.
pub const MESH_FFT_COST: f64 = 7.0;

/// LODE mesh route: cost per atom and stencil point, per spread or interpolation.
pub const MESH_STENCIL_COST: f64 = 35.0;

/// LODE tables: one node of the exact pair integral's k-quadrature for one `(n, l)` (its share
/// of the spherical Bessel functions and the multiply-adds), in k-space multiply-adds: about
/// 6 ns against 0.04 ns. Measured with `LodeRadialTable::estimated_work` (ignored test
/// `build_cost_sweep`, `n_max` 4 and 8): 5–40 ns per node-column on a loaded machine, the
/// spread being mostly the estimate's (within a factor of 3 of the measured time).
pub const TABLE_NODE_COST: f64 = 150.0;

/// Table cost (k-space multiply-adds, about a quarter of a second on one core) up to which a
/// LODE table is free for the planner: it is built once per calculator and amortised over its
/// structures. Beyond it the excess is charged in full to the structure that needs it
/// ([`table_charge`]), so the first call never builds a large table unless that one structure
/// pays for it. Without it, a sparse box (1 atom in 1 000 Å) chose η = 64σ, whose table took
/// seconds; below it the routes are those of the run costs alone (every feature of the
/// benchmark sets unchanged).
pub const MAX_TABLE_COST: f64 = 6e9;

/// What the planner adds for a table costing `cost`: `max(0, cost − MAX_TABLE_COST)`.
pub fn table_charge(cost: f64) -> f64 {
    (cost - MAX_TABLE_COST).max(0.0)
}

/// `method = "auto"` considers the mesh only from this many atoms (smaller cells never gain
/// from it, and the error model's first evaluation costs a few tenths of a second).
pub const MESH_MIN_ATOMS: f64 = 1000.0;
