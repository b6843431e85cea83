//! Reciprocal-space machinery of LODE: k-vectors, phase factors, structure factors and the
//! contraction over k (`docs/math.md` §3b, and the long-range part of §3c).
//!
//! For a periodic system, the reciprocal route writes the expansion coefficients as
//!
//! `c^a_q(i) = Σ_{k half, 0<|k|<k_c} B[k, q] F^a_{parity(q)}(i, k)`,
//!
//! `F_even^a(i, k) = 2 Σ_{j∈a} w_j cos(k·(r_i − r_j))`, `F_odd^a(i, k) = 2 Σ_{j∈a} w_j sin(k·(r_i − r_j))`,
//!
//! where `q` runs over output columns (for LODE `q = (n, l, m)`, odd for odd `l`) and `B` is
//! supplied by the caller (for LODE `(4π/V) ĝ_p(|k|) Ĩ_nl(|k|) Y_lm(k̂) φ_l`).
//!
//! - [`k_vectors`]: the half-space reciprocal lattice vectors inside a sphere, any triclinic cell;
//! - [`phases_into`], [`structure_factors`]: `e^{ik·r}` by recurrence over the integer indices
//!   (two complex products per atom and k), and `C^a(k)`, `S^a(k)`;
//! - [`reciprocal_sum`]: the contraction as GEMMs over blocks of [`K_BLOCK`] k-vectors, memory
//!   `O(N · K_BLOCK)`, bitwise identical results for any number of threads;
//! - [`SeparableBasis`]: the one description of a basis that is a radial factor of `|k|` times an
//!   angular one, with the parity of each column, consumed by the three engines: [`dense_sum`]
//!   (the GEMMs of [`reciprocal_sum`]), [`shell_sum`] and `crate::mesh::separable_mesh_sum`;
//! - [`Shells`], [`shell_sum`]: k-vectors grouped by norm, and the same contraction for a
//!   separable basis, with the radial factor applied once per shell (several times fewer
//!   operations in cells with symmetry).

mod adjoint;
mod basis;
mod contraction;
mod jacobian;
mod jacobian_shells;
mod k_vectors;
mod lanes;
mod phases;
mod shells;

pub use adjoint::dense_backward;
pub use basis::SeparableBasis;
pub use contraction::{dense_sum, reciprocal_sum, reciprocal_sum_flops, K_BLOCK};
pub use jacobian::{dense_jacobian_row, pair_table_bytes, DenseJacobian};
pub use jacobian_shells::MIN_DEGENERACY as JACOBIAN_SHELL_DEGENERACY;
pub use k_vectors::{k_vectors, KVectors, MAX_K_VECTORS};
pub use phases::{phases_into, structure_factors, Sources, RESEED};
pub use shells::{shell_backward, shell_sum, symmetry_degeneracy, Shells, SHELL_TOLERANCE};
