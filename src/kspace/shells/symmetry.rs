//! How many k-vectors per shell a lattice's symmetry predicts (for the route's cost model).

use super::super::k_vectors::dot;
use crate::systems::Cell;

/// Mean number of k-vectors per shell expected from the symmetry of the lattice, without
/// enumerating them: half the number of signed permutations of the reciprocal basis that leave
/// its metric `b_i · b_j` unchanged (to 1e-10): 24 for a cubic cell, 8 tetragonal, 4
/// orthorhombic, 1 for a cell without such symmetry. Lattice symmetries that are not signed
/// permutations of the given basis (a skewed basis of a cubic lattice) are not found: the
/// estimate errs low, and [`super::Shells::degeneracy`] gives the exact mean once the vectors exist.
pub fn symmetry_degeneracy(cell: &Cell) -> f64 {
    let b = cell.reciprocal();
    let metric: [[f64; 3]; 3] = std::array::from_fn(|i| std::array::from_fn(|j| dot(b[i], b[j])));
    let scale = metric.iter().flatten().fold(0.0f64, |m, x| m.max(x.abs()));
    let perms = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    let mut count = 0;
    for perm in perms {
        for signs in 0..8 {
            let sign = |i: usize| if signs >> i & 1 == 1 { -1.0 } else { 1.0 };
            let same = (0..3).all(|i| {
                (0..3).all(|j| {
                    let x = sign(i) * sign(j) * metric[perm[i]][perm[j]];
                    (x - metric[i][j]).abs() <= 1e-10 * scale
                })
            });
            count += usize::from(same);
        }
    }
    (count as f64 / 2.0).max(1.0)
}

#[cfg(test)]
mod tests {
    use super::super::super::k_vectors::k_vectors;
    use super::super::Shells;
    use super::*;

    fn cell(m: [[f64; 3]; 3]) -> Cell {
        Cell::new(m, [true; 3]).unwrap()
    }

    fn cubic(a: f64) -> Cell {
        cell([[a, 0.0, 0.0], [0.0, a, 0.0], [0.0, 0.0, a]])
    }

    #[test]
    fn degeneracy_from_symmetry() {
        assert_eq!(symmetry_degeneracy(&cubic(7.0)), 24.0);
        let tetragonal = cell([[7.0, 0.0, 0.0], [0.0, 7.0, 0.0], [0.0, 0.0, 9.0]]);
        assert_eq!(symmetry_degeneracy(&tetragonal), 8.0);
        let orthorhombic = cell([[7.0, 0.0, 0.0], [0.0, 8.0, 0.0], [0.0, 0.0, 9.0]]);
        assert_eq!(symmetry_degeneracy(&orthorhombic), 4.0);
        let triclinic = cell([[7.0, 0.0, 0.0], [2.0, 6.5, 0.0], [-1.5, 1.0, 8.0]]);
        assert_eq!(symmetry_degeneracy(&triclinic), 1.0);
        // the estimate against the exact mean of a cubic cell at a LODE-like cutoff
        let exact = Shells::new(&k_vectors(&cubic(16.0), 3.15).unwrap()).degeneracy();
        assert!((12.0..=24.0).contains(&exact), "{exact}");
    }
}
