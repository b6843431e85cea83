//! Mathematical building blocks: real spherical harmonics, special functions, ₁F₁, splines.

pub mod bessel;
pub mod hyp1f1;
pub mod power_law;
pub mod quadrature;
pub(crate) mod simd;
pub mod special;
pub mod spherical_harmonics;
pub mod splines;
