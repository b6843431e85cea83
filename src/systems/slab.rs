//! Slab geometry (`docs/math.md` §15): a structure periodic along two lattice vectors and open
//! along the third, whichever of the three that is.
//!
//! The two periodic vectors `a₁`, `a₂` span the plane; `n̂ = a₁ × a₂ / |a₁ × a₂|` is its normal,
//! `A = |a₁ × a₂|` the area of the in-plane cell and `z_j = r_j · n̂` the height of atom `j`. The
//! open lattice vector is irrelevant (it may be zero or tilted): the slab routes replace it by
//! `L n̂` to build a fully periodic *vacuum cell* of height `L` ([`SlabGeometry::vacuum_system`]),
//! which leaves the in-plane lattice and the heights unchanged.
//!
//! The in-plane reciprocal lattice `k_∥ = h b₁ + k b₂` (`a_i · b_j = 2π δ_ij`, `b_j ⊥ n̂`) gives
//! the error of a vacuum cell: a source's in-plane Fourier component `k_∥ ≠ 0` decays out of
//! the plane like `e^(−|k_∥| |z|)` ([`SlabGeometry::in_plane_sum`] sums a bound of it over the
//! lattice).

use super::cell::{cross, dot, norm, MAX_LATTICE_LENGTH};
use super::{Mat3, System, Vec3};
use crate::error::Result;

/// The plane, the heights and the in-plane reciprocal lattice of a slab.
#[derive(Debug, Clone)]
pub struct SlabGeometry {
    /// Index of the open (non-periodic) lattice vector.
    pub open: usize,
    /// Unit normal `n̂` of the periodic plane.
    pub normal: Vec3,
    /// Area `A = |a₁ × a₂|` (Å²) of the in-plane cell.
    pub area: f64,
    /// Heights `z_j = r_j · n̂` (Å) of the atoms.
    pub heights: Vec<f64>,
    /// Smallest and largest height (Å).
    pub z_range: (f64, f64),
    /// In-plane reciprocal vectors `b₁`, `b₂` (Å⁻¹).
    reciprocal: [Vec3; 2],
}

impl SlabGeometry {
    /// The geometry of `system`, which must be periodic along exactly two lattice vectors
    /// (`InvalidInput` otherwise, and when the atoms spread over more than
    /// `MAX_LATTICE_LENGTH` along the normal: such a slab is two structures).
    pub fn new(system: &System) -> Result<SlabGeometry> {
        let pbc = system.cell().pbc();
        let periodic: Vec<usize> = (0..3).filter(|&k| pbc[k]).collect();
        if periodic.len() != 2 {
            crate::bail_input!(
                "a slab is periodic along exactly two lattice vectors, got pbc = {pbc:?}"
            );
        }
        let open = (0..3).find(|&k| !pbc[k]).expect("one open direction");
        let m = system.cell().matrix();
        let (a1, a2) = (m[periodic[0]], m[periodic[1]]);
        let c = cross(a1, a2);
        let area = norm(c);
        let normal = [c[0] / area, c[1] / area, c[2] / area];
        let heights: Vec<f64> = system.positions().iter().map(|&r| dot(r, normal)).collect();
        let z_min = heights.iter().copied().fold(f64::INFINITY, f64::min);
        let z_max = heights.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if z_max - z_min > MAX_LATTICE_LENGTH {
            crate::bail_input!(
                "the atoms of this slab spread over {:.3e} Å along the open direction (above \
                 {MAX_LATTICE_LENGTH:.0e} Å): an atom is far from the others (check the \
                 positions' units and values)",
                z_max - z_min
            );
        }
        // b₁ = 2π (a₂ × n̂)/(a₁ · (a₂ × n̂)), b₂ = 2π (n̂ × a₁)/(a₂ · (n̂ × a₁))
        let two_pi = 2.0 * std::f64::consts::PI;
        let u1 = cross(a2, normal);
        let u2 = cross(normal, a1);
        let (s1, s2) = (two_pi / dot(a1, u1), two_pi / dot(a2, u2));
        let reciprocal = [u1.map(|x| x * s1), u2.map(|x| x * s2)];
        Ok(SlabGeometry {
            open,
            normal,
            area,
            heights,
            z_range: (z_min, z_max),
            reciprocal,
        })
    }

    /// Thickness `T = max z − min z` (Å).
    pub fn thickness(&self) -> f64 {
        self.z_range.1 - self.z_range.0
    }

    /// The fully periodic vacuum cell of height `length`: `system`'s atoms with the open lattice
    /// vector replaced by `length · n̂`.
    pub fn vacuum_system(&self, system: &System, length: f64) -> Result<System> {
        let mut matrix: Mat3 = *system.cell().matrix();
        matrix[self.open] = self.normal.map(|x| x * length);
        System::new(
            system.positions().to_vec(),
            system.numbers().to_vec(),
            matrix,
            [true; 3],
        )
    }

    /// `Σ_{k_∥ ≠ 0} f(|k_∥|)` over the in-plane reciprocal lattice, for a positive `f` that
    /// decreases at least exponentially: rings `max(|h|, |k|) = H` are added until a ring adds
    /// less than `1e-6` of the sum (at least three rings), or the sum exceeds `stop` (then it is
    /// returned as soon as it does: the caller only asks whether it is below `stop`).
    pub fn in_plane_sum(&self, f: impl Fn(f64) -> f64, stop: f64) -> f64 {
        let [b1, b2] = self.reciprocal;
        let mut total = 0.0;
        for ring in 1..=100_000_i64 {
            let mut added = 0.0;
            for h in -ring..=ring {
                for k in -ring..=ring {
                    if h.abs().max(k.abs()) != ring {
                        continue;
                    }
                    let v: Vec3 = std::array::from_fn(|d| h as f64 * b1[d] + k as f64 * b2[d]);
                    added += f(norm(v));
                }
            }
            total += added;
            if total > stop || (ring >= 3 && added <= 1e-6 * total) {
                break;
            }
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The in-plane reciprocal vectors are dual to the periodic ones and normal to `n̂`, for any
    /// open direction and a tilted open vector; the vacuum cell keeps the heights.
    #[test]
    fn reciprocal_vectors_and_vacuum_cell() {
        let cell = [[3.0, 0.5, 0.0], [0.0, 0.0, 9.0], [0.7, 2.5, 0.1]];
        let positions = vec![[0.1, 0.2, 0.3], [1.0, 4.0, 2.0]];
        let system = System::new(positions, vec![1, 2], cell, [true, false, true]).unwrap();
        let slab = SlabGeometry::new(&system).unwrap();
        assert_eq!(slab.open, 1);
        let (a1, a2) = (cell[0], cell[2]);
        let two_pi = 2.0 * std::f64::consts::PI;
        for (i, a) in [a1, a2].iter().enumerate() {
            for (j, b) in slab.reciprocal.iter().enumerate() {
                let expected = if i == j { two_pi } else { 0.0 };
                assert!((dot(*a, *b) - expected).abs() < 1e-12);
                assert!(dot(*b, slab.normal).abs() < 1e-12);
            }
        }
        assert!((slab.area - norm(cross(a1, a2))).abs() < 1e-12);
        let vacuum = slab.vacuum_system(&system, 40.0).unwrap();
        assert!(vacuum.cell().is_fully_periodic());
        assert!((vacuum.cell().volume() - 40.0 * slab.area).abs() < 1e-9);
        for (r, z) in vacuum.positions().iter().zip(&slab.heights) {
            assert!(
                (dot(*r, slab.normal) - z).abs() < 1e-9
                    || (dot(*r, slab.normal) - z - 40.0).abs() < 1e-9
            );
        }
        // Σ e^{-k d} over the square lattice of side 1: the first ring dominates
        let square = System::new(
            vec![[0.0; 3]],
            vec![1],
            [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]],
            [true, true, false],
        )
        .unwrap();
        let slab = SlabGeometry::new(&square).unwrap();
        let sum = slab.in_plane_sum(|k| (-k * 2.0).exp(), f64::INFINITY);
        let first = 4.0 * (-two_pi * 2.0).exp() + 4.0 * (-two_pi * 2f64.sqrt() * 2.0).exp();
        assert!(sum > first && sum < first * 1.01, "{sum} {first}");
        let wire = System::new(vec![[0.0; 3]], vec![1], cell, [true, false, false]).unwrap();
        assert!(SlabGeometry::new(&wire).is_err());
    }
}
