//! Invariants of expansions: ν = 1 (radial spectrum) and ν = 2 (power spectrum), and the
//! λ-equivariant ν = 2 products built with real-basis Clebsch–Gordan coefficients.
//!
//! Inputs are coefficient arrays `(n_centres, n_species, n_max, (l_max+1)²)` from any
//! expansion (SOAP or LODE); outputs are `(n_centres, n_features)` matrices with one label row
//! per feature column.

pub mod clebsch_gordan;
mod equivariant;
mod gradients;
mod pair_kernel;
mod power_spectrum;
#[cfg(test)]
pub(crate) mod rotations;
mod row_kernel;

pub use equivariant::{
    equivariant_power_spectrum, flop_count as equivariant_flop_count, EquivariantBlock,
    EQUIVARIANT_LABELS,
};
pub use gradients::{
    check_coefficients, merge_samples, power_spectrum_backward, power_spectrum_gradient,
    power_spectrum_jacobians, power_spectrum_positions_gradient, power_spectrum_strain_gradient,
    radial_spectrum_backward, GradientEntry,
};
pub use power_spectrum::{power_spectrum, radial_spectrum};

use ndarray::Array2;

/// A feature matrix with its column labels.
#[derive(Debug, Clone)]
pub struct Features {
    /// `(n_centres, n_features)`.
    pub values: Array2<f64>,
    /// `(n_features, n_label_columns)`: what each column is (see the producing function).
    pub labels: Array2<i32>,
}
