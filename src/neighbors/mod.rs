//! Neighbour lists by cell lists: O(N) for any triclinic cell, cells smaller than the cutoff
//! (several images of one pair, an atom's own images), any mix of periodic directions.
//!
//! OWNER: neighbours helper. Interface fixed; implementation pending.

use crate::error::{Error, Result};
use crate::systems::{System, Vec3};

/// One directed pair: atom `second` (translated by `shift` cells) seen from atom `first`.
/// `vector = r_second + shift · M − r_first`, `distance = |vector|`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pair {
    pub first: usize,
    pub second: usize,
    pub shift: [i32; 3],
    pub vector: Vec3,
    pub distance: f64,
}

/// A full neighbour list (both `i→j` and `j→i`; no `i→i` with zero shift), in CSR form:
/// the pairs of centre `i` are `pairs[offsets[i]..offsets[i + 1]]`, sorted by
/// `(second, shift)` inside each centre, so the order never depends on threads.
#[derive(Debug, Clone, Default)]
pub struct NeighborList {
    pub pairs: Vec<Pair>,
    pub offsets: Vec<usize>,
}

impl NeighborList {
    /// The pairs whose `first` atom is `center`.
    pub fn pairs_of(&self, center: usize) -> &[Pair] {
        &self.pairs[self.offsets[center]..self.offsets[center + 1]]
    }
}

/// All pairs with `distance < cutoff` (ASE's convention).
pub fn neighbor_list(system: &System, cutoff: f64) -> Result<NeighborList> {
    let _ = (system, cutoff);
    Err(Error::Internal("neighbor_list: not implemented yet".into()))
}
