//! # lode_rs — long-range (LODE) and local (SOAP) atomistic representations
//!
//! The core of the `lode_rs` Python package, usable as a plain Rust crate.
//!
//! Conventions (see `shared/design/lode-math.md`, matching featomic 0.6.x):
//! real spherical harmonics `Y_lm` orthonormal on the sphere, stored at index `l² + l + m`;
//! Löwdin-orthonormalised radial GTOs `R̃_n`, `n = 0..n_max`; Gaussian atomic densities
//! `g(r) = (πσ²)^{-3/4} exp(-r²/2σ²)`; lengths in Å.
//!
//! Module map:
//! - [`systems`]: validated structures (positions, species, [`systems::Cell`] and periodicity);
//! - [`neighbors`]: cell-list neighbour search (triclinic cells, any cell size, all images);
//! - [`math`]: real spherical harmonics, special functions, ₁F₁, cubic Hermite splines;
//! - [`radial`]: the GTO basis and its orthonormalisation, radial integrals (exact and splined);
//! - [`expansion`]: density expansions (SOAP) producing coefficient arrays;
//! - [`hypers`](mod@hypers): hyper-parameter structs declared once (names, types, defaults, docs);
//! - [`invariants`]: ν = 1 and ν = 2 invariants of the expansions;
//! - [`electrostatics`]: Coulomb energies of point charges (Ewald summation, direct sum);
//! - `python` (feature `python`): the thin PyO3 layer, the only place pyo3 appears.

pub mod electrostatics;
pub mod error;
pub mod expansion;
pub mod hypers;
pub mod invariants;
pub mod kspace;
pub mod math;
pub mod mesh;
pub mod neighbors;
pub mod radial;
pub mod systems;
pub mod threads;

#[cfg(feature = "python")]
mod python;

pub use error::{Error, Result};
