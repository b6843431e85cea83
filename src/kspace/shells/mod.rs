//! k-vectors grouped by norm ("shells"), and the contraction over k for a basis that is a
//! radial factor of `|k|` times an angular factor of `k`.
//!
//! In cells with symmetry many k-vectors share their norm: a cubic cell has about 20 per
//! shell at the cutoffs of LODE (48 symmetry operations, halved by the `±k` pairing), an
//! orthorhombic one about 4. When the basis is separable, `B[k, (r, u)] = R_r,g(u)(|k|) A_u(k)`
//! (for LODE `u = (l, m)`, `r = n`, `g(u) = l`), the contraction splits into
//!
//! 1. `G^a_u(i, s) = Σ_{k∈s} A_u(k) F^a_{parity(u)}(i, k)`: `n_ang` multiply-adds per (centre,
//!    k-vector, channel) instead of `n_radial · n_ang`;
//! 2. `c^a_{r,u}(i) = Σ_s R_{r,g(u)}(|k_s|) G^a_u(i, s)`: `n_radial · n_ang` per (centre, shell,
//!    channel).
//!
//! For LODE with `n_max = 6` this is about 6 times fewer operations than the dense product
//! of [`super::reciprocal_sum`] on cubic cells; on cells without symmetry (one k-vector per
//! shell) it is no cheaper, and the caller keeps the dense product.
//!
//! - this file: the grouping ([`Shells`]) and the blocks of whole shells;
//! - `symmetry.rs`: the degeneracy expected from the lattice's symmetry, before any k-vector
//!   exists (for the route choice);
//! - `sum.rs`: the algorithm ([`shell_sum`]);
//! - `kernels.rs`: the SIMD lane kernels it runs per tile of centres;
//! - `tables.rs`: the radial factors per shell and the angular factors per k-vector;
//! - `adjoint.rs`: its backward pass (positions and strain, [`shell_backward`]), with the lane
//!   kernels of `adjoint_kernels.rs`.

mod adjoint;
mod adjoint_kernels;
mod kernels;
mod sum;
mod symmetry;
mod tables;

use std::ops::Range;

use super::contraction::K_BLOCK;
use super::k_vectors::KVectors;

pub use adjoint::shell_backward;
pub use sum::shell_sum;
pub use symmetry::symmetry_degeneracy;

/// A block of whole shells: its sorted k-vectors, and each shell's local range and index.
type ShellBlock = (Range<usize>, Vec<(Range<usize>, usize)>);

/// Two norms belong to one shell when they differ by at most this, relative: rounding of the
/// norms of symmetry-equivalent k-vectors is a few ulps, distinct norms of a lattice differ by
/// far more, and the radial factors are smooth, so evaluating them at the smallest norm of the
/// shell changes them by ~1e-12 of their size at most.
pub const SHELL_TOLERANCE: f64 = 1e-12;

/// The k-vectors of a [`KVectors`] sorted by norm (ties in their original order) and grouped
/// into shells of equal norm (to [`SHELL_TOLERANCE`]).
#[derive(Debug, Clone)]
pub struct Shells {
    /// The vectors sorted by norm.
    kvectors: KVectors,
    /// Shell `s` holds the sorted vectors `starts[s]..starts[s + 1]`.
    starts: Vec<usize>,
}

impl Shells {
    /// Sort and group `kvectors`.
    pub fn new(kvectors: &KVectors) -> Shells {
        let norms = kvectors.norms();
        let mut order: Vec<usize> = (0..kvectors.len()).collect();
        order.sort_by(|&a, &b| norms[a].total_cmp(&norms[b]).then(a.cmp(&b)));
        let sorted = kvectors.permuted(&order);
        let mut starts = Vec::new();
        let mut first = f64::NEG_INFINITY;
        for (k, &norm) in sorted.norms().iter().enumerate() {
            if k == 0 || norm > first * (1.0 + SHELL_TOLERANCE) {
                starts.push(k);
                first = norm;
            }
        }
        starts.push(sorted.len());
        Shells {
            kvectors: sorted,
            starts,
        }
    }

    /// The sorted k-vectors.
    pub fn kvectors(&self) -> &KVectors {
        &self.kvectors
    }

    /// Number of shells.
    pub fn len(&self) -> usize {
        self.starts.len() - 1
    }

    /// True when there are no k-vectors.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The sorted k-vectors of shell `s`.
    pub fn range(&self, s: usize) -> Range<usize> {
        self.starts[s]..self.starts[s + 1]
    }

    /// The norm the radial factors of shell `s` are evaluated at: its smallest.
    pub fn norm(&self, s: usize) -> f64 {
        self.kvectors.norms()[self.starts[s]]
    }

    /// Blocks of whole consecutive shells, each of at most [`K_BLOCK`] k-vectors (or one shell,
    /// when a shell alone has more).
    fn blocks(&self) -> Vec<Range<usize>> {
        let mut blocks: Vec<Range<usize>> = Vec::new();
        for s in 0..self.len() {
            let shell = self.range(s);
            match blocks.last_mut() {
                Some(b) if shell.end - b.start <= K_BLOCK => b.end = shell.end,
                _ => blocks.push(shell),
            }
        }
        blocks
    }

    /// [`Self::blocks`] with, per block, the local range of k-vectors and the index of each of
    /// its shells.
    fn blocks_with_shells(&self) -> Vec<ShellBlock> {
        let mut blocks = Vec::new();
        let mut s = 0;
        for block in self.blocks() {
            let mut members = Vec::new();
            while s < self.len() && self.starts[s + 1] <= block.end {
                let r = self.range(s);
                members.push((r.start - block.start..r.end - block.start, s));
                s += 1;
            }
            blocks.push((block, members));
        }
        blocks
    }

    /// The largest number of k-vectors in one shell.
    fn longest_shell(&self) -> usize {
        (0..self.len())
            .map(|s| self.range(s).len())
            .max()
            .unwrap_or(0)
    }

    /// Mean number of k-vectors per shell (1 for an empty set).
    pub fn degeneracy(&self) -> f64 {
        self.kvectors.len() as f64 / self.len().max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::super::k_vectors::k_vectors;
    use super::*;
    use crate::systems::Cell;

    fn cell(m: [[f64; 3]; 3]) -> Cell {
        Cell::new(m, [true; 3]).unwrap()
    }

    fn cubic(a: f64) -> Cell {
        cell([[a, 0.0, 0.0], [0.0, a, 0.0], [0.0, 0.0, a]])
    }

    #[test]
    fn shells_group_equal_norms_in_sorted_order() {
        let a = 9.0;
        let kv = k_vectors(&cubic(a), 4.5).unwrap();
        let shells = Shells::new(&kv);
        // in a cubic cell |k|² = (2π/a)² (h² + k² + l²): one shell per distinct integer
        let distinct: std::collections::BTreeSet<i32> = kv
            .indices()
            .iter()
            .map(|n| n[0] * n[0] + n[1] * n[1] + n[2] * n[2])
            .collect();
        assert_eq!(shells.len(), distinct.len());
        assert_eq!(shells.kvectors().len(), kv.len());
        let norms = shells.kvectors().norms();
        assert!(norms.windows(2).all(|w| w[0] <= w[1]));
        for s in 0..shells.len() {
            for k in shells.range(s) {
                let rel = (norms[k] - shells.norm(s)) / shells.norm(s);
                assert!((0.0..=SHELL_TOLERANCE).contains(&rel));
            }
            if s > 0 {
                assert!(shells.norm(s) > shells.norm(s - 1) * (1.0 + 1e-6));
            }
        }
        assert!(shells.degeneracy() > 10.0, "{}", shells.degeneracy());
        // blocks: whole shells, contiguous, covering everything
        let blocks = shells.blocks();
        assert!(blocks.len() > 2);
        assert_eq!(blocks[0].start, 0);
        assert_eq!(blocks.last().unwrap().end, kv.len());
        for w in blocks.windows(2) {
            assert_eq!(w[0].end, w[1].start);
        }
        for b in &blocks {
            assert!(shells.starts.contains(&b.start) && shells.starts.contains(&b.end));
            assert!(
                b.len() <= K_BLOCK || shells.starts.iter().all(|&s| s <= b.start || s >= b.end)
            );
        }
        // the sorted vectors are the original ones, permuted
        let mut sorted = shells.kvectors().indices().to_vec();
        let mut original = kv.indices().to_vec();
        sorted.sort();
        original.sort();
        assert_eq!(sorted, original);
    }
}
