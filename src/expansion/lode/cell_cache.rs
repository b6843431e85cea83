//! What the routes prepare from the cell alone, kept across calls: consecutive calls on the same
//! cell (an NVE trajectory: the positions move, the cell does not) skip it; a new cell (an NPT
//! step) misses and rebuilds. Three kinds of entries, each keyed by the exact bits of the cell
//! matrix, the cell's periodicity and the parameters it was prepared for:
//!
//! - the plan of a fully periodic structure ([`super::plan::Plan`]; keyed also by the number of
//!   atoms and channels and the pool's thread count, which the planner's costs and memory
//!   estimates read): the planner's error models and table costs are the largest per-call
//!   setup of a small cell (a quarter of a 64-atom SOAP + LODE force call, `docs/potentials.md`);
//! - the k-vectors below a k-cutoff and their shells (`KspaceCell`; the reciprocal route and
//!   the Ewald long range, values, Jacobians and backward pass);
//! - the mesh modes of the particle-mesh route (their wave vectors, Euler factors and FFT
//!   plans; keyed also by the mesh and spline order).
//!
//! The basis rows `B[k, q]` are not kept: measured, their evaluation is below 2 % of an MD step
//! from 1 000 atoms on every route (`docs/potentials.md`), and holding them (with their strain
//! derivatives, `10 N_k n_cols` values) would cost more memory than the k-vectors by `n_cols`.
//!
//! Bounded: at most [`ENTRIES`] entries of each kind per calculator, the least recently used
//! dropped first, and an entry above [`MAX_ENTRY_BYTES`] is used for its call and not kept.
//! An entry is built outside the lock (a build may run parallel loops); two threads missing
//! the same key build it twice and keep one. Cached and freshly built entries are the same
//! values, so results do not depend on the cache (bitwise), nor on the number of threads.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use super::plan::Plan;
use crate::error::Result;
use crate::kspace::{k_vectors, KVectors, Shells};
use crate::mesh::MeshModes;
use crate::systems::{Cell, System};

/// Entries of each kind kept per calculator.
pub const ENTRIES: usize = 4;
/// Largest entry kept (bytes, estimated); larger ones are rebuilt on every call.
pub const MAX_ENTRY_BYTES: f64 = 64.0 * 1024.0 * 1024.0;
/// Estimated bytes per k-vector of a [`KspaceCell`]: indices, vector and norm in the original
/// and the sorted order, and the shell permutation.
const BYTES_PER_K: f64 = 2.0 * (12.0 + 24.0 + 8.0) + 16.0;
/// Estimated bytes per mesh mode of [`MeshModes`]: index, vector, norm and Euler factor.
const BYTES_PER_MODE: f64 = 8.0 + 24.0 + 8.0 + 8.0;

static HITS: AtomicUsize = AtomicUsize::new(0);
static BUILDS: AtomicUsize = AtomicUsize::new(0);
static ENABLED: AtomicBool = AtomicBool::new(true);

/// `(hits, builds)` of every cell cache in this process so far: a hit is a preparation taken
/// from a cache, a build one computed (with the cache disabled, every preparation is a build).
pub fn counts() -> (usize, usize) {
    (HITS.load(Ordering::Relaxed), BUILDS.load(Ordering::Relaxed))
}

/// Whether the cell caches are enabled ([`set_enabled`]).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Enable or disable every cell cache of this process (for tests and benchmarks comparing
/// cached and uncached calls); returns the previous setting. Disabled, nothing is looked up or
/// kept, and the planner estimates the Ewald table costs on every call as well
/// (`EwaldTables::table_cost`): every call prepares as if it were the first.
pub fn set_enabled(enabled: bool) -> bool {
    ENABLED.swap(enabled, Ordering::Relaxed)
}

/// The exact cell: the bits of its matrix and its periodicity.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct CellKey {
    matrix: [u64; 9],
    pbc: [bool; 3],
}

impl CellKey {
    fn of(cell: &Cell) -> CellKey {
        let m = cell.matrix();
        CellKey {
            matrix: std::array::from_fn(|i| m[i / 3][i % 3].to_bits()),
            pbc: cell.pbc(),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct PlanKey {
    cell: CellKey,
    n_atoms: usize,
    n_channels: usize,
    threads: usize,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct KspaceKey {
    cell: CellKey,
    k_cutoff: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct MeshKey {
    cell: CellKey,
    k_cutoff: u64,
    dims: [usize; 3],
    order: usize,
}

/// A few entries, most recently used last.
struct Lru<K, V> {
    entries: Mutex<Vec<(K, V)>>,
}

impl<K, V> Default for Lru<K, V> {
    fn default() -> Self {
        Lru {
            entries: Mutex::new(Vec::new()),
        }
    }
}

impl<K: PartialEq + Copy, V: Clone> Lru<K, V> {
    /// The entry of `key`, or `build()` kept when its `bytes` are within [`MAX_ENTRY_BYTES`].
    fn get_or_build(
        &self,
        key: K,
        build: impl FnOnce() -> Result<V>,
        bytes: impl Fn(&V) -> f64,
    ) -> Result<V> {
        let enabled = ENABLED.load(Ordering::Relaxed);
        if enabled {
            let mut entries = self.entries.lock().expect("cell cache");
            if let Some(at) = entries.iter().position(|(k, _)| *k == key) {
                let entry = entries.remove(at);
                let value = entry.1.clone();
                entries.push(entry);
                HITS.fetch_add(1, Ordering::Relaxed);
                return Ok(value);
            }
        }
        let value = build()?;
        BUILDS.fetch_add(1, Ordering::Relaxed);
        if enabled && bytes(&value) <= MAX_ENTRY_BYTES {
            let mut entries = self.entries.lock().expect("cell cache");
            if !entries.iter().any(|(k, _)| *k == key) {
                if entries.len() == ENTRIES {
                    entries.remove(0);
                }
                entries.push((key, value.clone()));
            }
        }
        Ok(value)
    }
}

/// The k-vectors of a cell below a k-cutoff ([`k_vectors`]), and their shells, grouped on
/// first use ([`Shells::new`]).
pub(super) struct KspaceCell {
    pub kvectors: KVectors,
    shells: OnceLock<Shells>,
}

impl KspaceCell {
    /// The k-vectors grouped by norm.
    pub fn shells(&self) -> &Shells {
        self.shells.get_or_init(|| Shells::new(&self.kvectors))
    }
}

/// The per-cell cache of one calculator (module docs).
#[derive(Default)]
pub(super) struct CellCache {
    plans: Lru<PlanKey, Plan>,
    kspace: Lru<KspaceKey, Arc<KspaceCell>>,
    mesh: Lru<MeshKey, Arc<MeshModes>>,
}

impl CellCache {
    /// The plan of `system` with `n_channels` channels, or `plan()` (kept for fully periodic
    /// cells only: a slab's plan depends on the positions, a finite system's costs nothing).
    pub fn plan(
        &self,
        system: &System,
        n_channels: usize,
        plan: impl FnOnce() -> Result<(Plan, bool)>,
    ) -> Result<Plan> {
        if !system.cell().is_fully_periodic() {
            return plan().map(|(plan, _)| plan);
        }
        let key = PlanKey {
            cell: CellKey::of(system.cell()),
            n_atoms: system.size(),
            n_channels,
            threads: rayon::current_num_threads(),
        };
        // a plan decided by these positions (a small-cell image bound over the atoms' pairs) is
        // used for this call only: kept as if it were too large
        let cell_only = std::cell::Cell::new(true);
        let build = || {
            let (plan, holds) = plan()?;
            cell_only.set(holds);
            Ok(plan)
        };
        self.plans.get_or_build(key, build, |_| {
            if cell_only.get() {
                0.0
            } else {
                f64::INFINITY
            }
        })
    }

    /// The k-vectors of `cell` below `k_cutoff`.
    pub fn kspace(&self, cell: &Cell, k_cutoff: f64) -> Result<Arc<KspaceCell>> {
        let key = KspaceKey {
            cell: CellKey::of(cell),
            k_cutoff: k_cutoff.to_bits(),
        };
        let build = || {
            Ok(Arc::new(KspaceCell {
                kvectors: k_vectors(cell, k_cutoff)?,
                shells: OnceLock::new(),
            }))
        };
        self.kspace.get_or_build(key, build, |entry| {
            entry.kvectors.len() as f64 * BYTES_PER_K
        })
    }

    /// The modes `0 < |k| < k_cutoff` of a `dims` mesh over `cell` for B-splines of order
    /// `order` ([`MeshModes::new`]).
    pub fn mesh_modes(
        &self,
        cell: &Cell,
        dims: [usize; 3],
        order: usize,
        k_cutoff: f64,
    ) -> Result<Arc<MeshModes>> {
        let key = MeshKey {
            cell: CellKey::of(cell),
            k_cutoff: k_cutoff.to_bits(),
            dims,
            order,
        };
        let build = || Ok(Arc::new(MeshModes::new(cell, dims, order, k_cutoff)?));
        self.mesh
            .get_or_build(key, build, |modes| modes.len() as f64 * BYTES_PER_MODE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cube(a: f64) -> Cell {
        Cell::new([[a, 0.0, 0.0], [0.0, a, 0.0], [0.0, 0.0, a]], [true; 3]).unwrap()
    }

    /// A second look-up of the same cell and cutoff is a hit returning the same entry; the
    /// next representable cell length or another cutoff miss, another periodicity is another
    /// key; the entries are the freshly built ones; at most `ENTRIES` are kept, the least
    /// recently used dropped.
    #[test]
    fn hits_misses_and_bounds() {
        let cache = CellCache::default();
        let first = cache.kspace(&cube(8.0), 2.0).unwrap();
        let again = cache.kspace(&cube(8.0), 2.0).unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        let fresh = k_vectors(&cube(8.0), 2.0).unwrap();
        assert_eq!(first.kvectors.indices(), fresh.indices());
        assert_eq!(first.kvectors.vectors(), fresh.vectors());
        let next = cube(f64::from_bits(8.0f64.to_bits() + 1));
        assert!(!Arc::ptr_eq(&first, &cache.kspace(&next, 2.0).unwrap()));
        assert!(!Arc::ptr_eq(
            &first,
            &cache.kspace(&cube(8.0), 2.0 + 1e-12).unwrap()
        ));
        let slab = Cell::new(*cube(8.0).matrix(), [true, true, false]).unwrap();
        assert_ne!(CellKey::of(&slab), CellKey::of(&cube(8.0)));
        // cube(8) was used before the two others: still kept, a hit, now the most recent
        assert!(Arc::ptr_eq(&first, &cache.kspace(&cube(8.0), 2.0).unwrap()));
        // two more cells fill the 4 entries and drop the least recently used: the next cell
        cache.kspace(&cube(9.0), 2.0).unwrap();
        cache.kspace(&cube(10.0), 2.0).unwrap();
        assert_eq!(cache.kspace.entries.lock().unwrap().len(), ENTRIES);
        let keys: Vec<KspaceKey> = cache
            .kspace
            .entries
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.0)
            .collect();
        assert!(!keys.contains(&KspaceKey {
            cell: CellKey::of(&next),
            k_cutoff: 2.0f64.to_bits()
        }));
        assert!(Arc::ptr_eq(&first, &cache.kspace(&cube(8.0), 2.0).unwrap()));
        // shells are the sorted k-vectors
        let shells = first.shells();
        assert_eq!(shells.kvectors().len(), first.kvectors.len());
    }
}
