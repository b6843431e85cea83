//! Sorting atoms into a grid of bins laid out in fractional coordinates.
//!
//! Along a periodic direction `k` the cell is cut into `n_k` slices of equal fractional width;
//! along a non-periodic one the slices cover the atoms' bounding interval `[f_min, f_max]`.
//! Each slice is at least `cutoff` thick (distance between its two bounding planes), so a
//! neighbour of an atom lies at most `search_k` slices away, where
//! `search_k = ⌈(cutoff + δ) · n_k / L_k⌉`, `L_k` the thickness of the binned region (the face
//! distance `h_k` of the cell for periodic directions) and `δ` a tiny safety margin covering
//! round-off. When the cell is thinner than the cutoff, `n_k = 1` and `search_k` counts the
//! periodic images to visit.

use crate::systems::{System, Vec3};

/// Bins never outnumber atoms by more than this factor (plus a small constant): a tiny cutoff
/// or a sparse open system must not allocate a huge, empty grid.
const BINS_PER_ATOM: usize = 8;
/// Absolute cap on the number of bins.
const MAX_BINS: usize = 1 << 24;

/// The binned region along each lattice direction.
pub(super) struct Extent {
    /// Whether the direction is periodic.
    pub periodic: [bool; 3],
    /// Smallest fractional coordinate of any atom (0 along periodic directions).
    pub f_min: Vec3,
    /// `f_max − f_min` along non-periodic directions (1 along periodic ones).
    pub f_span: Vec3,
    /// Thickness (Å) of the binned region: the face distance `h_k` along periodic directions,
    /// `(f_max − f_min) · h_k` along non-periodic ones.
    pub thickness: Vec3,
    /// Fractional coordinates of all atoms, `(n_atoms,)` of `[f_a, f_b, f_c]`.
    pub fractional: Vec<Vec3>,
    /// Round-off margin δ (Å) added to the cutoff when deciding how far to search.
    pub margin: f64,
}

impl Extent {
    /// Fractional coordinates and the extent of the region to bin.
    pub fn new(system: &System, cutoff: f64) -> Extent {
        let cell = system.cell();
        let periodic = cell.pbc();
        let h = cell.face_distances();
        let fractional: Vec<Vec3> = system
            .positions()
            .iter()
            .map(|&r| cell.to_fractional(r))
            .collect();
        let mut f_min = [0.0; 3];
        let mut f_span = [1.0; 3];
        let mut thickness = h;
        for k in 0..3 {
            if !periodic[k] {
                let lo = fractional
                    .iter()
                    .map(|f| f[k])
                    .fold(f64::INFINITY, f64::min);
                let hi = fractional
                    .iter()
                    .map(|f| f[k])
                    .fold(f64::NEG_INFINITY, f64::max);
                f_min[k] = lo;
                f_span[k] = hi - lo;
                thickness[k] = f_span[k] * h[k];
            }
        }
        // round-off in fractional coordinates scales with the size of the coordinates
        let largest = system
            .positions()
            .iter()
            .map(|r| r[0].abs() + r[1].abs() + r[2].abs())
            .fold(0.0, f64::max);
        let cell_size: f64 = cell.matrix().iter().flatten().map(|x| x.abs()).sum();
        let margin = 1e-9 * cutoff + 1e-12 * (largest + cell_size);
        Extent {
            periodic,
            f_min,
            f_span,
            thickness,
            fractional,
            margin,
        }
    }
}

/// Atoms sorted into bins (CSR layout), with the search range along each direction.
pub(super) struct Grid {
    /// Number of bins along each lattice direction.
    pub n_bins: [usize; 3],
    /// Bins searched on each side of a centre's bin, along each direction.
    pub search: [usize; 3],
    /// Bin coordinates of every atom, `(n_atoms,)`.
    pub atom_bin: Vec<[usize; 3]>,
    /// Lattice translation `m` such that `r − m · M` is the point that was binned (non-zero only
    /// when round-off leaves a wrapped atom at a fractional coordinate of 1 or slightly below 0).
    pub atom_image: Vec<[i32; 3]>,
    /// Atoms of bin `b` are `atoms[starts[b]..starts[b + 1]]`, in increasing index order.
    pub starts: Vec<usize>,
    pub atoms: Vec<usize>,
}

impl Grid {
    /// Choose the bins for `cutoff` and sort the atoms into them.
    pub fn new(extent: &Extent, cutoff: f64) -> Grid {
        let n_atoms = extent.fractional.len();
        let reach = cutoff + extent.margin;
        // bins at least (cutoff + 2δ) thick, so that one neighbouring bin suffices normally
        let max_bins = (BINS_PER_ATOM * n_atoms + 64).min(MAX_BINS);
        let n_bins_along = |k: usize| {
            let n = (extent.thickness[k] / (reach + extent.margin)).floor();
            if n >= 1.0 {
                n.min(max_bins as f64) as usize
            } else {
                1
            }
        };
        let mut n_bins = [n_bins_along(0), n_bins_along(1), n_bins_along(2)];
        while n_bins.iter().fold(1usize, |p, &n| p.saturating_mul(n)) > max_bins {
            let k = (0..3).max_by_key(|&k| n_bins[k]).expect("three directions");
            n_bins[k] = (n_bins[k] / 2).max(1);
        }

        let mut search = [0usize; 3];
        for k in 0..3 {
            let needed = (reach * n_bins[k] as f64 / extent.thickness[k]).ceil();
            search[k] = if extent.periodic[k] {
                // the number of images comes from the face distance: ⌈cutoff / h_k⌉ for one bin
                needed as usize
            } else if n_bins[k] == 1 {
                0
            } else {
                (needed as usize).min(n_bins[k] - 1)
            };
        }

        let mut atom_bin = Vec::with_capacity(n_atoms);
        let mut atom_image = Vec::with_capacity(n_atoms);
        for f in &extent.fractional {
            let mut bin = [0usize; 3];
            let mut image = [0i32; 3];
            for k in 0..3 {
                let n = n_bins[k] as i64;
                if extent.periodic[k] {
                    let b = (f[k] * n as f64).floor() as i64;
                    bin[k] = b.rem_euclid(n) as usize;
                    image[k] = b.div_euclid(n) as i32;
                } else if n > 1 {
                    // n > 1 implies a positive span; the atom at f_max lands in the last bin
                    let b = ((f[k] - extent.f_min[k]) / extent.f_span[k] * n as f64).floor() as i64;
                    bin[k] = b.clamp(0, n - 1) as usize;
                }
            }
            atom_bin.push(bin);
            atom_image.push(image);
        }

        let n_total: usize = n_bins.iter().product();
        let linear = |b: [usize; 3]| b[0] + n_bins[0] * (b[1] + n_bins[1] * b[2]);
        let mut starts = vec![0usize; n_total + 1];
        for &b in &atom_bin {
            starts[linear(b) + 1] += 1;
        }
        for b in 0..n_total {
            starts[b + 1] += starts[b];
        }
        let mut fill = starts.clone();
        let mut atoms = vec![0usize; n_atoms];
        for (i, &b) in atom_bin.iter().enumerate() {
            let slot = &mut fill[linear(b)];
            atoms[*slot] = i;
            *slot += 1;
        }
        Grid {
            n_bins,
            search,
            atom_bin,
            atom_image,
            starts,
            atoms,
        }
    }

    /// Linear index of bin `b`.
    pub fn linear(&self, b: [usize; 3]) -> usize {
        b[0] + self.n_bins[0] * (b[1] + self.n_bins[1] * b[2])
    }

    /// The atoms in the bin with linear index `b`.
    pub fn atoms_in(&self, b: usize) -> &[usize] {
        &self.atoms[self.starts[b]..self.starts[b + 1]]
    }
}
