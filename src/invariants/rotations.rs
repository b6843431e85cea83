//! Test support: random rotations and real Wigner matrices built independently of the
//! Clebsch–Gordan code, from the real harmonics themselves.
//!
//! `D^l(R)` is the matrix with `Y_l(R r̂) = D^l(R) Y_l(r̂)` for every direction: it is fitted by
//! least squares on `4(2l+1)` random directions (normal equations; the fit residual is checked,
//! so a non-linear relation — a bug — cannot go unnoticed).

use ndarray::{Array2, Array4};

use crate::math::spherical_harmonics::SphericalHarmonics;

/// A small deterministic generator (xorshift64*) with uniform and normal draws.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn normal(&mut self) -> f64 {
        let u = self.uniform().max(1e-300);
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// A random proper rotation (from a normalised Gaussian quaternion).
pub fn random_rotation(rng: &mut Rng) -> Array2<f64> {
    let q: Vec<f64> = (0..4).map(|_| rng.normal()).collect();
    let n = q.iter().map(|x| x * x).sum::<f64>().sqrt();
    let (w, x, y, z) = (q[0] / n, q[1] / n, q[2] / n, q[3] / n);
    ndarray::arr2(&[
        [
            1.0 - 2.0 * (y * y + z * z),
            2.0 * (x * y - w * z),
            2.0 * (x * z + w * y),
        ],
        [
            2.0 * (x * y + w * z),
            1.0 - 2.0 * (x * x + z * z),
            2.0 * (y * z - w * x),
        ],
        [
            2.0 * (x * z - w * y),
            2.0 * (y * z + w * x),
            1.0 - 2.0 * (x * x + y * y),
        ],
    ])
}

/// `count` random unit vectors.
pub fn random_unit_vectors(rng: &mut Rng, count: usize) -> Vec<[f64; 3]> {
    (0..count)
        .map(|_| {
            let v = [rng.normal(), rng.normal(), rng.normal()];
            let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
            [v[0] / n, v[1] / n, v[2] / n]
        })
        .collect()
}

fn apply(r: &Array2<f64>, x: [f64; 3]) -> [f64; 3] {
    let mut y = [0.0; 3];
    for (i, yi) in y.iter_mut().enumerate() {
        *yi = (0..3).map(|j| r[[i, j]] * x[j]).sum();
    }
    y
}

/// The real Wigner matrix `D^l(R)`, `(2l+1, 2l+1)`: `Y_l(R r̂) = D^l(R) Y_l(r̂)`.
pub fn wigner_d(l: usize, r: &Array2<f64>) -> Array2<f64> {
    let sh = SphericalHarmonics::new(l).unwrap();
    let size = 2 * l + 1;
    let mut rng = Rng::new(1000 + l as u64);
    let points = random_unit_vectors(&mut rng, 4 * size);
    let mut a = nalgebra::DMatrix::<f64>::zeros(points.len(), size);
    let mut b = nalgebra::DMatrix::<f64>::zeros(points.len(), size);
    let mut y = vec![0.0; sh.len()];
    for (k, &p) in points.iter().enumerate() {
        sh.compute(p, &mut y);
        for m in 0..size {
            a[(k, m)] = y[l * l + m];
        }
        sh.compute(apply(r, p), &mut y);
        for m in 0..size {
            b[(k, m)] = y[l * l + m];
        }
    }
    // A Dᵀ = B in the least-squares sense
    let dt = (a.transpose() * &a)
        .cholesky()
        .expect("random directions span the harmonics")
        .solve(&(a.transpose() * &b));
    let residual = (&a * &dt - &b).abs().max();
    assert!(
        residual < 1e-12,
        "Y_l(R r) is not linear in Y_l(r): {residual}"
    );
    Array2::from_shape_fn((size, size), |(i, j)| dt[(j, i)])
}

/// Rotate every `l` block of a coefficient array `(n_centres, n_species, n_max, (l_max+1)²)`
/// by `D^l(R)`.
pub fn rotate_coefficients(c: &Array4<f64>, r: &Array2<f64>) -> Array4<f64> {
    let l_max = (c.shape()[3] as f64).sqrt() as usize - 1;
    let mut out = c.clone();
    for l in 0..=l_max {
        let d = wigner_d(l, r);
        for i in 0..c.shape()[0] {
            for a in 0..c.shape()[1] {
                for n in 0..c.shape()[2] {
                    for m in 0..2 * l + 1 {
                        out[[i, a, n, l * l + m]] = (0..2 * l + 1)
                            .map(|k| d[[m, k]] * c[[i, a, n, l * l + k]])
                            .sum();
                    }
                }
            }
        }
    }
    out
}
