//! # lode_rs — long-range (LODE) and local (SOAP) atomistic representations
//!
//! The core of the `lode_rs` Python package, usable as a plain Rust crate.
//!
//! The mathematics, the conventions and the accuracy contract are stated in the repository's
//! `docs/math.md`, which the module documentation cites by section (`docs/math.md §3b`). In short
//! (the conventions of featomic 0.6.x): real spherical harmonics `Y_lm` orthonormal on the sphere,
//! stored at index `l² + l + m`; Löwdin-orthonormalised radial GTOs `R̃_n`, `n = 0..n_max`;
//! Gaussian atomic densities `g(r) = (πσ²)^{-3/4} exp(-r²/2σ²)`; LODE potentials
//! `g_p(r) = γ(p/2, r²/2σ²)/(Γ(p/2) rᵖ)`; coefficients `(n_centres, n_channels, n_max,
//! (l_max+1)²)`; lengths in Å, wave vectors in Å⁻¹, energies in eV.
//!
//! Module map (the layers run one way: systems → neighbours/math → radial/kspace/mesh →
//! expansion → invariants → bindings):
//! - [`error`]: the one error enum ([`Error`]: invalid input, invalid parameter, internal);
//! - [`systems`]: validated structures (positions, atomic numbers, [`systems::Cell`] with its
//!   periodicity, wrapped positions, reciprocal vectors) and the input checks every calculator
//!   shares (charges, supported periodicity, the overlap threshold);
//! - [`neighbors`]: cell-list neighbour search (triclinic cells, any cell size, all images);
//! - [`math`]: real spherical harmonics and their gradients, special functions (erf, incomplete
//!   Γ, E₁, spherical Bessel functions), ₁F₁, smeared power laws `g_p` and their Fourier
//!   transforms `ĝ_p`, Gauss–Legendre quadrature, cubic Hermite splines;
//! - [`radial`]: the GTO basis and its orthonormalisation; radial integrals behind one trait
//!   (SOAP closed form, k-space `Ĩ_nl(k)`, LODE pair integrals with their multipole tail, splines
//!   to a stated accuracy);
//! - [`kspace`]: k-vectors of any triclinic cell, phase tables and structure factors, the one
//!   description of a separable k-space basis, the contraction over k as dense GEMMs or by
//!   shells of equal `|k|` (`docs/math.md` §3b, §8.2);
//! - [`mesh`]: smooth particle-mesh sums (B-splines, Euler factors, pruned real FFTs) for the
//!   long range of the mesh route (§8.4);
//! - [`expansion`]: SOAP and LODE calculators producing coefficient arrays; LODE has one module
//!   per route (real space, pairs, reciprocal, Ewald, mesh) and a planner that picks one per
//!   structure by estimated cost for the requested accuracy (§6–§8);
//! - [`hypers`](mod@hypers): hyper-parameter structs declared once (names, types, defaults,
//!   docs), the one source of every option and its default;
//! - [`invariants`]: ν = 1 and ν = 2 invariants of one or two expansions (§4);
//! - [`electrostatics`]: Coulomb energies of point charges (Ewald summation with a neutralising
//!   background, direct sum for finite systems; §10);
//! - [`cost`]: the calibrated cost constants that choose routes and Ewald widths (§8.1);
//! - [`threads`]: the thread pools that make every result bitwise independent of the thread
//!   count;
//! - `python` (feature `python`): the thin PyO3 layer, the only place pyo3 appears.

pub mod cost;
pub mod electrostatics;
pub mod error;
pub mod expansion;
pub mod hypers;
pub mod invariants;
pub mod kspace;
pub mod math;
pub(crate) mod memory;
pub mod mesh;
pub mod neighbors;
pub mod radial;
pub mod systems;
pub mod threads;

#[cfg(feature = "python")]
mod python;

pub use error::{Error, Result};
