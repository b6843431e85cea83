use super::*;
use crate::systems::{Mat3, Vec3};

fn cubic(a: f64) -> Mat3 {
    [[a, 0.0, 0.0], [0.0, a, 0.0], [0.0, 0.0, a]]
}

/// Conventional rock-salt cell: 4 Na⁺ (fcc) and 4 Cl⁻ shifted by a/2.
fn rock_salt(a: f64) -> (System, Vec<f64>) {
    let fcc = [
        [0.0, 0.0, 0.0],
        [0.0, 0.5, 0.5],
        [0.5, 0.0, 0.5],
        [0.5, 0.5, 0.0],
    ];
    let mut positions = Vec::new();
    let mut charges = Vec::new();
    for (shift, q) in [(0.0, 1.0), (0.5, -1.0)] {
        for f in fcc {
            positions.push([(f[0] + shift) * a, f[1] * a, f[2] * a]);
            charges.push(q);
        }
    }
    let numbers = charges
        .iter()
        .map(|&q| if q > 0.0 { 11 } else { 17 })
        .collect();
    (
        System::new(positions, numbers, cubic(a), [true; 3]).unwrap(),
        charges,
    )
}

fn relative(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs()
}

#[test]
fn rock_salt_and_cesium_chloride_madelung() {
    let a = 5.64;
    let (system, q) = rock_salt(a);
    let e = coulomb_energy(&system, &q, DEFAULT_ACCURACY).unwrap();
    let expected = -4.0 * 1.747_564_594_633 * COULOMB_CONSTANT / (a / 2.0);
    let err = relative(e, expected);
    eprintln!("NaCl Madelung: relative error {err:.2e}");
    assert!(err < 1e-9, "{e} vs {expected}");

    let a = 4.11;
    let system = System::new(
        vec![[0.0; 3], [a / 2.0; 3]],
        vec![55, 17],
        cubic(a),
        [true; 3],
    )
    .unwrap();
    let e = coulomb_energy(&system, &[1.0, -1.0], DEFAULT_ACCURACY).unwrap();
    let expected = -1.762_674_773_070 * COULOMB_CONSTANT / (a * 3f64.sqrt() / 2.0);
    let err = relative(e, expected);
    eprintln!("CsCl Madelung: relative error {err:.2e}");
    assert!(err < 1e-9, "{e} vs {expected}");
}

/// One charge in a simple cubic cell with its neutralising background: `E = q² ξ/(2L)`,
/// with the Wigner–Madelung constant of the simple cubic lattice `ξ = −2.837297479`.
#[test]
fn charged_cell_with_background() {
    let l = 7.0;
    let system = System::new(vec![[1.0, 2.0, 3.0]], vec![1], cubic(l), [true; 3]).unwrap();
    let e = coulomb_energy(&system, &[2.0], DEFAULT_ACCURACY).unwrap();
    let expected = COULOMB_CONSTANT * 4.0 * -2.837_297_479_480_62 / (2.0 * l);
    let err = relative(e, expected);
    eprintln!("charged simple cubic: relative error {err:.2e}");
    assert!(err < 1e-9, "{e} vs {expected}");
}

fn random_system(seed: u64, n: usize, cell: Mat3, charge: f64) -> (System, Vec<f64>) {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    let mut rng = StdRng::seed_from_u64(seed);
    let positions: Vec<Vec3> = (0..n)
        .map(|_| [0, 1, 2].map(|_| rng.random_range(0.0..1.0)))
        .map(|f| {
            let mut r = [0.0; 3];
            for (k, rk) in r.iter_mut().enumerate() {
                *rk = f[0] * cell[0][k] + f[1] * cell[1][k] + f[2] * cell[2][k];
            }
            r
        })
        .collect();
    let mut charges: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
    let mean = charges.iter().sum::<f64>() / n as f64;
    for q in &mut charges {
        *q += charge / n as f64 - mean;
    }
    (
        System::new(positions, vec![1; n], cell, [true; 3]).unwrap(),
        charges,
    )
}

#[test]
fn independent_of_the_splitting_width() {
    let cell = [[6.0, 0.0, 0.0], [1.5, 5.5, 0.0], [-1.0, 0.7, 7.0]];
    for total in [0.0, 1.3] {
        let (system, q) = random_system(7, 10, cell, total);
        let reference =
            ewald::ewald_energy(&system, &q, &EwaldParameters::new(1.0, 1e-14).unwrap()).unwrap();
        let scale: f64 = q.iter().map(|x| x * x).sum::<f64>();
        for eta in [0.5, 0.8, 1.6, 2.5] {
            let p = EwaldParameters::new(eta, 1e-12).unwrap();
            let e = ewald::ewald_energy(&system, &q, &p).unwrap();
            let err = (e - reference).abs() / scale;
            eprintln!("Q = {total}, eta = {eta}: deviation {err:.2e} (relative to Σq²/Å)");
            assert!(err < 1e-11, "eta {eta}: {e} vs {reference}");
        }
    }
}

#[test]
fn finite_system_is_the_pair_sum() {
    let positions = vec![[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 2.0, 0.0]];
    let q = [1.0, -2.0, 0.5];
    let system = System::new(positions, vec![1, 2, 3], cubic(1.0), [false; 3]).unwrap();
    let e = coulomb_energy(&system, &q, DEFAULT_ACCURACY).unwrap();
    let expected = COULOMB_CONSTANT * (-2.0 / 1.0 + 0.5 / 2.0 + -1.0 / 5f64.sqrt());
    assert!(relative(e, expected) < 1e-15);
}

#[test]
fn threads_give_identical_bits() {
    let cell = [[9.0, 0.0, 0.0], [0.0, 8.0, 1.0], [0.5, 0.0, 10.0]];
    let mut systems = Vec::new();
    let mut charges = Vec::new();
    for seed in 0..5 {
        let (s, q) = random_system(seed, 60, cell, 0.0);
        systems.push(s);
        charges.push(q);
    }
    let one = coulomb_energies(&systems, &charges, 1e-10, 1).unwrap();
    let two = coulomb_energies(&systems, &charges, 1e-10, 2).unwrap();
    let three = coulomb_energies(&systems, &charges, 1e-10, 3).unwrap();
    for ((a, b), c) in one.iter().zip(&two).zip(&three) {
        assert_eq!(a.to_bits(), b.to_bits());
        assert_eq!(a.to_bits(), c.to_bits());
    }
}

#[test]
fn bad_input_is_refused() {
    let (system, q) = rock_salt(5.64);
    let input = |r: Result<f64>| matches!(r, Err(Error::InvalidInput(_)));
    let param = |r: Result<f64>| matches!(r, Err(Error::InvalidParameter(_)));
    assert!(input(coulomb_energy(&system, &q[..7], 1e-10)));
    let mut nan = q.clone();
    nan[3] = f64::NAN;
    assert!(input(coulomb_energy(&system, &nan, 1e-10)));
    for bad in [0.0, -1.0, 1.0, 1e-20, f64::NAN] {
        assert!(param(coulomb_energy(&system, &q, bad)));
    }
    let slab = System::new(
        vec![[0.0; 3], [1.0; 3]],
        vec![1, 1],
        cubic(5.0),
        [true, true, false],
    )
    .unwrap();
    // slabs: a charged one is refused, a neutral one summed; wires are refused
    assert!(input(coulomb_energy(&slab, &[1.0, 1.0], 1e-10)));
    assert!(coulomb_energy(&slab, &[1.0, -1.0], 1e-10).is_ok());
    let wire = System::new(
        vec![[0.0; 3], [1.0; 3]],
        vec![1, 1],
        cubic(5.0),
        [true, false, false],
    )
    .unwrap();
    assert!(input(coulomb_energy(&wire, &[1.0, -1.0], 1e-10)));
    for pbc in [[true; 3], [false; 3]] {
        let overlap = System::new(vec![[1.0; 3], [1.0; 3]], vec![1, 1], cubic(5.0), pbc).unwrap();
        assert!(input(coulomb_energy(&overlap, &[1.0, -1.0], 1e-10)));
        // an uncharged atom on top of a charged one is harmless
        assert!(coulomb_energy(&overlap, &[1.0, 0.0], 1e-10).is_ok());
    }
    let many = coulomb_energies(
        &[system.clone(), system],
        &[q.clone(), q[..2].to_vec()],
        1e-10,
        1,
    );
    match many {
        Err(Error::InvalidInput(m)) => assert!(m.contains("structure 1"), "{m}"),
        other => panic!("{other:?}"),
    }
}

/// A neutral 6-charge slab open along lattice vector `open`, triclinic in-plane cell (normal
/// not along an axis for `open = 1`), deformed by `x → (1 + h e_a e_bᵀ) x` and one atom moved.
fn slab_system(
    open: usize,
    strain: Option<(usize, usize, f64)>,
    moved: Option<(usize, usize, f64)>,
) -> (System, Vec<f64>) {
    let mut cell = [[5.0, 0.3, 0.2], [1.1, 4.6, -0.4], [0.3, 0.2, 6.0]];
    cell[open] = [0.0; 3];
    let mut pbc = [true; 3];
    pbc[open] = false;
    let mut positions = vec![
        [0.2, 0.1, 0.3],
        [2.6, 1.3, 1.9],
        [1.4, 3.1, 4.0],
        [3.9, 2.8, 0.8],
        [0.9, 4.2, 2.7],
        [4.4, 0.7, 3.5],
    ];
    if let Some((atom, alpha, h)) = moved {
        positions[atom][alpha] += h;
    }
    let deform = |r: Vec3| {
        let mut out = r;
        if let Some((a, b, e)) = strain {
            out[a] += e * r[b];
        }
        out
    };
    let positions = positions.into_iter().map(deform).collect();
    let system = System::new(positions, vec![1; 6], cell.map(deform), pbc).unwrap();
    (system, vec![1.0, -0.7, -0.3, 1.0, -0.7, -0.3])
}

/// Slab forces and strain derivatives = central differences of the slab energy (step 1e-5,
/// tolerance 1e-6 of the largest component: difference error ~1e-9, a sign or factor-2 error
/// in the dipole term is ~1e-1 of it), the forces sum to zero, and the virial theorem
/// `tr ∂E/∂ε = −E` of a 1/r energy holds to 1e-9 — for the open direction at every index.
#[test]
#[allow(clippy::needless_range_loop)] // index notation, as in the formulas
fn slab_gradients_match_finite_differences() {
    use crate::electrostatics::coulomb_gradients;
    let energy = |s: &System, q: &[f64]| coulomb_energy(s, q, 1e-12).unwrap();
    for open in 0..3 {
        let (system, q) = slab_system(open, None, None);
        let g = coulomb_gradients(&system, &q, 1e-12).unwrap();
        let strain = g.strain.expect("a slab has a strain derivative");
        let h = 1e-5;
        let scale = g
            .positions
            .iter()
            .flatten()
            .fold(0.0f64, |m, x| m.max(x.abs()));
        for atom in 0..6 {
            for alpha in 0..3 {
                let (sp, _) = slab_system(open, None, Some((atom, alpha, h)));
                let (sm, _) = slab_system(open, None, Some((atom, alpha, -h)));
                let fd = (energy(&sp, &q) - energy(&sm, &q)) / (2.0 * h);
                let got = g.positions[atom][alpha];
                assert!(
                    (fd - got).abs() < 1e-6 * scale,
                    "open {open}: {fd} vs {got}"
                );
            }
        }
        for alpha in 0..3 {
            let total: f64 = g.positions.iter().map(|p| p[alpha]).sum();
            assert!(total.abs() < 1e-10 * scale, "open {open}: {total}");
        }
        let strain_scale = strain.iter().flatten().fold(0.0f64, |m, x| m.max(x.abs()));
        for a in 0..3 {
            for b in 0..3 {
                let (sp, _) = slab_system(open, Some((a, b, h)), None);
                let (sm, _) = slab_system(open, Some((a, b, -h)), None);
                let fd = (energy(&sp, &q) - energy(&sm, &q)) / (2.0 * h);
                assert!(
                    (fd - strain[a][b]).abs() < 1e-6 * strain_scale,
                    "open {open}, ε_{a}{b}: {fd} vs {}",
                    strain[a][b]
                );
            }
        }
        let trace = strain[0][0] + strain[1][1] + strain[2][2];
        assert!(
            (trace + g.energy).abs() < 1e-9 * g.energy.abs(),
            "{trace} vs {}",
            g.energy
        );
    }
}
