//! The typed plan of one structure: the route the planner chose, its parameters, and its
//! estimated cost and memory (`LodeCalculator::plan`; a dict per structure in Python).

/// An Ewald split (`docs/math.md` §3c): the width `η` of the long-range kernel and the
/// long-range k-cutoff chosen for its share of the accuracy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EwaldSplit {
    /// Width `η` (Å) of the long-range kernel.
    pub eta: f64,
    /// Long-range k-cutoff (Å⁻¹).
    pub k_cutoff: f64,
    /// Index of `η = σ 2^{step/4}` on the planner's grid (the key of the cached tables).
    pub(super) step: i32,
}

/// A route and its parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// Finite system: all pairs, no images (`"real-space"`).
    Finite,
    /// Periodic `p = 0`: the Gaussian density over periodic images (`"pairs"`).
    Pairs,
    /// Periodic: the k-space sum below `k_cutoff` (Å⁻¹) (`"reciprocal"`).
    Reciprocal {
        /// k-cutoff (Å⁻¹).
        k_cutoff: f64,
    },
    /// Periodic: the Ewald split, long range in k-space (`"ewald"`).
    Ewald(EwaldSplit),
    /// Periodic: the Ewald split, long range on a particle mesh (`"mesh"`).
    Mesh {
        /// Width and long-range cutoff.
        split: EwaldSplit,
        /// B-spline order.
        spline_order: usize,
        /// Largest mesh spacing (Å) along each lattice vector (given, or from the error model).
        mesh_spacing: f64,
        /// Mesh points along each lattice vector.
        mesh: [usize; 3],
    },
    /// Slab (two periodic directions): `inner` on the vacuum cell of height `length` (Å) plus
    /// the exact `k_∥ = 0` line (`"slab"`, `docs/math.md` §15).
    Slab {
        /// Height (Å) of the vacuum cell along the normal: the slab's thickness plus the gap.
        length: f64,
        /// The fully periodic route of the vacuum cell.
        inner: Box<Route>,
    },
}

impl Route {
    /// The route's name: `"real-space"`, `"pairs"`, `"reciprocal"`, `"ewald"`, `"mesh"` or
    /// `"slab"`.
    pub fn name(&self) -> &'static str {
        match self {
            Route::Finite => "real-space",
            Route::Pairs => "pairs",
            Route::Reciprocal { .. } => "reciprocal",
            Route::Ewald(_) => "ewald",
            Route::Mesh { .. } => "mesh",
            Route::Slab { .. } => "slab",
        }
    }
}

/// The plan of one structure.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The route and its parameters.
    pub route: Route,
    /// Estimated cost, in units of one multiply-add of the dense k-space contraction (the unit
    /// of [`crate::cost`]); the planner picks the cheapest route the method allows.
    pub cost: f64,
    /// Estimated memory (bytes) of the route's tables and coefficient arrays: what is held
    /// against `max_memory` (mesh: with as many tasks in flight as the current pool has
    /// threads).
    pub memory: f64,
}
