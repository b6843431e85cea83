//! Cell-list search against a brute-force O(N² · images) reference.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::systems::Mat3;
use crate::threads::with_threads;

/// Every `(i, j, S)` with `|S_k| ≤ ⌈r_c / h_k⌉ + 1` along periodic directions, same arithmetic
/// as the cell list (so distances compare bitwise), sorted by `(first, second, shift)`.
fn brute_force(system: &System, cutoff: f64) -> Vec<Pair> {
    let cell = system.cell();
    let h = cell.face_distances();
    let pbc = cell.pbc();
    let reach: Vec<i32> = (0..3)
        .map(|k| {
            if pbc[k] {
                (cutoff / h[k]).ceil() as i32 + 1
            } else {
                0
            }
        })
        .collect();
    let positions = system.positions();
    let mut pairs = Vec::new();
    for (i, &r_i) in positions.iter().enumerate() {
        for (j, &r_j) in positions.iter().enumerate() {
            for a in -reach[0]..=reach[0] {
                for b in -reach[1]..=reach[1] {
                    for c in -reach[2]..=reach[2] {
                        let shift = [a, b, c];
                        if i == j && shift == [0, 0, 0] {
                            continue;
                        }
                        let vector = pair_vector(cell, r_i, r_j, shift);
                        let distance =
                            (vector[0] * vector[0] + vector[1] * vector[1] + vector[2] * vector[2])
                                .sqrt();
                        if distance < cutoff {
                            pairs.push(Pair {
                                first: i,
                                second: j,
                                shift,
                                vector,
                                distance,
                            });
                        }
                    }
                }
            }
        }
    }
    pairs.sort_by_key(|p| (p.first, p.second, p.shift));
    pairs
}

/// Structural checks on a list, then equality with the reference.
fn check(system: &System, cutoff: f64) -> NeighborList {
    let list = neighbor_list(system, cutoff).unwrap();
    assert_eq!(list.offsets.len(), system.size() + 1);
    assert_eq!(*list.offsets.last().unwrap(), list.pairs.len());
    for i in 0..system.size() {
        let own = list.pairs_of(i);
        assert!(own.iter().all(|p| p.first == i));
        assert!(own
            .windows(2)
            .all(|w| (w[0].second, w[0].shift) < (w[1].second, w[1].shift)));
    }
    let reference = brute_force(system, cutoff);
    assert_eq!(
        list.pairs.len(),
        reference.len(),
        "cutoff {cutoff}, cell {:?}",
        system.cell()
    );
    assert_eq!(list.pairs, reference);
    // both strategies, whichever one the search picked
    let mut search = NeighborSearch::new(system, cutoff).unwrap();
    let mut pairs = Vec::new();
    for direct in [false, true] {
        search.direct = direct;
        let mut all = Vec::new();
        for i in 0..system.size() {
            search.pairs_of(i, &mut pairs);
            all.extend_from_slice(&pairs);
        }
        assert_eq!(
            all, reference,
            "direct enumeration {direct}, cutoff {cutoff}"
        );
    }
    list
}

fn random_positions(rng: &mut StdRng, n: usize, matrix: &Mat3, lo: f64, hi: f64) -> Vec<Vec3> {
    (0..n)
        .map(|_| {
            let f: Vec3 = [0, 1, 2].map(|_| rng.random_range(lo..hi));
            let mut r = [0.0; 3];
            for (k, rk) in r.iter_mut().enumerate() {
                *rk = f[0] * matrix[0][k] + f[1] * matrix[1][k] + f[2] * matrix[2][k];
            }
            r
        })
        .collect()
}

/// A random lattice: lengths in `[lo, hi)`, off-diagonal terms up to `skew` times the length.
fn random_cell(rng: &mut StdRng, lo: f64, hi: f64, skew: f64) -> Mat3 {
    loop {
        let mut m = [[0.0; 3]; 3];
        for (k, row) in m.iter_mut().enumerate() {
            let length = rng.random_range(lo..hi);
            for (l, x) in row.iter_mut().enumerate() {
                *x = if k == l {
                    length
                } else {
                    skew * length * rng.random_range(-1.0..1.0)
                };
            }
        }
        if Cell::new(m, [true; 3]).is_ok_and(|c| c.face_distances().iter().all(|&h| h > 0.2 * lo)) {
            return m;
        }
    }
}

fn system(positions: Vec<Vec3>, cell: Mat3, pbc: [bool; 3]) -> System {
    let n = positions.len();
    System::new(positions, vec![1; n], cell, pbc).unwrap()
}

#[test]
fn random_periodic_cells_match_brute_force() {
    let mut rng = StdRng::seed_from_u64(7);
    for case in 0..40 {
        let skew = [0.0, 0.3, 0.9][case % 3];
        let cell = random_cell(&mut rng, 4.0, 12.0, skew);
        let n = rng.random_range(1..40);
        // unwrapped input: System wraps it
        let positions = random_positions(&mut rng, n, &cell, -1.0, 2.0);
        let cutoff = rng.random_range(0.5..9.0);
        check(&system(positions, cell, [true; 3]), cutoff);
    }
}

#[test]
fn cells_smaller_than_the_cutoff() {
    let mut rng = StdRng::seed_from_u64(11);
    for case in 0..20 {
        let skew = [0.0, 0.5, 1.2][case % 3];
        let cell = random_cell(&mut rng, 1.5, 3.0, skew);
        let n = rng.random_range(1..6);
        let positions = random_positions(&mut rng, n, &cell, 0.0, 1.0);
        let lengths = cell.map(|r| (r[0] * r[0] + r[1] * r[1] + r[2] * r[2]).sqrt());
        let cutoff = 2.0 * lengths.iter().cloned().fold(0.0, f64::max) + rng.random_range(0.1..2.0);
        check(&system(positions, cell, [true; 3]), cutoff);
    }
}

#[test]
fn strongly_skewed_cell() {
    // face distance along c is far below |c|
    let cell = [[4.0, 0.0, 0.0], [3.9, 0.5, 0.0], [3.8, 0.45, 0.3]];
    let mut rng = StdRng::seed_from_u64(3);
    let positions = random_positions(&mut rng, 8, &cell, 0.0, 1.0);
    check(&system(positions, cell, [true; 3]), 2.5);
}

#[test]
fn simple_cubic_own_images() {
    // 6 neighbours at 1, 12 at √2; √3 is beyond 1.5
    let list = check(
        &system(
            vec![[0.0; 3]],
            [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            [true; 3],
        ),
        1.5,
    );
    assert_eq!(list.pairs.len(), 18);
    // strict: a neighbour exactly at the cutoff is excluded
    let list = check(
        &system(
            vec![[0.0; 3]],
            [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            [true; 3],
        ),
        1.0,
    );
    assert!(list.pairs.is_empty());
}

#[test]
fn slabs_wires_and_mixed_periodicity() {
    let mut rng = StdRng::seed_from_u64(5);
    let patterns = [
        [true, true, false],
        [false, false, true],
        [true, false, true],
        [false, true, false],
    ];
    for case in 0..24 {
        let pbc = patterns[case % patterns.len()];
        let mut cell = random_cell(&mut rng, 2.0, 9.0, 0.4);
        if case % 2 == 0 {
            // an irrelevant (zero) vector along free directions: the cell gets completed
            for k in 0..3 {
                if !pbc[k] {
                    cell[k] = [0.0; 3];
                }
            }
        }
        let n = rng.random_range(1..30);
        let box_cell = Cell::new(cell, pbc).unwrap();
        let positions = random_positions(&mut rng, n, box_cell.matrix(), -1.5, 2.5);
        let cutoff = rng.random_range(1.0..8.0);
        check(&system(positions, cell, pbc), cutoff);
    }
}

#[test]
fn open_clusters() {
    let mut rng = StdRng::seed_from_u64(9);
    for _ in 0..10 {
        let n = rng.random_range(1..80);
        let cube = [[10.0, 0.0, 0.0], [0.0, 10.0, 0.0], [0.0, 0.0, 10.0]];
        let positions = random_positions(&mut rng, n, &cube, -0.7, 0.9);
        check(
            &system(positions, [[0.0; 3]; 3], [false; 3]),
            rng.random_range(0.5..6.0),
        );
    }
    // flat (zero thickness) and collinear clusters
    let flat: Vec<Vec3> = (0..12)
        .map(|i| [i as f64 * 0.9, (i % 3) as f64, 0.0])
        .collect();
    check(&system(flat, [[0.0; 3]; 3], [false; 3]), 2.0);
    let line: Vec<Vec3> = (0..12).map(|i| [0.0, 0.0, i as f64 * 0.7]).collect();
    check(&system(line, [[0.0; 3]; 3], [false; 3]), 1.5);
}

#[test]
fn atoms_far_from_the_others() {
    let mut positions = vec![[1e6, -1e6, 3e5], [1e6 + 1.0, -1e6, 3e5], [-2e7, 0.0, 0.0]];
    for i in 0..30 {
        positions.push([
            (i % 5) as f64 * 1.1,
            (i / 5) as f64 * 0.9,
            0.3 * (i % 2) as f64,
        ]);
    }
    let list = check(&system(positions.clone(), [[0.0; 3]; 3], [false; 3]), 2.0);
    assert_eq!(list.pairs_of(0).len(), 1);
    // a slab whose free direction spans 10⁶ Å
    let cell = [[3.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 0.0]];
    check(&system(positions, cell, [true, true, false]), 2.0);
}

#[test]
fn positions_on_cell_faces() {
    let cells = [
        [[4.0, 0.0, 0.0], [0.0, 4.0, 0.0], [0.0, 0.0, 4.0]],
        [[3.0, 0.0, 0.0], [2.9, 1.0, 0.0], [-0.3, 1.1, 2.7]],
    ];
    for cell in cells {
        let fractions = [
            [0.0, 0.0, 0.0],
            [1.0, 0.0, 0.0],
            [1.0, 1.0, 1.0],
            [0.5, 1.0, 0.0],
            [-1e-17, 0.5, 1.0 - 1e-16],
            [1.0 - 1e-17, -1.0, 2.0],
            [0.25, 0.75, 0.5],
        ];
        let positions: Vec<Vec3> = fractions
            .iter()
            .map(|f| {
                let mut r = [0.0; 3];
                for (k, rk) in r.iter_mut().enumerate() {
                    *rk = f[0] * cell[0][k] + f[1] * cell[1][k] + f[2] * cell[2][k];
                }
                r
            })
            .collect();
        for cutoff in [0.9, 2.0, 3.0, 4.0, 6.5] {
            let list = check(&system(positions.clone(), cell, [true; 3]), cutoff);
            // full list: every (i, j, S) has its (j, i, −S)
            for p in &list.pairs {
                let back = list
                    .pairs_of(p.second)
                    .iter()
                    .find(|q| q.second == p.first && q.shift == p.shift.map(|s| -s))
                    .expect("reverse pair");
                for k in 0..3 {
                    assert!((back.vector[k] + p.vector[k]).abs() < 1e-12);
                }
            }
        }
    }
}

#[test]
fn results_do_not_depend_on_threads() {
    let mut rng = StdRng::seed_from_u64(13);
    let cell = random_cell(&mut rng, 18.0, 20.0, 0.3);
    let positions = random_positions(&mut rng, 700, &cell, 0.0, 1.0);
    let system = system(positions, cell, [true; 3]);
    let one = with_threads(1, || neighbor_list(&system, 5.0))
        .unwrap()
        .unwrap();
    let two = with_threads(2, || neighbor_list(&system, 5.0))
        .unwrap()
        .unwrap();
    assert!(!one.pairs.is_empty());
    assert_eq!(one.pairs, two.pairs);
    assert_eq!(one.offsets, two.offsets);
}

#[test]
fn medium_system_matches_brute_force() {
    // several bins along each direction
    let mut rng = StdRng::seed_from_u64(17);
    let cell = random_cell(&mut rng, 14.0, 16.0, 0.5);
    let positions = random_positions(&mut rng, 300, &cell, 0.0, 1.0);
    check(&system(positions, cell, [true; 3]), 3.7);
}

#[test]
fn invalid_cutoffs_are_rejected() {
    let s = system(
        vec![[0.0; 3]],
        [[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0]],
        [true; 3],
    );
    for cutoff in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(matches!(
            neighbor_list(&s, cutoff),
            Err(Error::InvalidParameter(_))
        ));
    }
}

#[test]
fn memory_guard_refuses_huge_lists() {
    let s = system(
        vec![[0.0; 3]],
        [[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0]],
        [true; 3],
    );
    match neighbor_list(&s, 1000.0) {
        Err(Error::InvalidParameter(msg)) => {
            assert!(msg.contains("cutoff 1000"), "{msg}");
            assert!(msg.contains("2.000"), "{msg}");
        }
        other => panic!("expected the memory guard, got {other:?}"),
    }
    // a thin slab direction multiplies the images too
    let slab = system(
        vec![[0.0; 3]; 2],
        [[0.01, 0.0, 0.0], [0.0, 0.01, 0.0], [0.0; 3]],
        [true, true, false],
    );
    assert!(matches!(
        neighbor_list(&slab, 100.0),
        Err(Error::InvalidParameter(_))
    ));
    // a tiny cutoff never allocates a huge grid
    let big = system(
        vec![[0.0; 3], [5.0, 5.0, 5.0]],
        [[1e4, 0.0, 0.0], [0.0, 1e4, 0.0], [0.0, 0.0, 1e4]],
        [true; 3],
    );
    assert!(neighbor_list(&big, 1e-6).unwrap().pairs.is_empty());
}

#[test]
fn atoms_binned_through_an_image() {
    // Round-off can leave a wrapped atom at a fractional coordinate of exactly 1 or just below
    // 0; such atoms are binned through a lattice translation that the shifts must undo.
    let cell = [[3.0, 0.0, 0.0], [2.9, 1.0, 0.0], [-0.3, 1.1, 2.7]];
    let mut rng = StdRng::seed_from_u64(21);
    let mut positions = Vec::new();
    let mut tries = 0;
    while positions.len() < 6 && tries < 100_000 {
        tries += 1;
        let mut f: Vec3 = [0, 1, 2].map(|_| rng.random_range(0.0..1.0));
        let k = rng.random_range(0..3);
        f[k] = if rng.random_bool(0.5) {
            1.0 - rng.random_range(0.0..3e-16)
        } else {
            rng.random_range(-3e-16..3e-16)
        };
        let mut r = [0.0; 3];
        for (l, rl) in r.iter_mut().enumerate() {
            *rl = f[0] * cell[0][l] + f[1] * cell[1][l] + f[2] * cell[2][l];
        }
        let s = system(vec![r], cell, [true; 3]);
        let back = s.cell().to_fractional(s.positions()[0]);
        if back.iter().any(|&x| !(0.0..1.0).contains(&x)) {
            positions.push(r);
        }
    }
    assert!(
        !positions.is_empty(),
        "no atom left outside [0, 1) by round-off"
    );
    let s = system(positions, cell, [true; 3]);
    let extent = Extent::new(&s, 2.0);
    let grid = Grid::new(&extent, 2.0);
    assert!(grid.atom_image.iter().any(|m| *m != [0, 0, 0]));
    for cutoff in [0.7, 2.0, 4.5] {
        check(&s, cutoff);
    }
}
