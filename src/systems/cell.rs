//! Unit cells: lattice vectors, periodicity, fractional coordinates, reciprocal vectors.

use crate::error::{Error, Result};

/// A Cartesian 3-vector.
pub type Vec3 = [f64; 3];
/// A 3×3 matrix, row-major; for a cell, rows are the lattice vectors.
pub type Mat3 = [[f64; 3]; 3];

/// Relative volume below which a cell counts as degenerate: |det| < this · |a||b||c|.
const DEGENERATE_VOLUME: f64 = 1e-8;

/// Smallest accepted distance (Å) between opposite faces along a periodic direction: below,
/// every atom sits on top of its own periodic images.
pub const MIN_FACE_DISTANCE: f64 = 1e-2;

/// Largest accepted length (Å) of a periodic lattice vector: beyond, volumes and the cost
/// estimates derived from them leave the range where they are meaningful.
pub const MAX_LATTICE_LENGTH: f64 = 1e6;

/// A unit cell with per-direction periodicity.
///
/// Along non-periodic directions the given vector is irrelevant: when it is zero or makes the
/// matrix singular, it is replaced by a unit vector perpendicular to the periodic ones, so that
/// fractional coordinates always exist. With no periodic direction the matrix is the identity.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    matrix: Mat3,
    inverse: Mat3,
    pbc: [bool; 3],
}

pub(crate) fn dot(a: Vec3, b: Vec3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

pub(crate) fn cross(a: Vec3, b: Vec3) -> Vec3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

pub(crate) fn norm(a: Vec3) -> f64 {
    dot(a, a).sqrt()
}

fn det(m: &Mat3) -> f64 {
    dot(m[0], cross(m[1], m[2]))
}

fn is_degenerate(m: &Mat3) -> bool {
    let scale = norm(m[0]) * norm(m[1]) * norm(m[2]);
    scale.is_nan() || scale <= 0.0 || det(m).abs() <= DEGENERATE_VOLUME * scale
}

impl Cell {
    /// Build a cell from lattice vectors (rows, Å) and periodicity.
    pub fn new(matrix: Mat3, pbc: [bool; 3]) -> Result<Cell> {
        if matrix.iter().flatten().any(|x| !x.is_finite()) {
            return Err(Error::InvalidInput(format!(
                "cell is not finite: {matrix:?}"
            )));
        }
        for k in (0..3).filter(|&k| pbc[k]) {
            // component-wise first: the norm of a huge vector would overflow
            let largest = matrix[k].iter().fold(0.0f64, |m, x| m.max(x.abs()));
            if largest > MAX_LATTICE_LENGTH || norm(matrix[k]) > MAX_LATTICE_LENGTH {
                return Err(Error::InvalidInput(format!(
                    "lattice vector {k} is {:.3e} Å long, above the supported \
                     {MAX_LATTICE_LENGTH:.0e} Å for a periodic direction (a structure this \
                     sparse is better treated as non-periodic)",
                    largest.max(norm(matrix[k]))
                )));
            }
        }
        let n_periodic = pbc.iter().filter(|&&p| p).count();
        let matrix = match n_periodic {
            0 => [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            3 => {
                if is_degenerate(&matrix) {
                    return Err(Error::InvalidInput(format!(
                        "degenerate cell (zero or near-zero volume {:.3e} Å³): {matrix:?}",
                        det(&matrix).abs()
                    )));
                }
                matrix
            }
            _ => complete_partial(matrix, pbc)?,
        };
        let inverse = invert(&matrix);
        let cell = Cell {
            matrix,
            inverse,
            pbc,
        };
        cell.check_size()?;
        Ok(cell)
    }

    /// Along periodic directions, face distances at least [`MIN_FACE_DISTANCE`] (lattice
    /// vectors longer than [`MAX_LATTICE_LENGTH`] were refused before).
    fn check_size(&self) -> Result<()> {
        // face distances of the matrix scaled by a power of two near its largest element (exact
        // scaling), so that tiny or huge cells neither underflow nor overflow on the way
        let largest = self
            .matrix
            .iter()
            .flatten()
            .fold(0.0f64, |m, x| m.max(x.abs()));
        let scale = 2f64.powi(largest.log2().round().clamp(-1000.0, 1000.0) as i32);
        let scaled = self.matrix.map(|row| row.map(|x| x / scale));
        let v = det(&scaled).abs();
        let h = [
            scale * (v / norm(cross(scaled[1], scaled[2]))),
            scale * (v / norm(cross(scaled[2], scaled[0]))),
            scale * (v / norm(cross(scaled[0], scaled[1]))),
        ];
        for k in (0..3).filter(|&k| self.pbc[k]) {
            if h[k].is_nan() || h[k] < MIN_FACE_DISTANCE {
                return Err(Error::InvalidInput(format!(
                    "the cell is too small: the faces across lattice vector {k} are {:.3e} Å \
                     apart, below {MIN_FACE_DISTANCE} Å, so every atom overlaps its own \
                     periodic images (check the cell's units: it is in Å)",
                    h[k]
                )));
            }
        }
        Ok(())
    }

    /// A cell with no periodicity at all (molecules, clusters).
    pub fn open() -> Cell {
        Cell::new([[0.0; 3]; 3], [false; 3]).expect("the open cell is valid")
    }

    /// Lattice vectors as rows (completed along non-periodic directions).
    pub fn matrix(&self) -> &Mat3 {
        &self.matrix
    }

    /// Periodicity along each lattice vector.
    pub fn pbc(&self) -> [bool; 3] {
        self.pbc
    }

    /// True when at least one direction is periodic.
    pub fn is_periodic(&self) -> bool {
        self.pbc.iter().any(|&p| p)
    }

    /// True when all three directions are periodic.
    pub fn is_fully_periodic(&self) -> bool {
        self.pbc.iter().all(|&p| p)
    }

    /// Refuse mixed periodicity (slabs, wires): `InvalidInput` unless the cell is periodic in
    /// all three directions or in none. The one home of this refusal: every calculation that
    /// sums over periodic images calls it (LODE, electrostatics, k-vectors, the mesh), with
    /// `what` naming the calculation in the message.
    pub fn check_periodicity(&self, what: &str) -> Result<()> {
        if self.is_periodic() && !self.is_fully_periodic() {
            crate::bail_input!(
                "{what} supports cells periodic in all three directions (pbc = T,T,T) or in none \
                 (F,F,F), got pbc = {:?}: slabs and wires (mixed periodicity) need a 2D/1D Ewald \
                 treatment that is not implemented",
                self.pbc
            );
        }
        Ok(())
    }

    /// Refuse wires (one periodic direction): `InvalidInput`. For the calculations that sum
    /// slabs exactly (LODE, Coulomb energies: `docs/math.md` §15) and refuse only wires.
    pub fn check_not_wire(&self, what: &str) -> Result<()> {
        if self.pbc.iter().filter(|&&p| p).count() == 1 {
            crate::bail_input!(
                "{what} supports cells periodic in all three directions, slabs (two periodic \
                 directions) and finite systems, got pbc = {:?}: wires (one periodic direction) \
                 are not supported; for a wire, make its cell periodic in three directions with \
                 enough vacuum, or treat a long finite piece as a finite system",
                self.pbc
            );
        }
        Ok(())
    }

    /// Like [`Cell::check_periodicity`], and also refuse a finite system: for the k-space pieces
    /// that only exist for a fully periodic cell (k-vectors, the mesh, Ewald sums).
    pub fn require_fully_periodic(&self, what: &str) -> Result<()> {
        self.check_periodicity(what)?;
        if !self.is_periodic() {
            crate::bail_input!(
                "{what} needs a cell periodic in all three directions, got pbc = {:?}",
                self.pbc
            );
        }
        Ok(())
    }

    /// Volume |a · (b × c)| (Å³).
    pub fn volume(&self) -> f64 {
        det(&self.matrix).abs()
    }

    /// Half the longest of the four diagonals `|a ± b ± c|`: every point of the parallelepiped
    /// spanned by the lattice vectors and centred on a point lies within this distance of it.
    pub fn covering_radius(&self) -> f64 {
        let [a, b, c] = self.matrix;
        [(1.0, 1.0), (1.0, -1.0), (-1.0, 1.0), (-1.0, -1.0)]
            .iter()
            .map(|&(sb, sc)| {
                let d: Vec3 = std::array::from_fn(|i| a[i] + sb * b[i] + sc * c[i]);
                0.5 * norm(d)
            })
            .fold(0.0, f64::max)
    }

    /// Distances between opposite faces of the cell, `V / |a_j × a_k|`, one per lattice vector.
    pub fn face_distances(&self) -> Vec3 {
        let m = &self.matrix;
        let v = self.volume();
        [
            v / norm(cross(m[1], m[2])),
            v / norm(cross(m[2], m[0])),
            v / norm(cross(m[0], m[1])),
        ]
    }

    /// Reciprocal lattice vectors as rows, with `a_i · b_j = 2π δ_ij`.
    pub fn reciprocal(&self) -> Mat3 {
        let two_pi = 2.0 * std::f64::consts::PI;
        let mut b = [[0.0; 3]; 3];
        for (i, row) in b.iter_mut().enumerate() {
            for (j, value) in row.iter_mut().enumerate() {
                // inverse is M^{-1}; columns of M^{-1} are the reciprocal vectors / 2π
                *value = two_pi * self.inverse[j][i];
            }
        }
        b
    }

    /// Fractional coordinates `f` with `r = f · M` (M rows = lattice vectors).
    pub fn to_fractional(&self, r: Vec3) -> Vec3 {
        let mut f = [0.0; 3];
        for (k, fk) in f.iter_mut().enumerate() {
            *fk = r[0] * self.inverse[0][k] + r[1] * self.inverse[1][k] + r[2] * self.inverse[2][k];
        }
        f
    }

    /// Cartesian coordinates of fractional coordinates `f`.
    pub fn to_cartesian(&self, f: Vec3) -> Vec3 {
        let m = &self.matrix;
        let mut r = [0.0; 3];
        for (k, rk) in r.iter_mut().enumerate() {
            *rk = f[0] * m[0][k] + f[1] * m[1][k] + f[2] * m[2][k];
        }
        r
    }

    /// Wrap a position into the cell along periodic directions (fractional coordinates in [0, 1)).
    pub fn wrap(&self, r: Vec3) -> Vec3 {
        if !self.is_periodic() {
            return r;
        }
        let mut f = self.to_fractional(r);
        for (fk, &periodic) in f.iter_mut().zip(&self.pbc) {
            if periodic {
                *fk -= fk.floor();
                if *fk >= 1.0 {
                    *fk = 0.0;
                }
            }
        }
        self.to_cartesian(f)
    }

    /// The Cartesian translation `n · M` for an integer cell shift `n`.
    pub fn shift_vector(&self, shift: [i32; 3]) -> Vec3 {
        self.to_cartesian([shift[0] as f64, shift[1] as f64, shift[2] as f64])
    }
}

/// Replace irrelevant lattice vectors along non-periodic directions by unit vectors orthogonal
/// to the periodic ones, when the given ones are zero or make the matrix singular.
fn complete_partial(mut matrix: Mat3, pbc: [bool; 3]) -> Result<Mat3> {
    let periodic: Vec<usize> = (0..3).filter(|&k| pbc[k]).collect();
    for &k in &periodic {
        if norm(matrix[k]).is_nan() || norm(matrix[k]) <= 0.0 {
            return Err(Error::InvalidInput(format!(
                "lattice vector {k} is zero but the cell is periodic along it"
            )));
        }
    }
    if !is_degenerate(&matrix) {
        return Ok(matrix);
    }
    if periodic.len() == 2 {
        let (a, b) = (matrix[periodic[0]], matrix[periodic[1]]);
        let n = cross(a, b);
        let nn = norm(n);
        if nn <= DEGENERATE_VOLUME * norm(a) * norm(b) {
            return Err(Error::InvalidInput(
                "degenerate cell: the two periodic lattice vectors are parallel".into(),
            ));
        }
        let free = (0..3).find(|k| !pbc[*k]).expect("one direction is free");
        matrix[free] = [n[0] / nn, n[1] / nn, n[2] / nn];
    } else {
        // one periodic direction: complete with two orthonormal vectors perpendicular to it
        let a = matrix[periodic[0]];
        let na = norm(a);
        let u = [a[0] / na, a[1] / na, a[2] / na];
        let helper = if u[0].abs() < 0.9 {
            [1.0, 0.0, 0.0]
        } else {
            [0.0, 1.0, 0.0]
        };
        let v = cross(u, helper);
        let nv = norm(v);
        let v = [v[0] / nv, v[1] / nv, v[2] / nv];
        let w = cross(u, v);
        let free: Vec<usize> = (0..3).filter(|k| !pbc[*k]).collect();
        matrix[free[0]] = v;
        matrix[free[1]] = w;
        if det(&matrix) < 0.0 {
            matrix[free[1]] = [-w[0], -w[1], -w[2]];
        }
    }
    Ok(matrix)
}

fn invert(m: &Mat3) -> Mat3 {
    let d = det(m);
    let c0 = cross(m[1], m[2]);
    let c1 = cross(m[2], m[0]);
    let c2 = cross(m[0], m[1]);
    // M^{-1} has the cofactor vectors as columns, divided by det
    let mut inv = [[0.0; 3]; 3];
    for k in 0..3 {
        inv[k][0] = c0[k] / d;
        inv[k][1] = c1[k] / d;
        inv[k][2] = c2[k] / d;
    }
    inv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_periodicity_is_refused_in_one_place() {
        let cell = |pbc| Cell::new(skewed(), pbc).unwrap();
        for pbc in [[true; 3], [false; 3]] {
            assert!(cell(pbc).check_periodicity("X").is_ok());
        }
        for pbc in [[true, true, false], [false, false, true]] {
            match cell(pbc).check_periodicity("X") {
                Err(Error::InvalidInput(m)) => assert!(m.starts_with("X ") && m.contains("slabs")),
                other => panic!("{other:?}"),
            }
            assert!(cell(pbc).require_fully_periodic("X").is_err());
        }
        assert!(cell([true; 3]).require_fully_periodic("X").is_ok());
        assert!(matches!(
            cell([false; 3]).require_fully_periodic("X"),
            Err(Error::InvalidInput(_))
        ));
    }

    fn skewed() -> Mat3 {
        [[4.0, 0.0, 0.0], [3.5, 2.0, 0.0], [1.0, 1.5, 3.0]]
    }

    #[test]
    fn fractional_round_trip_and_reciprocal() {
        let cell = Cell::new(skewed(), [true; 3]).unwrap();
        let r = [1.3, -2.2, 7.1];
        let back = cell.to_cartesian(cell.to_fractional(r));
        for k in 0..3 {
            assert!((back[k] - r[k]).abs() < 1e-12);
        }
        let b = cell.reciprocal();
        for (i, a) in cell.matrix().iter().enumerate() {
            for (j, bj) in b.iter().enumerate() {
                let expected = if i == j {
                    2.0 * std::f64::consts::PI
                } else {
                    0.0
                };
                assert!((dot(*a, *bj) - expected).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn face_distances_of_a_cube() {
        let cell = Cell::new(
            [[2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 4.0]],
            [true; 3],
        )
        .unwrap();
        let h = cell.face_distances();
        assert!(
            (h[0] - 2.0).abs() < 1e-12 && (h[1] - 3.0).abs() < 1e-12 && (h[2] - 4.0).abs() < 1e-12
        );
    }

    #[test]
    fn degenerate_cells_are_rejected() {
        let flat = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]];
        assert!(matches!(
            Cell::new(flat, [true; 3]),
            Err(Error::InvalidInput(_))
        ));
        assert!(Cell::new([[0.0; 3]; 3], [true; 3]).is_err());
        assert!(Cell::new(
            [[1.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0; 3]],
            [true, true, false]
        )
        .is_err());
        // left-handed but not degenerate is fine
        let left = [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]];
        assert!(Cell::new(left, [true; 3]).is_ok());
    }

    /// Tiny, huge and overflowing periodic cells are refused; the same vectors along
    /// non-periodic directions are ignored.
    #[test]
    fn cell_sizes_are_bounded() {
        let cube = |a: f64| [[a, 0.0, 0.0], [0.0, a, 0.0], [0.0, 0.0, a]];
        for a in [1e-90, 1e-5, 5e-3, 2e6, 1e200, 1e300] {
            match Cell::new(cube(a), [true; 3]) {
                Err(Error::InvalidInput(m)) => {
                    assert!(
                        m.contains("too small") || m.contains("above the supported"),
                        "{m}"
                    )
                }
                other => panic!("cube of {a} Å: {other:?}"),
            }
            assert!(Cell::new(cube(a), [false; 3]).is_ok());
        }
        for a in [0.02, 1.0, 1e5] {
            assert!(Cell::new(cube(a), [true; 3]).is_ok(), "{a}");
        }
        // a thin slab direction: a long in-plane vector with a tiny face distance
        let needle = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1e-4]];
        assert!(Cell::new(needle, [true, true, true]).is_err());
        assert!(Cell::new(needle, [true, true, false]).is_ok());
        // a sheared cell whose vectors are long but whose faces are close
        let sheared = [[1.0, 0.0, 0.0], [1e3, 1e-3, 0.0], [0.0, 0.0, 1.0]];
        assert!(Cell::new(sheared, [true; 3]).is_err());
    }

    #[test]
    fn slabs_and_wires_are_completed() {
        let slab = Cell::new(
            [[3.0, 0.0, 0.0], [1.0, 3.0, 0.0], [0.0; 3]],
            [true, true, false],
        )
        .unwrap();
        assert!(slab.volume() > 0.0);
        let wire = Cell::new(
            [[0.0; 3], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]],
            [false, false, true],
        )
        .unwrap();
        assert!(wire.volume() > 0.0);
        let f = wire.to_fractional(wire.to_cartesian([0.25, 0.5, 0.75]));
        assert!((f[2] - 0.75).abs() < 1e-12);
    }
}
