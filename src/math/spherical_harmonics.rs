//! Real spherical harmonics `Y_lm(r̂)` and their Cartesian gradients.
//!
//! OWNER: math helper. Interface fixed; implementation pending.
//!
//! Orthonormal on the unit sphere; `Y_{1,-1} ∝ y`, `Y_{1,0} ∝ z`, `Y_{1,1} ∝ x` (no Condon–Shortley
//! sign: `Y_11 = +√(3/4π) x/r`); stored at index `l² + l + m`.

use crate::error::Result;
use crate::systems::Vec3;

/// Largest supported `l`.
pub const MAX_L: usize = 20;

/// Evaluator for all `Y_lm` with `l ≤ l_max`.
#[derive(Debug, Clone)]
pub struct SphericalHarmonics {
    l_max: usize,
}

impl SphericalHarmonics {
    /// Prepare coefficients up to `l_max` (error above [`MAX_L`]).
    pub fn new(l_max: usize) -> Result<Self> {
        Ok(SphericalHarmonics { l_max })
    }

    /// `l_max` this evaluator was built for.
    pub fn l_max(&self) -> usize {
        self.l_max
    }

    /// `Y_lm(r/|r|)` for all `l ≤ l_max` into `values` (length `(l_max+1)²`). `r` need not be
    /// normalised; at `r = 0` only `Y_00` is non-zero.
    pub fn compute(&self, r: Vec3, values: &mut [f64]) {
        let _ = (r, values);
        unimplemented!()
    }

    /// As [`compute`](Self::compute), plus `gradients[lm] = ∂Y_lm(r/|r|)/∂r` (Cartesian).
    pub fn compute_with_gradients(&self, r: Vec3, values: &mut [f64], gradients: &mut [Vec3]) {
        let _ = (r, values, gradients);
        unimplemented!()
    }
}
