//! Hyper-parameters of a LODE expansion and their validation.

use crate::error::Result;
use crate::hypers::{Field, FieldError, Value};
use crate::math::power_law::MAX_EXPONENT;

/// How periodic systems are summed. Finite systems always use the real-space pair route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// The cheapest of `Reciprocal`, `Ewald` and `Mesh` for the requested accuracy (estimated
    /// cost).
    Auto,
    /// Plain reciprocal-space sum up to `k_cutoff` (given, or chosen for the accuracy).
    Reciprocal,
    /// Ewald split: real-space short range + reciprocal long range, tuned for the accuracy.
    Ewald,
    /// Ewald split with the long range on a particle mesh (smooth PME: B-spline spreading,
    /// FFTs, interpolation), `O(N log N)`; mesh spacing and spline order from the accuracy.
    Mesh,
}

impl Method {
    /// Parse `"auto"`, `"reciprocal"`, `"ewald"`, `"mesh"`.
    pub fn parse(name: &str) -> Result<Method> {
        match name {
            "auto" => Ok(Method::Auto),
            "reciprocal" => Ok(Method::Reciprocal),
            "ewald" => Ok(Method::Ewald),
            "mesh" => Ok(Method::Mesh),
            other => crate::bail_param!(
                "unknown LODE method '{other}': use 'auto', 'reciprocal', 'ewald' or 'mesh'"
            ),
        }
    }

    /// The name `parse` accepts.
    pub fn name(self) -> &'static str {
        match self {
            Method::Auto => "auto",
            Method::Reciprocal => "reciprocal",
            Method::Ewald => "ewald",
            Method::Mesh => "mesh",
        }
    }
}

impl Field for Method {
    const TYPE: &'static str = "str";
    fn from_value(value: &Value) -> std::result::Result<Self, FieldError> {
        match value {
            Value::Str(name) => Method::parse(name).map_err(FieldError::Invalid),
            _ => Err(FieldError::WrongType(Self::TYPE)),
        }
    }
    fn to_value(&self) -> Value {
        Value::Str(self.name().into())
    }
}

crate::hypers! {
    /// Hyper-parameters of a LODE expansion. The single source of each option's name, type and
    /// default: the Python calculators take and return exactly these fields.
    pub struct LodeHypers {
        /// GTO basis radius r_c (Å).
        pub cutoff: f64 = 3.0,
        /// Gaussian smearing σ of the atomic charges (Å).
        pub smearing: f64 = 1.0,
        /// Number of radial functions.
        pub n_max: usize = 6,
        /// Largest angular momentum (inclusive, ≤ 20).
        pub l_max: usize = 4,
        /// Exponent p of the potential `r^-p`: 1 Coulomb, 2…6 faster power laws, 0 the Gaussian
        /// density.
        pub exponent: u32 = 1,
        /// Weight of the centre atom's own potential (docs/math.md §6).
        pub center_weight: f64 = 1.0,
        /// How periodic systems are summed: `"auto"` (the cheapest by estimated cost),
        /// `"reciprocal"`, `"ewald"` or `"mesh"`. Finite systems always use the pair route.
        pub method: Method = Method::Auto,
        /// Target absolute accuracy of each coefficient per unit source (chooses k_cutoff, the
        /// Ewald split, the real-space reach and the mesh; docs/math.md §7).
        pub accuracy: f64 = 1e-6,
        /// Explicit reciprocal cutoff (Å⁻¹): the plain truncated sum, no accuracy tuning.
        pub k_cutoff: Option<f64> = None,
        /// Memory budget (bytes) for k-vectors, pair lists and meshes; larger requests are
        /// refused.
        pub max_memory: f64 = 4.0 * 1024.0 * 1024.0 * 1024.0,
        /// Mesh route: largest mesh spacing (Å) along each lattice vector, instead of the one the
        /// error model chooses for `accuracy` (then the accuracy is no longer guaranteed).
        pub mesh_spacing: Option<f64> = None,
        /// Mesh route: B-spline order (3 to 12), instead of the cheapest one for the accuracy.
        pub spline_order: Option<usize> = None,
    }
    required: cutoff, smearing, n_max, l_max
}

impl LodeHypers {
    /// Check every hyper-parameter's domain.
    pub fn validate(&self) -> Result<()> {
        crate::expansion::check_basis(self.cutoff, self.smearing, self.n_max, self.l_max)?;
        if self.exponent > MAX_EXPONENT {
            crate::bail_param!(
                "exponent p = {} is not supported: use 0 (Gaussian density), 1 (Coulomb) ... {MAX_EXPONENT}",
                self.exponent
            );
        }
        crate::expansion::check_center_weight(self.center_weight)?;
        if !(self.accuracy.is_finite() && self.accuracy > 0.0 && self.accuracy < 1.0) {
            crate::bail_param!("accuracy must be in (0, 1), got {}", self.accuracy);
        }
        if self.accuracy < 1e-12 {
            crate::bail_param!(
                "accuracy {} is below what double precision sums can deliver (1e-12)",
                self.accuracy
            );
        }
        if let Some(k) = self.k_cutoff {
            if !(k.is_finite() && k > 0.0) {
                crate::bail_param!("k_cutoff must be a positive number of Å⁻¹, got {k}");
            }
            if matches!(self.method, Method::Ewald | Method::Mesh) {
                crate::bail_param!(
                    "k_cutoff selects the plain reciprocal sum; it cannot be combined with method='{}'",
                    self.method.name()
                );
            }
        }
        if self.mesh_spacing.is_some() || self.spline_order.is_some() {
            if !matches!(self.method, Method::Mesh | Method::Auto) {
                crate::bail_param!(
                    "mesh_spacing and spline_order set the particle mesh: use method='mesh' or \
                     'auto', not '{}'",
                    self.method.name()
                );
            }
            if self.k_cutoff.is_some() {
                crate::bail_param!(
                    "mesh_spacing and spline_order set the particle mesh; k_cutoff selects the \
                     plain reciprocal sum: give one or the other"
                );
            }
        }
        if let Some(h) = self.mesh_spacing {
            if !(h.is_finite() && h > 0.0) {
                crate::bail_param!("mesh_spacing must be a positive number of Å, got {h}");
            }
        }
        if let Some(p) = self.spline_order {
            let (lo, hi) = (
                crate::mesh::bspline::MIN_ORDER,
                crate::mesh::bspline::MAX_ORDER,
            );
            if !(lo..=hi).contains(&p) {
                crate::bail_param!("spline_order must be between {lo} and {hi}, got {p}");
            }
        }
        if !(self.max_memory.is_finite() && self.max_memory > 0.0) {
            crate::bail_param!(
                "max_memory must be a positive number of bytes, got {}",
                self.max_memory
            );
        }
        Ok(())
    }
}
